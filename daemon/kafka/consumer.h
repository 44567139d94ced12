/*
 * consumer.h — the Kafka side of `serve`: a consumer in a consumer group
 * whose positions live in the data dir, next to the events they produced.
 *
 * Messages are taken one at a time with rd_kafka_consumer_poll() and
 * gathered into batches (closed by size or by a few milliseconds); each batch
 * goes to ingest_batch() on a writer thread, which stores the events and the
 * next offsets in one LMDB transaction while the next batch is polled.
 * Kafka's own committed offsets are only written afterwards, for lag
 * tools: on (re)assignment the consumer starts each
 * partition from the offset in LMDB, so a crash, restart or rebalance
 * neither loses nor repeats an event. (librdkafka 2.0.x's batch consume APIs
 * are unsafe together with seek, pause and rebalances, hence one-by-one.)
 */
#ifndef CONSUMER_H
#define CONSUMER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "batch_writer.h"
#include "kafka_conf.h"
#include "ingest.h"
#include "metrics.h"
#include "writer.h"

/* Group membership defaults (librdkafka's: 45000 and 3000). */
#define CONSUMER_SESSION_TIMEOUT_MS "10000"
#define CONSUMER_HEARTBEAT_MS "1000"
#define CONSUMER_QUEUED_MIN_MESSAGES "200000" /* messages librdkafka fetches ahead */

struct consumer_options {
	const char *brokers; /* bootstrap servers, required */
	const char *topic;
	const char *group;
	const char *instance_id; /* static membership (group.instance.id); NULL: none */
	const struct kafka_prop *kafka; /* pass-through librdkafka properties */
	size_t kafka_count;
	/* Identity of the Kafka cluster stored with offsets. NULL asks the broker
	 * (rd_kafka_clusterid); the embedded broker passes a fresh one per start
	 * because its own id does not change when it restarts empty. */
	const char *cluster_id;
	size_t batch_max;      /* 0 means 20000 */
	int batch_ms;          /* 0 means 50 */
	int retry_ms;          /* wait between write retries after a store error; 0 means 1000 */
	bool skip_lost_offsets; /* continue from the earliest offset after retention loss */
	/* The gateways' partitioner (partitioner.h): with one, HTTP answers
	 * only for campaigns of the partitions assigned here (ownership.h). */
	ownership_partitioner partitioner;
	/* The write step, run on the writer thread: NULL means ingest_batch;
	 * tests pass one that fails. */
	batch_write_fn ingest;
	/* Called after every committed batch with the new end of the log. */
	void (*on_commit)(void *arg, uint64_t last_seq);
	void *on_commit_arg;
	/* Called before a batch with an erasure (supporter.forgotten) is
	 * written (begins) and after its write ended, committed or not: the
	 * dead-letter queue holds back copies of bytes it may empty (dlq.h). */
	void (*on_erasure)(void *arg, bool begins);
	void *on_erasure_arg;
};

struct consumer;

/*
 * Creates the consumer and subscribes to opt->topic; batches go through
 * writer w, which only the consumer's writer thread uses from then on. w
 * and m (and the strings of opt) must outlive it. Returns 0, or
 * PL_EINVAL/PL_EKAFKA/PL_ENOMEM with a message in err.
 */
int consumer_new(struct consumer **out, struct writer *w, struct metrics *m,
		 const struct consumer_options *opt, char *err, size_t err_size);

/*
 * Whether librdkafka would make the consumer opt describes: a throwaway
 * one, made and destroyed at once (it checks some settings only then, such
 * as fetch sizes against each other, SASL mechanisms, TLS files). 0, or
 * PL_EINVAL with the reason in err.
 */
int consumer_check(const struct consumer_options *opt, char *err, size_t err_size);

/*
 * Consumes until *stop becomes true (e.g. set by a signal handler), then
 * writes the batch in hand and commits. Store errors, lost offsets and
 * unreachable brokers do not end it: it logs, sets the metrics state and
 * retries. Returns 0 after a stop, PL_EKAFKA on a fatal librdkafka error.
 */
int consumer_run(struct consumer *c, const atomic_bool *stop);

/* Leaves the group (rd_kafka_consumer_close) and frees everything. NULL is fine. */
void consumer_free(struct consumer *c);

#endif
