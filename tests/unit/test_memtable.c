/*
 * test_memtable.c — the ordered hash table (store/memtable.h) against a
 * plain model.
 *
 * Three key sets: fingerprints as fp_of makes them; fingerprints crowded on
 * a few home slots, so clusters grow long and shift on every insert and
 * removal; and fingerprints at both ends of the order, whose clusters meet
 * the table's first slot and run into its tail. Random puts, updates and
 * removals, the table growing as it goes (once by reserving room for many
 * more entries at once); after each round every key's value, the count, and
 * the walk in order must equal the model. A fourth set shares its top 12
 * bits, as a partition of keys does (memtable_init_shared): its entries
 * must still spread over the whole table. A table of 2 MiB or more starts
 * on a huge page boundary however it grew (big_alloc.h).
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "memtable.h"

#define KEYS 20000
#define OPS 200000
#define VALUE 8
#define HUGE_PAGE ((size_t)2 << 20)

static uint64_t rnd_state = 0x9E3779B97F4A7C15ULL;
static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

static struct fp keys[KEYS];
static bool present[KEYS];
static uint64_t values[KEYS];

static void put_word(uint8_t *p, uint64_t w)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(w >> (56 - 8 * i));
}

enum key_set { ORDINARY, CROWDED, AT_THE_ENDS, SHARED };
#define SHARED_BITS 12

static void make_keys(enum key_set set)
{
	for (uint32_t k = 0; k < KEYS; k++) {
		fp_of(&keys[k], 1, &k, sizeof k);
		if (set == CROWDED) /* 16 distinct top words: 16 homes at any size */
			put_word(keys[k].b, (rnd() % 16) << 60);
		else if (set == AT_THE_ENDS && k % 32 == 0) /* the first or last 1/256 */
			put_word(keys[k].b, k % 64 ? rnd() >> 8 : UINT64_MAX - (rnd() >> 8));
		else if (set == SHARED) /* one partition of 4,096 */
			put_word(keys[k].b, (UINT64_C(0xabc) << 52) | (rnd() >> SHARED_BITS));
	}
}

static int cmp_fp(const void *a, const void *b)
{
	return memcmp(a, b, FP_SIZE);
}

/* Mismatches between the table and the model. */
static int compare(const struct memtable *m)
{
	int bad = 0;
	size_t n = 0;
	for (size_t k = 0; k < KEYS; k++) {
		const uint8_t *v = memtable_get(m, &keys[k]);
		if (present[k]) {
			n++;
			bad += !v || memcmp(v, &values[k], VALUE) != 0;
		} else {
			bad += v != NULL;
		}
	}
	bad += m->count != n;

	/* The walk in order: the model's keys in memcmp order. */
	struct fp *expect = malloc(n * sizeof *expect + 1);
	size_t e = 0;
	for (size_t k = 0; k < KEYS; k++)
		if (present[k])
			expect[e++] = keys[k];
	qsort(expect, e, sizeof *expect, cmp_fp);
	size_t walked = 0;
	for (const uint8_t *p = memtable_next(m, NULL); p; p = memtable_next(m, p))
		bad += walked < e && memcmp(p, expect[walked++].b, FP_SIZE) != 0;
	bad += walked != e;
	free(expect);
	return bad;
}

static void run(enum key_set set, const char *name)
{
	make_keys(set);
	memset(present, 0, sizeof present);
	struct memtable m;
	CHECK_INT(memtable_init_shared(&m, VALUE, set == SHARED ? SHARED_BITS : 0), 0);
	int bad = 0, failed_puts = 0;
	for (int op = 1; op <= OPS; op++) {
		/* Mostly puts while filling, then as many removals: the table both
		 * grows and empties again. */
		uint32_t k = (uint32_t)(rnd() % KEYS);
		bool removing = op > OPS / 2 ? rnd() % 3 != 0 : rnd() % 4 == 0;
		if (removing) {
			bad += memtable_remove(&m, &keys[k]) != present[k];
			present[k] = false;
		} else {
			values[k] = rnd();
			failed_puts += memtable_put(&m, &keys[k], &values[k]) != 0;
			present[k] = true;
		}
		if (op % (OPS / 8) == 0)
			bad += compare(&m);
		if (op == OPS / 4) {
			/* Room for eight times its entries at once: several
			 * doublings in one growth, the entries spread in place. */
			size_t want = 8 * m.count;
			CHECK_INT(memtable_reserve(&m, want), 0);
			CHECK(m.capacity >= 2 * want);
			CHECK(memtable_bytes(&m) >= HUGE_PAGE && (uintptr_t)m.slots % HUGE_PAGE == 0);
			bad += compare(&m);
		}
	}
	/* How far an entry sits from its home: short unless the homes crowd. */
	size_t furthest = 0;
	unsigned shared = set == SHARED ? SHARED_BITS : 0;
	for (const uint8_t *p = memtable_next(&m, NULL); p; p = memtable_next(&m, p)) {
		uint64_t w = 0;
		for (int i = 0; i < 8; i++)
			w = w << 8 | p[i];
		size_t at = (size_t)(p - m.slots) / m.entry_size, home = (size_t)((w << shared) >> m.shift);
		if (at - home > furthest)
			furthest = at - home;
	}
	if (set != CROWDED)
		CHECK(furthest < 64);
	fprintf(stderr, "%s: %zu entries left, %zu home slots, furthest %zu from home\n", name,
		m.count, m.capacity, furthest);
	CHECK_INT(failed_puts, 0);
	CHECK_INT(bad, 0);
	memtable_clear(&m);
	memset(present, 0, sizeof present);
	CHECK_INT(compare(&m), 0);
	memtable_deinit(&m);
}

/* Grown one doubling at a time from its first small size, past 2 MiB. */
static void grown_on_huge_page_boundaries(void)
{
	struct memtable m;
	int misaligned = 0;
	CHECK_INT(memtable_init(&m, VALUE), 0);
	for (uint32_t k = 0; k < 300000; k++) {
		struct fp f;
		uint64_t v = k;
		fp_of(&f, 2, &k, sizeof k);
		size_t capacity = m.capacity;
		CHECK_INT(memtable_put(&m, &f, &v), 0);
		if (m.capacity != capacity && memtable_bytes(&m) >= HUGE_PAGE)
			misaligned += (uintptr_t)m.slots % HUGE_PAGE != 0;
	}
	CHECK(memtable_bytes(&m) >= 8 * HUGE_PAGE);
	CHECK_INT(misaligned, 0);
	memtable_deinit(&m);
}

int main(void)
{
	run(ORDINARY, "ordinary");
	run(CROWDED, "crowded");
	run(AT_THE_ENDS, "at the ends");
	run(SHARED, "sharing their top bits");
	grown_on_huge_page_boundaries();
	return check_done();
}
