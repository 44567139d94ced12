/*
 * http_query.h — the query parameters of docs/http.md: limit, before,
 * after and status, checked once for every route that takes them.
 *
 * Under /v1/ an unknown or repeated parameter is a 400, so a typo such as
 * "?limt=5" is reported instead of silently ignored. The web page ignores
 * parameters it does not know (links may carry tracking tags).
 */
#ifndef HTTP_QUERY_H
#define HTTP_QUERY_H

#include <stdbool.h>
#include <stddef.h>

#define HTTP_LIMIT_DEFAULT 20
#define HTTP_LIMIT_MAX 100

enum http_query_keys {
	HTTP_Q_LIMIT = 1 << 0,
	HTTP_Q_BEFORE = 1 << 1,
	HTTP_Q_AFTER = 1 << 2,
	HTTP_Q_STATUS = 1 << 3,
};

enum http_status_filter { HTTP_STATUS_ANY, HTTP_STATUS_OPEN, HTTP_STATUS_CLOSED };

struct http_query {
	unsigned limit;   /* 1..HTTP_LIMIT_MAX; HTTP_LIMIT_DEFAULT when absent */
	bool has_limit;   /* limit was given */
	char before[64];  /* decoded cursor text; "" when absent */
	char after[160];  /* decoded cursor text; "" when absent */
	enum http_status_filter status;
};

/*
 * Parses query (the raw string after "?", or NULL) allowing the keys in
 * the allowed mask. strict makes unknown and repeated keys errors.
 * Returns 0, or PL_EINVAL with a message for the client in err.
 */
int http_query_parse(const char *query, unsigned allowed, bool strict, struct http_query *q,
		     char *err, size_t err_size);

/* A cursor into a list ordered by id: the last id shown, as hex. */
#define HTTP_ID_CURSOR_MAX (2 * 64 + 1)
void http_id_cursor_format(const char *id, size_t len, char out[HTTP_ID_CURSOR_MAX]);
/* The id a cursor names (1..64 bytes into id); false if it is not one. */
bool http_id_cursor_parse(const char *cursor, char id[64], size_t *len);

#endif
