/*
 * http_query.h — the query parameters of docs/http.md: limit, before,
 * after, status, as_of, interval, from, to, sort and id, checked once for
 * every route that takes them.
 *
 * Under /v1/ an unknown or repeated parameter is a 400, so a typo such as
 * "?limt=5" is reported instead of silently ignored. The web page ignores
 * parameters it does not know (links may carry tracking tags).
 */
#ifndef HTTP_QUERY_H
#define HTTP_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proj_read.h"
#include "proj_records.h"

#define HTTP_LIMIT_DEFAULT 20
#define HTTP_LIMIT_MAX 100
/* Campaigns a list looks at per request, shown or skipped by its filters. */
#define HTTP_LIST_SCAN_MAX 5000
/* History rows a page of the list as of a time reads before it ends early
 * (http_server_options.list_rows_max): about 0.1-0.3 s here. */
#define HTTP_LIST_ROWS_MAX 200000

enum http_query_keys {
	HTTP_Q_LIMIT = 1 << 0,
	HTTP_Q_BEFORE = 1 << 1,
	HTTP_Q_AFTER = 1 << 2,
	HTTP_Q_STATUS = 1 << 3,
	HTTP_Q_AS_OF = 1 << 4,
	HTTP_Q_INTERVAL = 1 << 5,
	HTTP_Q_FROM = 1 << 6,
	HTTP_Q_TO = 1 << 7,
	HTTP_Q_SORT = 1 << 8,
	HTTP_Q_ID = 1 << 9, /* the campaign id, read by the router (http_internal.h) */
};

enum http_status_filter { HTTP_STATUS_ANY, HTTP_STATUS_OPEN, HTTP_STATUS_CLOSED };

/* A chart's bucket: an hour, a day or a week (from Monday) of UTC; at most
 * this many in one answer. */
#define HTTP_HISTORY_BUCKETS 1000
enum http_interval { HTTP_INTERVAL_HOUR, HTTP_INTERVAL_DAY, HTTP_INTERVAL_WEEK };

struct http_query {
	unsigned limit;   /* 1..HTTP_LIMIT_MAX; HTTP_LIMIT_DEFAULT when absent */
	bool has_limit;   /* limit was given */
	char before[PROJ_CURSOR_MAX]; /* decoded cursor text; "" when absent */
	char after[160];  /* decoded cursor text; "" when absent */
	enum http_status_filter status;
	bool has_as_of, has_from, has_to;
	int64_t as_of, from, to; /* ms since 1970, when given */
	enum http_interval interval; /* HTTP_INTERVAL_DAY when absent */
	enum proj_order sort;        /* PROJ_BY_ID when absent */
	bool has_id;                 /* an id parameter was given (and allowed) */
};

/*
 * Parses query (the raw string after "?", or NULL) allowing the keys in
 * the allowed mask, each once. strict makes other keys errors; otherwise
 * they are ignored, well-formed or not.
 * Returns 0, or PL_EINVAL with a message for the client in err.
 */
int http_query_parse(const char *query, unsigned allowed, bool strict, struct http_query *q,
		     char *err, size_t err_size);

/*
 * A cursor into a list of campaigns: the key of the last one shown in the
 * list's order (an id, or a sort key and an id), as hex, after a letter
 * naming the order when it is not by id.
 */
#define HTTP_CURSOR_KEY_MAX 72
#define HTTP_ID_CURSOR_MAX (1 + 2 * HTTP_CURSOR_KEY_MAX + 1)
void http_key_cursor_format(char order, const void *key, size_t len, char out[HTTP_ID_CURSOR_MAX]);
/* The key a cursor of that order names (1..HTTP_CURSOR_KEY_MAX bytes); false if it is not one. */
bool http_key_cursor_parse(char order, const char *cursor, uint8_t key[HTTP_CURSOR_KEY_MAX],
			   size_t *len);

#endif
