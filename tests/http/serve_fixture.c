/*
 * serve_fixture.c — the HTTP server alone on a data dir, for tests that
 * drive it from outside (headless Chromium, wrk), independent of `serve`.
 *
 * Usage: serve_fixture DATA_DIR [THREADS]
 * Serves DATA_DIR read-only on 127.0.0.1, a free port, prints "port N" on
 * stdout once it accepts connections, and stops cleanly on SIGTERM/SIGINT.
 * SIGUSR1 makes it an instance alone in its consumer group that lost its
 * assignment (its answers marked stale, as serve's are when Kafka is out of
 * reach: ownership.h), SIGUSR2 one the group assigned again.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "http_server.h"
#include "ownership.h"
#include "log.h"
#include "metrics.h"
#include "pl_error.h"
#include "store.h"

/* A topic of one partition, which holds every campaign. */
static int32_t one_partition(const void *key, size_t len, int32_t count)
{
	(void)key, (void)len, (void)count;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: serve_fixture DATA_DIR [THREADS]\n");
		return 2;
	}
	/* Blocked before any thread starts, so sigwait() below receives them. */
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGUSR1);
	sigaddset(&stop, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);

	struct store *st;
	struct store_options so = {0};
	int rc = store_open(&st, argv[1], &so);
	if (rc) {
		fprintf(stderr, "serve_fixture: cannot open %s: %s\n", argv[1], pl_strerror(rc));
		return 1;
	}
	struct metrics m;
	metrics_init(&m);
	metrics_set_state(&m, CONSUMER_READ_ONLY, "test fixture");
	struct http_server_options opt = {.listen = "127.0.0.1:0",
					  .threads = argc == 3 ? atoi(argv[2]) : 0};
	struct http_server *hs;
	rc = http_server_start(&hs, st, &m, &opt);
	if (rc) {
		fprintf(stderr, "serve_fixture: cannot start: %s\n", pl_strerror(rc));
		store_close(st);
		return 1;
	}
	printf("port %d\n", http_server_port(hs));
	fflush(stdout);
	int sig;
	int32_t held = 0, generation = 0;
	while (sigwait(&stop, &sig) == 0 && (sig == SIGUSR1 || sig == SIGUSR2)) {
		/* Ownership enforced from the first signal on: held, then lost. */
		if (!generation++) {
			ownership_enforce(&m.owner, one_partition);
			ownership_set(&m.owner, 1, &held, 1, generation);
		}
		if (sig == SIGUSR2)
			ownership_set(&m.owner, 1, &held, 1, generation);
		else if (!ownership_lose(&m.owner, false))
			fprintf(stderr, "serve_fixture: the lost assignment was not kept\n");
	}
	http_server_stop(hs);
	metrics_deinit(&m);
	store_close(st);
	return 0;
}
