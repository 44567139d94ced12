/*
 * bench_wait.c — waits for serve in a benchmark without taking the CPU it
 * is timed on: one process that polls serve's metrics, instead of a shell
 * loop spawning curl, awk, date and sleep every 20 ms, which took a large
 * share of a 2-core machine from serve (docs/performance.md, "The bench's
 * own cost").
 *
 *   bench_wait --port P --handled N
 *       once serve has dealt with N messages (applied, rejected or skipped
 *       as duplicates), prints "FIRST SEEN LAST": the time of the first
 *       poll that saw any, how many it saw, the time of the poll that saw
 *       N (seconds since the epoch).
 *   bench_wait --port P --log N
 *       once serve's log reaches position N, prints "RATE STILL": entries
 *       a second since the first poll, and the longest time in seconds the
 *       log stood still between polls.
 *
 * Polls GET /metrics on 127.0.0.1:P every --every-ms (20); a poll that
 * finds no answer counts as 0. Gives up after --timeout seconds (300),
 * saying where serve stood: exit 1. Bad arguments: exit 2.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* The metrics' lines a count is summed from: each a line's start. */
static const char *const handled_lines[] = {"pledged_events_applied_total{",
					    "pledged_events_rejected_total{",
					    "pledged_events_duplicate_total ", NULL};
static const char *const log_lines[] = {"pledged_log_sequence ", NULL};

static double clock_s(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The answer to GET /metrics on 127.0.0.1:port into buf (NUL-terminated); false without one. */
static bool fetch_metrics(int port, char *buf, size_t size)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return false;
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	static const char request[] = "GET /metrics HTTP/1.0\r\n\r\n";
	size_t len = 0;
	bool ok = connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0 &&
		  write(fd, request, sizeof request - 1) == (ssize_t)(sizeof request - 1);
	while (ok && len + 1 < size) {
		ssize_t n = read(fd, buf + len, size - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ok = n == 0;
			break;
		}
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	return ok && len + 1 < size; /* an answer cut short would be summed short */
}

/* The sum of the values (each line's last word) on the lines of text starting with one of starts. */
static uint64_t sum_lines(const char *text, const char *const *starts)
{
	uint64_t sum = 0;
	for (const char *line = text; *line;) {
		const char *end = strchr(line, '\n');
		if (!end)
			end = line + strlen(line);
		for (const char *const *s = starts; *s; s++) {
			if (strncmp(line, *s, strlen(*s)) != 0)
				continue;
			const char *value = end;
			while (value > line && value[-1] != ' ')
				value--;
			sum += strtoull(value, NULL, 10);
		}
		line = *end ? end + 1 : end;
	}
	return sum;
}

static void nap_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"port", required_argument, NULL, 'p'},
					     {"handled", required_argument, NULL, 'h'},
					     {"log", required_argument, NULL, 'l'},
					     {"every-ms", required_argument, NULL, 'e'},
					     {"timeout", required_argument, NULL, 't'},
					     {0}};
	int port = 0, every_ms = 20, timeout_s = 300, c;
	const char *const *lines = NULL;
	uint64_t want = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'p')
			port = atoi(optarg);
		else if (c == 'h' || c == 'l') {
			lines = c == 'h' ? handled_lines : log_lines;
			want = strtoull(optarg, NULL, 10);
		} else if (c == 'e')
			every_ms = atoi(optarg);
		else if (c == 't')
			timeout_s = atoi(optarg);
		else
			return 2;
	}
	if (port <= 0 || port > 65535 || !lines || every_ms < 1 || timeout_s < 1 || optind != argc) {
		fprintf(stderr, "usage: bench_wait --port P (--handled N | --log N) [--every-ms MS] "
				"[--timeout S]\n");
		return 2;
	}

	static char buf[1 << 20];
	double start = clock_s(CLOCK_MONOTONIC), first_at = 0, last_change = start, still = 0;
	uint64_t began = UINT64_MAX, seen = 0, last = UINT64_MAX;
	for (;;) {
		uint64_t n = fetch_metrics(port, buf, sizeof buf) ? sum_lines(buf, lines) : 0;
		double now = clock_s(CLOCK_MONOTONIC), wall = clock_s(CLOCK_REALTIME);
		if (began == UINT64_MAX)
			began = n;
		if (!seen && n > 0) {
			first_at = wall;
			seen = n;
		}
		if (n != last) {
			if (now - last_change > still)
				still = now - last_change;
			last_change = now;
			last = n;
		}
		if (n >= want) {
			if (lines == handled_lines)
				printf("%.6f %llu %.6f\n", first_at, (unsigned long long)seen, wall);
			else
				printf("%.1f %.3f\n", now > start ? (double)(n - began) / (now - start) : 0.0,
				       still);
			return 0;
		}
		if (now - start > timeout_s) {
			fprintf(stderr, "bench_wait: serve at %llu of %llu after %d s\n",
				(unsigned long long)n, (unsigned long long)want, timeout_s);
			return 1;
		}
		nap_ms(every_ms);
	}
}
