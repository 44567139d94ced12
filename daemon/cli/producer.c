/* producer.c — the Kafka producer of `publish` and `forget`; see producer.h. */
#include "producer.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "embedded_broker.h"
#include "kafka_conf.h"
#include "pl_error.h"

#define DEFAULT_MESSAGE_TIMEOUT_MS "30000"
#define MAX_REPORTED_FAILURES 20

/* Called from rd_kafka_poll/flush on this thread; the message's opaque names it. */
static void delivery_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
	struct producer *p = opaque;
	char *what = msg->_private;
	(void)rk;
	if (!msg->err)
		p->delivered++;
	else if (p->failed++ < MAX_REPORTED_FAILURES)
		fprintf(stderr, "pledged %s: %s: not delivered: %s\n", p->cmd, what,
			rd_kafka_err2str(msg->err));
	free(what);
}

int producer_init(struct producer *p, const char *cmd, int argc, char **argv,
		  const struct option *opts)
{
	char err[512];
	memset(p, 0, sizeof *p);
	p->cmd = cmd;
	config_init(&p->cfg);
	char default_topic[sizeof p->cfg.topic];
	memcpy(default_topic, p->cfg.topic, sizeof default_topic);
	p->cfg.topic[0] = '\0'; /* to tell whether the file gives one */
	if (config_load_args(&p->cfg, argc, argv, opts, err, sizeof err))
		return cli_usage_error(cmd, "%s", err);
	p->topic_given = p->cfg.topic[0] != '\0';
	if (!p->topic_given)
		memcpy(p->cfg.topic, default_topic, sizeof default_topic);
	return CLI_OK;
}

int producer_option(struct producer *p, int c, const char *arg)
{
	char err[512];
	const char *key = c == 'b' ? "brokers" : c == 'd' ? "data" : c == 't' ? "topic" : NULL;
	if (key) {
		if (config_set(&p->cfg, key, arg, err, sizeof err))
			return cli_usage_error(p->cmd, "%s", err);
		p->topic_given |= c == 't';
		return 1;
	}
	if (c == 'k') {
		if (config_set_pair(&p->cfg, arg, true, err, sizeof err))
			return cli_usage_error(p->cmd, "--kafka: %s", err);
		return 1;
	}
	return c == 'c'; /* read by producer_init() */
}

/*
 * The embedded broker makes whatever topic a producer names, so a message
 * to another topic than serve's would be delivered and never read: use
 * serve's, and refuse another given.
 */
static int use_served_topic(struct producer *p)
{
	char served[sizeof p->cfg.topic];
	int rc = embedded_broker_read_topic(p->cfg.data, served, sizeof served);
	if (rc == PL_EINVAL) {
		fprintf(stderr, "pledged %s: %s/%s holds no topic name (empty, or a line too long)\n",
			p->cmd, p->cfg.data, EMBEDDED_BROKER_TOPIC_FILE);
		return CLI_STORE;
	}
	if (rc) {
		fprintf(stderr, "pledged %s: cannot read %s/%s (%s): is 'pledged serve --data %s' "
				"starting or stopping?\n",
			p->cmd, p->cfg.data, EMBEDDED_BROKER_TOPIC_FILE, pl_strerror(rc), p->cfg.data);
		return CLI_STORE;
	}
	if (p->topic_given && strcmp(served, p->cfg.topic) != 0)
		return cli_usage_error(p->cmd,
				       "serve on %s consumes topic '%s' from its embedded broker; "
				       "'%s' would be delivered and never read (leave --topic out)",
				       p->cfg.data, served, p->cfg.topic);
	memcpy(p->cfg.topic, served, sizeof served);
	char err[512];
	if (config_validate(&p->cfg, err, sizeof err)) { /* serve writes only names it checked */
		fprintf(stderr, "pledged %s: %s/%s: %s\n", p->cmd, p->cfg.data,
			EMBEDDED_BROKER_TOPIC_FILE, err);
		return CLI_STORE;
	}
	return CLI_OK;
}

static int find_brokers(struct producer *p)
{
	if (p->cfg.brokers[0]) {
		snprintf(p->brokers, sizeof p->brokers, "%s", p->cfg.brokers);
		return CLI_OK;
	}
	int rc = embedded_broker_read_address(p->cfg.data, p->brokers, sizeof p->brokers);
	/* serve removes the file when it stops; killed, it leaves it behind. */
	long pid = rc == 0 ? cli_lock_taker(p->cfg.data, CLI_LOCK_WRITER) : 0;
	if (pid && kill((pid_t)pid, 0) != 0 && errno == ESRCH) {
		fprintf(stderr,
			"pledged %s: the serve that wrote %s/%s (process %ld) is not running, so its "
			"embedded broker is gone; start 'pledged serve --data %s' again, or pass "
			"--brokers\n",
			p->cmd, p->cfg.data, EMBEDDED_BROKER_ADDRESS_FILE, pid, p->cfg.data);
		return CLI_STORE;
	}
	if (rc == 0)
		return use_served_topic(p);
	fprintf(stderr,
		"pledged %s: no --brokers given and no embedded broker address in %s/%s "
		"(%s); start 'pledged serve --data %s' first or pass --brokers\n",
		p->cmd, p->cfg.data, EMBEDDED_BROKER_ADDRESS_FILE, pl_strerror(rc), p->cfg.data);
	return CLI_STORE;
}

int producer_start(struct producer *p)
{
	char err[512];
	if (config_validate(&p->cfg, err, sizeof err))
		return cli_usage_error(p->cmd, "%s", err);
	int rc = find_brokers(p);
	if (rc)
		return rc;
	const struct serve_config *cfg = &p->cfg;
	rd_kafka_conf_t *conf = kafka_conf_new(cfg->kafka, cfg->kafka_count, err, sizeof err);
	if (conf && !config_kafka_get(cfg, "message.timeout.ms") &&
	    kafka_conf_set(conf, "message.timeout.ms", DEFAULT_MESSAGE_TIMEOUT_MS, err, sizeof err))
		goto fail;
	/* Retries must not reorder or duplicate one campaign's events. */
	if (conf && !config_kafka_get(cfg, "enable.idempotence") &&
	    kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof err))
		goto fail;
	if (!conf || kafka_conf_set(conf, "bootstrap.servers", p->brokers, err, sizeof err))
		goto fail;
	rd_kafka_conf_set_opaque(conf, p);
	rd_kafka_conf_set_dr_msg_cb(conf, delivery_cb);
	if ((p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err)))
		return CLI_OK;
fail:
	if (conf)
		rd_kafka_conf_destroy(conf);
	fprintf(stderr, "pledged %s: %s\n", p->cmd, err);
	return CLI_USAGE;
}

int producer_send(struct producer *p, int32_t partition, const void *key, size_t key_len,
		  const void *value, size_t value_len, const char *what)
{
	char *name = strdup(what);
	if (!name)
		return PL_ENOMEM;
	rd_kafka_resp_err_t kerr;
	for (;;) {
		kerr = rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(p->cfg.topic),
					 RD_KAFKA_V_PARTITION(partition),
					 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
					 RD_KAFKA_V_KEY(key, key ? key_len : 0),
					 RD_KAFKA_V_VALUE((void *)value, value_len),
					 RD_KAFKA_V_OPAQUE(name), RD_KAFKA_V_END);
		if (kerr != RD_KAFKA_RESP_ERR__QUEUE_FULL)
			break;
		rd_kafka_poll(p->rk, 100); /* serve delivery reports until there is room */
	}
	if (kerr) {
		fprintf(stderr, "pledged %s: %s not sent: %s\n", p->cmd, what, rd_kafka_err2str(kerr));
		free(name);
		return kafka_error(kerr);
	}
	rd_kafka_poll(p->rk, 0);
	return PL_OK;
}

bool producer_finish(struct producer *p, uint64_t sent, uint64_t not_sent)
{
	const char *timeout = config_kafka_get(&p->cfg, "message.timeout.ms");
	/* librdkafka took the setting (0 to 2^31-1), 0 for no timeout (-1 is
	 * rd_kafka_flush's); the 5 s beyond it for the last delivery reports
	 * must not overflow. */
	long long ms = strtoll(timeout ? timeout : DEFAULT_MESSAGE_TIMEOUT_MS, NULL, 10);
	int flush_ms = ms == 0 ? -1 : ms > INT_MAX - 5000 ? INT_MAX : (int)ms + 5000;
	rd_kafka_flush(p->rk, flush_ms);
	/* What is still queued fails now, through its delivery report. */
	rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	rd_kafka_flush(p->rk, 5000);
	uint64_t stuck = (uint64_t)rd_kafka_outq_len(p->rk);
	rd_kafka_destroy(p->rk);
	p->rk = NULL;
	if (p->failed > MAX_REPORTED_FAILURES)
		fprintf(stderr, "pledged %s: … and %" PRIu64 " more not delivered\n", p->cmd,
			p->failed - MAX_REPORTED_FAILURES);
	fprintf(stderr,
		"pledged %s: %" PRIu64 " delivered to %s on %s, %" PRIu64 " failed, %" PRIu64
		" not sent\n",
		p->cmd, p->delivered, p->cfg.topic, p->brokers, p->failed + stuck, not_sent);
	bool all = !not_sent && !p->failed && !stuck && p->delivered == sent;
	if (!p->failed && !stuck && p->delivered == sent)
		return all;
	fprintf(stderr, "pledged %s: some events were not delivered; check that the brokers at %s "
			"are reachable, then send again (re-sent events with the same id are "
			"ignored)\n",
		p->cmd, p->brokers);
	return false;
}
