/* kt.c — shared pieces of the Kafka tests; see kt.h. */
#include "kt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "event_codec.h"
#include "evlog.h"
#include "fixture.h"
#include "pl_error.h"
#include "proj_read.h"
#include "rejections.h"

void kt_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void kt_cluster_start(struct kt_cluster *k, int brokers, const char *topic, int partitions)
{
	char err[256];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_conf_set(conf, "log_level", "2", err, sizeof err);
	k->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
	if (!k->rk) {
		fprintf(stderr, "kt: %s\n", err);
		abort();
	}
	k->mc = rd_kafka_mock_cluster_new(k->rk, brokers);
	if (!k->mc || rd_kafka_mock_topic_create(k->mc, topic, partitions, 1)) {
		fprintf(stderr, "kt: cannot start mock cluster\n");
		abort();
	}
	snprintf(k->bootstraps, sizeof k->bootstraps, "%s", rd_kafka_mock_cluster_bootstraps(k->mc));
}

void kt_cluster_stop(struct kt_cluster *k)
{
	rd_kafka_mock_cluster_destroy(k->mc);
	rd_kafka_destroy(k->rk);
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
	(void)rk;
	(void)opaque;
	*(int64_t *)msg->_private = msg->err ? -1 : msg->offset;
}

rd_kafka_t *kt_producer_new(const char *brokers, const char *const *extra)
{
	char err[256];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof err) ||
	    rd_kafka_conf_set(conf, "linger.ms", "0", err, sizeof err) ||
	    rd_kafka_conf_set(conf, "log_level", "2", err, sizeof err))
		goto fail;
	rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
	for (size_t i = 0; extra && extra[i]; i++) {
		char kv[256];
		snprintf(kv, sizeof kv, "%s", extra[i]);
		char *eq = strchr(kv, '=');
		*eq = '\0';
		if (rd_kafka_conf_set(conf, kv, eq + 1, err, sizeof err))
			goto fail;
	}
	rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
	if (p)
		return p;
fail:
	fprintf(stderr, "kt: producer: %s\n", err);
	abort();
}

int64_t kt_produce(rd_kafka_t *p, const char *topic, int32_t partition, const char *key,
		   const void *value, size_t len)
{
	int64_t offset = -2;
	rd_kafka_resp_err_t err = rd_kafka_producev(
		p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
		RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
		RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_OPAQUE(&offset), RD_KAFKA_V_END);
	if (err) {
		fprintf(stderr, "kt: produce: %s\n", rd_kafka_err2str(err));
		return -1;
	}
	while (offset == -2)
		rd_kafka_poll(p, 10);
	return offset;
}

int64_t kt_produce_json(rd_kafka_t *p, const char *topic, int32_t partition, const char *key,
			const char *json)
{
	msgpack_sbuffer buf;
	char err[160];
	msgpack_sbuffer_init(&buf);
	if (pl_json_to_msgpack(json, strlen(json), &buf, err, sizeof err)) {
		fprintf(stderr, "kt: bad JSON %s: %s\n", json, err);
		abort();
	}
	int64_t off = kt_produce(p, topic, partition, key, buf.data, buf.size);
	msgpack_sbuffer_destroy(&buf);
	return off;
}

int kt_campaign_build(const char *id, int n, char ***evs, struct kt_expect *e)
{
	int cap = 1 + n * 3, count = 0;
	char **out = calloc((size_t)cap, sizeof *out);
	int64_t at = 1700000000000;
	char buf[512];
	memset(e, 0, sizeof *e);
	snprintf(e->id, sizeof e->id, "%s", id);
	snprintf(buf, sizeof buf,
		 "{\"v\":1,\"type\":\"campaign.opened\",\"id\":\"%s-open\",\"at\":%lld,"
		 "\"campaign\":\"%s\",\"title\":\"Campaign %s\",\"owner\":\"o\",\"currency\":\"EUR\","
		 "\"target\":100000}",
		 id, (long long)at, id, id);
	out[count++] = strdup(buf);
	for (int j = 0; j < n; j++) {
		at += 60000;
		snprintf(buf, sizeof buf,
			 "{\"v\":1,\"type\":\"pledge.created\",\"id\":\"%s-p%d\",\"at\":%lld,"
			 "\"campaign\":\"%s\",\"pledge\":\"%s-pl%d\",\"supporter\":\"s%d\","
			 "\"amount\":%d,\"currency\":\"EUR\",\"name\":\"Supporter %d\"}",
			 id, j, (long long)at, id, id, j, j % 7, 100 + j, j % 7);
		out[count++] = strdup(buf);
		e->raised += 100 + j;
		e->pledges++;
		if (j % 5 == 4) {
			snprintf(buf, sizeof buf,
				 "{\"v\":1,\"type\":\"pledge.refunded\",\"id\":\"%s-r%d\",\"at\":%lld,"
				 "\"campaign\":\"%s\",\"pledge\":\"%s-pl%d\",\"amount\":50}",
				 id, j, (long long)at + 1, id, id, j);
			out[count++] = strdup(buf);
			e->raised -= 50;
		}
		if (j % 4 == 3) {
			snprintf(buf, sizeof buf,
				 "{\"v\":1,\"type\":\"comment.posted\",\"id\":\"%s-c%d\",\"at\":%lld,"
				 "\"campaign\":\"%s\",\"comment\":\"%s-cm%d\",\"supporter\":\"s%d\","
				 "\"text\":\"thanks %d\"}",
				 id, j, (long long)at + 2, id, id, j, j % 7, j);
			out[count++] = strdup(buf);
			e->comments++;
		}
	}
	e->supporters = n < 7 ? n : 7;
	e->events = count;
	*evs = out;
	return count;
}

void kt_events_free(char **evs, int count)
{
	for (int i = 0; i < count; i++)
		free(evs[i]);
	free(evs);
}

bool kt_check_campaign(struct store *st, const struct kt_expect *e)
{
	struct store_txn t;
	struct proj_campaign c;
	bool ok = false;
	if (store_read_begin(st, &t))
		return false;
	enum store_slot slot;
	uint64_t gen;
	int rc = proj_live(&t, &slot, &gen);
	if (rc == 0)
		rc = proj_campaign_get(&t, slot, (struct pl_str){e->id, (uint32_t)strlen(e->id)}, &c);
	if (rc)
		fprintf(stderr, "campaign %s: %s\n", e->id, pl_strerror(rc));
	else if (c.totals.raised != e->raised || c.totals.pledges != e->pledges ||
		 c.totals.supporters != e->supporters || c.totals.comments != e->comments)
		fprintf(stderr,
			"campaign %s: got raised %lld pledges %lld supporters %lld comments %lld, "
			"want %lld %lld %lld %lld\n",
			e->id, (long long)c.totals.raised, (long long)c.totals.pledges,
			(long long)c.totals.supporters, (long long)c.totals.comments,
			(long long)e->raised, (long long)e->pledges, (long long)e->supporters,
			(long long)e->comments);
	else
		ok = true;
	store_abort(&t);
	return ok;
}

uint64_t kt_log_count(struct store *st)
{
	struct store_txn t;
	uint64_t seq = 0;
	if (store_read_begin(st, &t) == 0)
		evlog_last_seq(&t, &seq);
	store_abort(&t);
	return seq;
}

uint64_t kt_rejection_count(struct store *st)
{
	struct store_txn t;
	uint64_t n = 0;
	if (store_read_begin(st, &t) == 0)
		rejections_count(&t, &n);
	store_abort(&t);
	return n;
}

uint64_t kt_rejections_with(struct store *st, enum pl_reason reason)
{
	struct store_txn t;
	uint64_t n = 0;
	if (store_read_begin(st, &t))
		return 0;
	MDB_cursor *cur = store_cursor(&t, STORE_DB_REJECTIONS);
	MDB_val k, v;
	for (int op = MDB_FIRST; cur && mdb_cursor_get(cur, &k, &v, op) == 0; op = MDB_NEXT) {
		struct rejection_entry e;
		if (rejections_parse(&k, &v, &e) == 0 && e.reason == reason)
			n++;
	}
	if (cur)
		mdb_cursor_close(cur);
	store_abort(&t);
	return n;
}

struct offsets_wait {
	struct store *st;
	const char *topic;
	int n;
	const int64_t *ends;
};

static bool offsets_reached(void *arg)
{
	struct offsets_wait *w = arg;
	struct store_txn t;
	bool all = true;
	if (store_read_begin(w->st, &t))
		return false;
	for (int p = 0; p < w->n && all; p++) {
		struct evlog_offset off;
		if (w->ends[p] == 0)
			continue;
		all = evlog_offset_get(&t, w->topic, p, &off) == 0 && off.next == w->ends[p];
	}
	store_abort(&t);
	return all;
}

bool kt_wait_offsets(struct store *st, const char *topic, int n, const int64_t *ends,
		     int timeout_ms)
{
	struct offsets_wait w = {st, topic, n, ends};
	return kt_wait(offsets_reached, &w, timeout_ms);
}

bool kt_wait(bool (*cond)(void *arg), void *arg, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	while (!cond(arg)) {
		if (now_ms() > deadline)
			return false;
		kt_sleep_ms(20);
	}
	return true;
}

static void *runner_main(void *arg)
{
	struct kt_runner *r = arg;
	r->rc = consumer_run(r->c, &r->stop);
	return NULL;
}

void kt_runner_start(struct kt_runner *r, struct store *st, struct metrics *m,
		     const struct consumer_options *opt)
{
	char err[512];
	memset(r, 0, sizeof *r);
	atomic_init(&r->stop, false);
	r->st = st;
	if (consumer_new(&r->c, fixture_writer(st), m, opt, err, sizeof err)) {
		fprintf(stderr, "kt: consumer_new: %s\n", err);
		abort();
	}
	pthread_create(&r->thread, NULL, runner_main, r);
}

int kt_runner_stop(struct kt_runner *r)
{
	atomic_store(&r->stop, true);
	pthread_join(r->thread, NULL);
	consumer_free(r->c);
	r->c = NULL;
	/* As a process that stops: the next start opens the writer anew. */
	fixture_drop_writer(r->st);
	return r->rc;
}

/* Short group timeouts so that rebalances and restarts take seconds, not minutes. */
static const struct kafka_prop fast_group[] = {
	{"session.timeout.ms", "6000"},
	{"heartbeat.interval.ms", "500"},
	{"fetch.wait.max.ms", "20"},
	{"topic.metadata.refresh.interval.ms", "1000"},
};

struct consumer_options kt_consumer_options(const char *brokers, const char *group)
{
	return (struct consumer_options){
		.brokers = brokers,
		.topic = KT_TOPIC,
		.group = group,
		.kafka = fast_group,
		.kafka_count = sizeof fast_group / sizeof fast_group[0],
		.batch_max = 50,
		.batch_ms = 5,
		.retry_ms = 200,
	};
}

void kt_env_start(struct kt_env *e, int brokers, int partitions, const char *group)
{
	kt_cluster_start(&e->cluster, brokers, KT_TOPIC, partitions);
	e->producer = kt_producer_new(e->cluster.bootstraps, NULL);
	e->st = fixture_store(e->dir, sizeof e->dir, 0);
	metrics_init(&e->m);
	e->opt = kt_consumer_options(e->cluster.bootstraps, group);
}

void kt_env_stop(struct kt_env *e)
{
	metrics_deinit(&e->m);
	rd_kafka_destroy(e->producer);
	fixture_close(e->st);
	fixture_remove(e->dir);
	kt_cluster_stop(&e->cluster);
}

void kt_store_close(struct store *st)
{
	fixture_close(st);
}
