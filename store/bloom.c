/* bloom.c — a blocked Bloom filter; see bloom.h. */
#include "bloom.h"

#include <string.h>

#include "big_alloc.h"
#include "pl_error.h"

#define BLOOM_K 6

int bloom_init(struct bloom *b, size_t bytes)
{
	b->blocks = bytes / BLOOM_BLOCK ? bytes / BLOOM_BLOCK : 1;
	b->bits = big_alloc(bloom_size(b));
	return b->bits ? PL_OK : PL_ENOMEM;
}

void bloom_deinit(struct bloom *b)
{
	big_free(b->bits, bloom_size(b));
	b->bits = NULL;
	b->blocks = 0;
}

int bloom_load(struct bloom *b, const void *data, size_t len)
{
	if (len != bloom_size(b))
		return PL_EINVAL;
	memcpy(b->bits, data, len);
	return PL_OK;
}

/* The block of f (from its first half) and its bits (from its second). */
static uint8_t *block_of(const struct bloom *b, const struct fp *f, uint64_t *bits)
{
	uint64_t h = fp_hash(f);
	*bits = fp_word(f->b, 1);
	/* Multiply-shift maps h onto 0..blocks-1 without a division. */
	size_t block = (size_t)(((unsigned __int128)h * b->blocks) >> 64);
	return b->bits + block * BLOOM_BLOCK;
}

void bloom_add(struct bloom *b, const struct fp *f)
{
	uint64_t bits;
	uint8_t *block = block_of(b, f, &bits);
	for (int i = 0; i < BLOOM_K; i++, bits >>= 9)
		block[(bits & 511) >> 3] |= (uint8_t)(1u << (bits & 7));
}

void bloom_prefetch(const struct bloom *b, const struct fp *f)
{
	uint64_t bits;
	__builtin_prefetch(block_of(b, f, &bits));
}

bool bloom_may_contain(const struct bloom *b, const struct fp *f)
{
	uint64_t bits;
	const uint8_t *block = block_of(b, f, &bits);
	for (int i = 0; i < BLOOM_K; i++, bits >>= 9)
		if (!(block[(bits & 511) >> 3] & (1u << (bits & 7))))
			return false;
	return true;
}
