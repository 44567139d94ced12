/*
 * consumer_internal.h — the consumer's state, shared by its files, each of
 * which uses only those listed after it:
 *   consumer.c            the loop: polling, handing batches over, the
 *                         settings, start and close
 *   consumer_rebalance.c  the rebalance callback and which campaigns the
 *                         instance answers for
 *   consumer_lost.c       offsets Kafka no longer has: read again, skipped
 *                         or stalled
 *   consumer_batches.c    the double-buffered batches: written, collected,
 *                         retried while the data dir refuses writes
 *   consumer_positions.c  where each partition resumes
 *   consumer_catch_up.c   partitions assigned behind what the group had read
 *   consumer_health.c     the /healthz state, the brokers' probe
 * Not for use outside them.
 */
#ifndef CONSUMER_INTERNAL_H
#define CONSUMER_INTERNAL_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdint.h>

#include "consumer.h"
#include "freeze_watch.h"

#define RECHECK_MS 2000 /* lost partitions and down brokers */
#define WATERMARK_TIMEOUT_MS 2000 /* the longest wait for where a partition starts */
#define RECHECK_WAIT_MS 200 /* the loop's longest wait when it asks again */
#define REJECTION_SUMMARY_MS 10000
#define COMMIT_WAIT_MS 1000 /* the longest wait for the group's answer to a commit */
#define REVOKE_WAIT_MS 10000 /* a revoke's longest wait for the answers to commits in flight */
#define SETTLE_MS 200 /* partitions behind: how often their position is looked at */

/* Messages gathered for one write; kept alive until it is written. */
struct batch {
	rd_kafka_message_t **held;
	struct ingest_msg *msgs;
	struct decoded *decoded; /* msgs[i].decoded: decoded here, so the writer only applies */
	size_t n;
	bool erases;      /* holds a supporter.forgotten: on_erasure around its write */
	bool told_group;  /* its offsets committed to the group (consumer_tell_group) */
	char cluster[64]; /* the consumer's, copied when handed to the writer */
};

struct consumer {
	rd_kafka_t *rk;
	struct store *st;
	const struct writer *w; /* read for its upkeep's counters only: the writer thread writes */
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
	rd_kafka_queue_t *commits;  /* the answers to the group's commits (consumer_batches.c) */
	int commits_unanswered;     /* sent there, answer not read yet */
	/* Per partition, the offset last sent to the group, and those it
	 * refused (no later one sent since): sent again (consumer_commit_owed). */
	rd_kafka_topic_partition_list_t *commits_sent;
	rd_kafka_topic_partition_list_t *commits_owed;
	int64_t owed_at_ms;
	struct freeze_watch *alive; /* signs of life for ownership, with a partitioner */
	int64_t deadline_ms; /* when cur is handed to the writer, full or not */
	int64_t now_ms;      /* monotonic, read after each wait of the loop */

	bool store_failed; /* partitions paused until a write succeeds */
	bool store_refused; /* store_writes_refused() seen: damage found outside a write */
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
	/* Held partitions behind the group's committed offset (offset): their
	 * campaigns wait until this data dir reaches it (consumer_catch_up.c). */
	rd_kafka_topic_partition_list_t *behind;
	int64_t settle_at_ms;
	/* Held partitions whose group offset could not be learned at the
	 * assignment (offset: where this data dir stands): nothing of them is
	 * committed until it is (consumer_recheck_unknown). */
	rd_kafka_topic_partition_list_t *unknown;
	int64_t unknown_check_at_ms;
	int fatal;

	int64_t lag_refresh_at_ms;
	uint64_t rejected[PL_REASON_COUNT]; /* since the last summary line */
	int64_t summary_at_ms;
};

/* consumer_rebalance.c */
void consumer_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
			   rd_kafka_topic_partition_list_t *parts, void *opaque);

/* consumer_lost.c */
/* librdkafka says the partition's position is not on the broker. */
void consumer_on_offset_out_of_range(struct consumer *c, const char *topic, int32_t partition,
				     int64_t failed_at);
/* Asks again, every RECHECK_MS, about the partitions waiting for an operator. */
void consumer_recheck_lost(struct consumer *c);

/* consumer_batches.c */
/* Drops the messages b holds. */
void consumer_batch_release(struct batch *b);
/*
 * Waits for the batch the writer has, if any, and reports it (metrics,
 * catch-up, live updates); on a store error that batch is in hand again
 * for the retry and every partition is paused. 0 or that error.
 */
int consumer_collect(struct consumer *c);
/*
 * Commits the offsets of the batch in hand to the consumer group, before
 * the writer makes its figures visible; consumer_submit does it if not done
 * yet, the loop earlier, while the writer still writes the batch before.
 */
void consumer_tell_group(struct consumer *c);
/* Reads the answers to the commits sent, waiting timeout_ms at most for the last. */
void consumer_await_commits(struct consumer *c, int timeout_ms);
/* Sends again, every RECHECK_MS (or now: force), the offsets the group refused. */
void consumer_commit_owed(struct consumer *c, bool force);
/* The partitions of parts are no longer held: nothing of them is sent again. */
void consumer_forget_commits(struct consumer *c, const rd_kafka_topic_partition_list_t *parts);
/* Hands the batch in hand to the writer, which must be idle. */
void consumer_submit(struct consumer *c);
/* Writes everything polled so far; returns once it is written or failed. */
int consumer_flush(struct consumer *c);
/* While the store fails: retry the batch in hand, then resume where LMDB says. */
void consumer_retry_store(struct consumer *c);
/* The rejections since the last line, every REJECTION_SUMMARY_MS (or now: force). */
void consumer_summarise_rejections(struct consumer *c, bool force);

/* consumer_positions.c */
/* Where topic/partition resumes, and *why in words. */
int64_t consumer_stored_position(struct consumer *c, const char *topic, int32_t partition,
				 const char **why);
/* Sets each partition's offset to where it resumes, logging anything unusual. */
void consumer_set_stored_positions(struct consumer *c, rd_kafka_topic_partition_list_t *parts);
void consumer_pause_all(struct consumer *c);
/* Whether the partition waits for an operator: its stored offset is gone. */
bool consumer_is_lost(struct consumer *c, const char *topic, int32_t partition);
/* Resumes every assigned partition but those waiting for an operator. */
void consumer_resume_all_at_stored(struct consumer *c);

/* consumer_catch_up.c */
/*
 * At an assignment, with parts at the offsets each partition resumes from:
 * marks those behind the offset the consumer group had committed (another
 * instance read further), so that their campaigns wait until caught up.
 */
void consumer_note_behind(struct consumer *c, const rd_kafka_topic_partition_list_t *parts);
/* Every RECHECK_MS, asks again the group offsets not learned at the assignment. */
void consumer_recheck_unknown(struct consumer *c);
/* This data dir now stands at next in topic/partition: caught up when that reaches the mark. */
void consumer_caught_up_to(struct consumer *c, const char *topic, int32_t partition, int64_t next);
/*
 * Every SETTLE_MS, the partitions behind whose mark no message reaches: a
 * transaction's commit or abort marker (a control record), or records of
 * an aborted transaction, take the offsets before it, and are never
 * delivered. librdkafka's position moves past them as it reads them, in
 * order with the messages: once it reaches the mark and every message of
 * the partition polled before is written, the data dir holds all the mark
 * stands for, and the partition is caught up.
 */
void consumer_settle_behind(struct consumer *c);
/* The partitions of parts are no longer held: their marks go. */
void consumer_forget_behind(struct consumer *c, const rd_kafka_topic_partition_list_t *parts);
/*
 * Removes from parts, offsets about to be committed to the group, those of
 * partitions behind that do not reach their mark, and of partitions whose
 * group offset is not known: committed, they could lower the group's
 * offset below what the last holder gave, and whoever holds them next (this
 * instance restarted, too) would not know it is behind.
 */
void consumer_drop_behind(struct consumer *c, rd_kafka_topic_partition_list_t *parts);

/* consumer_health.c */
/* A write that failed on damage, which retrying cannot mend. */
bool consumer_store_damaged(int store_error);
/* The health seen on /healthz: the most serious condition wins. */
void consumer_update_state(struct consumer *c);
/* While brokers seem down, asks them every RECHECK_MS whether they answer. */
void consumer_probe_brokers(struct consumer *c);
void consumer_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque);

#endif
