/* time_text.c — times in the forms of time_text.h. */
#include "time_text.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* 9999-12-31T23:59:59.999Z: the last instant a date can name, and so the
 * bound for numbers too; it keeps sums of times and spans far from overflow. */
#define TIME_TEXT_MAX_MS 253402300799999LL

/* Length of s when it has exactly the shape ('d' a digit, else that character). */
static size_t shaped(const char *s, const char *shape)
{
	size_t i = 0;
	for (; shape[i]; i++)
		if (shape[i] == 'd' ? s[i] < '0' || s[i] > '9' : s[i] != shape[i])
			return 0;
	return i;
}

bool time_text_parse(const char *s, int64_t *ms)
{
	if (*s >= '0' && *s <= '9' && strspn(s, "0123456789") == strlen(s)) {
		errno = 0;
		unsigned long long n = strtoull(s, NULL, 10);
		if (errno || n > TIME_TEXT_MAX_MS)
			return false;
		*ms = (int64_t)n;
		return true;
	}
	/* Fixed widths, then a round trip through timegm: strptime alone takes
	 * "2020-1-10" and turns "2020-02-31" into March the 2nd. */
	static const struct {
		const char *shape, *format;
	} forms[] = {{"dddd-dd-ddTdd:dd:dd", "%Y-%m-%dT%H:%M:%S"},
		     {"dddd-dd-ddTdd:dd", "%Y-%m-%dT%H:%M"},
		     {"dddd-dd-dd", "%Y-%m-%d"}};
	for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
		size_t n = shaped(s, forms[i].shape);
		if (!n || !(s[n] == '\0' || (s[n] == 'Z' && s[n + 1] == '\0')))
			continue;
		struct tm tm = {0}, back;
		/* glibc's %M reads "60" as 6 and stops: the whole shape must be read
		 * (its %S takes 60 and 61, which the round trip refuses). */
		if (strptime(s, forms[i].format, &tm) != s + n)
			return false;
		struct tm asked = tm;
		time_t t = timegm(&tm);
		if (t < 0 || !gmtime_r(&t, &back) || back.tm_year != asked.tm_year ||
		    back.tm_mon != asked.tm_mon || back.tm_mday != asked.tm_mday ||
		    back.tm_hour != asked.tm_hour || back.tm_min != asked.tm_min ||
		    back.tm_sec != asked.tm_sec)
			return false;
		*ms = (int64_t)t * 1000;
		return true;
	}
	return false;
}
