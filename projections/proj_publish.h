/*
 * proj_publish.h — the rows readers see, written from what the rules decided.
 *
 * The rules (proj_apply.c) change the state index and decide; they do not
 * write the published tables themselves. Each change to a published row
 * is recorded here, in order, as a compact record, and proj_publish()
 * writes them all in one go in the write transaction when the writer
 * flushes. Everything that needs to read published rows to write them
 * (the campaign's row when it closes, the old totals for the order by
 * money raised, the platform's totals, an erasure's history row) reads
 * them there, in that transaction, after the changes recorded before it.
 *
 * So the rules need nothing of the write transaction but the index: the
 * step the two-stage writer builds on (rules on one thread, this and the
 * commit on another; docs/performance.md).
 */
#ifndef PROJ_PUBLISH_H
#define PROJ_PUBLISH_H

#include <stddef.h>
#include <stdint.h>

#include "proj_records.h"
#include "proj_staged.h"
#include "store.h"

/* Changes recorded since the last proj_publish(), in the order they were made. */
struct proj_changes {
	uint8_t *bytes;
	size_t len, cap;
	int err; /* PL_ENOMEM once a record did not fit: proj_publish() fails with it */
};

void proj_changes_init(struct proj_changes *ch);
void proj_changes_deinit(struct proj_changes *ch);
/* Forgets every change recorded (a transaction run again). */
void proj_changes_clear(struct proj_changes *ch);

/*
 * Records, one change each (ch->err says when one could not be kept):
 * - opened: campaign's info row, and its places among the newest and
 *   among those closing soonest, from the event at `at`;
 * - closed: campaign leaves the order of those closing soonest;
 * - history: the history row key → val, staged under log position seq;
 * - history_merge: an erasure's history row, added to any row at key;
 * - comment: comment c posted by the log entry at seq, staged at key;
 * - comment_del: the comment row at key goes;
 * - totals: campaign's totals are now t (its place by money raised moves);
 * - platform: d is added to the totals of currency.
 */
void proj_change_opened(struct proj_changes *ch, struct pl_str campaign,
			const struct proj_info *info, int64_t at);
void proj_change_closed(struct proj_changes *ch, struct pl_str campaign);
void proj_change_history(struct proj_changes *ch, uint64_t seq, const void *key, size_t key_len,
			 const void *val, size_t val_len);
void proj_change_history_merge(struct proj_changes *ch, const void *key, size_t key_len,
			       const struct proj_history *h);
void proj_change_comment(struct proj_changes *ch, uint64_t seq, const void *key, size_t key_len,
			 const struct proj_comment *c);
void proj_change_comment_del(struct proj_changes *ch, const void *key, size_t key_len);
void proj_change_totals(struct proj_changes *ch, struct pl_str campaign,
			const struct proj_totals *t);
void proj_change_platform(struct proj_changes *ch, const char currency[3],
			  const struct proj_platform *d);

/*
 * Writes the changes recorded to slot's tables in t, in order, holding the
 * staged history rows in held as well (proj_staged_hold). They stay
 * recorded, for a transaction run again, until proj_changes_clear().
 * Returns t's error (PL_ECORRUPT for a published row that does not
 * decode), or the recording's PL_ENOMEM.
 */
int proj_publish(struct proj_changes *ch, struct store_txn *t, enum store_slot slot,
		 struct proj_staged *held);

#endif
