/*
 * http_server.c — the HTTP server's life: the listening socket, worker
 * threads, limits against bad clients, and shutdown.
 *
 * One listening socket is shared by N workers; each has its own event base
 * and evhttp (accepting on a dup of the socket), so requests are answered
 * in parallel and a worker never touches another's connections.
 *
 * Connections are tracked by http_conn.c (cap, request deadline); streams
 * by http_sse.c, which this file drives: a commit notification wakes each
 * worker's stream check, and shutdown ends every stream first.
 *
 * When accept() fails (out of file descriptors), libevent would retry at
 * once for ever and log each failure: a worker stops accepting for
 * ACCEPT_RETRY_MS instead, and says so at most once a minute.
 */
#include "http_server.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/listener.h>
#include <event2/thread.h>

#include "clock.h"
#include "http_cache.h"
#include "http_internal.h"
#include "http_query.h"
#include "log.h"
#include "pl_error.h"
#include "thread_signals.h"

#define DEFAULT_MAX_CONNECTIONS 4096
#define DEFAULT_MAX_SSE_CLIENTS 1024
#define DEFAULT_TIMEOUT_SECONDS 10
#define DEFAULT_HEARTBEAT_MS 15000
#define DEFAULT_READY_MAX_LAG 10000
#define DEFAULT_MAX_OUTPUT_BYTES (64u << 20)
#define MAX_THREADS 64
#define ACCEPT_RETRY_MS 250
/* Request line plus headers. Browsers send 1-2 KiB; 8 KiB is nginx's default. */
#define MAX_HEADERS_SIZE 8192
/* Every route is a GET: a body is never needed. Larger ones are a 413. */
#define MAX_BODY_SIZE 1024
#define LISTEN_BACKLOG 1024

/* Splits "HOST:PORT", "[V6]:PORT", ":PORT" or "*:PORT" (empty host: all interfaces). */
static int split_listen(const char *address, char *host, size_t host_size, const char **port)
{
	const char *colon = strrchr(address, ':');
	if (!colon || colon[1] == '\0')
		return PL_EINVAL;
	const char *h = address;
	size_t len = (size_t)(colon - address);
	if (len >= 2 && h[0] == '[' && h[len - 1] == ']') {
		h++;
		len -= 2;
	}
	if (len >= host_size)
		return PL_EINVAL;
	memcpy(host, h, len);
	host[len] = '\0';
	if (strcmp(host, "*") == 0)
		host[0] = '\0';
	*port = colon + 1;
	return PL_OK;
}

static int bind_listen(const char *address, int *fd_out, int *port_out)
{
	char host[256];
	const char *port;
	if (!address || split_listen(address, host, sizeof host, &port)) {
		log_error("http: listen address '%s' is not HOST:PORT", address ? address : "");
		return PL_EINVAL;
	}
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *res = NULL;
	int gai = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
	if (gai) {
		log_error("http: cannot resolve listen address '%s': %s", address, gai_strerror(gai));
		return gai == EAI_SYSTEM || gai == EAI_AGAIN || gai == EAI_MEMORY ? PL_EIO : PL_EINVAL;
	}
	int fd = -1, err = 0;
	for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, LISTEN_BACKLOG)) {
			err = errno;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0) {
		log_error("http: cannot listen on %s: %s; %s", address, strerror(err),
			  err == EADDRINUSE	 ? "is another process using the port?"
			  : err == EADDRNOTAVAIL ? "that address is not one of this host's"
			  : err == EACCES	 ? "a port below 1024 needs privileges"
						 : "check the address");
		return PL_EIO;
	}
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof ss;
	if (getsockname(fd, (struct sockaddr *)&ss, &sslen)) {
		close(fd);
		return PL_EIO;
	}
	*port_out = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
					     : ntohs(((struct sockaddr_in *)&ss)->sin_port);
	*fd_out = fd;
	return PL_OK;
}

/*
 * The request is complete, so its connection met the deadline; the handler
 * may take as long as it needs (a stream lasts until the client leaves).
 */
static void request_cb(struct evhttp_request *req, void *worker)
{
	struct http_worker *w = worker;
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct http_conn *c = http_conn_request_received(w, req);
	http_router_dispatch(req, w);
	http_conn_write_now(evcon);
	http_conn_reply_queued(c);
}

/* Runs on the worker's own thread, so evhttp is freed where it lives. */
static void stop_cb(evutil_socket_t fd, short what, void *worker)
{
	(void)fd;
	(void)what;
	struct http_worker *w = worker;
	w->stopping = true;
	http_stream_close_all(w);
	http_conn_flush_all(w);
	http_conn_adopt_pending(w);
	evhttp_free(w->http);
	w->http = NULL;
	w->bound = NULL;
	event_base_loopexit(w->base, NULL);
}

/* The worker whose loop runs on this thread: a listener's error callback
 * is given evhttp's argument, not the worker. */
static _Thread_local struct http_worker *this_worker;

static void accept_failed_cb(struct evconnlistener *listener, void *evhttp)
{
	(void)evhttp;
	int err = EVUTIL_SOCKET_ERROR();
	struct http_worker *w = this_worker;
	evconnlistener_disable(listener);
	struct timeval retry = {0, ACCEPT_RETRY_MS * 1000};
	evtimer_add(w->resume_ev, &retry);
	int64_t now = clock_mono_ms();
	if (!w->accept_warned_ms || now - w->accept_warned_ms >= 60000) {
		w->accept_warned_ms = now;
		log_warn("http: cannot accept a connection on %s: %s; not accepting for %d ms at a "
			 "time until it can (%d connections open here; raise the file limit, ulimit "
			 "-n or LimitNOFILE=)",
			 w->hs->opt.listen, evutil_socket_error_to_string(err), ACCEPT_RETRY_MS,
			 w->conns);
	}
}

static void resume_accepting_cb(evutil_socket_t fd, short what, void *worker)
{
	(void)fd;
	(void)what;
	struct http_worker *w = worker;
	/* At its cap, the next close enables the listener (http_conn.c). */
	if (!w->paused && !w->stopping && w->bound)
		evconnlistener_enable(evhttp_bound_socket_get_listener(w->bound));
}

static void *worker_main(void *worker)
{
	struct http_worker *w = worker;
	this_worker = w;
	/* Threads are named for top -H, perf and gdb (15 characters at most). */
	pthread_setname_np(pthread_self(),
			   w->hs->opt.listener == HTTP_ADMIN ? "pl-admin-http" : "pl-http");
	event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

static int worker_init(struct http_worker *w, struct http_server *hs, int conn_cap)
{
	w->hs = hs;
	w->conn_cap = conn_cap;
	/* evhttp turns write interest on and off around every reply; the epoll
	 * changelist merges those changes into one epoll_ctl per loop, where
	 * they were about a sixth of a busy worker's time. */
	struct event_config *cfg = event_config_new();
	if (cfg)
		event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	w->base = cfg ? event_base_new_with_config(cfg) : NULL;
	if (cfg)
		event_config_free(cfg);
	w->http = w->base ? evhttp_new(w->base) : NULL;
	if (!w->http)
		return PL_ENOMEM;
	evhttp_set_timeout(w->http, hs->opt.timeout_seconds);
	evhttp_set_max_headers_size(w->http, MAX_HEADERS_SIZE);
	evhttp_set_max_body_size(w->http, MAX_BODY_SIZE);
	/* Every method reaches the router, which answers 405 in JSON; evhttp
	 * alone would answer 501 in HTML. */
	evhttp_set_allowed_methods(w->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
						    EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
						    EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
						    EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	evhttp_set_gencb(w->http, request_cb, w);
	evhttp_set_bevcb(w->http, http_conn_bev_cb, w);
	/* evhttp closes the socket it accepts on when freed: give each its own fd. */
	int fd = fcntl(hs->fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return PL_EIO;
	w->bound = evhttp_accept_socket_with_handle(w->http, fd);
	if (!w->bound) {
		close(fd);
		return PL_EIO;
	}
	w->stop_ev = event_new(w->base, -1, 0, stop_cb, w);
	w->adopt_ev = event_new(w->base, -1, 0, http_conn_adopt_cb, w);
	w->resume_ev = evtimer_new(w->base, resume_accepting_cb, w);
	w->tick_ev = event_new(w->base, -1, EV_PERSIST, http_stream_tick_cb, w);
	w->heartbeat_ev = event_new(w->base, -1, EV_PERSIST, http_stream_heartbeat_cb, w);
	w->cache = http_cache_new();
	proj_staged_init(&w->staged);
	proj_staged_init(&w->staged_comments);
	if (!w->stop_ev || !w->adopt_ev || !w->resume_ev || !w->tick_ev || !w->heartbeat_ev ||
	    !w->cache)
		return PL_ENOMEM;
	evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(w->bound), accept_failed_cb);
	return PL_OK;
}

static void worker_deinit(struct http_worker *w)
{
	w->stopping = true;
	http_conn_adopt_pending(w);
	if (w->http)
		evhttp_free(w->http);
	/* evhttp_free closed every connection; only untracked leftovers remain. */
	http_conn_forget_all(w);
	if (w->stop_ev)
		event_free(w->stop_ev);
	if (w->adopt_ev)
		event_free(w->adopt_ev);
	if (w->resume_ev)
		event_free(w->resume_ev);
	if (w->tick_ev)
		event_free(w->tick_ev);
	if (w->heartbeat_ev)
		event_free(w->heartbeat_ev);
	/* After evhttp_free: bodies still being sent held references until then. */
	http_cache_free(w->cache);
	proj_staged_deinit(&w->staged);
	proj_staged_deinit(&w->staged_comments);
	if (w->base)
		event_base_free(w->base);
}

static void fill_defaults(struct http_server_options *o)
{
	if (o->threads <= 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		o->threads = n > 0 ? (int)n : 1;
	}
	if (o->threads > MAX_THREADS)
		o->threads = MAX_THREADS;
	if (o->max_connections <= 0)
		o->max_connections = DEFAULT_MAX_CONNECTIONS;
	/* Every worker gets a share of at least one connection. */
	if (o->threads > o->max_connections)
		o->threads = o->max_connections;
	if (o->max_sse_clients <= 0)
		o->max_sse_clients = DEFAULT_MAX_SSE_CLIENTS;
	if (o->timeout_seconds <= 0)
		o->timeout_seconds = DEFAULT_TIMEOUT_SECONDS;
	if (o->sse_heartbeat_ms <= 0)
		o->sse_heartbeat_ms = DEFAULT_HEARTBEAT_MS;
	if (o->ready_max_lag <= 0)
		o->ready_max_lag = DEFAULT_READY_MAX_LAG;
	if (o->max_output_bytes == 0)
		o->max_output_bytes = DEFAULT_MAX_OUTPUT_BYTES;
	if (o->list_rows_max == 0)
		o->list_rows_max = HTTP_LIST_ROWS_MAX;
	if (o->listener != HTTP_ADMIN)
		o->listener = HTTP_PUBLIC;
	if (o->token && !o->token[0])
		o->token = NULL;
}

int http_server_start(struct http_server **out, struct store *st, struct metrics *m,
		      const struct http_server_options *opt)
{
	*out = NULL;
	/* Lets another thread wake a worker (event_active in stop). Idempotent. */
	if (evthread_use_pthreads())
		return PL_ENOMEM;
	struct http_server *hs = calloc(1, sizeof *hs);
	if (!hs)
		return PL_ENOMEM;
	hs->st = st;
	hs->m = m;
	hs->opt = *opt;
	hs->fd = -1;
	fill_defaults(&hs->opt);
	hs->token_len = hs->opt.token ? strlen(hs->opt.token) : 0;
	int rc = bind_listen(hs->opt.listen, &hs->fd, &hs->port);
	if (rc)
		goto fail;
	hs->workers = calloc((size_t)hs->opt.threads, sizeof *hs->workers);
	if (!hs->workers) {
		rc = PL_ENOMEM;
		goto fail;
	}
	for (int i = 0; i < hs->opt.threads; i++) {
		int share = hs->opt.max_connections / hs->opt.threads +
			    (i < hs->opt.max_connections % hs->opt.threads);
		hs->nworkers++;
		if ((rc = worker_init(&hs->workers[i], hs, share)))
			goto fail;
	}
	sigset_t old;
	thread_signals_block(&old);
	for (int i = 0; i < hs->nworkers && rc == 0; i++) {
		struct http_worker *w = &hs->workers[i];
		if (pthread_create(&w->thread, NULL, worker_main, w))
			rc = PL_ENOMEM;
		else
			w->started = true;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc)
		goto fail;
	log_info("http: %s listener on %s (port %d), %d threads, at most %d connections%s",
		 hs->opt.listener == HTTP_ADMIN ? "admin" : "public", hs->opt.listen, hs->port,
		 hs->nworkers, hs->opt.max_connections,
		 hs->opt.token ? ", bearer token required" : "");
	*out = hs;
	return PL_OK;
fail:
	http_server_stop(hs);
	return rc;
}

int http_server_port(const struct http_server *hs)
{
	return hs->port;
}

void http_server_notify(struct http_server *hs, uint64_t seq)
{
	uint64_t cur = atomic_load(&hs->notified_seq);
	while (seq > cur && !atomic_compare_exchange_weak(&hs->notified_seq, &cur, seq))
		;
	if (seq <= cur)
		return;
	/* Check the streams now rather than at the next tick. event_active is
	 * safe across threads: the bases were made with locking on. */
	for (int i = 0; i < hs->nworkers; i++)
		if (hs->workers[i].started)
			event_active(hs->workers[i].tick_ev, EV_TIMEOUT, 0);
}

void http_server_stop(struct http_server *hs)
{
	if (!hs)
		return;
	for (int i = 0; i < hs->nworkers; i++)
		if (hs->workers[i].started)
			event_active(hs->workers[i].stop_ev, 0, 0);
	for (int i = 0; i < hs->nworkers; i++)
		if (hs->workers[i].started)
			pthread_join(hs->workers[i].thread, NULL);
	for (int i = 0; i < hs->nworkers; i++)
		worker_deinit(&hs->workers[i]);
	if (hs->fd >= 0)
		close(hs->fd);
	free(hs->workers);
	free(hs);
}
