/*
 * big_alloc.h — zeroed memory for large tables (hash tables, Bloom filters)
 * that are read at random: mapped straight from the kernel and marked for
 * transparent huge pages, so that filling a table costs one page fault per
 * 2 MiB rather than per 4 KiB, and a random read rarely misses the TLB.
 * Falls back to ordinary pages where huge pages are off.
 *
 * A mapping of 2 MiB or more starts on a 2 MiB boundary, and stays on one
 * when it grows: only whole aligned 2 MiB can be a huge page, and a mapping
 * moved to an address off the boundary has its huge pages split into
 * small ones. (Unaligned, a third of the in-memory tables' memory was in
 * small pages after a million events; on this VM a random read of a large
 * table takes 1.4-1.7 times as long in small pages as in huge ones.)
 */
#ifndef BIG_ALLOC_H
#define BIG_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

/* size zeroed bytes, or NULL. */
void *big_alloc(size_t size);

/*
 * Resizes what big_alloc(old_size) returned to new_size bytes, keeping its
 * pages (the kernel moves them rather than copying) and adding zeroed ones
 * past old_size; it may move (to a 2 MiB boundary). The new address, or
 * NULL with p unchanged.
 */
void *big_realloc(void *p, size_t old_size, size_t new_size);

/* Frees what big_alloc(size) returned; NULL is ignored. */
void big_free(void *p, size_t size);

/*
 * As array_reserve() (array.h), in this memory: for a buffer that grows to
 * many megabytes, whose doublings then move pages rather than copy bytes.
 * Free it with big_free(*p, *cap * size).
 */
bool big_array_reserve(void **p, size_t *cap, size_t want, size_t size);

#endif
