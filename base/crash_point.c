/* crash_point.c — dying on purpose at a named point; see crash_point.h. */
#include "crash_point.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const names[CRASH_POINT_COUNT] = {
#define CRASH_POINT_NAME(e, name, state) name,
	CRASH_POINTS(CRASH_POINT_NAME)
#undef CRASH_POINT_NAME
};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int target = -1;     /* the point PLEDGED_CRASH_AT names; -1: none */
static long target_pass = 1; /* die on this pass */
static atomic_long passes;

static void read_environment(void)
{
	const char *at = getenv("PLEDGED_CRASH_AT");
	if (!at || !*at)
		return;
	size_t len = strcspn(at, ":");
	for (int p = 0; p < CRASH_POINT_COUNT; p++)
		if (strlen(names[p]) == len && memcmp(names[p], at, len) == 0)
			target = p;
	if (at[len] == ':')
		target_pass = strtol(at + len + 1, NULL, 10);
	if (target < 0 || target_pass < 1) {
		fprintf(stderr, "PLEDGED_CRASH_AT=%s names no crash point\n", at);
		_exit(2);
	}
}

void crash_point(enum crash_point p)
{
	pthread_once(&once, read_environment);
	if ((int)p != target || atomic_fetch_add(&passes, 1) + 1 != target_pass)
		return;
	/* One write(2): stdio may hold locks of a thread that is mid-call. */
	char line[128];
	int n = snprintf(line, sizeof line, "crash point %s: dying as asked\n", names[p]);
	ssize_t ignored = write(STDERR_FILENO, line, (size_t)n);
	(void)ignored;
	_exit(CRASH_POINT_EXIT);
}
