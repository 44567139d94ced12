/*
 * consumer_batches.c — the double-buffered batches: committed to the
 * consumer group and handed to the writer thread, collected when written
 * (the metrics, live updates), and retried while the data dir refuses
 * writes. See consumer_internal.h.
 */
#include "consumer_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "crash_point.h"
#include "log.h"
#include "pl_error.h"

void consumer_batch_release(struct batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		rd_kafka_message_destroy(b->held[i]);
	b->n = 0;
	b->erases = false;
	b->told_group = false;
}

/* The partitions of the batch, each with the offset after its last message. */
static rd_kafka_topic_partition_list_t *batch_positions(const struct batch *b)
{
	rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(8);
	for (size_t i = 0; i < b->n; i++) {
		const rd_kafka_message_t *msg = b->held[i];
		const char *topic = rd_kafka_topic_name(msg->rkt);
		rd_kafka_topic_partition_t *p =
			rd_kafka_topic_partition_list_find(parts, topic, msg->partition);
		if (!p)
			p = rd_kafka_topic_partition_list_add(parts, topic, msg->partition);
		p->offset = msg->offset + 1;
	}
	return parts;
}

static void note_rejections(struct consumer *c, const struct ingest_stats *stats)
{
	for (int r = 0; r < PL_REASON_COUNT; r++)
		c->rejected[r] += stats->rejected[r];
}

/* One line every REJECTION_SUMMARY_MS at most, never one per message. */
void consumer_summarise_rejections(struct consumer *c, bool force)
{
	if (!force && c->now_ms < c->summary_at_ms)
		return;
	c->summary_at_ms = clock_mono_ms() + REJECTION_SUMMARY_MS;
	char line[768];
	size_t len = 0;
	uint64_t total = 0;
	for (int r = 0; r < PL_REASON_COUNT; r++) {
		if (!c->rejected[r])
			continue;
		total += c->rejected[r];
		if (len < sizeof line - 64)
			len += (size_t)snprintf(line + len, sizeof line - len, " %s=%" PRIu64,
						pl_reason_code((enum pl_reason)r), c->rejected[r]);
		c->rejected[r] = 0;
	}
	if (total)
		log_warn("rejected %" PRIu64 " message%s since the last report:%s (kept with their "
			 "bytes: see 'pledged rejections' or GET /v1/rejections)",
			 total, total == 1 ? "" : "s", line);
}

/*
 * Waits for the batch the writer has, if any. On success it also tells the
 * metrics, the catch-up marks and the HTTP side. On a store error that
 * batch is in hand again (cur) for the retry, what was polled meanwhile is
 * dropped (it is read again from the stored offsets on resume), every
 * partition is paused and the error is returned.
 */
int consumer_collect(struct consumer *c)
{
	struct batch *b = c->writing;
	if (!b)
		return PL_OK;
	struct ingest_stats stats;
	double seconds, index_seconds;
	int rc = batch_writer_collect(c->writer, &stats, &seconds, &index_seconds);
	if (b->erases && c->opt.on_erasure)
		c->opt.on_erasure(c->opt.on_erasure_arg, false);
	metrics_add_index_work(c->m, index_seconds);
	metrics_set_upkeep(c->m, atomic_load(&c->w->upkeep_us), atomic_load(&c->w->upkeep_wait_us));
	c->writing = NULL;
	if (rc == 0)
		CRASH_POINT(CONSUMER_COLLECTED);
	if (rc) {
		if (!c->store_failed)
			log_error("cannot write a batch of %zu messages to the data dir %s: %s; "
				  "consumption is paused (HTTP keeps serving) and the write is retried "
				  "every %d ms; %s",
				  b->n, store_dir(c->st), pl_strerror(rc), c->opt.retry_ms,
				  consumer_store_damaged(rc) ? "the data dir is damaged: run 'pledged verify' to name the "
					    "entry, then restore from a backup"
					  : "free disk space or fix the data dir");
		consumer_batch_release(c->cur);
		c->cur = b;
		c->store_failed = true;
		c->store_error = rc;
		c->retry_at_ms = clock_mono_ms() + c->opt.retry_ms;
		atomic_store(&c->m->store_writable, false);
		consumer_pause_all(c);
		consumer_update_state(c);
		return rc;
	}
	rd_kafka_topic_partition_list_t *parts = batch_positions(b);
	for (int i = 0; i < parts->cnt; i++) {
		int64_t lo = -1, hi = -1;
		rd_kafka_get_watermark_offsets(c->rk, parts->elems[i].topic,
					       parts->elems[i].partition, &lo, &hi);
		metrics_set_partition(c->m, parts->elems[i].topic, parts->elems[i].partition,
				      parts->elems[i].offset, hi);
		consumer_caught_up_to(c, parts->elems[i].topic, parts->elems[i].partition,
				      parts->elems[i].offset);
	}
	rd_kafka_topic_partition_list_destroy(parts);
	metrics_record_batch(c->m, &stats, b->n, seconds);
	note_rejections(c, &stats);
	if (c->opt.on_commit)
		c->opt.on_commit(c->opt.on_commit_arg, stats.last_seq);
	consumer_batch_release(b);
	return PL_OK;
}

/* p's offset in list, added if missing. */
static void set_offset(rd_kafka_topic_partition_list_t *list, const char *topic,
		       int32_t partition, int64_t offset)
{
	rd_kafka_topic_partition_t *p = rd_kafka_topic_partition_list_find(list, topic, partition);
	if (!p)
		p = rd_kafka_topic_partition_list_add(list, topic, partition);
	p->offset = offset;
}

/*
 * The answer to one of send_commit's commits: whether the group took all
 * of it. An offset refused is owed, unless its partition has been sent a
 * later one since: the batch is written all the same, and the group must
 * not stay behind it. One taken after a later one was sent is not the
 * last word: librdkafka retries a commit whose first answer was a
 * transient error (REQUEST_TIMED_OUT) even after the later one went, which
 * it may then overwrite, so the later offset is owed again.
 */
static bool read_answer(struct consumer *c, rd_kafka_event_t *ev)
{
	c->commits_unanswered--;
	rd_kafka_resp_err_t err = rd_kafka_event_error(ev), why = err;
	const rd_kafka_topic_partition_list_t *parts = rd_kafka_event_topic_partition_list(ev);
	for (int i = 0; parts && i < parts->cnt; i++) {
		const rd_kafka_topic_partition_t *p = &parts->elems[i];
		const rd_kafka_topic_partition_t *last =
			rd_kafka_topic_partition_list_find(c->commits_sent, p->topic, p->partition);
		if (!why)
			why = p->err;
		if (!last)
			continue;
		if ((err || p->err) ? last->offset == p->offset : p->offset < last->offset)
			set_offset(c->commits_owed, p->topic, p->partition, last->offset);
	}
	if (why)
		log_debug("Kafka offset commit refused: %s (sent again; offsets are safe in the data "
			  "dir)",
			  rd_kafka_err2str(why));
	rd_kafka_event_destroy(ev);
	return !why;
}

static void read_answers(struct consumer *c)
{
	rd_kafka_event_t *ev;
	while (c->commits_unanswered && (ev = rd_kafka_queue_poll(c->commits, 0)))
		read_answer(c, ev);
}

/* What became of a commit when send_commit returns. */
enum commit_outcome { COMMIT_NOT_SENT, COMMIT_UNCONFIRMED, COMMIT_TAKEN };

/*
 * Commits parts, and the offsets owed of other partitions, to the group.
 * The coordinator's answer is awaited COMMIT_WAIT_MS at most; while one is
 * overdue, the next commits are sent without waiting, so that an
 * unreachable coordinator does not slow ingestion (the window is then
 * open again until it answers).
 */
static enum commit_outcome send_commit(struct consumer *c, rd_kafka_topic_partition_list_t *parts)
{
	read_answers(c);
	for (int i = 0; i < c->commits_owed->cnt; i++) {
		const rd_kafka_topic_partition_t *o = &c->commits_owed->elems[i];
		if (!rd_kafka_topic_partition_list_find(parts, o->topic, o->partition))
			rd_kafka_topic_partition_list_add(parts, o->topic, o->partition)->offset =
				o->offset;
	}
	if (parts->cnt == 0)
		return COMMIT_NOT_SENT;
	rd_kafka_resp_err_t err = rd_kafka_commit_queue(c->rk, parts, c->commits, NULL, NULL);
	if (err) {
		log_debug("Kafka offset commit not sent: %s (offsets are safe in the data dir)",
			  rd_kafka_err2str(err));
		return COMMIT_NOT_SENT;
	}
	/* Each partition of parts now has a later commit than any owed. */
	for (int i = 0; i < parts->cnt; i++) {
		set_offset(c->commits_sent, parts->elems[i].topic, parts->elems[i].partition,
			   parts->elems[i].offset);
		rd_kafka_topic_partition_list_del(c->commits_owed, parts->elems[i].topic,
						  parts->elems[i].partition);
	}
	if (c->commits_unanswered++ > 0)
		return COMMIT_UNCONFIRMED;
	rd_kafka_event_t *ev = rd_kafka_queue_poll(c->commits, COMMIT_WAIT_MS);
	if (ev)
		return read_answer(c, ev) ? COMMIT_TAKEN : COMMIT_UNCONFIRMED;
	log_warn("the consumer group's coordinator has not answered an offset commit within %d "
		 "ms; batches are written without waiting for its answers until it gives them "
		 "(offsets are safe in the data dir)",
		 COMMIT_WAIT_MS);
	return COMMIT_UNCONFIRMED;
}

/*
 * The next holder of a partition waits until its data dir reaches the
 * group's offset (consumer_catch_up.c). Were the group told after the
 * write, as consumers usually commit, a kill -9 between the two would let
 * it answer with figures older than those this instance gave. An offset
 * ahead of this data dir costs only that wait.
 */
void consumer_tell_group(struct consumer *c)
{
	struct batch *b = c->cur;
	if (b->told_group || b->n == 0)
		return;
	b->told_group = true;
	rd_kafka_topic_partition_list_t *parts = batch_positions(b);
	consumer_drop_behind(c, parts);
	bool owes = parts->cnt > 0; /* partitions behind the group owe it nothing */
	enum commit_outcome sent = send_commit(c, parts);
	rd_kafka_topic_partition_list_destroy(parts);
	if (owes && sent != COMMIT_TAKEN)
		atomic_fetch_add(&c->m->commits_unconfirmed, 1);
	if (sent != COMMIT_NOT_SENT)
		CRASH_POINT(CONSUMER_KAFKA_COMMITTED);
}

void consumer_await_commits(struct consumer *c, int timeout_ms)
{
	int64_t end = clock_mono_ms() + timeout_ms, left = timeout_ms;
	for (; c->commits_unanswered && left > 0; left = end - clock_mono_ms()) {
		rd_kafka_event_t *ev = rd_kafka_queue_poll(c->commits, (int)left);
		if (ev)
			read_answer(c, ev);
	}
	if (c->commits_unanswered)
		log_warn("the consumer group's coordinator has not answered %d offset commit%s "
			 "within %d ms of a revoke; one it refuses is not sent again, and the next "
			 "holder of the partitions waits only as far as the group's offset",
			 c->commits_unanswered, c->commits_unanswered == 1 ? "" : "s", timeout_ms);
}

/* Refused commits, sent again every RECHECK_MS (or now: force) until taken. */
void consumer_commit_owed(struct consumer *c, bool force)
{
	if (!force && c->now_ms < c->owed_at_ms)
		return;
	c->owed_at_ms = clock_mono_ms() + RECHECK_MS;
	read_answers(c);
	if (c->commits_owed->cnt == 0)
		return;
	rd_kafka_topic_partition_list_t *parts =
		rd_kafka_topic_partition_list_new(c->commits_owed->cnt);
	send_commit(c, parts);
	rd_kafka_topic_partition_list_destroy(parts);
}

void consumer_forget_commits(struct consumer *c, const rd_kafka_topic_partition_list_t *parts)
{
	for (int i = 0; i < parts->cnt; i++) {
		rd_kafka_topic_partition_list_del(c->commits_sent, parts->elems[i].topic,
						  parts->elems[i].partition);
		rd_kafka_topic_partition_list_del(c->commits_owed, parts->elems[i].topic,
						  parts->elems[i].partition);
	}
}

/* Hands the batch in hand to the writer, which must be idle. */
void consumer_submit(struct consumer *c)
{
	if (c->cur->n == 0)
		return;
	consumer_tell_group(c);
	/* The rebalance callback may learn the cluster id while this is written. */
	memcpy(c->cur->cluster, c->cluster, sizeof c->cluster);
	if (c->cur->erases && c->opt.on_erasure)
		c->opt.on_erasure(c->opt.on_erasure_arg, true);
	batch_writer_submit(c->writer, c->cur->msgs, c->cur->n, c->cur->cluster, clock_wall_ms());
	c->writing = c->cur;
	c->cur = c->cur == &c->batches[0] ? &c->batches[1] : &c->batches[0];
}

/* Writes everything polled so far; returns once it is written or failed. */
int consumer_flush(struct consumer *c)
{
	int rc = consumer_collect(c);
	if (rc)
		return rc;
	consumer_submit(c);
	return consumer_collect(c);
}

/* Puts and deletes a key: pages written, nothing changed. */
static int probe_txn(struct store_txn *t, void *arg)
{
	static const char key[] = "write.probe";
	(void)arg;
	store_put(t, STORE_DB_META, key, sizeof key - 1, "", 0, 0);
	store_del(t, STORE_DB_META, key, sizeof key - 1);
	return t->err;
}

/* While the store fails: retry the batch in hand, then resume where LMDB says. */
void consumer_retry_store(struct consumer *c)
{
	if (c->now_ms < c->retry_at_ms)
		return;
	/* With nothing in hand (a rebalance dropped what failed), a write of
	 * its own says whether the data dir takes writes again. */
	bool empty = !c->writing && c->cur->n == 0;
	int rc = empty ? store_run_write(c->st, probe_txn, NULL) : consumer_flush(c);
	/* The probe may fit in pages LMDB reuses, never growing the file. */
	if (empty && rc == PL_OK && store_disk_nearly_full(c->st))
		rc = PL_ENOSPACE;
	if (empty && rc) {
		c->store_error = rc;
		c->retry_at_ms = clock_mono_ms() + c->opt.retry_ms;
	}
	if (rc != PL_OK)
		return;
	c->store_failed = false;
	atomic_store(&c->m->store_writable, true);
	log_info("the data dir %s accepts writes again; resuming every partition at its stored "
		 "offset",
		 store_dir(c->st));
	consumer_resume_all_at_stored(c);
	consumer_update_state(c);
}
