/* mp_reader.c — bounded msgpack reading; see mp_reader.h for why. */
#include "mp_reader.h"

static bool take(struct mp_reader *r, size_t n, const uint8_t **out)
{
	if (mp_reader_left(r) < n)
		return false;
	*out = r->p;
	r->p += n;
	return true;
}

static uint64_t load_be(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

/* Reads an n-byte big-endian length or value. */
static int read_be(struct mp_reader *r, size_t n, uint64_t *v)
{
	const uint8_t *p;
	if (!take(r, n, &p))
		return MP_TRUNCATED;
	*v = load_be(p, n);
	return MP_OK;
}

int mp_read_map(struct mp_reader *r, uint32_t *count)
{
	const uint8_t *tag;
	uint64_t n;
	if (!take(r, 1, &tag))
		return MP_TRUNCATED;
	if ((*tag & 0xf0) == 0x80) {
		*count = *tag & 0x0f;
		return MP_OK;
	}
	if (*tag != 0xde && *tag != 0xdf) {
		r->p--;
		return MP_WRONG_TYPE;
	}
	int rc = read_be(r, *tag == 0xde ? 2 : 4, &n);
	if (rc)
		return rc;
	/* Each pair takes at least two bytes: refuse counts the input cannot hold. */
	if (n > mp_reader_left(r) / 2)
		return MP_TRUNCATED;
	*count = (uint32_t)n;
	return MP_OK;
}

int mp_read_str(struct mp_reader *r, const char **s, uint32_t *len)
{
	const uint8_t *tag, *body;
	uint64_t n;
	if (!take(r, 1, &tag))
		return MP_TRUNCATED;
	if ((*tag & 0xe0) == 0xa0) {
		n = *tag & 0x1f;
	} else if (*tag >= 0xd9 && *tag <= 0xdb) {
		int rc = read_be(r, (size_t)1 << (*tag - 0xd9), &n);
		if (rc)
			return rc;
	} else {
		r->p--;
		return MP_WRONG_TYPE;
	}
	if (!take(r, n, &body))
		return MP_TRUNCATED;
	*s = (const char *)body;
	*len = (uint32_t)n;
	return MP_OK;
}

int mp_read_int(struct mp_reader *r, int64_t *v)
{
	const uint8_t *tag;
	uint64_t u;
	int rc;
	if (!take(r, 1, &tag))
		return MP_TRUNCATED;
	if (*tag <= 0x7f) {
		*v = *tag;
		return MP_OK;
	}
	if (*tag >= 0xe0) {
		*v = (int8_t)*tag;
		return MP_OK;
	}
	switch (*tag) {
	case 0xcc: case 0xcd: case 0xce: case 0xcf:
		rc = read_be(r, (size_t)1 << (*tag - 0xcc), &u);
		if (rc)
			return rc;
		if (u > INT64_MAX)
			return MP_INT_RANGE;
		*v = (int64_t)u;
		return MP_OK;
	case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
		size_t n = (size_t)1 << (*tag - 0xd0);
		rc = read_be(r, n, &u);
		if (rc)
			return rc;
		/* Sign-extend the n-byte two's complement value. */
		unsigned shift = (unsigned)(64 - 8 * n);
		*v = (int64_t)(u << shift) >> shift;
		return MP_OK;
	}
	}
	r->p--;
	return MP_WRONG_TYPE;
}

/* Takes the n bytes a token holds. */
static int take_bytes(struct mp_reader *r, uint64_t n, struct mp_token *t)
{
	if (n > mp_reader_left(r))
		return MP_TRUNCATED;
	t->bytes = r->p;
	t->len = n;
	r->p += n;
	return MP_OK;
}

int mp_read_token(struct mp_reader *r, struct mp_token *t)
{
	const uint8_t *tag;
	uint64_t n;
	int rc;
	*t = (struct mp_token){MP_TOKEN_SCALAR, 0, NULL, 0};
	if (!take(r, 1, &tag))
		return MP_TRUNCATED;
	uint8_t b = *tag;
	if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
		return MP_OK;
	if ((b & 0xe0) == 0x80) { /* fixmap, fixarray */
		t->kind = MP_TOKEN_CONTAINER;
		t->items = (b & 0xf0) == 0x80 ? 2u * (b & 0x0f) : b & 0x0f;
		return MP_OK;
	}
	if ((b & 0xe0) == 0xa0) {
		t->kind = MP_TOKEN_BYTES;
		return take_bytes(r, b & 0x1f, t);
	}
	switch (b) {
	case 0xc1:
		return MP_RESERVED;
	case 0xc4: case 0xc5: case 0xc6: /* bin 8/16/32 */
	case 0xd9: case 0xda: case 0xdb: /* str 8/16/32 */
		if ((rc = read_be(r, (size_t)1 << (b >= 0xd9 ? b - 0xd9 : b - 0xc4), &n)))
			return rc;
		t->kind = MP_TOKEN_BYTES;
		return take_bytes(r, n, t);
	case 0xc7: case 0xc8: case 0xc9: /* ext 8/16/32: length, type byte, data */
		if ((rc = read_be(r, (size_t)1 << (b - 0xc7), &n)))
			return rc;
		return take_bytes(r, n + 1, t);
	case 0xca: return take_bytes(r, 4, t);
	case 0xcb: return take_bytes(r, 8, t);
	case 0xcc: case 0xcd: case 0xce: case 0xcf:
		return take_bytes(r, (size_t)1 << (b - 0xcc), t);
	case 0xd0: case 0xd1: case 0xd2: case 0xd3:
		return take_bytes(r, (size_t)1 << (b - 0xd0), t);
	case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8: /* fixext */
		return take_bytes(r, 1 + ((size_t)1 << (b - 0xd4)), t);
	case 0xdc: case 0xdd: /* array 16/32 */
	case 0xde: case 0xdf: /* map 16/32 */
		if ((rc = read_be(r, b == 0xdc || b == 0xde ? 2 : 4, &n)))
			return rc;
		t->kind = MP_TOKEN_CONTAINER;
		t->items = b >= 0xde ? 2 * n : n;
		return MP_OK;
	}
	return MP_RESERVED;
}

/* Skips a value inside depth containers; a container is a level, whatever it holds. */
static int skip_value(struct mp_reader *r, int depth)
{
	struct mp_token t;
	int rc = mp_read_token(r, &t);
	if (rc || t.kind != MP_TOKEN_CONTAINER)
		return rc;
	if (depth >= MP_MAX_DEPTH)
		return MP_TOO_DEEP;
	/* Every item takes a byte at least: refuse counts the input cannot hold. */
	if (t.items > mp_reader_left(r))
		return MP_TRUNCATED;
	for (uint64_t i = 0; i < t.items; i++)
		if ((rc = skip_value(r, depth + 1)))
			return rc;
	return MP_OK;
}

int mp_skip(struct mp_reader *r)
{
	return skip_value(r, 0);
}

const char *mp_strerror(int status)
{
	switch (status) {
	case MP_OK: return "ok";
	case MP_TRUNCATED: return "truncated";
	case MP_WRONG_TYPE: return "unexpected type";
	case MP_TOO_DEEP: return "nested too deeply";
	case MP_RESERVED: return "reserved byte 0xc1";
	case MP_INT_RANGE: return "integer above int64 range";
	}
	return "unknown";
}
