/*
 * rebuild.h — rebuilding the projections online.
 *
 * The slot readers do not see is emptied and filled from the log in write
 * transactions of bounded duration (txn_ms), so a serve running beside it
 * writes its batches in between and HTTP keeps serving the live slot. When
 * the rebuild has caught up with the end of the log it becomes the live
 * slot in one transaction (a swap), and the old one is emptied. A running
 * serve notices the swap before its next batch and continues on the new
 * slot.
 *
 * A rebuild can stop short of the swap (to look at the difference first),
 * be stopped (SIGINT) and resumed where it stood, or be dropped. META
 * records which slot is being built and how far ("rebuild.slot",
 * "rebuild.seq"); one rebuild at a time (the CLI takes a lock).
 */
#ifndef REBUILD_H
#define REBUILD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bulk_fill.h"
#include "slot.h"

struct rebuild_progress {
	uint64_t done;  /* log entries in the rebuilt slot */
	uint64_t head;  /* the end of the log when last looked at */
	double rate;    /* entries per second so far */
};

struct rebuild_options {
	struct slot_options slot;
	int txn_ms;              /* longest write transaction, in ms; 0: 20 */
	uint64_t max_rate;       /* entries per second at most; 0: as fast as it goes */
	bool swap;               /* swap when caught up; else stop there, ready */
	/* From nothing, apply the log in order even when the slot could be
	 * filled from the whole log at once (bulk_fill.h): for comparisons. */
	bool in_log_order;
	struct bulk_limits bulk; /* what filling at once may hold (bulk_fill.h); 0s: its defaults */
	const atomic_bool *stop; /* set it to stop after the current transaction */
	void (*progress)(const struct rebuild_progress *p, void *arg);
	void *progress_arg;
};

struct rebuild_report {
	struct replay_result result; /* how replaying the log went */
	enum store_slot slot;        /* the slot rebuilt */
	bool resumed;                /* it went on from an earlier rebuild */
	bool bulk;                   /* it filled the slot from the log at once (bulk_fill.h) */
	uint64_t at_once;            /* the log's first entries it filled so */
	bool caught_up;              /* it reached the end of the log */
	bool swapped;                /* and is now the live slot */
	uint64_t head;               /* the end of the log when last looked at */
	uint64_t done;               /* the log entry the rebuilt slot reached */
	uint64_t applied;            /* entries this run applied */
	double seconds;
	int64_t longest_txn_ms;
};

/* Runs (or resumes) a rebuild; 0 with *rep, or a store error. */
int rebuild_run(struct store *st, const struct rebuild_options *opt, struct rebuild_report *rep);

/* Drops a rebuild under way: its slot is emptied and forgotten. */
int rebuild_abort(struct store *st, const struct slot_options *opt);

/* Whether a rebuild is under way, of which slot and how far. */
int rebuild_status(struct store_txn *t, bool *under_way, enum store_slot *slot, uint64_t *done);

/* A campaign whose figures differ between the live slot and the rebuilt one. */
struct rebuild_change {
	struct pl_str id;
	bool in_live, in_rebuilt;
	struct proj_totals live, rebuilt;
};

/*
 * Calls fn for every campaign whose totals differ between the live slot
 * and the rebuilt one (as far as it got: at entry 0, nothing, whatever
 * rows a fill stopped short left), in id order. fn returns 0 to go on. 0,
 * PL_ENOTFOUND (no rebuild under way) or an error.
 */
int rebuild_diff(struct store *st, int (*fn)(const struct rebuild_change *c, void *arg),
		 void *arg);

#endif
