/* time_text.c — times in the forms of time_text.h. */
#include "time_text.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

bool time_text_parse(const char *s, int64_t *ms)
{
	if (*s >= '0' && *s <= '9' && strspn(s, "0123456789") == strlen(s)) {
		errno = 0;
		unsigned long long n = strtoull(s, NULL, 10);
		if (errno || n > INT64_MAX)
			return false;
		*ms = (int64_t)n;
		return true;
	}
	struct tm tm = {0};
	const char *formats[] = {"%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d"};
	for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
		memset(&tm, 0, sizeof tm);
		const char *end = strptime(s, formats[i], &tm);
		if (end && (*end == '\0' || (end[0] == 'Z' && end[1] == '\0'))) {
			*ms = (int64_t)timegm(&tm) * 1000;
			return true;
		}
	}
	return false;
}
