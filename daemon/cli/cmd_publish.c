/*
 * cmd_publish.c — `pledged publish`: JSON-lines events on stdin, produced to
 * Kafka as msgpack with the campaign as key. For gateways' integration tests
 * and demos; it does not validate events, so bad ones can be sent on purpose.
 */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "config.h"
#include "embedded_broker.h"
#include "event_codec.h"
#include "kafka_conf.h"
#include "pl_error.h"

static const char usage[] =
	"Usage: pledged publish [--brokers HOST:PORT[,...] | --data DIR] [--topic NAME]\n"
	"                       [--config FILE] [--kafka KEY=VALUE]... < events.jsonl\n"
	"\n"
	"Read events as JSON lines on stdin, encode each as a msgpack map and produce\n"
	"it to Kafka, keyed by its \"campaign\" field (no key when it has none). Waits\n"
	"until the broker has acknowledged every message.\n"
	"\n"
	"  --brokers LIST     Kafka bootstrap servers\n"
	"  --data DIR         without --brokers: use the embedded broker of the\n"
	"                     'pledged serve' running on DIR (its DIR/broker.address)\n"
	"                     (default: pledged-data)\n"
	"  --topic NAME       topic (default: pledges)\n"
	"  --config FILE      read brokers, topic and kafka.* settings from FILE\n"
	"  --kafka KEY=VALUE  any librdkafka property, e.g. security.protocol=SASL_SSL\n"
	"                     (default message.timeout.ms=30000)\n"
	"  -h, --help         show this help\n"
	"\n"
	"Exit status: 0 every line delivered, 1 some lines were not JSON objects or\n"
	"were not delivered (each is reported with its line number), 2 usage,\n"
	"3 no broker given and no embedded broker address in the data dir.\n";

#define DEFAULT_MESSAGE_TIMEOUT_MS "30000"
#define MAX_REPORTED_FAILURES 20

struct delivery {
	uint64_t delivered;
	uint64_t failed;
};

/* Called from rd_kafka_poll/flush on this thread; the opaque is the line number. */
static void delivery_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
	struct delivery *d = opaque;
	(void)rk;
	if (!msg->err) {
		d->delivered++;
		return;
	}
	if (d->failed++ < MAX_REPORTED_FAILURES)
		fprintf(stderr, "pledged publish: line %" PRIuPTR ": not delivered: %s\n",
			(uintptr_t)msg->_private, rd_kafka_err2str(msg->err));
}

/* The string value of "campaign", or NULL: it becomes the message key. */
static const char *campaign_key(json_t *obj, size_t *len)
{
	json_t *v = json_is_object(obj) ? json_object_get(obj, "campaign") : NULL;
	if (!json_is_string(v))
		return NULL;
	*len = json_string_length(v);
	return json_string_value(v);
}

static int produce_line(rd_kafka_t *rk, const char *topic, const char *line, size_t len,
			uint64_t lineno, msgpack_sbuffer *buf)
{
	char err[200];
	msgpack_sbuffer_clear(buf);
	if (pl_json_to_msgpack(line, len, buf, err, sizeof err)) {
		fprintf(stderr, "pledged publish: line %" PRIu64 " not sent: %s\n", lineno, err);
		return PL_EINVAL;
	}
	json_t *obj = json_loadb(line, len, 0, NULL);
	size_t key_len = 0;
	const char *key = campaign_key(obj, &key_len);
	rd_kafka_resp_err_t kerr;
	for (;;) {
		kerr = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic),
					 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
					 RD_KAFKA_V_KEY(key, key ? key_len : 0),
					 RD_KAFKA_V_VALUE(buf->data, buf->size),
					 RD_KAFKA_V_OPAQUE((void *)(uintptr_t)lineno), RD_KAFKA_V_END);
		if (kerr != RD_KAFKA_RESP_ERR__QUEUE_FULL)
			break;
		rd_kafka_poll(rk, 100); /* serve delivery reports until there is room */
	}
	json_decref(obj);
	if (kerr) {
		fprintf(stderr, "pledged publish: line %" PRIu64 " not sent: %s\n", lineno,
			rd_kafka_err2str(kerr));
		return kafka_error(kerr);
	}
	rd_kafka_poll(rk, 0);
	return PL_OK;
}

static rd_kafka_t *producer_new(const struct serve_config *cfg, const char *brokers,
				struct delivery *d)
{
	char err[512];
	rd_kafka_conf_t *conf = kafka_conf_new(cfg->kafka, cfg->kafka_count, err, sizeof err);
	if (conf && !config_kafka_get(cfg, "message.timeout.ms") &&
	    kafka_conf_set(conf, "message.timeout.ms", DEFAULT_MESSAGE_TIMEOUT_MS, err, sizeof err))
		goto fail;
	/* Retries must not reorder or duplicate one campaign's events. */
	if (conf && !config_kafka_get(cfg, "enable.idempotence") &&
	    kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof err))
		goto fail;
	if (!conf || kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof err))
		goto fail;
	rd_kafka_conf_set_opaque(conf, d);
	rd_kafka_conf_set_dr_msg_cb(conf, delivery_cb);
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
	if (rk)
		return rk;
fail:
	if (conf)
		rd_kafka_conf_destroy(conf);
	fprintf(stderr, "pledged publish: %s\n", err);
	return NULL;
}

int cmd_publish(int argc, char **argv)
{
	static const struct option opts[] = {{"brokers", required_argument, NULL, 'b'},
					     {"data", required_argument, NULL, 'd'},
					     {"topic", required_argument, NULL, 't'},
					     {"config", required_argument, NULL, 'c'},
					     {"kafka", required_argument, NULL, 'k'},
					     {"help", no_argument, NULL, 'h'},
					     {0}};
	struct serve_config cfg;
	char err[512];
	int c;
	config_init(&cfg);
	/* The file first, wherever --config is, so that flags override it. */
	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], "--config") == 0 &&
		    config_load_file(&cfg, argv[i + 1], err, sizeof err))
			return cli_usage_error("publish", "%s", err);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		const char *key = c == 'b' ? "brokers" : c == 'd' ? "data" : c == 't' ? "topic" : NULL;
		switch (c) {
		case 'b':
		case 'd':
		case 't':
			if (config_set(&cfg, key, optarg, err, sizeof err))
				return cli_usage_error("publish", "%s", err);
			break;
		case 'c': break;
		case 'k':
			if (config_set_pair(&cfg, optarg, true, err, sizeof err))
				return cli_usage_error("publish", "--kafka: %s", err);
			break;
		case 'h': fputs(usage, stdout); return CLI_OK;
		default: return cli_usage_error("publish", "unknown option");
		}
	}
	if (optind < argc)
		return cli_usage_error("publish", "unexpected argument '%s'", argv[optind]);
	if (config_validate(&cfg, err, sizeof err))
		return cli_usage_error("publish", "%s", err);

	char address[256];
	const char *brokers = cfg.brokers;
	if (!brokers[0]) {
		int rc = embedded_broker_read_address(cfg.data, address, sizeof address);
		if (rc) {
			fprintf(stderr,
				"pledged publish: no --brokers given and no embedded broker address in "
				"%s/%s (%s); start 'pledged serve --data %s' first or pass --brokers\n",
				cfg.data, EMBEDDED_BROKER_ADDRESS_FILE, pl_strerror(rc), cfg.data);
			return CLI_STORE;
		}
		brokers = address;
	}

	struct delivery d = {0};
	rd_kafka_t *rk = producer_new(&cfg, brokers, &d);
	if (!rk)
		return CLI_USAGE;
	msgpack_sbuffer buf;
	msgpack_sbuffer_init(&buf);
	char *line = NULL;
	size_t line_cap = 0;
	ssize_t len;
	uint64_t lineno = 0, sent = 0, bad = 0;
	while ((len = getline(&line, &line_cap, stdin)) >= 0) {
		lineno++;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			len--;
		if (len == 0)
			continue;
		if (produce_line(rk, cfg.topic, line, (size_t)len, lineno, &buf))
			bad++;
		else
			sent++;
	}
	free(line);
	msgpack_sbuffer_destroy(&buf);

	const char *timeout = config_kafka_get(&cfg, "message.timeout.ms");
	int flush_ms = atoi(timeout ? timeout : DEFAULT_MESSAGE_TIMEOUT_MS) + 5000;
	rd_kafka_flush(rk, flush_ms);
	uint64_t stuck = (uint64_t)rd_kafka_outq_len(rk);
	rd_kafka_destroy(rk);
	if (d.failed > MAX_REPORTED_FAILURES)
		fprintf(stderr, "pledged publish: … and %" PRIu64 " more not delivered\n",
			d.failed - MAX_REPORTED_FAILURES);
	fprintf(stderr,
		"pledged publish: %" PRIu64 " delivered to %s on %s, %" PRIu64 " failed, %" PRIu64
		" lines not sent\n",
		d.delivered, cfg.topic, brokers, d.failed + stuck, bad);
	if (d.failed || stuck || d.delivered != sent)
		fprintf(stderr, "pledged publish: some events were not delivered; check that the "
				"brokers at %s are reachable, then publish again (re-sent events "
				"with the same id are ignored)\n",
			brokers);
	return (bad || d.failed || stuck || d.delivered != sent) ? CLI_MISMATCH : CLI_OK;
}
