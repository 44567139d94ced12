/*
 * erasure.h — the right to erasure in the log: what a supporter.forgotten
 * event does to the events and rejections stored before it.
 *
 * erasure_run() works in the write transaction that appends the erasure
 * at seq. It overwrites every personal field of the supporter that the log
 * and the rejections hold (event_redact.h, event_names.h), and keeps under seq in META the
 * erasure's record: how many entries it rewrote, and the log positions of
 * the supporter's comments, which the projections then show as removed
 * (proj.h). A replay reads the record instead of searching the log again,
 * so every replay removes the same comments the live projections did.
 */
#ifndef ERASURE_H
#define ERASURE_H

#include <stddef.h>
#include <stdint.h>

#include "event_schema.h"
#include "evlog.h"
#include "fp.h"
#include "store.h"

struct erasure_counts {
	uint64_t entries;    /* log entries rewritten */
	uint64_t comments;   /* of the supporter's comments, in the record */
	uint64_t rejections; /* rejected messages whose bytes were dropped */
};

/*
 * An erasure is published to every partition under one id, and each copy
 * is applied once (slot.h). When the first copy comes, every partition's
 * messages stored so far came before that partition's copy (Kafka keeps a
 * partition's order), so it erases them all. A later copy erases what its
 * own partition brought since: never another partition's messages, which
 * may have come after the forget. The first copy's source is noted, so
 * that it is known again when delivered again (`pledged import` of the
 * same file), and so that copies are taken only of an erasure noted so
 * (erasures of older builds had one copy applied and the rest dropped).
 */
enum erasure_copy {
	ERASURE_FIRST, /* none noted: the first copy, unless its id is taken */
	ERASURE_AGAIN, /* the first copy, delivered again: a duplicate */
	ERASURE_LATER, /* another partition's copy: erase that partition's */
	ERASURE_OTHER, /* its id is another supporter's erasure: a duplicate, nothing erased */
};
/* Which copy of erasure id, of supporter, comes from src: 0 with *copy, or an error. */
int erasure_copy_of(struct store_txn *t, const struct fp *id, struct pl_str supporter,
		    const struct evlog_source *src, enum erasure_copy *copy);
/* Notes src as where the first copy of erasure id, of supporter, came from, at log position seq. */
void erasure_note_first_copy(struct store_txn *t, const struct fp *id, struct pl_str supporter,
			     const struct evlog_source *src, uint64_t seq);
/* The log position of the first copy of erasure id in *seq, 0 when none was noted (an older build's). 0 or an error. */
int erasure_first_copy_at(struct store_txn *t, const struct fp *id, uint64_t *seq);

/*
 * Erases supporter from the log's entries in [from, seq) (from 0: the
 * whole log before seq), in t, or when only_from is not NULL from what
 * came from that source alone. 0 or an error. A later copy of an erasure
 * need only look after its first copy, which erased every entry before it.
 */
int erasure_run(struct store_txn *t, uint64_t seq, struct pl_str supporter,
		const struct evlog_source *only_from, uint64_t from,
		struct erasure_counts *counts);

/*
 * Reads the record of the erasure at seq: *count comment positions at
 * *comments, 8 bytes each (erasure_comment()), borrowing t's pages.
 * 0, PL_ECORRUPT when there is no such record, or an error.
 */
int erasure_comments(struct store_txn *t, uint64_t seq, const uint8_t **comments, size_t *count);

/* The i-th comment position of a record read by erasure_comments(). */
uint64_t erasure_comment(const uint8_t *comments, size_t i);

#endif
