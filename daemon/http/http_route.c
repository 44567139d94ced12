/*
 * http_route.c — which route a request path names, and its {id} (see
 * docs/http.md for the routes).
 *
 * Path segments are percent-decoded one by one after splitting, so an id
 * may contain an encoded "/" ("%2F"). An empty {id} segment means the id is
 * the query's `id` parameter (http_internal.h says why), decoded as evhttp
 * decodes every other parameter: a '+' there is a space, as a form or
 * URLSearchParams writes it. A pure function of the strings, fuzzed apart
 * from the server (tests/fuzz/fuzz_http_query.c).
 */
#include <string.h>

#include "hex.h"
#include "http_internal.h"
#include "pl_error.h"

const char *const http_route_names[HTTP_ROUTE_COUNT + 1] = {
#define HTTP_ROUTE_NAME(e, name, path, listeners) name,
	HTTP_ROUTES(HTTP_ROUTE_NAME)
#undef HTTP_ROUTE_NAME
	[HTTP_METRICS_UNPARSED] = "unparsed",
};

const int http_route_listeners[HTTP_ROUTE_COUNT] = {
#define HTTP_ROUTE_LISTENERS(e, name, path, listeners) listeners,
	HTTP_ROUTES(HTTP_ROUTE_LISTENERS)
#undef HTTP_ROUTE_LISTENERS
};

_Static_assert(HTTP_ROUTE_COUNT + 1 <= METRICS_HTTP_ROUTES, "metrics counts too few HTTP routes");

#define MAX_SEGMENTS 4

struct segment {
	const char *p;
	size_t len;
};

/*
 * Percent-decodes s into out (at most HTTP_ID_MAX bytes, then NUL), with
 * plus_is_space each '+' as a space. Returns the decoded length, -1 when it
 * is too long, -2 for a bad escape.
 */
static long decode_segment(const struct segment *s, bool plus_is_space, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < s->len; i++) {
		char c = s->p[i];
		if (c == '+' && plus_is_space) {
			c = ' ';
		} else if (c == '%') {
			int hi = i + 2 < s->len ? hex_value(s->p[i + 1]) : -1;
			int lo = hi >= 0 ? hex_value(s->p[i + 2]) : -1;
			if (lo < 0)
				return -2;
			c = (char)(hi * 16 + lo);
			i += 2;
		}
		if (o == HTTP_ID_MAX)
			return -1;
		out[o++] = c;
	}
	out[o] = '\0';
	return (long)o;
}

static bool seg_is(const struct segment *s, const char *word)
{
	return s->len == strlen(word) && memcmp(s->p, word, s->len) == 0;
}

/* Splits "/a/b/c" into segments; returns how many, or -1 when too many. */
static int split_path(const char *path, struct segment *segs)
{
	int n = 0;
	if (path[0] != '/')
		return -1;
	if (path[1] == '\0')
		return 0;
	const char *p = path + 1;
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		if (n == MAX_SEGMENTS)
			return -1;
		segs[n++] = (struct segment){p, len};
		if (!slash)
			return n;
		p = slash + 1;
	}
}

/* Which route a path names, and which segment (if any) is its {id}. */
static enum http_route match(const struct segment *s, int n, int *id_seg)
{
	*id_seg = -1;
	if (n == 0)
		return HTTP_ROUTE_PAGE;
	if (n == 1 && seg_is(&s[0], "healthz"))
		return HTTP_ROUTE_HEALTHZ;
	if (n == 1 && seg_is(&s[0], "readyz"))
		return HTTP_ROUTE_READYZ;
	if (n == 1 && seg_is(&s[0], "metrics"))
		return HTTP_ROUTE_METRICS;
	if (n == 2 && seg_is(&s[0], "c")) {
		*id_seg = 1;
		return HTTP_ROUTE_PAGE;
	}
	if (n == 2 && seg_is(&s[0], "assets") && s[1].len) {
		*id_seg = 1;
		return HTTP_ROUTE_ASSET;
	}
	if (n < 2 || !seg_is(&s[0], "v1"))
		return HTTP_ROUTE_UNKNOWN;
	if (n == 2 && seg_is(&s[1], "rejections"))
		return HTTP_ROUTE_REJECTIONS;
	if (n == 2 && seg_is(&s[1], "cluster"))
		return HTTP_ROUTE_CLUSTER;
	if (n == 2 && seg_is(&s[1], "totals"))
		return HTTP_ROUTE_TOTALS;
	if (!seg_is(&s[1], "campaigns"))
		return HTTP_ROUTE_UNKNOWN;
	if (n == 2)
		return HTTP_ROUTE_CAMPAIGNS;
	*id_seg = 2;
	if (n == 3)
		return HTTP_ROUTE_CAMPAIGN;
	if (seg_is(&s[3], "comments"))
		return HTTP_ROUTE_COMMENTS;
	if (seg_is(&s[3], "stream"))
		return HTTP_ROUTE_STREAM;
	if (seg_is(&s[3], "history"))
		return HTTP_ROUTE_HISTORY;
	*id_seg = -1;
	return HTTP_ROUTE_UNKNOWN;
}

/* The raw value of the query's first `id` parameter, or false. */
static bool query_id(const char *query, struct segment *out)
{
	for (const char *p = query; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {
		if (strncmp(p, "id=", 3) == 0) {
			const char *end = strchr(p + 3, '&');
			*out = (struct segment){p + 3, end ? (size_t)(end - p - 3) : strlen(p + 3)};
			return true;
		}
	}
	return false;
}

void http_route_match(const char *path, const char *query, struct http_target *t)
{
	struct segment segs[MAX_SEGMENTS];
	int id_seg = -1;
	int n = path ? split_path(path, segs) : -1;
	t->route = n >= 0 ? match(segs, n, &id_seg) : HTTP_ROUTE_UNKNOWN;
	t->id_rc = PL_OK;
	t->id[0] = '\0';
	t->id_len = 0;
	t->id_in_query = false;
	if (id_seg < 0)
		return;
	struct segment id = segs[id_seg];
	if (id.len == 0) {
		t->id_in_query = query_id(query, &id) && id.len > 0;
		if (!t->id_in_query) {
			t->route = HTTP_ROUTE_UNKNOWN;
			return;
		}
	}
	long len = decode_segment(&id, t->id_in_query, t->id);
	if (len >= 0) {
		t->id_len = (size_t)len;
	} else {
		t->id_rc = len == -2 ? PL_EINVAL : PL_ENOTFOUND;
		t->id[0] = '\0';
	}
}
