/* event_redact.c — events and rejected messages without a supporter's personal fields. */
#include "event_redact.h"

#include <jansson.h>
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

/* Whether the bytes before p (`before` of them) are a msgpack header, of a
 * string in any of its four forms or of binary data in any of its three,
 * for n bytes. */
static bool header_before(const uint8_t *p, size_t before, uint32_t n)
{
	if (before >= 1 && n < 32 && p[-1] == (0xa0 | n))
		return true;
	if (before >= 2 && n <= UINT8_MAX && p[-2] == 0xd9 && p[-1] == n)
		return true;
	if (before >= 3 && p[-3] == 0xda && bytes_get_be16(p - 2) == n)
		return true;
	if (before >= 5 && p[-5] == 0xdb && bytes_get_be32(p - 4) == n)
		return true;
	if (before >= 2 && n <= UINT8_MAX && p[-2] == 0xc4 && p[-1] == n)
		return true;
	if (before >= 3 && p[-3] == 0xc5 && bytes_get_be16(p - 2) == n)
		return true;
	return before >= 5 && p[-5] == 0xc6 && bytes_get_be32(p - 4) == n;
}

/* Whether JSON value v holds id as a string (a key or a value), whatever
 * escapes spelled it. */
static bool json_holds(json_t *v, struct pl_str id, int depth)
{
	const char *key;
	json_t *item;
	size_t i;
	if (depth > 64)
		return false;
	if (json_is_string(v))
		return json_string_length(v) == id.len &&
		       memcmp(json_string_value(v), id.ptr, id.len) == 0;
	if (json_is_object(v)) {
		json_object_foreach(v, key, item) {
			if ((strlen(key) == id.len && memcmp(key, id.ptr, id.len) == 0) ||
			    json_holds(item, id, depth + 1))
				return true;
		}
	}
	if (json_is_array(v))
		json_array_foreach(v, i, item)
			if (json_holds(item, id, depth + 1))
				return true;
	return false;
}

/* A message sent as JSON (not msgpack) may spell the id with escapes
 * (\u00e9, \/): read as JSON, when it is. */
static bool json_names(const void *raw, size_t len, struct pl_str id)
{
	const uint8_t *p = raw, *end = p + len;
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	if (p == end || (*p != '{' && *p != '['))
		return false;
	json_t *v = json_loadb(raw, len, JSON_ALLOW_NUL, NULL);
	if (!v)
		return false;
	bool holds = json_holds(v, id, 0);
	json_decref(v);
	return holds;
}

static bool word_byte(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.' || c >= 0x80;
}

bool pl_bytes_name(const void *raw, size_t len, struct pl_str id)
{
	const uint8_t *start = raw, *end = start + len, *p = start;
	if (id.len == 0)
		return false;
	while ((p = memmem(p, (size_t)(end - p), id.ptr, id.len))) {
		size_t before = (size_t)(p - start);
		const uint8_t *after = p + id.len;
		if (header_before(p, before, id.len) ||
		    ((before == 0 || !word_byte(p[-1])) && (after == end || !word_byte(*after))))
			return true;
		p++;
	}
	return json_names(raw, len, id);
}
