/*
 * test_dlq.c — the dead-letter queue and an erasure, over TCP against the
 * mock cluster. A rejection is in librdkafka's hands, its supporter is
 * forgotten, and the copy librdkafka holds must not reach the topic after
 * the erasure commits: the rejection arrives once, erased (an empty value,
 * pledged.erased=true). Held two ways:
 *  - queued: the dead-letter topic has no leader, and comes back just after
 *    the erasure commits, before anything else happens;
 *  - in flight: the broker answers its request 4 s late, with an error
 *    librdkafka retries, after the erasure has committed.
 *
 * The writer step here writes each batch as serve does, then, for the
 * batch that erases, brings the topic back and waits 1.5 s before it
 * reports the batch: the moment a forwarder that learned of the erasure
 * after the fact let the held copy out.
 *
 * And the backlog gauge while a delivery failed and another is pending:
 * it must still count the rejections kept since; and a fatal error of the
 * idempotent producer, after which librdkafka refuses everything: a new
 * producer must take over.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dlq.h"
#include "fixture.h"
#include "ingest.h"
#include "kt.h"

#define DLQ_TOPIC "dead-letters"
#define DLQ_BROKER 2 /* the dead-letter topic's leader; the events' is 1 */
#define SECRET "Secret-Hold-Text"

static rd_kafka_mock_cluster_t *cluster;

/* ingest_batch, then, after a batch that erases, the topic back at once. */
static int erase_then_reopen(struct writer *w, const struct ingest_msg *msgs, size_t n,
			     const char *cluster_id, int64_t now_ms, struct ingest_stats *stats)
{
	int rc = ingest_batch(w, msgs, n, cluster_id, now_ms, stats);
	for (size_t i = 0; i < n; i++) {
		if (msgs[i].decoded->rc == 0 &&
		    msgs[i].decoded->ev.type == PL_EV_SUPPORTER_FORGOTTEN) {
			rd_kafka_mock_partition_set_leader(cluster, DLQ_TOPIC, 0, DLQ_BROKER);
			kt_sleep_ms(1500);
			break;
		}
	}
	return rc;
}

static bool backlog_is(struct metrics *m, int64_t n)
{
	return atomic_load(&m->dlq_backlog) == n;
}

static bool backlog_one(void *m)
{
	return backlog_is(m, 1);
}

static bool backlog_none(void *m)
{
	return backlog_is(m, 0) && atomic_load(&((struct metrics *)m)->dlq_delivered) > 0;
}

static bool header_is(rd_kafka_message_t *msg, const char *name, const char *want)
{
	rd_kafka_headers_t *h = NULL;
	const void *v;
	size_t len;
	return rd_kafka_message_headers(msg, &h) == RD_KAFKA_RESP_ERR_NO_ERROR &&
	       rd_kafka_header_get_last(h, name, &v, &len) == RD_KAFKA_RESP_ERR_NO_ERROR &&
	       len == strlen(want) && memcmp(v, want, len) == 0;
}

/* What the test asks of a message on the dead-letter topic. */
struct dead_letter {
	bool of_comment; /* pledged.event_id c-1 */
	bool erased;     /* pledged.erased true */
	size_t len;
};

/* The dead-letter topic, from its start to its end, into out (at most
 * max): librdkafka's simple consumer, no group to leave. */
static int read_topic(const char *brokers, struct dead_letter *out, int max)
{
	char err[256];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof err);
	rd_kafka_conf_set(conf, "enable.partition.eof", "true", err, sizeof err);
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, DLQ_TOPIC, NULL);
	rd_kafka_consume_start(rkt, 0, RD_KAFKA_OFFSET_BEGINNING);
	int n = 0;
	for (int waited = 0; waited < 100;) {
		rd_kafka_message_t *msg = rd_kafka_consume(rkt, 0, 100);
		if (!msg) {
			waited++;
			continue;
		}
		bool end = msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF;
		if (!msg->err && n < max)
			out[n++] = (struct dead_letter){header_is(msg, "pledged.event_id", "c-1"),
							header_is(msg, "pledged.erased", "true"),
							msg->len};
		rd_kafka_message_destroy(msg);
		if (end)
			break;
	}
	rd_kafka_consume_stop(rkt, 0);
	rd_kafka_topic_destroy(rkt);
	rd_kafka_destroy(rk);
	return n;
}

enum held { QUEUED, IN_FLIGHT };

static void test_erasure_while_held(enum held how)
{
	struct kt_env e;
	kt_env_start(&e, 2, 1, how == QUEUED ? "dlq-queued" : "dlq-in-flight");
	cluster = e.cluster.mc;
	rd_kafka_mock_partition_set_leader(cluster, KT_TOPIC, 0, 1);
	CHECK_INT(rd_kafka_mock_topic_create(cluster, DLQ_TOPIC, 1, 1), 0);
	rd_kafka_mock_partition_set_leader(cluster, DLQ_TOPIC, 0, how == QUEUED ? -1 : DLQ_BROKER);
	if (how == IN_FLIGHT) /* the next produce request, the rejection's, answered late and refused */
		rd_kafka_mock_broker_push_request_error_rtts(cluster, DLQ_BROKER, 0 /* Produce */, 1,
							     RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, 4000);

	struct dlq *d;
	char err[512];
	struct dlq_options dopt = {.brokers = e.cluster.bootstraps, .topic = DLQ_TOPIC};
	CHECK_INT(dlq_start(&d, e.st, fixture_writer(e.st), &e.m, &dopt, err, sizeof err), 0);
	e.opt.ingest = erase_then_reopen;
	e.opt.on_erasure = dlq_erasure;
	e.opt.on_erasure_arg = d;
	struct kt_runner r;
	kt_runner_start(&r, e.st, &e.m, &e.opt);

	/* A comment on a campaign nobody opened: kept, and queued for the topic. */
	CHECK(kt_produce_json(e.producer, KT_TOPIC, 0, "nowhere",
			      "{\"v\":1,\"type\":\"comment.posted\",\"id\":\"c-1\",\"at\":1700000000000,"
			      "\"campaign\":\"nowhere\",\"comment\":\"k1\",\"supporter\":\"s-gone\","
			      "\"text\":\"" SECRET "\"}") >= 0);
	CHECK(kt_wait(backlog_one, &e.m, 20000));
	kt_sleep_ms(1500); /* handed to librdkafka: queued (no leader) or in flight */
	CHECK(kt_produce_json(e.producer, KT_TOPIC, 0, NULL,
			      "{\"v\":1,\"type\":\"supporter.forgotten\",\"id\":\"f-1\","
			      "\"at\":1700000000001,\"supporter\":\"s-gone\"}") >= 0);
	CHECK(kt_wait(backlog_none, &e.m, 30000));

	struct dead_letter letters[8];
	int n = read_topic(e.cluster.bootstraps, letters, 8);
	CHECK_INT(n, 1); /* once */
	for (int i = 0; i < n; i++) {
		CHECK(letters[i].of_comment);
		CHECK(letters[i].erased);
		CHECK_INT((int)letters[i].len, 0); /* not the comment the erasure emptied */
	}
	CHECK_INT(kt_runner_stop(&r), 0);
	dlq_stop(d);
	kt_env_stop(&e);
}

/* A key the dead-letter producer sends to partition p of two (librdkafka's default partitioner). */
static const char *key_for(int32_t p, char *buf, size_t size)
{
	for (int i = 0;; i++) {
		snprintf(buf, size, "key-%d", i);
		if (rd_kafka_msg_partitioner_consistent(NULL, buf, strlen(buf), 2, NULL, NULL) == p)
			return buf;
	}
}

/* A comment on a campaign nobody opened, keyed by key: kept as a rejection. */
static void reject_one(struct kt_env *e, const char *key, int i)
{
	char json[256];
	snprintf(json, sizeof json,
		 "{\"v\":1,\"type\":\"comment.posted\",\"id\":\"b-%d\",\"at\":1700000000000,"
		 "\"campaign\":\"nowhere\",\"comment\":\"b%d\",\"supporter\":\"s\",\"text\":\"t\"}",
		 i, i);
	CHECK(kt_produce_json(e->producer, KT_TOPIC, 0, key, json) >= 0);
}

static bool backlog_three(void *m)
{
	return backlog_is(m, 3);
}

static bool failed_once(void *m)
{
	return atomic_load(&((struct metrics *)m)->dlq_failures) > 0;
}

/* A mock cluster with the events' topic and a dead-letter topic of
 * `partitions`, all led by DLQ_BROKER (a test then changes that, and primes
 * the errors it wants). */
static void forwarder_env_start(struct kt_env *e, const char *group, int partitions)
{
	kt_env_start(e, 2, 1, group);
	cluster = e->cluster.mc;
	rd_kafka_mock_partition_set_leader(cluster, KT_TOPIC, 0, 1);
	CHECK_INT(rd_kafka_mock_topic_create(cluster, DLQ_TOPIC, partitions, 1), 0);
	for (int p = 0; p < partitions; p++)
		rd_kafka_mock_partition_set_leader(cluster, DLQ_TOPIC, p, DLQ_BROKER);
}

/* The forwarder on e's data dir, and a consumer feeding it. */
static void forwarder_start(struct kt_env *e, struct dlq **d, struct kt_runner *r)
{
	char err[512];
	struct dlq_options dopt = {.brokers = e->cluster.bootstraps, .topic = DLQ_TOPIC};
	CHECK_INT(dlq_start(d, e->st, fixture_writer(e->st), &e->m, &dopt, err, sizeof err), 0);
	kt_runner_start(r, e->st, &e->m, &e->opt);
}

static void forwarder_stop(struct kt_env *e, struct dlq *d, struct kt_runner *r)
{
	CHECK_INT(kt_runner_stop(r), 0);
	dlq_stop(d);
	kt_env_stop(e);
}

/*
 * The dead-letter topic's partition 0 has no leader (its rejection waits,
 * up to message.timeout.ms), partition 1 refuses the next request at once:
 * the forwarder stops producing until all is back, and a rejection kept
 * meanwhile must show in the backlog all the same.
 */
static void test_backlog_while_failed(void)
{
	struct kt_env e;
	forwarder_env_start(&e, "dlq-backlog", 2);
	rd_kafka_mock_partition_set_leader(cluster, DLQ_TOPIC, 0, -1);
	rd_kafka_mock_broker_push_request_error_rtts(cluster, DLQ_BROKER, 0 /* Produce */, 1,
						     RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, 0);
	struct dlq *d;
	struct kt_runner r;
	char k0[16], k1[16];
	forwarder_start(&e, &d, &r);

	reject_one(&e, key_for(0, k0, sizeof k0), 1);
	reject_one(&e, key_for(1, k1, sizeof k1), 2);
	CHECK(kt_wait(failed_once, &e.m, 20000));
	reject_one(&e, k1, 3);
	CHECK(kt_wait(backlog_three, &e.m, 10000));

	/* Then all of it goes, once partition 0 has its leader back. */
	rd_kafka_mock_partition_set_leader(cluster, DLQ_TOPIC, 0, DLQ_BROKER);
	CHECK(kt_wait(backlog_none, &e.m, 30000));
	forwarder_stop(&e, d, &r);
}

/* The broker answers the first request with a sequence number it did not
 * expect: librdkafka's idempotent producer stops for good. */
static void test_fatal_error(void)
{
	struct kt_env e;
	forwarder_env_start(&e, "dlq-fatal", 1);
	rd_kafka_mock_broker_push_request_error_rtts(
		cluster, DLQ_BROKER, 0 /* Produce */, 1, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, 0);
	struct dlq *d;
	struct kt_runner r;
	forwarder_start(&e, &d, &r);
	reject_one(&e, "k", 1);
	CHECK(kt_wait(failed_once, &e.m, 20000));
	CHECK(kt_wait(backlog_none, &e.m, 20000));
	struct dead_letter letters[4];
	CHECK_INT(read_topic(e.cluster.bootstraps, letters, 4), 1);
	forwarder_stop(&e, d, &r);
}

int main(void)
{
	test_erasure_while_held(QUEUED);
	test_erasure_while_held(IN_FLIGHT);
	test_backlog_while_failed();
	test_fatal_error();
	return check_done();
}
