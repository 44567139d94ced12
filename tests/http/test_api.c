/*
 * test_api.c — the HTTP server over real sockets (docs/http.md).
 *
 * Starts http_server in-process on 127.0.0.1, port 0, over a temporary
 * data dir loaded with the demo campaign (argv[1]), and talks to it with a
 * small blocking socket client, so every byte on the wire is ours: every
 * endpoint and error, conditional requests, pagination while comments
 * arrive, Server-Sent Events after an ingest and http_server_notify(),
 * Prometheus text format, and clients that send garbage, too much, or
 * nothing at all.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "check.h"
#include "clock.h"
#include "fixture.h"

#include "event_codec.h"
#include "http_feed_changes.h"
#include "http_internal.h"
#include "http_query.h"
#include "http_server.h"
#include "ingest.h"
#include "rebuild.h"
#include "metrics.h"
#include "pl_error.h"
#include "replay.h"
#include "store.h"

#define DEMO "jess-phillips-for-labour-leader"

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- events ---------------------------------------------------------- */

static int64_t next_offset;

/* Applies JSON events (one per line) in one batch; returns the log position after. */
static uint64_t ingest_lines(struct store *st, const char *lines)
{
	struct ingest_msg msgs[64] = {0};
	msgpack_sbuffer bufs[64];
	size_t n = 0;
	const char *p = lines;
	while (*p && n < 64) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		if (len) {
			char err[128];
			msgpack_sbuffer_init(&bufs[n]);
			if (pl_json_to_msgpack(p, len, &bufs[n], err, sizeof err)) {
				fprintf(stderr, "bad test event: %s\n", err);
				exit(2);
			}
			msgs[n] = (struct ingest_msg){
				.src = {"test", 4, 0, next_offset++},
				.value = bufs[n].data,
				.value_len = bufs[n].size,
			};
			n++;
		}
		p += len + (nl ? 1 : 0);
	}
	struct ingest_stats stats;
	int rc = ingest_batch(fixture_writer(st), msgs, n, "", 1700000000000, &stats);
	for (size_t i = 0; i < n; i++)
		msgpack_sbuffer_destroy(&bufs[i]);
	CHECK_INT(rc, 0);
	return stats.last_seq;
}

/* Opens campaign (events "<campaign>-1" and "-2") with one pledge of £7 by supporter "s". */
static void open_with_pledge(struct store *st, const char *campaign, const char *title,
			     const char *pledge)
{
	char lines[600];
	snprintf(lines, sizeof lines,
		 "{\"v\":1,\"type\":\"campaign.opened\",\"id\":\"%s-1\",\"at\":1700000000000,"
		 "\"campaign\":\"%s\",\"title\":\"%s\",\"owner\":\"o\",\"currency\":\"GBP\"}\n"
		 "{\"v\":1,\"type\":\"pledge.created\",\"id\":\"%s-2\",\"at\":1700000000001,"
		 "\"campaign\":\"%s\",\"pledge\":\"%s\",\"supporter\":\"s\",\"amount\":700,"
		 "\"currency\":\"GBP\"}\n",
		 campaign, campaign, title, campaign, campaign, pledge);
	ingest_lines(st, lines);
}

/* Stores a raw message (for rejections); returns the log position after. */
static uint64_t ingest_raw(struct store *st, const void *raw, size_t len)
{
	struct ingest_msg msg = {.src = {"test", 4, 0, next_offset++}, .value = raw, .value_len = len};
	struct ingest_stats stats;
	CHECK_INT(ingest_batch(fixture_writer(st), &msg, 1, "", 1700000000000, &stats), 0);
	return stats.last_seq;
}

/* ---- a blocking client --------------------------------------------- */

static int port;

static int connect_server(int to_port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)to_port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa)) {
		perror("connect");
		exit(2);
	}
	return fd;
}

/* Reads what arrives within timeout_ms (until EOF, or until stop appears). */
static size_t read_some(int fd, char *buf, size_t size, int timeout_ms, const char *stop)
{
	size_t len = 0;
	int64_t deadline = now_ms() + timeout_ms;
	while (len + 1 < size) {
		int left = (int)(deadline - now_ms());
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		if (left <= 0 || poll(&pfd, 1, left) <= 0)
			break;
		ssize_t n = read(fd, buf + len, size - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		if (stop && strstr(buf, stop))
			break;
	}
	buf[len] = '\0';
	return len;
}

static void write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n <= 0)
			return; /* the server may close on us mid-request: that is a valid answer */
		p += n;
		len -= (size_t)n;
	}
}

struct resp {
	int status;
	char raw[2 << 20];
	size_t len;
	char *body;
};

static void parse_resp(struct resp *r)
{
	r->status = 0;
	r->body = strstr(r->raw, "\r\n\r\n");
	r->body = r->body ? r->body + 4 : r->raw + r->len;
	sscanf(r->raw, "HTTP/1.%*d %d", &r->status);
}

/* Sends raw bytes on a new connection and reads the answer until the server closes. */
static void raw_request(int to_port, const void *req, size_t len, struct resp *r, int timeout_ms)
{
	int fd = connect_server(to_port);
	write_all(fd, req, len);
	r->len = read_some(fd, r->raw, sizeof r->raw, timeout_ms, NULL);
	close(fd);
	parse_resp(r);
}

static struct resp R; /* the last answer */

static int request_to(int to_port, const char *method, const char *path, const char *headers)
{
	char req[40000];
	int n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: test\r\nConnection: close\r\n%s\r\n",
			 method, path, headers ? headers : "");
	raw_request(to_port, req, (size_t)n, &R, 5000);
	return R.status;
}

/* On the public listener. */
static int request(const char *method, const char *path, const char *headers)
{
	return request_to(port, method, path, headers);
}

static int get(const char *path)
{
	return request("GET", path, NULL);
}

static int get_if_none_match(const char *path, const char *etag)
{
	char inm[128];
	snprintf(inm, sizeof inm, "If-None-Match: %s\r\n", etag);
	return request("GET", path, inm);
}

/* The names of the last answer's header fields but Date, one a line. */
static void header_names(char *out, size_t size)
{
	size_t n = 0;
	out[0] = '\0';
	for (const char *p = strstr(R.raw, "\r\n"); p && p < R.body - 2; p = strstr(p + 2, "\r\n")) {
		size_t len = strcspn(p + 2, ":\r\n");
		if (len && strncasecmp(p + 2, "Date:", 5) != 0 && n + len + 2 <= size) {
			memcpy(out + n, p + 2, len);
			n += len;
			out[n++] = '\n';
			out[n] = '\0';
		}
	}
}

/* A HEAD of path answers the header fields a GET does (RFC 9110 9.3.2),
 * framing too, over HTTP/version; the GET's stream is cut short. */
static void check_head_as_get(const char *path, const char *version)
{
	char req[512], get_names[2048], head_names[2048];
	for (int head = 0; head < 2; head++) {
		int n = snprintf(req, sizeof req,
				 "%s %s HTTP/%s\r\nHost: test\r\nConnection: close\r\n\r\n",
				 head ? "HEAD" : "GET", path, version);
		raw_request(port, req, (size_t)n, &R, 1000);
		CHECK_INT(R.status, 200);
		header_names(head ? head_names : get_names, sizeof get_names);
	}
	if (strcmp(get_names, head_names) != 0)
		fprintf(stderr, "HTTP/%s GET %s:\n%sHEAD:\n%s", version, path, get_names, head_names);
	CHECK_STR(head_names, get_names);
}

/* On the operators' listener. */
static int admin_port;

static int admin_get(const char *path)
{
	return request_to(admin_port, "GET", path, NULL);
}

/* The value of header name in the last answer ("" when absent). */
static const char *header(const char *name)
{
	static char value[512];
	value[0] = '\0';
	size_t nlen = strlen(name);
	for (const char *p = strstr(R.raw, "\r\n"); p && p < R.body - 2; p = strstr(p + 2, "\r\n")) {
		const char *line = p + 2;
		if (strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
			const char *v = line + nlen + 1;
			while (*v == ' ')
				v++;
			const char *end = strstr(v, "\r\n");
			size_t len = end ? (size_t)(end - v) : strlen(v);
			if (len >= sizeof value)
				len = sizeof value - 1;
			memcpy(value, v, len);
			value[len] = '\0';
			return value;
		}
	}
	return value;
}

static json_t *body_json(void)
{
	json_error_t err;
	json_t *j = json_loads(R.body, 0, &err);
	if (!j)
		fprintf(stderr, "not JSON (%s): %.200s\n", err.text, R.body);
	return j;
}

/* The error message of a JSON error answer ("" when it is not one). */
static const char *error_text(void)
{
	static char text[256];
	json_t *j = body_json();
	const char *s = json_string_value(json_object_get(j, "error"));
	snprintf(text, sizeof text, "%s", s ? s : "");
	json_decref(j);
	return text;
}

/* ---- tests ----------------------------------------------------------- */

static struct store *st;
static struct metrics m;
static struct http_server *hs, *admin;
static uint64_t seq;

static void test_campaigns(void)
{
	char etag[64];
	CHECK_INT(get("/v1/campaigns"), 200);
	CHECK_STR(header("Content-Type"), "application/json; charset=utf-8");
	CHECK_STR(header("Cache-Control"), "no-cache");
	/* A content tag: "c" and 16 hex digits of a hash of the body. */
	snprintf(etag, sizeof etag, "%s", header("ETag"));
	CHECK(strlen(etag) == 19 && strncmp(etag, "\"c", 2) == 0 && etag[18] == '"');
	char s[32];
	snprintf(s, sizeof s, "%llu", (unsigned long long)seq);
	CHECK_STR(header("X-Pledged-Seq"), s);
	CHECK_STR(header("X-Pledged-Seq"), s);
	CHECK_STR(header("X-Pledged-Lag"), "-1"); /* no partitions assigned: unknown */
	metrics_set_partition(&m, "pledges", 0, 5, 8);
	CHECK_INT(get("/v1/campaigns"), 200);
	CHECK_STR(header("X-Pledged-Lag"), "3"); /* 8 on the broker, 5 applied */
	metrics_clear_partitions(&m);
	json_t *j = body_json();
	json_t *list = json_object_get(j, "campaigns");
	CHECK(json_is_array(list));
	json_t *demo = NULL;
	size_t i;
	json_t *c;
	json_array_foreach(list, i, c) if (strcmp(json_string_value(json_object_get(c, "id")), DEMO) == 0)
		demo = c;
	CHECK(demo != NULL);
	CHECK_INT(json_integer_value(json_object_get(demo, "raised")), 5804100);
	CHECK_INT(json_integer_value(json_object_get(demo, "supporters")), 1975);
	CHECK_INT(json_integer_value(json_object_get(demo, "days")), 19);
	json_decref(j);

	metrics_set_partition(&m, "pledges", 0, 90, 100);
	CHECK_INT(get("/v1/campaigns/" DEMO), 200);
	CHECK_STR(header("X-Pledged-Lag"), "10");
	metrics_clear_partitions(&m);
	j = body_json();
	CHECK_STR(json_string_value(json_object_get(j, "status")), "closed");
	CHECK_STR(json_string_value(json_object_get(j, "currency")), "GBP");
	CHECK(json_is_null(json_object_get(j, "target")));
	CHECK_INT(json_integer_value(json_object_get(j, "comments")), 11);
	json_decref(j);

	/* Percent-encoded ids, including an encoded "/" and a space. */
	CHECK_INT(get("/v1/campaigns/jess%2Dphillips%2dfor-labour-leader"), 200);
	CHECK_INT(get("/v1/campaigns/slash%2Fand%20space"), 200);
	j = body_json();
	CHECK_STR(json_string_value(json_object_get(j, "id")), "slash/and space");
	CHECK_INT(json_integer_value(json_object_get(j, "target")), 100000);
	json_decref(j);
	CHECK_INT(get("/v1/campaigns/slash/and%20space"), 404);
	CHECK_INT(get("/v1/campaigns/bad%zzescape"), 400);

	/* The id as a parameter after an empty segment: what browsers need for "." and "..". */
	CHECK_INT(get("/v1/campaigns/?id=slash%2Fand%20space"), 200);
	j = body_json();
	CHECK_STR(json_string_value(json_object_get(j, "id")), "slash/and space");
	json_decref(j);
	/* As a form or URLSearchParams writes it: a '+' in a parameter is a space. */
	CHECK_INT(get("/v1/campaigns/?id=slash%2Fand+space"), 200);
	j = body_json();
	CHECK_STR(json_string_value(json_object_get(j, "id")), "slash/and space");
	json_decref(j);
	CHECK_INT(get("/v1/campaigns//comments?id=" DEMO "&limit=1"), 200);
	CHECK(strstr(R.body, "\"comments\":[{") != NULL);
	CHECK_INT(get("/v1/campaigns//history?id=" DEMO "&interval=week"), 200);
	CHECK_INT(get("/v1/campaigns/?id=bad%zzescape"), 400);
	CHECK_STR(error_text(), "bad percent-encoding in the id parameter");
	CHECK_INT(get("/v1/campaigns/?id=" DEMO "&id=x"), 400);
	CHECK_STR(error_text(), "parameter id given twice");
	CHECK_INT(get("/v1/campaigns/" DEMO "?id=x"), 400); /* an id in the path takes no other */
	CHECK_INT(get("/v1/campaigns/?id="), 404);
	CHECK_INT(get("/v1/campaigns/?id=no-such-campaign"), 404);
	CHECK_STR(error_text(), "no such campaign");

	CHECK_INT(get("/v1/campaigns/no-such-campaign"), 404);
	CHECK_STR(error_text(), "no such campaign");
	CHECK_STR(header("Content-Type"), "application/json; charset=utf-8");
	CHECK_INT(get("/v1/campaigns/no-such-campaign/comments"), 404);
	CHECK_INT(get("/v1/campaigns/" DEMO "/nope"), 404);
	CHECK_INT(get("/nope"), 404);
	CHECK_STR(error_text(), "no such path");
	CHECK_INT(get("/v1/campaigns/"), 404);
	CHECK_INT(get("/v1"), 404);

	CHECK_INT(request("POST", "/v1/campaigns", "Content-Length: 0\r\n"), 405);
	CHECK_STR(header("Allow"), "GET, HEAD, OPTIONS");
	CHECK(strstr(error_text(), "method not allowed") != NULL);
	CHECK_INT(request("DELETE", "/v1/campaigns/" DEMO, NULL), 405);
	CHECK_INT(request_to(admin_port, "PATCH", "/healthz", NULL), 405);
	CHECK_STR(header("Allow"), "GET, HEAD");
	CHECK_INT(request("POST", "/v1/campaigns/" DEMO "/stream", "Content-Length: 0\r\n"), 405);
	CHECK_STR(header("Allow"), "GET, HEAD, OPTIONS");
	/* evhttp takes a CONNECT for a tunnel: its 405 must still say its
	 * length and end the connection, as the client asked, not at the
	 * idle timeout. */
	int64_t asked = now_ms();
	CHECK_INT(request("CONNECT", "/v1/campaigns/" DEMO, NULL), 405);
	CHECK(now_ms() - asked < 4000);
	CHECK_STR(header("Allow"), "GET, HEAD, OPTIONS");
	CHECK_INT(atoi(header("Content-Length")), strlen(R.body));
	CHECK(strstr(error_text(), "method not allowed") != NULL);
	CHECK_INT(request("HEAD", "/v1/campaigns/" DEMO, NULL), 200);
	CHECK_INT((long long)strlen(R.body), 0);
	/* The stream's head: its headers, and no stream left open. */
	CHECK_INT(request("HEAD", "/v1/campaigns/" DEMO "/stream", NULL), 200);
	CHECK_STR(header("Content-Type"), "text/event-stream; charset=utf-8");
	CHECK_INT((long long)strlen(R.body), 0);
	check_head_as_get("/v1/campaigns/" DEMO "/stream", "1.1");
	check_head_as_get("/v1/campaigns/" DEMO "/stream", "1.0");
	check_head_as_get("/v1/campaigns", "1.1");
	check_head_as_get("/v1/campaigns/" DEMO "/comments", "1.1");
	check_head_as_get("/c/" DEMO, "1.1");
	check_head_as_get("/assets/page.js", "1.1");
	CHECK_INT(request("HEAD", "/v1/campaigns/no-such-campaign/stream", NULL), 404);
	/* Every answer to a HEAD goes without its body, errors before the route
	 * too: a body there would be read as the start of the next answer. */
	static const char *const head_errors[][2] = {
		{"/nope", NULL},
		{"/v1/rejections", NULL}, /* the operators' listener's */
		{"/v1/campaigns/" DEMO, "Content-Length: 1\r\nContent-Length: 2\r\n"},
	};
	for (size_t i = 0; i < sizeof head_errors / sizeof head_errors[0]; i++) {
		CHECK_INT(request("HEAD", head_errors[i][0], head_errors[i][1]), i < 2 ? 404 : 400);
		CHECK_INT((long long)strlen(R.body), 0);
		CHECK(atoi(header("Content-Length")) > 0);
	}

	CHECK_INT(get("/v1/campaigns?x=1"), 400);
	CHECK(strstr(error_text(), "unknown parameter") != NULL);

	/* A target in absolute form (RFC 9112 3.2.2) keeps its connection as
	 * any other: the request pipelined behind is answered, and one that
	 * asks to close is told so, then closed. */
	static const char absolute[] = "GET http://test/v1/totals HTTP/1.1\r\nHost: test\r\n\r\n"
				       "GET http://test/v1/totals HTTP/1.1\r\nHost: test\r\n"
				       "Connection: close\r\n\r\n";
	asked = now_ms();
	raw_request(port, absolute, sizeof absolute - 1, &R, 3000);
	CHECK(now_ms() - asked < 2000);
	const char *second = strstr(R.raw + 1, "HTTP/1.1 200");
	CHECK(strncmp(R.raw, "HTTP/1.1 200", 12) == 0 && second != NULL);
	CHECK(second && strstr(second, "\r\nConnection: close\r\n") != NULL);
	/* "close" among other options, or in a second field, is asked all the same. */
	static const char *const closing[] = {"Connection: TE, close\r\nTE: trailers\r\n",
					      "Connection: keep-alive\r\nConnection: Close\r\n"};
	for (size_t i = 0; i < sizeof closing / sizeof closing[0]; i++) {
		char req[256];
		int n = snprintf(req, sizeof req, "GET /v1/totals HTTP/1.1\r\nHost: test\r\n%s\r\n",
				 closing[i]);
		asked = now_ms();
		raw_request(port, req, (size_t)n, &R, 3000);
		CHECK(now_ms() - asked < 2000);
		CHECK_INT(R.status, 200);
		CHECK_STR(header("Connection"), "close");
	}
}

static void test_conditional(void)
{
	char etag[64], inm[160];
	CHECK_INT(get("/v1/campaigns/" DEMO), 200);
	snprintf(etag, sizeof etag, "%s", header("ETag"));
	snprintf(inm, sizeof inm, "If-None-Match: %s\r\n", etag);
	CHECK_INT(request("GET", "/v1/campaigns/" DEMO, inm), 304);
	CHECK_INT((long long)strlen(R.body), 0);
	CHECK_STR(header("ETag"), etag);
	snprintf(inm, sizeof inm, "If-None-Match: \"1\", W/%s\r\n", etag);
	CHECK_INT(request("GET", "/v1/campaigns/" DEMO, inm), 304);
	/* Two fields are one list. */
	snprintf(inm, sizeof inm, "If-None-Match: \"1\"\r\nIf-None-Match: %s\r\n", etag);
	CHECK_INT(request("GET", "/v1/campaigns/" DEMO, inm), 304);
	CHECK_INT(request("GET", "/v1/campaigns/" DEMO "/comments", "If-None-Match: *\r\n"), 304);
	CHECK_INT(request("GET", "/v1/campaigns/" DEMO, "If-None-Match: \"0\"\r\n"), 200);
	/* A 404 is never a 304. */
	CHECK_INT(request("GET", "/v1/campaigns/none", "If-None-Match: *\r\n"), 404);

	/* Tags follow the content only: a rebuild swapped in gives the same
	 * answer, so the same tag; an event of another campaign leaves this
	 * one's tag; an event of its own changes it. */
	struct rebuild_options ropt = {.swap = true};
	struct rebuild_report rep;
	CHECK_INT(rebuild_run(st, &ropt, &rep), 0);
	CHECK(rep.swapped);
	snprintf(inm, sizeof inm, "If-None-Match: %s\r\n", etag);
	CHECK_INT(request("GET", "/v1/campaigns/" DEMO, inm), 304);
	CHECK_STR(header("ETag"), etag);
	CHECK_INT(get("/v1/campaigns/sse-camp"), 200);
	char other[64];
	snprintf(other, sizeof other, "%s", header("ETag"));
	CHECK(strcmp(other, etag) != 0);
	seq = ingest_lines(st, "{\"v\":1,\"type\":\"campaign.opened\",\"id\":\"etag-1\",\"at\":1700000000002,"
			       "\"campaign\":\"etag-camp\",\"title\":\"T\",\"owner\":\"o\",\"currency\":\"EUR\"}\n");
	CHECK_INT(request("GET", "/v1/campaigns/" DEMO, inm), 304);
	CHECK_INT(get("/v1/campaigns/etag-camp"), 200);
	snprintf(inm, sizeof inm, "If-None-Match: %s\r\n", header("ETag"));
	seq = ingest_lines(st, "{\"v\":1,\"type\":\"pledge.created\",\"id\":\"etag-2\",\"at\":1700000000003,"
			       "\"campaign\":\"etag-camp\",\"pledge\":\"etag-p\",\"supporter\":\"s\","
			       "\"amount\":7,\"currency\":\"EUR\"}\n");
	CHECK_INT(request("GET", "/v1/campaigns/etag-camp", inm), 200);
	CHECK(strstr(R.body, "\"raised\":7,") != NULL);
}

/* A partitioner for tests: a campaign's partition is its id's length. */
static int32_t by_length(const void *key, size_t len, int32_t count)
{
	(void)key;
	return (int32_t)(len % (size_t)count);
}

/* In a consumer group: only the campaigns of the partitions held (ownership.h). */
static void test_ownership(void)
{
	ownership_enforce(&m.owner, by_length);
	CHECK_INT(get("/v1/campaigns/" DEMO), 503);
	CHECK_STR(header("Retry-After"), "1");
	CHECK_STR(header("X-Pledged-Partitions"), "waiting");
	/* Lists and totals too: an empty one would say there were no campaigns. */
	static const char *const listings[] = {"/v1/campaigns", "/v1/campaigns?as_of=2020-01-10",
					       "/v1/totals", "/"};
	for (size_t i = 0; i < sizeof listings / sizeof listings[0]; i++) {
		CHECK_INT(get(listings[i]), 503);
		CHECK_STR(header("Retry-After"), "1");
		CHECK_STR(header("ETag"), "");
	}
	/* DEMO has 31 bytes: partition 3 of 4; "sse-camp" 8: partition 0. */
	int32_t held[] = {0, 2};
	ownership_set(&m.owner, 4, held, 2, 7);
	CHECK_INT(get("/v1/campaigns/" DEMO), 421);
	CHECK(strncmp(error_text(), "not_owned", 9) == 0);
	CHECK_STR(header("Cache-Control"), "no-store");
	CHECK_STR(header("X-Pledged-Partitions"), "0,2 of 4");
	CHECK_INT(get("/v1/campaigns/" DEMO "/comments"), 421);
	CHECK_INT(get("/v1/campaigns/" DEMO "/history"), 421);
	CHECK_INT(get("/c/" DEMO), 421);
	CHECK_INT(get("/v1/campaigns/sse-camp"), 200);
	CHECK_INT(get("/v1/campaigns/nosuch-c"), 404); /* 8 bytes: a held partition */
	CHECK_INT(get("/v1/campaigns"), 200);
	CHECK(strstr(R.body, "\"id\":\"sse-camp\"") != NULL);
	CHECK(strstr(R.body, "\"id\":\"" DEMO "\"") == NULL);
	/* Another instance that announced itself holds partition 3: a redirect,
	 * path and query kept, while its announcement is fresh. */
	int32_t theirs[] = {1, 3};
	usleep(2000); /* heard after this instance's own rebalance, by the clock */
	cluster_heard(&m.cluster, "m-other", "http://other.internal:8080", 4, theirs, 2,
		      clock_wall_ms(), 7);
	CHECK_INT(get("/v1/campaigns/" DEMO "/comments?limit=5"), 307);
	CHECK_STR(header("Location"), "http://other.internal:8080/v1/campaigns/" DEMO "/comments?limit=5");
	/* Bytes the request line brings raw, which a header may not hold, go encoded. */
	CHECK_INT(get("/c/" DEMO "?x=\"<>\x7f\x01\xff\rSet-Cookie:%20a"), 307);
	CHECK_STR(header("Location"),
		  "http://other.internal:8080/c/" DEMO "?x=%22%3C%3E%7F%01%FF%0DSet-Cookie:%20a");
	CHECK_STR(header("Set-Cookie"), "");
	/* A '%' that starts no escape, and a '#' (no part of a request), encoded; escapes kept. */
	CHECK_INT(get("/c/" DEMO "?x=%&y=%4&z=%41#f"), 307);
	CHECK_STR(header("Location"), "http://other.internal:8080/c/" DEMO "?x=%25&y=%254&z=%41%23f");
	CHECK(strncmp(error_text(), "not_owned", 9) == 0);
	/* A request-target in absolute form (RFC 9112 3.2.2) names this host:
	 * only its path and query go on to the other instance. */
	CHECK_INT(get("http://this.example:8080/v1/campaigns/" DEMO "/comments?limit=5"), 307);
	CHECK_STR(header("Location"), "http://other.internal:8080/v1/campaigns/" DEMO "/comments?limit=5");
	/* A claim from before this instance's own last rebalance is not trusted
	 * (the claimant may have let go too: two instances would bounce a
	 * request between them); its next announcement is. */
	usleep(2000);
	ownership_set(&m.owner, 4, held, 2, 7);
	CHECK_INT(get("/v1/campaigns/" DEMO), 421);
	usleep(2000);
	/* Heard after it, but held in an older generation of the group: the
	 * claimant has not seen the rebalance yet. */
	cluster_heard(&m.cluster, "m-other", "http://other.internal:8080", 4, theirs, 2,
		      clock_wall_ms(), 6);
	CHECK_INT(get("/v1/campaigns/" DEMO), 421);
	usleep(2000);
	cluster_heard(&m.cluster, "m-other", "http://other.internal:8080", 4, theirs, 2,
		      clock_wall_ms(), 7);
	CHECK_INT(get("/v1/campaigns/" DEMO), 307);
	CHECK_INT(get("/v1/cluster"), 200);
	CHECK(strstr(R.body, "\"id\":\"m-other\",\"url\":\"http:\\/\\/other.internal:8080\","
			     "\"partitions\":[1,3],\"of\":4,\"generation\":7,") != NULL);
	CHECK(strstr(R.body, "\"holds\":\"0,2 of 4\",\"generation\":7") != NULL);
	CHECK_INT(get("/v1/cluster?limt=5"), 400); /* a typo is reported, as on every /v1/ path */
	CHECK_STR(error_text(), "unknown parameter; this path takes no parameters");
	cluster_heard(&m.cluster, "m-other", "http://other.internal:8080", 4, theirs, 2,
		      clock_wall_ms() - CLUSTER_FRESH_MS - 1000, 7);
	CHECK_INT(get("/v1/campaigns/" DEMO), 307); /* an older announcement never replaces */
	cluster_heard(&m.cluster, "m-late", "http://late.internal:8080", 4, theirs, 2,
		      clock_wall_ms() - CLUSTER_FRESH_MS - 1000, 7);
	int32_t none[1];
	cluster_heard(&m.cluster, "m-other", "http://other.internal:8080", 4, none, 0, clock_wall_ms(), 7);
	CHECK_INT(get("/v1/campaigns/" DEMO), 421); /* it let go; the late one is stale */
	CHECK_INT(get("/v1/campaigns"), 200);
	char listed[64];
	snprintf(listed, sizeof listed, "%s", header("ETag"));
	int32_t all[] = {0, 1, 2, 3};
	ownership_set(&m.owner, 4, all, 4, 8);
	CHECK_INT(get("/v1/campaigns/" DEMO), 200);
	CHECK_INT(get("/v1/campaigns"), 200);
	CHECK(strstr(R.body, "\"id\":\"" DEMO "\"") != NULL);
	CHECK(strcmp(header("ETag"), listed) != 0);
	CHECK_STR(header("X-Pledged-Partitions"), "0,1,2,3 of 4");
	CHECK_STR(header("X-Pledged-Stale-Since"), "");
	/* Kafka away for longer than the session timeout: holding every
	 * partition, it answers on, marked stale, under other tags. */
	char fresh[64];
	snprintf(fresh, sizeof fresh, "%s", header("ETag"));
	int64_t lost_at = clock_wall_ms();
	CHECK(ownership_lose(&m.owner, false));
	CHECK_INT(get("/v1/campaigns"), 200);
	CHECK(atoll(header("X-Pledged-Stale-Since")) >= lost_at);
	CHECK(strcmp(header("ETag"), fresh) != 0);
	CHECK_INT(get_if_none_match("/v1/campaigns", fresh), 200);
	CHECK(strstr(R.body, "\"id\":\"" DEMO "\"") != NULL);
	CHECK_INT(get("/v1/campaigns/" DEMO), 200);
	CHECK(header("X-Pledged-Stale-Since")[0] != '\0');
	CHECK_STR(header("X-Pledged-Partitions"), "0,1,2,3 of 4");
	ownership_set(&m.owner, 4, all, 4, 9); /* the group formed again */
	CHECK_INT(get_if_none_match("/v1/campaigns", fresh), 304);
	CHECK_STR(header("X-Pledged-Stale-Since"), "");
	/* Another member heard lately (a standby holding nothing): it waits. */
	CHECK(cluster_others_heard_since(&m.cluster, clock_wall_ms() - 60000));
	CHECK(!cluster_others_heard_since(&m.cluster, clock_wall_ms() + 60000));
	CHECK(!ownership_lose(&m.owner, true));
	CHECK_INT(get("/v1/campaigns/" DEMO), 503);
	CHECK_STR(header("X-Pledged-Stale-Since"), "");
	/* Holding part of the topic: another may hold the rest, and its own next. */
	ownership_set(&m.owner, 4, held, 2, 10);
	CHECK(!ownership_lose(&m.owner, false));
	CHECK_INT(get("/v1/campaigns/sse-camp"), 503);
	ownership_set(&m.owner, 4, all, 4, 11);
	/* Partition 3 (DEMO's) assigned behind what the group had read: its
	 * campaigns wait until this data dir catches up, the others answer. */
	ownership_set_behind(&m.owner, 3, true);
	CHECK_INT(get("/v1/campaigns/" DEMO), 503);
	CHECK(strncmp(error_text(), "catching_up", 11) == 0);
	CHECK_STR(header("Retry-After"), "1");
	CHECK_STR(header("Cache-Control"), "no-store");
	CHECK_STR(header("X-Pledged-Catching-Up"), "3");
	CHECK_STR(header("X-Pledged-Partitions"), "0,1,2,3 of 4");
	CHECK_INT(get("/v1/campaigns/" DEMO "/comments"), 503);
	CHECK_INT(get("/v1/campaigns/" DEMO "/stream"), 503);
	CHECK_INT(get("/c/" DEMO), 503);
	CHECK_INT(get("/v1/campaigns/sse-camp"), 200);
	CHECK_STR(header("X-Pledged-Catching-Up"), "3");
	/* A list would leave its campaigns out, totals count them as they were. */
	for (size_t i = 0; i < sizeof listings / sizeof listings[0]; i++) {
		CHECK_INT(get(listings[i]), 503);
		CHECK_STR(error_text(), "catching_up: of the partitions this instance holds, partition "
					"3 is behind what the consumer group had read "
					"(X-Pledged-Catching-Up); retry shortly");
		CHECK_STR(header("Retry-After"), "1");
	}
	CHECK_INT(admin_get("/metrics"), 200);
	CHECK(strstr(R.body, "\npledged_partitions_catching_up 1\n") != NULL);
	ownership_set(&m.owner, 4, held, 2, 12); /* partition 3 went: nothing to say of it */
	CHECK_INT(get("/v1/campaigns/sse-camp"), 200);
	CHECK_STR(header("X-Pledged-Catching-Up"), "");
	ownership_set(&m.owner, 4, all, 4, 13);
	ownership_set_behind(&m.owner, 3, false); /* caught up */
	CHECK_INT(get("/v1/campaigns/" DEMO), 200);
	CHECK_STR(header("X-Pledged-Catching-Up"), "");
	CHECK_INT(admin_get("/metrics"), 200);
	CHECK(strstr(R.body, "\npledged_partitions_catching_up 0\n") != NULL);
	/* A rebalance revoked everything: until the next assignment nobody
	 * holds any partition, so no campaign is another's. */
	ownership_release(&m.owner);
	CHECK_INT(get("/v1/campaigns/sse-camp"), 503);
	CHECK_STR(header("Retry-After"), "1");
	CHECK(strstr(error_text(), "rebalancing") != NULL);
	CHECK_STR(header("X-Pledged-Partitions"), "waiting");
	CHECK_INT(get("/v1/campaigns/" DEMO), 503);
	CHECK_INT(get("/v1/totals"), 503);
	/* Assigned nothing (more instances than partitions): all are another's. */
	ownership_set(&m.owner, -1, NULL, 0, 9);
	CHECK_INT(get("/v1/campaigns/sse-camp"), 421);
	CHECK_STR(header("X-Pledged-Partitions"), "none of 4");
	CHECK_INT(admin_get("/healthz"), 200); /* not a campaign route */
	ownership_enforce(&m.owner, NULL);
	CHECK_INT(get("/v1/campaigns/" DEMO), 200);
	CHECK_STR(header("X-Pledged-Partitions"), "");
}

/* Flips between holding every partition and a rebalance's revoke until stopped. */
static void *flip_ownership(void *arg)
{
	atomic_bool *stop = arg;
	int32_t all[] = {0, 1, 2, 3};
	for (int32_t g = 20; !atomic_load(stop); g++) {
		ownership_set(&m.owner, 4, all, 4, g);
		usleep(10);
		ownership_release(&m.owner);
		usleep(10);
	}
	return NULL;
}

/*
 * While rebalances come and go, an answer's status, its headers and a
 * list's rows tell of one moment: a 200 never says "waiting" nor leaves out
 * a campaign held, a 503 always does.
 */
static void test_ownership_one_view(void)
{
	ownership_enforce(&m.owner, by_length);
	ownership_release(&m.owner); /* from whatever the tests before left */
	atomic_bool stop = false;
	pthread_t flipper;
	CHECK_INT(pthread_create(&flipper, NULL, flip_ownership, &stop), 0);
	static const char *const paths[] = {"/v1/campaigns/sse-camp", "/v1/campaigns"};
	int answered[2] = {0}, waited[2] = {0};
	for (int i = 0; i < 4000 && (answered[0] < 100 || waited[0] < 100 || answered[1] < 100 ||
				     waited[1] < 100); i++) {
		int k = i % 2, status = get(paths[k]);
		const char *held = header("X-Pledged-Partitions");
		if (status == 200) {
			answered[k]++;
			CHECK_STR(held, "0,1,2,3 of 4");
			CHECK(strstr(R.body, "\"id\":\"sse-camp\"") != NULL);
		} else {
			waited[k]++;
			CHECK_INT(status, 503);
			CHECK_STR(held, "waiting");
		}
	}
	atomic_store(&stop, true);
	pthread_join(flipper, NULL);
	/* Both kinds of answer were seen for both kinds of path. */
	CHECK(answered[0] > 0 && waited[0] > 0 && answered[1] > 0 && waited[1] > 0);
	ownership_enforce(&m.owner, NULL);
}

/*
 * X-Pledged-Partitions of a list that fits the header's 256 bytes but its
 * " of N" does not: the count of what is held and of the topic, whole, not
 * the list with the topic's size cut short (" of 3" for 300).
 */
static void test_ownership_describe_bound(void)
{
	struct ownership o;
	struct ownership_view v;
	int32_t held[63];
	char out[256], listed[256] = "";
	ownership_init(&o);
	ownership_enforce(&o, by_length);
	/* 100..162: 251 bytes listed, 258 with " of 300". */
	for (int32_t i = 0; i < 63; i++) {
		held[i] = 100 + i;
		snprintf(listed + strlen(listed), sizeof listed - strlen(listed), "%s%d", i ? "," : "",
			 held[i]);
	}
	CHECK_INT((int)strlen(listed), 251);
	ownership_set(&o, 300, held, 63, 1);
	ownership_view(&o, &v);
	CHECK(ownership_view_describe(&v, out, sizeof out));
	CHECK_STR(out, "63 of 300");
	/* One fewer fits whole. */
	ownership_set(&o, 300, held, 62, 2);
	ownership_view(&o, &v);
	CHECK(ownership_view_describe(&v, out, sizeof out));
	listed[247] = '\0';
	CHECK(strncmp(out, listed, 247) == 0);
	CHECK_STR(out + 247, " of 300");
	ownership_deinit(&o);
}

/* The partitions catching up, in a header and in a sentence, for every
 * count: one, a list, and more than fit (counted, the noun said once). */
static void test_ownership_describe_behind(void)
{
	struct ownership o;
	struct ownership_view v;
	int32_t held[300];
	char out[128], want[1100], list[1024] = "";
	ownership_init(&o);
	ownership_enforce(&o, by_length);
	for (int32_t i = 0; i < 300; i++)
		held[i] = i;
	ownership_set(&o, 300, held, 300, 1);
	ownership_view(&o, &v);
	CHECK(!ownership_view_say_behind(&v, out, sizeof out));
	CHECK_STR(out, "");
	for (int32_t n = 1; n <= 300; n++) {
		ownership_set_behind(&o, 300 - n, true); /* 299, then 298,299... */
		ownership_view(&o, &v);
		snprintf(list, sizeof list, "%d", 300 - n);
		for (int32_t p = 300 - n + 1; p < 300; p++)
			snprintf(list + strlen(list), sizeof list - strlen(list), ",%d", p);
		size_t len = strlen(list);
		CHECK(ownership_view_describe_behind(&v, out, sizeof out));
		if (len < sizeof out)
			snprintf(want, sizeof want, "%s", list);
		else
			snprintf(want, sizeof want, "%d partitions", n);
		CHECK_STR(out, want);
		CHECK(ownership_view_say_behind(&v, out, sizeof out));
		if (n == 1)
			snprintf(want, sizeof want, "partition %s is", list);
		else if (len + strlen("partitions  are") < sizeof out)
			snprintf(want, sizeof want, "partitions %s are", list);
		else
			snprintf(want, sizeof want, "%d partitions are", n);
		CHECK_STR(out, want);
	}
	/* Room for no list at all: counted, one as well. */
	ownership_set(&o, 300, &held[250], 1, 2);
	ownership_view(&o, &v);
	CHECK(ownership_view_say_behind(&v, out, 16));
	CHECK_STR(out, "1 partition is");
	ownership_deinit(&o);
}

/* What an announcement says it holds comes with the group generation of
 * that assignment; letting go keeps the generation (announcements of
 * letting go carry it). */
static void test_ownership_held(void)
{
	struct ownership o;
	int32_t held[4], count, generation;
	size_t n;
	ownership_init(&o);
	CHECK(!ownership_held(&o, held, 4, &n, &count, &generation));
	CHECK(n == 0 && generation == -1);
	ownership_enforce(&o, by_length);
	ownership_set(&o, 4, (int32_t[]){3, 1}, 2, 7);
	CHECK(ownership_held(&o, held, 4, &n, &count, &generation));
	CHECK(n == 2 && held[0] == 1 && held[1] == 3 && count == 4 && generation == 7);
	ownership_release(&o);
	CHECK(ownership_held(&o, held, 4, &n, &count, &generation));
	CHECK(n == 0 && generation == 7);
	ownership_deinit(&o);
}

/* The freeze tests' timing: a session of 400 ms, beats every 50 ms. */
enum { SESSION_MS = 400, FROZEN_US = 600000, BEAT_US = 50000 };

/*
 * The watch's first beat after a freeze of o: its campaigns wait; then,
 * with no word from the group for a session timeout of beats, what o held
 * holds again.
 */
static void beat_out_the_timeout(struct ownership *o)
{
	int32_t part, count;
	CHECK(ownership_alive(o));
	CHECK_INT(ownership_of(o, "sse-camp", 8, &part, &count, NULL), OWNERSHIP_WAITING);
	for (int beats = 0; beats * BEAT_US < FROZEN_US; beats++) {
		usleep(BEAT_US);
		CHECK(!ownership_alive(o));
	}
	CHECK_INT(ownership_of(o, "sse-camp", 8, &part, &count, NULL), OWNERSHIP_OWNED);
}

/* A process that did not run for longer than the group's session timeout
 * (stopped, a suspended machine) no longer holds what it last heard it
 * held: campaigns wait until the group speaks again, or the timeout passes.
 * A session of 400 ms, beats every 50 ms: far from it under any load. */
static void test_ownership_after_freeze(void)
{
	struct ownership o;
	ownership_init(&o);
	ownership_enforce(&o, by_length);
	int32_t all[] = {0, 1, 2, 3}, part, count;
	char held[64];
	ownership_set(&o, 4, all, 4, 1);
	ownership_expect_alive(&o, SESSION_MS);
	CHECK_INT(ownership_of(&o, "sse-camp", 8, &part, &count, NULL), OWNERSHIP_OWNED);
	CHECK(!ownership_alive(&o));
	/* Frozen: no sign of life for longer than the timeout. Answers made
	 * before the watch runs again already wait. */
	usleep(FROZEN_US);
	CHECK_INT(ownership_of(&o, "sse-camp", 8, &part, &count, NULL), OWNERSHIP_WAITING);
	struct ownership_view v;
	ownership_view(&o, &v);
	CHECK(ownership_view_describe(&v, held, sizeof held));
	CHECK_STR(held, "waiting");
	CHECK(!v.in_force);
	uint64_t generation = ownership_generation(&o);
	CHECK(ownership_alive(&o)); /* the freeze seen */
	CHECK(ownership_generation(&o) > generation);
	CHECK_INT(ownership_of(&o, "sse-camp", 8, &part, &count, NULL), OWNERSHIP_WAITING);
	ownership_set(&o, 4, all, 4, 2); /* the group spoke: assigned again */
	CHECK_INT(ownership_of(&o, "sse-camp", 8, &part, &count, NULL), OWNERSHIP_OWNED);
	/* A freeze the group did not answer (it froze too): after the timeout,
	 * what was held holds again. The watch beat after the group spoke (it
	 * beats every 100 ms): the freeze began after both. */
	CHECK(!ownership_alive(&o));
	usleep(FROZEN_US);
	beat_out_the_timeout(&o);
	/* The group spoke before the watch's beat: assigned anew, or a lost
	 * session (a lone instance keeps its campaigns, marked stale). That stands. */
	usleep(FROZEN_US);
	ownership_set(&o, 4, all, 4, 3);
	CHECK(ownership_alive(&o));
	CHECK_INT(ownership_of(&o, "sse-camp", 8, &part, &count, NULL), OWNERSHIP_OWNED);
	usleep(FROZEN_US);
	CHECK(ownership_lose(&o, false));
	CHECK(ownership_alive(&o));
	CHECK_INT(ownership_of(&o, "sse-camp", 8, &part, &count, NULL), OWNERSHIP_OWNED);
	CHECK(ownership_stale_since(&o) > 0);
	/* The group spoke after the watch's last beat, and the freeze began
	 * then (the assignment came just before a kill -STOP): that word came
	 * before the freeze, and does not stand after it. */
	CHECK(!ownership_alive(&o));
	usleep(BEAT_US / 5);
	ownership_set(&o, 4, all, 4, 4);
	usleep(FROZEN_US);
	beat_out_the_timeout(&o);
	CHECK(ownership_stale_since(&o) == 0);
	ownership_deinit(&o);
}

/*
 * Lost after a freeze: an instance that reads announcements waits to read
 * those made meanwhile (another may have joined and taken everything)
 * before it keeps its campaigns, marked stale, as one alone.
 */
static void test_loss_after_freeze(void)
{
	struct ownership o;
	ownership_init(&o);
	ownership_enforce(&o, by_length);
	ownership_hear_announcements(&o);
	int32_t all[] = {0, 1, 2, 3}, part, count;
	char held[64];
	ownership_set(&o, 4, all, 4, 1);
	ownership_expect_alive(&o, SESSION_MS);
	ownership_heard_all(&o, false);
	CHECK(!ownership_alive(&o));
	/* Told before the watch's next beat; nobody else heard before the freeze. */
	usleep(FROZEN_US);
	CHECK_INT(ownership_lose(&o, false), OWNERSHIP_UNDECIDED);
	CHECK_INT(ownership_of(&o, "sse-camp", 8, &part, &count, NULL), OWNERSHIP_WAITING);
	CHECK(ownership_stale_since(&o) == 0);
	CHECK(ownership_alive(&o));
	CHECK_INT(ownership_of(&o, "sse-camp", 8, &part, &count, NULL), OWNERSHIP_WAITING);
	CHECK(ownership_unheard_since_thaw(&o)); /* the members reader reads them */
	/* Read to their end: another member joined meanwhile. Nothing is kept. */
	ownership_heard_all(&o, true);
	CHECK(!ownership_unheard_since_thaw(&o));
	struct ownership_view v;
	ownership_view(&o, &v);
	CHECK(!v.in_force && v.lost_ms == 0);
	ownership_view_describe(&v, held, sizeof held);
	CHECK_STR(held, "waiting");
	/* The watch's beat first, then the loss; nobody else was heard: kept, stale. */
	ownership_set(&o, 4, all, 4, 2);
	CHECK(!ownership_alive(&o));
	usleep(FROZEN_US);
	CHECK(ownership_alive(&o));
	CHECK_INT(ownership_lose(&o, false), OWNERSHIP_UNDECIDED);
	CHECK_INT(ownership_of(&o, "sse-camp", 8, &part, &count, NULL), OWNERSHIP_WAITING);
	ownership_heard_all(&o, false);
	CHECK_INT(ownership_of(&o, "sse-camp", 8, &part, &count, NULL), OWNERSHIP_OWNED);
	CHECK(ownership_stale_since(&o) > 0);
	/* Nothing read after the freeze (Kafka gone with it): kept once a session
	 * timeout has passed. */
	ownership_set(&o, 4, all, 4, 3);
	CHECK(!ownership_alive(&o));
	usleep(FROZEN_US);
	CHECK_INT(ownership_lose(&o, false), OWNERSHIP_UNDECIDED);
	beat_out_the_timeout(&o);
	CHECK(ownership_stale_since(&o) > 0);
	/* Announcements read since the freeze: decided at once. */
	ownership_set(&o, 4, all, 4, 4);
	ownership_heard_all(&o, false);
	CHECK_INT(ownership_lose(&o, false), OWNERSHIP_KEPT);
	ownership_set(&o, 4, all, 4, 5);
	CHECK_INT(ownership_lose(&o, true), OWNERSHIP_RELEASED);
	ownership_deinit(&o);
	/* An instance that reads no announcements decides at once, freeze or not. */
	ownership_init(&o);
	ownership_enforce(&o, by_length);
	ownership_set(&o, 4, all, 4, 1);
	ownership_expect_alive(&o, SESSION_MS);
	usleep(FROZEN_US);
	CHECK_INT(ownership_lose(&o, false), OWNERSHIP_KEPT);
	CHECK(ownership_alive(&o)); /* the watch's beat: what the group said stands */
	CHECK_INT(ownership_of(&o, "sse-camp", 8, &part, &count, NULL), OWNERSHIP_OWNED);
	CHECK(ownership_stale_since(&o) > 0);
	ownership_deinit(&o);
}

/* Who counts as another member: not this instance's former run at its own
 * address (read back when it starts), nor an announcement made long ago. */
static void test_cluster_heard(void)
{
	struct cluster c;
	cluster_init(&c);
	cluster_set_self(&c, "m-now", "http://me.internal:8080");
	int32_t all[] = {0, 1, 2, 3};
	int64_t now = clock_wall_ms();
	char url[64];
	/* This instance before its restart, its last words a second ago. */
	cluster_heard(&c, "m-before", "http://me.internal:8080", 4, all, 4, now - 1000, 3);
	CHECK(!cluster_others_heard_since(&c, now - 60000));
	CHECK(!cluster_owner(&c, 1, 4, now, 0, -1, url, sizeof url)); /* no redirect to itself */
	/* Another member's words of ten minutes ago, heard only now. */
	cluster_heard(&c, "m-gone", "http://gone.internal:8080", 4, all, 4, now - 600000, 3);
	CHECK(!cluster_others_heard_since(&c, now - 300000));
	/* Said a second ago: another member. */
	cluster_heard(&c, "m-peer", "http://peer.internal:8080", 4, all, 0, now - 1000, 3);
	CHECK(cluster_others_heard_since(&c, now - 300000));
	/* Another instance given this one's address, running now: a member too. */
	cluster_deinit(&c);
	cluster_init(&c);
	cluster_set_self(&c, "m-now", "http://me.internal:8080");
	usleep(2000);
	cluster_heard(&c, "m-twin", "http://me.internal:8080", 4, all, 4, clock_wall_ms(), 3);
	CHECK(cluster_others_heard_since(&c, now - 60000));
	cluster_deinit(&c);
}

/* Shared caches in front may keep public answers; never errors or the admin's. */
static void test_cache_control(void)
{
	static const char cc[] = "public, max-age=0, s-maxage=2, stale-while-revalidate=10";
	struct http_server *cached;
	struct http_server_options opt = {.listen = "127.0.0.1:0", .threads = 1, .cache_control = cc};
	CHECK_INT(http_server_start(&cached, st, &m, &opt), 0);
	if (!cached)
		return;
	int cport = http_server_port(cached);
	CHECK_INT(request_to(cport, "GET", "/v1/campaigns/" DEMO, NULL), 200);
	CHECK_STR(header("Cache-Control"), cc);
	char inm[96];
	snprintf(inm, sizeof inm, "If-None-Match: %s\r\n", header("ETag"));
	CHECK_INT(request_to(cport, "GET", "/v1/campaigns/" DEMO, inm), 304);
	CHECK_STR(header("Cache-Control"), cc);
	CHECK_INT(request_to(cport, "GET", "/v1/campaigns", NULL), 200);
	CHECK_STR(header("Cache-Control"), cc);
	CHECK_INT(request_to(cport, "GET", "/v1/campaigns/none", NULL), 404);
	CHECK_STR(header("Cache-Control"), "no-store");
	/* The operators' answers hold raw rejected messages: no cache stores them. */
	CHECK_INT(admin_get("/v1/rejections"), 200);
	CHECK_STR(header("Cache-Control"), "no-store");
	snprintf(inm, sizeof inm, "If-None-Match: %s\r\n", header("ETag"));
	CHECK_INT(request_to(admin_port, "GET", "/v1/rejections", inm), 304);
	CHECK_STR(header("Cache-Control"), "no-store");
	CHECK_INT(admin_get("/v1/cluster"), 200);
	CHECK_STR(header("Cache-Control"), "no-store");
	CHECK_INT(request_to(cport, "GET", "/v1/cluster", NULL), 200);
	CHECK_STR(header("Cache-Control"), "no-cache");
	http_server_stop(cached);
}

/* Fetches a comments page; appends its ids to ids (space-separated); returns next or "". */
static const char *comments_page(const char *query, char *ids, size_t ids_size, int *count)
{
	static char next[64];
	char path[256];
	snprintf(path, sizeof path, "/v1/campaigns/" DEMO "/comments%s", query);
	next[0] = '\0';
	*count = 0;
	if (get(path) != 200)
		return next;
	json_t *j = body_json();
	size_t i;
	json_t *c;
	json_array_foreach(json_object_get(j, "comments"), i, c) {
		size_t len = strlen(ids);
		snprintf(ids + len, ids_size - len, "%s ", json_string_value(json_object_get(c, "id")));
		(*count)++;
	}
	const char *n = json_string_value(json_object_get(j, "next"));
	snprintf(next, sizeof next, "%s", n ? n : "");
	json_decref(j);
	return next;
}

static void test_comments(void)
{
	CHECK_INT(get("/v1/campaigns/" DEMO "/comments"), 200);
	json_t *j = body_json();
	json_t *list = json_object_get(j, "comments");
	CHECK_INT(json_array_size(list), 11);
	CHECK_STR(json_string_value(json_object_get(json_array_get(list, 0), "name")), "Tom W");
	CHECK_STR(json_string_value(json_object_get(json_array_get(list, 10), "text")),
		  "<script>document.title='pwned'</script>");
	CHECK(json_is_null(json_object_get(j, "next")));
	json_t *first = json_array_get(list, 0);
	CHECK(json_is_string(json_object_get(first, "text")));
	CHECK(json_is_integer(json_object_get(first, "at")));
	json_decref(j);

	static const char *const bad[] = {
		"?limit=0", "?limit=101", "?limit=abc", "?limit=-1", "?limit=", "?limit=1e1",
		"?limit=%2B5", "?before=garbage", "?before=", "?before=1.2.3.4", "?before=1.2.0", "?foo=1",
		"?limit=5&limit=6", "?before=99999999999999999999999.1",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char path[256];
		snprintf(path, sizeof path, "/v1/campaigns/" DEMO "/comments%s", bad[i]);
		int status = get(path);
		if (status != 400)
			fprintf(stderr, "%s gave %d\n", bad[i], status);
		CHECK_INT(status, 400);
		CHECK(error_text()[0] != '\0');
	}
	CHECK_INT(get("/v1/campaigns/" DEMO "/comments?limit=100"), 200);
	CHECK_INT(get("/v1/campaigns/" DEMO "/comments?limit=1&before=1579125600000.1"), 200);
}

/* Pages of 4 while newer comments arrive between pages: the older ones come
 * exactly once, in order, and new ones only on a fresh first page. */
static void test_pagination_stable(void)
{
	char all[2048] = "", paged[2048] = "";
	int count, total = 0;
	comments_page("?limit=100", all, sizeof all, &count);
	CHECK_INT(count, 11);

	char query[128];
	const char *next = comments_page("?limit=4", paged, sizeof paged, &count);
	total += count;
	for (int round = 0; *next && round < 10; round++) {
		char ev[1024];
		snprintf(ev, sizeof ev,
			 "{\"v\":1,\"type\":\"comment.posted\",\"id\":\"page-%d\",\"at\":%lld,"
			 "\"campaign\":\"" DEMO "\",\"comment\":\"new-%d\",\"supporter\":\"sup-0010\","
			 "\"text\":\"arrived while paging\"}\n",
			 round, 1580000000000LL + round, round);
		uint64_t s = ingest_lines(st, ev);
		http_server_notify(hs, s);
		snprintf(query, sizeof query, "?limit=4&before=%s", next);
		next = comments_page(query, paged, sizeof paged, &count);
		total += count;
	}
	CHECK_INT(total, 11);
	CHECK_STR(paged, all);

	char fresh[2048] = "";
	comments_page("?limit=3", fresh, sizeof fresh, &count);
	CHECK(strncmp(fresh, "new-", 4) == 0);
}

static void test_rejections(void)
{
	CHECK_INT(admin_get("/v1/rejections"), 200);
	json_t *j = body_json();
	CHECK_INT(json_array_size(json_object_get(j, "rejections")), 0);
	CHECK(json_is_null(json_object_get(j, "next")));
	json_decref(j);
	char etag_before[64];
	snprintf(etag_before, sizeof etag_before, "%s", header("ETag"));

	ingest_raw(st, "\xc1", 1); /* never valid msgpack */
	ingest_lines(st, "{\"v\":1,\"type\":\"pledge.teleported\",\"id\":\"rj-2\",\"at\":1,\"campaign\":\"x\"}\n");
	ingest_lines(st, "{\"v\":1,\"type\":\"campaign.closed\",\"id\":\"rj-3\",\"at\":1}\n");

	CHECK_INT(admin_get("/v1/rejections"), 200);
	CHECK(strcmp(header("ETag"), etag_before) != 0);
	j = body_json();
	json_t *list = json_object_get(j, "rejections");
	CHECK_INT(json_array_size(list), 3);
	CHECK_STR(json_string_value(json_object_get(json_array_get(list, 0), "reason")), "missing_field");
	CHECK_STR(json_string_value(json_object_get(json_array_get(list, 1), "reason")), "unknown_type");
	CHECK_STR(json_string_value(json_object_get(json_array_get(list, 2), "reason")), "bad_msgpack");
	CHECK_STR(json_string_value(json_object_get(json_array_get(list, 2), "raw")), "wQ==");
	CHECK_STR(json_string_value(json_object_get(json_array_get(list, 2), "topic")), "test");
	json_decref(j);

	CHECK_INT(admin_get("/v1/rejections?limit=2"), 200);
	j = body_json();
	CHECK_INT(json_array_size(json_object_get(j, "rejections")), 2);
	char path[128];
	const char *next = json_string_value(json_object_get(j, "next"));
	CHECK(next != NULL);
	snprintf(path, sizeof path, "/v1/rejections?limit=2&before=%s", next ? next : "x");
	json_decref(j);
	CHECK_INT(admin_get(path), 200);
	j = body_json();
	list = json_object_get(j, "rejections");
	CHECK_INT(json_array_size(list), 1);
	CHECK_STR(json_string_value(json_object_get(json_array_get(list, 0), "reason")), "bad_msgpack");
	CHECK(json_is_null(json_object_get(j, "next")));
	json_decref(j);
	CHECK_INT(admin_get("/v1/rejections?before=0"), 400);
	CHECK_INT(admin_get("/v1/rejections?before=1.5"), 400);
	/* A sequence is 64 bits: all of them taken, one past refused. */
	CHECK_INT(admin_get("/v1/rejections?limit=1&before=18446744073709551615"), 200);
	j = body_json();
	CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(j, "rejections"), 0),
						    "reason")), "missing_field");
	json_decref(j);
	CHECK_INT(admin_get("/v1/rejections?before=18446744073709551616"), 400);
	CHECK(strstr(R.body, "before must be a cursor from a 'next' field") != NULL);
	CHECK_INT(admin_get("/v1/rejections?before=99999999999999999999"), 400);
	CHECK_INT(admin_get("/v1/rejections?limit=500"), 400);
	/* No point-in-time view of rejections: refused, not ignored. */
	CHECK_INT(admin_get("/v1/rejections?as_of=2020-01-10"), 400);
	CHECK(strstr(R.body, "this path takes limit and before") != NULL);
	/* A parameter without '=' is refused as with a value: one wording each. */
	CHECK_INT(admin_get("/v1/rejections?after"), 400);
	CHECK_STR(R.body, "{\"error\":\"unknown parameter; this path takes limit and before\"}");
	CHECK_INT(admin_get("/v1/rejections?after=5"), 400);
	CHECK_STR(R.body, "{\"error\":\"unknown parameter; this path takes limit and before\"}");
	CHECK_INT(admin_get("/v1/rejections?limit=1&before"), 400);
	CHECK_STR(R.body, "{\"error\":\"before must be a cursor from a 'next' field\"}");
}

static void test_healthz(void)
{
	metrics_set_state(&m, CONSUMER_CONSUMING, "");
	CHECK_INT(admin_get("/healthz"), 200);
	json_t *j = body_json();
	CHECK_STR(json_string_value(json_object_get(j, "status")), "ok");
	CHECK_STR(json_string_value(json_object_get(j, "state")), "consuming");
	CHECK(json_object_get(j, "lag") != NULL);
	json_decref(j);
	CHECK_STR(header("Cache-Control"), "no-store");
	CHECK_STR(header("ETag"), "");

	metrics_set_state(&m, CONSUMER_STALLED, "broker unreachable; check --brokers");
	CHECK_INT(admin_get("/healthz"), 503);
	j = body_json();
	CHECK_STR(json_string_value(json_object_get(j, "detail")), "broker unreachable; check --brokers");
	json_decref(j);
	metrics_set_state(&m, CONSUMER_READ_ONLY, "");
	CHECK_INT(admin_get("/healthz"), 503); /* not consuming: the contract's 200 needs both */
	j = body_json();
	CHECK_STR(json_string_value(json_object_get(j, "state")), "read_only");
	json_decref(j);
	metrics_set_state(&m, CONSUMER_CONSUMING, "");
	atomic_store(&m.store_writable, false);
	CHECK_INT(admin_get("/healthz"), 503);
	atomic_store(&m.store_writable, true);
	CHECK_INT(admin_get("/healthz"), 200);
}

/* The detail of the last /readyz answer. */
static const char *ready_detail(void)
{
	static char detail[256];
	json_t *j = body_json();
	snprintf(detail, sizeof detail, "%s", json_string_value(json_object_get(j, "detail")));
	json_decref(j);
	return detail;
}

/* Ready: consuming, holding partitions, and not too far behind (the test
 * server's limit is 100); a read-only instance always. */
static void test_readyz(void)
{
	metrics_set_state(&m, CONSUMER_CONSUMING, "");
	metrics_clear_partitions(&m);
	CHECK_INT(get("/readyz"), 503);
	CHECK_STR(ready_detail(), "no partitions assigned");
	CHECK_STR(header("Cache-Control"), "no-store");
	metrics_set_partition(&m, "pledges", 0, 500, 600); /* 100 behind: the limit */
	CHECK_INT(get("/readyz"), 200);
	json_t *j = body_json();
	CHECK_STR(json_string_value(json_object_get(j, "status")), "ready");
	CHECK_INT(json_integer_value(json_object_get(j, "partitions")), 1);
	CHECK_INT(json_integer_value(json_object_get(j, "lag")), 100);
	CHECK_INT(json_integer_value(json_object_get(j, "max_lag")), 100);
	json_decref(j);
	/* In a consumer group, while its campaigns wait (503) for the group to
	 * say what it holds: an assignment not recorded yet (a freeze: below). */
	ownership_enforce(&m.owner, by_length);
	ownership_release(&m.owner);
	CHECK_INT(get("/readyz"), 503);
	CHECK_STR(ready_detail(), "waiting for the consumer group to say which partitions this "
				  "instance holds (X-Pledged-Partitions: waiting)");
	ownership_enforce(&m.owner, NULL);
	metrics_set_partition(&m, "pledges", 1, 0, 1); /* one more behind */
	CHECK_INT(get("/readyz"), 503);
	CHECK_STR(ready_detail(), "101 messages behind (at most 100)");
	CHECK_INT(admin_get("/healthz"), 200); /* alive all the same */
	metrics_set_state(&m, CONSUMER_STALLED, "broker unreachable; check --brokers");
	CHECK_INT(get("/readyz"), 503);
	CHECK_STR(ready_detail(), "broker unreachable; check --brokers");
	metrics_clear_partitions(&m);
	metrics_set_state(&m, CONSUMER_READ_ONLY, "read-only");
	CHECK_INT(get("/readyz"), 200);
	metrics_set_state(&m, CONSUMER_CONSUMING, "");
	/* Kafka names topics of up to 249 characters: one partition stays one. */
	char topic[250];
	memset(topic, 't', sizeof topic - 1);
	topic[sizeof topic - 1] = '\0';
	metrics_set_partition(&m, topic, 0, 5, 5);
	metrics_set_partition(&m, topic, 0, 6, 6);
	CHECK_INT(get("/readyz"), 200);
	j = body_json();
	CHECK_INT(json_integer_value(json_object_get(j, "partitions")), 1);
	json_decref(j);
	metrics_clear_partitions(&m);
	/* As many partitions as ownership.h follows, the last one behind. */
	for (int32_t p = 0; p < OWNERSHIP_MAX_PARTITIONS; p++)
		metrics_set_partition(&m, "pledges", p, 7, p == OWNERSHIP_MAX_PARTITIONS - 1 ? 500 : 7);
	CHECK_INT(get("/readyz"), 503);
	j = body_json();
	CHECK_INT(json_integer_value(json_object_get(j, "partitions")), OWNERSHIP_MAX_PARTITIONS);
	CHECK_INT(json_integer_value(json_object_get(j, "lag")), 493);
	json_decref(j);
	metrics_clear_partitions(&m);
	/* Frozen for longer than the session: its partitions may be another's
	 * now, its campaigns wait until the group speaks, and so does readiness. */
	int32_t all[] = {0, 1, 2, 3};
	metrics_set_partition(&m, "pledges", 0, 5, 5);
	ownership_enforce(&m.owner, by_length);
	ownership_set(&m.owner, 4, all, 4, 1);
	ownership_expect_alive(&m.owner, SESSION_MS);
	CHECK_INT(get("/readyz"), 200);
	usleep(FROZEN_US);
	CHECK_INT(get("/v1/campaigns/sse-camp"), 503);
	CHECK_INT(get("/readyz"), 503);
	CHECK_STR(ready_detail(), "waiting for the consumer group to say which partitions this "
				  "instance holds (X-Pledged-Partitions: waiting)");
	CHECK(ownership_alive(&m.owner)); /* the watch runs again, and the group speaks */
	ownership_set(&m.owner, 4, all, 4, 2);
	CHECK_INT(get("/readyz"), 200);
	ownership_expect_alive(&m.owner, 0);
	/* Partitions held behind what the group had read: their campaigns wait. */
	ownership_set_behind(&m.owner, 2, true);
	ownership_set_behind(&m.owner, 0, true);
	CHECK_INT(get("/readyz"), 503);
	CHECK_STR(ready_detail(), "catching up: partitions 0,2 are behind what the consumer group "
				  "had read, and their campaigns answer 503 until this data dir "
				  "reaches it");
	ownership_set_behind(&m.owner, 0, false);
	ownership_set_behind(&m.owner, 2, false);
	CHECK_INT(get("/readyz"), 200);
	/* More than the detail lists: counted, with the noun once. */
	int32_t many[300];
	for (int32_t p = 0; p < 300; p++)
		many[p] = p;
	ownership_set(&m.owner, 300, many, 300, 3);
	for (int32_t p = 100; p < 160; p++)
		ownership_set_behind(&m.owner, p, true);
	CHECK_INT(get("/readyz"), 503);
	CHECK_STR(ready_detail(), "catching up: 60 partitions are behind what the consumer group "
				  "had read, and their campaigns answer 503 until this data dir "
				  "reaches it");
	for (int32_t p = 100; p < 160; p++)
		ownership_set_behind(&m.owner, p, false);
	ownership_set(&m.owner, 4, all, 4, 4);
	CHECK_INT(get("/readyz"), 200);
	/* Assigned partitions of a topic whose size the broker did not say:
	 * every campaign is 421 until the next rebalance, so it is not ready. */
	ownership_set(&m.owner, 0, all, 4, 5);
	CHECK_INT(get("/v1/campaigns/sse-camp"), 421);
	CHECK_INT(get("/readyz"), 503);
	ownership_enforce(&m.owner, NULL);
	metrics_clear_partitions(&m);
}

/* Strict Prometheus text format 0.0.4 for the lines pledged writes. */
static bool valid_metric_name(const char **p)
{
	const char *s = *p;
	if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_' || *s == ':'))
		return false;
	while ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
	       *s == '_' || *s == ':')
		s++;
	*p = s;
	return true;
}

static bool valid_sample(const char *line, char *family, size_t fsize)
{
	const char *p = line;
	if (!valid_metric_name(&p))
		return false;
	snprintf(family, fsize, "%.*s", (int)(p - line), line);
	if (*p == '{') {
		p++;
		while (*p != '}') {
			const char *name = p;
			if (!valid_metric_name(&p) || p == name || *p++ != '=' || *p++ != '"')
				return false;
			while (*p && *p != '"') {
				if (*p == '\\') {
					p++;
					if (*p != '\\' && *p != '"' && *p != 'n')
						return false;
				}
				p++;
			}
			if (*p++ != '"')
				return false;
			if (*p == ',')
				p++;
			else if (*p != '}')
				return false;
		}
		p++;
	}
	if (*p++ != ' ')
		return false;
	if (strcmp(p, "+Inf") == 0 || strcmp(p, "-Inf") == 0 || strcmp(p, "NaN") == 0)
		return true;
	char *end;
	errno = 0;
	strtod(p, &end);
	return end != p && *end == '\0' && errno == 0;
}

static void test_metrics(void)
{
	CHECK_INT(admin_get("/metrics"), 200);
	CHECK_STR(header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
	char typed[64][96];
	int ntyped = 0, samples = 0, bad = 0;
	char *save, *text = strdup(R.body);
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char family[96], kind[32];
		if (strncmp(line, "# HELP ", 7) == 0)
			continue;
		if (sscanf(line, "# TYPE %95s %31s", family, kind) == 2) {
			bool ok = strcmp(kind, "counter") == 0 || strcmp(kind, "gauge") == 0 ||
				  strcmp(kind, "histogram") == 0;
			if (!ok || ntyped == 64)
				bad++;
			else
				snprintf(typed[ntyped++], sizeof typed[0], "%s", family);
			continue;
		}
		if (!valid_sample(line, family, sizeof family)) {
			fprintf(stderr, "bad metrics line: %s\n", line);
			bad++;
			continue;
		}
		samples++;
		/* Every sample belongs to the family typed last (histograms add suffixes). */
		const char *last = ntyped ? typed[ntyped - 1] : "";
		size_t ll = strlen(last);
		if (strncmp(family, last, ll) != 0 ||
		    !(family[ll] == '\0' || strcmp(family + ll, "_bucket") == 0 ||
		      strcmp(family + ll, "_sum") == 0 || strcmp(family + ll, "_count") == 0)) {
			fprintf(stderr, "sample outside its family: %s\n", line);
			bad++;
		}
	}
	free(text);
	CHECK_INT(bad, 0);
	CHECK(samples > 20);
	/* A histogram's +Inf bucket is its count (the format requires it; the
	 * count is the buckets' total, so no render can catch them apart). */
	for (const char *const *h = (const char *const[]){"pledged_batch_size",
							  "pledged_batch_commit_seconds", NULL};
	     *h; h++) {
		char inf[128], count[128];
		snprintf(inf, sizeof inf, "%s_bucket{le=\"+Inf\"} ", *h);
		snprintf(count, sizeof count, "\n%s_count ", *h);
		const char *a = strstr(R.body, inf), *b = strstr(R.body, count);
		CHECK(a && b && strtoull(a + strlen(inf), NULL, 10) == strtoull(b + strlen(count), NULL, 10));
	}
	CHECK(strstr(R.body, "pledged_http_requests_total{route=\"campaigns\",status=\"200\"}") != NULL);
	CHECK(strstr(R.body, "pledged_http_requests_total{route=\"unknown\",status=\"404\"}") != NULL);
	CHECK(strstr(R.body, "pledged_http_requests_total{route=\"comments\",status=\"400\"}") != NULL);
	/* The log grows without this process's batches (a read-only serve
	 * while `pledged import` runs): the gauge is where the log is. */
	uint64_t newest = ingest_lines(st, "{\"v\":1,\"type\":\"campaign.opened\",\"id\":\"metrics-1\","
					   "\"at\":1700000000000,\"campaign\":\"metrics-camp\","
					   "\"title\":\"M\",\"owner\":\"o\",\"currency\":\"EUR\"}\n");
	char want[64];
	snprintf(want, sizeof want, "\npledged_log_sequence %llu\n", (unsigned long long)newest);
	CHECK_INT(admin_get("/metrics"), 200);
	CHECK(strstr(R.body, want) != NULL);
}

static void test_page(void)
{
	CHECK_INT(get("/c/" DEMO), 200);
	CHECK(strstr(R.body, "<h2 id=\"totals-heading\">We did it</h2>") != NULL);
	CHECK(strstr(R.body, "data-state=\"succeeded\"") != NULL);
	CHECK_STR(header("Content-Type"), "text/html; charset=utf-8");
	CHECK(strstr(header("Content-Security-Policy"), "script-src 'self'") != NULL);
	CHECK(strstr(R.body, "<html lang=\"en\">") != NULL);
	CHECK(strstr(R.body, "id=\"raised\">£58,041<") != NULL);
	CHECK(strstr(R.body, "id=\"supporters\">1975<") != NULL);
	CHECK(strstr(R.body, "id=\"days\">19<") != NULL);
	CHECK(strstr(R.body, "by <span id=\"owner\">Jess Phillips for Labour Leader</span> in") != NULL);
	CHECK(strstr(R.body, "15th January 2020") != NULL);
	CHECK(strstr(R.body, "&lt;script&gt;document.title") != NULL);
	CHECK(strstr(R.body, "<script>document") == NULL);
	CHECK(strstr(R.body, "Only backers may comment") != NULL);
	CHECK(strstr(R.body, "id=\"more\"") == NULL);
	for (int i = 0; i < 10; i++) {
		char ev[512];
		snprintf(ev, sizeof ev,
			 "{\"v\":1,\"type\":\"comment.posted\",\"id\":\"more-%d\",\"at\":1581000000000,"
			 "\"campaign\":\"" DEMO "\",\"comment\":\"more-%d\",\"supporter\":\"sup-0009\","
			 "\"text\":\"one more\"}\n",
			 i, i);
		ingest_lines(st, ev);
	}
	CHECK_INT(get("/c/" DEMO), 200);
	CHECK(strstr(R.body, "id=\"more\"") != NULL);
	CHECK(strstr(R.body, "href=\"/c/" DEMO "?before=") != NULL);

	/* Other parameters are ignored, ids are not: one, in the path or in id. */
	CHECK_INT(get("/c/" DEMO "?utm_source=x"), 200);
	/* Tracking tags of any form, even ones that do not parse, are ignored. */
	CHECK_INT(get("/c/" DEMO "?ref"), 200);
	CHECK_INT(get("/c/" DEMO "?ref&utm_source=a%00b&x=%zz"), 200);
	CHECK_INT(get("/?amp"), 200);
	CHECK_INT(get("/?id"), 200); /* no value: not a parameter of its */
	CHECK_INT(get("/?ref&id"), 200);
	CHECK_INT(get("/c/" DEMO "?ref&sort=bogus"), 400); /* its own parameters are still checked */
	CHECK_INT(get("/c/?id=" DEMO), 200);
	CHECK_INT(get("/c/" DEMO "?id=nope"), 400);
	CHECK_INT(get("/c/?id=" DEMO "&id=nope"), 400);
	CHECK_STR(error_text(), "parameter id given twice");

	CHECK_INT(get("/c/slash%2Fand%20space"), 200);
	CHECK(strstr(R.body, "<progress") != NULL);
	CHECK(strstr(R.body, "of the <span id=\"target\">¥100,000</span> target") != NULL);
	CHECK(strstr(R.body, "id=\"raised\">¥1,234<") != NULL);
	CHECK(strstr(R.body, "<span id=\"percent\">1</span>%") != NULL); /* 1.234% */
	ingest_lines(st, "{\"v\":1,\"type\":\"campaign.opened\",\"id\":\"small-1\",\"at\":1700000000000,"
			 "\"campaign\":\"small\",\"title\":\"Small\",\"owner\":\"o\",\"currency\":\"GBP\","
			 "\"target\":500000}\n");
	CHECK_INT(get("/c/small"), 200);
	CHECK(strstr(R.body, "<span id=\"percent\">0</span>%") != NULL); /* nothing yet */
	ingest_lines(st, "{\"v\":1,\"type\":\"pledge.created\",\"id\":\"small-2\",\"at\":1700000000001,"
			 "\"campaign\":\"small\",\"pledge\":\"sp\",\"supporter\":\"s\",\"amount\":2500,"
			 "\"currency\":\"GBP\"}\n");
	CHECK_INT(get("/c/small"), 200);
	CHECK(strstr(R.body, "<span id=\"percent\">&lt;1</span>%") != NULL); /* £25 of £5,000 */
	CHECK(strstr(R.body, "id=\"no-comments\"") != NULL);
	CHECK(strstr(R.body, "id=\"deadline\" class=\"deadline\">Open<") != NULL); /* no closes_at */
	CHECK(strstr(R.body, "<svg id=\"chart\"") != NULL);
	CHECK(strstr(R.body, "data-values=\"0 2500\"") != NULL); /* opened, then £25 within the hour */
	/* The chart is kept per worker until the campaign's money moves: then it is drawn again. */
	CHECK_INT(get("/c/small"), 200);
	CHECK(strstr(R.body, "data-values=\"0 2500\"") != NULL);
	ingest_lines(st, "{\"v\":1,\"type\":\"pledge.created\",\"id\":\"small-3\",\"at\":1700000000002,"
			 "\"campaign\":\"small\",\"pledge\":\"sp3\",\"supporter\":\"s\",\"amount\":1,"
			 "\"currency\":\"GBP\"}\n");
	ingest_lines(st, "{\"v\":1,\"type\":\"pledge.refunded\",\"id\":\"small-4\",\"at\":1700000000003,"
			 "\"campaign\":\"small\",\"pledge\":\"sp3\",\"amount\":1}\n");
	for (int i = 0; i < 4; i++) { /* every worker: same raised, one pledge more */
		CHECK_INT(get("/c/small"), 200);
		CHECK(strstr(R.body, "data-values=\"0 2500\"") != NULL);
	}
	ingest_lines(st, "{\"v\":1,\"type\":\"pledge.refunded\",\"id\":\"small-5\",\"at\":1700000000004,"
			 "\"campaign\":\"small\",\"pledge\":\"sp\",\"amount\":500}\n");
	for (int i = 0; i < 4; i++) {
		CHECK_INT(get("/c/small"), 200);
		CHECK(strstr(R.body, "data-values=\"0 2000\"") != NULL);
	}
	CHECK(strstr(R.body, "now <span id=\"chart-raised\">£20</span>; the dashed line is the "
			     "target, £5,000.") != NULL);
	/* The bar shows a little raised as a sliver (a fiftieth), not as nothing. */
	CHECK(strstr(R.body, "max=\"500000\" value=\"10000\"") != NULL);
	/* A refund after the close still counts: the chart ends where the campaign stands. */
	open_with_pledge(st, "late", "Late", "lp");
	ingest_lines(st, "{\"v\":1,\"type\":\"campaign.closed\",\"id\":\"late-3\",\"at\":1700000000003,"
			 "\"campaign\":\"late\"}\n"
			 "{\"v\":1,\"type\":\"pledge.refunded\",\"id\":\"late-4\",\"at\":1700003600000,"
			 "\"campaign\":\"late\",\"pledge\":\"lp\",\"amount\":200}\n");
	CHECK_INT(get("/c/late"), 200);
	CHECK(strstr(R.body, "data-values=\"0 500\"") != NULL);
	CHECK(strstr(R.body, "now <span id=\"chart-raised\">£5</span>") != NULL);
	/* Closed with every pledge refunded, and no target: closed, not "We did it". */
	open_with_pledge(st, "void", "Void", "vp");
	CHECK_INT(get("/c/void"), 200);
	CHECK(strstr(R.body, "<h2 id=\"totals-heading\">Raising now</h2>") != NULL);
	ingest_lines(st, "{\"v\":1,\"type\":\"pledge.refunded\",\"id\":\"void-3\",\"at\":1700000000002,"
			 "\"campaign\":\"void\",\"pledge\":\"vp\",\"amount\":700}\n"
			 "{\"v\":1,\"type\":\"campaign.closed\",\"id\":\"void-4\",\"at\":1700000000003,"
			 "\"campaign\":\"void\"}\n");
	CHECK_INT(get("/c/void"), 200);
	CHECK(strstr(R.body, "<h2 id=\"totals-heading\">Campaign closed</h2>") != NULL);
	CHECK(strstr(R.body, "id=\"raised\">£0<") != NULL);
	CHECK(strstr(R.body, "data-state=\"closed\"") != NULL); /* page.js compares its own */
	CHECK_INT(get("/"), 200); /* nor is its card "Funded" */
	const char *card = strstr(R.body, "data-id=\"void\"");
	CHECK(card != NULL);
	if (card) {
		const char *end = strstr(card, "</li>");
		const char *funded = strstr(card, "Funded");
		CHECK(end != NULL && (funded == NULL || funded > end));
		CHECK(strstr(card, "class=\"deadline\">Closed<") != NULL);
	}
	ingest_lines(st, "{\"v\":1,\"type\":\"campaign.opened\",\"id\":\"dots-1\",\"at\":1700000000000,"
			 "\"campaign\":\"..\",\"title\":\"Dots\",\"owner\":\"o\",\"currency\":\"GBP\","
			 "\"closes_at\":4102444800000}\n");
	CHECK_INT(get("/c/?id=.."), 200);
	CHECK(strstr(R.body, "<h1 id=\"title\">Dots</h1>") != NULL);
	CHECK(strstr(R.body, "days left") != NULL); /* closes in 2100 */
	CHECK_INT(get("/c/?id=..&utm_source=x"), 200);
	CHECK_INT(get("/c/"), 404);
	CHECK_INT(get("/"), 200);
	CHECK(strstr(R.body, "href=\"/c/slash%2Fand%20space\"") != NULL); /* campaigns: a list */
	CHECK(strstr(R.body, "<li class=\"card\" data-id=\"..\">\n<h2><a href=\"/c/?id=..\">Dots</a>") != NULL);
	CHECK(strstr(R.body, "<p class=\"figures\"><strong class=\"raised\">£20</strong> raised of "
			     "£5,000 (<span class=\"percent\">&lt;1%</span>)") != NULL);
	CHECK(strstr(R.body, "<h2 class=\"crowd-heading\">Our crowd has raised</h2>") != NULL);
	CHECK(strstr(R.body, "<li>¥1,234 from 1 supporter for 1 campaign</li>") != NULL);
	CHECK_INT(get("/c/none"), 404);
	CHECK_INT(get("/c/" DEMO "?before=nonsense"), 400);

	CHECK_INT(get("/assets/page.js"), 200);
	CHECK_STR(header("Content-Type"), "text/javascript; charset=utf-8");
	CHECK(strstr(R.body, "textContent") != NULL);
	char inm[96];
	snprintf(inm, sizeof inm, "If-None-Match: %s\r\n", header("ETag"));
	CHECK_INT(request("GET", "/assets/page.js", inm), 304);
	CHECK_STR(header("Cache-Control"), "no-cache"); /* no version asked: revalidate */
	CHECK_INT(get("/assets/page.css"), 200);
	CHECK_INT(get("/assets/nope.js"), 404);

	/* The URL the page links names one content for good; another is a 404. */
	CHECK_INT(get("/c/" DEMO), 200);
	const char *link = strstr(R.body, "/assets/page.js?v=");
	CHECK(link != NULL);
	char url[64] = "";
	if (link)
		snprintf(url, sizeof url, "%.*s", (int)strcspn(link, "\""), link);
	CHECK_INT(get(url), 200);
	CHECK_STR(header("Cache-Control"), "public, max-age=31536000, immutable");
	CHECK_INT(get("/assets/page.js?v=0123456789abcdef"), 404);
	CHECK_STR(header("Cache-Control"), "no-store");
	CHECK_STR(error_text(), "no such version of this asset");
}

/* A stream client: connects and reads the answer's head (and whatever came with it). */
static int stream_open(const char *id, char *buf, size_t size)
{
	int fd = connect_server(port);
	char req[256];
	int n = snprintf(req, sizeof req, "GET /v1/campaigns/%s/stream HTTP/1.1\r\nHost: t\r\n\r\n", id);
	write_all(fd, req, (size_t)n);
	read_some(fd, buf, size, 3000, "\r\n\r\n");
	return fd;
}

/* Appends what arrives to buf (holding *len bytes) until stop appears after from. */
static void stream_wait(int fd, char *buf, size_t size, size_t *len, size_t from, const char *stop,
			int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	while (!strstr(buf + from, stop) && *len + 1 < size) {
		int left = (int)(deadline - now_ms());
		if (left <= 0)
			break;
		*len += read_some(fd, buf + *len, size - *len, left < 100 ? left : 100, NULL);
	}
}

static int stream_count(void)
{
	return atomic_load(&hs->stream_count);
}

/* A server that stops ends its streams as answers, not cut short: the
 * chunked end is sent before the connection closes. */
static void test_stream_at_stop(void)
{
	static char buf[8192];
	struct http_server *stopping;
	struct http_server_options opt = {.listen = "127.0.0.1:0", .threads = 1,
					  .sse_heartbeat_ms = 50};
	CHECK_INT(http_server_start(&stopping, st, &m, &opt), 0);
	int fd = connect_server(http_server_port(stopping));
	static const char req[] = "GET /v1/campaigns/sse-camp/stream HTTP/1.1\r\nHost: t\r\n\r\n";
	write_all(fd, req, sizeof req - 1);
	size_t len = 0;
	buf[0] = '\0';
	/* A heartbeat too: what the connection's bufferevent wrote itself. */
	stream_wait(fd, buf, sizeof buf, &len, 0, ": heartbeat", 3000);
	CHECK(strstr(buf, ": heartbeat") != NULL);
	http_server_stop(stopping);
	len += read_some(fd, buf + len, sizeof buf - len, 3000, NULL);
	CHECK(len >= 5 && strcmp(buf + len - 5, "0\r\n\r\n") == 0);
	close(fd);
}

/* A stream of a campaign whose partition leaves ends, so its client reconnects elsewhere. */
static void test_stream_ownership(void)
{
	static char buf[8192];
	int32_t all[] = {0, 1, 2, 3}, not_zero[] = {1, 2, 3};
	ownership_enforce(&m.owner, by_length);
	ownership_set(&m.owner, 4, all, 4, 1);
	int fd = stream_open("sse-camp", buf, sizeof buf); /* 8 bytes: partition 0 */
	size_t len = strlen(buf);
	CHECK(strncmp(buf, "HTTP/1.1 200", 12) == 0);
	stream_wait(fd, buf, sizeof buf, &len, 0, "event: summary", 3000);
	CHECK_INT(stream_count(), 1);
	ownership_set(&m.owner, 4, not_zero, 3, 2);
	size_t from = len;
	stream_wait(fd, buf, sizeof buf, &len, from, "0\r\n\r\n", 3000);
	CHECK(strstr(buf + from, "0\r\n\r\n") != NULL); /* the chunked answer's end */
	CHECK_INT(stream_count(), 0);
	close(fd);
	ownership_enforce(&m.owner, NULL);
}

/* Streams hear when the instance goes stale (its figures stop moving) and fresh again. */
static void test_stream_staleness(void)
{
	static char buf[8192], late[8192];
	int32_t all[] = {0, 1, 2, 3};
	ownership_enforce(&m.owner, by_length);
	ownership_set(&m.owner, 4, all, 4, 1);
	int fd = stream_open("sse-camp", buf, sizeof buf);
	size_t len = strlen(buf);
	stream_wait(fd, buf, sizeof buf, &len, 0, "event: fresh", 3000);
	const char *summary = strstr(buf, "event: summary");
	CHECK(summary != NULL && strstr(summary, "event: fresh\ndata: {}\n\n") != NULL);
	CHECK(strstr(buf, "event: stale") == NULL);
	int64_t lost_at = clock_wall_ms();
	CHECK(ownership_lose(&m.owner, false));
	size_t from = len;
	stream_wait(fd, buf, sizeof buf, &len, from, "\n\n", 3000);
	const char *stale = strstr(buf + from, "event: stale\ndata: {\"since\":");
	CHECK(stale != NULL);
	CHECK(stale && atoll(stale + strlen("event: stale\ndata: {\"since\":")) >= lost_at);
	/* Opened while stale: told at once, after its summary. */
	int fd2 = stream_open("sse-camp", late, sizeof late);
	size_t late_len = strlen(late);
	stream_wait(fd2, late, sizeof late, &late_len, 0, "event: stale", 3000);
	summary = strstr(late, "event: summary");
	CHECK(summary != NULL && strstr(summary, "event: stale") != NULL);
	CHECK(strstr(late, "event: fresh") == NULL);
	/* The page says so too, for readers without the script. */
	CHECK_INT(get("/c/sse-camp"), 200);
	CHECK(strstr(R.body, "<p id=\"stale\" class=\"stale\" role=\"status\">Updates paused since") !=
	      NULL);
	ownership_set(&m.owner, 4, all, 4, 2); /* the group formed again */
	from = len;
	stream_wait(fd, buf, sizeof buf, &len, from, "event: fresh", 3000);
	CHECK(strstr(buf + from, "event: fresh\ndata: {}") != NULL);
	CHECK_INT(get("/c/sse-camp"), 200);
	CHECK(strstr(R.body, "<p id=\"stale\" class=\"stale\" role=\"status\" hidden></p>") != NULL);
	close(fd);
	close(fd2);
	ownership_enforce(&m.owner, NULL);
}

static void test_stream(void)
{
	static char buf[65536];
	int fd = stream_open("sse-camp", buf, sizeof buf);
	size_t len = strlen(buf), from = 0;
	CHECK(strncmp(buf, "HTTP/1.1 200", 12) == 0);
	CHECK(strstr(buf, "Content-Type: text/event-stream") != NULL);
	stream_wait(fd, buf, sizeof buf, &len, 0, "\"raised\":0,", 3000);
	CHECK(strstr(buf, "event: summary") != NULL);
	CHECK(strstr(buf, "\"raised\":0,") != NULL);
	CHECK_INT(stream_count(), 1);

	/* A pledge is applied and announced: the new summary arrives. */
	uint64_t s = ingest_lines(
		st, "{\"v\":1,\"type\":\"pledge.created\",\"id\":\"sse-p1\",\"at\":1700000100000,"
		    "\"campaign\":\"sse-camp\",\"pledge\":\"sse-pl1\",\"supporter\":\"s1\",\"amount\":250,"
		    "\"currency\":\"EUR\"}\n");
	int64_t t0 = now_ms();
	http_server_notify(hs, s);
	from = len;
	stream_wait(fd, buf, sizeof buf, &len, from, "\"raised\":250,", 3000);
	CHECK(strstr(buf + from, "\"raised\":250,") != NULL);
	CHECK(now_ms() - t0 < 1000);
	char id_line[64];
	snprintf(id_line, sizeof id_line, "id: %llu\n", (unsigned long long)s);
	CHECK(strstr(buf + from, id_line) != NULL);

	/* Another campaign changing sends nothing here; the heartbeat still comes. */
	s = ingest_lines(st, "{\"v\":1,\"type\":\"pledge.refunded\",\"id\":\"sse-r1\",\"at\":1579900000000,"
			     "\"campaign\":\"" DEMO "\",\"pledge\":\"pl-00406\",\"amount\":100}\n");
	http_server_notify(hs, s);
	from = len;
	stream_wait(fd, buf, sizeof buf, &len, from, ": heartbeat", 2000);
	CHECK(strstr(buf + from, ": heartbeat") != NULL);
	CHECK(strstr(buf + from, "event: summary") == NULL);

	/* A swap moves no log position and nobody calls notify, yet it can
	 * change what a stream shows: a total damaged in the live slot is
	 * shown once another event moves the log, then the rebuild swapped in
	 * puts the log's figure back. */
	struct store_txn t;
	enum store_slot live;
	uint64_t gen;
	struct proj_totals tot = {.raised = 1, .closed_at = PROJ_NONE};
	uint8_t damaged[PROJ_TOTALS_SIZE];
	proj_totals_encode(damaged, &tot);
	CHECK_INT(store_write_begin(st, &t), 0);
	CHECK_INT(proj_live(&t, &live, &gen), 0);
	store_put(&t, store_slot_db(live, SLOT_TOTALS), "sse-camp", 8, damaged, sizeof damaged, 0);
	CHECK_INT(store_commit(&t), 0);
	s = ingest_lines(st, "{\"v\":1,\"type\":\"pledge.refunded\",\"id\":\"sse-r2\",\"at\":1579900000000,"
			     "\"campaign\":\"" DEMO "\",\"pledge\":\"pl-00407\",\"amount\":1}\n");
	http_server_notify(hs, s);
	from = len;
	stream_wait(fd, buf, sizeof buf, &len, from, "\"raised\":1,", 3000);
	CHECK(strstr(buf + from, "\"raised\":1,") != NULL);
	struct rebuild_options ropt = {.swap = true};
	struct rebuild_report rep;
	CHECK_INT(rebuild_run(st, &ropt, &rep), 0);
	CHECK(rep.swapped);
	from = len;
	stream_wait(fd, buf, sizeof buf, &len, from, "\"raised\":250,", 3000);
	CHECK(strstr(buf + from, "\"raised\":250,") != NULL);

	/* Written by another process (no notify at all): seen at the next tick. */
	ingest_lines(st, "{\"v\":1,\"type\":\"pledge.created\",\"id\":\"sse-p2\",\"at\":1700000200000,"
			 "\"campaign\":\"sse-camp\",\"pledge\":\"sse-pl2\",\"supporter\":\"s2\",\"amount\":50,"
			 "\"currency\":\"EUR\"}\n");
	from = len;
	stream_wait(fd, buf, sizeof buf, &len, from, "\"raised\":300,", 3000);
	CHECK(strstr(buf + from, "\"raised\":300,") != NULL);

	/* Unknown campaign, too many clients, clean disconnects. */
	int bad = stream_open("no-such", buf, sizeof buf);
	CHECK(strncmp(buf, "HTTP/1.1 404", 12) == 0);
	close(bad);
	int more[3];
	for (int i = 0; i < 3; i++) {
		more[i] = stream_open("sse-camp", buf, sizeof buf);
		CHECK(strncmp(buf, "HTTP/1.1 200", 12) == 0);
	}
	CHECK_INT(stream_count(), 4);
	int over = stream_open("sse-camp", buf, sizeof buf);
	CHECK(strncmp(buf, "HTTP/1.1 503", 12) == 0);
	close(over);
	for (int i = 0; i < 3; i++)
		close(more[i]);
	close(fd);
	int64_t deadline = now_ms() + 3000;
	while (stream_count() && now_ms() < deadline)
		usleep(20000);
	CHECK_INT(stream_count(), 0);
	CHECK_INT(get("/v1/campaigns/sse-camp"), 200);

	/* HTTP/1.0 has no chunks: a stream asked to keep the connection alive
	 * is still one the connection's end delimits, not "Content-Length: 0". */
	static const char old_client[] = "GET /v1/campaigns/sse-camp/stream HTTP/1.0\r\n"
					 "Connection: keep-alive\r\n\r\n";
	fd = connect_server(port);
	write_all(fd, old_client, sizeof old_client - 1);
	len = 0;
	buf[0] = '\0';
	stream_wait(fd, buf, sizeof buf, &len, 0, "event: summary", 3000);
	CHECK(strncmp(buf, "HTTP/1.0 200", 12) == 0);
	CHECK(strstr(buf, "event: summary") != NULL);
	CHECK(strstr(buf, "Content-Length") == NULL);
	CHECK(strstr(buf, "keep-alive") == NULL);
	close(fd);
	deadline = now_ms() + 3000;
	while (stream_count() && now_ms() < deadline)
		usleep(20000);
	CHECK_INT(stream_count(), 0);
}

/* Ingests lines and tells the server, as serve's writer does; returns the log position. */
static uint64_t ingest_told(const char *lines)
{
	uint64_t seq = ingest_lines(st, lines);
	http_server_notify(hs, seq);
	return seq;
}

#define FEED_COMMENT(id, comment, supporter)                                                   \
	"{\"v\":1,\"type\":\"comment.posted\",\"id\":\"" id "\",\"at\":1700000000005,"          \
	"\"campaign\":\"feed-camp\",\"comment\":\"" comment "\",\"supporter\":\"" supporter "\","  \
	"\"name\":\"Ada\",\"text\":\"hi\"}\n"

/*
 * The summary holds the count of comments, not the comments: a comment
 * removed and another posted in one batch, or a name erased, leave it as it
 * was, and the stream says "comments" instead. Other events of the
 * campaign, and comments of another, do not.
 */
static void test_stream_comments(void)
{
	static char buf[65536];
	char want[96];
	open_with_pledge(st, "feed-camp", "Feed", "feed-pl");
	uint64_t c1 = ingest_lines(st, FEED_COMMENT("feed-c1", "fc1", "s"));
	int fd = stream_open("feed-camp", buf, sizeof buf);
	size_t len = strlen(buf), from;
	stream_wait(fd, buf, sizeof buf, &len, 0, "event: fresh", 3000);
	CHECK(strstr(buf, "\"comments\":1,") != NULL);

	uint64_t swapped = ingest_told("{\"v\":1,\"type\":\"comment.removed\",\"id\":\"feed-r1\","
				   "\"at\":1700000000006,\"campaign\":\"feed-camp\",\"comment\":\"fc1\"}\n"
				   FEED_COMMENT("feed-c2", "fc2", "s"));
	from = len;
	snprintf(want, sizeof want, "event: comments\nid: %llu\ndata: {\"comments\":1}\n\n",
		 (unsigned long long)swapped);
	stream_wait(fd, buf, sizeof buf, &len, from, want, 3000);
	CHECK(strstr(buf + from, want) != NULL);

	/* A pledge moves the summary only; another campaign's comment, nothing here. */
	uint64_t pledge = ingest_told("{\"v\":1,\"type\":\"pledge.created\",\"id\":\"feed-p2\",\"at\":1700000000007,"
			  "\"campaign\":\"feed-camp\",\"pledge\":\"feed-pl2\",\"supporter\":\"t\","
			  "\"amount\":5,\"currency\":\"GBP\"}\n");
	from = len;
	stream_wait(fd, buf, sizeof buf, &len, from, "\"raised\":705,", 3000);
	CHECK(strstr(buf + from, "\"raised\":705,") != NULL);
	uint64_t elsewhere = ingest_told("{\"v\":1,\"type\":\"comment.posted\",\"id\":\"feed-o1\",\"at\":1579000000000,"
		    "\"campaign\":\"" DEMO "\",\"comment\":\"feed-o1\",\"supporter\":\"sup-0010\","
		    "\"text\":\"elsewhere\"}\n");
	stream_wait(fd, buf, sizeof buf, &len, from, ": heartbeat", 2000);
	CHECK(strstr(buf + from, ": heartbeat") != NULL);
	CHECK(strstr(buf + from, "event: comments") == NULL);

	/* An erasure may touch any campaign's feed. */
	uint64_t forgotten = ingest_told("{\"v\":1,\"type\":\"supporter.forgotten\",\"id\":\"feed-f1\","
			  "\"at\":1700000000008,\"supporter\":\"s\"}\n");
	from = len;
	snprintf(want, sizeof want, "event: comments\nid: %llu\n", (unsigned long long)forgotten);
	stream_wait(fd, buf, sizeof buf, &len, from, want, 3000);
	CHECK(strstr(buf + from, want) != NULL);
	close(fd);

	/* Read directly: each campaign's latest change, found among others. */
	uint64_t feed = feed_campaign_hash("feed-camp", 9), demo = feed_campaign_hash(DEMO, strlen(DEMO));
	uint64_t quiet = feed_campaign_hash("sse-camp", 8);
	struct feed_changes fc = {0};
	struct store_txn t;
	CHECK_INT(store_read_begin(st, &t), 0);
	CHECK_INT(feed_changes_read(&fc, &t, pledge - 1, pledge), 0); /* none: nothing to sort */
	CHECK(!fc.all && fc.count == 0 && !feed_changed(&fc, feed, 0));
	CHECK_INT(feed_changes_read(&fc, &t, c1 - 1, elsewhere), 0);
	CHECK(!fc.all && fc.everyone_seq == 0);
	CHECK(feed_changed(&fc, feed, c1 - 1) && feed_changed(&fc, feed, swapped - 1));
	CHECK(!feed_changed(&fc, feed, swapped));
	CHECK(feed_changed(&fc, demo, elsewhere - 1) && !feed_changed(&fc, demo, elsewhere));
	CHECK(!feed_changed(&fc, quiet, 0));
	CHECK_INT(feed_changes_read(&fc, &t, c1 - 1, forgotten), 0);
	CHECK(feed_changed(&fc, quiet, forgotten - 1) && !feed_changed(&fc, quiet, forgotten));
	CHECK_INT(feed_changes_read(&fc, &t, 0, FEED_CHANGES_MAX_ENTRIES + 1), 0);
	CHECK(fc.all && feed_changed(&fc, quiet, forgotten));
	store_abort(&t);
	feed_changes_deinit(&fc);
}

/*
 * Reads whatever fd has ready, without waiting; returns how many bytes, or
 * -1 at its end. last (a string) keeps the last bytes read, across reads:
 * a read may bring only the end of a summary, whose figures came before.
 */
static long drain(int fd, char *last, size_t last_size)
{
	static char buf[65536];
	long total = 0;
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
		if (n == 0)
			return -1;
		if (n < 0)
			return total;
		total += n;
		size_t cap = last_size - 1, had = strlen(last);
		size_t keep = (size_t)n < cap ? (size_t)n : cap;
		size_t old = had < cap - keep ? had : cap - keep;
		memmove(last, last + had - old, old);
		memcpy(last + old, buf + n - keep, keep);
		last[old + keep] = '\0';
	}
}

/* A client that stops reading is dropped once more than 256 KiB wait for it,
 * long before the write timeout; one that reads along keeps its stream. */
static void test_stream_backlog(void)
{
	static char head[8192], tail[4096];
	/* The streams of the tests before gone first: the server notices a
	 * closed one when its worker next runs, later on a busy machine. */
	int64_t deadline = now_ms() + 10000;
	while (stream_count() && now_ms() < deadline)
		usleep(1000);
	CHECK_INT(stream_count(), 0);
	/* A title, owner and location of 100 quotes each, escaped in JSON:
	 * summaries of about 1.5 KiB, so that a few hundred fill the backlog. */
	char lines[1400], title[201];
	for (int i = 0; i < 100; i++)
		memcpy(title + 2 * i, "\\\"", 2);
	title[200] = '\0';
	snprintf(lines, sizeof lines,
		 "{\"v\":1,\"type\":\"campaign.opened\",\"id\":\"bl-open\",\"at\":1700000000000,"
		 "\"campaign\":\"backlog\",\"title\":\"%s\",\"owner\":\"%s\",\"location\":\"%s\","
		 "\"currency\":\"EUR\"}\n",
		 title, title, title);
	ingest_lines(st, lines);
	/* A small receive buffer, set before connecting so that the window is
	 * small from the start: the backlog piles up on the server's side. */
	int slow = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), small = 4096;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	CHECK_INT(setsockopt(slow, SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
	CHECK_INT(connect(slow, (struct sockaddr *)&sa, sizeof sa), 0);
	char req[] = "GET /v1/campaigns/backlog/stream HTTP/1.1\r\nHost: t\r\n\r\n";
	write_all(slow, req, strlen(req));
	int reader = stream_open("backlog", head, sizeof head);
	CHECK(strncmp(head, "HTTP/1.1 200", 12) == 0);
	deadline = now_ms() + 3000;
	while (stream_count() < 2 && now_ms() < deadline)
		usleep(1000);
	CHECK_INT(stream_count(), 2);

	/* Changes until the slow client is dropped: at most a few hundred
	 * summaries fit its socket buffers and the 256 KiB. The write timeout
	 * (10 s) is not reached before the loop gives up (8 s). */
	long amount = 0;
	deadline = now_ms() + 8000;
	while (stream_count() == 2 && now_ms() < deadline) {
		amount++;
		snprintf(lines, sizeof lines,
			 "{\"v\":1,\"type\":\"pledge.created\",\"id\":\"bl-%ld\",\"at\":1700000100000,"
			 "\"campaign\":\"backlog\",\"pledge\":\"bl-pl%ld\",\"supporter\":\"s\","
			 "\"amount\":1,\"currency\":\"EUR\"}\n",
			 amount, amount);
		http_server_notify(hs, ingest_lines(st, lines));
		usleep(2000); /* each change its own summary, rather than one for many */
		CHECK(drain(reader, tail, sizeof tail) >= 0);
	}
	CHECK_INT(stream_count(), 1);
	CHECK(amount > 50); /* it took many summaries, not the first few */
	/* The reader has the latest figures; the slow client's answer was cut,
	 * not ended: no chunked terminator before its end. */
	char want[64];
	snprintf(want, sizeof want, "\"raised\":%ld,", amount);
	deadline = now_ms() + 3000;
	while (!strstr(tail, want) && now_ms() < deadline) {
		usleep(10000);
		CHECK(drain(reader, tail, sizeof tail) >= 0);
	}
	CHECK(strstr(tail, want) != NULL);
	long got;
	tail[0] = '\0';
	deadline = now_ms() + 3000;
	while ((got = drain(slow, tail, sizeof tail)) >= 0 && now_ms() < deadline)
		usleep(10000);
	CHECK(got == -1);
	CHECK(strstr(tail, "0\r\n\r\n") == NULL);
	close(slow);
	close(reader);
	deadline = now_ms() + 3000;
	while (stream_count() && now_ms() < deadline)
		usleep(20000);
	CHECK_INT(stream_count(), 0);
}

/* The answers evhttp gives itself to requests it refuses. */
static const int refused_statuses[3] = {400, 413, 501};

/* pledged_http_requests_total{route="unparsed",status=…} now. */
static long long unparsed_count(int status)
{
	char sample[128];
	snprintf(sample, sizeof sample, "pledged_http_requests_total{route=\"unparsed\",status=\"%d\"} ",
		 status);
	CHECK_INT(admin_get("/metrics"), 200);
	const char *at = strstr(R.body, sample);
	return at ? atoll(at + strlen(sample)) : 0;
}

/* Refusals a client saw, by refused_statuses, and how many it could have. */
struct refusals {
	int seen[3], sent;
};

static void note_refusal(struct refusals *f, const struct resp *r)
{
	f->sent++;
	for (int i = 0; i < 3; i++)
		f->seen[i] += r->status == refused_statuses[i];
}

/* Bad clients: none may crash the server or keep it from answering others. */
static void test_hostile(void)
{
	static char big[40000];
	struct resp *r = malloc(sizeof *r);
	struct refusals f = {0};
	long long before[3];
	for (int i = 0; i < 3; i++)
		before[i] = unparsed_count(refused_statuses[i]);

	/* A long URL within the header limit: just a 404. */
	memset(big, 'a', 6000);
	big[6000] = '\0';
	char *path = malloc(7000);
	snprintf(path, 7000, "/v1/campaigns/%.6000s", big);
	CHECK_INT(get(path), 404);
	snprintf(path, 7000, "/%.6000s", big);
	CHECK_INT(get(path), 404);
	free(path);

	/* Beyond it: refused (413 or 400), connection closed. */
	int n = snprintf(big, sizeof big, "GET /");
	memset(big + n, 'b', 20000);
	n += 20000;
	n += snprintf(big + n, sizeof big - (size_t)n, " HTTP/1.1\r\nHost: t\r\n\r\n");
	raw_request(port, big, (size_t)n, r, 3000);
	note_refusal(&f, r);
	CHECK(r->status == 413 || r->status == 400 || r->len == 0);

	/* Oversize headers. */
	n = snprintf(big, sizeof big, "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: ");
	memset(big + n, 'c', 12000);
	n += 12000;
	n += snprintf(big + n, sizeof big - (size_t)n, "\r\n\r\n");
	raw_request(port, big, (size_t)n, r, 3000);
	note_refusal(&f, r);
	CHECK(r->status == 413 || r->status == 400 || r->len == 0);

	/* A body on a GET larger than any request needs. */
	n = snprintf(big, sizeof big, "POST /v1/campaigns HTTP/1.1\r\nHost: t\r\nContent-Length: 20000\r\n\r\n");
	memset(big + n, 'd', 20000);
	raw_request(port, big, (size_t)n + 20000, r, 3000);
	note_refusal(&f, r);
	if (!(r->status == 413 || r->len == 0))
		fprintf(stderr, "big body: %d %.100s\n", r->status, r->raw);
	CHECK(r->status == 413 || r->len == 0);

	/* Garbage. */
	static const char garbage[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 binary\r\n\r\n";
	raw_request(port, garbage, sizeof garbage - 1, r, 3000);
	note_refusal(&f, r);
	CHECK(r->status == 400 || r->len == 0);
	raw_request(port, "GET\r\n\r\n", 7, r, 3000);
	note_refusal(&f, r);
	CHECK(r->status == 400 || r->len == 0);
	raw_request(port, "BREW /pot HTTP/1.1\r\n\r\n", 22, r, 3000);
	note_refusal(&f, r);
	/* A method HTTP does not know is evhttp's own 501, as RFC 9110 asks. */
	CHECK_INT(r->status, 501);
	raw_request(port, "GET /v1/campaigns HTTP/9.9\r\n\r\n", 30, r, 3000);
	note_refusal(&f, r);
	CHECK(r->status != 200 || strstr(r->raw, "campaigns") != NULL);
	/* The body's length said twice, or not plainly: a 400 that ends the
	 * connection, so no byte after it is taken for a request (a proxy may
	 * have read the body by another length). */
	static const char *const twice[] = {
		"GET /v1/totals HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\n"
		"GET /v1/campaigns HTTP/1.1\r\nHost: t\r\n\r\n",
		"GET /v1/totals HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
		"Content-Length: 5\r\n\r\n0\r\n\r\nGET /v1/campaigns HTTP/1.1\r\nHost: t\r\n\r\n",
		/* or not plainly: white space before the colon, a sign */
		"GET /v1/totals HTTP/1.1\r\nHost: t\r\nContent-Length : 5\r\n\r\n"
		"helloGET /v1/campaigns HTTP/1.1\r\nHost: t\r\n\r\n",
		"GET /v1/totals HTTP/1.1\r\nHost: t\r\nContent-Length: +0\r\n\r\n"
		"GET /v1/campaigns HTTP/1.1\r\nHost: t\r\n\r\n",
		/* Transfer-Encoding twice, which a proxy joins into one list */
		"GET /v1/totals HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
		"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /v1/campaigns HTTP/1.1\r\nHost: t\r\n\r\n",
		/* a coding evhttp does not know: it would read no body where a proxy
		 * reads a chunked one (a 501, as RFC 9112 6.1 asks) */
		"GET /v1/totals HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
		"0\r\n\r\nGET /v1/campaigns HTTP/1.1\r\nHost: t\r\n\r\n",
		"GET /v1/totals HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: identity\r\n\r\n"
		"GET /v1/campaigns HTTP/1.1\r\nHost: t\r\n\r\n",
		/* chunks from HTTP/1.0, which has none: a hop of that version in
		 * front took the "0" for the next request */
		"GET /v1/totals HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n"
		"0\r\n\r\nGET /v1/campaigns HTTP/1.0\r\n\r\n"};
	static const int twice_status[] = {400, 400, 400, 400, 400, 501, 501, 400};
	for (int i = 0; i < 8; i++) {
		raw_request(port, twice[i], strlen(twice[i]), r, 3000);
		f.sent++; /* the router's answer, or evhttp's own (counted as unparsed) */
		CHECK_INT(r->status, twice_status[i]);
		CHECK(strstr(r->raw + 1, "HTTP/1.") == NULL); /* one answer only */
	}
	/* To an HTTP/1.0 client that asked to keep its connection, an answer
	 * that ends it says close, and only that (not keep-alive as well). */
	static const char *const old_keep[] = {
		"GET /v1/totals HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 0\r\n"
		"Content-Length: 0\r\n\r\nGET /v1/campaigns HTTP/1.0\r\n\r\n",
		"GET /v1/totals HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: gzip\r\n\r\n"
		"GET /v1/campaigns HTTP/1.0\r\n\r\n",
		"CONNECT t:443 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
		"GET /v1/campaigns HTTP/1.0\r\n\r\n"};
	static const int old_keep_status[] = {400, 501, 405};
	for (int i = 0; i < 3; i++) {
		raw_request(port, old_keep[i], strlen(old_keep[i]), &R, 3000);
		f.sent++;
		CHECK_INT(R.status, old_keep_status[i]);
		CHECK_STR(header("Connection"), "close");
		CHECK(strcasestr(R.raw, "keep-alive") == NULL);
		CHECK(strstr(R.raw + 1, "HTTP/1.") == NULL);
	}
	/* A chunked body, which no route takes, sized as evhttp reads a size
	 * ("0x0" is 0 to strtoll, not to every hop): answered, then the
	 * connection ends, so what follows is never taken for a request. */
	static const char loose_chunk[] =
		"GET /v1/totals HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
		"0x0\r\n\r\nGET /v1/campaigns HTTP/1.1\r\nHost: t\r\n\r\n";
	raw_request(port, loose_chunk, strlen(loose_chunk), &R, 3000);
	CHECK_INT(R.status, 200);
	CHECK_STR(header("Connection"), "close");
	CHECK(strstr(R.raw + 1, "HTTP/1.") == NULL);
	free(r);
	/* Each refusal a client saw is counted, none that was not sent (a client
	 * that was cut off may have missed one it caused). */
	long long counted = 0;
	for (int i = 0; i < 3; i++) {
		long long now = unparsed_count(refused_statuses[i]) - before[i];
		if (now < f.seen[i])
			fprintf(stderr, "unparsed %d: %lld counted, %d seen\n", refused_statuses[i], now,
				f.seen[i]);
		CHECK(now >= f.seen[i]);
		counted += now;
	}
	CHECK(f.seen[0] + f.seen[1] + f.seen[2] >= 3);
	CHECK(counted <= f.sent);
	/* The answers of the router are not (the 404s and 200s above). */
	CHECK(strstr(R.body, "route=\"unparsed\",status=\"404\"") == NULL);
	CHECK(strstr(R.body, "route=\"unparsed\",status=\"200\"") == NULL);

	/* Clients that connect and send nothing, or half a request, do not stall others. */
	int idle[50];
	for (int i = 0; i < 50; i++)
		idle[i] = connect_server(port);
	write_all(idle[0], "GET /v1/camp", 12);
	int64_t t0 = now_ms();
	CHECK_INT(get("/v1/campaigns/" DEMO), 200);
	CHECK(now_ms() - t0 < 1000);
	for (int i = 0; i < 50; i++)
		close(idle[i]);
	CHECK_INT(admin_get("/healthz"), 200);
}

/* RFC 9112 3.2: an HTTP/1.1 request without Host, and any with two or with
 * one that names no host, is a 400; HTTP/1.0 needs none. */
static void test_host(void)
{
	static const struct {
		const char *req;
		int status;
		const char *error;
	} cases[] = {
		{"GET /v1/totals HTTP/1.1\r\nConnection: close\r\n\r\n", 400,
		 "an HTTP/1.1 request needs a Host header"},
		{"GET /v1/totals HTTP/1.1\r\nHost: a\r\nhost: b\r\nConnection: close\r\n\r\n", 400,
		 "Host given twice"},
		{"GET /v1/totals HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n", 400, "Host given twice"},
		{"GET /v1/totals HTTP/1.1\r\nHost: a b\r\nConnection: close\r\n\r\n", 400,
		 "Host is not a host name"},
		/* folded into "a b" */
		{"GET /v1/totals HTTP/1.1\r\nHost: a\r\n b\r\nConnection: close\r\n\r\n", 400,
		 "Host is not a host name"},
		{"GET /v1/totals HTTP/1.1\r\nHost: user@evil.example\r\nConnection: close\r\n\r\n",
		 400, "Host is not a host name"},
		{"GET /v1/totals HTTP/1.0\r\n\r\n", 200, NULL},
		{"GET http://a/v1/totals HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 200, NULL},
		{"GET /v1/totals HTTP/1.1\r\nHost: [::1]:8080\r\nConnection: close\r\n\r\n", 200, NULL},
		{"GET /v1/totals HTTP/1.1\r\nHost: xn--bcher-kva.example:80\r\nConnection: close\r\n\r\n",
		 200, NULL},
		/* empty, as a client sends for a target without an authority */
		{"GET /v1/totals HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n", 200, NULL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		raw_request(port, cases[i].req, strlen(cases[i].req), &R, 3000);
		CHECK_INT(R.status, cases[i].status);
		if (cases[i].error) {
			CHECK_STR(error_text(), cases[i].error);
			CHECK_STR(header("Cache-Control"), "no-store");
		}
	}
	static const char admin_req[] = "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n";
	raw_request(admin_port, admin_req, sizeof admin_req - 1, &R, 3000);
	CHECK_INT(R.status, 400);
}

/* Every answer carries Date (RFC 9110 6.6.1), to HTTP/1.0 requests too,
 * which evhttp does not date: a JSON answer, an error, a 304, the page, an
 * asset, a stream and its HEAD, the operators' answers. */
/*
 * A dashboard on another origin reads the public listener's figures and
 * the headers that say how fresh they are, after a preflight when it
 * revalidates; the operators' listener lets no other origin read it.
 */
static void test_cors(void)
{
	static const char origin[] = "Origin: https://dashboard.example\r\n";
	static const char *const public_paths[] = {"/v1/campaigns/" DEMO, "/v1/totals",
						   "/v1/campaigns/none", "/c/" DEMO};
	for (size_t i = 0; i < sizeof public_paths / sizeof public_paths[0]; i++) {
		CHECK_INT(request("GET", public_paths[i], origin), i == 2 ? 404 : 200);
		CHECK_STR(header("Access-Control-Allow-Origin"), "*");
	}
	CHECK_INT(request("GET", "/v1/campaigns/" DEMO, origin), 200);
	const char *exposed = header("Access-Control-Expose-Headers");
	CHECK(strstr(exposed, "ETag") != NULL && strstr(exposed, "X-Pledged-Seq") != NULL &&
	      strstr(exposed, "X-Pledged-Lag") != NULL);
	/* The stream's answer too (its first event is enough). */
	static const char stream[] = "GET /v1/campaigns/" DEMO "/stream HTTP/1.1\r\nHost: t\r\n"
				     "Origin: https://dashboard.example\r\n\r\n";
	raw_request(port, stream, sizeof stream - 1, &R, 1000);
	CHECK_INT(R.status, 200);
	CHECK_STR(header("Access-Control-Allow-Origin"), "*");
	/* The preflight of a revalidation (If-None-Match is not a simple header). */
	CHECK_INT(request("OPTIONS", "/v1/campaigns/" DEMO,
			  "Origin: https://dashboard.example\r\n"
			  "Access-Control-Request-Method: GET\r\n"
			  "Access-Control-Request-Headers: if-none-match\r\n"),
		  204);
	CHECK_STR(header("Access-Control-Allow-Origin"), "*");
	CHECK_STR(header("Access-Control-Allow-Methods"), "GET, HEAD");
	CHECK(strcasestr(header("Access-Control-Allow-Headers"), "If-None-Match") != NULL);
	CHECK(atoi(header("Access-Control-Max-Age")) > 0);
	CHECK_STR(header("Allow"), "GET, HEAD, OPTIONS");
	CHECK_INT((long long)strlen(R.body), 0);
	CHECK_INT(request("OPTIONS", "/nope", origin), 404);
	/* The operators' listener: no CORS, no preflight. */
	CHECK_INT(request_to(admin_port, "GET", "/v1/rejections", origin), 200);
	CHECK_STR(header("Access-Control-Allow-Origin"), "");
	CHECK_INT(request_to(admin_port, "OPTIONS", "/v1/rejections", origin), 405);
	CHECK_STR(header("Allow"), "GET, HEAD");
	CHECK_STR(header("Access-Control-Allow-Origin"), "");
}

static void test_date(void)
{
	CHECK_INT(get("/v1/totals"), 200);
	char inm[128];
	snprintf(inm, sizeof inm, "If-None-Match: %s\r\n", header("ETag"));
	static const struct {
		bool admin;
		const char *req;
		int status;
	} cases[] = {
		{false, "GET /v1/totals HTTP/1.0\r\n\r\n", 200},
		{false, "HEAD /v1/totals HTTP/1.0\r\n\r\n", 200},
		{false, "GET /v1/totals HTTP/1.0\r\n%s\r\n", 304},
		{false, "GET /v1/campaigns/none HTTP/1.0\r\n\r\n", 404},
		{false, "POST /v1/totals HTTP/1.0\r\n\r\n", 405},
		{false, "GET /c/" DEMO " HTTP/1.0\r\n\r\n", 200},
		{false, "GET /assets/page.css HTTP/1.0\r\n\r\n", 200},
		{false, "GET /v1/campaigns/" DEMO "/stream HTTP/1.0\r\n\r\n", 200},
		{false, "HEAD /v1/campaigns/" DEMO "/stream HTTP/1.0\r\n\r\n", 200},
		{true, "GET /metrics HTTP/1.0\r\n\r\n", 200},
		{true, "GET /v1/rejections HTTP/1.0\r\n\r\n", 200},
		{false, "GET /v1/totals HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", 200},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char req[512];
		int n = snprintf(req, sizeof req, cases[i].req, inm);
		/* A stream never ends: its first event is enough. */
		raw_request(cases[i].admin ? admin_port : port, req, (size_t)n, &R,
			    strstr(req, "GET /v1/campaigns/" DEMO "/stream") ? 1000 : 3000);
		CHECK_INT(R.status, cases[i].status);
		const char *date = header("Date");
		size_t len = strlen(date);
		if (len != 29 || strcmp(date + 25, " GMT") != 0)
			fprintf(stderr, "%.*s: Date '%s'\n", (int)strcspn(req, "\r"), req, date);
		CHECK(len == 29 && strcmp(date + 25, " GMT") == 0);
		/* one only: evhttp's own for HTTP/1.1 is not added beside it */
		const char *first = strstr(R.raw, "\r\nDate:");
		const char *second = first ? strstr(first + 2, "\r\nDate:") : NULL;
		CHECK(!second || second > R.body);
	}
}

/* A sample path of every route, to walk them all on each listener. */
static const char *const route_paths[HTTP_ROUTE_COUNT] = {
	[HTTP_ROUTE_CAMPAIGNS] = "/v1/campaigns",
	[HTTP_ROUTE_CAMPAIGN] = "/v1/campaigns/" DEMO,
	[HTTP_ROUTE_COMMENTS] = "/v1/campaigns/" DEMO "/comments?limit=100",
	[HTTP_ROUTE_STREAM] = "/v1/campaigns/" DEMO "/stream",
	[HTTP_ROUTE_HISTORY] = "/v1/campaigns/" DEMO "/history?interval=hour",
	[HTTP_ROUTE_TOTALS] = "/v1/totals",
	[HTTP_ROUTE_REJECTIONS] = "/v1/rejections?limit=100",
	[HTTP_ROUTE_HEALTHZ] = "/healthz",
	[HTTP_ROUTE_READYZ] = "/readyz",
	[HTTP_ROUTE_METRICS] = "/metrics",
	[HTTP_ROUTE_PAGE] = "/c/" DEMO,
	[HTTP_ROUTE_ASSET] = "/assets/page.js",
	[HTTP_ROUTE_CLUSTER] = "/v1/cluster",
	[HTTP_ROUTE_UNKNOWN] = "/v1/nothing",
};

/*
 * Every route on both listeners: each serves its own and answers the
 * other's 404, and no public answer carries a refused message's bytes, in
 * the clear or in base64.
 */
static void test_listeners(void)
{
	static const char secret[] = "{\"private\":\"supporter-secret-7731\"}"; /* not msgpack */
	ingest_raw(st, secret, sizeof secret - 1);
	CHECK_INT(admin_get("/v1/rejections?limit=1"), 200);
	json_t *j = body_json();
	char raw64[128];
	snprintf(raw64, sizeof raw64, "%s",
		 json_string_value(json_object_get(json_array_get(json_object_get(j, "rejections"), 0),
						   "raw")));
	json_decref(j);
	CHECK(strlen(raw64) > 40);
	/* The base64 of any 3-byte-aligned stretch shows up in a longer encoding. */
	char raw64_part[24];
	snprintf(raw64_part, sizeof raw64_part, "%.20s", raw64 + 8);

	for (int route = 0; route < HTTP_ROUTE_COUNT; route++) {
		const char *path = route_paths[route];
		CHECK(path != NULL);
		if (!path)
			continue;
		bool on_public = http_route_listeners[route] & HTTP_PUBLIC;
		bool on_admin = http_route_listeners[route] & HTTP_ADMIN;
		char req[512];
		int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
				 path);
		/* A stream never ends: its first event is enough. */
		int timeout = route == HTTP_ROUTE_STREAM ? 1500 : 5000;
		raw_request(port, req, (size_t)n, &R, timeout);
		if (on_public) {
			CHECK(R.status == 200 || (route == HTTP_ROUTE_READYZ && R.status == 503));
		} else {
			CHECK_INT(R.status, 404);
			CHECK_STR(error_text(), "no such path");
		}
		if (strstr(R.raw, "supporter-secret-7731") || strstr(R.raw, raw64_part) ||
		    strstr(R.raw, "\"rejections\"") || strstr(R.raw, "pledged_events_rejected_total")) {
			fprintf(stderr, "public %s shows what only operators may see\n", path);
			CHECK(false);
		}
		if (route == HTTP_ROUTE_STREAM)
			continue;
		request_to(admin_port, "GET", path, NULL);
		if (on_admin)
			CHECK(R.status == 200 || R.status == 503);
		else
			CHECK_INT(R.status, 404);
	}
	CHECK_INT(admin_get("/v1/rejections?limit=1"), 200);
	CHECK(strstr(R.body, raw64) != NULL);
}

/* The operators' listener with a token: nothing without it, in constant time. */
static void test_token(void)
{
	static const char token[] = "s3cret-token-0123456789abcdef";
	struct http_server *locked;
	struct http_server_options opt = {.listen = "127.0.0.1:0", .listener = HTTP_ADMIN,
					  .token = token, .threads = 1};
	CHECK_INT(http_server_start(&locked, st, &m, &opt), 0);
	if (!locked)
		return;
	int lport = http_server_port(locked);
	static const char *const refused[] = {
		NULL,
		"Authorization: Bearer\r\n",
		"Authorization: Bearer \r\n",
		"Authorization: Basic czNjcmV0LXRva2VuLTAxMjM0NTY3ODlhYmNkZWY=\r\n",
		"Authorization: Bearer s3cret-token-0123456789abcde\r\n",    /* one short */
		"Authorization: Bearer s3cret-token-0123456789abcdefX\r\n",  /* one more */
		"Authorization: Bearer S3cret-token-0123456789abcdef\r\n",   /* case */
		"Authorization: Bearer s3cret-token-0123456789abcdeg\r\n",   /* last byte */
	};
	static const char *const paths[] = {"/healthz", "/metrics", "/v1/rejections", "/nope"};
	for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++)
		for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
			CHECK_INT(request_to(lport, "GET", paths[p], refused[i]), 401);
			CHECK_STR(header("WWW-Authenticate"), "Bearer realm=\"pledged admin\"");
			CHECK(strstr(error_text(), "Authorization: Bearer") != NULL);
			CHECK_STR(header("Cache-Control"), "no-store");
		}
	CHECK_INT(request_to(lport, "HEAD", "/healthz", NULL), 401);
	CHECK_INT((long long)strlen(R.body), 0);
	const char *good = "Authorization: Bearer s3cret-token-0123456789abcdef\r\n";
	CHECK_INT(request_to(lport, "GET", "/healthz", good), 200);
	CHECK_INT(request_to(lport, "GET", "/metrics", good), 200);
	CHECK_INT(request_to(lport, "GET", "/v1/rejections", good), 200);
	CHECK_INT(request_to(lport, "GET", "/v1/campaigns", good), 404); /* public only */
	CHECK_INT(request_to(lport, "GET", "/healthz", "authorization: bearer s3cret-token-0123456789abcdef\r\n"),
		  200);
	/* Refusals are counted under the route the path names. */
	CHECK_INT(request_to(lport, "GET", "/metrics", good), 200);
	CHECK(strstr(R.body, "pledged_http_requests_total{route=\"metrics\",status=\"401\"}") != NULL);
	CHECK(strstr(R.body, "pledged_http_requests_total{route=\"rejections\",status=\"401\"}") != NULL);
	CHECK(strstr(R.body, "pledged_http_requests_total{route=\"unknown\",status=\"401\"}") != NULL);
	http_server_stop(locked);
}

/* Pages of large rejections and long comments end early: bounded in bytes. */
static void test_page_bytes(void)
{
	enum { BIG = 16000, RAWS = 40 };
	char *raw = malloc(BIG);
	for (int i = 0; i < RAWS; i++) {
		memset(raw, 'a' + i % 26, BIG);
		raw[0] = (char)0xc1; /* never valid msgpack */
		ingest_raw(st, raw, BIG);
	}
	free(raw);
	int pages = 0, seen = 0;
	char path[128] = "/v1/rejections?limit=100";
	while (pages < 100) {
		pages++;
		CHECK_INT(admin_get(path), 200);
		CHECK(strlen(R.body) < 1024 * 1024);
		json_t *j = body_json();
		seen += (int)json_array_size(json_object_get(j, "rejections"));
		const char *next = json_string_value(json_object_get(j, "next"));
		if (next)
			snprintf(path, sizeof path, "/v1/rejections?limit=100&before=%s", next);
		json_decref(j);
		if (!next)
			break;
	}
	CHECK(pages >= 3); /* 40 x 16 KB do not fit a page of 256 KiB */
	CHECK(seen >= RAWS);

	/* 100 comments of 4000 quotes, each escaped in JSON: 800 KB in one page before. */
	enum { LINES_SIZE = 50 * 8400 };
	char *lines = malloc(LINES_SIZE);
	char text[8001];
	for (int k = 0; k < 8000; k += 2)
		memcpy(text + k, "\\\"", 2);
	text[8000] = '\0';
	for (int batch = 0; batch < 2; batch++) {
		size_t len = 0;
		for (int i = 0; i < 50; i++)
			len += (size_t)snprintf(lines + len, LINES_SIZE - len,
						"{\"v\":1,\"type\":\"comment.posted\",\"id\":\"long-%d\","
						"\"at\":1579900000000,\"campaign\":\"" DEMO "\",\"comment\":\"long-%d\","
						"\"supporter\":\"sup-0010\",\"text\":\"%s\"}\n",
						batch * 50 + i, batch * 50 + i, text);
		ingest_lines(st, lines);
	}
	free(lines);
	CHECK_INT(get("/v1/campaigns/" DEMO "/comments?limit=100"), 200);
	json_t *j = body_json();
	/* Newer short comments of other tests, then 4000-byte ones up to 256 KiB. */
	json_t *list = json_object_get(j, "comments"), *c;
	size_t i, longs = 0;
	json_array_foreach(list, i, c) longs += strlen(json_string_value(json_object_get(c, "text"))) == 4000;
	CHECK(json_array_size(list) < 100);
	CHECK(longs >= 60 && longs <= 66);
	CHECK(json_is_string(json_object_get(j, "next")));
	json_decref(j);
	CHECK(strlen(R.body) < 1024 * 1024);
}

/* The campaigns of a list as of a time, following its cursors (after
 * at most max pages): how many, and how many pages. */
static size_t list_as_of(int to_port, size_t max, size_t *pages)
{
	char path[256], next[128] = "";
	size_t listed = 0;
	for (*pages = 0; *pages < max; ) {
		snprintf(path, sizeof path, "/v1/campaigns?as_of=2030-01-01&limit=100%s%s",
			 next[0] ? "&after=" : "", next);
		CHECK_INT(request_to(to_port, "GET", path, NULL), 200);
		json_t *j = body_json();
		listed += json_array_size(json_object_get(j, "campaigns"));
		(*pages)++;
		const char *n = json_string_value(json_object_get(j, "next"));
		snprintf(next, sizeof next, "%s", n ? n : "");
		json_decref(j);
		if (!next[0])
			break;
	}
	return listed;
}

/* A list as of a time reads a bounded number of history rows per page:
 * past it, the page ends early with a cursor, and the cursors reach every
 * campaign as one page does. */
static void test_list_rows_bound(void)
{
	size_t pages, whole = list_as_of(port, 10, &pages);
	CHECK(whole >= 3);
	CHECK_INT(pages, 1);
	struct http_server *bounded;
	struct http_server_options opt = {.listen = "127.0.0.1:0", .threads = 1, .list_rows_max = 1};
	CHECK_INT(http_server_start(&bounded, st, &m, &opt), 0);
	CHECK_INT(list_as_of(http_server_port(bounded), 1000, &pages), whole);
	CHECK(pages >= whole); /* a campaign's history a page at most */
	http_server_stop(bounded);
}

/* A second server with tiny limits: the connection cap and the idle timeout. */
static void test_limits(void)
{
	struct http_server *small;
	struct http_server_options opt = {.listen = "127.0.0.1:0", .listener = HTTP_ADMIN, .threads = 1,
					  .max_connections = 3, .timeout_seconds = 1};
	CHECK_INT(http_server_start(&small, st, &m, &opt), 0);
	int sport = http_server_port(small);
	int held[3];
	for (int i = 0; i < 3; i++)
		held[i] = connect_server(sport);
	usleep(100000);
	/* The fourth waits in the kernel's queue until a slot frees. */
	int fourth = connect_server(sport);
	static const char req[] = "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
	write_all(fourth, req, sizeof req - 1);
	char buf[4096];
	CHECK_INT(read_some(fourth, buf, sizeof buf, 300, NULL), 0);
	close(held[0]);
	read_some(fourth, buf, sizeof buf, 3000, "}");
	CHECK(strncmp(buf, "HTTP/1.1 200", 12) == 0);
	close(fourth);

	/* Idle connections are closed by the server after the timeout. */
	int64_t t0 = now_ms();
	CHECK_INT(read_some(held[1], buf, sizeof buf, 4000, NULL), 0);
	int64_t waited = now_ms() - t0;
	CHECK(waited >= 500 && waited < 3500);
	char c;
	CHECK_INT(read(held[1], &c, 1), 0); /* EOF: closed by the server */
	close(held[1]);
	close(held[2]);
	http_server_stop(small);

	struct http_server *bad;
	struct http_server_options nope = {.listen = "not-an-address"};
	CHECK_INT(http_server_start(&bad, st, &m, &nope), PL_EINVAL);
	struct http_server_options taken = {.listen = "127.0.0.1:0"};
	char addr[64];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
	taken.listen = addr;
	CHECK_INT(http_server_start(&bad, st, &m, &taken), PL_EIO);
}

/* What paging through /v1/campaigns?QUERY, cursor after cursor, saw. */
struct list_walk {
	int seen, added, pages; /* campaigns, those named list-*, answers */
	bool ordered;           /* each after the one before, in the order asked */
	bool bounded;           /* no page longer than asked */
	bool right_status;      /* every campaign of the status asked, if any */
	const char *field;      /* the order: by this field (NULL: by id) ... */
	bool descending;        /* ... largest first; null sorts last */
};

/* A campaign's value of w's field, null as the largest (closing: none given last). */
static long long sort_value(const struct list_walk *w, json_t *c)
{
	json_t *v = json_object_get(c, w->field);
	return json_is_integer(v) ? json_integer_value(v) : LLONG_MAX;
}

static void walk_campaigns(const char *query, unsigned page_max, const char *status,
			   struct list_walk *w)
{
	const char *field = w->field;
	bool descending = w->descending;
	*w = (struct list_walk){.ordered = true, .bounded = true, .right_status = true,
				.field = field, .descending = descending};
	char after[200] = "", prev[128] = "", path[320];
	long long prev_value = 0;
	while (w->pages < 1000) {
		w->pages++;
		snprintf(path, sizeof path, "/v1/campaigns%s%s%s%s%s", query[0] || after[0] ? "?" : "",
			 query, query[0] && after[0] ? "&" : "", after[0] ? "after=" : "", after);
		CHECK_INT(get(path), 200);
		json_t *j = body_json();
		json_t *list = json_object_get(j, "campaigns"), *c;
		size_t i;
		w->bounded &= json_array_size(list) <= page_max;
		json_array_foreach(list, i, c) {
			const char *id = json_string_value(json_object_get(c, "id"));
			long long value = w->field ? sort_value(w, c) : 0;
			bool tie = !w->field || !w->seen || value == prev_value;
			w->ordered &= id && (tie ? strcmp(prev, id) < 0
						 : descending ? value < prev_value : value > prev_value);
			prev_value = value;
			snprintf(prev, sizeof prev, "%s", id ? id : "");
			w->seen++;
			w->added += id && strncmp(id, "list-", 5) == 0;
			if (status)
				w->right_status &= strcmp(json_string_value(json_object_get(c, "status")),
							  status) == 0;
		}
		json_t *next = json_object_get(j, "next");
		bool last = json_is_null(next);
		if (!last)
			snprintf(after, sizeof after, "%s", json_string_value(next));
		json_decref(j);
		if (last)
			break;
	}
}

/* The campaign list in pages: every campaign exactly once, in id order,
 * whatever the page size, through the API's cursors and the page's links. */
static void test_campaign_list(void)
{
	enum { ADDED = 250 };
	char path_buf[400];
	char lines[64 * 256];
	for (int batch = 0; batch < ADDED / 50; batch++) {
		size_t len = 0;
		for (int i = 0; i < 50; i++) {
			int n = batch * 50 + i;
			/* Opened a second apart; two in three say when they close,
			 * one in five has a pledge: orders to sort by. */
			char closes[40] = "";
			if (n % 3)
				snprintf(closes, sizeof closes, ",\"closes_at\":%lld",
					 1800000000000LL - n % 7 * 1000);
			len += (size_t)snprintf(lines + len, sizeof lines - len,
						"{\"v\":1,\"type\":\"campaign.opened\",\"id\":\"list-%d\","
						"\"at\":%lld,\"campaign\":\"list-%03d\",\"title\":\"L\","
						"\"owner\":\"o\",\"currency\":\"EUR\"%s}\n",
						n, 1700000000000LL + n % 11 * 1000, n, closes);
			if (n % 5 == 0)
				len += (size_t)snprintf(
					lines + len, sizeof lines - len,
					"{\"v\":1,\"type\":\"pledge.created\",\"id\":\"list-p%d\","
					"\"at\":1700000100000,\"campaign\":\"list-%03d\",\"pledge\":\"lp-%d\","
					"\"supporter\":\"ls-%d\",\"amount\":%d,\"currency\":\"EUR\"}\n",
					n, n, n, n, (n % 13 + 1) * 10);
		}
		ingest_lines(st, lines);
	}
	static const char *const limits[] = {"limit=100", "limit=1", "limit=7", "" /* 100 */};
	static const unsigned page_max[] = {100, 1, 7, 100};
	int total = -1;
	for (size_t li = 0; li < sizeof limits / sizeof limits[0]; li++) {
		struct list_walk w = {0};
		walk_campaigns(limits[li], page_max[li], NULL, &w);
		CHECK(w.ordered);
		CHECK(w.bounded);
		CHECK_INT(w.added, ADDED);
		if (total < 0)
			total = w.seen;
		CHECK_INT(w.seen, total);
		if (page_max[li] == 1)
			CHECK_INT(w.pages, total);
	}
	CHECK(total > ADDED);

	/* Empty pairs, as forms and URLSearchParams leave them, are no parameters. */
	CHECK_INT(get("/v1/campaigns?&limit=1&&status=open&"), 200);
	json_t *j = body_json();
	CHECK_INT((long long)json_array_size(json_object_get(j, "campaigns")), 1);
	json_decref(j);
	CHECK_INT(get("/v1/campaigns/" DEMO "/comments?limit=1&&"), 200);
	CHECK_INT(get("/v1/campaigns/?&id=" DEMO), 200);
	CHECK_INT(get("/v1/campaigns?&&limit=0"), 400); /* the others are still checked */

	CHECK_INT(get("/v1/campaigns?after=zz"), 400);
	CHECK_STR(error_text(), "after must be a cursor from a 'next' field of the same sort");
	CHECK_INT(get("/v1/campaigns?after="), 400);
	CHECK_INT(get("/v1/campaigns?limit=0"), 400);
	CHECK_INT(get("/v1/campaigns?before=1.1"), 400);
	CHECK_STR(error_text(), "unknown parameter; this path takes limit, after, status, as_of and sort");
	CHECK_INT(get("/v1/campaigns?status=paused"), 400);
	CHECK_STR(error_text(), "status must be open or closed");

	/* Filtered by status, page by page: the open ones, then the closed. */
	int by_status = 0;
	for (int closed = 0; closed < 2; closed++) {
		struct list_walk w = {0};
		walk_campaigns(closed ? "status=closed&limit=7" : "status=open&limit=7", 7,
			       closed ? "closed" : "open", &w);
		CHECK(w.right_status);
		by_status += w.seen;
	}
	CHECK_INT(by_status, total);

	/* Sorted, page by page: every campaign once, in the order asked. */
	static const struct {
		const char *query, *field;
		bool descending;
	} sorts[] = {{"sort=raised&limit=7", "raised", true},
		     {"sort=newest&limit=9", "opened_at", true},
		     {"sort=closing&limit=8", "closes_at", false},
		     {"sort=newest&limit=5&as_of=1700000005000", "opened_at", true}};
	for (size_t i = 0; i < sizeof sorts / sizeof sorts[0]; i++) {
		struct list_walk w = {.field = sorts[i].field, .descending = sorts[i].descending};
		walk_campaigns(sorts[i].query, 9, strstr(sorts[i].query, "closing") ? "open" : NULL,
			       &w);
		CHECK(w.ordered);
		CHECK(w.right_status);
		if (i < 2)
			CHECK_INT(w.seen, total);
		else if (i == 2) /* the open ones: all the added, and any other open one */
			CHECK(w.added == ADDED && w.seen < total);
		else /* opened by then: n % 11 <= 5 */
			CHECK(w.added > 100 && w.added < ADDED);
		if (!w.ordered)
			fprintf(stderr, "%s: out of order\n", sorts[i].query);
	}
	CHECK_INT(get("/v1/campaigns?sort=size"), 400);
	CHECK_STR(error_text(), "sort must be raised, newest or closing");
	CHECK_INT(get("/v1/campaigns?sort=closing&status=closed"), 400);
	CHECK_INT(get("/v1/campaigns?sort=raised&as_of=1700000005000"), 400);
	CHECK_INT(get("/v1/campaigns?sort=raised&limit=1"), 200);
	json_t *first = body_json();
	const char *cursor = json_string_value(json_object_get(first, "next"));
	snprintf(path_buf, sizeof path_buf, "/v1/campaigns?sort=newest&after=%s", cursor ? cursor : "");
	json_decref(first);
	CHECK_INT(get(path_buf), 400); /* a cursor of another order */
	CHECK_STR(error_text(), "after must be a cursor from a 'next' field of the same sort");
	CHECK_INT(get("/v1/campaigns?status=closed"), 200);
	CHECK(strstr(R.body, "\"id\":\"" DEMO "\"") != NULL);
	/* A cursor of an id that is not there: the list goes on after it. */
	char hex[HTTP_ID_CURSOR_MAX];
	http_key_cursor_format(0, "list-099x", 9, hex);
	char path[200];
	snprintf(path, sizeof path, "/v1/campaigns?limit=1&after=%s", hex);
	CHECK_INT(get(path), 200);
	CHECK(strstr(R.body, "\"id\":\"list-100\"") != NULL);

	/* The page: 50 cards a page, then a link to the next. */
	char url[300] = "/";
	int items = 0, pages = 0;
	static const char card[] = "<li class=\"card\"", link[] = "class=\"more\" href=\"";
	for (; pages < 100; pages++) {
		CHECK_INT(get(url), 200);
		for (const char *p = strstr(R.body, card); p; p = strstr(p + 1, card))
			items++;
		const char *more = strstr(R.body, "id=\"more-campaigns\" ");
		if (!more)
			break;
		more = strstr(more, link) + strlen(link);
		const char *end = strchr(more, '"');
		snprintf(url, sizeof url, "%.*s", (int)(end - more), more);
	}
	CHECK_INT(items, total);
	CHECK_INT(pages, (total + 49) / 50 - 1);
	CHECK_INT(get("/?after=nothex"), 400);
	/* The page's orders: the current one marked, its cursors its own. */
	CHECK_INT(get("/?sort=raised"), 200);
	CHECK(strstr(R.body, "<a href=\"/?sort=raised\" aria-current=\"page\">Most raised</a>") != NULL);
	CHECK(strstr(R.body, "href=\"/?sort=raised&amp;after=r") != NULL);
	CHECK_INT(get("/?sort=sideways"), 400);
	snprintf(path, sizeof path, "/?sort=raised&after=%s", hex); /* a cursor by id */
	CHECK_INT(get(path), 400);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: test_api DEMO_JSONL\n");
		return 2;
	}
	char dir[256];
	st = fixture_store(dir, sizeof dir, 0);
	struct ingest_stats loaded;
	fixture_ingest_file(st, argv[1], 60, &loaded);
	ingest_lines(st,
		     "{\"v\":1,\"type\":\"comment.posted\",\"id\":\"hostile-1\",\"at\":1578000000000,"
		     "\"campaign\":\"" DEMO "\",\"comment\":\"hostile\",\"supporter\":\"sup-0010\","
		     "\"name\":\"<b>Mallory</b>\",\"text\":\"<script>document.title='pwned'</script>\"}\n"
		     "{\"v\":1,\"type\":\"campaign.opened\",\"id\":\"slash-1\",\"at\":1700000000000,"
		     "\"campaign\":\"slash/and space\",\"title\":\"Yen\",\"owner\":\"o\",\"currency\":\"JPY\","
		     "\"target\":100000}\n"
		     "{\"v\":1,\"type\":\"pledge.created\",\"id\":\"slash-2\",\"at\":1700000000001,"
		     "\"campaign\":\"slash/and space\",\"pledge\":\"y1\",\"supporter\":\"s\",\"amount\":1234,"
		     "\"currency\":\"JPY\"}\n");
	seq = ingest_lines(st, "{\"v\":1,\"type\":\"campaign.opened\",\"id\":\"sse-open\",\"at\":1700000000000,"
			       "\"campaign\":\"sse-camp\",\"title\":\"Live\",\"owner\":\"o\",\"currency\":\"EUR\"}\n");

	metrics_init(&m);
	metrics_set_state(&m, CONSUMER_CONSUMING, "");
	struct http_server_options opt = {.listen = "127.0.0.1:0", .threads = 2, .max_sse_clients = 4,
					  .sse_heartbeat_ms = 300, .ready_max_lag = 100};
	CHECK_INT(http_server_start(&hs, st, &m, &opt), 0);
	struct http_server_options admin_opt = {.listen = "127.0.0.1:0", .listener = HTTP_ADMIN,
						.threads = 1, .ready_max_lag = 100};
	CHECK_INT(http_server_start(&admin, st, &m, &admin_opt), 0);
	if (!hs || !admin)
		return check_done();
	port = http_server_port(hs);
	admin_port = http_server_port(admin);
	CHECK(port > 0 && admin_port > 0 && port != admin_port);

	test_campaigns();
	test_conditional();
	test_ownership();
	test_ownership_one_view();
	test_ownership_describe_bound();
	test_ownership_describe_behind();
	test_ownership_held();
	test_stream_ownership();
	test_stream_at_stop();
	test_cluster_heard();
	test_ownership_after_freeze();
	test_loss_after_freeze();
	test_stream_staleness();
	test_cache_control();
	test_comments();
	test_rejections();
	test_healthz();
	test_readyz();
	test_pagination_stable();
	test_page();
	test_list_rows_bound();
	test_stream();
	test_stream_comments();
	test_stream_backlog();
	test_hostile();
	test_host();
	test_date();
	test_cors();
	test_limits();
	test_metrics();
	test_campaign_list();
	test_listeners();
	test_token();
	test_page_bytes();

	http_server_stop(admin);
	http_server_stop(hs);
	metrics_deinit(&m);
	fixture_close(st);
	fixture_remove(dir);
	return check_done();
}
