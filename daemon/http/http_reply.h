/*
 * http_reply.h — the one way every handler answers: status, common headers
 * (log position, lag, caching), JSON bodies and JSON errors, conditional
 * requests, and the request counter in metrics.
 */
#ifndef HTTP_REPLY_H
#define HTTP_REPLY_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "http_cache.h"
#include "http_internal.h"

/* An entity tag, quoted, with room for what is appended to it (answer_tag). */
#define HTTP_TAG_SIZE 64

/*
 * The log position an answer reflects: X-Pledged-Seq, and the tag under
 * which the worker's cache keeps its body (a JSON answer's ETag is a hash of
 * its content instead, http_cache.h; a stream's is this one).
 */
struct http_position {
	uint64_t seq;
	uint64_t generation;
	enum store_slot slot; /* the live slot the answer is read from */
	char etag[HTTP_TAG_SIZE]; /* quoted */
};

/* Sets pos from the last log sequence, the projections' generation (raised
 * by each replay) and, when rejections matter for the answer, the last
 * rejection sequence (0 otherwise). */
void http_position_set(struct http_position *pos, uint64_t seq, uint64_t generation,
		       uint64_t rejection_seq);

/* Adds the partitions an answer covers (ownership_generation) to its tag. */
void http_position_cover(struct http_position *pos, uint64_t ownership);

/* Whether the request's If-None-Match lists etag (a quoted tag) or "*". */
bool http_etag_matches(struct evhttp_request *req, const char *etag);


/*
 * Answers status with body as compact JSON (see VIEW_DUMP_FLAGS). Takes the
 * reference to body; a NULL body (a builder ran out of memory) becomes 500.
 * pos, when not NULL, adds ETag and X-Pledged-Seq.
 */
/* evbuffer cleanup for a body malloc'd by the handler: frees it once sent. */
void http_free_text_cb(const void *data, size_t len, void *arg);

/*
 * Answers 200 with a JSON body rendered earlier and cached by the worker
 * (http_cache.h), without copying it.
 */
void http_reply_cached(struct http_request *r, struct http_blob *body,
		       const struct http_position *pos);

/*
 * Answers 200 with body (a new reference, dropped here), and keeps the
 * rendered text in the worker's cache under key (at most
 * HTTP_CACHE_KEY_MAX bytes) for the answer's position.
 */
void http_reply_json_cached(struct http_request *r, json_t *body, const struct http_position *pos,
			    const char *key, size_t key_len);

void http_reply_json(struct http_request *r, int status, json_t *body,
		     const struct http_position *pos);

/* Answers status with {"error": message}. */
void http_reply_error(struct http_request *r, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Answers 405 with the Allow header: GET and HEAD, and OPTIONS on the public listener. */
void http_reply_method(struct http_request *r);

/* Answers an OPTIONS on the public listener (a browser's CORS preflight): 204, what it may ask. */
void http_reply_preflight(struct http_request *r);

/*
 * Answers status with body (drained) as content_type. cache_control NULL
 * means "no-cache"; a Cache-Control header the handler already set wins.
 */
void http_reply_body(struct http_request *r, int status, const char *content_type,
		     const char *cache_control, struct evbuffer *body);

/*
 * Adds the headers every answer carries (lag, position when pos is not
 * NULL, nosniff, Date; on the public listener, CORS's) and counts the
 * answer in metrics. Used by the reply
 * functions above, and by streams before evhttp_send_reply_start().
 */
void http_reply_prepare(struct http_request *r, int status, const struct http_position *pos);

#endif
