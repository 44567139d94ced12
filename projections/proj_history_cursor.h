/*
 * proj_history_cursor.h — a slot's history read as one: its history table,
 * its runs (proj_history_runs.h) and its staged rows (proj_staged.h) merged
 * in key order, passing over the rows a move or a compaction under way has
 * put in the history table already (the move mark, which the proj_staged
 * holds). Any other table with staged rows (COMMENTS) reads the same way,
 * without runs.
 */
#ifndef PROJ_HISTORY_CURSOR_H
#define PROJ_HISTORY_CURSOR_H

#include <stdbool.h>
#include <stddef.h>

#include "proj_history_runs.h"
#include "proj_staged.h"
#include "store.h"

/* A walk over the union of the history table, its runs and the staged rows, in key order. */
struct proj_history_cursor {
	MDB_cursor *cur;
	bool split;   /* the table keeps keys split into key and duplicate (the history) */
	int rc;       /* of cur: 0 while k, v hold its row */
	MDB_val k, v; /* the table's row under cur, with its whole key */
	uint8_t key[PROJ_KEY_MAX]; /* k's bytes for a split table */
	const struct proj_staged *staged;
	size_t next;  /* the staged row not yet passed */
	struct proj_run_walk *runs; /* the history's runs (read with its staged rows) */
	size_t nruns;
	int at;       /* where the cursor's row comes from (proj_history_cursor.c) */
	struct store_txn *t;
};

/*
 * Starts at the first row of table db (a slot's history table) whose key
 * is at or after from (the first row of all when from is NULL), with the
 * rows of staged not moved yet and, for the history, its runs (staged
 * synced by the caller with t; NULL for none, which makes it a plain
 * cursor over any table, the history's rows with their whole keys). In the history table from is a campaign's prefix
 * (proj_campaign_prefix), else PL_EINVAL.
 */
int proj_history_cursor_open(struct proj_history_cursor *c, struct store_txn *t, enum store_db db,
			     const struct proj_staged *staged, const void *from, size_t from_len);
/* The row at the cursor: 0, or MDB_NOTFOUND past the last. */
int proj_history_cursor_get(const struct proj_history_cursor *c, MDB_val *k, MDB_val *v);
/* Steps to the next row; 0 or t's error. */
int proj_history_cursor_next(struct proj_history_cursor *c);
void proj_history_cursor_close(struct proj_history_cursor *c);

#endif
