/*
 * hex.h — bytes as hex digits: the cursors pledged hands out (keys and ids
 * in lowercase, which they are read back in only), percent escapes and
 * JSON's \u escapes (either case).
 */
#ifndef HEX_H
#define HEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The value of a lowercase hex digit, or -1. */
static inline int hex_lower_value(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The value of a hex digit of either case, or -1. */
static inline int hex_value(char c)
{
	return c >= 'A' && c <= 'F' ? c - 'A' + 10 : hex_lower_value(c);
}

/* Writes in[0..len) as 2 * len lowercase digits to out, and a NUL. */
static inline void hex_encode(const void *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	const uint8_t *b = in;
	for (size_t i = 0; i < len; i++) {
		*out++ = digits[b[i] >> 4];
		*out++ = digits[b[i] & 15];
	}
	*out = '\0';
}

/* Reads n lowercase digits (n even) as n / 2 bytes into out; false when
 * n is odd or one is no such digit. */
static inline bool hex_decode_lower(const char *in, size_t n, uint8_t *out)
{
	if (n % 2)
		return false;
	for (size_t i = 0; i < n; i += 2) {
		int hi = hex_lower_value(in[i]), lo = hex_lower_value(in[i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

#endif
