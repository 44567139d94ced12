/*
 * fuzz_http_query.c — libFuzzer target for the HTTP request-target: the URI
 * as evhttp parses it off the request line, the router's path matching and
 * {id} decoding (from the path or the id parameter), the limit/before query parameters and the comment cursor.
 *
 * Whatever the bytes, nothing may crash or leak, and the results must hold
 * together: a decoded id fits its buffer and, percent-encoded again, routes
 * to the same place with the same bytes; a query accepted strictly is
 * accepted leniently with the same values; an accepted limit is in range;
 * a cursor that parses formats back to text that parses to the same cursor.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include "http_internal.h"
#include "http_query.h"
#include "pl_error.h"
#include "proj_read.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The canonical path of a route with an {id}, every id byte percent-encoded. */
static const char *id_route_prefix(enum http_route route)
{
	switch (route) {
	case HTTP_ROUTE_CAMPAIGN:
	case HTTP_ROUTE_COMMENTS:
	case HTTP_ROUTE_STREAM:
	case HTTP_ROUTE_HISTORY: return "/v1/campaigns/";
	case HTTP_ROUTE_PAGE: return "/c/";
	case HTTP_ROUTE_ASSET: return "/assets/";
	default: return NULL;
	}
}

static void check_id_round_trip(const struct http_target *t)
{
	if (t->id_rc == PL_ENOTFOUND || t->id_len == 0)
		return;
	const char *prefix = id_route_prefix(t->route);
	if (!prefix)
		abort();
	const char *suffix = t->route == HTTP_ROUTE_COMMENTS ? "/comments"
			     : t->route == HTTP_ROUTE_STREAM ? "/stream"
			     : t->route == HTTP_ROUTE_HISTORY ? "/history"
							      : "";
	/* Both forms: the id as the path segment, and as the id parameter. */
	char path[32 + 3 * HTTP_ID_MAX], query[8 + 3 * HTTP_ID_MAX];
	size_t n = (size_t)snprintf(path, sizeof path, "%s", prefix);
	size_t qn = (size_t)snprintf(query, sizeof query, "id=");
	for (size_t i = 0; i < t->id_len; i++) {
		n += (size_t)snprintf(path + n, sizeof path - n, "%%%02X", (unsigned char)t->id[i]);
		qn += (size_t)snprintf(query + qn, sizeof query - qn, "%%%02X", (unsigned char)t->id[i]);
	}
	snprintf(path + n, sizeof path - n, "%s", suffix);
	struct http_target again;
	http_route_match(path, NULL, &again);
	if (again.route != t->route || again.id_rc != 0 || again.id_len != t->id_len ||
	    again.id_in_query || memcmp(again.id, t->id, t->id_len) != 0)
		abort();
	if (t->route == HTTP_ROUTE_ASSET)
		return;
	snprintf(path, sizeof path, "%s%s", prefix, suffix);
	http_route_match(path, query, &again);
	if (again.route != t->route || again.id_rc != 0 || again.id_len != t->id_len ||
	    !again.id_in_query || memcmp(again.id, t->id, t->id_len) != 0)
		abort();
}

static void check_target(const char *path, const char *query)
{
	struct http_target t;
	http_route_match(path, query, &t);
	if (t.route < 0 || t.route >= HTTP_ROUTE_COUNT)
		abort();
	if (t.id_rc != 0 && t.id_rc != PL_EINVAL && t.id_rc != PL_ENOTFOUND)
		abort();
	if (t.id_len > HTTP_ID_MAX || t.id[t.id_len] != '\0')
		abort();
	if (t.id_rc == 0)
		check_id_round_trip(&t);
}

static void check_cursor(const char *text)
{
	struct proj_cursor cur, again;
	/* No id: an older pledged's form, which no cursor is formatted to. */
	if (proj_cursor_parse(text, strlen(text), &cur) || cur.id_len == 0)
		return;
	char buf[PROJ_CURSOR_MAX];
	proj_cursor_format(&cur, buf);
	if (proj_cursor_parse(buf, strlen(buf), &again) || again.at != cur.at ||
	    again.id_len != cur.id_len || memcmp(again.id, cur.id, cur.id_len) != 0)
		abort();
}

/* A list cursor that parses formats back to the same text, for every order's letter. */
static void check_list_cursor(const char *text)
{
	static const char orders[] = {0, 'r', 'n', 'c'};
	for (size_t i = 0; i < sizeof orders; i++) {
		uint8_t key[HTTP_CURSOR_KEY_MAX];
		char again[HTTP_ID_CURSOR_MAX];
		size_t len;
		if (!text[0] || !http_key_cursor_parse(orders[i], text, key, &len))
			continue;
		if (len < 1 || len > HTTP_CURSOR_KEY_MAX)
			abort();
		http_key_cursor_format(orders[i], key, len, again);
		if (strcmp(again, text) != 0)
			abort();
	}
}

static void check_query(const char *query)
{
	static const unsigned masks[] = {
		0, HTTP_Q_BEFORE, HTTP_Q_LIMIT | HTTP_Q_BEFORE,
		HTTP_Q_LIMIT | HTTP_Q_AFTER | HTTP_Q_STATUS | HTTP_Q_AS_OF | HTTP_Q_SORT,
		HTTP_Q_INTERVAL | HTTP_Q_FROM | HTTP_Q_TO};
	for (size_t i = 0; i < sizeof masks / sizeof masks[0]; i++) {
		struct http_query strict, lenient;
		char err[160] = "";
		int rc = http_query_parse(query, masks[i], true, &strict, err, sizeof err);
		if (rc != 0 && (rc != PL_EINVAL || !err[0]))
			abort();
		int lrc = http_query_parse(query, masks[i], false, &lenient, err, sizeof err);
		if (lrc != 0 && (lrc != PL_EINVAL || !err[0]))
			abort();
		if (lrc)
			lenient = (struct http_query){0};
		if (rc == 0 && (lrc != 0 || lenient.limit != strict.limit ||
				strcmp(lenient.before, strict.before) != 0 ||
				strcmp(lenient.after, strict.after) != 0 || lenient.status != strict.status))
			abort();
		if (lrc == 0) {
			if (lenient.limit < 1 || lenient.limit > HTTP_LIMIT_MAX)
				abort();
			if (strnlen(lenient.before, sizeof lenient.before) >= sizeof lenient.before)
				abort();
			check_cursor(lenient.before);
			check_list_cursor(lenient.after);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* evhttp keeps the request-target as a C string: it ends at a NUL. */
	char *target = malloc(size + 1);
	if (!target)
		return 0;
	memcpy(target, data, size);
	target[size] = '\0';

	/* The path alone, as a client could never send it (no URI parsing first). */
	check_target(target, NULL);

	struct evhttp_uri *uri = evhttp_uri_parse_with_flags(target, EVHTTP_URI_NONCONFORMANT);
	if (uri) {
		check_target(evhttp_uri_get_path(uri), evhttp_uri_get_query(uri));
		check_query(evhttp_uri_get_query(uri));
		evhttp_uri_free(uri);
	}
	/* Also the whole input as a query string, so the fuzzer need not find "?". */
	check_query(target);
	free(target);
	return 0;
}
