/*
 * fp.h — fingerprints: the 128-bit keys of the state index (index.h).
 *
 * An id (an event id, a pledge id, a campaign id, a supporter within a
 * campaign) is stored in the state index by its fingerprint, XXH3-128 of
 * its kind and its bytes: keys of one fixed size, spread evenly, so tables
 * pack densely and sort and hash cheaply. At 128 bits two different ids
 * collide with a probability of about n²/2^129: for 10^12 ids, 10^-15.
 * Bytes are kept big-endian so that memcmp() orders fingerprints.
 */
#ifndef FP_H
#define FP_H

#include <endian.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define FP_SIZE 16

struct fp {
	uint8_t b[FP_SIZE];
};

/* The fingerprint of id (len bytes) of a kind; never all zeros. */
void fp_of(struct fp *out, uint8_t kind, const void *id, size_t len);

/* The fingerprint of a pair of ids of a kind, e.g. (campaign, supporter). */
void fp_of_pair(struct fp *out, uint8_t kind, const void *a, size_t alen, const void *b,
		size_t blen);

/* Bytes 8i..8i+7 of a fingerprint as a number. */
static inline uint64_t fp_word(const uint8_t *p, int i)
{
	uint64_t w;
	memcpy(&w, p + 8 * i, sizeof w);
	return be64toh(w);
}

/*
 * memcmp() order of the fingerprints at a and b: two word compares, where
 * a libc memcmp call costs more than the comparison itself (sorting and
 * searching runs are made of these).
 */
static inline int fp_cmp_at(const uint8_t *a, const uint8_t *b)
{
	for (int i = 0; i < 2; i++) {
		uint64_t x = fp_word(a, i), y = fp_word(b, i);
		if (x != y)
			return x < y ? -1 : 1;
	}
	return 0;
}

static inline int fp_cmp(const struct fp *a, const struct fp *b)
{
	return fp_cmp_at(a->b, b->b);
}

static inline bool fp_is_zero(const struct fp *f)
{
	static const struct fp zero;
	return memcmp(f->b, zero.b, FP_SIZE) == 0;
}

/*
 * Entries: a fingerprint followed by a value, packed at a fixed size
 * (FP_SIZE + value size) and sorted by fingerprint. Memtables flush them,
 * runs store them in blocks. Returns the entry with fingerprint f, or NULL.
 */
static inline const uint8_t *entries_find(const uint8_t *base, size_t count, size_t entry_size,
					  const struct fp *f)
{
	size_t lo = 0, hi = count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = fp_cmp_at(base + mid * entry_size, f->b);
		if (c == 0)
			return base + mid * entry_size;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* The first 8 bytes as a number: already uniform, so a hash for tables. */
static inline uint64_t fp_hash(const struct fp *f)
{
	return fp_word(f->b, 0);
}

#endif
