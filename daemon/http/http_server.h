/*
 * http_server.h — the read side: JSON API, Server-Sent Events, metrics,
 * health and the campaign web page (docs/http.md), on libevent.
 *
 * The server runs on threads of its own, each with its own event base and
 * read-only LMDB transactions, so it never blocks ingestion and the caller's
 * thread stays free for the consumer loop.
 */
#ifndef HTTP_SERVER_H
#define HTTP_SERVER_H

#include <stdint.h>

#include "metrics.h"
#include "store.h"

/*
 * Which routes a listener serves (docs/http.md): the public one the page,
 * the campaign API and the streams; the admin one health, metrics and
 * rejections (raw bytes of refused messages: operators only). /readyz is
 * on both, for load balancers in front of the public port.
 */
enum http_listener { HTTP_PUBLIC = 1, HTTP_ADMIN = 2 };

struct http_server_options {
	const char *listen;   /* "HOST:PORT"; port 0 picks a free port */
	enum http_listener listener; /* 0 means HTTP_PUBLIC */
	const char *token;    /* admin: the bearer token every request must carry; NULL: none */
	int threads;          /* worker threads; 0 means one per core */
	int max_connections;  /* across all threads; 0 means the default (4096) */
	int max_sse_clients;  /* 0 means the default (1024) */
	int timeout_seconds;  /* for receiving a whole request, and per write; 0: 10 */
	int sse_heartbeat_ms; /* stream heartbeat period; 0 means the default (15000) */
	int64_t ready_max_lag; /* /readyz: most messages behind; 0 means the default (10000) */
	size_t max_output_bytes; /* replies queued for all clients; 0 means the default (64 MiB) */
	/* history rows a page of the list as of a time reads; 0: HTTP_LIST_ROWS_MAX */
	uint64_t list_rows_max;
	/* Cache-Control of successful JSON answers on the public listener;
	 * NULL or "": no-cache (store, but revalidate every time). */
	const char *cache_control;
};

struct http_server;

/*
 * Binds, then starts serving on its own threads. st and m must outlive the
 * server. Returns 0, PL_EINVAL (bad listen address) or PL_EIO (cannot bind).
 */
int http_server_start(struct http_server **out, struct store *st, struct metrics *m,
		      const struct http_server_options *opt);

/* The port actually bound (useful with port 0). */
int http_server_port(const struct http_server *hs);

/* Tells stream clients that the log advanced to seq. Thread-safe, cheap. */
void http_server_notify(struct http_server *hs, uint64_t seq);

/* Stops accepting, closes every connection, joins the threads, frees. */
void http_server_stop(struct http_server *hs);

#endif
