/*
 * http_internal.h — what the files of the HTTP server share: the server, its
 * worker threads, the routes and one request being answered.
 *
 * Only daemon/http/http_*.c include this; everyone else uses http_server.h.
 *
 * Threads: each worker owns an event base and an evhttp and touches only
 * its own connections and streams. The fields other threads may touch are
 * the atomics of struct http_server (notify, stream count) and stop_ev.
 */
#ifndef HTTP_INTERNAL_H
#define HTTP_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/http.h>
#include <pthread.h>

#include "http_server.h"
#include "pl_error.h"
#include "proj_staged.h"
#include "store.h"

/* Routes: X(ENUM, "name" in pledged_http_requests_total{route=…}, "path"
 * as docs/http.md heads its section (tests/http/test_http_doc.sh checks
 * that every one is documented), listeners that serve it). */
#define HTTP_BOTH (HTTP_PUBLIC | HTTP_ADMIN)
#define HTTP_ROUTES(X)                                                         \
	X(CAMPAIGNS, "campaigns", "/v1/campaigns", HTTP_PUBLIC)                \
	X(CAMPAIGN, "campaign", "/v1/campaigns/{id}", HTTP_PUBLIC)             \
	X(COMMENTS, "comments", "/v1/campaigns/{id}/comments", HTTP_PUBLIC)    \
	X(STREAM, "stream", "/v1/campaigns/{id}/stream", HTTP_PUBLIC)          \
	X(HISTORY, "history", "/v1/campaigns/{id}/history", HTTP_PUBLIC)       \
	X(TOTALS, "totals", "/v1/totals", HTTP_PUBLIC)                         \
	X(REJECTIONS, "rejections", "/v1/rejections", HTTP_ADMIN)              \
	X(HEALTHZ, "healthz", "/healthz", HTTP_ADMIN)                          \
	X(READYZ, "readyz", "/readyz", HTTP_BOTH)                              \
	X(METRICS, "metrics", "/metrics", HTTP_ADMIN)                          \
	X(PAGE, "page", "/c/{id}", HTTP_PUBLIC)                                \
	X(ASSET, "asset", "/assets/{name}", HTTP_PUBLIC)                       \
	X(CLUSTER, "cluster", "/v1/cluster", HTTP_BOTH)                         \
	X(UNKNOWN, "unknown", "", 0)

enum http_route {
#define HTTP_ROUTE_ENUM(e, name, path, listeners) HTTP_ROUTE_##e,
	HTTP_ROUTES(HTTP_ROUTE_ENUM)
#undef HTTP_ROUTE_ENUM
	HTTP_ROUTE_COUNT
};

/* In pledged_http_requests_total, after the routes: the requests evhttp
 * refused itself before any route (http_conn.c). */
#define HTTP_METRICS_UNPARSED HTTP_ROUTE_COUNT

/* Route names indexed by enum http_route, then "unparsed", for metrics_render(). */
extern const char *const http_route_names[HTTP_ROUTE_COUNT + 1];
/* The listeners (enum http_listener bits) that serve each route. */
extern const int http_route_listeners[HTTP_ROUTE_COUNT];

/* Longest campaign id (docs/events.md) and asset name we look up. */
#define HTTP_ID_MAX PL_MAX_ID_BYTES

/*
 * What a request-target names: a route and, for routes with an {id}, that
 * segment percent-decoded. A campaign route whose {id} segment is empty
 * takes the id from the query's `id` parameter instead ("/c/?id=..",
 * "/v1/campaigns//stream?id=."): browsers resolve the ids "." and "..",
 * even percent-encoded, as path steps.
 */
struct http_target {
	enum http_route route;
	int id_rc;                /* 0; PL_EINVAL bad escape; PL_ENOTFOUND longer than any id */
	char id[HTTP_ID_MAX + 1]; /* NUL-terminated; may hold NUL bytes: use id_len */
	size_t id_len;
	bool id_in_query;         /* the id came from the `id` parameter */
};

/*
 * Matches path (as evhttp_uri_get_path() gives it, or NULL) and query (the
 * raw text after "?", or NULL) against the routes of docs/http.md and
 * decodes the {id}. A pure function of the strings, so it can be fuzzed
 * apart from the server; id_rc is only acted on once the method is known
 * to be allowed.
 */
void http_route_match(const char *path, const char *query, struct http_target *t);

struct http_stream;

/* A connection of a worker, tracked from accept to close (http_conn.c). */
struct http_conn {
	struct http_conn *prev, *next;
	struct http_worker *w;
	struct evhttp_connection *evcon;
	struct event *deadline_ev; /* pending while a request is being received, or
				    * while a reply waits with more than HTTP_CONN_OUTPUT_MAX */
	bool replying;             /* between a request and the end of its reply */
	bool refusing;             /* evhttp's own answer (counted) is going out */
	bool close_after_reply;    /* the request was a CONNECT */
	int late_worker_deadlines; /* given again to this request: its bytes waited unread */
	struct evbuffer_cb_entry *output_cb; /* counts what is queued for the client */
	size_t queued;             /* bytes of replies not yet taken by the kernel */
	int64_t unread_since_ms;   /* monotonic, since queued last left 0; 0 while it is 0 */
	void (*on_close)(void *arg); /* what else must know it closed (a stream) */
	void *on_close_arg;
};

struct http_worker {
	struct http_server *hs;
	pthread_t thread;
	bool started;
	struct event_base *base;
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	struct event *stop_ev;      /* activated by http_server_stop() */
	struct event *adopt_ev;     /* tracks the connection accepted last */
	struct event *resume_ev;    /* accepts again after accept() failed */
	int64_t accept_warned_ms;   /* when a failed accept() was last logged */
	int64_t shed_ms;            /* when it last closed slow clients (http_conn_shed_slow) */
	struct event *tick_ev;      /* stream refresh, pending while streams exist */
	struct event *heartbeat_ev; /* stream heartbeat, pending while streams exist */
	struct bufferevent *pending; /* accepted, not yet tracked (holds a reference) */
	struct http_conn *conn_list; /* tracked connections */
	int conns;                  /* open connections of this worker */
	int conn_cap;               /* its share of max_connections */
	bool paused;                /* listener disabled because conns == conn_cap */
	bool stopping;
	struct http_cache *cache;    /* rendered bodies of this worker (http_cache.h) */
	struct proj_staged staged;   /* the staged history rows as last read (proj_staged.h) */
	struct proj_staged staged_comments; /* and the staged comments */
	struct http_stream *streams; /* doubly linked, this worker's stream clients */
	uint64_t streams_seq;        /* log position streams were last checked at */
	uint64_t streams_generation; /* projections' generation then (see proj.h) */
	uint64_t streams_ownership;  /* the partitions held then (ownership.h) */
	int64_t streams_stale;       /* the stale mark streams were last told (0: none) */
};

/*
 * Output queued for one client past which it must catch up within the
 * request deadline or be closed. Replies are bounded (docs/http.md) and a
 * connection reads no next request before its reply is out.
 */
#define HTTP_CONN_OUTPUT_MAX (256 * 1024)
/* How long a client may leave part of a reply unread before a server over
 * its max_output_bytes closes it rather than refuse others (as long as the
 * Retry-After those are told). */
#define HTTP_SHED_AFTER_MS 1000

struct http_server {
	struct store *st;
	struct metrics *m;
	struct http_server_options opt; /* with defaults filled in */
	size_t token_len;
	int fd;                         /* the listening socket; workers hold dups */
	int port;
	int nworkers;
	struct http_worker *workers;
	_Atomic uint64_t notified_seq;
	_Atomic int stream_count; /* across workers, bounded by opt.max_sse_clients */
	_Atomic int64_t output_queued; /* replies not yet taken by the kernel, all clients */
};

/* One request being answered; lives on the dispatcher's stack. */
struct http_request {
	struct evhttp_request *req;
	struct http_worker *w;
	enum http_route route;
	bool head;                 /* HEAD: evhttp sends headers only */
	char id[HTTP_ID_MAX + 1];  /* decoded {id} (campaign) or asset name, NUL-terminated */
	size_t id_len;             /* may contain NUL bytes: use id_len, not strlen */
	bool id_in_query;          /* {id} was given as the `id` parameter */
	const char *query;         /* raw query string, or NULL */
	/* What this instance held when the request came: the answer's status
	 * and its headers are decided from this one view (ownership.h). */
	struct ownership_view owner;
};

/*
 * Whether the check of LMDB's pages found the data dir damaged
 * (page_watch.h): LMDB follows a damaged page wherever it points, and a
 * read that faults ends serve (damage_exit.c), so nothing reads the store
 * any more. The answers that read it are 503; /healthz, /readyz and
 * /metrics say so without reading it.
 */
static inline bool http_store_damaged(const struct http_server *hs)
{
	return store_writes_refused(hs->st) == PL_ECORRUPT;
}
/* What the answers say of it. */
#define HTTP_DAMAGED_DETAIL \
	"the data dir is damaged (found by the check of LMDB's pages): restore it from a backup"

/* Whether campaign id[0..len) is this instance's to answer for (ownership.h). */
bool http_owns(const struct http_request *r, const char *id, size_t len);
/* Answers 503 before any partition is assigned, for what lists the
 * campaigns held (it would list none, as if there were none), and while a
 * partition held is catching up (ownership_set_behind). True when it
 * answered. */
bool http_reply_if_waiting(struct http_request *r);
/*
 * Answers a request for campaign r->id that is not this instance's: 421
 * not_owned, or 503 before any partition is assigned. True when it answered.
 */
bool http_reply_if_not_owned(struct http_request *r);

/* Handlers: each ends in exactly one reply (or, for a stream, its start). */
void http_api_campaigns(struct http_request *r);
void http_api_campaign(struct http_request *r);
void http_api_comments(struct http_request *r);
void http_api_history(struct http_request *r);
void http_api_totals(struct http_request *r);
void http_api_rejections(struct http_request *r);
void http_ops_healthz(struct http_request *r);
void http_ops_readyz(struct http_request *r);
void http_ops_metrics(struct http_request *r);
void http_page_campaign(struct http_request *r);
void http_asset_serve(struct http_request *r);
void http_stream_open(struct http_request *r);
void http_cluster(struct http_request *r);

/* Connections (http_conn.c), on the worker's thread. */
/* evhttp's bufferevent callback (evhttp_set_bevcb): counts and caps accepts. */
struct bufferevent *http_conn_bev_cb(struct event_base *base, void *worker);
/* Starts tracking the connection accepted last, if any (adopt_ev's callback). */
void http_conn_adopt_pending(struct http_worker *w);
void http_conn_adopt_cb(evutil_socket_t fd, short what, void *worker);
/* A whole request arrived: its deadline is met, and re-armed once answered.
 * Returns its tracked connection, or NULL. */
struct http_conn *http_conn_request_received(struct http_worker *w, struct evhttp_request *req);
/* Its reply is queued (c may be NULL): a client that leaves more than
 * HTTP_CONN_OUTPUT_MAX of it unread has the request deadline to catch up. */
void http_conn_reply_queued(struct http_conn *c);
/* Closes w's connections whose clients have left part of a reply unread
 * for more than HTTP_SHED_AFTER_MS: a server over max_output_bytes makes
 * room from its slowest clients before it refuses anyone. At most once per
 * HTTP_SHED_AFTER_MS: the answers that fill the room may go to clients that
 * never read either, and a worker closing and answering them without a
 * pause would spend itself on them while the others wait. */
void http_conn_shed_slow(struct http_worker *w);
/* Has the connection end after req's answer, which then says
 * "Connection: close" and only that: req's Connection fields become one
 * "close", as if the client had asked (an answer's own "close" would sit
 * beside evhttp's "keep-alive" to an HTTP/1.0 client that asked for it). */
void http_conn_close_after(struct evhttp_request *req);
/* Writes the reply queued on evcon in this turn of the loop. */
void http_conn_write_now(struct evhttp_connection *evcon);
/* The tracked connection evcon of worker w, or NULL. */
struct http_conn *http_conn_find(struct http_worker *w, struct evhttp_connection *evcon);
/* Calls cb(arg) when the connection closes (NULL: nothing). */
void http_conn_set_close_cb(struct http_conn *c, void (*cb)(void *arg), void *arg);
/* Writes what each connection has queued, as far as its socket takes it
 * now: a stopping worker frees them next (the ends of its streams). */
void http_conn_flush_all(struct http_worker *w);
/* Frees the tracking of connections evhttp never reported closed (shutdown). */
void http_conn_forget_all(struct http_worker *w);

/* The evhttp callback for every request: routes it to a handler. */
void http_router_dispatch(struct evhttp_request *req, void *worker);

/* Whether the request carries the listener's bearer token, if it has one. */
bool http_auth_allows(const struct http_server *hs, struct evhttp_request *req);

/* Stream upkeep, run on the worker's thread. */
void http_stream_tick_cb(evutil_socket_t fd, short what, void *worker);
void http_stream_heartbeat_cb(evutil_socket_t fd, short what, void *worker);
/* Ends every stream of the worker (shutdown). */
void http_stream_close_all(struct http_worker *w);

#endif
