/*
 * bytes.h — fixed-width integers in stored keys and values.
 *
 * Keys use big-endian so that LMDB's byte order sorts them like numbers;
 * values use little-endian. Both are spelled out byte by byte so the data
 * dir means the same on every host.
 */
#ifndef BYTES_H
#define BYTES_H

#include <stdint.h>
#include <string.h>

static inline void bytes_put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static inline uint64_t bytes_get_be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

static inline void bytes_put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void bytes_put_be32(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static inline uint32_t bytes_get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void bytes_put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

static inline uint64_t bytes_get_le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static inline void bytes_put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline uint16_t bytes_get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline void bytes_put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint32_t bytes_get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Signed values in keys: flip the sign bit so negatives sort first. */
static inline void bytes_put_be64_signed(uint8_t *p, int64_t v)
{
	bytes_put_be64(p, (uint64_t)v ^ UINT64_C(0x8000000000000000));
}

static inline int64_t bytes_get_be64_signed(const uint8_t *p)
{
	return (int64_t)(bytes_get_be64(p) ^ UINT64_C(0x8000000000000000));
}

#endif
