/*
 * upkeep.h — a slot's state index kept up on a thread of its own: its
 * freezes, checkpoints, merges and deletions, written while the writer
 * decides its next batch.
 *
 * Without it, the writer writes a share of that work after each batch,
 * and ingestion stands still meanwhile: a quarter to a third of the
 * writer's time (docs/performance.md, "The upkeep on a thread of its own").
 *
 * The writer holds the slot (upkeep_hold) from before a batch's read
 * transaction begins until its write transaction ends. The upkeep thread
 * writes the blocks of new runs and deletes old ones without it: no lookup
 * reads them (index_work_apart). What lookups do read it changes only while
 * it holds the slot in turn: a freeze, and the transaction that makes a
 * checkpoint's or a merge's run one that lookups read. So a batch's lookups,
 * in its read transaction's snapshot, never meet a run that snapshot lacks
 * nor miss one it holds. Both take the hold outside any transaction: a map
 * growth waits for every transaction of the process to end.
 *
 * A batch waits while the index is behind (the active tables full while
 * the last checkpoint is still being written), so memory stays bounded by
 * the settings; if the upkeep's transactions fail meanwhile (it tries
 * again each second, and says so in the log), the batch waits for one more
 * try and then gets its error (the consumer tries the batch again later). Once its slot is no longer the
 * live one (the guard, slot.h), it writes nothing more: the writer stops
 * it as it follows the swap.
 */
#ifndef UPKEEP_H
#define UPKEEP_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "index.h"

/* What it keeps up: a slot's index (slot.h), which must stay open until upkeep_stop(). */
struct upkeep_target {
	struct store *st;
	struct index *ix;
	const char *name;             /* for messages */
	const uint64_t *applied_seq;  /* the last log entry the writer applied: a freeze's checkpoint */
	size_t work_blocks;           /* blocks per transaction */
	/* Asked first in each transaction: PL_EBUSY once the slot is no longer live. */
	int (*guard)(void *arg, struct store_txn *t);
	void *guard_arg;
	/* Microseconds added up (NULL: not counted): in its transactions, and batches' waits for the hold. */
	_Atomic uint64_t *busy_us;
	_Atomic uint64_t *wait_us;
};

struct upkeep;

/* Starts the thread. 0 or PL_ENOMEM. */
int upkeep_start(struct upkeep **out, const struct upkeep_target *target);
/* Stops it once its transaction in hand ends, and frees it. NULL is fine. */
void upkeep_stop(struct upkeep *u);

/*
 * Takes the hold for a batch, waiting while the upkeep holds it or the
 * index is behind. 0; the upkeep's error, when behind and its next try
 * failed too; PL_EBUSY, when behind on a slot no longer live.
 */
int upkeep_hold(struct upkeep *u);
/* Gives it back, with what the batch left to freeze. */
void upkeep_release(struct upkeep *u);

#endif
