/*
 * kept_rejections.h — the messages `pledged import` kept as rejections, so
 * that no line is kept twice: importing the same lines again (a rerun
 * after a kill, or by mistake) or the same line twice in one file. Kafka
 * needs none of this: its offsets are stored with what they produced, so
 * no message comes twice.
 *
 * A message is known by a 128-bit hash of its bytes (two different ones
 * collide with a probability of about n²/2^129), an erased one by the hash
 * its erasure kept. A known message counts as a duplicate before the rules
 * judge it: a line rejected once is not applied later, when the state it
 * was judged against has changed (it would land out of order, or bring
 * back what an erasure removed). Rejections whose bytes were cut to
 * REJECTION_RAW_MAX, or erased by builds older than the erasure's hash,
 * are not known: they may be kept again, but no different message is ever
 * taken for them.
 *
 * The rejections of the batch being decided are noted apart, and become
 * known for good only once its transaction committed
 * (kept_rejections_commit); deciding the batch again (map growth, a swap
 * of slots) or failing forgets them (kept_rejections_undo). So a line
 * killed before its batch committed is judged afresh by the rerun.
 */
#ifndef KEPT_REJECTIONS_H
#define KEPT_REJECTIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "store.h"

struct kept_rejections {
	struct kept_hash *hashes; /* committed, sorted */
	size_t n, cap;
	struct kept_hash *noted; /* the batch's, in the order noted */
	size_t nnoted, noted_cap;
	uint32_t *slots; /* open addressing over noted: index + 1, 0 empty */
	size_t slots_cap;
};

/* Loads the rejections of st that came from source topic `topic`. 0 or an error. */
int kept_rejections_load(struct kept_rejections *k, struct store *st, const char *topic);

/* Whether a rejection with exactly these bytes was kept, or noted in this batch. */
bool kept_rejections_has(const struct kept_rejections *k, const void *raw, size_t len);

/* Notes a message the batch keeps as a rejection. 0 or PL_ENOMEM. */
int kept_rejections_note(struct kept_rejections *k, const void *raw, size_t len);

/* The batch's rejections committed: known from now on. */
void kept_rejections_commit(struct kept_rejections *k);

/* The batch decided again or failed: its rejections forgotten. */
void kept_rejections_undo(struct kept_rejections *k);

void kept_rejections_free(struct kept_rejections *k);

#endif
