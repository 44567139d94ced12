/*
 * bench_produce.c — preloads a topic with the benchmark event stream
 * (bench_events.c) for the ingest and memory benchmarks, and proves that
 * the broker still holds every message it produced.
 *
 * Usage: bench_produce --brokers HOST:PORT --topic NAME --events N [--campaigns N]
 *                      [--compression lz4|zstd|none] [--rounds]
 *
 * Messages are keyed by campaign, so each campaign's events stay in order
 * on one partition, as the gateways send them. Compression matters: the
 * mock cluster keeps only about 5 MiB per partition, and a compressed
 * message set counts by its compressed size.
 *
 * Without --rounds it produces N events and exits. With --rounds it
 * produces N events, then one more batch of the continuing stream per line
 * read from stdin (a number of events), until end of input or a line "0":
 * the memory benchmark feeds a running `serve` this way without
 * overflowing the broker. After each batch it prints "produced TOTAL" on stdout, where
 * TOTAL counts every message since start, once the broker's watermarks
 * show that all of them were appended and none of this batch was dropped;
 * otherwise it says why on stderr and exits 1.
 */
#include <getopt.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_events.h"

#define MAX_PARTITIONS 1024
#define CAMPAIGNS 1000 /* the default: enough keys to spread evenly over the partitions */
#define SEED 42
#define WATERMARK_TIMEOUT_MS 5000

struct producer {
	rd_kafka_t *rk;
	rd_kafka_topic_t *topic;
	const char *topic_name;
	int partitions;
	int64_t high[MAX_PARTITIONS]; /* high watermarks before the current batch */
	uint64_t total;               /* messages produced since start */
	uint64_t bytes;               /* their values' bytes */
	uint64_t failed;              /* delivery errors */
	struct bench_stream stream;
	msgpack_sbuffer buf;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
	(void)rk;
	struct producer *p = opaque;
	if (msg->err) {
		if (p->failed++ == 0)
			fprintf(stderr, "bench_produce: delivery failed: %s\n",
				rd_kafka_err2str(msg->err));
	}
}

static int producer_init(struct producer *p, const char *brokers, const char *topic, uint32_t campaigns,
			 const char *compression)
{
	char err[256];
	static const char *const props[][2] = {
		{"linger.ms", "20"},
		{"batch.num.messages", "10000"},
		{"batch.size", "1000000"},
		{"queue.buffering.max.messages", "1000000"},
		{"queue.buffering.max.kbytes", "1048576"},
		{"log_level", "3"},
	};
	memset(p, 0, sizeof *p);
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof err) ||
	    rd_kafka_conf_set(conf, "compression.codec", compression, err, sizeof err))
		goto fail;
	for (size_t i = 0; i < sizeof props / sizeof props[0]; i++)
		if (rd_kafka_conf_set(conf, props[i][0], props[i][1], err, sizeof err))
			goto fail;
	rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
	rd_kafka_conf_set_opaque(conf, p);
	p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
	if (!p->rk)
		goto fail;
	conf = NULL; /* owned by p->rk now */
	p->topic = rd_kafka_topic_new(p->rk, topic, NULL);
	p->topic_name = topic;

	const struct rd_kafka_metadata *md;
	rd_kafka_resp_err_t rc = rd_kafka_metadata(p->rk, 0, p->topic, &md, 10000);
	if (rc || md->topic_cnt != 1 || md->topics[0].err) {
		snprintf(err, sizeof err, "no metadata for topic %s: %s", topic,
			 rd_kafka_err2str(rc ? rc : md->topic_cnt ? md->topics[0].err : rc));
		goto fail;
	}
	p->partitions = md->topics[0].partition_cnt;
	rd_kafka_metadata_destroy(md);
	if (p->partitions < 1 || p->partitions > MAX_PARTITIONS) {
		snprintf(err, sizeof err, "topic %s has %d partitions", topic, p->partitions);
		goto fail;
	}
	bench_stream_init(&p->stream, campaigns, SEED);
	msgpack_sbuffer_init(&p->buf);
	return 0;
fail:
	if (conf)
		rd_kafka_conf_destroy(conf);
	fprintf(stderr, "bench_produce: %s\n", err);
	return -1;
}

/* Reads every partition's watermarks; with low, also the low ones. */
static int read_watermarks(struct producer *p, int64_t *high, int64_t *low)
{
	for (int i = 0; i < p->partitions; i++) {
		int64_t lo, hi;
		rd_kafka_resp_err_t rc = rd_kafka_query_watermark_offsets(
			p->rk, p->topic_name, i, &lo, &hi, WATERMARK_TIMEOUT_MS);
		if (rc) {
			fprintf(stderr, "bench_produce: watermarks of %s [%d]: %s\n", p->topic_name,
				i, rd_kafka_err2str(rc));
			return -1;
		}
		high[i] = hi;
		if (low)
			low[i] = lo;
	}
	return 0;
}

/*
 * Produces the next n events, waits for every delivery, then checks that
 * the broker's high watermarks add up to every message since start and
 * that no partition dropped anything of this batch.
 */
static int produce_batch(struct producer *p, uint64_t n)
{
	double start = now_s();
	if (read_watermarks(p, p->high, NULL))
		return -1;
	for (uint64_t i = 0; i < n; i++) {
		bench_stream_next(&p->stream, &p->buf);
		p->bytes += p->buf.size;
		for (;;) {
			if (rd_kafka_produce(p->topic, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY,
					     p->buf.data, p->buf.size, p->stream.key,
					     strlen(p->stream.key), NULL) == 0)
				break;
			if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
				fprintf(stderr, "bench_produce: %s\n",
					rd_kafka_err2str(rd_kafka_last_error()));
				return -1;
			}
			rd_kafka_poll(p->rk, 10);
		}
		rd_kafka_poll(p->rk, 0);
	}
	if (rd_kafka_flush(p->rk, 120000) || p->failed) {
		fprintf(stderr, "bench_produce: %" PRIu64 " deliveries failed or timed out\n",
			p->failed);
		return -1;
	}
	p->total += n;
	double took = now_s() - start;

	int64_t high[MAX_PARTITIONS], low[MAX_PARTITIONS], sum = 0;
	if (read_watermarks(p, high, low))
		return -1;
	for (int i = 0; i < p->partitions; i++) {
		sum += high[i];
		if (low[i] > p->high[i]) {
			fprintf(stderr,
				"bench_produce: %s [%d] dropped offsets %" PRId64 "..%" PRId64
				" (the mock broker keeps ~5 MiB per partition): use more "
				"partitions, compression or fewer events per batch\n",
				p->topic_name, i, p->high[i], low[i] - 1);
			return -1;
		}
	}
	if ((uint64_t)sum != p->total) {
		fprintf(stderr,
			"bench_produce: the high watermarks add up to %" PRId64 ", expected %" PRIu64
			"\n",
			sum, p->total);
		return -1;
	}
	fprintf(stderr,
		"bench_produce: %" PRIu64 " events in %.2f s (%.0f/s), %d partitions, all "
		"present\n",
		n, took, (double)n / took, p->partitions);
	printf("produced %" PRIu64 "\n%" PRIu64 " bytes of messages in %" PRIu64 "\n", p->total,
	       p->bytes, p->total);
	fflush(stdout);
	return 0;
}

static void producer_deinit(struct producer *p)
{
	msgpack_sbuffer_destroy(&p->buf);
	bench_stream_deinit(&p->stream);
	rd_kafka_topic_destroy(p->topic);
	rd_kafka_destroy(p->rk);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"brokers", required_argument, NULL, 'b'},
					     {"topic", required_argument, NULL, 't'},
					     {"events", required_argument, NULL, 'e'},
					     {"compression", required_argument, NULL, 'c'},
					     {"rounds", no_argument, NULL, 'r'},
					     {"campaigns", required_argument, NULL, 'n'},
					     {0}};
	const char *brokers = NULL, *topic = "pledges", *compression = "lz4";
	uint64_t events = 1000000;
	unsigned long campaigns = CAMPAIGNS;
	bool rounds = false;
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'b': brokers = optarg; break;
		case 't': topic = optarg; break;
		case 'e': events = strtoull(optarg, NULL, 10); break;
		case 'c': compression = optarg; break;
		case 'r': rounds = true; break;
		case 'n': campaigns = strtoul(optarg, NULL, 10); break;
		default: return 2;
		}
	}
	if (!brokers || events < 1 || campaigns < 1 || campaigns > UINT32_MAX) {
		fprintf(stderr, "usage: bench_produce --brokers HOST:PORT [--topic NAME] "
				"[--events N] [--campaigns N] [--compression CODEC] [--rounds]\n");
		return 2;
	}

	struct producer p;
	if (producer_init(&p, brokers, topic, (uint32_t)campaigns, compression))
		return 1;
	int rc = produce_batch(&p, events);
	char line[64];
	while (rc == 0 && rounds && fgets(line, sizeof line, stdin)) {
		uint64_t more = strtoull(line, NULL, 10);
		if (more == 0)
			break;
		rc = produce_batch(&p, more);
	}
	producer_deinit(&p);
	return rc ? 1 : 0;
}
