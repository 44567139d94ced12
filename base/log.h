/*
 * log.h — one line per notable event, to stderr.
 *
 * Under systemd (JOURNAL_STREAM set) lines carry a <N> priority prefix that
 * journald understands; elsewhere a UTC timestamp and the level name.
 * Messages name the object (campaign, partition, offset) and, for errors,
 * what the operator should do.
 */
#ifndef LOG_H
#define LOG_H

enum log_level { LOG_ERROR = 3, LOG_WARN = 4, LOG_INFO = 6, LOG_DEBUG = 7 };

/* Lines above this level are dropped. Default LOG_INFO. */
void log_set_level(enum log_level level);
/* Parses "error", "warn", "info" or "debug"; returns -1 when unknown. */
int log_level_parse(const char *name);

/* Writes one line at level (dropped when above the set level), printf-style. */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
