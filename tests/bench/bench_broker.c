/*
 * bench_broker.c — a Kafka broker in its own process for the ingest
 * benchmark: librdkafka's mock cluster with one topic on 127.0.0.1.
 *
 * Usage: bench_broker --topic NAME --partitions N [--timeout SECONDS]
 * Prints the bootstrap address on one line of stdout, then serves until
 * SIGTERM or SIGINT, or at most --timeout seconds (default 1800) so that it
 * never outlives a benchmark run that died. Running it apart from both the
 * producer and the consumers keeps its thread off their profiles and lets
 * kcat and `pledged serve` read the very same partitions.
 *
 * The mock cluster keeps about 5 MiB (and 100000 message sets) per
 * partition and silently drops older sets: the producer checks the
 * watermarks after producing.
 */
#include <getopt.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static atomic_bool stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&stop_requested, true);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"topic", required_argument, NULL, 't'},
					     {"partitions", required_argument, NULL, 'p'},
					     {"timeout", required_argument, NULL, 'T'},
					     {0}};
	const char *topic = "pledges";
	int partitions = 16, timeout_s = 1800, c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 't')
			topic = optarg;
		else if (c == 'p')
			partitions = atoi(optarg);
		else if (c == 'T')
			timeout_s = atoi(optarg);
		else
			return 2;
	}
	if (partitions < 1 || partitions > 1024 || timeout_s < 1)
		return 2;

	char err[256];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_conf_set(conf, "log_level", "2", err, sizeof err);
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
	if (!rk) {
		fprintf(stderr, "bench_broker: %s\n", err);
		return 1;
	}
	rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, 1);
	if (!mc || rd_kafka_mock_topic_create(mc, topic, partitions, 1)) {
		fprintf(stderr, "bench_broker: cannot start the mock cluster\n");
		return 1;
	}
	printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
	fflush(stdout);

	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	struct timespec tick = {0, 100 * 1000000L};
	for (long i = 0; i < timeout_s * 10L && !atomic_load(&stop_requested); i++)
		nanosleep(&tick, NULL);
	rd_kafka_mock_cluster_destroy(mc);
	rd_kafka_destroy(rk);
	return 0;
}
