/* http_query.c — the query parameters of http_query.h, parsed and bounded. */
#include "http_query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "hex.h"
#include "pl_error.h"
#include "time_text.h"

/* Digits only, 1..HTTP_LIMIT_MAX: "+5", " 5", "05x" and "1e2" are all refused. */
static bool parse_limit(const char *s, unsigned *out)
{
	unsigned v = 0;
	if (!*s || strlen(s) > 3)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (unsigned)(*s - '0');
	}
	if (v < 1 || v > HTTP_LIMIT_MAX)
		return false;
	*out = v;
	return true;
}

/* The parameters' names, bit i of a mask (HTTP_Q_*) naming names[i]. */
static const char *const names[] = {"limit", "before", "after", "status", "as_of",
				    "interval", "from", "to", "sort", "id"};
#define NAMES (sizeof names / sizeof names[0])

/* The parameters of allowed, in words: "limit and after", "no parameters". */
static void allowed_names(unsigned allowed, char *out, size_t size)
{
	size_t n = 0, count = 0, total = 0;
	for (size_t i = 0; i < NAMES; i++)
		total += (allowed >> i) & 1;
	out[0] = '\0';
	for (size_t i = 0; i < NAMES && n < size; i++) {
		if (!((allowed >> i) & 1))
			continue;
		count++;
		n += (size_t)snprintf(out + n, size - n, "%s%s",
				      count == 1 ? "" : count == total ? " and " : ", ", names[i]);
	}
	if (total == 0)
		snprintf(out, size, "no parameters");
}

/* Copies a cursor parameter's text into out (size bytes); false with err
 * when it is empty or too long to be one. */
static bool copy_cursor(const struct evkeyval *kv, char *out, size_t size, char *err,
			size_t err_size)
{
	size_t len = strlen(kv->value);
	if (len == 0 || len >= size) {
		snprintf(err, err_size, "%s must be a cursor from a 'next' field", kv->key);
		return false;
	}
	memcpy(out, kv->value, len + 1);
	return true;
}

/* Whether a pair of a query (key_len bytes of key, len in all) goes on to
 * evhttp: with strict every pair but an empty one, else only one of
 * allowed with a value. */
static bool pair_kept(const char *pair, size_t len, size_t key_len, unsigned allowed, bool strict)
{
	if (strict)
		return len > 0;
	for (size_t i = 0; i < NAMES; i++)
		if ((allowed >> i) & 1 && key_len < len && strlen(names[i]) == key_len &&
		    memcmp(pair, names[i], key_len) == 0)
			return true;
	return false;
}

/*
 * query's pairs into out (twice as long as query), but for those pair_kept
 * drops. Empty pairs ("?&limit=5", "limit=5&&sort=raised") are what a
 * browser or a URLSearchParams leaves, and evhttp refuses them. A path
 * that ignores unknown parameters keeps its own alone: links to the page
 * carry tracking tags of any form ("?ref", "?x=%00"), which need not parse.
 * A key without "=" ("?after") is given an empty value, which evhttp
 * takes: it is then refused as that key is with any other bad value.
 */
static void keep_pairs(const char *query, unsigned allowed, bool strict, char *out)
{
	size_t n = 0;
	for (const char *seg = query; *seg;) {
		size_t len = strcspn(seg, "&"), key_len = strcspn(seg, "=&");
		if (pair_kept(seg, len, key_len, allowed, strict)) {
			if (n)
				out[n++] = '&';
			memcpy(out + n, seg, len);
			n += len;
			if (key_len == len)
				out[n++] = '=';
		}
		seg += len + (seg[len] == '&');
	}
	out[n] = '\0';
}

int http_query_parse(const char *query, unsigned allowed, bool strict, struct http_query *q,
		     char *err, size_t err_size)
{
	q->limit = HTTP_LIMIT_DEFAULT;
	q->has_limit = false;
	q->before[0] = '\0';
	q->after[0] = '\0';
	q->status = HTTP_STATUS_ANY;
	q->has_as_of = q->has_from = q->has_to = q->has_id = false;
	q->interval = HTTP_INTERVAL_DAY;
	q->sort = PROJ_BY_ID;
	if (!query || !*query)
		return 0;
	struct evkeyvalq params;
	TAILQ_INIT(&params);
	int rc = 0;
	unsigned seen = 0;
	char *kept = malloc(2 * strlen(query) + 1);
	if (!kept) {
		snprintf(err, err_size, "out of memory");
		return PL_ENOMEM;
	}
	keep_pairs(query, allowed, strict, kept);
	query = kept;
	/* Values are decoded into C strings: a NUL would cut one short unseen. */
	if (strstr(query, "%00")) {
		snprintf(err, err_size, "a parameter holds a NUL byte (%%00)");
		rc = PL_EINVAL;
		goto cleanup;
	}
	if (evhttp_parse_query_str(query, &params) != 0) {
		snprintf(err, err_size, "malformed query string");
		rc = PL_EINVAL;
		goto cleanup;
	}
	struct evkeyval *kv;
	TAILQ_FOREACH(kv, &params, next) {
		unsigned key = 0;
		for (size_t n = 0; n < NAMES && !key; n++)
			if (strcmp(kv->key, names[n]) == 0)
				key = 1u << n;
		if (!(key & allowed)) { /* strict: keep_pairs left no other */
			char takes[96];
			allowed_names(allowed, takes, sizeof takes);
			snprintf(err, err_size, "unknown parameter; this path takes %s", takes);
			rc = PL_EINVAL;
			goto cleanup;
		}
		if (seen & key) {
			snprintf(err, err_size, "parameter %s given twice", kv->key);
			rc = PL_EINVAL;
			goto cleanup;
		}
		seen |= key;
		q->has_limit |= key == HTTP_Q_LIMIT;
		if (key == HTTP_Q_LIMIT && !parse_limit(kv->value, &q->limit)) {
			snprintf(err, err_size, "limit must be a whole number from 1 to %d",
				 HTTP_LIMIT_MAX);
			rc = PL_EINVAL;
			goto cleanup;
		}
		if ((key == HTTP_Q_BEFORE && !copy_cursor(kv, q->before, sizeof q->before, err, err_size)) ||
		    (key == HTTP_Q_AFTER && !copy_cursor(kv, q->after, sizeof q->after, err, err_size))) {
			rc = PL_EINVAL;
			goto cleanup;
		}
		int64_t *time = key == HTTP_Q_AS_OF ? &q->as_of
				: key == HTTP_Q_FROM ? &q->from
				: key == HTTP_Q_TO   ? &q->to
						     : NULL;
		if (time && !time_text_parse(kv->value, time)) {
			snprintf(err, err_size, "%s must be a time: milliseconds since 1970, or a UTC "
						"date such as 2020-01-10 or 2020-01-10T12:00:00Z",
				 kv->key);
			rc = PL_EINVAL;
			goto cleanup;
		}
		q->has_as_of |= key == HTTP_Q_AS_OF;
		q->has_from |= key == HTTP_Q_FROM;
		q->has_to |= key == HTTP_Q_TO;
		q->has_id |= key == HTTP_Q_ID;
		if (key == HTTP_Q_INTERVAL) {
			if (strcmp(kv->value, "hour") == 0) {
				q->interval = HTTP_INTERVAL_HOUR;
			} else if (strcmp(kv->value, "day") == 0) {
				q->interval = HTTP_INTERVAL_DAY;
			} else if (strcmp(kv->value, "week") == 0) {
				q->interval = HTTP_INTERVAL_WEEK;
			} else {
				snprintf(err, err_size, "interval must be hour, day or week");
				rc = PL_EINVAL;
				goto cleanup;
			}
		}
		if (key == HTTP_Q_SORT) {
			if (strcmp(kv->value, "raised") == 0) {
				q->sort = PROJ_BY_RAISED;
			} else if (strcmp(kv->value, "newest") == 0) {
				q->sort = PROJ_BY_NEWEST;
			} else if (strcmp(kv->value, "closing") == 0) {
				q->sort = PROJ_BY_CLOSING;
			} else {
				snprintf(err, err_size, "sort must be raised, newest or closing");
				rc = PL_EINVAL;
				goto cleanup;
			}
		}
		if (key == HTTP_Q_STATUS) {
			if (strcmp(kv->value, "open") == 0) {
				q->status = HTTP_STATUS_OPEN;
			} else if (strcmp(kv->value, "closed") == 0) {
				q->status = HTTP_STATUS_CLOSED;
			} else {
				snprintf(err, err_size, "status must be open or closed");
				rc = PL_EINVAL;
				goto cleanup;
			}
		}
	}
cleanup:
	evhttp_clear_headers(&params);
	free(kept);
	return rc;
}

void http_key_cursor_format(char order, const void *key, size_t len, char out[HTTP_ID_CURSOR_MAX])
{
	if (len > HTTP_CURSOR_KEY_MAX)
		len = HTTP_CURSOR_KEY_MAX;
	if (order)
		*out++ = order;
	hex_encode(key, len, out);
}

bool http_key_cursor_parse(char order, const char *cursor, uint8_t key[HTTP_CURSOR_KEY_MAX],
			   size_t *len)
{
	if (order && *cursor++ != order)
		return false;
	size_t n = strlen(cursor);
	if (n == 0 || n > 2 * HTTP_CURSOR_KEY_MAX || !hex_decode_lower(cursor, n, key))
		return false;
	*len = n / 2;
	return true;
}
