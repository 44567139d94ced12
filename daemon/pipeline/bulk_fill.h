/*
 * bulk_fill.h — a rebuild's empty slot filled from the whole log at once.
 *
 * Applied in log order (slot.h), each event's lookups miss the cache and
 * each table is written a transaction at a time. bulk_fill() reads the
 * whole log, decides every entry at once (proj_bulk.h), and writes each
 * published table once, campaign by campaign in key order: the campaigns'
 * rows and totals, each campaign's history and its comments (their rows
 * kept from the read, not read again), the platform's totals. The state
 * index's runs are written straight from the sorted state, its checkpoint
 * in the last transaction.
 *
 * It takes what proj_bulk takes and what fits in memory (about 400 bytes
 * an entry, and the comments' rows twice: as read, and sorted for the
 * writes). Of a log longer than BULK_MAX_ENTRIES it fills the first ones,
 * and the caller applies the rest in log order. An erasure's record is
 * read for the comments it hides (proj_bulk.h). A log with an entry that
 * does not decode or that the rules refuse, an event id twice, an
 * erasure's record damaged or comments' rows of more than 256 MiB (among
 * the entries it takes) is left to the log-order path, which names what
 * is wrong; so is a log the memory cannot hold while it is read and
 * decided.
 *
 * Its transactions last about txn_ms each, so a serve beside it writes in
 * between. `done` is called in the last with the last entry's log
 * position, so that the caller records how far the slot got in the same
 * commit (or fails the transaction); a slot killed half-filled holds
 * rows nothing records, and must be emptied before it is filled again.
 */
#ifndef BULK_FILL_H
#define BULK_FILL_H

#include <stdatomic.h>
#include <stdbool.h>

#include "slot.h"

/*
 * What a fill holds at most (0: the default): the log entries it takes,
 * the rest left to the log-order path after it; the comments' rows, kept
 * from the read (both halves of the log's counted together), past which
 * the whole log is left to the log-order path.
 */
struct bulk_limits {
	size_t entries;       /* log entries: BULK_MAX_ENTRIES */
	size_t comment_bytes; /* the comments' rows: BULK_MAX_COMMENT_BYTES */
};
#define BULK_MAX_ENTRIES ((size_t)1 << 21)
#define BULK_MAX_COMMENT_BYTES ((size_t)256 << 20)

/*
 * Fills s (open, empty, on its data dir) with the log up to its end as a
 * read transaction sees it, or its first limits->entries. 0 with *filled
 * (s->applied_seq then the last entry it took; false: left to the
 * log-order path, s unchanged, or stopped by *stop between two
 * transactions, s half-filled), or an error.
 */
int bulk_fill(struct slot *s, int txn_ms, const struct bulk_limits *limits, const atomic_bool *stop,
	      int (*done)(struct store_txn *t, uint64_t seq, void *arg), void *done_arg,
	      bool *filled);

#endif
