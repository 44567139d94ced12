/* event_names.c — whether a message names a supporter; see event_names.h. */
#include "event_names.h"

#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "hex.h"
#include "mp_reader.h"

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
	/* Each token takes a byte: however many a header announces, the walk
	 * ends with the bytes (due grows by 2^33 a token at most: no overflow). */
	for (uint64_t due = t.items; due > 0 && mp_reader_left(&r) > 0; due--) {
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
		int d = i < n ? hex_value((char)p[i]) : -1;
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
