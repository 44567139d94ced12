/*
 * consumer.c — the consumer loop; see consumer.h. Its batches, the
 * rebalance callback, the partitions' positions and the consumer's health
 * are in the files consumer_internal.h names.
 *
 * Batches are written by a thread of their own (batch_writer.h) while the
 * next one is polled; everything that must know what is written — a
 * revocation, a seek, a stop — first waits for it (consumer_flush).
 *
 * Rebalance protocol: whichever the group uses. With the default eager
 * assignors (range, roundrobin) every rebalance revokes everything; with
 * kafka.partition.assignment.strategy=cooperative-sticky only the moved
 * partitions. Either way the batch in hand is written before a revocation
 * completes, so a batch never straddles two owners.
 */
#include "consumer_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch_writer.h"
#include "broker_offsets.h"
#include "clock.h"
#include "consumer_conf.h"
#include "decoded.h"
#include "log.h"
#include "pl_error.h"

#define DEFAULT_BATCH_MAX 20000
#define DEFAULT_BATCH_MS 50
#define DEFAULT_RETRY_MS 1000
#define IDLE_POLL_MS 100          /* how often the stop flag is looked at */
#define LAG_REFRESH_MS 1000       /* idle and paused partitions' lag */
#define PAUSED_LAG_TIMEOUT_MS 500 /* the loop's longest wait for a paused partition's end */

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk;
	enum log_level l = level <= 3 ? LOG_ERROR : level == 4 ? LOG_WARN
						 : level <= 6 ? LOG_INFO
							      : LOG_DEBUG;
	log_msg(l, "librdkafka %s: %s", fac, buf);
}

static void handle_message(struct consumer *c, rd_kafka_message_t *msg)
{
	if (msg->err) {
		const char *topic = msg->rkt ? rd_kafka_topic_name(msg->rkt) : "?";
		if (msg->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
		    msg->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE)
			consumer_on_offset_out_of_range(c, topic, msg->partition, msg->offset);
		else if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
			log_warn("Kafka %s [%" PRId32 "]: %s", topic, msg->partition,
				 rd_kafka_message_errstr(msg));
		rd_kafka_message_destroy(msg);
		return;
	}
	if (c->brokers_down) {
		c->brokers_down = false;
		log_info("Kafka brokers reachable again");
		consumer_update_state(c);
	}
	/* While writes fail or the partition waits for an operator, what arrives is
	 * dropped: it is read again from the stored offset on resume. */
	if (c->store_failed || consumer_is_lost(c, rd_kafka_topic_name(msg->rkt), msg->partition)) {
		rd_kafka_message_destroy(msg);
		return;
	}
	struct batch *b = c->cur;
	if (b->n == 0)
		c->deadline_ms = c->now_ms + c->opt.batch_ms;
	b->told_group = false; /* the group must hear of this message too */
	b->held[b->n] = msg;
	b->msgs[b->n] = (struct ingest_msg){
		.src = {rd_kafka_topic_name(msg->rkt), strlen(rd_kafka_topic_name(msg->rkt)),
			msg->partition, msg->offset},
		.key = msg->key,
		.key_len = msg->key_len,
		.value = msg->payload,
		.value_len = msg->len,
		.decoded = &b->decoded[b->n],
	};
	decode_event(&b->decoded[b->n], msg->payload, msg->len, msg->key, msg->key_len);
	if (b->decoded[b->n].rc == 0 && b->decoded[b->n].ev.type == PL_EV_SUPPORTER_FORGOTTEN)
		b->erases = true;
	b->n++;
}

/* The history's moves, a share after each batch (the state index's
 * checkpoints and merges are written beside the batches: writer_upkeep_on). */
static int maintain(struct writer *w)
{
	return writer_maintain(w, 1);
}

/* While no message comes, the rest of that work: a history move a crash
 * cut short (readers pay for a move left half done). Of the live slot: a
 * rebuild may have swapped it meanwhile. */
static int idle(struct writer *w)
{
	struct replay_result res;
	int rc = writer_follow(w, &res);
	if (rc)
		return rc;
	if (!writer_has_work(w))
		return 0;
	return (rc = maintain(w)) ? rc : 1;
}

int consumer_check(const struct consumer_options *opt, char *err, size_t err_size)
{
	rd_kafka_conf_t *conf = consumer_conf_new(opt, err, err_size);
	/* No brokers: a client with some would start connecting to them at once. */
	if (conf && kafka_conf_set(conf, "bootstrap.servers", "", err, err_size)) {
		rd_kafka_conf_destroy(conf);
		conf = NULL;
	}
	return conf ? kafka_conf_try(conf, RD_KAFKA_CONSUMER, "consumer", err, err_size) : PL_EINVAL;
}

int consumer_new(struct consumer **out, struct writer *w, struct metrics *m,
		 const struct consumer_options *opt, char *err, size_t err_size)
{
	struct consumer *c = calloc(1, sizeof *c);
	rd_kafka_conf_t *conf = NULL;
	int rc = PL_ENOMEM;
	if (!c)
		return PL_ENOMEM;
	c->st = w->st;
	c->w = w;
	c->m = m;
	c->opt = *opt;
	if (opt->partitioner)
		ownership_enforce(&m->owner, opt->partitioner);
	if (!c->opt.batch_max)
		c->opt.batch_max = DEFAULT_BATCH_MAX;
	if (!c->opt.batch_ms)
		c->opt.batch_ms = DEFAULT_BATCH_MS;
	if (!c->opt.retry_ms)
		c->opt.retry_ms = DEFAULT_RETRY_MS;
	if (!c->opt.ingest)
		c->opt.ingest = ingest_batch;
	if (c->opt.cluster_id)
		snprintf(c->cluster, sizeof c->cluster, "%s", c->opt.cluster_id);
	for (int i = 0; i < 2; i++) {
		c->batches[i].held = calloc(c->opt.batch_max, sizeof *c->batches[i].held);
		c->batches[i].msgs = calloc(c->opt.batch_max, sizeof *c->batches[i].msgs);
		c->batches[i].decoded = calloc(c->opt.batch_max, sizeof *c->batches[i].decoded);
		if (!c->batches[i].held || !c->batches[i].msgs || !c->batches[i].decoded)
			goto cleanup;
	}
	c->cur = &c->batches[0];
	c->lost = rd_kafka_topic_partition_list_new(4);
	c->starts = rd_kafka_topic_partition_list_new(4);
	c->behind = rd_kafka_topic_partition_list_new(4);
	c->unknown = rd_kafka_topic_partition_list_new(4);
	c->commits_sent = rd_kafka_topic_partition_list_new(4);
	c->commits_owed = rd_kafka_topic_partition_list_new(4);
	if (writer_upkeep_on(w) ||
	    batch_writer_start(&c->writer, c->opt.ingest, maintain, idle, w))
		goto cleanup;

	rc = PL_EINVAL;
	if (!(conf = consumer_conf_new(opt, err, err_size)))
		goto cleanup;
	char strategy[256];
	size_t strategy_size = sizeof strategy;
	c->cooperative = rd_kafka_conf_get(conf, "partition.assignment.strategy", strategy,
					   &strategy_size) == RD_KAFKA_CONF_OK &&
			 strstr(strategy, "cooperative") != NULL;
	char session[32];
	size_t session_size = sizeof session;
	if (opt->partitioner &&
	    rd_kafka_conf_get(conf, "session.timeout.ms", session, &session_size) == RD_KAFKA_CONF_OK &&
	    freeze_watch_start(&c->alive, &m->owner, atoll(session))) {
		snprintf(err, err_size, "cannot start the freeze-watch thread");
		goto cleanup;
	}
	rd_kafka_conf_set_opaque(conf, c);
	rd_kafka_conf_set_rebalance_cb(conf, consumer_rebalance_cb);
	rd_kafka_conf_set_error_cb(conf, consumer_error_cb);
	rd_kafka_conf_set_log_cb(conf, log_cb);

	char why[512];
	c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof why);
	if (!c->rk) {
		snprintf(err, err_size, "cannot create the Kafka consumer: %s", why);
		goto cleanup;
	}
	conf = NULL; /* owned by c->rk now */
	rd_kafka_poll_set_consumer(c->rk);
	c->commits = rd_kafka_queue_new(c->rk);

	rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(sub, opt->topic, RD_KAFKA_PARTITION_UA);
	rd_kafka_resp_err_t kerr = rd_kafka_subscribe(c->rk, sub);
	rd_kafka_topic_partition_list_destroy(sub);
	if (kerr) {
		snprintf(err, err_size, "cannot subscribe to topic %s: %s", opt->topic,
			 rd_kafka_err2str(kerr));
		rc = kafka_error(kerr);
		goto cleanup;
	}
	c->summary_at_ms = clock_mono_ms() + REJECTION_SUMMARY_MS;
	metrics_set_state(m, CONSUMER_STARTING, "waiting for a partition assignment");
	*out = c;
	return PL_OK;
cleanup:
	if (conf)
		rd_kafka_conf_destroy(conf);
	consumer_free(c);
	return rc;
}

/*
 * Batches update the watermarks of the partitions they touch; partitions
 * with nothing new would otherwise show an unknown lag for ever. The
 * watermarks come from librdkafka's cache (fetch responses): no round trip.
 * A paused partition is not fetched, so its cache stays where the pause
 * began: its end is asked of the brokers instead, while they answer, so
 * that its lag goes on growing while its messages wait. With nothing in
 * hand or being written, a partition's position is applied too: it is
 * past the records never delivered (transaction markers, aborted records)
 * that the offsets written stop before, which are not lag.
 */
static void refresh_lag(struct consumer *c)
{
	if (c->now_ms < c->lag_refresh_at_ms)
		return;
	c->lag_refresh_at_ms = c->now_ms + LAG_REFRESH_MS;
	rd_kafka_topic_partition_list_t *parts = NULL, *paused = NULL, *pos = NULL;
	if (rd_kafka_assignment(c->rk, &parts) || !parts)
		return;
	if (!c->writing && c->cur->n == 0) {
		pos = rd_kafka_topic_partition_list_copy(parts);
		rd_kafka_position(c->rk, pos);
	}
	for (int i = 0; i < parts->cnt; i++) {
		const char *topic = parts->elems[i].topic;
		int32_t partition = parts->elems[i].partition;
		if (c->store_failed || consumer_is_lost(c, topic, partition)) {
			if (!paused)
				paused = rd_kafka_topic_partition_list_new(parts->cnt);
			rd_kafka_topic_partition_list_add(paused, topic, partition);
			continue;
		}
		int64_t lo = -1, hi = -1;
		rd_kafka_get_watermark_offsets(c->rk, topic, partition, &lo, &hi);
		if (pos && !pos->elems[i].err && pos->elems[i].offset >= 0)
			metrics_set_partition(c->m, topic, partition, pos->elems[i].offset, hi);
		else if (hi >= 0)
			metrics_set_high_watermark(c->m, topic, partition, hi);
	}
	if (pos)
		rd_kafka_topic_partition_list_destroy(pos);
	rd_kafka_topic_partition_list_destroy(parts);
	if (!paused)
		return;
	if (!c->brokers_down &&
	    !broker_offsets(c->rk, paused, RD_KAFKA_OFFSET_END, PAUSED_LAG_TIMEOUT_MS))
		for (int i = 0; i < paused->cnt; i++)
			if (!paused->elems[i].err)
				metrics_set_high_watermark(c->m, paused->elems[i].topic,
							   paused->elems[i].partition,
							   paused->elems[i].offset);
	rd_kafka_topic_partition_list_destroy(paused);
}

int consumer_run(struct consumer *c, const atomic_bool *stop)
{
	while (!atomic_load(stop) && !c->fatal) {
		c->now_ms = clock_mono_ms();
		/* Wait for the batch deadline, or while writes fail for the next
		 * retry: a failing disk must not make this loop spin. While the
		 * writer is busy, only take what is already there. */
		int64_t until = c->store_failed ? c->retry_at_ms : c->cur->n ? c->deadline_ms : -1;
		int timeout = c->writing ? 0 : IDLE_POLL_MS;
		if (until >= 0 && timeout) {
			int64_t left = until - c->now_ms;
			timeout = left < 0 ? 0 : left > IDLE_POLL_MS ? IDLE_POLL_MS : (int)left;
		}
		rd_kafka_message_t *msg = rd_kafka_consumer_poll(c->rk, timeout);
		if (msg) {
			c->now_ms = clock_mono_ms();
			handle_message(c, msg);
		}
		/* Finished writes are reported (metrics, catch-up, live updates)
		 * at once; with nothing to read, the write in progress is all there
		 * is to do, so wait for it. */
		if (c->writing && (!msg || batch_writer_done(c->writer)))
			consumer_collect(c);
		if (!msg)
			c->now_ms = clock_mono_ms();
		if (c->store_failed) {
			consumer_retry_store(c);
		} else if (c->cur->n &&
			   (c->cur->n >= c->opt.batch_max || c->now_ms >= c->deadline_ms)) {
			consumer_tell_group(c); /* while the writer may still be busy */
			if (consumer_collect(c) == PL_OK)
				consumer_submit(c);
		}
		/* Damage found beside the writes (page_watch.h): said at once, not
		 * at the next batch's failure. */
		if (!c->store_refused && store_writes_refused(c->st)) {
			c->store_refused = true;
			atomic_store(&c->m->store_writable, false);
			consumer_update_state(c);
		}
		consumer_recheck_lost(c);
		consumer_recheck_unknown(c);
		consumer_settle_behind(c);
		consumer_commit_owed(c, false);
		consumer_probe_brokers(c);
		refresh_lag(c);
		consumer_summarise_rejections(c, false);
	}
	if (!c->store_failed)
		consumer_flush(c);
	else
		consumer_collect(c);
	consumer_summarise_rejections(c, true);
	return c->fatal;
}

/*
 * Unsubscribes and serves the revoke before closing, for at most
 * LEAVE_MS: librdkafka 2.0 can hang for ever in rd_kafka_consumer_close()
 * when a cooperative assignment arrives during the close (librdkafka issue
 * 4527, fixed in 2.4). Messages polled meanwhile are not applied; their
 * offsets were not stored, so whoever holds their partitions next reads them.
 */
#define LEAVE_MS 10000
static void leave_assignment(struct consumer *c)
{
	if (!c->cooperative || rd_kafka_unsubscribe(c->rk))
		return;
	for (int64_t end = clock_mono_ms() + LEAVE_MS; clock_mono_ms() < end;) {
		rd_kafka_topic_partition_list_t *held = NULL;
		bool empty = rd_kafka_assignment(c->rk, &held) == RD_KAFKA_RESP_ERR_NO_ERROR &&
			     held->cnt == 0;
		if (held)
			rd_kafka_topic_partition_list_destroy(held);
		if (empty)
			return;
		rd_kafka_message_t *msg = rd_kafka_consumer_poll(c->rk, 100);
		if (msg)
			rd_kafka_message_destroy(msg);
	}
	log_warn("leaving the consumer group: partitions still assigned after %d ms; closing "
		 "anyway", LEAVE_MS);
}

/*
 * Leaves the group; the revoke callback writes what is still in hand. For
 * at most CLOSE_MS: librdkafka 2.0's own close waits for ever for a commit
 * in flight when the brokers went away (librdkafka issue 3740). Whatever
 * the group was not told, the data dir holds. True when it closed.
 */
#define CLOSE_MS 15000
static bool close_group(struct consumer *c)
{
	rd_kafka_queue_t *q = rd_kafka_queue_new(c->rk);
	rd_kafka_error_t *error = rd_kafka_consumer_close_queue(c->rk, q);
	bool closed = error == NULL;
	if (error) {
		log_warn("leaving the consumer group: %s", rd_kafka_error_string(error));
		rd_kafka_error_destroy(error);
	}
	/* The close moved what was fetched and not yet polled onto q (messages,
	 * now and then an error event among them). */
	size_t unread = rd_kafka_queue_length(q);
	if (unread)
		log_debug("leaving the consumer group: %zu fetched messages not yet polled are "
			  "dropped (read again from the stored offsets at the next start)",
			  unread);
	for (int64_t end = clock_mono_ms() + CLOSE_MS; closed && !rd_kafka_consumer_closed(c->rk);) {
		if (clock_mono_ms() >= end) {
			log_warn("leaving the consumer group: no answer from the brokers in %d ms; "
				 "stopping without it (the data dir holds every batch written)",
				 CLOSE_MS);
			closed = false;
		} else {
			/* As the close itself polls: the revoke callback is called, and a
			 * message is dropped (its offset was not stored: read again). */
			rd_kafka_message_t *msg = rd_kafka_consume_queue(q, 100);
			if (msg)
				rd_kafka_message_destroy(msg);
		}
	}
	rd_kafka_queue_destroy(q);
	return closed;
}

void consumer_free(struct consumer *c)
{
	if (!c)
		return;
	if (c->rk) {
		c->closing = true;
		leave_assignment(c);
		bool closed = close_group(c);
		if (c->writer)
			consumer_collect(c);
		consumer_batch_release(&c->batches[0]);
		consumer_batch_release(&c->batches[1]);
		if (c->commits)
			rd_kafka_queue_destroy(c->commits);
		/* Not closed: a second close inside the destroy would wait as the first. */
		rd_kafka_destroy_flags(c->rk, closed ? 0 : RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
	}
	batch_writer_stop(c->writer);
	freeze_watch_stop(c->alive);
	rd_kafka_topic_partition_list_t *lists[] = {c->lost,    c->starts,       c->behind,
						     c->unknown, c->commits_sent, c->commits_owed};
	for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++)
		if (lists[i])
			rd_kafka_topic_partition_list_destroy(lists[i]);
	for (int i = 0; i < 2; i++) {
		free(c->batches[i].held);
		free(c->batches[i].msgs);
		free(c->batches[i].decoded);
	}
	free(c);
}
