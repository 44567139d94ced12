/* http_reply.c — status, headers, JSON bodies and errors for every answer. */
#include "http_reply.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>

#include "metrics.h"
#include "views.h"

#define JSON_TYPE "application/json; charset=utf-8"

void http_position_set(struct http_position *pos, uint64_t seq, uint64_t generation,
		       uint64_t rejection_seq)
{
	char gen[24] = "", rej[24] = "";
	pos->seq = seq;
	pos->generation = generation;
	if (generation)
		snprintf(gen, sizeof gen, ".g%" PRIu64, generation);
	if (rejection_seq)
		snprintf(rej, sizeof rej, "-%" PRIu64, rejection_seq);
	snprintf(pos->etag, sizeof pos->etag, "\"%" PRIu64 "%s%s\"", seq, gen, rej);
}

void http_position_cover(struct http_position *pos, uint64_t ownership)
{
	size_t n = strlen(pos->etag);
	if (ownership && n >= 2)
		snprintf(pos->etag + n - 1, sizeof pos->etag - (n - 1), ".o%" PRIu64 "\"", ownership);
}

void http_reply_prepare(struct http_request *r, int status, const struct http_position *pos)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
	char num[32];
	snprintf(num, sizeof num, "%" PRId64, metrics_total_lag(r->w->hs->m));
	evhttp_add_header(h, "X-Pledged-Lag", num);
	if (pos) {
		snprintf(num, sizeof num, "%" PRIu64, pos->seq);
		evhttp_add_header(h, "X-Pledged-Seq", num);
		evhttp_add_header(h, "ETag", pos->etag);
	}
	char parts[256];
	if (ownership_view_describe(&r->owner, parts, sizeof parts))
		evhttp_add_header(h, "X-Pledged-Partitions", parts);
	if (ownership_view_describe_behind(&r->owner, parts, sizeof parts))
		evhttp_add_header(h, "X-Pledged-Catching-Up", parts);
	if (r->owner.lost_ms) {
		snprintf(num, sizeof num, "%" PRId64, r->owner.lost_ms);
		evhttp_add_header(h, "X-Pledged-Stale-Since", num);
	}
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	/* The public listener's figures are anyone's to read: a dashboard on
	 * another origin may fetch them, and read the headers that say how
	 * fresh they are. The operators' listener says nothing, so a browser
	 * keeps its answers from every other origin. */
	if (r->w->hs->opt.listener == HTTP_PUBLIC) {
		evhttp_add_header(h, "Access-Control-Allow-Origin", "*");
		evhttp_add_header(h, "Access-Control-Expose-Headers",
				  "ETag, X-Pledged-Seq, X-Pledged-Lag, X-Pledged-Partitions, "
				  "X-Pledged-Catching-Up, X-Pledged-Stale-Since");
	}
	/* evhttp dates answers to HTTP/1.1 only; RFC 9110 6.6.1 wants every one
	 * dated, and evhttp adds no second Date. */
	char date[64];
	evutil_date_rfc1123(date, sizeof date, NULL);
	evhttp_add_header(h, "Date", date);
	metrics_count_http(r->w->hs->m, (int)r->route, status);
}

/* Whether one entity tag of an If-None-Match list equals etag (weak comparison). */
static bool tag_matches(const char *tag, size_t len, const char *etag)
{
	if (len == 1 && tag[0] == '*')
		return true;
	if (len > 2 && tag[0] == 'W' && tag[1] == '/') {
		tag += 2;
		len -= 2;
	}
	return len == strlen(etag) && memcmp(tag, etag, len) == 0;
}

/* Whether a tag of one If-None-Match field's list equals etag. */
static bool list_matches(const char *inm, const char *etag)
{
	bool match = false;
	for (const char *p = inm; *p && !match;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		const char *start = p;
		/* A quoted tag may itself contain commas. */
		bool quoted = false;
		while (*p && (quoted || *p != ',')) {
			if (*p == '"')
				quoted = !quoted;
			p++;
		}
		const char *end = p;
		while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		match = end > start && tag_matches(start, (size_t)(end - start), etag);
	}
	return match;
}

bool http_etag_matches(struct evhttp_request *req, const char *etag)
{
	/* Several If-None-Match fields are one list (RFC 9110, 5.3). */
	struct evkeyval *h;
	TAILQ_FOREACH(h, evhttp_request_get_input_headers(req), next)
		if (strcasecmp(h->key, "If-None-Match") == 0 &&
		    list_matches(h->value, etag))
			return true;
	return false;
}

void http_reply_body(struct http_request *r, int status, const char *content_type,
		     const char *cache_control, struct evbuffer *body)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
	evhttp_add_header(h, "Content-Type", content_type);
	if (!evhttp_find_header(h, "Cache-Control"))
		evhttp_add_header(h, "Cache-Control", cache_control ? cache_control : "no-cache");
	bool tunnel = evhttp_request_get_command(r->req) == EVHTTP_REQ_CONNECT;
	if (r->head || tunnel) {
		/* evhttp 2.1 would send the body of a HEAD answer, and frames no
		 * answer to a CONNECT (it takes it for a tunnel): say the size. */
		char len[24];
		snprintf(len, sizeof len, "%zu", evbuffer_get_length(body));
		evhttp_add_header(h, "Content-Length", len);
		if (r->head)
			evbuffer_drain(body, evbuffer_get_length(body));
	}
	if (tunnel) /* and http_conn.c closes it once sent, which evhttp would not */
		http_conn_close_after(r->req);
	/* libevent 2.1 has no phrase for 421 (RFC 9110). */
	evhttp_send_reply(r->req, status, status == 421 ? "Misdirected Request" : NULL, body);
}

void http_free_text_cb(const void *data, size_t len, void *arg)
{
	(void)len;
	(void)arg;
	free((void *)data);
}

/* The last resort when even an error body cannot be built. */
static void reply_out_of_memory(struct http_request *r)
{
	struct evbuffer *b = evhttp_request_get_output_buffer(r->req);
	evbuffer_add_printf(b, "{\"error\":\"out of memory\"}");
	http_reply_prepare(r, 500, NULL);
	http_reply_body(r, 500, JSON_TYPE, "no-store", b);
}

/* The Cache-Control of a successful answer: the public listener's may let
 * shared caches keep it (http_server_options.cache_control); no cache keeps
 * the operators': a rejection's raw bytes, which an erasure must reach. */
static const char *cache_control_200(const struct http_request *r)
{
	const char *cc = r->w->hs->opt.cache_control;
	if (r->w->hs->opt.listener == HTTP_ADMIN)
		return "no-store";
	return cc && *cc ? cc : "no-cache";
}

/*
 * A 200 JSON answer at pos whose body has content tag etag: a 304 when the
 * client holds that tag, else the body (already in the output buffer).
 */
/*
 * The tag of an answer whose bytes have the tag etag. The same bytes marked
 * stale (X-Pledged-Stale-Since) are another answer: a cache that
 * revalidated while they were would otherwise keep the mark after a 304.
 */
static void answer_tag(struct http_request *r, const char *etag, char out[HTTP_TAG_SIZE])
{
	int64_t stale = r->owner.lost_ms;
	size_t len = strlen(etag);
	if (stale && len >= 2)
		snprintf(out, HTTP_TAG_SIZE, "%.*s.s%" PRId64 "\"", (int)(len - 1), etag, stale);
	else
		snprintf(out, HTTP_TAG_SIZE, "%s", etag);
}

/* Sends the body in the output buffer as 200, or 304 when the client has etag (answer_tag's). */
static void reply_content(struct http_request *r, const struct http_position *pos,
			  const char *etag)
{
	struct http_position tagged = *pos;
	snprintf(tagged.etag, sizeof tagged.etag, "%s", etag);
	struct evbuffer *b = evhttp_request_get_output_buffer(r->req);
	if (http_etag_matches(r->req, etag)) {
		evbuffer_drain(b, evbuffer_get_length(b));
		http_reply_prepare(r, 304, &tagged);
		evhttp_add_header(evhttp_request_get_output_headers(r->req), "Cache-Control",
				  cache_control_200(r));
		evhttp_send_reply(r->req, 304, "Not Modified", NULL);
		return;
	}
	http_reply_prepare(r, 200, &tagged);
	http_reply_body(r, 200, JSON_TYPE, cache_control_200(r), b);
}

void http_reply_json(struct http_request *r, int status, json_t *body,
		     const struct http_position *pos)
{
	char *text = body ? json_dumps(body, VIEW_DUMP_FLAGS) : NULL;
	json_decref(body);
	struct evbuffer *b = evhttp_request_get_output_buffer(r->req);
	size_t len = text ? strlen(text) : 0;
	char etag[HTTP_CONTENT_ETAG_SIZE], tag[HTTP_TAG_SIZE];
	if (text && status == 200 && pos) {
		http_content_etag(text, len, etag);
		answer_tag(r, etag, tag);
	}
	/* The dump becomes the body without a copy; evbuffer frees it. */
	if (!text || evbuffer_add_reference(b, text, len, http_free_text_cb, NULL)) {
		free(text);
		reply_out_of_memory(r);
		return;
	}
	if (status == 200 && pos) {
		reply_content(r, pos, tag);
		return;
	}
	http_reply_prepare(r, status, pos);
	bool kept = status == 200 && r->w->hs->opt.listener == HTTP_PUBLIC;
	http_reply_body(r, status, JSON_TYPE, kept ? "no-cache" : "no-store", b);
}

void http_reply_cached(struct http_request *r, struct http_blob *body,
		       const struct http_position *pos)
{
	struct evbuffer *b = evhttp_request_get_output_buffer(r->req);
	char tag[HTTP_TAG_SIZE];
	answer_tag(r, http_blob_etag(body), tag);
	if (!http_etag_matches(r->req, tag) && http_blob_add_to(body, b)) {
		reply_out_of_memory(r);
		return;
	}
	reply_content(r, pos, tag);
}

void http_reply_json_cached(struct http_request *r, json_t *body, const struct http_position *pos,
			    const char *key, size_t key_len)
{
	char *text = body ? json_dumps(body, VIEW_DUMP_FLAGS) : NULL;
	json_decref(body);
	/* The cache owns text from here, and frees it if it cannot keep it. */
	struct http_blob *blob =
		text ? http_cache_put(r->w->cache, key, key_len, pos->etag, text, strlen(text)) : NULL;
	if (!blob) {
		reply_out_of_memory(r);
		return;
	}
	http_reply_cached(r, blob, pos);
}

void http_reply_error(struct http_request *r, int status, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	/* Messages may quote request bytes: keep them valid UTF-8 for jansson. */
	json_t *text = json_string(msg);
	if (!text)
		text = json_string("bad request");
	http_reply_json(r, status, text ? json_pack("{s:o}", "error", text) : NULL, NULL);
}

static const char *allowed_methods(const struct http_request *r)
{
	return r->w->hs->opt.listener == HTTP_PUBLIC ? "GET, HEAD, OPTIONS" : "GET, HEAD";
}

void http_reply_method(struct http_request *r)
{
	const char *allow = allowed_methods(r);
	evhttp_add_header(evhttp_request_get_output_headers(r->req), "Allow", allow);
	http_reply_error(r, 405, "method not allowed; use %s", allow);
}

void http_reply_preflight(struct http_request *r)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
	evhttp_add_header(h, "Allow", allowed_methods(r));
	evhttp_add_header(h, "Access-Control-Allow-Methods", "GET, HEAD");
	/* A revalidation's, and a stream's on reconnecting. */
	evhttp_add_header(h, "Access-Control-Allow-Headers", "If-None-Match, Last-Event-ID");
	evhttp_add_header(h, "Access-Control-Max-Age", "86400");
	http_reply_prepare(r, 204, NULL);
	evhttp_send_reply(r->req, 204, "No Content", NULL);
}
