/* http_assets.c — serving the embedded files under /assets/NAME. */
#include "http_assets.h"

#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "http_internal.h"
#include "http_reply.h"

const struct http_asset *http_asset_find(const char *name, size_t len)
{
	for (size_t i = 0; i < http_asset_count; i++)
		if (strlen(http_assets[i].name) == len && memcmp(http_assets[i].name, name, len) == 0)
			return &http_assets[i];
	return NULL;
}

/* The value of v= in a query string, or NULL; *len its length. */
static const char *version_asked(const char *query, size_t *len)
{
	for (const char *p = query; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {
		if (strncmp(p, "v=", 2) == 0) {
			*len = strcspn(p + 2, "&");
			return p + 2;
		}
	}
	return NULL;
}

/*
 * Pages link assets as NAME?v=VERSION (a hash of the content), so that URL
 * names one content for good: it may be cached for a year. Another version
 * is a 404 that no cache keeps, so during a rolling upgrade an old instance
 * never lets a cache store its file under the new URL. Without v= the
 * answer must be revalidated (its ETag makes that cheap).
 */
void http_asset_serve(struct http_request *r)
{
	const struct http_asset *a = http_asset_find(r->id, r->id_len);
	if (!a) {
		http_reply_error(r, 404, "no such asset");
		return;
	}
	size_t vlen = 0;
	const char *v = version_asked(r->query, &vlen);
	if (v && (vlen != strlen(a->version) || memcmp(v, a->version, vlen) != 0)) {
		http_reply_error(r, 404, "no such version of this asset");
		return;
	}
	const char *cache = v ? "public, max-age=31536000, immutable" : "no-cache";
	char etag[24];
	snprintf(etag, sizeof etag, "\"%s\"", a->version);
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
	evhttp_add_header(h, "ETag", etag);
	if (http_etag_matches(r->req, etag)) {
		http_reply_prepare(r, 304, NULL);
		evhttp_add_header(h, "Cache-Control", cache);
		evhttp_send_reply(r->req, 304, "Not Modified", NULL);
		return;
	}
	struct evbuffer *b = evhttp_request_get_output_buffer(r->req);
	evbuffer_add_reference(b, a->data, a->len, NULL, NULL);
	http_reply_prepare(r, 200, NULL);
	http_reply_body(r, 200, a->content_type, cache, b);
}
