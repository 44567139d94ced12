/*
 * time_text.h — times as people and URLs write them: milliseconds since
 * 1970, or a UTC date and time in ISO 8601 ("2020-01-10",
 * "2020-01-10T12:30", "2020-01-10T12:30:00Z"). The command line and the
 * HTTP API take the same forms.
 */
#ifndef TIME_TEXT_H
#define TIME_TEXT_H

#include <stdbool.h>
#include <stdint.h>

/* Parses s into milliseconds since 1970 (UTC), from 1970 up to the end of
 * year 9999; false when it is neither form, out of that range, or names a
 * day or time that does not exist ("2021-02-29", "12:30:60"). */
bool time_text_parse(const char *s, int64_t *ms);

/* The forms, for messages that refuse a time. */
#define TIME_TEXT_FORMS "Unix ms or a UTC time that exists, as YYYY-MM-DD[THH:MM[:SS]][Z]"


#endif
