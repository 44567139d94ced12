/*
 * bloom.h — a blocked Bloom filter over fingerprints: "certainly absent" or
 * "maybe present" for an id, at the cost of one cache line.
 *
 * The state index (index.h) asks it before looking an id up on disk: most
 * ids a batch brings are new, and for them the answer is known in memory.
 * Each id sets 6 bits within one 64-byte block. At 10 bits per id about
 * 1 in 50 absent ids is "maybe" (then the disk says no); the size is fixed,
 * so memory is bounded, and the rate only rises as more ids are added.
 */
#ifndef BLOOM_H
#define BLOOM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fp.h"

#define BLOOM_BLOCK 64

struct bloom {
	uint8_t *bits;
	size_t blocks; /* of BLOOM_BLOCK bytes */
};

/* An empty filter of about bytes bytes (at least one block). 0 or PL_ENOMEM. */
int bloom_init(struct bloom *b, size_t bytes);
void bloom_deinit(struct bloom *b);

/* Its size in bytes, for storing it. */
static inline size_t bloom_size(const struct bloom *b)
{
	return b->blocks * BLOOM_BLOCK;
}

/* Replaces the bits with a stored copy; PL_EINVAL when the size differs. */
int bloom_load(struct bloom *b, const void *data, size_t len);

void bloom_add(struct bloom *b, const struct fp *f);
bool bloom_may_contain(const struct bloom *b, const struct fp *f);
/* Asks the CPU to bring f's block into the cache. */
void bloom_prefetch(const struct bloom *b, const struct fp *f);

#endif
