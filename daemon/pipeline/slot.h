/*
 * slot.h — a slot being written: everything derived from the log in one
 * slot of a data dir (store.h), the event ids and the projections, with the
 * state index (index.h) they share.
 *
 * Whoever writes a slot holds one of these: serve and import the live
 * slot, a rebuild the other one, verify and dry runs a slot of a scratch
 * data dir. Opening it brings its index back to where its tables are by
 * applying the log from the index's checkpoint on, in memory (slot_catch_up);
 * then log entries are applied as they come, and slot_maintain() writes
 * checkpoints, merges and the history's moves between transactions, a
 * bounded share at a time.
 *
 * The log a slot applies may live in another data dir than the slot (a
 * scratch rebuild): slot_set_log() says which transaction to read it in.
 */
#ifndef SLOT_H
#define SLOT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "decoded.h"
#include "evlog.h"
#include "index.h"
#include "proj.h"

/*
 * The raw bytes of the log entry at seq when it is not written yet (a batch
 * decides before it writes): 0 with *raw, or PL_ENOTFOUND to read the log.
 */
typedef int (*slot_pending_fn)(void *arg, uint64_t seq, const void **raw, size_t *raw_len);

/* Kinds of a slot's index: the event ids, then the projections' (proj.h). */
enum { SLOT_K_EVENT_IDS = 0, SLOT_K_PROJ = 1, SLOT_KINDS = 1 + PROJ_KIND_COUNT };

struct slot_options {
	size_t checkpoint_entries; /* index entries between checkpoints; 0: the index's default */
	size_t bloom_bytes;        /* 0: the index's default */
	size_t work_blocks;        /* blocks written per maintenance transaction; 0: 512 */
	size_t history_move_rows;  /* staged history rows that make a move (proj_staged.h);
				    * 0: PROJ_STAGED_MOVE_ROWS */
	size_t history_move_campaigns; /* campaigns a move's transaction brings rows of;
					* 0: PROJ_MOVE_CAMPAIGNS */
	size_t history_run_min_rows;   /* a campaign with fewer rows in a move has them put
					* in a run (proj_history_runs.h); 0: PROJ_RUN_MIN_ROWS */
	size_t history_runs_max;       /* runs kept before a compaction; 0: PROJ_RUNS_MAX */
	size_t held_campaigns;     /* campaigns a writer holds between flushes; 0: PROJ_HELD_CAMPAIGNS */
};

struct slot {
	struct store *st; /* the data dir the slot lives in */
	enum store_slot which;
	struct slot_options opt;
	struct index ix;
	struct proj_writer pw;
	uint64_t applied_seq;    /* the last log entry applied */
	uint64_t saved_applied;  /* applied_seq when the open transaction began */
	struct store_txn *log_t; /* where proj_apply reads earlier events */
	slot_pending_fn pending; /* and those not in it yet; NULL: all are */
	void *pending_arg;
	/* Checked first in each transaction of slot_maintain() (NULL: none):
	 * a writer's upkeep may write its slot only while that is the live one,
	 * since a rebuild that swapped the other in empties it and refills it. */
	int (*guard)(void *arg, struct store_txn *t);
	void *guard_arg;
	/* The index's upkeep on a thread of its own (upkeep.h); NULL: slot_maintain() does it. */
	struct upkeep *upkeep;
	bool open;
};

/* How replaying log entries into a slot ended. */
enum replay_outcome {
	REPLAY_OK,           /* every entry applied */
	REPLAY_INCONSISTENT, /* an entry the log accepted was refused; see failed_seq, rejection */
	REPLAY_UNREADABLE,   /* an entry does not decode; see failed_seq, rejection */
	REPLAY_DAMAGED,      /* an entry does not match its checksum, or is not where the
			        dense log has it; see failed_seq */
	REPLAY_FAILED,       /* the store failed; see the returned error */
};

struct replay_result {
	enum replay_outcome outcome;
	uint64_t applied;
	uint64_t failed_seq;
	struct pl_rejection rejection;
};

/* A sentence describing an outcome, for operators. */
const char *replay_outcome_text(enum replay_outcome outcome);

/*
 * Opens slot which of st with its index as of its last checkpoint
 * (s->applied_seq), read in t (a transaction of st); slot_catch_up() then
 * brings it up to its tables. 0 or an error.
 */
int slot_open(struct slot *s, struct store *st, enum store_slot which,
	      const struct slot_options *opt, struct store_txn *t);
void slot_close(struct slot *s);

/*
 * Sizes s, opened empty to be filled from the whole log, for the state the
 * index of slot other holds in t (a transaction of the same log's data dir):
 * the same events make the same state (index_expect). A hint: an index it
 * cannot read sizes nothing.
 */
void slot_size_like(struct slot *s, struct store_txn *t, enum store_slot other);

/* Reads earlier events in t (the log's data dir) from now on. */
static inline void slot_set_log(struct slot *s, struct store_txn *t)
{
	s->log_t = t;
}

/* Reads earlier events not in the log yet through fn (NULL: none). */
static inline void slot_set_pending(struct slot *s, slot_pending_fn fn, void *arg)
{
	s->pending = fn;
	s->pending_arg = arg;
}

/*
 * Applies the log entries after s->applied_seq up to up_to (read in log_t,
 * which must be set and belong to the slot's own data dir) to the index
 * only, publishing nothing: for tables that already reflect them. Returns
 * 0 with res->outcome, or a store error.
 */
int slot_catch_up(struct slot *s, uint64_t up_to, struct replay_result *res);

/* Write transactions that change the slot: begin, rewind (run again), end. */
void slot_txn_begin(struct slot *s, struct store_txn *t, bool publish);
void slot_txn_rewind(struct slot *s, struct store_txn *t, bool publish);
void slot_txn_end(struct slot *s, bool committed);

/*
 * Applies one decoded event from src that will be the log entry at seq:
 * claims its id (PL_EEXIST: a re-delivery, nothing changed) and applies
 * the rules (PL_EREJECTED with *rej: nothing changed). Within a slot
 * transaction.
 *
 * A supporter.forgotten is published to every partition under one id.
 * Each copy is applied (erasure.h says what each erases), the first under
 * its id and each later one under its id and partition
 * (evlog_copy_id_fp). A re-delivery of a copy is a re-delivery.
 */
int slot_apply(struct slot *s, const struct decoded *d, const struct evlog_source *src,
	       uint64_t seq, struct pl_rejection *rej);
/* slot_apply() in two steps, for work between them: the id (*claimed gets
 * the fingerprint taken; a later copy of an erasure only when copies), then
 * the rules. */
int slot_claim(struct slot *s, const struct decoded *d, const struct evlog_source *src,
	       bool copies, struct fp *claimed);
int slot_apply_claimed(struct slot *s, const struct decoded *d, const struct fp *claimed,
		       uint64_t seq, struct pl_rejection *rej);
/* Gives back an id claimed for an event rejected before the rules saw it: 0,
 * or the error the slot's transaction now fails with (an id kept claimed
 * would make a corrected copy of the event a duplicate). */
int slot_unclaim(struct slot *s, const struct fp *claimed);

/*
 * Writes what the transaction's events changed that the writer held: to
 * the index, and to the published rows in the transaction the events were
 * applied in (proj_writer_flush, proj_writer_publish).
 */
int slot_flush(struct slot *s);

/*
 * The same in two steps, for events applied in a read transaction and
 * written in a write transaction after it: the index and what readers are
 * to see recorded, then the published rows written in t (again when t is
 * run again).
 */
int slot_flush_rules(struct slot *s);
int slot_publish(struct slot *s, struct store_txn *t);

/*
 * Between transactions: freezes the index when it is full, and writes at
 * most max_txns maintenance transactions (0: until there is no work): the
 * index's checkpoints and merges, and the history's moves (proj_staged.h),
 * as many of those for one transaction of work_blocks as there are 2 MiB
 * in it. With an upkeep thread, the moves only.
 * Returns 0 or the store's error.
 */
int slot_maintain(struct slot *s, int max_txns);

/* Whether slot_maintain() has work: checkpoints, merges or a move. */
bool slot_busy(const struct slot *s);

/*
 * Hands the index's checkpoints, merges and deletions to a thread of its
 * own (upkeep.h) until slot_upkeep_stop() or slot_close(), adding up its
 * time and the batches' waits for it in the counters given (NULL: none).
 * 0 or PL_ENOMEM.
 */
int slot_upkeep_start(struct slot *s, _Atomic uint64_t *busy_us, _Atomic uint64_t *wait_us);
void slot_upkeep_stop(struct slot *s);
/* A batch's bracket, around its read and write transactions, when the
 * upkeep has a thread: see upkeep_hold(). 0 or an error. */
int slot_hold(struct slot *s);
void slot_release(struct slot *s);

/*
 * Empties slot which of st — its published tables, its index's directory,
 * filter and runs — in write transactions of bounded size. Nobody may be
 * writing the slot (it is not live, and no rebuild holds it).
 */
int slot_clear(struct store *st, enum store_slot which, const struct slot_options *opt);

#endif
