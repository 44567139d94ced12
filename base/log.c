/* log.c — leveled, line-at-a-time logging to stderr; see log.h. */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static _Atomic int max_level = LOG_INFO;

void log_set_level(enum log_level level)
{
	max_level = level;
}

int log_level_parse(const char *name)
{
	static const struct {
		const char *name;
		enum log_level level;
	} names[] = {{"error", LOG_ERROR}, {"warn", LOG_WARN}, {"info", LOG_INFO}, {"debug", LOG_DEBUG}};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strcmp(name, names[i].name) == 0)
			return (int)names[i].level;
	return -1;
}

static const char *level_name(enum log_level level)
{
	switch (level) {
	case LOG_ERROR: return "ERROR";
	case LOG_WARN: return "WARN";
	case LOG_INFO: return "INFO";
	case LOG_DEBUG: return "DEBUG";
	}
	return "?";
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	if ((int)level > max_level)
		return;
	char line[2048];
	size_t n;
	if (getenv("JOURNAL_STREAM")) {
		n = (size_t)snprintf(line, sizeof line, "<%d>", (int)level);
	} else {
		struct timespec ts;
		struct tm tm;
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
		n += (size_t)snprintf(line + n, sizeof line - n, ".%03ldZ %s ", ts.tv_nsec / 1000000,
				      level_name(level));
	}
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof line - n, fmt, ap);
	va_end(ap);
	n = m < 0 ? n : (n + (size_t)m >= sizeof line - 1 ? sizeof line - 2 : n + (size_t)m);
	line[n++] = '\n';
	/* One write per line, so lines from threads never interleave. */
	fwrite(line, 1, n, stderr);
}
