/*
 * producer.h — what `publish` and `forget` share: the Kafka settings they
 * take (--brokers or the embedded broker of a serve on --data, --topic,
 * --config, --kafka), an idempotent producer that counts deliveries, and
 * the report at the end.
 */
#ifndef PRODUCER_H
#define PRODUCER_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"

/* The long options every producing command takes; their getopt codes. */
#define PRODUCER_OPTIONS                                                  \
	{"brokers", required_argument, NULL, 'b'},                        \
		{"data", required_argument, NULL, 'd'},                   \
		{"topic", required_argument, NULL, 't'},                  \
		{"config", required_argument, NULL, 'c'},                 \
		{"kafka", required_argument, NULL, 'k'}

/* Their help lines. */
#define PRODUCER_USAGE                                                                   \
	"  --brokers LIST     Kafka bootstrap servers\n"                                 \
	"  --data DIR         without --brokers: use the embedded broker of the\n"       \
	"                     'pledged serve' running on DIR (its DIR/broker.address)\n" \
	"                     (default: pledged-data)\n"                                 \
	"  --topic NAME       topic (default: the one serve on --data consumes, else\n"  \
	"                     pledges)\n"                                              \
	"  --config FILE      read brokers, topic and kafka.* settings from FILE\n"      \
	"  --kafka KEY=VALUE  any librdkafka property, e.g. security.protocol=SASL_SSL\n" \
	"                     (default message.timeout.ms=30000)\n"

struct producer {
	const char *cmd;
	struct serve_config cfg;
	char brokers[sizeof((struct serve_config *)0)->brokers]; /* the config's, or the embedded broker's */
	bool topic_given; /* by --topic or the config file; else serve's, or the default */
	rd_kafka_t *rk;
	uint64_t delivered, failed; /* delivery reports so far */
};

/* Loads each --config FILE of argv (config_load_args() with the command's
 * opts), so that flags override it. A cli_exit. */
int producer_init(struct producer *p, const char *cmd, int argc, char **argv,
		  const struct option *opts);

/* Takes getopt code c of PRODUCER_OPTIONS: 1 when it was one, 0 when not, or a cli_exit. */
int producer_option(struct producer *p, int c, const char *arg);

/* Validates the settings, finds the brokers and creates the producer. A cli_exit. */
int producer_start(struct producer *p);

/*
 * Produces value with key (NULL: none) to partition (RD_KAFKA_PARTITION_UA:
 * the partitioner's choice); what goes wrong is reported with `what`
 * (e.g. "line 3"), so is a failed delivery later. 0 or an error.
 */
int producer_send(struct producer *p, int32_t partition, const void *key, size_t key_len,
		  const void *value, size_t value_len, const char *what);

/*
 * Waits for every delivery report, prints the summary and destroys the
 * producer. Returns true when all `sent` messages were delivered.
 */
bool producer_finish(struct producer *p, uint64_t sent, uint64_t not_sent);

#endif
