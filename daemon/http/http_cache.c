/* http_cache.c — per-worker cache of rendered bodies; see http_cache.h. */
#include "http_cache.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

/* Direct-mapped: a colliding key simply replaces the older body. */
#define SLOTS 256
/* Bodies kept at most, per worker: beyond it older slots are emptied, so a
 * client paging through large answers cannot make the cache hold them all. */
#define CACHE_BYTES (8u << 20)

struct http_blob {
	int refs; /* the cache's, plus one per evbuffer still sending it */
	size_t len;
	char *text;
	char etag[HTTP_CONTENT_ETAG_SIZE]; /* of the text (http_content_etag) */
};

struct slot {
	char key[HTTP_CACHE_KEY_MAX];
	size_t key_len;
	char etag[64];
	struct http_blob *blob;
};

struct http_cache {
	struct slot slots[SLOTS];
	size_t bytes; /* of the bodies in slots */
	size_t hand;  /* the next slot to empty when over CACHE_BYTES */
};

static void blob_unref(struct http_blob *b)
{
	if (b && --b->refs == 0) {
		free(b->text);
		free(b);
	}
}

/* evbuffer's cleanup: the bytes were sent (or the connection dropped). */
static void blob_sent_cb(const void *data, size_t len, void *blob)
{
	(void)data;
	(void)len;
	blob_unref(blob);
}

/* Bodies still being sent keep their own reference. */
static void slot_empty(struct http_cache *c, struct slot *s)
{
	if (s->blob) {
		c->bytes -= s->blob->len;
		blob_unref(s->blob);
		s->blob = NULL;
	}
}

struct http_cache *http_cache_new(void)
{
	return calloc(1, sizeof(struct http_cache));
}

void http_cache_free(struct http_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < SLOTS; i++)
		blob_unref(c->slots[i].blob);
	free(c);
}

static struct slot *slot_for(struct http_cache *c, const char *key, size_t len)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)key[i]) * 16777619u;
	return &c->slots[h % SLOTS];
}

struct http_blob *http_cache_get(struct http_cache *c, const char *key, size_t key_len,
				 const char *etag)
{
	if (!c || key_len > HTTP_CACHE_KEY_MAX)
		return NULL;
	struct slot *s = slot_for(c, key, key_len);
	if (s->blob && s->key_len == key_len && memcmp(s->key, key, key_len) == 0 &&
	    strcmp(s->etag, etag) == 0)
		return s->blob;
	return NULL;
}

struct http_blob *http_cache_put(struct http_cache *c, const char *key, size_t key_len,
				 const char *etag, char *text, size_t len)
{
	struct http_blob *b = NULL;
	if (c && key_len <= HTTP_CACHE_KEY_MAX && strlen(etag) < sizeof c->slots[0].etag)
		b = malloc(sizeof *b);
	if (!b) {
		free(text);
		return NULL;
	}
	*b = (struct http_blob){.refs = 1, .len = len, .text = text};
	http_content_etag(text, len, b->etag);
	struct slot *s = slot_for(c, key, key_len);
	slot_empty(c, s);
	memcpy(s->key, key, key_len);
	s->key_len = key_len;
	strcpy(s->etag, etag);
	s->blob = b;
	c->bytes += len;
	/* Over budget: empty other slots, oldest position first (the new body
	 * stays even when it alone is over: it is about to be sent). */
	for (size_t n = 0; c->bytes > CACHE_BYTES && n < SLOTS; n++, c->hand = (c->hand + 1) % SLOTS)
		if (&c->slots[c->hand] != s)
			slot_empty(c, &c->slots[c->hand]);
	return b;
}

void http_content_etag(const char *text, size_t len, char out[HTTP_CONTENT_ETAG_SIZE])
{
	snprintf(out, HTTP_CONTENT_ETAG_SIZE, "\"c%016" PRIx64 "\"", (uint64_t)XXH3_64bits(text, len));
}

const char *http_blob_etag(const struct http_blob *b)
{
	return b->etag;
}

int http_blob_add_to(struct http_blob *b, struct evbuffer *out)
{
	b->refs++;
	if (evbuffer_add_reference(out, b->text, b->len, blob_sent_cb, b) == 0)
		return 0;
	b->refs--;
	return -1;
}
