/*
 * batch_writer.h — writes the consumer's batches on a thread of its own, so
 * that Kafka is read while LMDB writes.
 *
 * One batch at a time: the consumer hands a batch over, goes on polling into
 * another buffer, and collects the result before it hands over the next one
 * (or whenever it must know everything is written: a revocation, a seek, a
 * stop). The messages of a handed-over batch belong to the writer until it
 * is collected. After each batch, once its result is ready, the thread
 * does the after work (the consumer: a bounded share of the live slot's
 * checkpoints and merges) before it takes the next batch; and while no
 * batch comes, the idle work (the consumer: the same, until none is left).
 */
#ifndef BATCH_WRITER_H
#define BATCH_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ingest.h"
#include "writer.h"

typedef int (*batch_write_fn)(struct writer *w, const struct ingest_msg *msgs, size_t n,
			      const char *cluster, int64_t now_ms, struct ingest_stats *stats);
/* Work done after each batch written, once its result is reported. */
typedef int (*batch_after_fn)(struct writer *w);
/* A share of the work left while no batch waits: 1 done (call again), 0
 * none left, or an error (tried again a second later). */
typedef int (*batch_idle_fn)(struct writer *w);

struct batch_writer;

/* Starts the thread; write runs each batch through w, then after; idle
 * runs between batches (after and idle may be NULL). */
int batch_writer_start(struct batch_writer **out, batch_write_fn write, batch_after_fn after,
		       batch_idle_fn idle, struct writer *w);

/*
 * Hands a batch over; the writer must be idle (nothing handed over, or the
 * last result collected). msgs and cluster must stay valid until collected.
 */
void batch_writer_submit(struct batch_writer *w, const struct ingest_msg *msgs, size_t n,
			 const char *cluster, int64_t now_ms);

/* Whether a handed-over batch is written and waiting to be collected. */
bool batch_writer_done(struct batch_writer *w);

/*
 * Waits for the handed-over batch and returns write's result, with its
 * stats and how long it took, and how long the after work that finished
 * since the last collect took (an earlier batch's: the after work of this
 * one is reported with the next). The writer is idle afterwards.
 */
int batch_writer_collect(struct batch_writer *w, struct ingest_stats *stats, double *seconds,
			 double *after_seconds);

/*
 * Stops the thread and frees it; a batch handed over and not yet written is
 * written first (its result is lost: collect before stopping). NULL is fine.
 */
void batch_writer_stop(struct batch_writer *w);

#endif
