/*
 * on_two.h — one job split in two halves, run on two cores: the second
 * half on a thread of its own, the first on the caller's.
 */
#ifndef ON_TWO_H
#define ON_TWO_H

#include <pthread.h>
#include <stdbool.h>

/* Runs fn(a) on this thread and fn(b) on another, or on this one after when none starts. */
static inline void on_two(void *(*fn)(void *), void *a, void *b)
{
	pthread_t other;
	bool two = pthread_create(&other, NULL, fn, b) == 0;
	fn(a);
	if (two)
		pthread_join(other, NULL);
	else
		fn(b);
}

#endif
