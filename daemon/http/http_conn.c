/*
 * http_conn.c — a worker's connections, tracked from accept to close: the
 * connection cap, the request deadline, and writing replies at once.
 *
 * evhttp 2.1 has no connection cap and does not say when it accepts a
 * connection, so the worker creates each connection's bufferevent itself
 * (evhttp_set_bevcb), counts it, and then sets a close callback on the
 * connection evhttp built around it. A worker at its share of
 * max_connections stops accepting (the kernel queues new connections, other
 * workers keep accepting) and starts again when one closes.
 *
 * evhttp's read timeout restarts with every byte read, so a client
 * trickling a header byte now and then could hold a connection for ever.
 * Each tracked connection therefore has a deadline instead: a request must
 * be complete (line, headers and body) within timeout_seconds of the
 * connection being ready for it — from accept, and again from each reply
 * of a keep-alive connection — or the connection is closed, unless the
 * worker, not the client, is late: the request's bytes wait in the socket
 * unread. Likewise for reading a reply: a client that leaves more than
 * HTTP_CONN_OUTPUT_MAX of it unread for timeout_seconds is closed
 * (evhttp's write timeout would wait for ever on a client that reads a
 * byte now and then).
 *
 * Every byte queued for a client is counted, per connection and for the
 * server (output_queued, which the router holds under max_output_bytes)
 * and in the metrics, from the output buffer's own callbacks; evhttp reads
 * no next request of a connection before its reply is out, and the input
 * it buffers meanwhile is capped by a read watermark. The same callbacks
 * count the answers evhttp makes itself, to requests no route ever sees.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/http_struct.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "clock.h"
#include "http_internal.h"
#include "metrics.h"

/* Pipelined input buffered while a reply goes out: a request line and
 * headers (8 KiB at most) with room to spare. */
#define INPUT_MAX (64 * 1024)
/* The kernel's send buffer of a connection (Linux doubles it). Left to
 * autotuning it takes up to 4 MiB of a client that reads nothing, out of
 * sight of every cap here; this is still a whole answer for most routes,
 * and 2.5 MB/s to a client 50 ms away. */
#define SEND_BUFFER (64 * 1024)
/* Timeouts added to a request whose bytes waited unread when its deadline
 * came: a worker further behind than that is overloaded, and sheds. */
#define LATE_WORKER_DEADLINES 3

static void count_output(struct http_worker *w, int64_t delta)
{
	atomic_fetch_add(&w->hs->output_queued, delta);
	atomic_fetch_add(&w->hs->m->http_output_queued, delta);
}

/*
 * A reply that starts while no request of ours is being answered is one
 * evhttp made itself: a request it could not parse or would not take
 * (400, 413, 501). It never reaches the router, so it is counted here,
 * from its status line, as route "unparsed". evhttp's "100 Continue" is
 * not an answer and is left out.
 */
static void count_refusal(struct http_conn *c, struct evbuffer *b, size_t at)
{
	char line[16] = {0};
	struct evbuffer_ptr pos;
	int status = 0;
	if (evbuffer_ptr_set(b, &pos, at, EVBUFFER_PTR_SET) == 0 &&
	    evbuffer_copyout_from(b, &pos, line, sizeof line - 1) > 0 &&
	    sscanf(line, "HTTP/%*d.%*d %d", &status) == 1 && status < 200)
		return;
	c->refusing = true;
	metrics_count_http(c->w->hs->m, HTTP_METRICS_UNPARSED, status);
}

static void output_changed_cb(struct evbuffer *b, const struct evbuffer_cb_info *info, void *conn)
{
	struct http_conn *c = conn;
	/* evbuffer calls back for each change here (no deferred callbacks), so
	 * what an add brought starts where the buffer ended before it. */
	if (info->n_added && !c->replying && !c->refusing)
		count_refusal(c, b, info->orig_size);
	size_t before = c->queued;
	c->queued = c->queued + info->n_added - info->n_deleted;
	if (c->queued == 0) {
		c->refusing = false;
		c->unread_since_ms = 0;
	} else if (before == 0) {
		c->unread_since_ms = clock_mono_ms();
	}
	count_output(c->w, (int64_t)info->n_added - (int64_t)info->n_deleted);
}

static void conn_free(struct http_conn *c)
{
	event_free(c->deadline_ev);
	free(c);
}

static void conn_closed_cb(struct evhttp_connection *evcon, void *conn)
{
	struct http_conn *c = conn;
	struct http_worker *w = c->w;
	if (c->on_close)
		c->on_close(c->on_close_arg);
	/* The bufferevent frees its buffers later, after the requests still
	 * waiting in this turn of the loop: a turn that sheds connection after
	 * connection to answer the next one would hold every reply it ever
	 * queued meanwhile (200 MB against a 16 MiB budget, measured). Once
	 * the bufferevent has written, it keeps the front of its output frozen
	 * between its writes, and a drain would fail: nothing writes it now. */
	struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
	if (bev) {
		struct evbuffer *out = bufferevent_get_output(bev);
		evbuffer_unfreeze(out, 1);
		evbuffer_drain(out, evbuffer_get_length(out));
		if (c->output_cb)
			evbuffer_remove_cb_entry(out, c->output_cb);
	}
	count_output(w, -(int64_t)c->queued);
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conn_list = c->next;
	if (c->next)
		c->next->prev = c->prev;
	conn_free(c);
	w->conns--;
	if (w->paused && !w->stopping && w->conns < w->conn_cap) {
		evconnlistener_enable(evhttp_bound_socket_get_listener(w->bound));
		w->paused = false;
	}
}

static void conn_deadline_arm(struct http_conn *c)
{
	struct timeval tv = {.tv_sec = c->w->hs->opt.timeout_seconds};
	event_add(c->deadline_ev, &tv);
}

/*
 * Whether bytes the client sent wait unread in the socket while evhttp
 * would take them: then the worker is behind, not the client. A worker
 * back from a turn of its loop longer than the timeout finds every
 * deadline due at once, but epoll hands it only a few dozen of the
 * readable sockets per turn.
 */
static bool client_bytes_unread(struct http_conn *c)
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(c->evcon);
	int unread = 0;
	return bev && (bufferevent_get_enabled(bev) & EV_READ) &&
	       evbuffer_get_length(bufferevent_get_input(bev)) < INPUT_MAX &&
	       ioctl(bufferevent_getfd(bev), FIONREAD, &unread) == 0 && unread > 0;
}

/* The request was not complete in time, or the client left too much of a
 * reply unread: conn_closed_cb frees c. Below the cap, the rest of a reply
 * is evhttp's to send, under its own timeout. A request whose bytes came
 * but were not read yet has another timeout, in which they are; a few at
 * most, so that a client that times a byte to land just as its deadline
 * runs cannot hold the connection for long. */
static void conn_deadline_cb(evutil_socket_t fd, short what, void *conn)
{
	(void)fd;
	(void)what;
	struct http_conn *c = conn;
	if (c->replying && c->queued <= HTTP_CONN_OUTPUT_MAX)
		return;
	if (!c->replying && c->late_worker_deadlines < LATE_WORKER_DEADLINES &&
	    client_bytes_unread(c)) {
		c->late_worker_deadlines++;
		conn_deadline_arm(c);
		return;
	}
	evhttp_connection_free(c->evcon);
}

/* A reply went out; a keep-alive connection now waits for its next request. */
static void reply_sent_cb(struct evhttp_request *req, void *conn)
{
	(void)req;
	struct http_conn *c = conn;
	c->replying = false;
	if (c->close_after_reply) {
		/* The peer reads the end; evhttp then reads it too and frees the connection. */
		shutdown(bufferevent_getfd(evhttp_connection_get_bufferevent(c->evcon)), SHUT_RDWR);
		return;
	}
	conn_deadline_arm(c);
}

/*
 * When a Connection field of req lists "close" (RFC 9112 9.6), leaves it
 * the one field, "close", as evhttp reads it: evhttp looks at the first
 * field alone, and only for "close" itself, so "TE, close" (Perl's LWP)
 * or a second field kept the connection open and left "Connection:
 * close" out of the answer.
 */
static void connection_close_unlist(struct evhttp_request *req)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	bool asked = false;
	struct evkeyval *h;
	TAILQ_FOREACH(h, in, next) {
		if (strcasecmp(h->key, "Connection") != 0)
			continue;
		for (const char *p = h->value; !asked && *p;) {
			p += strspn(p, " \t,");
			size_t len = strcspn(p, ","), token = len;
			while (token && (p[token - 1] == ' ' || p[token - 1] == '\t'))
				token--;
			asked = token == 5 && strncasecmp(p, "close", 5) == 0;
			p += len;
		}
	}
	if (asked)
		http_conn_close_after(req);
}

void http_conn_close_after(struct evhttp_request *req)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	while (evhttp_remove_header(in, "Connection") == 0)
		;
	evhttp_add_header(in, "Connection", "close");
}

struct http_conn *http_conn_request_received(struct http_worker *w, struct evhttp_request *req)
{
#ifdef EVHTTP_PROXY_REQUEST
	/* evhttp 2.1 takes a target in absolute form ("GET http://HOST/PATH",
	 * which RFC 9112 3.2.2 has a server accept) whose host names none of
	 * its virtual hosts for a request to a proxy: it reads Proxy-Connection
	 * instead of Connection, leaves "Connection: close" out of the answer
	 * and closes the connection unasked, the requests pipelined behind it
	 * unanswered. Every host is this server's; 2.2 has no such flag. */
	req->flags &= ~EVHTTP_PROXY_REQUEST;
#endif
	connection_close_unlist(req);
	/* A walk of at most this worker's share of max_connections: small
	 * beside answering the request. */
	struct http_conn *c = http_conn_find(w, evhttp_request_get_connection(req));
	if (c) {
		event_del(c->deadline_ev);
		c->late_worker_deadlines = 0;
		c->replying = true;
		c->refusing = false;
		/* evhttp takes a CONNECT for a tunnel and keeps the connection
		 * open whatever it says: its answer (a 405) ends it. */
		c->close_after_reply = evhttp_request_get_command(req) == EVHTTP_REQ_CONNECT;
		evhttp_request_set_on_complete_cb(req, reply_sent_cb, c);
	}
	return c;
}

void http_conn_reply_queued(struct http_conn *c)
{
	if (c && c->replying && c->queued > HTTP_CONN_OUTPUT_MAX)
		conn_deadline_arm(c);
}

void http_conn_shed_slow(struct http_worker *w)
{
	int64_t now = clock_mono_ms(), cut = now - HTTP_SHED_AFTER_MS;
	if (w->shed_ms > cut)
		return;
	w->shed_ms = now;
	struct http_conn *next;
	for (struct http_conn *c = w->conn_list; c; c = next) {
		next = c->next; /* conn_closed_cb frees c */
		if (c->unread_since_ms && c->unread_since_ms < cut)
			evhttp_connection_free(c->evcon);
	}
}

/*
 * The evhttp connection built around bev, or NULL when there is none (yet).
 *
 * libevent 2.1 has no public way to learn of a connection evhttp accepted
 * (evhttp_set_newreqcb arrived in 2.2). evhttp makes the connection its
 * bufferevent's callback argument, so that argument is taken as a
 * candidate, and trusted only when public API confirms it: the candidate's
 * bufferevent must be bev. This is the one place that relies on how evhttp
 * wires its bufferevents.
 */
static struct evhttp_connection *evcon_of(struct bufferevent *bev)
{
	void *arg = NULL;
	bufferevent_getcb(bev, NULL, NULL, NULL, &arg);
	struct evhttp_connection *evcon = arg;
	if (evcon && evhttp_connection_get_bufferevent(evcon) == bev)
		return evcon;
	return NULL;
}

/*
 * Starts tracking the connection evhttp built around bev. Holding a
 * reference since conn_bev_cb keeps bev readable even if evhttp already
 * freed it (then its callbacks are cleared and evcon_of finds nothing).
 */
static void conn_adopt(struct http_worker *w, struct bufferevent *bev)
{
	struct evhttp_connection *evcon = evcon_of(bev);
	struct http_conn *c = evcon ? calloc(1, sizeof *c) : NULL;
	if (c && !(c->deadline_ev = event_new(w->base, -1, 0, conn_deadline_cb, c))) {
		free(c);
		c = NULL;
	}
	if (c) {
		int sndbuf = SEND_BUFFER;
		setsockopt(bufferevent_getfd(bev), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
		/* The deadline times requests; evhttp's read timeout would also
		 * cut clients whose requests wait unread behind a late worker. */
		struct timeval write_tv = {.tv_sec = w->hs->opt.timeout_seconds};
		bufferevent_set_timeouts(bev, NULL, &write_tv);
		c->w = w;
		c->evcon = evcon;
		c->output_cb = evbuffer_add_cb(bufferevent_get_output(bev), output_changed_cb, c);
		c->next = w->conn_list;
		if (w->conn_list)
			w->conn_list->prev = c;
		w->conn_list = c;
		evhttp_connection_set_closecb(evcon, conn_closed_cb, c);
		conn_deadline_arm(c);
	} else {
		/* Gone already, or no memory to track it: served, not counted. */
		w->conns--;
	}
	bufferevent_decref(bev);
}

void http_conn_adopt_pending(struct http_worker *w)
{
	if (w->pending) {
		conn_adopt(w, w->pending);
		w->pending = NULL;
	}
}

void http_conn_adopt_cb(evutil_socket_t fd, short what, void *worker)
{
	(void)fd;
	(void)what;
	http_conn_adopt_pending(worker);
}

/*
 * evhttp asks for each accepted connection's bufferevent here, before the
 * connection exists; it is adopted once evhttp has built it: at the next
 * accept, or right after this burst of accepts (adopt_ev).
 */
struct bufferevent *http_conn_bev_cb(struct event_base *base, void *worker)
{
	struct http_worker *w = worker;
	http_conn_adopt_pending(w);
	w->pending = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (!w->pending)
		return NULL; /* evhttp makes one of its own: served, not counted */
	bufferevent_incref(w->pending);
	bufferevent_setwatermark(w->pending, EV_READ, 0, INPUT_MAX);
	event_active(w->adopt_ev, 0, 0);
	if (++w->conns >= w->conn_cap && !w->paused) {
		evconnlistener_disable(evhttp_bound_socket_get_listener(w->bound));
		w->paused = true;
	}
	return w->pending;
}

struct http_conn *http_conn_find(struct http_worker *w, struct evhttp_connection *evcon)
{
	for (struct http_conn *c = w->conn_list; c; c = c->next)
		if (c->evcon == evcon)
			return c;
	return NULL;
}

void http_conn_set_close_cb(struct http_conn *c, void (*cb)(void *arg), void *arg)
{
	c->on_close = cb;
	c->on_close_arg = arg;
}

/*
 * Sends what the connection has queued now, in the turn of the loop that
 * queued it. Left to the bufferevent, the reply would wait for epoll to say
 * the socket is writable, and write interest would be turned on and off
 * again across two turns; written now, evhttp's "sent" callback runs later
 * in this turn, turns write interest off in the same turn it was turned
 * on, and the epoll changelist merges both into no epoll_ctl at all (a
 * keep-alive request: 4 syscalls instead of 5). A partial or failed write
 * leaves the rest to the bufferevent, which reports errors the usual way.
 */
void http_conn_write_now(struct evhttp_connection *evcon)
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
	if (!bev)
		return;
	struct evbuffer *out = bufferevent_get_output(bev);
	if (evbuffer_get_length(out) == 0 || evbuffer_write(out, bufferevent_getfd(bev)) < 0)
		return;
	if (evbuffer_get_length(out) == 0)
		bufferevent_trigger(bev, EV_WRITE, BEV_TRIG_DEFER_CALLBACKS);
}

void http_conn_flush_all(struct http_worker *w)
{
	for (struct http_conn *c = w->conn_list; c; c = c->next) {
		struct bufferevent *bev = evhttp_connection_get_bufferevent(c->evcon);
		struct evbuffer *out = bufferevent_get_output(bev);
		/* Frozen between the bufferevent's own writes, as http_conn_write_now
		 * finds it once the bufferevent has written. */
		evbuffer_unfreeze(out, 1);
		evbuffer_write(out, bufferevent_getfd(bev));
		evbuffer_freeze(out, 1);
	}
}

void http_conn_forget_all(struct http_worker *w)
{
	while (w->conn_list) {
		struct http_conn *c = w->conn_list;
		w->conn_list = c->next;
		conn_free(c);
	}
}
