/*
 * test_swap.c — `pledged replay` rebuilds and swaps the projections while
 * HTTP reads go on, and no reader ever sees a half-built projection.
 *
 * Usage: test_swap PLEDGED SERVE_FIXTURE DEMO_JSONL
 *
 * Imports the demo campaign into a fresh data dir with `pledged import`,
 * serves it from a separate process (serve_fixture, the HTTP server alone,
 * read-only), and keeps two client threads asking for the campaign and its
 * comment page on fresh connections while `pledged replay` runs several
 * times in a third process. Every answer must be a 200 with the demo's exact
 * figures (raised 5804100, supporters 1975, comments 10, "Tom W" newest),
 * answers must keep coming during every replay, and `pledged verify` must
 * exit 0 at the end. Takes a few seconds.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "check.h"
#include "fixture.h"
#include "http_client.h"

#define DEMO "jess-phillips-for-labour-leader"
#define REPLAYS 20
#define CLIENTS 2

extern char **environ;

static int port;
static _Atomic bool stop;
static _Atomic long answers, wrong;

/* Runs argv with stdin from in_path (or inherited) and stdout to out_fd (or inherited). */
static pid_t spawn(char *const argv[], const char *in_path, int out_fd)
{
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	if (in_path)
		posix_spawn_file_actions_addopen(&fa, 0, in_path, O_RDONLY, 0);
	if (out_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
	pid_t pid;
	int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc) {
		fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(rc));
		exit(2);
	}
	return pid;
}

/* Waits for pid for at most timeout_ms (killing it then); its exit status or -1. */
static int wait_exit(pid_t pid, int timeout_ms)
{
	int64_t deadline = http_client_now_ms() + timeout_ms;
	int status;
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (http_client_now_ms() > deadline) {
			fprintf(stderr, "pid %d still running after %d ms: killed\n", (int)pid, timeout_ms);
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		usleep(10000);
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int run(char *const argv[], const char *in_path)
{
	return wait_exit(spawn(argv, in_path, -1), 60000);
}

/* GET path on a fresh connection; the body of a 200 in buf, or false. */
static bool get(const char *path, char *buf, size_t size)
{
	return http_client_get(port, path, buf, size, 5000) == 200;
}

static json_int_t int_field(json_t *o, const char *name)
{
	json_t *v = json_object_get(o, name);
	return json_is_integer(v) ? json_integer_value(v) : -1;
}

static bool campaign_ok(char *buf, size_t size)
{
	if (!get("/v1/campaigns/" DEMO, buf, size))
		return false;
	json_t *j = json_loads(buf, 0, NULL);
	bool ok = j && int_field(j, "raised") == 5804100 && int_field(j, "supporters") == 1975 &&
		  int_field(j, "comments") == 10 && int_field(j, "days") == 19;
	json_decref(j);
	return ok;
}

static bool comments_ok(char *buf, size_t size)
{
	if (!get("/v1/campaigns/" DEMO "/comments", buf, size))
		return false;
	json_t *j = json_loads(buf, 0, NULL);
	json_t *list = json_object_get(j, "comments");
	const char *newest = json_string_value(json_object_get(json_array_get(list, 0), "name"));
	bool ok = json_array_size(list) == 10 && newest && strcmp(newest, "Tom W") == 0 &&
		  json_is_null(json_object_get(j, "next"));
	json_decref(j);
	return ok;
}

static void *client_main(void *arg)
{
	(void)arg;
	static _Thread_local char buf[65536];
	while (!atomic_load(&stop)) {
		bool ok = campaign_ok(buf, sizeof buf) && comments_ok(buf, sizeof buf);
		atomic_fetch_add(&answers, 2);
		if (!ok && atomic_fetch_add(&wrong, 1) < 5)
			fprintf(stderr, "wrong answer: %.300s\n", buf);
	}
	return NULL;
}

/* Starts serve_fixture on dir and reads the port it prints. */
static pid_t start_server(const char *fixture, const char *dir)
{
	int out[2];
	if (pipe(out)) {
		perror("pipe");
		exit(2);
	}
	char *argv[] = {(char *)fixture, (char *)dir, "2", NULL};
	pid_t pid = spawn(argv, NULL, out[1]);
	close(out[1]);
	char line[64] = "";
	size_t len = 0;
	int64_t deadline = http_client_now_ms() + 10000;
	while (!strchr(line, '\n') && len + 1 < sizeof line && http_client_now_ms() < deadline) {
		struct pollfd p = {.fd = out[0], .events = POLLIN};
		if (poll(&p, 1, 100) <= 0)
			continue;
		ssize_t n = read(out[0], line + len, sizeof line - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		line[len] = '\0';
	}
	close(out[0]);
	if (sscanf(line, "port %d", &port) != 1) {
		fprintf(stderr, "serve_fixture did not report a port: '%s'\n", line);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		exit(2);
	}
	return pid;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: test_swap PLEDGED SERVE_FIXTURE DEMO_JSONL\n");
		return 2;
	}
	char *pledged = argv[1];
	char dir[4096];
	fixture_tmpdir(dir, sizeof dir);
	char *import[] = {pledged, "import", "--data", dir, NULL};
	CHECK_INT(run(import, argv[3]), 0);

	pid_t server = start_server(argv[2], dir);
	static char buf[65536];
	CHECK(campaign_ok(buf, sizeof buf));
	CHECK(comments_ok(buf, sizeof buf));

	pthread_t clients[CLIENTS];
	for (int i = 0; i < CLIENTS; i++)
		pthread_create(&clients[i], NULL, client_main, NULL);
	char *replay[] = {pledged, "replay", "--data", dir, NULL};
	for (int i = 0; i < REPLAYS; i++) {
		long before = atomic_load(&answers);
		int64_t t0 = http_client_now_ms();
		CHECK_INT(run(replay, NULL), 0);
		long during = atomic_load(&answers) - before;
		printf("replay %d: %lld ms, %ld answers meanwhile\n", i + 1,
		       (long long)(http_client_now_ms() - t0), during);
		CHECK(during > 0);
	}
	atomic_store(&stop, true);
	for (int i = 0; i < CLIENTS; i++)
		pthread_join(clients[i], NULL);
	printf("%ld answers, %ld wrong\n", atomic_load(&answers), atomic_load(&wrong));
	CHECK_INT(atomic_load(&wrong), 0);

	CHECK(campaign_ok(buf, sizeof buf));
	kill(server, SIGTERM);
	CHECK_INT(wait_exit(server, 10000), 0);
	char *verify[] = {pledged, "verify", "--data", dir, NULL};
	CHECK_INT(run(verify, NULL), 0);
	fixture_remove(dir);
	return check_done();
}
