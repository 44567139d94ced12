/*
 * http_sse.c — Server-Sent Events on /v1/campaigns/{id}/stream.
 *
 * A client gets the campaign's summary (the JSON of GET /v1/campaigns/{id})
 * as soon as it connects, then again each time those bytes change, and a
 * "comments" event each time its comment feed changes, which the summary
 * (a count) may not show (http_feed_changes.h). Each
 * worker with streams checks the store every TICK_MS, and at once when
 * http_server_notify() says a batch was committed: when the log position or
 * the projections' generation moved, it re-reads its streams' summaries in
 * one read transaction. A batch of 1000 pledges is one check, the
 * consumer's thread does no HTTP work, and changes made by another process
 * (an import, a replay) are seen too.
 *
 * A comment line every heartbeat keeps proxies from closing idle streams
 * and finds dead clients. A client that stops reading is dropped once
 * MAX_BACKLOG bytes wait for it, or when a write makes no progress for the
 * request timeout; silence from the client is normal and never times out.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/http_struct.h>

#include "evlog.h"
#include "http_feed_changes.h"
#include "http_internal.h"
#include "http_query.h"
#include "http_reply.h"
#include "log.h"
#include "pl_error.h"
#include "proj_read.h"
#include "views.h"

#define TICK_MS 100
#define MAX_BACKLOG (256 * 1024)
#define RETRY_MS 2000

struct http_stream {
	struct http_stream *prev, *next;
	struct http_worker *w;
	struct evhttp_request *req;
	struct evhttp_connection *evcon;
	struct http_conn *conn;
	char id[HTTP_ID_MAX];
	size_t id_len;
	uint64_t campaign;   /* feed_campaign_hash() of id */
	uint64_t seq, generation; /* where its comment feed was last known, and in which projections */
	char *last; /* the summary last sent */
};

/* The summary JSON of a campaign (read into c), or NULL with *rc set. */
static char *render_summary(struct store_txn *t, enum store_slot slot, const char *id,
			    size_t id_len, struct proj_campaign *c, int *rc)
{
	*rc = proj_campaign_get(t, slot, (struct pl_str){id, (uint32_t)id_len}, c);
	if (*rc)
		return NULL;
	json_t *j = view_campaign(c);
	char *text = j ? json_dumps(j, VIEW_DUMP_FLAGS) : NULL;
	json_decref(j);
	if (!text)
		*rc = PL_ENOMEM;
	return text;
}

static void stream_send(struct http_stream *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void stream_send(struct http_stream *s, const char *fmt, ...)
{
	struct evbuffer *b = evbuffer_new();
	if (!b)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = evbuffer_add_vprintf(b, fmt, ap);
	va_end(ap);
	if (n > 0)
		evhttp_send_reply_chunk(s->req, b);
	evbuffer_free(b);
}

/* Summary JSON is compact, so one data: line carries it (no newlines inside). */
static void stream_send_summary(struct http_stream *s, uint64_t seq, char *json)
{
	stream_send(s, "event: summary\nid: %" PRIu64 "\ndata: %s\n\n", seq, json);
	free(s->last);
	s->last = json;
}

/* The campaign's comment feed changed (http_feed_changes.h): its count says
 * how many it holds now, for a client that checks what it fetched. */
static void stream_send_comments(struct http_stream *s, uint64_t seq, int64_t comments)
{
	stream_send(s, "event: comments\nid: %" PRIu64 "\ndata: {\"comments\":%" PRId64 "}\n\n", seq,
		    comments);
}

static bool stream_backlogged(const struct http_stream *s)
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(s->evcon);
	return evbuffer_get_length(bufferevent_get_output(bev)) > MAX_BACKLOG;
}

static void stream_unlink(struct http_stream *s)
{
	struct http_worker *w = s->w;
	if (s->prev)
		s->prev->next = s->next;
	else
		w->streams = s->next;
	if (s->next)
		s->next->prev = s->prev;
	if (!w->streams) {
		event_del(w->tick_ev);
		event_del(w->heartbeat_ev);
	}
	atomic_fetch_sub(&w->hs->stream_count, 1);
	free(s->last);
	free(s);
}

/* Ends a stream cleanly: the client's EventSource reconnects by itself. */
static void stream_end(struct http_stream *s)
{
	http_conn_set_close_cb(s->conn, NULL, NULL);
	evhttp_send_reply_end(s->req);
	stream_unlink(s);
}

/* The stream's connection closed (client left, timed out or dropped). */
static void stream_closed_cb(void *stream)
{
	struct http_stream *s = stream;
	struct evhttp_request *req = s->req;
	stream_unlink(s);
	/* When the client went away, evhttp detached the unfinished request
	 * from the connection and left it to us; otherwise evhttp frees it. */
	if (!evhttp_request_get_connection(req))
		evhttp_request_free(req);
}

/* Closes a stream whose client cannot keep up; stream_closed_cb cleans up. */
static void stream_drop(struct http_stream *s)
{
	log_debug("http: dropping a stream client of campaign '%.*s': %d bytes unread",
		  (int)s->id_len, s->id, MAX_BACKLOG);
	evhttp_connection_free(s->evcon);
}

/* Whether the figures stopped moving: an instance alone in its group that
 * lost its assignment answers on, marked stale (X-Pledged-Stale-Since). */
static void stream_send_staleness(struct http_stream *s, int64_t stale_since)
{
	if (stale_since)
		stream_send(s, "event: stale\ndata: {\"since\":%lld}\n\n", (long long)stale_since);
	else
		stream_send(s, "event: fresh\ndata: {}\n\n");
}

/* Tells every stream when the stale mark comes or goes. */
static void tell_staleness(struct http_worker *w)
{
	int64_t stale = ownership_stale_since(&w->hs->m->owner);
	if (stale == w->streams_stale)
		return;
	w->streams_stale = stale;
	for (struct http_stream *s = w->streams; s; s = s->next)
		stream_send_staleness(s, stale);
}

static void add_stream_headers(struct http_request *r, const struct http_position *pos)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
	evhttp_add_header(h, "Content-Type", "text/event-stream; charset=utf-8");
	evhttp_add_header(h, "Cache-Control", "no-cache");
	/* Tells nginx-style proxies not to buffer the stream. */
	evhttp_add_header(h, "X-Accel-Buffering", "no");
	http_reply_prepare(r, 200, pos);
}

void http_stream_open(struct http_request *r)
{
	struct http_server *hs = r->w->hs;
	struct http_query q;
	char err[160];
	if (http_query_parse(r->query, r->id_in_query ? HTTP_Q_ID : 0, true, &q, err, sizeof err)) {
		http_reply_error(r, 400, "%s", err);
		return;
	}
	struct store_txn t;
	uint64_t seq = 0, gen = 0;
	enum store_slot slot;
	int rc = store_read_begin(hs->st, &t);
	if (rc == 0)
		rc = evlog_last_seq(&t, &seq);
	if (rc == 0)
		rc = proj_live(&t, &slot, &gen);
	struct proj_campaign c;
	char *json = rc ? NULL : render_summary(&t, slot, r->id, r->id_len, &c, &rc);
	store_abort(&t);
	if (rc == PL_ENOTFOUND) {
		http_reply_error(r, 404, "no such campaign");
		return;
	}
	if (rc) {
		log_error("http: stream: reading the store failed: %s", pl_strerror(rc));
		http_reply_error(r, 500, "storage error");
		return;
	}
	struct http_position pos;
	http_position_set(&pos, seq, gen, 0);
	if (r->head) {
		/* The headers a GET would start with; no stream to keep open. evhttp
		 * chunks the GET's to HTTP/1.1 and later, and frames no HEAD answer
		 * itself: it is said, as RFC 9112 6.1 allows. */
		free(json);
		add_stream_headers(r, &pos);
		if (r->req->major > 1 || (r->req->major == 1 && r->req->minor >= 1))
			evhttp_add_header(evhttp_request_get_output_headers(r->req),
					  "Transfer-Encoding", "chunked");
		evhttp_send_reply(r->req, 200, "OK", NULL);
		return;
	}
	if (atomic_fetch_add(&hs->stream_count, 1) >= hs->opt.max_sse_clients) {
		atomic_fetch_sub(&hs->stream_count, 1);
		free(json);
		evhttp_add_header(evhttp_request_get_output_headers(r->req), "Retry-After", "5");
		http_reply_error(r, 503, "too many stream clients; retry later");
		return;
	}
	struct evhttp_connection *evcon = evhttp_request_get_connection(r->req);
	struct http_conn *conn = http_conn_find(r->w, evcon);
	struct http_stream *s = conn ? calloc(1, sizeof *s) : NULL;
	if (!s) {
		/* Without a tracked connection we would never learn that it closed. */
		atomic_fetch_sub(&hs->stream_count, 1);
		free(json);
		http_reply_error(r, 503, "cannot start a stream now; retry later");
		return;
	}
	s->w = r->w;
	s->req = r->req;
	s->evcon = evcon;
	s->conn = conn;
	http_conn_set_close_cb(conn, stream_closed_cb, s);
	memcpy(s->id, r->id, r->id_len);
	s->id_len = r->id_len;
	s->campaign = feed_campaign_hash(r->id, r->id_len);
	s->seq = seq;
	s->generation = gen;

	add_stream_headers(r, &pos);
	/* HTTP/1.0 has no chunks: a stream's end must be the connection's. An
	 * HTTP/1.0 client asking to keep it alive got Content-Length: 0 from
	 * evhttp, then the stream, which it reads as an empty answer. (To
	 * HTTP/1.1, keep-alive is the default: asking for it changes nothing.) */
	struct evkeyvalq *asked = evhttp_request_get_input_headers(r->req);
	const char *connection = evhttp_find_header(asked, "Connection");
	if (connection && strncasecmp(connection, "keep-alive", 10) == 0)
		evhttp_remove_header(asked, "Connection");
	evhttp_send_reply_start(r->req, 200, "OK");
	struct timeval write_tv = {hs->opt.timeout_seconds, 0};
	bufferevent_set_timeouts(evhttp_connection_get_bufferevent(s->evcon), NULL, &write_tv);

	struct http_worker *w = r->w;
	if (!w->streams) {
		struct timeval tick = {0, TICK_MS * 1000};
		struct timeval beat = {hs->opt.sse_heartbeat_ms / 1000,
				       (hs->opt.sse_heartbeat_ms % 1000) * 1000};
		event_add(w->tick_ev, &tick);
		event_add(w->heartbeat_ev, &beat);
	}
	tell_staleness(w); /* the others first, should it have changed */
	s->next = w->streams;
	if (w->streams)
		w->streams->prev = s;
	w->streams = s;
	stream_send(s, "retry: %d\n\n", RETRY_MS);
	stream_send_summary(s, seq, json);
	/* Said at the start either way: a page loaded while stale (or kept by
	 * the browser) learns that the figures move again, or do not. */
	stream_send_staleness(s, w->streams_stale);
}

/*
 * After a rebalance, the streams of campaigns this instance no longer holds
 * end: their figures would stop moving here. Reconnecting, the client is
 * sent to the owner (307) or told 421.
 */
static void end_streams_not_owned(struct http_worker *w)
{
	uint64_t generation = ownership_generation(&w->hs->m->owner);
	if (generation == w->streams_ownership)
		return;
	w->streams_ownership = generation;
	for (struct http_stream *s = w->streams, *next; s; s = next) {
		next = s->next;
		int32_t partition, count;
		if (ownership_of(&w->hs->m->owner, s->id, s->id_len, &partition, &count, NULL) !=
		    OWNERSHIP_OWNED)
			stream_end(s);
	}
}

void http_stream_tick_cb(evutil_socket_t fd, short what, void *worker)
{
	(void)fd;
	(void)what;
	struct http_worker *w = worker;
	end_streams_not_owned(w);
	if (!w->streams || http_store_damaged(w->hs))
		return;
	tell_staleness(w);
	/* The store is the truth: another process (an import, a rebuild that
	 * swaps slots and so moves only the generation) changes it without
	 * telling us. A read transaction costs about a microsecond. */
	struct store_txn t;
	uint64_t seq = 0, gen = 0;
	enum store_slot slot;
	int rc = store_read_begin(w->hs->st, &t);
	if (rc == 0)
		rc = proj_live(&t, &slot, &gen);
	if (rc == 0)
		rc = evlog_last_seq(&t, &seq);
	if (rc == 0 && seq == w->streams_seq && gen == w->streams_generation) {
		store_abort(&t);
		return;
	}
	/* The log since the stream that knows its feed the least far. */
	uint64_t oldest = seq;
	for (struct http_stream *s = w->streams; s; s = s->next)
		if (s->generation == gen && s->seq < oldest)
			oldest = s->seq;
	struct feed_changes feed = {0};
	/* An entry that does not read (damage, which verify names) hides what
	 * changed: every feed may have. */
	if (rc == 0 && feed_changes_read(&feed, &t, oldest, seq))
		feed.all = true;
	for (struct http_stream *s = w->streams, *next; rc == 0 && s; s = next) {
		next = s->next;
		int src;
		struct proj_campaign c;
		char *json = render_summary(&t, slot, s->id, s->id_len, &c, &src);
		/* A rebuild swapped in may show another feed: told as changed. */
		bool feed_moved = json && (s->generation != gen || feed_changed(&feed, s->campaign, s->seq));
		s->seq = seq;
		s->generation = gen;
		if (json && s->last && strcmp(json, s->last) == 0) {
			free(json);
			json = NULL;
		}
		if (!json && !feed_moved)
			continue;
		if (stream_backlogged(s)) {
			free(json);
			stream_drop(s);
			continue;
		}
		if (json)
			stream_send_summary(s, seq, json);
		if (feed_moved)
			stream_send_comments(s, seq, c.totals.comments);
	}
	feed_changes_deinit(&feed);
	store_abort(&t);
	if (rc)
		log_warn("http: streams: reading the store failed: %s; will retry", pl_strerror(rc));
	else {
		w->streams_seq = seq;
		w->streams_generation = gen;
	}
}

void http_stream_heartbeat_cb(evutil_socket_t fd, short what, void *worker)
{
	(void)fd;
	(void)what;
	struct http_worker *w = worker;
	for (struct http_stream *s = w->streams, *next; s; s = next) {
		next = s->next;
		if (stream_backlogged(s))
			stream_drop(s);
		else
			stream_send(s, ": heartbeat\n\n");
	}
}

void http_stream_close_all(struct http_worker *w)
{
	while (w->streams)
		stream_end(w->streams);
}
