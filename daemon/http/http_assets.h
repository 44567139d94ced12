/*
 * http_assets.h — the web page's static files (in daemon/http/web), compiled into
 * the binary by daemon/http/web/embed.c so pledged serves them itself.
 */
#ifndef HTTP_ASSETS_H
#define HTTP_ASSETS_H

#include <stddef.h>

struct http_asset {
	const char *name;         /* file name, e.g. "page.css" */
	const char *content_type;
	const unsigned char *data;
	size_t len;
	const char *version;      /* hash of the content, 16 hex digits */
};

/* Generated (web_assets.c). */
extern const struct http_asset http_assets[];
extern const size_t http_asset_count;

/* The asset called name (len bytes), or NULL. */
const struct http_asset *http_asset_find(const char *name, size_t len);

#endif
