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
 * The room for at least want elements of size bytes that an array of room
 * cap grows to, doubling from 64, into *n; false when it would not fit.
 */
static inline bool array_grown_cap(size_t cap, size_t want, size_t size, size_t *n)
{
	*n = cap ? cap : 64;
	while (*n < want)
		*n *= 2;
	return *n <= SIZE_MAX / size;
}

/*
 * Makes *p (room for *cap elements of size bytes) hold at least want,
 * doubling from 64; false without memory (*p and *cap unchanged).
 */
static inline bool array_reserve(void **p, size_t *cap, size_t want, size_t size)
{
	size_t n;
	if (want <= *cap)
		return true;
	if (!array_grown_cap(*cap, want, size, &n))
		return false;
	void *q = realloc(*p, n * size);
	if (!q)
		return false;
	*p = q;
	*cap = n;
	return true;
}

#endif
