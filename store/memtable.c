/* memtable.c — an ordered open-addressing table of fingerprints; see memtable.h. */
#include "memtable.h"

#include <stdlib.h>
#include <string.h>

#include "big_alloc.h"
#include "pl_error.h"

#define INITIAL_BITS 10
/* Slots past the last home slot, where the clusters of the last homes run
 * on instead of wrapping round (which would break the order). At most half
 * full, a cluster this long is vanishingly rare; meeting one grows the table. */
#define TAIL 64

static size_t slot_count(const struct memtable *m)
{
	return m->capacity + TAIL;
}

static uint8_t *slot(const struct memtable *m, size_t i)
{
	return m->slots + i * m->entry_size;
}

static bool slot_free(const uint8_t *s)
{
	return fp_is_zero((const struct fp *)s);
}

/* A fingerprint's top bits, but those every key shares (memtable_init_shared). */
static uint64_t home_bits(const struct memtable *m, const uint8_t *f)
{
	return fp_word(f, 0) << m->shared_bits;
}

/* The home slot: those bits' top ones, so homes rise with fingerprints. */
static size_t home(const struct memtable *m, const uint8_t *f)
{
	return (size_t)(home_bits(m, f) >> m->shift);
}

static int alloc_slots(struct memtable *m, unsigned bits)
{
	m->capacity = (size_t)1 << bits;
	m->shift = 64 - bits;
	m->count = 0;
	m->slots = big_alloc(memtable_bytes(m));
	return m->slots ? PL_OK : PL_ENOMEM;
}

int memtable_init(struct memtable *m, size_t value_size)
{
	m->entry_size = FP_SIZE + value_size;
	m->shared_bits = 0;
	return alloc_slots(m, INITIAL_BITS);
}

int memtable_init_shared(struct memtable *m, size_t value_size, unsigned shared_bits)
{
	int rc = memtable_init(m, value_size);
	m->shared_bits = shared_bits;
	return rc;
}

void memtable_deinit(struct memtable *m)
{
	big_free(m->slots, memtable_bytes(m));
	m->slots = NULL;
	m->capacity = m->count = 0;
}

/*
 * The slot holding f, or where f belongs: the first slot from f's home that
 * is free or holds a fingerprint not below f. Entries keep the order of their
 * fingerprints and sit at or after their homes with no free slot between.
 */
static size_t find(const struct memtable *m, const struct fp *f)
{
	size_t i = home(m, f->b), end = slot_count(m);
	while (i < end && !slot_free(slot(m, i)) && fp_cmp_at(slot(m, i), f->b) < 0)
		i++;
	return i;
}

static bool holds(const struct memtable *m, size_t i, const struct fp *f)
{
	return i < slot_count(m) && !slot_free(slot(m, i)) && fp_cmp_at(slot(m, i), f->b) == 0;
}

void *memtable_get(const struct memtable *m, const struct fp *f)
{
	size_t i = find(m, f);
	return holds(m, i, f) ? slot(m, i) + FP_SIZE : NULL;
}

void memtable_prefetch(const struct memtable *m, const struct fp *f)
{
	__builtin_prefetch(slot(m, home(m, f->b)));
}

/* Puts f (not present) and its value at their place: 0, or 1 when the tail is too short. */
static int insert(struct memtable *m, const struct fp *f, const void *value)
{
	size_t at = find(m, f), end = slot_count(m), free_at = at;
	while (free_at < end && !slot_free(slot(m, free_at)))
		free_at++;
	if (free_at == end)
		return 1;
	memmove(slot(m, at + 1), slot(m, at), (free_at - at) * m->entry_size);
	memcpy(slot(m, at), f->b, FP_SIZE);
	memcpy(slot(m, at) + FP_SIZE, value, m->entry_size - FP_SIZE);
	m->count++;
	return 0;
}

/* The most home slots a table has: 2^31, so a slot's number fits 32 bits. */
#define MAX_BITS 31

/*
 * Where each entry goes in a table of 2^bits home slots: its home or just
 * after the one before, whichever is later. false when one would land past
 * the tail. (Never before where it is now: an entry sits at its home or
 * just after the one before, and homes only grow with the table.)
 */
static bool place(const struct memtable *m, unsigned bits, uint32_t *to)
{
	size_t end = ((size_t)1 << bits) + TAIL, next = 0, k = 0;
	for (const uint8_t *e = memtable_next(m, NULL); e; e = memtable_next(m, e)) {
		size_t at = (size_t)(home_bits(m, e) >> (64 - bits));
		if (at < next)
			at = next;
		if (at >= end)
			return false;
		to[k++] = (uint32_t)at;
		next = at + 1;
	}
	return true;
}

/*
 * Moves each entry of the old_slots first slots to its place (to), the last
 * first: its place is at or after it, where only the entries after it were.
 */
static void spread(struct memtable *m, size_t old_slots, const uint32_t *to)
{
	size_t k = m->count;
	for (size_t i = old_slots; k > 0 && i-- > 0;) {
		uint8_t *s = slot(m, i);
		if (slot_free(s))
			continue;
		size_t j = to[--k];
		if (j != i) {
			memcpy(slot(m, j), s, m->entry_size);
			memset(s, 0, m->entry_size);
		}
	}
}

/*
 * Grows the table to 2^bits home slots (more when a cluster would run past
 * the tail) where it lies: the mapping grows, keeping its pages, and the
 * entries spread out in place. Half the memory touched of copying into a
 * new table, which matters where first touching a page is slow.
 */
static int grow_to(struct memtable *m, unsigned bits)
{
	uint32_t *to = malloc((m->count ? m->count : 1) * sizeof *to);
	if (!to)
		return PL_ENOMEM;
	int rc = PL_ENOMEM;
	for (; bits <= MAX_BITS; bits++) {
		if (!place(m, bits, to))
			continue;
		size_t capacity = (size_t)1 << bits, old_slots = slot_count(m);
		uint8_t *p = big_realloc(m->slots, memtable_bytes(m), (capacity + TAIL) * m->entry_size);
		if (!p)
			break;
		m->slots = p;
		spread(m, old_slots, to);
		m->capacity = capacity;
		m->shift = 64 - bits;
		rc = PL_OK;
		break;
	}
	free(to);
	return rc;
}

static int grow(struct memtable *m)
{
	return grow_to(m, (unsigned)(64 - m->shift) + 1);
}

int memtable_reserve(struct memtable *m, size_t entries)
{
	unsigned bits = (unsigned)(64 - m->shift);
	while (bits <= MAX_BITS && entries * 2 > ((size_t)1 << bits))
		bits++;
	return bits == (unsigned)(64 - m->shift) ? PL_OK : grow_to(m, bits);
}

int memtable_put(struct memtable *m, const struct fp *f, const void *value)
{
	size_t i = find(m, f);
	if (holds(m, i, f)) {
		memcpy(slot(m, i) + FP_SIZE, value, m->entry_size - FP_SIZE);
		return PL_OK;
	}
	if ((m->count + 1) * 2 > m->capacity && grow(m))
		return PL_ENOMEM;
	while (insert(m, f, value))
		if (grow(m))
			return PL_ENOMEM;
	return PL_OK;
}

bool memtable_remove(struct memtable *m, const struct fp *f)
{
	size_t hole = find(m, f), end = slot_count(m);
	if (!holds(m, hole, f))
		return false;
	/* Shift back the entries after the hole that sit past their homes; the
	 * first at its home (or a free slot) ends the cluster's part that moves. */
	size_t last = hole + 1;
	while (last < end && !slot_free(slot(m, last)) && home(m, slot(m, last)) < last)
		last++;
	memmove(slot(m, hole), slot(m, hole + 1), (last - hole - 1) * m->entry_size);
	memset(slot(m, last - 1), 0, m->entry_size);
	m->count--;
	return true;
}

const uint8_t *memtable_next(const struct memtable *m, const uint8_t *e)
{
	size_t i = e ? (size_t)(e - m->slots) / m->entry_size + 1 : 0;
	for (; i < slot_count(m); i++)
		if (!slot_free(slot(m, i)))
			return slot(m, i);
	return NULL;
}

void memtable_clear(struct memtable *m)
{
	memset(m->slots, 0, slot_count(m) * m->entry_size);
	m->count = 0;
}

size_t memtable_bytes(const struct memtable *m)
{
	return slot_count(m) * m->entry_size;
}
