/* memtable.c — an open-addressing hash table of fingerprints; see memtable.h. */
#include "memtable.h"

#include <stdlib.h>
#include <string.h>

#include "pl_error.h"

#define INITIAL_CAPACITY 1024

int memtable_init(struct memtable *m, size_t value_size)
{
	m->entry_size = FP_SIZE + value_size;
	m->capacity = INITIAL_CAPACITY;
	m->count = 0;
	m->slots = calloc(m->capacity, m->entry_size);
	return m->slots ? PL_OK : PL_ENOMEM;
}

void memtable_deinit(struct memtable *m)
{
	free(m->slots);
	m->slots = NULL;
	m->capacity = m->count = 0;
}

static uint8_t *slot(const struct memtable *m, size_t i)
{
	return m->slots + i * m->entry_size;
}

static bool slot_free(const uint8_t *s)
{
	return fp_is_zero((const struct fp *)s);
}

/* The slot holding f, or the free slot where it would go. */
static size_t find(const struct memtable *m, const struct fp *f)
{
	size_t mask = m->capacity - 1;
	for (size_t i = fp_hash(f) & mask;; i = (i + 1) & mask) {
		const uint8_t *s = slot(m, i);
		if (slot_free(s) || memcmp(s, f->b, FP_SIZE) == 0)
			return i;
	}
}

void *memtable_get(const struct memtable *m, const struct fp *f)
{
	uint8_t *s = slot(m, find(m, f));
	return slot_free(s) ? NULL : s + FP_SIZE;
}

static int grow(struct memtable *m)
{
	struct memtable bigger = {.capacity = m->capacity * 2, .entry_size = m->entry_size};
	bigger.slots = calloc(bigger.capacity, bigger.entry_size);
	if (!bigger.slots)
		return PL_ENOMEM;
	for (size_t i = 0; i < m->capacity; i++) {
		const uint8_t *s = slot(m, i);
		if (!slot_free(s))
			memcpy(slot(&bigger, find(&bigger, (const struct fp *)s)), s, m->entry_size);
	}
	bigger.count = m->count;
	free(m->slots);
	*m = bigger;
	return PL_OK;
}

int memtable_put(struct memtable *m, const struct fp *f, const void *value)
{
	if ((m->count + 1) * 2 > m->capacity && grow(m))
		return PL_ENOMEM;
	uint8_t *s = slot(m, find(m, f));
	if (slot_free(s)) {
		memcpy(s, f->b, FP_SIZE);
		m->count++;
	}
	memcpy(s + FP_SIZE, value, m->entry_size - FP_SIZE);
	return PL_OK;
}

bool memtable_remove(struct memtable *m, const struct fp *f)
{
	size_t mask = m->capacity - 1, hole = find(m, f);
	if (slot_free(slot(m, hole)))
		return false;
	/* Backward shift: move each later entry of the run up into the hole
	 * unless its home slot lies (cyclically) after the hole. */
	for (size_t i = (hole + 1) & mask;; i = (i + 1) & mask) {
		uint8_t *s = slot(m, i);
		if (slot_free(s))
			break;
		size_t home = fp_hash((const struct fp *)s) & mask;
		if (((i - home) & mask) >= ((i - hole) & mask)) {
			memcpy(slot(m, hole), s, m->entry_size);
			hole = i;
		}
	}
	memset(slot(m, hole), 0, m->entry_size);
	m->count--;
	return true;
}

static int entry_cmp(const void *a, const void *b)
{
	return memcmp(a, b, FP_SIZE);
}

void memtable_sorted(const struct memtable *m, uint8_t *out)
{
	size_t n = 0;
	for (size_t i = 0; i < m->capacity; i++) {
		const uint8_t *s = slot(m, i);
		if (!slot_free(s))
			memcpy(out + n++ * m->entry_size, s, m->entry_size);
	}
	qsort(out, n, m->entry_size, entry_cmp);
}

void memtable_clear(struct memtable *m)
{
	memset(m->slots, 0, m->capacity * m->entry_size);
	m->count = 0;
}
