/* event_redact.c — events and rejected messages without a supporter's personal fields. */
#include "event_redact.h"

#include <string.h>

#include "bytes.h"
#include "mp_reader.h"

static size_t map_header(uint8_t *out, uint32_t count)
{
	if (count < 16) {
		out[0] = (uint8_t)(0x80 | count);
		return 1;
	}
	if (count <= UINT16_MAX) {
		out[0] = 0xde;
		bytes_put_be16(out + 1, (uint16_t)count);
		return 3;
	}
	out[0] = 0xdf;
	bytes_put_be32(out + 1, count);
	return 5;
}

/* The msgpack encoding of string s (at most 5 + s.len bytes) into out; its size. */
static size_t msgpack_str(struct pl_str s, uint8_t *out)
{
	size_t n;
	if (s.len < 32) {
		out[0] = (uint8_t)(0xa0 | s.len);
		n = 1;
	} else if (s.len <= UINT8_MAX) {
		out[0] = 0xd9;
		out[1] = (uint8_t)s.len;
		n = 2;
	} else if (s.len <= UINT16_MAX) {
		out[0] = 0xda;
		bytes_put_be16(out + 1, (uint16_t)s.len);
		n = 3;
	} else {
		out[0] = 0xdb;
		bytes_put_be32(out + 1, s.len);
		n = 5;
	}
	memcpy(out + n, s.ptr, s.len);
	return n + s.len;
}

static bool key_is(const char *key, uint32_t len, enum pl_field f)
{
	return len == pl_field_defs[f].key_len && memcmp(key, pl_field_defs[f].key, len) == 0;
}

size_t pl_event_redact(const void *raw, size_t len, uint8_t *out)
{
	struct mp_reader r;
	uint32_t count, kept = 0;
	mp_reader_init(&r, raw, len);
	if (mp_read_map(&r, &count))
		return 0;
	/* Pairs first, after room for the largest map header; the header last. */
	uint8_t *body = out + 5, *p = body;
	for (uint32_t i = 0; i < count; i++) {
		const uint8_t *pair = r.p;
		const char *key;
		uint32_t key_len;
		if (mp_read_str(&r, &key, &key_len))
			return 0;
		const uint8_t *value = r.p;
		if (mp_skip(&r))
			return 0;
		if (key_is(key, key_len, PL_F_NAME))
			continue;
		if (key_is(key, key_len, PL_F_TEXT)) {
			memcpy(p, pair, (size_t)(value - pair));
			p += value - pair;
			p += msgpack_str((struct pl_str){PL_ERASED_TEXT, sizeof PL_ERASED_TEXT - 1}, p);
		} else {
			memcpy(p, pair, (size_t)(r.p - pair));
			p += r.p - pair;
		}
		kept++;
	}
	uint8_t head[5];
	size_t head_len = map_header(head, kept);
	memmove(out + head_len, body, (size_t)(p - body));
	memcpy(out, head, head_len);
	return head_len + (size_t)(p - body);
}

bool pl_event_personal_of(const void *raw, size_t len, struct pl_str id)
{
	struct mp_reader r;
	uint32_t count;
	bool theirs = false, personal = false;
	mp_reader_init(&r, raw, len);
	if (mp_read_map(&r, &count))
		return false;
	for (uint32_t i = 0; i < count; i++) {
		const char *key, *value;
		uint32_t key_len, value_len;
		if (mp_read_str(&r, &key, &key_len))
			return false;
		if (key_is(key, key_len, PL_F_SUPPORTER)) {
			struct mp_reader at = r;
			theirs = mp_read_str(&at, &value, &value_len) == 0 && value_len == id.len &&
				 memcmp(value, id.ptr, id.len) == 0;
		}
		personal = personal || key_is(key, key_len, PL_F_NAME) || key_is(key, key_len, PL_F_TEXT);
		if (mp_skip(&r))
			return false;
	}
	return theirs && personal;
}
