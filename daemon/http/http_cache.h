/*
 * http_cache.h — a worker's cache of rendered JSON bodies.
 *
 * Answers are a pure function of the request and of the log position and
 * projections' generation they reflect (the position's tag). So a body
 * rendered once can be sent again, without LMDB lookups, jansson or a copy,
 * to every request for the same thing until the position moves. One cache per worker
 * thread: no locks. Bodies are reference-counted because an evbuffer may
 * still be sending one after the cache replaced it. A cache keeps at most
 * 8 MiB of bodies: what is being sent is counted as queued output instead.
 */
#ifndef HTTP_CACHE_H
#define HTTP_CACHE_H

#include <stddef.h>

#include <event2/buffer.h>

struct http_cache;
struct http_blob;

/* Longest request key cached (route, id and query); longer ones are not. */
#define HTTP_CACHE_KEY_MAX 512

struct http_cache *http_cache_new(void);
void http_cache_free(struct http_cache *c);

/* The body cached for key when it was rendered at etag, or NULL. */
struct http_blob *http_cache_get(struct http_cache *c, const char *key, size_t key_len,
				 const char *etag);

/*
 * Caches text (malloc'd, len bytes; ownership passes to the cache, which
 * frees it on failure too) as the body for key at etag. Returns the blob
 * (owned by the cache) or NULL when it could not be kept.
 */
struct http_blob *http_cache_put(struct http_cache *c, const char *key, size_t key_len,
				 const char *etag, char *text, size_t len);

/*
 * A JSON answer's ETag is a hash of its bytes: it depends on the content
 * only, so replicas with equal content give equal tags, and events of other
 * campaigns do not change a campaign's ("c" and 16 hex digits, quoted).
 */
#define HTTP_CONTENT_ETAG_SIZE 20
void http_content_etag(const char *text, size_t len, char out[HTTP_CONTENT_ETAG_SIZE]);
/* The content ETag of a cached body. */
const char *http_blob_etag(const struct http_blob *b);

/* Appends the blob's bytes to out without copying. Returns 0 or -1. */
int http_blob_add_to(struct http_blob *b, struct evbuffer *out);

#endif
