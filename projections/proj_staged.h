/*
 * proj_staged.h — the history and the comments written behind.
 *
 * Every batch touches the last page of each campaign it changes in the
 * history table (keyed by campaign, time and log position), and a
 * copy-on-write transaction rewrites each such page whole: 4 KiB for a few
 * rows. So a history row is staged first: appended to the slot's
 * HISTORY_STAGED table, keyed by its log position, where pages fill in
 * order as the log's do. Once PROJ_STAGED_MOVE_ROWS rows are staged, a move
 * puts them into the history table, a campaign's rows one after another,
 * so a campaign's last page there is rewritten once per move instead of
 * once per batch; a campaign with few rows in the move has them appended
 * to a run instead, and its last page is rewritten once per compaction of
 * the runs (proj_history_runs.h).
 *
 * A move rewrites the last pages of every campaign it brings rows of, and a
 * transaction keeps each page it rewrote in memory until it ends (LMDB
 * keeps that memory for later ones). So that this stays bounded whatever
 * the number of campaigns, a move goes on over several transactions
 * between batches, PROJ_MOVE_CAMPAIGNS campaigns each, in the order of
 * their ids, the comments with them. Batches go on staging meanwhile.
 * The slot's move mark in META says how far the move under way got: every
 * row staged at or before its log position whose campaign sorts at or
 * before its campaign is in the history table (or COMMENTS) already, and
 * readers pass over its staged copy. The last transaction of a move deletes
 * the rows it moved from the staged tables and the mark.
 *
 * The history is the union of the three tables (history, runs, staged);
 * which rows sit in which depends only on when moves fell. Readers see the
 * union through a proj_history_cursor (proj_history_cursor.h), given the staged rows in the history table's order
 * by a proj_staged, which an HTTP worker keeps from request to request:
 * it reads only the rows staged since it last looked, and starts afresh
 * when a move (or a swap of slots) has emptied what it held. A proj_staged
 * also holds the move mark as its transaction sees it (which says too how
 * far a compaction of the runs got: rows it put in the history table are
 * read there).
 *
 * Staged row: key = seq (big-endian 8 bytes); value = the row's history
 * key (proj_timed_key) but its last 8 bytes, which are that seq, followed
 * by the encoded row (proj_history_encode).
 * An erasure, whose rows for one campaign may have to be merged, writes
 * them straight into the history table (proj_history_row_put). The history
 * table keeps a campaign's rows as the duplicates of one key, and a move
 * appends them at their end (proj_history_table.h).
 *
 * A new comment's row (proj_records.h) is staged the same way, in the
 * slot's COMMENTS_STAGED table, keyed by its log position, with its
 * COMMENTS key but the seq before the row; it moves into COMMENTS with the
 * history's rows (never to a run). A row is in one of the two tables (or,
 * while a move goes on, in both, and the mark says so); readers see both
 * (proj_comments_page, with a proj_staged of the staged comments), and a
 * removal deletes it from either. A removal is the one change to a staged
 * table other than appends and moves: a proj_staged that finds the table
 * holding fewer rows than itself reads them all again.
 */
#ifndef PROJ_STAGED_H
#define PROJ_STAGED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proj_records.h"
#include "store.h"

/*
 * Staged rows that make a move. A move rewrites each campaign's last pages
 * (its last page of rows and the branch page above it, its last comments
 * page) whatever it brings, so larger moves cost fewer bytes a row: with
 * 1,000 campaigns, about 140 at 100 k rows and 85 at 400 k. Readers hold
 * that many rows (about 80 bytes each) plus those staged while the move
 * goes on, and the comments staged with them; the writer holds the move's
 * rows until it ends.
 */
#define PROJ_STAGED_MOVE_ROWS 400000
/*
 * Campaigns a move's transaction brings rows of: with their last pages
 * (about three each, rewritten) and the rows, about 50 MiB of pages in
 * memory at most, where a move of 100,000 campaigns in one transaction
 * held 512 MiB (LMDB's limit, past which it writes pages out early).
 */
#define PROJ_MOVE_CAMPAIGNS 4096

/* Stages the history row key → val of the log entry at seq (MDB_APPEND). */
void proj_stage_history(struct store_txn *t, enum store_slot slot, uint64_t seq, const void *key,
			size_t key_len, const void *val, size_t val_len);
/*
 * Stages a comment's row (proj_comment_encode), posted by the log entry at
 * seq, under its COMMENTS key.
 */
void proj_stage_comment(struct store_txn *t, enum store_slot slot, uint64_t seq, const void *key,
			size_t key_len, const void *row, size_t row_len);

/* Deletes the comment row at key (proj_timed_key) of slot, staged or moved. */
void proj_comment_del(struct store_txn *t, enum store_slot slot, const void *key, size_t key_len);

/* What is under way, a move or a compaction of the runs, and how far it got. */
struct proj_move_mark {
	enum { PROJ_MARK_NONE, PROJ_MARK_MOVE, PROJ_MARK_COMPACT } kind;
	uint64_t seq; /* a move: the last staged row it moves */
	uint32_t run; /* a move: the run it writes (proj_history_runs.h); a compaction: the
		       * last run it compacts */
	uint8_t campaign[1 + PL_MAX_ID_BYTES]; /* the last campaign done (its key prefix) */
	size_t campaign_len; /* 0: none yet */
};

/* Reads slot's move mark in t; 0, PL_ECORRUPT or t's error. */
int proj_move_mark_get(struct store_txn *t, enum store_slot slot, struct proj_move_mark *m);
/* Deletes slot's move mark (emptying a slot). */
void proj_move_mark_del(struct store_txn *t, enum store_slot slot);


/* One staged row: its history key and value, at off in proj_staged.bytes. */
struct proj_staged_row {
	uint32_t off;
	uint16_t key_len, val_len;
};

/* A slot's staged rows of one table, sorted as the table they move to sorts its keys. */
struct proj_staged {
	bool synced;          /* slot, table and generation are set */
	enum store_slot slot;
	enum store_slot_table table; /* SLOT_HISTORY_STAGED or SLOT_COMMENTS_STAGED */
	uint64_t generation;  /* of the projections (proj_live) when read */
	uint64_t first_seq;   /* the first staged row's log position; 0 when none held */
	uint64_t last_seq;    /* the last one read */
	struct proj_move_mark mark; /* read with the rows: which of them are moved already */
	struct proj_staged_row *rows, *spare; /* spare: room for a merge */
	size_t count, cap;
	uint8_t *bytes;
	size_t used, size;
};

void proj_staged_init(struct proj_staged *s);
void proj_staged_deinit(struct proj_staged *s);

/*
 * Brings s up to date with slot's staged history rows as t sees them,
 * reading only what was staged since the last call. 0, PL_ENOMEM,
 * PL_ECORRUPT or t's error.
 */
int proj_staged_sync(struct proj_staged *s, struct store_txn *t, enum store_slot slot);
/* The same for slot's staged comments, held as COMMENTS keys and rows. */
int proj_staged_sync_comments(struct proj_staged *s, struct store_txn *t, enum store_slot slot);

/* Whether row i of s is in the history table (or COMMENTS) already, by s's mark. */
bool proj_staged_moved(const struct proj_staged *s, size_t i);

/*
 * A writer's copy of the history rows it stages, in log order, so that a
 * move need not read them back: after proj_stage_history(), the same row
 * (key: its whole history key, ending with seq). When memory runs short s
 * forgets what it holds, and the next move reads the table instead.
 * A move takes what s holds when it is the whole table; otherwise (a
 * writer opened anew holds only what it staged since, behind rows staged
 * before) it reads the table, and s forgets the rows the move reads. So
 * that s holds no row the table lacks, the writer undoes s back to a mark
 * when a transaction is undone.
 */
void proj_staged_hold(struct proj_staged *s, uint64_t seq, const void *key, size_t key_len,
		      const void *val, size_t val_len);

/* How far s's held rows went, to go back to when a transaction is undone. */
struct proj_staged_mark {
	size_t count, used;
	uint64_t first_seq, last_seq;
};
struct proj_staged_mark proj_staged_mark(const struct proj_staged *s);
/*
 * Forgets the rows held since mark m. When s no longer holds the rows it
 * held at m (a failed hold forgot them), s forgets everything, and the
 * next move reads the table.
 */
void proj_staged_undo(struct proj_staged *s, struct proj_staged_mark m);

/*
 * A move under way, as the writer keeps it from transaction to
 * transaction: the history rows it moves, in log order, and their order
 * grouped by campaign, the groups in the order of the campaigns' ids. It
 * only caches what the staged table and the mark say, so a transaction
 * that fails leaves it right.
 */
struct proj_mover {
	struct proj_staged rows;
	struct proj_staged comments; /* the staged comments, kept in step (proj_staged_sync_comments) */
	uint64_t through_seq; /* the move's mark's seq; 0: nothing loaded */
	uint32_t *order;      /* row numbers, grouped */
	uint32_t *group_end;  /* where in order each group ends */
	size_t ngroups;
};

void proj_mover_init(struct proj_mover *m);
void proj_mover_deinit(struct proj_mover *m);

/*
 * Whether slot has a move to make or finish: one (or a compaction) under
 * way, or at least min_rows (> 0) history rows staged.
 */
int proj_move_due(struct store_txn *t, enum store_slot slot, size_t min_rows, bool *due);

struct proj_move_options {
	size_t min_rows;      /* staged history rows that make a move */
	size_t max_campaigns; /* campaigns a transaction brings rows of (at least 1) */
	size_t run_min_rows;  /* a campaign with fewer rows in a move has them put in a run */
	size_t runs_max;      /* runs kept before a compaction (proj_history_runs.h) */
};

/*
 * One transaction's share of a move: starts one when at least
 * o->min_rows history rows are staged, or goes on with the one under way,
 * moving the rows and comments of up to o->max_campaigns campaigns; or of
 * a compaction of the runs, which the last transaction of a move starts
 * when there are more than o->runs_max. *more says whether the work goes
 * on. held is the writer's copy of the staged rows: a move starting takes
 * them when they are the whole table, and reads back from the table
 * otherwise, adding the rows read to *read_back.
 */
int proj_staged_move(struct store_txn *t, enum store_slot slot, const struct proj_move_options *o,
		     struct proj_staged *held, struct proj_mover *m, uint64_t *read_back, bool *more);

/* Row i of s: its whole key and its value (pointers into s). */
void proj_staged_row(const struct proj_staged *s, size_t i, MDB_val *k, MDB_val *v);
/* The first row of s whose key is at or after key. */
size_t proj_staged_lower_bound(const struct proj_staged *s, const void *key, size_t key_len);
/* The order of keys in the tables staged rows move to (LMDB's default). */
int proj_staged_key_cmp(const MDB_val *a, const MDB_val *b);

#endif
