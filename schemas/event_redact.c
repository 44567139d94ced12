/* event_redact.c — events and rejected messages without a supporter's personal fields. */
#include "event_redact.h"

#include <stdlib.h>
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

static bool word_byte(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.' || c >= 0x80;
}

/* Whether text[0..n) holds id as a word: its ends or a byte that is no
 * word's on each side. */
static bool holds_word(const uint8_t *text, size_t n, struct pl_str id)
{
	const uint8_t *end = text + n, *p = text;
	while ((p = memmem(p, (size_t)(end - p), id.ptr, id.len))) {
		const uint8_t *after = p + id.len;
		if ((p == text || !word_byte(p[-1])) && (after == end || !word_byte(*after)))
			return true;
		p++;
	}
	return false;
}

/*
 * Whether a msgpack map or array at the start of raw holds id as a word of
 * one of its strings or binaries, however deep: a string's own ends bound
 * its words, where its header's bytes would pass for letters. Read token
 * by token, counting the values still due, so that no nesting is too deep
 * for it; what it read before the message breaks off or miscounts counts
 * too (such a message is kept as a rejection, bytes and all). A message
 * that is one string or binary, whole, likewise.
 */
static bool msgpack_names(const void *raw, size_t len, struct pl_str id)
{
	struct mp_reader r;
	struct mp_token t;
	mp_reader_init(&r, raw, len);
	if (mp_read_token(&r, &t))
		return false;
	if (t.kind == MP_TOKEN_BYTES)
		return mp_reader_left(&r) == 0 && holds_word(t.bytes, t.len, id);
	if (t.kind != MP_TOKEN_CONTAINER)
		return false;
	/* Each value due takes a byte at least: so due stays below len. */
	for (uint64_t due = t.items; due > 0 && due <= mp_reader_left(&r); due--) {
		if (mp_read_token(&r, &t))
			return false;
		if (t.kind == MP_TOKEN_CONTAINER)
			due += t.items;
		else if (t.kind == MP_TOKEN_BYTES && holds_word(t.bytes, t.len, id))
			return true;
	}
	return false;
}

/* Appends code point c in UTF-8 (U+FFFD for a lone surrogate). */
static uint8_t *put_utf8(uint8_t *out, uint32_t c)
{
	if (c >= 0xd800 && c <= 0xdfff)
		c = 0xfffd;
	if (c < 0x80) {
		*out++ = (uint8_t)c;
	} else if (c < 0x800) {
		*out++ = (uint8_t)(0xc0 | c >> 6);
		*out++ = (uint8_t)(0x80 | (c & 0x3f));
	} else if (c < 0x10000) {
		*out++ = (uint8_t)(0xe0 | c >> 12);
		*out++ = (uint8_t)(0x80 | (c >> 6 & 0x3f));
		*out++ = (uint8_t)(0x80 | (c & 0x3f));
	} else {
		*out++ = (uint8_t)(0xf0 | c >> 18);
		*out++ = (uint8_t)(0x80 | (c >> 12 & 0x3f));
		*out++ = (uint8_t)(0x80 | (c >> 6 & 0x3f));
		*out++ = (uint8_t)(0x80 | (c & 0x3f));
	}
	return out;
}

/* The four hex digits at p (there are n bytes), or -1. */
static long hex4(const uint8_t *p, size_t n)
{
	long v = 0;
	for (size_t i = 0; i < 4; i++) {
		int d = i >= n ? -1
			: p[i] >= '0' && p[i] <= '9' ? p[i] - '0'
			: p[i] >= 'a' && p[i] <= 'f' ? p[i] - 'a' + 10
			: p[i] >= 'A' && p[i] <= 'F' ? p[i] - 'A' + 10
						     : -1;
		if (d < 0)
			return -1;
		v = v << 4 | d;
	}
	return v;
}

/* Decodes JSON's escapes in s[0..n) into out (n bytes at most: no escape
 * is longer decoded); its length. A backslash that begins no escape is
 * kept as it stands. */
static size_t json_unescape(const uint8_t *s, size_t n, uint8_t *out)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	uint8_t *o = out;
	for (size_t i = 0; i < n; i++) {
		const char *e = i + 1 < n && s[i] == '\\' && s[i + 1] ? strchr(from, s[i + 1]) : NULL;
		long c = i + 1 < n && s[i] == '\\' && s[i + 1] == 'u' ? hex4(s + i + 2, n - i - 2) : -1;
		if (e) {
			*o++ = (uint8_t)to[e - from];
			i++;
		} else if (c >= 0) {
			i += 5;
			long low = c >= 0xd800 && c <= 0xdbff && i + 2 < n && s[i + 1] == '\\' &&
					   s[i + 2] == 'u'
				       ? hex4(s + i + 3, n - i - 3)
				       : -1;
			if (low >= 0xdc00 && low <= 0xdfff) {
				c = 0x10000 + ((c - 0xd800) << 10) + (low - 0xdc00);
				i += 6;
			}
			o = put_utf8(o, (uint32_t)c);
		} else {
			*o++ = s[i];
		}
	}
	return (size_t)(o - out);
}

/*
 * Whether raw, its escapes read as JSON's (\u00e9, \/, a surrogate pair),
 * holds id as a word: a gateway's JSON library may spell the id so. The
 * whole message is read so, not each string literal: a message that is no
 * valid JSON (bad UTF-8 in another string, two documents, a byte-order
 * mark, a key twice, a stray quote) still names them, at any depth.
 */
static bool escapes_name(const uint8_t *raw, size_t len, struct pl_str id)
{
	if (!memchr(raw, '\\', len))
		return false; /* the bytes as they are, which the caller has read */
	uint8_t *decoded = malloc(len);
	bool named = decoded && holds_word(decoded, json_unescape(raw, len, decoded), id);
	free(decoded);
	return named;
}

bool pl_bytes_name(const void *raw, size_t len, struct pl_str id)
{
	const uint8_t *start = raw, *end = start + len, *p = start;
	if (id.len == 0)
		return false;
	while ((p = memmem(p, (size_t)(end - p), id.ptr, id.len))) {
		size_t before = (size_t)(p - start);
		const uint8_t *after = p + id.len;
		/* A backslash after it may begin an escape that goes on with the
		 * word ("sup-4\u0032" is "sup-42"): escapes_name() reads those. */
		if (header_before(p, before, id.len) ||
		    ((before == 0 || !word_byte(p[-1])) &&
		     (after == end || (!word_byte(*after) && *after != '\\'))))
			return true;
		p++;
	}
	return msgpack_names(raw, len, id) || escapes_name(raw, len, id);
}
