/*
 * proj_bulk.h — the rules applied to a whole log at once, kind by kind.
 *
 * Applied in log order, each event looks its state up in tables far
 * larger than the CPU's cache (docs/performance.md, "A bulk rebuild").
 * proj_bulk_apply() decides what proj_apply() would for every entry of a
 * log, as a batch job: each kind of state is scattered by its key into
 * partitions small enough for the cache, each applied in log order within
 * itself, and the kinds go in the order they learn from each other:
 *
 *   pledges     by pledge id: a refund learns its pledge's supporter and time
 *   supporters  by campaign and supporter: nets, and whether a commenter backs
 *   backers     by currency and supporter: the distinct supporters a change moves
 *   comments    by comment id: a removal learns its comment's time, an
 *               erasure's hide whether its comment still shows
 *   campaigns   by campaign: totals and each entry's row of the history
 *   event ids   by event id: each in the log once
 *
 * All or nothing: the rules accept every entry of a log they made, so an
 * entry they would refuse means the log and the rules disagree. Then
 * proj_bulk_apply() stops, and the caller applies the log in order, which
 * names the first such entry and why.
 *
 * An erasure (supporter.forgotten) changes comments only: each comment its
 * record names that still shows is hidden, with a row of the history at
 * the erasure's log position. Its own entry counts for its event id alone;
 * the caller adds a hide entry (PROJ_BULK_HIDE) for each comment the record
 * names, after the log's own entries, and gives an erasure's later copy
 * the id it claims (evlog_copy_id_fp). No later entry of the log can depend
 * on a hiding (a removal of a hidden comment was refused when it came), so
 * the hides are applied last, in the order of the erasures and of each
 * one's record; a hide finding its comment removed after its erasure (a
 * record damaged) stops it, as that removal stops the log-order path.
 */
#ifndef PROJ_BULK_H
#define PROJ_BULK_H

#include <stddef.h>
#include <stdint.h>

#include "proj.h"

/*
 * What the rules need of one log entry. The campaigns' and the nets'
 * passes read only its first 64 bytes (one cache line): what those take
 * comes first.
 */
struct proj_bulk_entry {
	uint8_t type;     /* enum pl_event_type, or PROJ_BULK_HIDE */
	char currency[3]; /* an opening's and a pledge's */
	uint64_t seq;
	int64_t at, amount;
	struct fp campaign, supporter; /* as in struct proj_keys */
	struct fp pledge, backer, comment;
	struct fp id; /* its event id's (evlog_id_fp) */
};

/*
 * An entry of the caller's, not the log's: a comment an erasure's record
 * names. Its log position and time are the erasure's; its campaign and
 * comment the comment's.
 */
#define PROJ_BULK_HIDE PL_EVENT_TYPE_COUNT

/* Fills b from a decoded event at log position seq (its keys from proj_keys_of, id its event id's). */
void proj_bulk_entry_of(struct proj_bulk_entry *b, const struct pl_event *ev,
			const struct proj_keys *keys, const struct fp *id, uint64_t seq);

/*
 * An entry's row of its campaign's history, and the time it counts from.
 * An erasure has none of its own, nor a hide of a comment removed before
 * it: their h.type is PROJ_BULK_NO_ROW. The hides of one erasure in one
 * campaign at one time share a key: they are written as one row, as
 * proj_publish merges them (the comments summed, the rest from the last in
 * the record's order).
 */
#define PROJ_BULK_NO_ROW UINT8_MAX
struct proj_bulk_row {
	int64_t at;
	struct proj_history h;
};

/* A kind's state at the end, sorted by fingerprint: FP_SIZE + value bytes an entry. */
struct proj_bulk_table {
	uint8_t *entries;
	size_t count, entry_size;
	size_t cap; /* entries room was made for */
};

/* The totals of a currency's campaigns at the end. */
struct proj_bulk_platform {
	char currency[3];
	struct proj_platform p;
};

struct proj_bulk {
	struct proj_bulk_row *rows;                    /* one an entry, in log order */
	size_t nrows;
	struct proj_bulk_table state[PROJ_KIND_COUNT]; /* values as the state index keeps them */
	struct proj_bulk_table ids;                    /* the event ids, without values */
	struct proj_bulk_platform *platform; /* by currency */
	size_t nplatform;
	uint64_t stopped_at; /* the log position of an entry it did not take */
	const char *why;     /* and why, in a few words */
};

/* Items of a partition, about: its table (twice as many slots) then fits a core's L2. */
#define PROJ_BULK_PARTITION_ITEMS 8192

/*
 * Applies e[0..n) (the log's entries in log order, then the hides) into
 * b, in partitions of about partition_items (0:
 * PROJ_BULK_PARTITION_ITEMS). 0; PL_EREJECTED, with
 * stopped_at and why, when an entry is not taken; PL_ENOMEM. Free b
 * either way.
 */
int proj_bulk_apply(struct proj_bulk *b, const struct proj_bulk_entry *e, size_t n,
		    size_t partition_items);
void proj_bulk_free(struct proj_bulk *b);

#endif
