/*
 * array.h — room in a growing array, doubled as it fills, for the lists
 * that are built in memory one element at a time.
 */
#ifndef ARRAY_H
#define ARRAY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

/*
 * Makes *p (room for *cap elements of size bytes) hold at least want,
 * doubling from 64; false without memory (*p and *cap unchanged).
 */
static inline bool array_reserve(void **p, size_t *cap, size_t want, size_t size)
{
	if (want <= *cap)
		return true;
	size_t n = *cap ? *cap : 64;
	while (n < want)
		n *= 2;
	if (n > SIZE_MAX / size)
		return false;
	void *q = realloc(*p, n * size);
	if (!q)
		return false;
	*p = q;
	*cap = n;
	return true;
}

#endif
