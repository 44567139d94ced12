/*
 * replay_bench.c — how fast `replay` rebuilds projections, against a raw
 * LMDB cursor scan of the same log measured in the same run.
 *
 * Builds a log of --events realistic events (bench_events.c) in a fresh data
 * dir, then alternates the baseline (scan every log entry, touching its
 * bytes) and pledged (an online rebuild of the other slot, swapped in, as
 * `pledged replay` does) --runs times and prints the medians as one table
 * row:
 *   measure | pledged | baseline | ratio | target
 * and, on stderr, the CPU a rebuild used per entry (both its threads), which
 * moves less than the rate with what else the machine runs. --in-log-order
 * keeps the rebuild from filling its slot from the whole log at once
 * (bulk_fill.h), to compare.
 */
#include <getopt.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "bench_log.h"
#include "../fixture.h"
#include "rebuild.h"

/* CPU seconds this process has used, both threads of a rebuild together. */
static double cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}


static int touch_entry(const MDB_val *k, const MDB_val *v, void *arg)
{
	uint64_t *sum = arg;
	const unsigned char *p = v->mv_data;
	*sum += k->mv_size + v->mv_size + p[v->mv_size - 1];
	return 0;
}

static double scan_once(struct store *st)
{
	struct store_txn t;
	uint64_t sum = 0;
	double start = now_s();
	store_read_begin(st, &t);
	store_each(&t, STORE_DB_LOG, NULL, false, touch_entry, &sum);
	store_abort(&t);
	double took = now_s() - start;
	if (sum == 0)
		fprintf(stderr, "replay_bench: empty scan\n");
	return took;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"events", required_argument, NULL, 'e'},
					     {"runs", required_argument, NULL, 'r'},
					     {"in-log-order", no_argument, NULL, 'o'},
					     {0}};
	bool in_log_order = false;
	uint64_t events = 1000000;
	int runs = 5, c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'e')
			events = strtoull(optarg, NULL, 10);
		else if (c == 'r')
			runs = atoi(optarg);
		else if (c == 'o')
			in_log_order = true;
		else
			return 2;
	}
	if (runs < 1 || runs > 99 || events < 1000)
		return 2;

	char dir[256];
	struct store *st = fixture_store(dir, sizeof dir, 0);
	double start = now_s();
	uint64_t entries = bench_fill_log(st, events, "replay_bench");
	double fill = now_s() - start;
	fprintf(stderr, "log of %llu entries from %llu messages built in %.2f s (direct ingest, %.0f msg/s)\n",
		(unsigned long long)entries, (unsigned long long)events, fill, (double)events / fill);

	double scan[99], replay[99], cpu[99];
	for (int i = 0; i < runs; i++) {
		struct rebuild_options opt = {.swap = true, .in_log_order = in_log_order};
		struct rebuild_report rep;
		scan[i] = scan_once(st);
		start = now_s();
		double cpu_start = cpu_s();
		int rc = rebuild_run(st, &opt, &rep);
		replay[i] = now_s() - start;
		cpu[i] = cpu_s() - cpu_start;
		if (rc || rep.result.outcome != REPLAY_OK || rep.applied != entries || !rep.swapped) {
			fprintf(stderr, "replay_bench: rebuild failed (%d, %s, %llu applied)\n", rc,
				replay_outcome_text(rep.result.outcome), (unsigned long long)rep.applied);
			return 1;
		}
	}
	fprintf(stderr, "a rebuild used %.0f ns of CPU an entry (median; its two threads together)\n",
		median(cpu, runs) * 1e9 / (double)entries);
	double base_rate = (double)entries / median(scan, runs);
	double our_rate = (double)entries / median(replay, runs);
	printf("| replay (events/s, %llu events, median of %d) | %.0f | %.0f (raw LMDB scan) | %.3f | >= 0.15 |\n",
	       (unsigned long long)entries, runs, our_rate, base_rate, our_rate / base_rate);
	fixture_close(st);
	fixture_remove(dir);
	return 0;
}
