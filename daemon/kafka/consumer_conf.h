/*
 * consumer_conf.h — the consumer's librdkafka settings: the operator's
 * pass-through (--kafka), pledged's defaults where the operator said
 * nothing, and what exactly-once needs, which always wins.
 */
#ifndef CONSUMER_CONF_H
#define CONSUMER_CONF_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

#include "consumer.h"

/* The settings of a consumer for opt, owned by the caller; NULL with err
 * filled when one is refused. */
rd_kafka_conf_t *consumer_conf_new(const struct consumer_options *opt, char *err,
				   size_t err_size);

#endif
