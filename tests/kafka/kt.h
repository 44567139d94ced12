/*
 * kt.h — shared pieces of the Kafka tests: a mock cluster over real TCP, a
 * producer that waits for each delivery, a consumer running on its own
 * thread, a generator of campaign event streams with their expected totals,
 * waits with timeouts, and the setup most tests share (kt_env).
 */
#ifndef KT_H
#define KT_H

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "consumer.h"
#include "metrics.h"
#include "store.h"

#define KT_TOPIC "pledges"
#define KT_MAX_PARTITIONS 8

struct kt_cluster {
	rd_kafka_t *rk;
	rd_kafka_mock_cluster_t *mc;
	char bootstraps[256];
};

/* Starts a mock cluster of brokers brokers with topic (partitions). Aborts on failure. */
void kt_cluster_start(struct kt_cluster *k, int brokers, const char *topic, int partitions);
void kt_cluster_stop(struct kt_cluster *k);

/* A producer to brokers; extra is "key=value" librdkafka properties (NULL-ended) or NULL. */
rd_kafka_t *kt_producer_new(const char *brokers, const char *const *extra);

/* Produces one message to partition and waits for its delivery; returns its offset or -1. */
int64_t kt_produce(rd_kafka_t *p, const char *topic, int32_t partition, const char *key,
		   const void *value, size_t len);

/* Converts json to msgpack and produces it keyed by key (may be NULL). */
int64_t kt_produce_json(rd_kafka_t *p, const char *topic, int32_t partition, const char *key,
			const char *json);

/* Expected totals of one generated campaign. */
struct kt_expect {
	char id[32];
	int64_t raised, pledges, supporters, comments;
	int events; /* distinct valid events */
};

/*
 * Generates the events of campaign id with n pledges into *evs (malloc'd
 * JSON strings; free with kt_events_free) and fills e with the totals they
 * must produce, computed here by plain arithmetic. Event 0 opens the
 * campaign; then pledges of 100+j by supporters s0..s6, every 5th refunded
 * by 50, and a comment by the pledger after every 4th pledge.
 */
int kt_campaign_build(const char *id, int n, char ***evs, struct kt_expect *e);
void kt_events_free(char **evs, int count);

/* Whether the stored projection of e->id matches e; prints the difference if not. */
bool kt_check_campaign(struct store *st, const struct kt_expect *e);

/* Number of log entries and of rejections in st. */
uint64_t kt_log_count(struct store *st);
uint64_t kt_rejection_count(struct store *st);
/* Count of stored rejections with this reason. */
uint64_t kt_rejections_with(struct store *st, enum pl_reason reason);

/* Waits until LMDB's stored offsets of partitions 0..n-1 equal ends[]; false on timeout. */
bool kt_wait_offsets(struct store *st, const char *topic, int n, const int64_t *ends,
		     int timeout_ms);

/* Waits until cond(arg) is true; false on timeout. */
bool kt_wait(bool (*cond)(void *arg), void *arg, int timeout_ms);

/* A consumer running consumer_run() on its own thread. */
struct kt_runner {
	struct consumer *c;
	struct store *st;
	pthread_t thread;
	atomic_bool stop;
	int rc;
};

/* Creates a consumer with opt (brokers, topic, group required) and starts it. Aborts on failure. */
void kt_runner_start(struct kt_runner *r, struct store *st, struct metrics *m,
		     const struct consumer_options *opt);
/* Stops it (finishing its batch), closes and frees the consumer; returns consumer_run's code. */
int kt_runner_stop(struct kt_runner *r);

/* Closes a store a runner wrote (its writer first). */
void kt_store_close(struct store *st);

/* Options most tests use: small batches, fast group timing. */
struct consumer_options kt_consumer_options(const char *brokers, const char *group);

/*
 * What a test with one cluster, one producer and one data dir needs: a
 * mock cluster with topic KT_TOPIC, a producer to it, a fresh store, fresh
 * metrics for the consumer, and kt_consumer_options() for group. Tests may
 * change opt (and reset m) before starting a runner. opt.brokers points
 * into cluster, so e must not be copied or moved while in use.
 */
struct kt_env {
	struct kt_cluster cluster;
	rd_kafka_t *producer;
	struct store *st;
	char dir[256];
	struct metrics m;
	struct consumer_options opt;
};

/* Starts all of it. Aborts on failure. */
void kt_env_start(struct kt_env *e, int brokers, int partitions, const char *group);
/* Frees all of it and removes the data dir; stop every runner on e->st first. */
void kt_env_stop(struct kt_env *e);

/* Sleeps ms milliseconds. */
void kt_sleep_ms(int ms);

#endif
