/*
 * proj_history_runs.h — the history rows of campaigns that a move brings
 * few of, appended by move.
 *
 * A move (proj_staged.h) that appended a campaign's few rows to the end of
 * its duplicates in the history table would rewrite that campaign's last
 * pages for them: with many campaigns a few kilobytes for each row. So a
 * campaign with fewer than PROJ_RUN_MIN_ROWS rows in a move has them
 * written to the slot's HISTORY_RUNS table instead, under the move's run
 * number: key = run (big-endian 4 bytes), then the row's history key
 * (proj_timed_key); value = the packed row (proj_history_encode). A move
 * numbers its run one past the last, and puts its campaigns in the order
 * of their ids, so every run is appended at the end of the table
 * (MDB_APPEND): about the row's own bytes, whatever the number of
 * campaigns.
 *
 * A reader of a campaign seeks it in each run, so once more than
 * PROJ_RUNS_MAX runs are kept, a compaction puts every run's rows into the
 * history table, campaign by campaign, PROJ_MOVE_CAMPAIGNS a transaction,
 * between batches as moves go, and then empties the table. Moves and
 * compactions take turns (one mark says which is under way and how far it
 * got: proj_staged.h), so no run is added while one goes on.
 */
#ifndef PROJ_HISTORY_RUNS_H
#define PROJ_HISTORY_RUNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proj_history_table.h"
#include "store.h"

/* A campaign with fewer rows than this in a move has them put in a run. */
#define PROJ_RUN_MIN_ROWS 64
/* Runs kept before a compaction puts them into the history table. */
#define PROJ_RUNS_MAX 16
/* The most runs a reader reads (a compaction keeps them far fewer). */
#define PROJ_RUNS_LIMIT 64

/* The first and last run of slot's table (0, 0 when it holds none): 0 or t's error. */
int proj_runs_span(struct store_txn *t, enum store_slot slot, uint32_t *first, uint32_t *last);

/*
 * Appends the row key → val (a history key and packed row) to run in c, a
 * cursor on slot's HISTORY_RUNS table: keys must come in order. 0 or LMDB's error.
 */
int proj_run_append(MDB_cursor *c, uint32_t run, const uint8_t *key, size_t key_len,
		    const void *val, size_t val_len);

/* A reader's walk over the rows of one run, in history key order. */
struct proj_run_walk {
	MDB_cursor *c;
	uint32_t run;
	int rc;       /* 0 while k, v hold a row of the run */
	MDB_val k, v; /* the row's history key (without the run) and packed row */
};

/*
 * Starts w at the first row of run whose history key is at or after from
 * (from_len 0: the run's first). 0 or t's error.
 */
int proj_run_walk_open(struct proj_run_walk *w, struct store_txn *t, enum store_slot slot,
		       uint32_t run, const uint8_t *from, size_t from_len);
/* Steps w to its run's next row; 0 or t's error. */
int proj_run_walk_next(struct proj_run_walk *w, struct store_txn *t);
void proj_run_walk_close(struct proj_run_walk *w);

/*
 * One transaction of a compaction of runs first..through into slot's
 * history table: the campaigns that sort after *campaign (of length
 * *campaign_len; 0: from the first), up to max_campaigns of them, their
 * rows merged by time. It sets *campaign to the last one put, or *done
 * when none is left (the caller then empties the table).
 */
int proj_runs_compact(struct store_txn *t, enum store_slot slot, uint32_t first, uint32_t through,
		      size_t max_campaigns, uint8_t *campaign, size_t *campaign_len, bool *done);

#endif
