/*
 * ingest.h — apply a batch of consumed messages in one write transaction.
 *
 * This is the step between the consumer and the projections. For each
 * message, in order: decode and validate it (schemas/), skip it if its id
 * was applied before, apply it to the live slot's projections
 * (projections/), to be appended to the log; a message refused at any step
 * is to be stored as a rejection instead. The batch is decided first and
 * written after (the log entries and rejections, then what the rules
 * changed for readers), so that the rules never wait on a write: the shape
 * the two-stage writer needs (docs/performance.md). The source offsets of
 * the batch are stored in the same transaction, so after a crash the batch
 * is either wholly there, offsets included, or not at all. The rules'
 * state in memory (index.h) is written at checkpoints, and rebuilt from
 * the log after a crash.
 */
#ifndef INGEST_H
#define INGEST_H

#include "event_schema.h"
#include "evlog.h"
#include "writer.h"

struct decoded;

struct ingest_msg {
	struct evlog_source src;
	const void *key; /* NULL when the message has no key */
	size_t key_len;
	const void *value;
	size_t value_len;
	/* value decoded already (decode_event(), on the thread that
	 * collected the batch, so the writer's thread only applies), or NULL */
	const struct decoded *decoded;
};

struct ingest_stats {
	uint64_t applied[PL_EVENT_TYPE_COUNT];
	uint64_t rejected[PL_REASON_COUNT];
	uint64_t duplicates;
	uint64_t erased_records; /* log entries and rejections overwritten by erasures */
	uint64_t last_seq;       /* log position after the batch */
};

/*
 * Applies msgs[0..n) through writer w and stores, for every Kafka partition
 * in the batch, the offset after its last message (tagged with cluster, may
 * be ""). now_ms stamps log entries and rejections. On success *stats
 * counts what happened; on error nothing was written, in the data dir or in
 * memory. Grows the map when it is full; follows a swap of slots.
 */
int ingest_batch(struct writer *w, const struct ingest_msg *msgs, size_t n, const char *cluster,
		 int64_t now_ms, struct ingest_stats *stats);

/* Adds the counts of b to a. */
void ingest_stats_add(struct ingest_stats *a, const struct ingest_stats *b);

#endif
