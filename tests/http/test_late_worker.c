/*
 * test_late_worker.c — a server that falls behind its clients still
 * answers the requests that reached it in time, and still cuts the clients
 * that are slow themselves.
 *
 * The request deadline is for clients that send slowly. A worker back from
 * a turn of its loop longer than the timeout (rendering large pages on a
 * starved CPU) finds every connection's deadline due at once, while epoll
 * hands it only a few dozen of the readable sockets per turn: a deadline
 * that does not look at the socket cuts the others unanswered, with a
 * reset, since their requests were never read.
 *
 * The server runs in a child process (1 worker, a 1 s timeout) over the
 * demo campaign (argv[1]). The test opens PROMPT + 2 connections and lets
 * the server accept them, stops it (SIGSTOP), sends a whole request on
 * PROMPT of them and a request line without its end on one, waits past
 * the deadline and lets the server go on (SIGCONT). Each prompt client
 * must get its 200 with the demo's figures; the one that sent half a
 * request, and the one that sent nothing, must be closed without an
 * answer within a few timeouts.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "fixture.h"
#include "http_client.h"

#include "http_server.h"
#include "metrics.h"

#define DEMO "jess-phillips-for-labour-leader"
#define DEMO_FIGURES "\"raised\":5804100"
/* Well over what epoll hands libevent in one turn (32 at first). */
#define PROMPT 200
#define TIMEOUT_SECONDS 1

/* The server alone over a data dir of the demo campaign: writes its port
 * to fd out and serves until killed. */
static void serve_child(const char *demo, int out)
{
	char dir[4096];
	struct store *st = fixture_store(dir, sizeof dir, 0);
	struct ingest_stats loaded;
	fixture_ingest_file(st, demo, 100, &loaded);
	struct metrics m;
	metrics_init(&m);
	metrics_set_state(&m, CONSUMER_READ_ONLY, "test");
	struct http_server *hs;
	struct http_server_options opt = {.listen = "127.0.0.1:0", .threads = 1,
					  .timeout_seconds = TIMEOUT_SECONDS};
	int port = http_server_start(&hs, st, &m, &opt) ? -1 : http_server_port(hs);
	if (write(out, &port, sizeof port) != sizeof port || port < 0)
		_exit(1);
	/* Killed by the test; the data dir goes with the test's cleanup. */
	for (;;)
		pause();
}

static int connect_to(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Reads fd until the server closes it or deadline_ms: the status line's
 * code, 0 when closed without an answer (also by a reset), -1 when still
 * open at the deadline. *figures says whether the demo's figures came.
 */
static int read_answer(int fd, int64_t deadline_ms, bool *figures)
{
	char buf[16384];
	size_t len = 0;
	bool closed = false;
	while (!closed && len + 1 < sizeof buf) {
		int left = (int)(deadline_ms - http_client_now_ms());
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (left <= 0 || poll(&p, 1, left) <= 0)
			break;
		ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
		if (n <= 0)
			closed = true;
		else
			len += (size_t)n;
	}
	buf[len] = '\0';
	*figures = strstr(buf, DEMO_FIGURES) != NULL;
	int status = 0;
	if (sscanf(buf, "HTTP/1.1 %d", &status) == 1)
		return status;
	return closed ? 0 : -1;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: test_late_worker DEMO_JSONL\n");
		return 2;
	}
	char tmp[4096];
	fixture_tmpdir(tmp, sizeof tmp);
	setenv("TMPDIR", tmp, 1); /* the child's data dir, removed below */

	int pipefd[2];
	if (pipe(pipefd) != 0)
		return 1;
	pid_t server = fork();
	if (server == 0) {
		/* Gone with the test, also when a timeout kills it mid-stop. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(pipefd[0]);
		serve_child(argv[1], pipefd[1]);
	}
	close(pipefd[1]);
	int port = -1;
	if (server < 0 || read(pipefd[0], &port, sizeof port) != sizeof port || port < 0) {
		fprintf(stderr, "the server did not start\n");
		return 1;
	}

	int prompt[PROMPT], half, silent;
	for (int i = 0; i < PROMPT; i++)
		prompt[i] = connect_to(port);
	half = connect_to(port);
	silent = connect_to(port);
	/* Accepted, with their deadlines running, before the worker stops. */
	char page[4096];
	CHECK_INT(http_client_get(port, "/v1/campaigns/" DEMO, page, sizeof page, 5000), 200);
	usleep(200000);

	kill(server, SIGSTOP);
	int64_t stopped = http_client_now_ms();
	const char req[] = "GET /v1/campaigns/" DEMO " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
	int sent = 0;
	for (int i = 0; i < PROMPT; i++)
		sent += prompt[i] >= 0 && write(prompt[i], req, sizeof req - 1) == sizeof req - 1;
	CHECK_INT(sent, PROMPT);
	CHECK(half >= 0 && write(half, "GET /v1/campaigns/", 18) == 18);
	CHECK(silent >= 0);
	/* Past every deadline, with the requests waiting unread. */
	usleep((TIMEOUT_SECONDS * 1000 + 800) * 1000);
	kill(server, SIGCONT);
	printf("server stopped for %lld ms\n", (long long)(http_client_now_ms() - stopped));

	int answered = 0, cut = 0, other = 0;
	int64_t deadline = http_client_now_ms() + 20000;
	for (int i = 0; i < PROMPT; i++) {
		bool figures;
		int status = read_answer(prompt[i], deadline, &figures);
		answered += status == 200 && figures;
		cut += status == 0;
		other += status != 0 && !(status == 200 && figures);
		close(prompt[i]);
	}
	printf("prompt clients: %d answered 200 with the figures, %d cut unanswered, %d other\n",
	       answered, cut, other);
	CHECK_INT(answered, PROMPT);

	/* Slow clients are cut all the same: the half request's bytes are read
	 * in the turn after the stop, and its next deadline closes it. */
	bool figures;
	int64_t since = http_client_now_ms();
	int half_status = read_answer(half, since + 5000 * TIMEOUT_SECONDS, &figures);
	int silent_status = read_answer(silent, since + 5000 * TIMEOUT_SECONDS, &figures);
	printf("half a request: %d, nothing sent: %d (0 is closed unanswered), after %lld ms\n",
	       half_status, silent_status, (long long)(http_client_now_ms() - since));
	CHECK_INT(half_status, 0);
	CHECK_INT(silent_status, 0);
	close(half);
	close(silent);

	/* Still serving. */
	CHECK_INT(http_client_get(port, "/v1/campaigns/" DEMO, page, sizeof page, 5000), 200);

	kill(server, SIGKILL);
	waitpid(server, NULL, 0);
	char cmd[4200];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
	CHECK_INT(system(cmd), 0);
	return check_done();
}
