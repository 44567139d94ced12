/* consumer_conf.c — the consumer's librdkafka settings; see consumer_conf.h. */
#include "consumer_conf.h"

#include <string.h>

#include "pl_error.h"

/* The group's own pass-through value of key, or NULL. */
static const char *kafka_prop(const struct consumer_options *opt, const char *key)
{
	for (size_t i = 0; i < opt->kafka_count; i++)
		if (strcmp(opt->kafka[i].key, key) == 0)
			return opt->kafka[i].value;
	return NULL;
}

/* Sets a librdkafka property to pledged's default, unless --kafka gave it. */
static int set_default(rd_kafka_conf_t *conf, const struct consumer_options *opt, const char *key,
		       const char *value, char *err, size_t err_size)
{
	if (kafka_prop(opt, key) || kafka_conf_set(conf, key, value, err, err_size) == 0)
		return PL_OK;
	return PL_EINVAL;
}

/*
 * Group membership that moves partitions in seconds, not librdkafka's 45:
 * while an instance that died still counts as a member, nobody answers
 * for its campaigns.
 */
static int set_group_defaults(rd_kafka_conf_t *conf, const struct consumer_options *opt,
			      char *err, size_t err_size)
{
	if (set_default(conf, opt, "session.timeout.ms", CONSUMER_SESSION_TIMEOUT_MS, err,
			err_size) ||
	    set_default(conf, opt, "heartbeat.interval.ms", CONSUMER_HEARTBEAT_MS, err, err_size))
		return PL_EINVAL;
	if (opt->instance_id && opt->instance_id[0] &&
	    kafka_conf_set(conf, "group.instance.id", opt->instance_id, err, err_size))
		return PL_EINVAL;
	return PL_OK;
}

/*
 * librdkafka stops fetching a partition once its queue holds
 * queued.min.messages, and 2.0 looks again only at its broker thread's next
 * 1-second wakeup: at the default (100,000) the writer emptied the queue in
 * about 0.7 s and then waited for the rest of every second. The queue must
 * last more than a second at the writer's pace.
 */
static int set_fetch_defaults(rd_kafka_conf_t *conf, const struct consumer_options *opt,
			      char *err, size_t err_size)
{
	return set_default(conf, opt, "queued.min.messages", CONSUMER_QUEUED_MIN_MESSAGES, err,
			   err_size);
}

/* The consumer's settings: the operator's, pledged's defaults, and what exactly-once needs. */
rd_kafka_conf_t *consumer_conf_new(const struct consumer_options *opt, char *err,
				      size_t err_size)
{
	rd_kafka_conf_t *conf = kafka_conf_new(opt->kafka, opt->kafka_count, err, err_size);
	if (!conf || set_group_defaults(conf, opt, err, err_size) ||
	    set_fetch_defaults(conf, opt, err, err_size))
		goto fail;
	/* Set after the pass-through so that they win: exactly-once depends on them. */
	if (kafka_conf_set(conf, "bootstrap.servers", opt->brokers, err, err_size) ||
	    kafka_conf_set(conf, "group.id", opt->group, err, err_size) ||
	    kafka_conf_set(conf, "enable.auto.commit", "false", err, err_size) ||
	    kafka_conf_set(conf, "enable.auto.offset.store", "false", err, err_size) ||
	    /* An unknown position is an error we handle, never a silent jump. */
	    kafka_conf_set(conf, "auto.offset.reset", "error", err, err_size) ||
	    kafka_conf_set(conf, "enable.partition.eof", "false", err, err_size) ||
	    /* What a transactional gateway aborted is no event. */
	    kafka_conf_set(conf, "isolation.level", "read_committed", err, err_size))
		goto fail;
	return conf;
fail:
	if (conf)
		rd_kafka_conf_destroy(conf);
	return NULL;
}
