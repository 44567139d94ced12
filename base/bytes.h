/*
 * bytes.h — integers in stored keys and values.
 *
 * Keys use big-endian so that LMDB's byte order sorts them like numbers;
 * values use little-endian, or varints where a record is written per event
 * and most numbers are small. All are spelled out byte by byte so the data
 * dir means the same on every host.
 */
#ifndef BYTES_H
#define BYTES_H

#include <stddef.h>
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

static inline uint16_t bytes_get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
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

/* The most bytes a varint takes. */
#define BYTES_VARINT_MAX 10

/* Unsigned LEB128: seven bits a byte, lowest first. Returns the bytes written. */
static inline size_t bytes_put_uvarint(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	for (; v >= 0x80; v >>= 7)
		p[n++] = (uint8_t)(v | 0x80);
	p[n++] = (uint8_t)v;
	return n;
}

/* Reads a varint of at most len bytes; returns its size, 0 when it is cut short or too long. */
static inline size_t bytes_get_uvarint(const uint8_t *p, size_t len, uint64_t *v)
{
	*v = 0;
	for (size_t n = 0; n < len && n < BYTES_VARINT_MAX; n++) {
		*v |= (uint64_t)(p[n] & 0x7f) << (7 * n);
		if (!(p[n] & 0x80))
			return n + 1;
	}
	return 0;
}

/* Signed varints zigzag: 0, -1, 1, -2… as 0, 1, 2, 3…, so small magnitudes stay short. */
static inline size_t bytes_put_svarint(uint8_t *p, int64_t v)
{
	return bytes_put_uvarint(p, ((uint64_t)v << 1) ^ -(uint64_t)(v < 0));
}

static inline size_t bytes_get_svarint(const uint8_t *p, size_t len, int64_t *v)
{
	uint64_t u;
	size_t n = bytes_get_uvarint(p, len, &u);
	*v = (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
	return n;
}

#endif
