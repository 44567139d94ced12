/*
 * proj_history.h — a campaign's figures at any time, from its history.
 *
 * Every event adds a row to its campaign's history (proj_records.h),
 * keyed by the time it counts from: its own time, or the later time of
 * what it depends on. The figures at time T are the sum of the rows up to
 * T, with supporters counted from their nets; so they are what a replay of
 * the events timed at or before T gives (`replay --until-time T`), events
 * that arrived late included. The cost is one pass over the campaign's
 * rows, and memory for its distinct supporters.
 *
 * Each takes the reader's staged rows (proj_staged.h), which it brings up
 * to date with t; NULL reads them for this call alone.
 */
#ifndef PROJ_HISTORY_H
#define PROJ_HISTORY_H

#include "proj.h"
#include "proj_read.h"
#include "proj_staged.h"

/*
 * Sets c (read at the present) to what it was at as_of: its totals, closed
 * or not, and its days. PL_ENOTFOUND when it opened after as_of. Adds the
 * history rows it read to *rows when rows is not NULL.
 */
int proj_history_as_of(struct store_txn *t, enum store_slot slot, struct proj_staged *staged,
		       int64_t as_of, struct proj_campaign *c, uint64_t *rows);

/* One bucket of a chart: the totals at its end, and how they changed within it. */
struct proj_bucket {
	int64_t start, end; /* [start, end) */
	struct proj_totals at_end, change;
};

/*
 * Calls fn for count buckets of step ms from start, each with the totals
 * at its end (the rows before it) and the change within it. fn returning
 * non-zero stops the walk with that value. Without supporters, their
 * counts stay 0 and the walk keeps no memory per supporter (about twice
 * as fast: a chart of money needs none).
 */
int proj_history_buckets(struct store_txn *t, enum store_slot slot, struct proj_staged *staged,
			 struct pl_str campaign, int64_t start, int64_t step, size_t count,
			 bool supporters, int (*fn)(const struct proj_bucket *b, void *arg), void *arg);

/*
 * Calls fn with the log position and time of each comment of the campaign
 * visible at as_of (posted by then, not removed by then), newest first by
 * its own time and then by id as the live feed orders them (struct
 * proj_cursor), strictly after `before` when not NULL, until fn returns
 * non-zero. (The history holds a comment timed before its campaign's
 * opening at the opening; event_at reads its own time from the log, and
 * the ids the order needs.) One walk of the campaign's history however
 * many fn takes. 0 when every comment was given or fn returned 1, fn's
 * other return, or an error.
 */
int proj_history_comments(struct store_txn *t, enum store_slot slot, struct proj_staged *staged,
			  struct pl_str campaign, int64_t as_of, const struct proj_cursor *before,
			  proj_event_at_fn event_at, void *log_arg,
			  int (*fn)(uint64_t seq, int64_t at, void *arg), void *arg);

#endif
