/*
 * mock_broker.c — a librdkafka mock cluster in a process of its own, for
 * tests that kill pledged: prints its bootstrap address on stdout and runs
 * until killed. Usage: mock_broker [TOPIC [PARTITIONS]]
 *
 * Topics and faults on request, one command per line on stdin:
 *   topic TOPIC N     creates TOPIC with N partitions
 *   down TOPIC N      its N partitions lose their leader: nobody can write them
 *   up TOPIC N        and get it back
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	const char *topic = argc > 1 ? argv[1] : "pledges";
	int partitions = argc > 2 ? atoi(argv[2]) : 4;
	char err[256];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_conf_set(conf, "log_level", "2", err, sizeof err);
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
	if (!rk) {
		fprintf(stderr, "mock_broker: %s\n", err);
		return 1;
	}
	rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, 1);
	if (!mc || rd_kafka_mock_topic_create(mc, topic, partitions, 1)) {
		fprintf(stderr, "mock_broker: cannot start\n");
		return 1;
	}
	printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
	fflush(stdout);
	char line[512], name[256];
	int n;
	while (fgets(line, sizeof line, stdin)) {
		if (sscanf(line, "topic %255s %d", name, &n) == 2)
			rd_kafka_mock_topic_create(mc, name, n, 1);
		else if (sscanf(line, "down %255s %d", name, &n) == 2)
			for (int p = 0; p < n; p++)
				rd_kafka_mock_partition_set_leader(mc, name, p, -1);
		else if (sscanf(line, "up %255s %d", name, &n) == 2)
			for (int p = 0; p < n; p++)
				rd_kafka_mock_partition_set_leader(mc, name, p, 1);
		else
			fprintf(stderr, "mock_broker: unknown command: %s", line);
	}
	for (;;)
		pause();
}
