/* kafka_conf.c — librdkafka configuration and error translation; see kafka_conf.h. */
#include "kafka_conf.h"

#include <stdio.h>

#include "pl_error.h"

int kafka_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, char *err,
		   size_t err_size)
{
	char why[256];
	if (rd_kafka_conf_set(conf, key, value, why, sizeof why) == RD_KAFKA_CONF_OK)
		return PL_OK;
	snprintf(err, err_size, "kafka property %s: %s", key, why);
	return PL_EINVAL;
}

rd_kafka_conf_t *kafka_conf_new(const struct kafka_prop *props, size_t n, char *err,
				size_t err_size)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	for (size_t i = 0; i < n; i++) {
		if (kafka_conf_set(conf, props[i].key, props[i].value, err, err_size)) {
			rd_kafka_conf_destroy(conf);
			return NULL;
		}
	}
	return conf;
}

static void log_nothing(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk, (void)level, (void)fac, (void)buf;
}

int kafka_conf_try(rd_kafka_conf_t *conf, rd_kafka_type_t type, const char *what, char *err,
		   size_t err_size)
{
	char why[512];
	rd_kafka_conf_set_log_cb(conf, log_nothing);
	rd_kafka_t *rk = rd_kafka_new(type, conf, why, sizeof why);
	if (!rk) {
		rd_kafka_conf_destroy(conf);
		snprintf(err, err_size, "librdkafka would not make the %s: %s", what, why);
		return PL_EINVAL;
	}
	rd_kafka_destroy(rk);
	return PL_OK;
}

int kafka_error(rd_kafka_resp_err_t err)
{
	switch (err) {
	case RD_KAFKA_RESP_ERR_NO_ERROR: return PL_OK;
	case RD_KAFKA_RESP_ERR__NOENT:
	case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
	case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
	case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART: return PL_ENOTFOUND;
	case RD_KAFKA_RESP_ERR__INVALID_ARG:
	case RD_KAFKA_RESP_ERR__CONFLICT: return PL_EINVAL;
	case RD_KAFKA_RESP_ERR__QUEUE_FULL: return PL_EBUSY;
	default: return PL_EKAFKA;
	}
}
