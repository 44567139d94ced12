/*
 * mp_reader.h — a bounded, zero-copy msgpack reader.
 *
 * Why not msgpack_unpack(): msgpack-c trusts the element counts a message
 * declares and allocates for them before reading (its issue #1013: the five
 * bytes dd ff 00 00 00 ask for ~96 GB). This reader never allocates, checks
 * every length against the bytes left, and bounds nesting, so hostile input
 * costs at most one pass over its own bytes. Encoding still uses msgpack-c.
 */
#ifndef MP_READER_H
#define MP_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Deepest nesting skip() will walk before calling the input malformed. */
#define MP_MAX_DEPTH 32

struct mp_reader {
	const uint8_t *p;
	const uint8_t *end;
};

enum mp_status {
	MP_OK = 0,
	MP_TRUNCATED = -1,  /* the bytes end inside a value */
	MP_WRONG_TYPE = -2, /* a value of another type is here */
	MP_TOO_DEEP = -3,   /* nesting deeper than MP_MAX_DEPTH */
	MP_RESERVED = -4,   /* byte 0xc1, never valid */
	MP_INT_RANGE = -5,  /* an unsigned integer above INT64_MAX */
};

static inline void mp_reader_init(struct mp_reader *r, const void *buf, size_t len)
{
	r->p = buf;
	r->end = r->p + len;
}

static inline size_t mp_reader_left(const struct mp_reader *r)
{
	return (size_t)(r->end - r->p);
}

/* Reads a map header; *count is the number of key/value pairs. */
int mp_read_map(struct mp_reader *r, uint32_t *count);

/* Reads a str; *s points into the buffer. */
int mp_read_str(struct mp_reader *r, const char **s, uint32_t *len);

/* Reads any msgpack integer that fits int64_t (MP_INT_RANGE if above). */
int mp_read_int(struct mp_reader *r, int64_t *v);

/*
 * One element of a message as it comes, what it holds not read: a map's
 * or an array's header (items: how many values follow for it, a map's
 * keys and values both), a string or binary (its bytes), or anything else
 * (a number, nil, a boolean, an extension: bytes holds its payload).
 */
struct mp_token {
	enum { MP_TOKEN_SCALAR, MP_TOKEN_CONTAINER, MP_TOKEN_BYTES } kind;
	uint64_t items;
	const uint8_t *bytes;
	uint64_t len;
};

/* Reads the next token, whatever its depth: any nesting is the caller's,
 * and so is a container announcing more items than bytes are left. MP_OK,
 * MP_TRUNCATED or MP_RESERVED. */
int mp_read_token(struct mp_reader *r, struct mp_token *t);

/* Skips one whole value, nested ones included. */
int mp_skip(struct mp_reader *r);

/* A short text for an mp_status. */
const char *mp_strerror(int status);

#endif
