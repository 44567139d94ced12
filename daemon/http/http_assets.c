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

/*
 * Pages link assets as NAME?v=VERSION, so a changed file gets a new URL and
 * browsers may keep one for a day; the ETag makes a revalidation cheap.
 */
void http_asset_serve(struct http_request *r)
{
	const struct http_asset *a = http_asset_find(r->id, r->id_len);
	if (!a) {
		http_reply_error(r, 404, "no such asset");
		return;
	}
	char etag[24];
	snprintf(etag, sizeof etag, "\"%s\"", a->version);
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
	evhttp_add_header(h, "ETag", etag);
	if (http_etag_matches(r->req, etag)) {
		http_reply_prepare(r, 304, NULL);
		evhttp_add_header(h, "Cache-Control", "public, max-age=86400");
		evhttp_send_reply(r->req, 304, "Not Modified", NULL);
		return;
	}
	struct evbuffer *b = evhttp_request_get_output_buffer(r->req);
	evbuffer_add_reference(b, a->data, a->len, NULL, NULL);
	http_reply_prepare(r, 200, NULL);
	http_reply_body(r, 200, a->content_type, "public, max-age=86400", b);
}
