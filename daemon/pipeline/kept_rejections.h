/*
 * kept_rejections.h — the messages an earlier `pledged import` kept as
 * rejections, so that importing the same lines again (a rerun after a kill,
 * or by mistake) does not keep them twice. Kafka needs none of this: its
 * offsets are stored with what they produced, so no message comes twice.
 *
 * A message is known by a 128-bit hash of its bytes (two different ones
 * collide with a probability of about n²/2^129), an erased one by the hash
 * its erasure kept. A known message counts as a duplicate before the rules
 * judge it: a line rejected once is not applied by a later import, when
 * the state it was judged against has changed (it would land out of order,
 * or bring back what an erasure removed). Rejections whose bytes were cut
 * to REJECTION_RAW_MAX, or erased by builds older than the erasure's hash,
 * are not known: they may be kept again, but no different message is ever
 * taken for them.
 */
#ifndef KEPT_REJECTIONS_H
#define KEPT_REJECTIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "store.h"

struct kept_rejections {
	struct kept_hash *hashes; /* sorted */
	size_t n;
};

/* Loads the rejections of st that came from source topic `topic`. 0 or an error. */
int kept_rejections_load(struct kept_rejections *k, struct store *st, const char *topic);

/* Whether a rejection with exactly these bytes was kept when k was loaded. */
bool kept_rejections_has(const struct kept_rejections *k, const void *raw, size_t len);

void kept_rejections_free(struct kept_rejections *k);

#endif
