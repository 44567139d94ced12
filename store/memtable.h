/*
 * memtable.h — fingerprint → fixed-size value, in memory: the changes to
 * one kind of state since it was last written out as a run (index.h).
 *
 * Open addressing with linear probing, at most half full (it doubles),
 * kept in order: an entry's home slot is the top bits of its fingerprint and
 * each cluster is kept sorted, so the slots read in order are the entries
 * sorted — a checkpoint writes a table out by walking it, with no sort, and
 * a lookup stops at the first larger fingerprint. Removal shifts
 * entries back rather than leaving tombstones, so lookups stay short however
 * a batch added and took back entries. An all-zero fingerprint marks a free
 * slot (fp.h never makes one).
 */
#ifndef MEMTABLE_H
#define MEMTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fp.h"

struct memtable {
	uint8_t *slots;    /* (capacity + a tail) × entry_size: fingerprint, then value */
	size_t capacity;   /* home slots, a power of two */
	unsigned shift;    /* 64 − log2(capacity): a fingerprint's top word >> shift is its home */
	size_t count;
	size_t entry_size; /* FP_SIZE + the value's size */
	unsigned shared_bits; /* top fingerprint bits every key shares, left out of homes */
};

/* An empty table for values of value_size bytes. 0 or PL_ENOMEM. */
int memtable_init(struct memtable *m, size_t value_size);
/*
 * The same for keys that all share their top shared_bits bits (a
 * partition of keys by those bits): homes are taken from the bits after
 * them, so the keys spread over the whole table and still read in order.
 */
int memtable_init_shared(struct memtable *m, size_t value_size, unsigned shared_bits);
void memtable_deinit(struct memtable *m);

/* The value stored for f, or NULL. Valid until the table next changes. */
void *memtable_get(const struct memtable *m, const struct fp *f);

/* Asks the CPU to bring f's slot into the cache: a lookup soon after is a hit. */
void memtable_prefetch(const struct memtable *m, const struct fp *f);

/* Stores value for f, replacing any. 0 or PL_ENOMEM (the table is unchanged). */
int memtable_put(struct memtable *m, const struct fp *f, const void *value);

/* Removes f; false when it was not there. */
bool memtable_remove(struct memtable *m, const struct fp *f);

/* The entry after e in fingerprint order (the first when e is NULL), or NULL. */
const uint8_t *memtable_next(const struct memtable *m, const uint8_t *e);

/* Makes room for entries entries without growing. 0 or PL_ENOMEM (the table is unchanged). */
int memtable_reserve(struct memtable *m, size_t entries);

/* Empties the table, keeping its memory. */
void memtable_clear(struct memtable *m);

/* Bytes the table holds, for memory accounting. */
size_t memtable_bytes(const struct memtable *m);

#endif
