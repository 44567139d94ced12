/*
 * kafka_conf.h — librdkafka configuration objects and error codes, in one
 * place for the consumer, the publisher and the embedded broker.
 */
#ifndef KAFKA_CONF_H
#define KAFKA_CONF_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

/* One librdkafka property passed through unchanged (config file, --kafka). */
struct kafka_prop {
	char key[128];
	char value[1024];
};

/*
 * A new librdkafka configuration with the pass-through properties
 * props[0..n) applied. The caller owns it until it hands it to
 * rd_kafka_new(). Returns NULL with a message in err on a property
 * librdkafka refuses (naming the property).
 */
rd_kafka_conf_t *kafka_conf_new(const struct kafka_prop *props, size_t n, char *err,
				size_t err_size);

/* Sets one property; returns 0 or PL_EINVAL with librdkafka's message in err. */
int kafka_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, char *err,
		   size_t err_size);

/*
 * Whether librdkafka makes a client of type from conf (taken, whatever the
 * outcome), which it checks only then (--check-config): 0, or PL_EINVAL
 * with "librdkafka would not make the <what>: why" in err. conf must name
 * no brokers, so that the throwaway client connects to nothing.
 */
int kafka_conf_try(rd_kafka_conf_t *conf, rd_kafka_type_t type, const char *what, char *err,
		   size_t err_size);

/* Translates a librdkafka error into a PL_E* code. */
int kafka_error(rd_kafka_resp_err_t err);

#endif
