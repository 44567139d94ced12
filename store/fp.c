/* fp.c — fingerprints with XXH3-128; see fp.h. */
#include "fp.h"

/* XXH3_state_t on the stack needs its definition. */
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "bytes.h"

static void from_hash(struct fp *out, XXH128_hash_t h)
{
	bytes_put_be64(out->b, h.high64);
	bytes_put_be64(out->b + 8, h.low64);
	/* All zeros marks an empty slot in memtables: never hand it out. */
	if (!h.high64 && !h.low64)
		out->b[FP_SIZE - 1] = 1;
}

void fp_of(struct fp *out, uint8_t kind, const void *id, size_t len)
{
	from_hash(out, XXH3_128bits_withSeed(id, len, kind));
}

void fp_of_pair(struct fp *out, uint8_t kind, const void *a, size_t alen, const void *b,
		size_t blen)
{
	/* The first id's length goes in too: ("ab","c") and ("a","bc") differ.
	 * Ids are short: one call over a copy costs less than XXH3's streaming
	 * state, and hashes the same bytes to the same value. */
	uint8_t flat[256];
	if (alen + blen <= sizeof flat - 8) {
		bytes_put_le64(flat, alen);
		if (alen) /* an absent id is (NULL, 0): memcpy must not see the NULL */
			memcpy(flat + 8, a, alen);
		if (blen)
			memcpy(flat + 8 + alen, b, blen);
		from_hash(out, XXH3_128bits_withSeed(flat, 8 + alen + blen, kind));
		return;
	}
	XXH3_state_t state;
	uint8_t len_le[8];
	bytes_put_le64(len_le, alen);
	XXH3_128bits_reset_withSeed(&state, kind);
	XXH3_128bits_update(&state, len_le, sizeof len_le);
	XXH3_128bits_update(&state, a, alen);
	XXH3_128bits_update(&state, b, blen);
	from_hash(out, XXH3_128bits_digest(&state));
}
