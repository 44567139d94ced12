/*
 * consumer.c — the consumer loop, its rebalance callback and its recovery
 * from store errors, lost offsets and unreachable brokers; see consumer.h.
 *
 * Batches are written by a thread of their own (batch_writer.h) while the
 * next one is polled; everything that must know what is written — a
 * revocation, a seek, a stop — first waits for it (flush).
 *
 * Rebalance protocol: whichever the group uses. With the default eager
 * assignors (range, roundrobin) every rebalance revokes everything; with
 * kafka.partition.assignment.strategy=cooperative-sticky only the moved
 * partitions. Either way the batch in hand is written before a revocation
 * completes, so a batch never straddles two owners.
 */
#include "consumer.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch_writer.h"
#include "broker_offsets.h"
#include "clock.h"
#include "crash_point.h"
#include "decoded.h"
#include "group_generation.h"
#include "kafka_conf.h"
#include "log.h"
#include "pl_error.h"

#define DEFAULT_BATCH_MAX 20000
#define DEFAULT_BATCH_MS 50
#define DEFAULT_RETRY_MS 1000
#define IDLE_POLL_MS 100          /* how often the stop flag is looked at */
#define RECHECK_MS 2000           /* lost partitions and down brokers */
#define SUSPECT_MS 3000           /* from a failed connection to asking the brokers */
#define REJECTION_SUMMARY_MS 10000
#define WATERMARK_TIMEOUT_MS 2000
#define LAG_REFRESH_MS 1000       /* idle and paused partitions' lag */
#define PAUSED_LAG_TIMEOUT_MS 500 /* the loop's longest wait for a paused partition's end */
#define OTHERS_RECENT_MS 300000   /* another member heard since: not alone in the group */

/* Messages gathered for one write; kept alive until it is written. */
struct batch {
	rd_kafka_message_t **held;
	struct ingest_msg *msgs;
	struct decoded *decoded; /* msgs[i].decoded: decoded here, so the writer only applies */
	size_t n;
	char cluster[64]; /* the consumer's, copied when handed to the writer */
};

struct consumer {
	rd_kafka_t *rk;
	struct store *st;
	struct metrics *m;
	struct consumer_options opt;
	char cluster[64]; /* stored with offsets; "" when the broker did not say */
	/* cooperative-sticky, from the settings: librdkafka 2.0's
	 * rd_kafka_rebalance_protocol() can hang in a rebalance callback run by
	 * the close (librdkafka issue 4041), so the callback never asks it. */
	bool cooperative;
	bool closing; /* in consumer_free: callbacks must not ask librdkafka (record_ownership) */

	/* Double buffered: polling fills cur while the writer thread writes the
	 * other batch (writing, or NULL when the writer is idle). */
	struct batch batches[2];
	struct batch *cur;
	struct batch *writing;
	struct batch_writer *writer;
	int64_t deadline_ms; /* when cur is handed to the writer, full or not */
	int64_t now_ms;      /* monotonic, read after each wait of the loop */

	bool store_failed; /* partitions paused until a write succeeds */
	int store_error;   /* why, while store_failed */
	int64_t retry_at_ms;
	bool brokers_down;
	bool assignment_lost; /* the group session timed out; nothing held until it forms again */
	int64_t probe_at_ms;
	int64_t suspect_at_ms; /* a connection failed: ask the brokers then (0: none pending) */
	rd_kafka_topic_partition_list_t *lost; /* paused: their stored offset is gone */
	/* Partitions with no usable stored offset: where this run began them. */
	rd_kafka_topic_partition_list_t *starts;
	int64_t lost_check_at_ms;
	int fatal;

	int64_t lag_refresh_at_ms;
	uint64_t rejected[PL_REASON_COUNT]; /* since the last summary line */
	int64_t summary_at_ms;
};

/* A write that failed on damage, which retrying cannot mend. */
static bool damaged(int store_error)
{
	return store_error == PL_ECHECKSUM || store_error == PL_ECORRUPT;
}

/* The health seen on /healthz: the most serious condition wins. */
static void update_state(struct consumer *c)
{
	char detail[256];
	if (c->store_failed && damaged(c->store_error)) {
		metrics_set_state(c->m, CONSUMER_STALLED,
				  "the data dir is damaged (a stored entry failed its checksum, or an "
				  "LMDB page is broken); consumption paused; run 'pledged verify' to "
				  "name the entry, then restore from a backup (the 'Suspected "
				  "corruption' runbook)");
	} else if (c->store_failed) {
		metrics_set_state(c->m, CONSUMER_STALLED,
				  "cannot write to the data dir (disk full or I/O error); consumption "
				  "paused and retried every few seconds; free space or fix the disk");
	} else if (c->lost && c->lost->cnt > 0) {
		snprintf(detail, sizeof detail,
			 "%s [%" PRId32 "]: events were deleted by Kafka retention before pledged "
			 "read them; re-publish them if you can, then restart with "
			 "--skip-lost-offsets (see the log)",
			 c->lost->elems[0].topic, c->lost->elems[0].partition);
		metrics_set_state(c->m, CONSUMER_STALLED, detail);
	} else if (c->assignment_lost) {
		metrics_set_state(c->m, CONSUMER_STALLED,
				  "lost the consumer group's assignment (Kafka did not answer for "
				  "longer than the session timeout); nothing is consumed until the "
				  "group forms again; check the brokers and the network");
	} else if (c->brokers_down) {
		snprintf(detail, sizeof detail,
			 "cannot reach the Kafka brokers (%s); retrying; check the brokers and "
			 "the network",
			 c->opt.brokers);
		metrics_set_state(c->m, CONSUMER_STALLED, detail);
	} else {
		metrics_set_state(c->m, CONSUMER_CONSUMING, "");
	}
}

static void batch_release(struct batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		rd_kafka_message_destroy(b->held[i]);
	b->n = 0;
}

/*
 * Where topic/partition resumes: the offset stored in LMDB, or the beginning
 * when none is stored or it belongs to another incarnation of the cluster
 * (re-reading is harmless: applied event ids are skipped). The beginning is
 * the offset this run began the partition at, once the brokers said it
 * (set_stored_positions): resolved anew after a pause, "the beginning"
 * would pass silently over what retention deleted meanwhile.
 */
static int64_t stored_position(struct consumer *c, const char *topic, int32_t partition,
			       const char **why)
{
	struct store_txn t;
	struct evlog_offset off;
	int rc = store_read_begin(c->st, &t);
	if (rc == 0)
		rc = evlog_offset_get(&t, topic, partition, &off);
	store_abort(&t);
	const rd_kafka_topic_partition_t *start =
		rd_kafka_topic_partition_list_find(c->starts, topic, partition);
	if (rc == PL_ENOTFOUND) {
		*why = "never read: from the beginning";
		return start ? start->offset : RD_KAFKA_OFFSET_BEGINNING;
	}
	if (rc) {
		/* Starting over is safe (ids dedupe); skipping ahead would not be. */
		log_error("%s [%" PRId32 "]: cannot read the stored offset (%s); reading from the "
			  "beginning, already applied events will be skipped",
			  topic, partition, pl_strerror(rc));
		*why = "stored offset unreadable: from the beginning";
		return start ? start->offset : RD_KAFKA_OFFSET_BEGINNING;
	}
	if (off.cluster[0] && c->cluster[0] && strcmp(off.cluster, c->cluster) != 0) {
		log_warn("%s [%" PRId32 "]: stored offset %" PRId64 " belongs to Kafka cluster %s "
			 "but the broker is %s now (a new cluster, or the embedded broker restarted "
			 "empty); reading the partition from the beginning, events already applied "
			 "are recognised by id and skipped",
			 topic, partition, off.next, off.cluster, c->cluster);
		*why = "other cluster incarnation: from the beginning";
		return start ? start->offset : RD_KAFKA_OFFSET_BEGINNING;
	}
	*why = "stored";
	return off.next;
}

static void format_offset(char *buf, size_t size, int64_t offset)
{
	if (offset == RD_KAFKA_OFFSET_BEGINNING)
		snprintf(buf, size, "beginning");
	else
		snprintf(buf, size, "%" PRId64, offset);
}

struct starts {
	const char *cluster;
	const rd_kafka_topic_partition_list_t *parts; /* those without err start at offset */
};

static int put_starts_txn(struct store_txn *t, void *arg)
{
	const struct starts *s = arg;
	for (int i = 0; i < s->parts->cnt; i++) {
		const rd_kafka_topic_partition_t *p = &s->parts->elems[i];
		if (p->err)
			continue;
		struct evlog_offset off = {.next = p->offset};
		snprintf(off.cluster, sizeof off.cluster, "%s", s->cluster);
		evlog_offset_put(t, p->topic, p->partition, &off);
	}
	return t->err;
}

/*
 * Asks the brokers where the partitions of parts that begin at "the
 * beginning" begin now, and stores that as their offset: what retention
 * deletes from there before it is read is then a loss like any other,
 * across a pause, a rebalance or a restart. Not while closing: librdkafka
 * waits for the rebalance callback then. Kept in memory as well, for when
 * the data dir refuses the write.
 */
static void note_starts(struct consumer *c, const rd_kafka_topic_partition_list_t *parts)
{
	rd_kafka_topic_partition_list_t *ask = NULL;
	for (int i = 0; i < parts->cnt && !c->closing; i++) {
		if (parts->elems[i].offset != RD_KAFKA_OFFSET_BEGINNING)
			continue;
		if (!ask)
			ask = rd_kafka_topic_partition_list_new(parts->cnt);
		rd_kafka_topic_partition_list_add(ask, parts->elems[i].topic,
						  parts->elems[i].partition);
	}
	if (!ask)
		return;
	rd_kafka_resp_err_t err = broker_offsets(c->rk, ask, RD_KAFKA_OFFSET_BEGINNING,
						 WATERMARK_TIMEOUT_MS);
	for (int i = 0; i < ask->cnt; i++) {
		rd_kafka_topic_partition_t *p = &ask->elems[i];
		if (err || p->err)
			log_warn("%s [%" PRId32 "]: the brokers did not say where the partition "
				 "starts (%s); reading it from the beginning as librdkafka finds it, "
				 "so events Kafka's retention deletes before they are read may go "
				 "unnoticed",
				 p->topic, p->partition, rd_kafka_err2str(err ? err : p->err));
		else
			rd_kafka_topic_partition_list_add(c->starts, p->topic, p->partition)->offset =
				p->offset;
		/* Offsets start at 0: a partition that starts later lost its first
		 * events to retention before this data dir read any of them. */
		if (!err && !p->err && p->offset > 0)
			log_warn("%s [%" PRId32 "]: this data dir has read nothing of the partition, "
				 "and Kafka no longer has its offsets 0..%" PRId64 " (retention): the "
				 "campaigns of this partition may be incomplete here; start a new "
				 "instance from a backup of another's data dir",
				 p->topic, p->partition, p->offset - 1);
	}
	struct starts found = {c->cluster, ask};
	int rc = err ? PL_OK : store_run_write(c->st, put_starts_txn, &found);
	if (rc)
		log_warn("cannot store where the new partitions start (%s); kept for this run",
			 pl_strerror(rc));
	rd_kafka_topic_partition_list_destroy(ask);
}

/* Sets each partition's offset to where it resumes, logging anything unusual. */
static void set_stored_positions(struct consumer *c, rd_kafka_topic_partition_list_t *parts)
{
	const char *why;
	for (int i = 0; i < parts->cnt; i++)
		parts->elems[i].offset =
			stored_position(c, parts->elems[i].topic, parts->elems[i].partition, &why);
	note_starts(c, parts);
	for (int i = 0; i < parts->cnt; i++) {
		rd_kafka_topic_partition_t *p = &parts->elems[i];
		const rd_kafka_topic_partition_t *start =
			p->offset == RD_KAFKA_OFFSET_BEGINNING
				? rd_kafka_topic_partition_list_find(c->starts, p->topic, p->partition)
				: NULL;
		if (start)
			p->offset = start->offset;
		metrics_set_partition(c->m, p->topic, p->partition,
				      p->offset == RD_KAFKA_OFFSET_BEGINNING ? 0 : p->offset, -1);
	}
}

static void log_partitions(const char *what, const rd_kafka_topic_partition_list_t *parts,
			   bool with_offsets)
{
	char line[1024];
	size_t len = 0;
	line[0] = '\0';
	for (int i = 0; i < parts->cnt && len < sizeof line - 64; i++) {
		char off[32] = "";
		if (with_offsets)
			format_offset(off, sizeof off, parts->elems[i].offset);
		len += (size_t)snprintf(line + len, sizeof line - len, " %s[%" PRId32 "]%s%s",
					parts->elems[i].topic, parts->elems[i].partition,
					with_offsets ? "@" : "", off);
	}
	log_info("%s %d partition%s:%s", what, parts->cnt, parts->cnt == 1 ? "" : "s", line);
}

static void pause_all(struct consumer *c)
{
	rd_kafka_topic_partition_list_t *parts = NULL;
	if (rd_kafka_assignment(c->rk, &parts) == RD_KAFKA_RESP_ERR_NO_ERROR && parts->cnt)
		rd_kafka_pause_partitions(c->rk, parts);
	if (parts)
		rd_kafka_topic_partition_list_destroy(parts);
}

static bool is_lost(struct consumer *c, const char *topic, int32_t partition)
{
	return rd_kafka_topic_partition_list_find(c->lost, topic, partition) != NULL;
}

/*
 * Moves parts to the offsets in LMDB and resumes them. Used after anything
 * that may have moved librdkafka's fetch position past what was written.
 */
static void seek_to_stored(struct consumer *c, rd_kafka_topic_partition_list_t *parts)
{
	if (parts->cnt == 0)
		return;
	/* Resume first: resuming moves the fetch position to just after the last
	 * message polled (one we may have dropped), so the seek must come last. */
	rd_kafka_resume_partitions(c->rk, parts);
	set_stored_positions(c, parts);
	rd_kafka_error_t *error = rd_kafka_seek_partitions(c->rk, parts, 5000);
	if (error && rd_kafka_error_code(error)) {
		log_error("cannot seek back to the stored offsets: %s; the consumer will resync "
			  "at the next rebalance",
			  rd_kafka_error_string(error));
	}
	if (error)
		rd_kafka_error_destroy(error);
	for (int i = 0; i < parts->cnt; i++)
		if (parts->elems[i].err)
			log_error("%s [%" PRId32 "]: seek failed: %s", parts->elems[i].topic,
				  parts->elems[i].partition, rd_kafka_err2str(parts->elems[i].err));
}

/* Resumes every assigned partition but those waiting for an operator. */
static void resume_all_at_stored(struct consumer *c)
{
	rd_kafka_topic_partition_list_t *parts = NULL;
	if (rd_kafka_assignment(c->rk, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		if (parts)
			rd_kafka_topic_partition_list_destroy(parts);
		return;
	}
	rd_kafka_topic_partition_list_t *todo = rd_kafka_topic_partition_list_new(parts->cnt);
	for (int i = 0; i < parts->cnt; i++)
		if (!is_lost(c, parts->elems[i].topic, parts->elems[i].partition))
			rd_kafka_topic_partition_list_add(todo, parts->elems[i].topic,
							  parts->elems[i].partition);
	seek_to_stored(c, todo);
	rd_kafka_topic_partition_list_destroy(todo);
	rd_kafka_topic_partition_list_destroy(parts);
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
static void summarise_rejections(struct consumer *c, bool force)
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
 * Waits for the batch the writer has, if any. On success it also tells
 * Kafka (asynchronously, for lag tools), the metrics and the HTTP side. On a
 * store error that batch is in hand again (cur) for the retry, what was
 * polled meanwhile is dropped (it is read again from the stored offsets on
 * resume), every partition is paused and the error is returned.
 */
static int collect(struct consumer *c)
{
	struct batch *b = c->writing;
	if (!b)
		return PL_OK;
	struct ingest_stats stats;
	double seconds, index_seconds;
	int rc = batch_writer_collect(c->writer, &stats, &seconds, &index_seconds);
	metrics_add_index_work(c->m, index_seconds);
	c->writing = NULL;
	if (rc == 0)
		CRASH_POINT(CONSUMER_COLLECTED);
	if (rc) {
		if (!c->store_failed)
			log_error("cannot write a batch of %zu messages to the data dir %s: %s; "
				  "consumption is paused (HTTP keeps serving) and the write is retried "
				  "every %d ms; %s",
				  b->n, store_dir(c->st), pl_strerror(rc), c->opt.retry_ms,
				  damaged(rc) ? "the data dir is damaged: run 'pledged verify' to name the "
					    "entry, then restore from a backup"
					  : "free disk space or fix the data dir");
		batch_release(c->cur);
		c->cur = b;
		c->store_failed = true;
		c->store_error = rc;
		c->retry_at_ms = clock_mono_ms() + c->opt.retry_ms;
		atomic_store(&c->m->store_writable, false);
		pause_all(c);
		update_state(c);
		return rc;
	}
	rd_kafka_topic_partition_list_t *parts = batch_positions(b);
	rd_kafka_resp_err_t err = rd_kafka_commit(c->rk, parts, 1);
	if (err)
		log_debug("Kafka offset commit not sent: %s (offsets are safe in the data dir)",
			  rd_kafka_err2str(err));
	CRASH_POINT(CONSUMER_KAFKA_COMMITTED);
	for (int i = 0; i < parts->cnt; i++) {
		int64_t lo = -1, hi = -1;
		rd_kafka_get_watermark_offsets(c->rk, parts->elems[i].topic,
					       parts->elems[i].partition, &lo, &hi);
		metrics_set_partition(c->m, parts->elems[i].topic, parts->elems[i].partition,
				      parts->elems[i].offset, hi);
	}
	rd_kafka_topic_partition_list_destroy(parts);
	metrics_record_batch(c->m, &stats, b->n, seconds);
	note_rejections(c, &stats);
	if (c->opt.on_commit)
		c->opt.on_commit(c->opt.on_commit_arg, stats.last_seq);
	batch_release(b);
	return PL_OK;
}

/* Hands the batch in hand to the writer, which must be idle. */
static void submit(struct consumer *c)
{
	if (c->cur->n == 0)
		return;
	/* The rebalance callback may learn the cluster id while this is written. */
	memcpy(c->cur->cluster, c->cluster, sizeof c->cluster);
	batch_writer_submit(c->writer, c->cur->msgs, c->cur->n, c->cur->cluster, clock_wall_ms());
	c->writing = c->cur;
	c->cur = c->cur == &c->batches[0] ? &c->batches[1] : &c->batches[0];
}

/* Writes everything polled so far; returns once it is written or failed. */
static int flush(struct consumer *c)
{
	int rc = collect(c);
	if (rc)
		return rc;
	submit(c);
	return collect(c);
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
static void retry_store(struct consumer *c)
{
	if (c->now_ms < c->retry_at_ms)
		return;
	/* With nothing in hand (a rebalance dropped what failed), a write of
	 * its own says whether the data dir takes writes again. */
	bool empty = !c->writing && c->cur->n == 0;
	int rc = empty ? store_run_write(c->st, probe_txn, NULL) : flush(c);
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
	resume_all_at_stored(c);
	update_state(c);
}

/*
 * Starts fetching topic/partition again at target after librdkafka stopped
 * it (an offset out of range leaves it stopped, and a seek cannot revive
 * it): the partition is assigned anew, and with the eager protocol, which
 * only knows whole assignments, every other partition at its stored offset.
 *
 * It is resumed (we paused it) before the assignment, not after: each
 * pause, resume and assignment of a partition takes a version when it is
 * made and is served later on the partition's own queue, where one older
 * than an operation already served is dropped as outdated. The
 * assignment's start of fetching is made by librdkafka's own thread, so a
 * resume made after the assignment could be served first and get it
 * dropped, and the partition then stayed stopped for good (librdkafka
 * issues 2190 and 5591; seen once in the lost-offsets test under load).
 */
static bool restart_partition(struct consumer *c, const char *topic, int32_t partition,
			      int64_t target)
{
	rd_kafka_topic_partition_list_t *parts = NULL;
	rd_kafka_error_t *error = NULL;
	rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
	rd_kafka_topic_partition_list_t *one = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(one, topic, partition);
	rd_kafka_resume_partitions(c->rk, one);
	rd_kafka_topic_partition_list_destroy(one);
	if (c->cooperative) {
		parts = rd_kafka_topic_partition_list_new(1);
		rd_kafka_topic_partition_list_add(parts, topic, partition);
		error = rd_kafka_incremental_unassign(c->rk, parts);
		parts->elems[0].offset = target;
		if (!error)
			error = rd_kafka_incremental_assign(c->rk, parts);
	} else if ((err = rd_kafka_assignment(c->rk, &parts)) == RD_KAFKA_RESP_ERR_NO_ERROR) {
		/* Whatever is in hand must land first: other positions come from LMDB. */
		if (flush(c)) {
			rd_kafka_topic_partition_list_destroy(parts);
			return false;
		}
		set_stored_positions(c, parts);
		rd_kafka_topic_partition_t *p =
			rd_kafka_topic_partition_list_find(parts, topic, partition);
		if (p)
			p->offset = target;
		err = rd_kafka_assign(c->rk, parts);
	}
	if (parts)
		rd_kafka_topic_partition_list_destroy(parts);
	if (error || err) {
		log_warn("%s [%" PRId32 "]: cannot restart the partition (%s); retrying", topic,
			 partition, error ? rd_kafka_error_string(error) : rd_kafka_err2str(err));
		if (error)
			rd_kafka_error_destroy(error);
		return false;
	}
	return true;
}

enum lost_outcome { LOST_RESUMED, LOST_STALLED, LOST_UNANSWERED };

/*
 * A partition's position is not on the broker. Decides from the watermarks:
 * the partition is shorter than what was read (recreated topic, emptied
 * broker) → read it again from the beginning; data was deleted before it
 * was read → stall it (or skip, if the operator said so).
 */
static enum lost_outcome resolve_lost(struct consumer *c, const char *topic, int32_t partition,
				      int64_t failed_at, bool first)
{
	const char *why;
	int64_t pos = stored_position(c, topic, partition, &why);
	int64_t lo, hi, target;
	/* Never stored: where librdkafka was fetching from when the broker said
	 * it was gone, which retention may have deleted before anything of it
	 * was read (RD_KAFKA_OFFSET_INVALID when it had no offset yet). */
	if (pos == RD_KAFKA_OFFSET_BEGINNING && failed_at >= 0)
		pos = failed_at;
	rd_kafka_resp_err_t err =
		broker_watermarks(c->rk, topic, partition, &lo, &hi, WATERMARK_TIMEOUT_MS);
	if (err) {
		if (first)
			log_warn("%s [%" PRId32 "]: offset out of range and the broker's offsets are "
				 "unknown (%s); partition paused, retrying",
				 topic, partition, rd_kafka_err2str(err));
		return LOST_UNANSWERED;
	}
	if (pos == RD_KAFKA_OFFSET_BEGINNING || (pos >= lo && pos <= hi)) {
		target = pos;
	} else if (pos > hi) {
		log_warn("%s [%" PRId32 "]: the stored offset %" PRId64 " is past the end of the "
			 "partition (%" PRId64 "): the topic was recreated or the broker lost its "
			 "data; reading the partition from the beginning, events already applied are "
			 "recognised by id and skipped",
			 topic, partition, pos, hi);
		target = RD_KAFKA_OFFSET_BEGINNING;
		rd_kafka_topic_partition_list_del(c->starts, topic, partition); /* as old as pos */
	} else if (c->opt.skip_lost_offsets) {
		log_error("%s [%" PRId32 "]: offsets %" PRId64 "..%" PRId64 " were deleted by Kafka "
			  "before pledged read them; skipping to %" PRId64 " as configured "
			  "(skip_lost_offsets): those events are missing from the log",
			  topic, partition, pos, lo - 1, lo);
		target = lo;
	} else {
		if (first)
			log_error("%s [%" PRId32 "]: offsets %" PRId64 "..%" PRId64 " were deleted by "
				  "Kafka (retention) before pledged read them; this partition is "
				  "stalled. Re-publish those events if the gateways still have them "
				  "(duplicates are ignored), then restart with --skip-lost-offsets to "
				  "continue from offset %" PRId64,
				  topic, partition, pos, lo - 1, lo);
		return LOST_STALLED;
	}
	return restart_partition(c, topic, partition, target) ? LOST_RESUMED : LOST_STALLED;
}

static void on_offset_out_of_range(struct consumer *c, const char *topic, int32_t partition,
				   int64_t failed_at)
{
	if (is_lost(c, topic, partition))
		return;
	/* Whatever is in hand for it must land first: positions come from LMDB. */
	if (flush(c))
		return;
	rd_kafka_topic_partition_list_t *one = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(one, topic, partition);
	rd_kafka_pause_partitions(c->rk, one);
	rd_kafka_topic_partition_list_destroy(one);
	if (resolve_lost(c, topic, partition, failed_at, true) != LOST_RESUMED) {
		rd_kafka_topic_partition_list_add(c->lost, topic, partition)->offset = failed_at;
		c->lost_check_at_ms = clock_mono_ms() + RECHECK_MS;
		update_state(c);
	}
}

static void recheck_lost(struct consumer *c)
{
	if (c->lost->cnt == 0 || c->now_ms < c->lost_check_at_ms)
		return;
	c->lost_check_at_ms = clock_mono_ms() + RECHECK_MS;
	for (int i = c->lost->cnt - 1; i >= 0; i--) {
		rd_kafka_topic_partition_t *p = &c->lost->elems[i];
		enum lost_outcome o = resolve_lost(c, p->topic, p->partition, p->offset, false);
		if (o == LOST_RESUMED)
			rd_kafka_topic_partition_list_del_by_idx(c->lost, i);
		/* A broker that does not answer one will not answer the next: each
		 * round waits for one timeout at most, the loop has more to do. */
		if (o == LOST_UNANSWERED)
			break;
	}
	update_state(c);
}

/* Whether any broker answers a metadata request within half a second. */
static bool brokers_answer(struct consumer *c)
{
	const struct rd_kafka_metadata *md;
	if (rd_kafka_metadata(c->rk, 0, NULL, &md, 500) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return false;
	rd_kafka_metadata_destroy(md);
	return true;
}

/*
 * While brokers are down, a cheap metadata request says when they are back.
 * librdkafka says ALL_BROKERS_DOWN only when its count of brokers down
 * meets its count of brokers, which a connection coming and going between
 * two attempts can keep from happening; so a failed connection is also
 * followed, SUSPECT_MS later, by a question to the brokers.
 */
static void probe_brokers(struct consumer *c)
{
	if (c->suspect_at_ms && c->now_ms >= c->suspect_at_ms && !c->brokers_down) {
		c->suspect_at_ms = 0;
		if (brokers_answer(c))
			return;
		log_warn("no Kafka broker answers (%s); librdkafka keeps retrying", c->opt.brokers);
		c->brokers_down = true;
		c->probe_at_ms = clock_mono_ms() + RECHECK_MS;
		update_state(c);
		return;
	}
	if (!c->brokers_down || c->now_ms < c->probe_at_ms)
		return;
	c->probe_at_ms = clock_mono_ms() + RECHECK_MS;
	if (!brokers_answer(c))
		return;
	c->brokers_down = false;
	log_info("Kafka brokers reachable again");
	update_state(c);
}

/* How many partitions the topic has: 0 when the broker does not say. */
static int32_t topic_partitions(struct consumer *c)
{
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(c->rk, c->opt.topic, NULL);
	const struct rd_kafka_metadata *md = NULL;
	int32_t n = 0;
	if (rkt && rd_kafka_metadata(c->rk, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
	    md->topic_cnt == 1 && !md->topics[0].err)
		n = md->topics[0].partition_cnt;
	if (md)
		rd_kafka_metadata_destroy(md);
	if (rkt)
		rd_kafka_topic_destroy(rkt);
	return n;
}

/*
 * Tells HTTP which campaigns are now this instance's to answer for, after
 * an assignment or a revoke (revoked): a revoke that leaves nothing held
 * is the middle of a rebalance, when nobody holds those partitions; one
 * that lost the assignment (lost: the session timed out) may keep them.
 */
static void record_ownership(struct consumer *c, bool revoked, bool lost)
{
	int32_t held[OWNERSHIP_MAX_PARTITIONS];
	rd_kafka_topic_partition_list_t *now = NULL;
	size_t n = 0;
	if (!c->opt.partitioner)
		return;
	/* Closing, librdkafka's group thread waits for this callback, and what
	 * asks it (rd_kafka_assignment(), rd_kafka_consumer_group_metadata())
	 * may wait for ever (it hung serve's shutdown in both): a closing
	 * instance holds nothing, which needs no asking. */
	if (c->closing) {
		ownership_release(&c->m->owner);
		return;
	}
	if (revoked && lost) {
		/* A standby that holds nothing announces itself all the same. */
		bool others = cluster_others_heard_since(&c->m->cluster,
							 clock_wall_ms() - OTHERS_RECENT_MS);
		if (ownership_lose(&c->m->owner, others))
			log_warn("lost the consumer group's assignment (Kafka unreachable for longer "
				 "than the session timeout); alone in the group, this instance goes "
				 "on answering for its campaigns, marked stale (X-Pledged-Stale-Since), "
				 "until the group forms again");
		return;
	}
	if (rd_kafka_assignment(c->rk, &now) == RD_KAFKA_RESP_ERR_NO_ERROR)
		for (int i = 0; i < now->cnt && n < OWNERSHIP_MAX_PARTITIONS; i++)
			if (strcmp(now->elems[i].topic, c->opt.topic) == 0)
				held[n++] = now->elems[i].partition;
	if (now)
		rd_kafka_topic_partition_list_destroy(now);
	if (revoked && n == 0) {
		ownership_release(&c->m->owner);
		return;
	}
	/* Assigned none (more instances than partitions), its size is still said:
	 * "none of 4"; not learned then, it stays as it was. */
	int32_t count = n || !revoked ? topic_partitions(c) : -1;
	if (!n && count == 0)
		count = -1;
	if (n && !count)
		log_warn("cannot learn how many partitions topic %s has; answering for none of its "
			 "campaigns until the next rebalance", c->opt.topic);
	ownership_set(&c->m->owner, count, held, n, group_generation(c->rk));
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
			 rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	struct consumer *c = opaque;
	bool cooperative = c->cooperative;
	rd_kafka_error_t *error = NULL;
	rd_kafka_resp_err_t aerr = RD_KAFKA_RESP_ERR_NO_ERROR;
	/* Asked before the unassign below, which clears it. */
	bool lost = err != RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS && rd_kafka_assignment_lost(rk);

	c->assignment_lost = lost && !c->closing;
	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		if (!c->opt.cluster_id && !c->cluster[0]) {
			char *id = rd_kafka_clusterid(rk, 5000);
			if (id) {
				snprintf(c->cluster, sizeof c->cluster, "%s", id);
				rd_kafka_mem_free(rk, id);
			} else {
				log_warn("the broker did not tell its cluster id; a restarted or "
					 "replaced cluster will only be noticed by its offsets");
			}
		}
		set_stored_positions(c, parts);
		log_partitions("assigned", parts, true);
		/* A pause outlives an unassign in librdkafka 2.0: a partition paused
		 * for a failing write before a rebalance would stay paused for good.
		 * Resumed before the assignment, as restart_partition says why. */
		if (!c->store_failed)
			rd_kafka_resume_partitions(rk, parts);
		if (cooperative)
			error = rd_kafka_incremental_assign(rk, parts);
		else
			aerr = rd_kafka_assign(rk, parts);
		if (c->store_failed)
			rd_kafka_pause_partitions(rk, parts);
		update_state(c);
		CRASH_POINT(CONSUMER_ASSIGNED);
	} else {
		/* Both batches, the one being written and the one in hand, may hold
		 * messages of these partitions: write them while they are still ours;
		 * if that fails they are dropped, and the offsets in LMDB say where
		 * the next owner resumes. */
		if (flush(c))
			batch_release(c->cur);
		CRASH_POINT(CONSUMER_REVOKED);
		for (int i = 0; i < parts->cnt; i++) {
			/* Another instance may read them meanwhile: begun again when back. */
			rd_kafka_topic_partition_list_del(c->lost, parts->elems[i].topic,
							  parts->elems[i].partition);
			rd_kafka_topic_partition_list_del(c->starts, parts->elems[i].topic,
							  parts->elems[i].partition);
		}
		if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
			log_partitions("revoked", parts, false);
		else
			log_error("rebalance failed: %s; dropping the assignment",
				  rd_kafka_err2str(err));
		if (cooperative)
			error = rd_kafka_incremental_unassign(rk, parts);
		else
			aerr = rd_kafka_assign(rk, NULL);
		/* Lag is reported for what this instance still holds. */
		metrics_clear_partitions(c->m);
		rd_kafka_topic_partition_list_t *left = NULL;
		if (cooperative && !c->closing &&
		    rd_kafka_assignment(rk, &left) == RD_KAFKA_RESP_ERR_NO_ERROR)
			set_stored_positions(c, left);
		if (left)
			rd_kafka_topic_partition_list_destroy(left);
		update_state(c);
	}
	record_ownership(c, err != RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS, lost);
	if (error) {
		log_error("partition (un)assignment failed: %s", rd_kafka_error_string(error));
		rd_kafka_error_destroy(error);
	} else if (aerr) {
		log_error("partition (un)assignment failed: %s", rd_kafka_err2str(aerr));
	}
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct consumer *c = opaque;
	(void)rk;
	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		char why[512];
		rd_kafka_fatal_error(c->rk, why, sizeof why);
		log_error("fatal Kafka error: %s; stopping the consumer", why);
		c->fatal = PL_EKAFKA;
	} else if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
		if (!c->brokers_down)
			log_warn("all Kafka brokers are down or unreachable (%s): %s; librdkafka keeps "
				 "retrying",
				 c->opt.brokers, reason);
		c->brokers_down = true;
		c->probe_at_ms = clock_mono_ms() + RECHECK_MS;
		update_state(c);
	} else if (err == RD_KAFKA_RESP_ERR__TRANSPORT) {
		log_debug("Kafka connection: %s", reason);
		if (!c->suspect_at_ms)
			c->suspect_at_ms = clock_mono_ms() + SUSPECT_MS;
	} else {
		log_warn("Kafka: %s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
	}
}

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
			on_offset_out_of_range(c, topic, msg->partition, msg->offset);
		else if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
			log_warn("Kafka %s [%" PRId32 "]: %s", topic, msg->partition,
				 rd_kafka_message_errstr(msg));
		rd_kafka_message_destroy(msg);
		return;
	}
	if (c->brokers_down) {
		c->brokers_down = false;
		log_info("Kafka brokers reachable again");
		update_state(c);
	}
	/* While writes fail or the partition waits for an operator, what arrives is
	 * dropped: it is read again from the stored offset on resume. */
	if (c->store_failed || is_lost(c, rd_kafka_topic_name(msg->rkt), msg->partition)) {
		rd_kafka_message_destroy(msg);
		return;
	}
	struct batch *b = c->cur;
	if (b->n == 0)
		c->deadline_ms = c->now_ms + c->opt.batch_ms;
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
	b->n++;
}

/* Checkpoints and merges, a share after each batch (each transaction writes
 * at most 2 MiB), so ingestion never waits for a whole checkpoint. */
static int maintain(struct writer *w)
{
	return writer_maintain(w, 4);
}

/* While no message comes, the rest of that work: a history move or merge a
 * crash cut short (readers pay for a move left half done), the rest of a
 * checkpoint. Of the live slot: a rebuild may have swapped it meanwhile. */
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

/* The group's own pass-through value of key, or NULL. */
static const char *kafka_prop(const struct consumer_options *opt, const char *key)
{
	for (size_t i = 0; i < opt->kafka_count; i++)
		if (strcmp(opt->kafka[i].key, key) == 0)
			return opt->kafka[i].value;
	return NULL;
}

/* Sets a librdkafka property to pledged's default, unless --kafka gave it. */
static int set_default(rd_kafka_conf_t *conf, const struct consumer_options *opt, const char *key,
		       const char *value, char *err, size_t err_size)
{
	if (kafka_prop(opt, key) || kafka_conf_set(conf, key, value, err, err_size) == 0)
		return PL_OK;
	return PL_EINVAL;
}

/*
 * Group membership that moves partitions in seconds, not librdkafka's 45:
 * while an instance that died still counts as a member, nobody answers
 * for its campaigns.
 */
static int set_group_defaults(rd_kafka_conf_t *conf, const struct consumer_options *opt,
			      char *err, size_t err_size)
{
	if (set_default(conf, opt, "session.timeout.ms", CONSUMER_SESSION_TIMEOUT_MS, err,
			err_size) ||
	    set_default(conf, opt, "heartbeat.interval.ms", CONSUMER_HEARTBEAT_MS, err, err_size))
		return PL_EINVAL;
	if (opt->instance_id && opt->instance_id[0] &&
	    kafka_conf_set(conf, "group.instance.id", opt->instance_id, err, err_size))
		return PL_EINVAL;
	return PL_OK;
}

/*
 * librdkafka stops fetching a partition once its queue holds
 * queued.min.messages, and 2.0 looks again only at its broker thread's next
 * 1-second wakeup: at the default (100,000) the writer emptied the queue in
 * about 0.7 s and then waited for the rest of every second. The queue must
 * last more than a second at the writer's pace.
 */
static int set_fetch_defaults(rd_kafka_conf_t *conf, const struct consumer_options *opt,
			      char *err, size_t err_size)
{
	return set_default(conf, opt, "queued.min.messages", CONSUMER_QUEUED_MIN_MESSAGES, err,
			   err_size);
}

/* The consumer's settings: the operator's, pledged's defaults, and what exactly-once needs. */
static rd_kafka_conf_t *consumer_conf(const struct consumer_options *opt, char *err,
				      size_t err_size)
{
	rd_kafka_conf_t *conf = kafka_conf_new(opt->kafka, opt->kafka_count, err, err_size);
	if (!conf || set_group_defaults(conf, opt, err, err_size) ||
	    set_fetch_defaults(conf, opt, err, err_size))
		goto fail;
	/* Set after the pass-through so that they win: exactly-once depends on them. */
	if (kafka_conf_set(conf, "bootstrap.servers", opt->brokers, err, err_size) ||
	    kafka_conf_set(conf, "group.id", opt->group, err, err_size) ||
	    kafka_conf_set(conf, "enable.auto.commit", "false", err, err_size) ||
	    kafka_conf_set(conf, "enable.auto.offset.store", "false", err, err_size) ||
	    /* An unknown position is an error we handle, never a silent jump. */
	    kafka_conf_set(conf, "auto.offset.reset", "error", err, err_size) ||
	    kafka_conf_set(conf, "enable.partition.eof", "false", err, err_size))
		goto fail;
	return conf;
fail:
	if (conf)
		rd_kafka_conf_destroy(conf);
	return NULL;
}

static void log_nothing(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk, (void)level, (void)fac, (void)buf;
}

int consumer_check(const struct consumer_options *opt, char *err, size_t err_size)
{
	rd_kafka_conf_t *conf = consumer_conf(opt, err, err_size);
	/* No brokers: a client with some would start connecting to them at once. */
	if (conf && kafka_conf_set(conf, "bootstrap.servers", "", err, err_size)) {
		rd_kafka_conf_destroy(conf);
		conf = NULL;
	}
	if (!conf)
		return PL_EINVAL;
	rd_kafka_conf_set_log_cb(conf, log_nothing);
	char why[512];
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof why);
	if (!rk) {
		rd_kafka_conf_destroy(conf);
		snprintf(err, err_size, "librdkafka would not make the consumer: %s", why);
		return PL_EINVAL;
	}
	rd_kafka_destroy(rk);
	return PL_OK;
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
	if (batch_writer_start(&c->writer, c->opt.ingest, maintain, idle, w))
		goto cleanup;

	rc = PL_EINVAL;
	if (!(conf = consumer_conf(opt, err, err_size)))
		goto cleanup;
	char strategy[256];
	size_t strategy_size = sizeof strategy;
	c->cooperative = rd_kafka_conf_get(conf, "partition.assignment.strategy", strategy,
					   &strategy_size) == RD_KAFKA_CONF_OK &&
			 strstr(strategy, "cooperative") != NULL;
	rd_kafka_conf_set_opaque(conf, c);
	rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
	rd_kafka_conf_set_error_cb(conf, error_cb);
	rd_kafka_conf_set_log_cb(conf, log_cb);

	char why[512];
	c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof why);
	if (!c->rk) {
		snprintf(err, err_size, "cannot create the Kafka consumer: %s", why);
		goto cleanup;
	}
	conf = NULL; /* owned by c->rk now */
	rd_kafka_poll_set_consumer(c->rk);

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
 * that its lag goes on growing while its messages wait.
 */
static void refresh_lag(struct consumer *c)
{
	if (c->now_ms < c->lag_refresh_at_ms)
		return;
	c->lag_refresh_at_ms = c->now_ms + LAG_REFRESH_MS;
	rd_kafka_topic_partition_list_t *parts = NULL, *paused = NULL;
	if (rd_kafka_assignment(c->rk, &parts) || !parts)
		return;
	for (int i = 0; i < parts->cnt; i++) {
		const char *topic = parts->elems[i].topic;
		int32_t partition = parts->elems[i].partition;
		if (c->store_failed || is_lost(c, topic, partition)) {
			if (!paused)
				paused = rd_kafka_topic_partition_list_new(parts->cnt);
			rd_kafka_topic_partition_list_add(paused, topic, partition);
			continue;
		}
		int64_t lo = -1, hi = -1;
		rd_kafka_get_watermark_offsets(c->rk, topic, partition, &lo, &hi);
		if (hi >= 0)
			metrics_set_high_watermark(c->m, topic, partition, hi);
	}
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
		/* Finished writes are reported (Kafka commit, metrics, live updates)
		 * at once; with nothing to read, the write in progress is all there
		 * is to do, so wait for it. */
		if (c->writing && (!msg || batch_writer_done(c->writer)))
			collect(c);
		if (!msg)
			c->now_ms = clock_mono_ms();
		if (c->store_failed) {
			retry_store(c);
		} else if (c->cur->n &&
			   (c->cur->n >= c->opt.batch_max || c->now_ms >= c->deadline_ms)) {
			if (collect(c) == PL_OK)
				submit(c);
		}
		recheck_lost(c);
		probe_brokers(c);
		refresh_lag(c);
		summarise_rejections(c, false);
	}
	if (!c->store_failed)
		flush(c);
	else
		collect(c);
	summarise_rejections(c, true);
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

void consumer_free(struct consumer *c)
{
	if (!c)
		return;
	if (c->rk) {
		c->closing = true;
		leave_assignment(c);
		/* Leaves the group; the revoke callback writes what is still in hand. */
		rd_kafka_resp_err_t err = rd_kafka_consumer_close(c->rk);
		if (err)
			log_warn("leaving the consumer group: %s", rd_kafka_err2str(err));
		if (c->writer)
			collect(c);
		batch_release(&c->batches[0]);
		batch_release(&c->batches[1]);
		rd_kafka_destroy(c->rk);
	}
	batch_writer_stop(c->writer);
	if (c->lost)
		rd_kafka_topic_partition_list_destroy(c->lost);
	if (c->starts)
		rd_kafka_topic_partition_list_destroy(c->starts);
	for (int i = 0; i < 2; i++) {
		free(c->batches[i].held);
		free(c->batches[i].msgs);
		free(c->batches[i].decoded);
	}
	free(c);
}
