/*
 * clock.h — the time now in milliseconds: by the wall clock for times that
 * are stored or shown, by the monotonic clock for deadlines and durations
 * (in microseconds for durations summed in counters, mostly shorter than
 * a millisecond).
 */
#ifndef CLOCK_H
#define CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t clock_ms(clockid_t which)
{
	struct timespec ts;
	clock_gettime(which, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int64_t clock_wall_ms(void)
{
	return clock_ms(CLOCK_REALTIME);
}

static inline int64_t clock_mono_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

/* Like clock_mono_ms(), and counting the time the machine was suspended. */
static inline int64_t clock_boot_ms(void)
{
	return clock_ms(CLOCK_BOOTTIME);
}

static inline int64_t clock_mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The wall-clock time ms from now: the deadline pthread_cond_timedwait takes
 * for a condition variable left on its default clock. */
static inline struct timespec clock_realtime_after(int ms)
{
	struct timespec at;
	clock_gettime(CLOCK_REALTIME, &at);
	at.tv_sec += ms / 1000;
	at.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (at.tv_nsec >= 1000000000L) {
		at.tv_sec++;
		at.tv_nsec -= 1000000000L;
	}
	return at;
}

#endif
