/*
 * writer.h — the one writer of a data dir's log and live slot: what serve
 * and import hold while they ingest.
 *
 * Opening it finds the live slot, brings the slot's state index up to the
 * log (it may lag by up to a checkpoint after a crash: the log is the
 * truth) and checks that the log applies. When a rebuild in another process
 * swaps slots, the writer follows: before each batch it looks at which slot
 * is live and, if that changed, opens the new one. One process at a time
 * may hold a writer on a data dir (the CLI takes a lock for it).
 */
#ifndef WRITER_H
#define WRITER_H

#include <stdatomic.h>

#include "slot.h"

struct kept_rejections;

/*
 * The event times the writer takes into the log: `at` from earliest_ms up
 * to the time the event arrives plus skew_ms (gateways' clocks run a little
 * ahead or behind). Checked as events arrive, not on replay: the log only
 * holds events that were inside the window when they came.
 */
struct event_window {
	int64_t earliest_ms;
	int64_t skew_ms;
};
#define EVENT_WINDOW_EARLIEST_MS 946684800000LL /* 2000-01-01T00:00:00Z */
#define EVENT_WINDOW_SKEW_MS 86400000LL         /* one day */

struct writer {
	struct store *st;
	struct slot_options opt;
	struct event_window window; /* EVENT_WINDOW_* until the caller sets it */
	struct slot live;
	uint64_t generation; /* of the live slot when it was opened */
	/* With a dead-letter topic (daemon/kafka/dlq.c): the rejections
	 * delivered to it so far, stored with the next batch (forward_stored is
	 * what the store holds; UINT64_MAX: not stored yet). */
	bool forward_on;
	_Atomic uint64_t forwarded;
	uint64_t forward_stored;
	/* `pledged import`: messages kept as rejections, before or earlier in
	 * this import, which it counts as duplicates rather than keeping
	 * twice; NULL elsewhere. */
	struct kept_rejections *kept;
	/* The live slot's index kept up by a thread of its own (upkeep.h),
	 * for it and every slot it follows to: writer_upkeep_on(). Its
	 * microseconds in its transactions, and the batches' waits for it. */
	bool upkeep;
	_Atomic uint64_t upkeep_us, upkeep_wait_us;
};

/*
 * Opens the writer of st. 0; PL_ECORRUPT with *res saying which log entry
 * no longer applies (run verify, or rebuild); or a store error.
 */
int writer_open(struct writer *w, struct store *st, const struct slot_options *opt,
		struct replay_result *res);
void writer_close(struct writer *w);

/*
 * Switches to the live slot if a rebuild swapped slots since it was
 * opened. 0, or as writer_open().
 */
int writer_follow(struct writer *w, struct replay_result *res);

/* Whether the live slot is still the one the writer holds (inside a transaction). */
int writer_check_live(struct writer *w, struct store_txn *t);

/*
 * Blocks of the state index a writer's maintenance transaction writes
 * (slot_options.work_blocks, unless the caller set it): 8 MiB. Serve and
 * import do one such transaction after each batch rather than four of
 * 2 MiB, since every commit waits for the disk (docs/performance.md,
 * "Where the writer waits"); a move of the history still takes four.
 */
#define WRITER_WORK_BLOCKS 2048

/* Writes checkpoints and merges of the live slot: at most max_txns
 * transactions (0: all). After a swap it writes none to the slot that was
 * live, and follows the swap (writer_follow). */
int writer_maintain(struct writer *w, int max_txns);
/* Whether the live slot has such work left (slot_busy). */
bool writer_has_work(const struct writer *w);

/*
 * From now on the state index's checkpoints and merges are written by a
 * thread of their own, beside the batches (upkeep.h); writer_maintain()
 * writes the history's moves only. 0 or PL_ENOMEM.
 */
int writer_upkeep_on(struct writer *w);

/* Writes a checkpoint of everything applied so far, and the dead-letter
 * topic's deliveries (before a clean stop, once nothing else writes: the
 * upkeep thread is stopped first). */
int writer_checkpoint(struct writer *w);

#endif
