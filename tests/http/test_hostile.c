/*
 * test_hostile.c — the HTTP server against hostile clients at scale.
 *
 * The server runs in-process on 127.0.0.1, port 0, over a temporary data
 * dir holding the demo campaign (argv[1]), with a connection cap of 1024 and
 * a 2 s timeout. A prober thread plays the normal client all along: every
 * 50 ms a fresh connection asks for the demo campaign and must get a 200
 * with the exact figures within its phase's bound, and samples the heap
 * in use (the server is in-process, so it is the server's memory plus the
 * test's fixed buffers). The main thread drives the bad clients
 * from one poll loop, phase after phase:
 *
 *   flood      2000 connections at once, each sending a request; beyond the
 *              cap they wait in the kernel's queue, and every one is
 *              answered once idle keep-alive connections are reclaimed
 *   slowloris  200 clients trickling header bytes faster than the timeout;
 *              each is closed at the request deadline (regression test for
 *              the missing total header deadline), also after a reply on a
 *              keep-alive connection
 *   pipelined  a valid request followed by garbage in the same write: the
 *              valid one is answered, then the connection ends
 *   oversize   huge request lines, headers, header counts and bodies: each
 *              refused or closed without being buffered
 *   slow readers  400 clients with a 4 KiB receive buffer ask for pages of
 *              long comments (about 0.5 MB each, all different) and never
 *              read: what waits for them stays under the server's
 *              max_output_bytes (16 MiB here) plus one page per worker,
 *              the heap grows by less than SLOW_HEAP_MAX_KB (48 MiB; 212 MB
 *              of answers were asked for), the rest are told 503 or make
 *              room by closing older slow readers, and each connection
 *              left over its 256 KiB is closed at the deadline
 *   idle flood 5000 connections that send nothing fill the public
 *              listener's cap and its accept queue; /healthz on the
 *              operators' listener answers each time within a second,
 *              where a shared listener would keep it waiting behind the
 *              idle connections for their 2 s deadline (the slowest is
 *              printed against the 50 ms promised to load balancers)
 *   stalled holders, and holders let go  on servers of their own with a
 *              1 MiB budget: clients that read part of an answer and stop
 *              are let go for a request a second later, and what they held
 *              is freed at once, in the turn that let them go
 *
 * and then checks that the heap grew by less than 64 MiB and that normal
 * requests are still answered. Every wait is bounded; the run takes about
 * 20 s, with or without sanitizers.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "fixture.h"
#include "http_client.h"

#include "http_internal.h"
#include "http_server.h"
#include "metrics.h"

#define DEMO "jess-phillips-for-labour-leader"
#define DEMO_FIGURES "\"raised\":5804100"

#define MAX_CONNECTIONS 1024
#define TIMEOUT_SECONDS 2
#define FLOOD 2000
#define SLOWLORIS 200
#define HEAP_GROWTH_MAX_KB (64 * 1024)
#define SLOW_READERS 400
#define SLOW_COMMENTS 400
#define MAX_OUTPUT_BYTES (16u << 20)
/* The budget, the two workers' caches of rendered bodies (8 MiB each) and
 * the pages being rendered. */
#define SLOW_HEAP_MAX_KB (48 * 1024)
#define IDLE_FLOOD 5000
/* Half the idle connections' deadline: a /healthz that waited behind them
 * takes longer. A stall, not a latency: speed is printed, not asserted. */
#define HEALTH_BOUND_MS (TIMEOUT_SECONDS * 1000 / 2)

static int port, admin_port;
static struct metrics m;

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

#if defined(__SANITIZE_ADDRESS__)
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

/*
 * The heap in use: what the server holds, where RSS also counts what the
 * allocator keeps cached after a free (AddressSanitizer's quarantine and
 * size classes: 170 MB over 20 MB in use, when a CPU-starved run rendered
 * most of the slow readers' pages in turn).
 */
static long heap_kb(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return (long)(__sanitizer_get_current_allocated_bytes() >> 10);
#else
	struct mallinfo2 mi = mallinfo2();
	return (long)((mi.uordblks + mi.hblkhd) >> 10);
#endif
}

static void print_memory(const char *after)
{
	printf("memory after %s: heap %ld kB, RSS %ld kB\n", after, heap_kb(), rss_kb());
}

/* A non-blocking connection to the public listener; the connect may still be in progress. */
static int connect_nonblocking_to(int to_port, int rcvbuf)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd >= 0 && rcvbuf)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)to_port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (fd < 0) {
		perror("socket");
		exit(2);
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) && errno != EINPROGRESS) {
		perror("connect");
		exit(2);
	}
	return fd;
}

static int connect_nonblocking(void)
{
	return connect_nonblocking_to(port, 0);
}

/* ---- the normal client ---------------------------------------------- */

enum phase {
	PH_IDLE, PH_FLOOD, PH_SLOWLORIS, PH_PIPELINED, PH_OVERSIZE, PH_SLOW_READERS, PH_IDLE_FLOOD,
	PH_AFTER, PH_COUNT
};
static const char *const phase_names[PH_COUNT] = {"idle", "flood", "slowloris", "pipelined",
						  "oversize", "slow readers", "idle flood",
						  "after"};
/* How long the normal client may wait for its answer. While the floods fill
 * the cap it waits its turn in the kernel's queue behind up to thousands of
 * others, each of which holds a slot for at most the timeout; behind the
 * slow readers, it waits for the two workers to render the pages ahead of
 * it (half a MB each: seconds on a machine busy with other tests under
 * sanitizers; 15 s seen once beside the Chromium test), where workers
 * waiting on slow clients would answer it only after the slow readers'
 * 2 s deadlines, 400 of them two at a time: minutes. */
static const int64_t phase_bound_ms[PH_COUNT] = {1000, 12000, 1000, 1000, 1000, 25000, 15000, 1000};
/* The normal client's own deadline: above every phase's bound. */
#define PROBE_DEADLINE_MS 30000
/* While slow readers hold the server's output budget, a 503 is the answer. */
static const bool phase_busy_ok[PH_COUNT] = {[PH_SLOW_READERS] = true};

struct probe_stats {
	int requests, failures, slow, busy;
	int64_t max_ms;
};

static struct {
	pthread_mutex_t lock;
	struct probe_stats ph[PH_COUNT];
	long heap_peak_kb;
	_Atomic int phase;
	_Atomic bool stop;
} probe = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* One request on a fresh connection: its status, 0 when there was none,
 * -1 for a 200 without the demo figures. */
static int probe_status(void)
{
	static const char req[] = "GET /v1/campaigns/" DEMO " HTTP/1.1\r\nHost: t\r\n"
				  "Connection: close\r\n\r\n";
	char buf[8192];
	size_t len = 0, sent = 0;
	int fd = connect_nonblocking();
	int64_t deadline = now_ms() + PROBE_DEADLINE_MS;
	bool eof = false;
	while (!eof && now_ms() < deadline) {
		struct pollfd p = {.fd = fd, .events = POLLIN | (sent < sizeof req - 1 ? POLLOUT : 0)};
		if (poll(&p, 1, 100) <= 0)
			continue;
		if (p.revents & POLLOUT) {
			ssize_t n = send(fd, req + sent, sizeof req - 1 - sent, MSG_NOSIGNAL);
			if (n > 0)
				sent += (size_t)n;
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
			if (n <= 0)
				eof = true;
			else
				len += (size_t)n;
			if (len == sizeof buf - 1)
				eof = true;
		}
	}
	close(fd);
	buf[len] = '\0';
	int status = 0;
	sscanf(buf, "HTTP/1.1 %d", &status);
	return status == 200 && !strstr(buf, DEMO_FIGURES) ? -1 : status;
}

static bool probe_once(void)
{
	return probe_status() == 200;
}

static void *probe_main(void *arg)
{
	(void)arg;
	while (!atomic_load(&probe.stop)) {
		int ph = atomic_load(&probe.phase);
		int64_t t0 = now_ms();
		int status = probe_status();
		bool busy = status == 503 && phase_busy_ok[ph];
		bool ok = status == 200 || busy;
		int64_t took = now_ms() - t0;
		long heap = heap_kb();
		pthread_mutex_lock(&probe.lock);
		struct probe_stats *s = &probe.ph[ph];
		s->requests++;
		s->failures += !ok;
		s->busy += busy;
		s->slow += took > phase_bound_ms[ph];
		if (took > s->max_ms)
			s->max_ms = took;
		if (heap > probe.heap_peak_kb)
			probe.heap_peak_kb = heap;
		pthread_mutex_unlock(&probe.lock);
		usleep(50000);
	}
	return NULL;
}

/*
 * Waits (10 s at most) until the normal client was answered at least once
 * in phase ph: its request of the phase before may still be waiting in the
 * kernel's queue behind a flood.
 */
static void wait_probe(int ph)
{
	for (int i = 0; i < 100; i++) {
		pthread_mutex_lock(&probe.lock);
		int n = probe.ph[ph].requests;
		pthread_mutex_unlock(&probe.lock);
		if (n)
			return;
		usleep(100000);
	}
}

/* ---- bad clients, driven from one poll loop --------------------------- */

struct client {
	int fd;
	const char *out; /* what to send: shared, never copied */
	size_t out_len, sent;
	int trickle_ms;   /* 0: send as fast as possible; else one byte per period */
	int64_t next_send;
	char in[4096]; /* the first bytes of the answer */
	size_t in_len;
	size_t in_total;
	bool closed;     /* by the server (EOF or reset) */
	int64_t started, closed_at;
	bool keep_open;  /* stop sending after the first answer, wait for EOF */
};

static void client_start(struct client *c, const char *out, size_t out_len, int trickle_ms)
{
	memset(c, 0, sizeof *c);
	c->fd = connect_nonblocking();
	c->out = out;
	c->out_len = out_len;
	c->trickle_ms = trickle_ms;
	c->started = c->next_send = now_ms();
}

static void client_closed(struct client *c)
{
	c->closed = true;
	c->closed_at = now_ms();
	close(c->fd);
	c->fd = -1;
}

static void client_read(struct client *c)
{
	char scratch[65536];
	for (;;) {
		char *dst = c->in_len + 1 < sizeof c->in ? c->in + c->in_len : scratch;
		size_t room = dst == scratch ? sizeof scratch : sizeof c->in - 1 - c->in_len;
		ssize_t n = read(c->fd, dst, room);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			client_closed(c);
			return;
		}
		if (n < 0)
			return;
		if (dst != scratch) {
			c->in_len += (size_t)n;
			c->in[c->in_len] = '\0';
		}
		c->in_total += (size_t)n;
	}
}

static void client_write(struct client *c, int64_t now)
{
	if (c->sent == c->out_len || now < c->next_send)
		return;
	size_t want = c->trickle_ms ? 1 : c->out_len - c->sent;
	ssize_t n = send(c->fd, c->out + c->sent, want, MSG_NOSIGNAL);
	if (n < 0 && errno != EAGAIN && errno != EINTR && errno != ENOTCONN) {
		client_closed(c); /* reset: the server gave up on us */
		return;
	}
	if (n > 0) {
		c->sent += (size_t)n;
		if (c->trickle_ms)
			c->next_send = now + c->trickle_ms;
	}
}

/*
 * Runs the clients until every one is closed by the server, or until
 * deadline. Returns how many the server closed.
 */
static int clients_run(struct client *cs, int n, int64_t deadline)
{
	struct pollfd *p = calloc((size_t)n, sizeof *p);
	int closed = 0;
	while (closed < n && now_ms() < deadline) {
		int64_t now = now_ms();
		int timeout = 50;
		for (int i = 0; i < n; i++) {
			struct client *c = &cs[i];
			p[i] = (struct pollfd){.fd = c->fd, .events = POLLIN};
			if (c->fd < 0)
				continue;
			if (c->sent < c->out_len) {
				if (c->next_send <= now)
					p[i].events |= POLLOUT;
				else if (c->next_send - now < timeout)
					timeout = (int)(c->next_send - now);
			}
		}
		if (poll(p, (nfds_t)n, timeout) < 0 && errno != EINTR)
			break;
		now = now_ms();
		closed = 0;
		for (int i = 0; i < n; i++) {
			struct client *c = &cs[i];
			if (c->fd >= 0 && (p[i].revents & POLLOUT))
				client_write(c, now);
			if (c->fd >= 0 && (p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				client_read(c);
			closed += c->closed;
		}
	}
	free(p);
	return closed;
}

static void clients_close(struct client *cs, int n)
{
	for (int i = 0; i < n; i++)
		if (cs[i].fd >= 0) {
			close(cs[i].fd);
			cs[i].fd = -1;
		}
}

static int status_of(const struct client *c)
{
	int status = 0;
	sscanf(c->in, "HTTP/1.%*d %d", &status);
	return status;
}

/* ---- phases ----------------------------------------------------------- */

static const char demo_req[] = "GET /v1/campaigns/" DEMO " HTTP/1.1\r\nHost: t\r\n\r\n";

/*
 * 2000 clients, twice the cap, each sending a keep-alive request. The first
 * thousand are answered at once and hold their slots until the server
 * reclaims them as idle; the rest wait in the kernel's queue and are
 * answered then. Every one gets its 200 and is eventually closed.
 */
static void test_flood(struct client *cs)
{
	atomic_store(&probe.phase, PH_FLOOD);
	int64_t t0 = now_ms();
	for (int i = 0; i < FLOOD; i++)
		client_start(&cs[i], demo_req, sizeof demo_req - 1, 0);
	int closed = clients_run(cs, FLOOD, t0 + 20000);
	int ok = 0, bad = 0;
	for (int i = 0; i < FLOOD; i++) {
		if (status_of(&cs[i]) == 200 && strstr(cs[i].in, DEMO_FIGURES))
			ok++;
		else if (bad++ < 3)
			fprintf(stderr, "flood client %d: %.80s\n", i, cs[i].in);
	}
	printf("flood: %d of %d answered 200, %d closed by the server, in %lld ms\n", ok, FLOOD,
	       closed, (long long)(now_ms() - t0));
	CHECK_INT(ok, FLOOD);
	CHECK_INT(closed, FLOOD);
	clients_close(cs, FLOOD);
}

/*
 * Clients that send a header byte every 300 ms, well within the 2 s read
 * timeout, would hold their connections for ever without a deadline for the
 * whole request. Half trickle their first request; the other half get a
 * reply to a first request and then trickle the next one on the same
 * keep-alive connection.
 */
static void test_slowloris(struct client *cs)
{
	static char after_reply[512];
	static const char trickle[] = "GET /v1/campaigns/" DEMO " HTTP/1.1\r\nHost: t\r\n"
				      "X-Slow-1: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n"
				      "X-Slow-2: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
	int n = snprintf(after_reply, sizeof after_reply, "%s%s", demo_req, trickle);
	atomic_store(&probe.phase, PH_SLOWLORIS);
	int64_t t0 = now_ms();
	for (int i = 0; i < SLOWLORIS; i++) {
		if (i % 2 == 0) {
			client_start(&cs[i], trickle, sizeof trickle - 1, 300);
		} else {
			/* The first request goes out whole, then the trickle starts. */
			client_start(&cs[i], after_reply, (size_t)n, 0);
			cs[i].out_len = sizeof demo_req - 1;
		}
	}
	int64_t deadline = t0 + 10000;
	int closed = 0;
	while (closed < SLOWLORIS && now_ms() < deadline) {
		closed = clients_run(cs, SLOWLORIS, now_ms() + 100);
		for (int i = 1; i < SLOWLORIS; i += 2)
			if (cs[i].out_len == sizeof demo_req - 1 && strstr(cs[i].in, "\r\n\r\n")) {
				cs[i].out_len = (size_t)n;
				cs[i].trickle_ms = 300;
				cs[i].started = now_ms(); /* the deadline restarts with the reply */
			}
	}
	int64_t longest = 0, shortest = INT64_MAX;
	int answered_first = 0, finished = 0;
	for (int i = 0; i < SLOWLORIS; i++) {
		int64_t held = cs[i].closed ? cs[i].closed_at - cs[i].started : now_ms() - cs[i].started;
		if (held > longest)
			longest = held;
		if (held < shortest)
			shortest = held;
		if (i % 2 == 1 && status_of(&cs[i]) == 200)
			answered_first++;
		if (cs[i].sent == cs[i].out_len)
			finished++; /* sent it all in time: the deadline did not bite */
	}
	printf("slowloris: %d of %d closed by the server, held %lld..%lld ms\n", closed, SLOWLORIS,
	       (long long)shortest, (long long)longest);
	CHECK_INT(closed, SLOWLORIS);
	CHECK_INT(answered_first, SLOWLORIS / 2);
	CHECK_INT(finished, 0);
	/* The deadline is 2 s; a second of slack for a loaded machine. */
	CHECK(shortest >= TIMEOUT_SECONDS * 1000 - 500);
	CHECK(longest <= TIMEOUT_SECONDS * 1000 + 1500);
	clients_close(cs, SLOWLORIS);
}

/* A valid request and junk in the same write: the valid one is answered. */
static void test_pipelined(struct client *cs)
{
	static char scripts[5][2048];
	static const char *const junk[5] = {
		"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
		"GARBAGE GARBAGE GARBAGE\r\n\r\n",
		"GET /v1/campaigns HTTP/1.1\r\nHost: t\r\nContent-Length: -5\r\n\r\n",
		"\r\n\r\n\r\n\x00\x00\x00\xff\xfe no newline at the end",
		"GET /v1/campaigns/" DEMO " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
	};
	size_t lens[5];
	for (int k = 0; k < 5; k++) {
		size_t jl = k == 3 ? 33 : strlen(junk[k]);
		memcpy(scripts[k], demo_req, sizeof demo_req - 1);
		memcpy(scripts[k] + sizeof demo_req - 1, junk[k], jl);
		lens[k] = sizeof demo_req - 1 + jl;
	}
	atomic_store(&probe.phase, PH_PIPELINED);
	enum { N = 200 };
	for (int i = 0; i < N; i++)
		client_start(&cs[i], scripts[i % 5], lens[i % 5], 0);
	int closed = clients_run(cs, N, now_ms() + 8000);
	int first_ok = 0, second_ok = 0;
	for (int i = 0; i < N; i++) {
		first_ok += status_of(&cs[i]) == 200 && strstr(cs[i].in, DEMO_FIGURES) != NULL;
		/* The last script is two valid requests: both answered. */
		const char *second = strstr(cs[i].in + 12, "HTTP/1.1 200");
		second_ok += i % 5 == 4 && second && strstr(second, DEMO_FIGURES) != NULL;
	}
	printf("pipelined: %d of %d answered, %d closed by the server\n", first_ok, N, closed);
	CHECK_INT(first_ok, N);
	CHECK_INT(second_ok, N / 5);
	CHECK_INT(closed, N);
	clients_close(cs, N);
}

/* Requests far beyond every limit: refused or cut off, never buffered whole. */
static void test_oversize(struct client *cs)
{
	enum { BIG = 1 << 20, KINDS = 5, N = 100 };
	char *scripts[KINDS];
	size_t lens[KINDS];
	for (int k = 0; k < KINDS; k++) {
		scripts[k] = malloc(BIG + 256);
		memset(scripts[k], 'a', BIG + 256);
	}
	/* A request line of a megabyte. */
	int n = snprintf(scripts[0], 256, "GET /v1/campaigns/");
	scripts[0][n] = 'a';
	lens[0] = BIG;
	/* One header of a megabyte. */
	n = snprintf(scripts[1], 256, "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: ");
	scripts[1][n] = 'a';
	lens[1] = BIG;
	/* Fifty thousand small headers. */
	n = snprintf(scripts[2], 256, "GET /healthz HTTP/1.1\r\nHost: t\r\n");
	for (size_t off = (size_t)n; off + 20 < BIG; off += 20)
		memcpy(scripts[2] + off, "X-Many: 1234567890\r\n", 20);
	lens[2] = BIG;
	/* A declared gigabyte body, sent for a megabyte. */
	n = snprintf(scripts[3], 256, "POST /v1/campaigns HTTP/1.1\r\nHost: t\r\n"
				      "Content-Length: 1000000000\r\n\r\n");
	scripts[3][n] = 'a';
	lens[3] = BIG;
	/* A chunked body whose first chunk is a megabyte. */
	n = snprintf(scripts[4], 256, "POST /v1/campaigns HTTP/1.1\r\nHost: t\r\n"
				      "Transfer-Encoding: chunked\r\n\r\nfffff\r\n");
	scripts[4][n] = 'a';
	lens[4] = BIG;

	/* Each round is over quickly: rounds go on for a second, so that the
	 * normal client is answered while they come. */
	atomic_store(&probe.phase, PH_OVERSIZE);
	int64_t t0 = now_ms();
	int rounds = 0, closed = 0, answered_2xx = 0;
	while (rounds < 20 && (rounds == 0 || now_ms() - t0 < 1000)) {
		for (int i = 0; i < N; i++)
			client_start(&cs[i], scripts[i % KINDS], lens[i % KINDS], 0);
		closed += clients_run(cs, N, now_ms() + 10000);
		for (int i = 0; i < N; i++) {
			int status = status_of(&cs[i]);
			answered_2xx += status >= 200 && status < 300;
		}
		clients_close(cs, N);
		rounds++;
	}
	printf("oversize: %d of %d closed by the server (%d rounds), %d got 2xx\n", closed,
	       N * rounds, rounds, answered_2xx);
	CHECK_INT(closed, N * rounds);
	CHECK_INT(answered_2xx, 0);
	for (int k = 0; k < KINDS; k++)
		free(scripts[k]);
}

/* Long comments to page through: each 4000 quotes, 8000 bytes in JSON. */
static void add_long_comments(struct store *st)
{
	static char json[9000];
	char text[8001];
	for (int k = 0; k < 8000; k += 2)
		memcpy(text + k, "\\\"", 2);
	text[8000] = '\0';
	for (int i = 0; i < SLOW_COMMENTS; i++) {
		snprintf(json, sizeof json,
			 "{\"v\":1,\"type\":\"comment.posted\",\"id\":\"slow-%d\",\"at\":%lld,"
			 "\"campaign\":\"" DEMO "\",\"comment\":\"slow-%d\",\"supporter\":\"sup-0010\","
			 "\"text\":\"%s\"}",
			 i, 1579900000000LL + i, i, text);
		if (fixture_ingest(st, json)) {
			fprintf(stderr, "cannot add comment %d\n", i);
			exit(2);
		}
	}
}

static void send_all(int fd, const char *req, size_t len)
{
	size_t sent = 0;
	int64_t deadline = now_ms() + 5000;
	while (sent < len && now_ms() < deadline) {
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		if (poll(&p, 1, 100) <= 0)
			continue;
		ssize_t n = send(fd, req + sent, len - sent, MSG_NOSIGNAL);
		if (n > 0)
			sent += (size_t)n;
		else if (n < 0 && errno != EAGAIN && errno != EINTR)
			break;
	}
}

/* Whether each of n connections has bytes to read, or was closed or reset. */
static bool all_answered(const int *fds, int n)
{
	for (int i = 0; i < n; i++) {
		char c;
		if (recv(fds[i], &c, 1, MSG_PEEK | MSG_DONTWAIT) < 0 &&
		    (errno == EAGAIN || errno == EWOULDBLOCK))
			return false;
	}
	return true;
}

/*
 * 400 clients with a 4 KiB receive buffer each ask for a different page of
 * long comments and read nothing. The server renders what fits its output
 * budget, tells the rest 503 or sheds older slow clients for them, and
 * closes each connection that stays over its own cap at the deadline: what
 * waits for slow clients, and the heap, stay bounded, and are released.
 */
static void test_slow_readers(void)
{
	atomic_store(&probe.phase, PH_SLOW_READERS);
	long heap0 = heap_kb(), heap_peak = heap0, rss0 = rss_kb(), rss_peak = rss0;
	int64_t queued_peak = 0;
	int fds[SLOW_READERS];
	int64_t t0 = now_ms();
	for (int i = 0; i < SLOW_READERS; i++) {
		char req[256];
		int n = snprintf(req, sizeof req,
				 "GET /v1/campaigns/" DEMO "/comments?limit=100&before=%lld.0 HTTP/1.1\r\n"
				 "Host: t\r\n\r\n",
				 1579900000000LL + SLOW_COMMENTS - 1 - i % 300);
		fds[i] = connect_nonblocking_to(port, 4096);
		send_all(fds[i], req, (size_t)n);
	}
	/* Past the deadline (2 s) and then some, sampling what waits and the heap,
	 * until every client has its answer and what waited is released: on a
	 * machine busy with other work that can take longer (a minute at most). */
	int64_t q = 0;
	for (;;) {
		q = atomic_load(&m.http_output_queued);
		if (q > queued_peak)
			queued_peak = q;
		long heap = heap_kb(), rss = rss_kb();
		if (heap > heap_peak)
			heap_peak = heap;
		if (rss > rss_peak)
			rss_peak = rss;
		int64_t waited = now_ms() - t0;
		if ((waited >= (TIMEOUT_SECONDS + 3) * 1000 && q < 1 << 20 &&
		     all_answered(fds, SLOW_READERS)) ||
		    waited >= 60000)
			break;
		usleep(10000);
	}
	int64_t queued_after = q;
	int answered = 0, busy = 0;
	for (int i = 0; i < SLOW_READERS; i++) {
		char head[64] = "";
		ssize_t n = recv(fds[i], head, sizeof head - 1, MSG_DONTWAIT);
		head[n > 0 ? n : 0] = '\0';
		answered += strncmp(head, "HTTP/1.1 200", 12) == 0;
		busy += strncmp(head, "HTTP/1.1 503", 12) == 0;
		close(fds[i]);
	}
	printf("slow readers: %d answered 200, %d told 503; queued peak %lld bytes, %lld after the "
	       "deadline; heap %ld kB, peak %ld kB; RSS %ld kB, peak %ld kB\n",
	       answered, busy, (long long)queued_peak, (long long)queued_after, heap0, heap_peak,
	       rss0, rss_peak);
	CHECK_INT(answered + busy, SLOW_READERS);
	/* The budget was reached; past it, a request is told 503 or finds room
	 * by closing the connections that left their answers unread for a
	 * second, as on a machine slow enough to take seconds over the 400. */
	CHECK(answered > 0 && queued_peak >= (int64_t)MAX_OUTPUT_BYTES);
	/* The budget, plus what each worker rendered while it was just under it. */
	CHECK(queued_peak <= (int64_t)MAX_OUTPUT_BYTES + 2 * (1 << 20));
	CHECK(queued_after < 1 << 20); /* closed at the deadline: released */
	CHECK(heap_peak - heap0 < SLOW_HEAP_MAX_KB);
}

/* The operators' /healthz on a fresh connection: its status; *ms how long it took. */
static int admin_health(int64_t *ms)
{
	char buf[1024];
	int64_t t0 = now_ms();
	int status = http_client_get(admin_port, "/healthz", buf, sizeof buf, 2000);
	*ms = now_ms() - t0;
	return status;
}

/*
 * 5000 connections that send nothing: a thousand fill the public
 * listener's cap, the rest its accept queue. The operators' listener is
 * apart, so /healthz answers at once all along.
 */
static void test_idle_flood(void)
{
	atomic_store(&probe.phase, PH_IDLE_FLOOD);
	int *fds = malloc(IDLE_FLOOD * sizeof *fds);
	for (int i = 0; i < IDLE_FLOOD; i++)
		fds[i] = connect_nonblocking();
	usleep(300000);
	int64_t slowest = 0;
	int ok = 0;
	for (int i = 0; i < 20; i++) {
		int64_t ms;
		ok += admin_health(&ms) == 200;
		if (ms > slowest)
			slowest = ms;
		usleep(50000);
	}
	printf("idle flood: /healthz on the operators' listener 200 %d of 20 times, slowest %lld ms "
	       "(50 ms promised)\n",
	       ok, (long long)slowest);
	CHECK_INT(ok, 20);
	CHECK(slowest <= HEALTH_BOUND_MS);
	wait_probe(PH_IDLE_FLOOD);
	for (int i = 0; i < IDLE_FLOOD; i++)
		close(fds[i]);
	free(fds);
}

#define SMALL_BUDGET (1 << 20)

/*
 * A server of its own over st, one worker with a 1 MiB output budget and a
 * 30 s timeout (which would keep clients that stop reading all along),
 * counting into *mine; NULL, counted as a failure, when it cannot start.
 */
static struct http_server *start_small_server(struct store *st, struct metrics *mine)
{
	struct http_server *small = NULL;
	struct http_server_options opt = {.listen = "127.0.0.1:0", .threads = 1,
					  .max_connections = 64, .timeout_seconds = 30,
					  .max_output_bytes = SMALL_BUDGET};
	metrics_init(mine);
	metrics_set_state(mine, CONSUMER_CONSUMING, "test");
	CHECK_INT(http_server_start(&small, st, mine, &opt), 0);
	if (!small)
		metrics_deinit(mine);
	return small;
}

/*
 * Clients that take part of a reply and then read no more, each leaving
 * less than the 256 KiB a connection may leave unread, together over the
 * server's max_output_bytes: a second later, a new request gets its answer,
 * the server having let them go, not a 503.
 */
static void test_stalled_holders(struct store *st)
{
	enum { HOLDERS = 48 };
	struct metrics mine;
	struct http_server *small = start_small_server(st, &mine);
	if (!small)
		return;
	int to = http_server_port(small), fds[HOLDERS];
	for (int i = 0; i < HOLDERS; i++) {
		char req[256]; /* 40 comments of 8 kB: about 320 kB each */
		int n = snprintf(req, sizeof req,
				 "GET /v1/campaigns/" DEMO "/comments?limit=40&before=%lld.0 HTTP/1.1\r\n"
				 "Host: t\r\n\r\n",
				 1579900000000LL + SLOW_COMMENTS - 1 - i);
		fds[i] = connect_nonblocking_to(to, 4096);
		send_all(fds[i], req, (size_t)n);
	}
	int64_t t0 = now_ms();
	while (atomic_load(&mine.http_output_queued) <= SMALL_BUDGET && now_ms() - t0 < 5000)
		usleep(10000);
	int64_t held = atomic_load(&mine.http_output_queued);
	usleep((HTTP_SHED_AFTER_MS + 300) * 1000);
	char buf[8192];
	int status = http_client_get(to, "/v1/campaigns/" DEMO, buf, sizeof buf, 3000);
	int64_t after = atomic_load(&mine.http_output_queued);
	/* Let go: what the kernel holds for it, then its end. */
	int closed = 0;
	int64_t until = now_ms() + 3000;
	for (int i = 0; i < HOLDERS; i++) {
		char drain[65536];
		ssize_t n = -1;
		while (now_ms() < until) {
			struct pollfd p = {.fd = fds[i], .events = POLLIN};
			if (poll(&p, 1, 100) <= 0)
				continue;
			n = recv(fds[i], drain, sizeof drain, 0);
			if (n == 0 || (n < 0 && errno != EAGAIN))
				break;
		}
		closed += n == 0 || (n < 0 && errno == ECONNRESET);
		close(fds[i]);
	}
	printf("stalled holders: %lld bytes held by %d clients over a budget of %d; a new request "
	       "%d a second later, %lld bytes held then, %d of the holders let go\n",
	       (long long)held, HOLDERS, SMALL_BUDGET, status, (long long)after, closed);
	CHECK(held > SMALL_BUDGET);
	CHECK_INT(status, 200);
	CHECK(after <= SMALL_BUDGET);
	/* Those whose rest all fit in the kernel's buffers hold nothing here. */
	CHECK(closed > 0);
	http_server_stop(small);
	metrics_deinit(&mine);
}

/*
 * Clients that read part of a page and stop, each holding about 300 kB of
 * it unread, fill a server's 1 MiB budget; a request a second later lets
 * them go. Their answers must be freed as they are let go, not after the
 * rest of the worker's turn: the test holds the metrics' lock, which the
 * worker takes to answer, so the turn that let them go waits there while
 * the heap is measured. Having read, the holders made the server write to
 * them from the bufferevent, which keeps the front of its output frozen
 * between its own writes.
 */
static void test_shed_frees_at_once(struct store *st)
{
	enum { HOLDERS = 24, READ = 64 << 10 };
	struct metrics mine;
	struct http_server *small = start_small_server(st, &mine);
	if (!small)
		return;
	int to = http_server_port(small), fds[HOLDERS];
	static const char page_req[] = "GET /c/" DEMO " HTTP/1.1\r\nHost: t\r\n\r\n";
	for (int i = 0; i < HOLDERS; i++) {
		fds[i] = connect_nonblocking_to(to, 4096);
		send_all(fds[i], page_req, sizeof page_req - 1);
		/* Part of the page (about 480 kB), or all of a 503. */
		char buf[16384];
		size_t got = 0;
		int64_t until = now_ms() + 3000;
		while (got < READ && now_ms() < until) {
			struct pollfd p = {.fd = fds[i], .events = POLLIN};
			if (poll(&p, 1, 100) <= 0)
				continue;
			ssize_t n = recv(fds[i], buf, sizeof buf, 0);
			if (n <= 0 && !(n < 0 && errno == EAGAIN))
				break;
			got += n > 0 ? (size_t)n : 0;
		}
	}
	int64_t held = atomic_load(&mine.http_output_queued);
	usleep((HTTP_SHED_AFTER_MS + 300) * 1000);

	pthread_mutex_lock(&mine.lock);
	long before = heap_kb();
	static const char req[] = "GET /v1/campaigns/" DEMO " HTTP/1.1\r\nHost: t\r\n\r\n";
	int fd = connect_nonblocking_to(to, 0);
	send_all(fd, req, sizeof req - 1);
	int64_t until = now_ms() + 3000;
	while (atomic_load(&mine.http_output_queued) > SMALL_BUDGET && now_ms() < until)
		usleep(10000);
	usleep(200000); /* the worker is past the holders, waiting for the lock */
	long after = heap_kb();
	int64_t left = atomic_load(&mine.http_output_queued);
	pthread_mutex_unlock(&mine.lock);

	char head[64] = "";
	until = now_ms() + 3000;
	ssize_t n = -1;
	while (n <= 0 && now_ms() < until) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 100) > 0)
			n = recv(fd, head, sizeof head - 1, 0);
	}
	head[n > 0 ? n : 0] = '\0';
	close(fd);
	for (int i = 0; i < HOLDERS; i++)
		close(fds[i]);
	printf("holders let go: %lld bytes unread over a budget of %d, %lld left; heap %ld kB "
	       "before, %ld kB once they were let go, in the same turn\n",
	       (long long)held, SMALL_BUDGET, (long long)left, before, after);
	CHECK(held > SMALL_BUDGET);
	CHECK(left <= SMALL_BUDGET);
	CHECK(strncmp(head, "HTTP/1.1 200", 12) == 0);
	/* Freed at once: most of what they held. */
	CHECK(before - after > (long)(held >> 10) / 2);
	http_server_stop(small);
	metrics_deinit(&mine);
}

/* Enough descriptors for the floods' both ends, the server's and ours. */
static bool raise_fd_limit(void)
{
	struct rlimit rl;
	rlim_t want = IDLE_FLOOD + MAX_CONNECTIONS + 2 * SLOW_READERS + 256;
	if (getrlimit(RLIMIT_NOFILE, &rl))
		return false;
	if (rl.rlim_cur >= want)
		return true;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) {
		fprintf(stderr, "RLIMIT_NOFILE hard limit %llu < %llu\n",
			(unsigned long long)rl.rlim_max, (unsigned long long)want);
		return false;
	}
	rl.rlim_cur = want;
	return setrlimit(RLIMIT_NOFILE, &rl) == 0;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: test_hostile DEMO_JSONL\n");
		return 2;
	}
	if (!raise_fd_limit())
		return 77; /* cannot open enough sockets here: skipped */
	char dir[4096];
	struct store *st = fixture_store(dir, sizeof dir, 0);
	struct ingest_stats loaded;
	fixture_ingest_file(st, argv[1], 100, &loaded);
	add_long_comments(st);

	metrics_init(&m);
	metrics_set_state(&m, CONSUMER_CONSUMING, "test");
	struct http_server *hs, *admin;
	struct http_server_options opt = {.listen = "127.0.0.1:0", .threads = 2,
					  .max_connections = MAX_CONNECTIONS,
					  .timeout_seconds = TIMEOUT_SECONDS,
					  .max_output_bytes = MAX_OUTPUT_BYTES};
	struct http_server_options admin_opt = {.listen = "127.0.0.1:0", .listener = HTTP_ADMIN,
						.threads = 1, .max_connections = 64};
	CHECK_INT(http_server_start(&hs, st, &m, &opt), 0);
	CHECK_INT(http_server_start(&admin, st, &m, &admin_opt), 0);
	if (!hs || !admin)
		return check_done();
	port = http_server_port(hs);
	admin_port = http_server_port(admin);

	struct client *cs = calloc(FLOOD, sizeof *cs);
	pthread_t prober;
	pthread_create(&prober, NULL, probe_main, NULL);
	usleep(300000);
	long heap_start = heap_kb();

	test_flood(cs);
	print_memory("flood");
	test_slowloris(cs);
	print_memory("slowloris");
	test_pipelined(cs);
	print_memory("pipelined");
	test_oversize(cs);
	print_memory("oversize");
	test_slow_readers();
	print_memory("slow readers");
	test_idle_flood();
	print_memory("idle flood");
	test_stalled_holders(st);
	test_shed_frees_at_once(st);

	/* Half a second of normal traffic afterwards, and at least one answer. */
	atomic_store(&probe.phase, PH_AFTER);
	usleep(500000);
	wait_probe(PH_AFTER);
	atomic_store(&probe.stop, true);
	pthread_join(prober, NULL);
	long heap_end = heap_kb();

	for (int ph = 0; ph < PH_COUNT; ph++) {
		struct probe_stats *s = &probe.ph[ph];
		printf("normal client during %s: %d requests, %d failed, %d told 503, %d slower than "
		       "%lld ms, slowest %lld ms\n",
		       phase_names[ph], s->requests, s->failures, s->busy, s->slow,
		       (long long)phase_bound_ms[ph], (long long)s->max_ms);
		CHECK_INT(s->failures, 0);
		CHECK_INT(s->slow, 0);
		if (ph != PH_IDLE)
			CHECK(s->requests > 0);
	}
	printf("heap: %ld kB at start, peak %ld kB, %ld kB at end; RSS at end %ld kB\n", heap_start,
	       probe.heap_peak_kb, heap_end, rss_kb());
	CHECK(probe.heap_peak_kb - heap_start < HEAP_GROWTH_MAX_KB);
	CHECK(probe_once());

	free(cs);
	http_server_stop(admin);
	http_server_stop(hs);
	metrics_deinit(&m);
	store_close(st);
	fixture_remove(dir);
	return check_done();
}
