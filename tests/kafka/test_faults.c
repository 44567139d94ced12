/*
 * test_faults.c — the consumer under failure, over TCP against the mock
 * cluster: a broker down and up, a whole cluster down and up, injected
 * Fetch/OffsetCommit/Heartbeat errors, offset commits answered late or
 * refused (also as the partitions go) or retried after a later one, the
 * group's offsets unreadable at an assignment, a data dir that refuses
 * writes for a while, a broker that restarted empty (new incarnation, and
 * the same incarnation id with a shorter log), data deleted by retention
 * before it was read, and transaction markers just before the offset a
 * catch-up waits for; and a stop once the brokers went with a commit
 * unanswered. Totals must stay exact, and nothing may be skipped silently.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "clock.h"
#include "fixture.h"
#include "kt.h"
#include "partitioner.h"

#define PARTITIONS 4

struct feed {
	char **evs;
	int count, sent;
	struct kt_expect expect;
	int partition;
	int64_t *ends;
};

static void feed_init(struct feed *f, const char *id, int n, int partition, int64_t *ends)
{
	f->count = kt_campaign_build(id, n, &f->evs, &f->expect);
	f->sent = 0;
	f->partition = partition;
	f->ends = ends;
}

/* One feed per partition, campaign PREFIX-i of n events on partition i. */
static void feeds_init(struct feed f[PARTITIONS], const char *prefix, int n, int64_t *ends)
{
	for (int i = 0; i < PARTITIONS; i++) {
		char id[16];
		snprintf(id, sizeof id, "%s-%d", prefix, i);
		feed_init(&f[i], id, n, i, ends);
	}
}

static void feed_send(rd_kafka_t *p, struct feed *f, int upto)
{
	for (; f->sent < upto && f->sent < f->count; f->sent++) {
		int64_t off = kt_produce_json(p, KT_TOPIC, f->partition, f->expect.id, f->evs[f->sent]);
		CHECK(off >= 0);
		f->ends[f->partition] = off + 1;
	}
}

/*
 * Sends the rest of the feed at once through a producer that batches, so
 * the broker holds it as a few large record batches and a consumer fetches
 * much of it in one response.
 */
static void feed_send_burst(const char *brokers, struct feed *f)
{
	static const char *const batching[] = {"linger.ms=100", NULL};
	rd_kafka_t *p = kt_producer_new(brokers, batching);
	int n = f->count - f->sent;
	int64_t *offsets = calloc((size_t)n, sizeof *offsets);
	for (int i = 0; i < n; i++) {
		msgpack_sbuffer buf;
		char err[160];
		msgpack_sbuffer_init(&buf);
		CHECK_INT(pl_json_to_msgpack(f->evs[f->sent + i], strlen(f->evs[f->sent + i]), &buf,
					     err, sizeof err), 0);
		offsets[i] = -2;
		CHECK_INT(rd_kafka_producev(p, RD_KAFKA_V_TOPIC(KT_TOPIC),
					    RD_KAFKA_V_PARTITION(f->partition),
					    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
					    RD_KAFKA_V_KEY(f->expect.id, strlen(f->expect.id)),
					    RD_KAFKA_V_VALUE(buf.data, buf.size),
					    RD_KAFKA_V_OPAQUE(&offsets[i]), RD_KAFKA_V_END),
			  0);
		msgpack_sbuffer_destroy(&buf);
	}
	CHECK_INT(rd_kafka_flush(p, 10000), 0);
	for (int i = 0; i < n; i++)
		CHECK(offsets[i] >= 0);
	f->ends[f->partition] = offsets[n - 1] + 1;
	f->sent = f->count;
	free(offsets);
	rd_kafka_destroy(p);
}

static struct metrics *state_metrics;
static enum consumer_state state_wanted;

static bool state_is(void *arg)
{
	(void)arg;
	return metrics_get_state(state_metrics, NULL, 0) == state_wanted;
}

static bool wait_state(struct metrics *m, enum consumer_state s, int timeout_ms)
{
	state_metrics = m;
	state_wanted = s;
	return kt_wait(state_is, NULL, timeout_ms);
}

/* Brokers going away, leaders moving, slow brokers and errors on the wire:
 * nothing lost, nothing doubled. */
static void test_broker_faults(void)
{
	struct kt_env e;
	int64_t ends[PARTITIONS] = {0};
	struct feed f[PARTITIONS];
	struct kt_runner r;
	kt_env_start(&e, 3, PARTITIONS, "faults");
	feeds_init(f, "bf", 40, ends);
	kt_runner_start(&r, e.st, &e.m, &e.opt);
	for (int i = 0; i < PARTITIONS; i++)
		feed_send(e.producer, &f[i], f[i].count / 4);
	CHECK(kt_wait_offsets(e.st, KT_TOPIC, PARTITIONS, ends, 30000));

	/* One broker of three down, then up again. */
	CHECK_INT(rd_kafka_mock_broker_set_down(e.cluster.mc, 2), 0);
	kt_sleep_ms(1500);
	CHECK_INT(rd_kafka_mock_broker_set_up(e.cluster.mc, 2), 0);
	for (int i = 0; i < PARTITIONS; i++)
		feed_send(e.producer, &f[i], f[i].count / 2);
	CHECK(kt_wait_offsets(e.st, KT_TOPIC, PARTITIONS, ends, 60000));

	/* Every broker down: the consumer must say it is stalled, then recover. */
	for (int b = 1; b <= 3; b++)
		rd_kafka_mock_broker_set_down(e.cluster.mc, b);
	CHECK(wait_state(&e.m, CONSUMER_STALLED, 30000));
	for (int b = 1; b <= 3; b++)
		rd_kafka_mock_broker_set_up(e.cluster.mc, b);
	for (int i = 0; i < PARTITIONS; i++)
		feed_send(e.producer, &f[i], f[i].count * 3 / 4);
	CHECK(kt_wait_offsets(e.st, KT_TOPIC, PARTITIONS, ends, 60000));
	CHECK(wait_state(&e.m, CONSUMER_CONSUMING, 10000));

	/* Partition leaders move to other brokers while every broker is slow,
	 * and some produce requests fail (the producer retries them). */
	for (int i = 0; i < PARTITIONS; i++)
		CHECK_INT(rd_kafka_mock_partition_set_leader(e.cluster.mc, KT_TOPIC, i,
							     1 + (i + 1) % 3), 0);
	for (int b = 1; b <= 3; b++)
		CHECK_INT(rd_kafka_mock_broker_set_rtt(e.cluster.mc, b, 200), 0);
	rd_kafka_mock_push_request_errors(e.cluster.mc, 0 /* Produce */, 3,
					  RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
					  RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
					  RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS);
	for (int i = 0; i < PARTITIONS; i++)
		feed_send(e.producer, &f[i], f[i].count * 7 / 8);
	CHECK(kt_wait_offsets(e.st, KT_TOPIC, PARTITIONS, ends, 60000));
	for (int b = 1; b <= 3; b++)
		rd_kafka_mock_broker_set_rtt(e.cluster.mc, b, 0);

	/* Errors on Fetch, OffsetCommit and Heartbeat requests. */
	rd_kafka_mock_push_request_errors(e.cluster.mc, 1 /* Fetch */, 6,
					  RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
					  RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
					  RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
					  RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
					  RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
					  RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE);
	rd_kafka_mock_push_request_errors(e.cluster.mc, 8 /* OffsetCommit */, 4,
					  RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
					  RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
					  RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS,
					  RD_KAFKA_RESP_ERR_NOT_COORDINATOR);
	rd_kafka_mock_push_request_errors(e.cluster.mc, 12 /* Heartbeat */, 2,
					  RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
					  RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT);
	for (int i = 0; i < PARTITIONS; i++)
		feed_send(e.producer, &f[i], f[i].count);
	CHECK(kt_wait_offsets(e.st, KT_TOPIC, PARTITIONS, ends, 60000));
	CHECK_INT(kt_runner_stop(&r), 0);

	int valid = 0;
	for (int i = 0; i < PARTITIONS; i++) {
		CHECK(kt_check_campaign(e.st, &f[i].expect));
		valid += f[i].count;
		kt_events_free(f[i].evs, f[i].count);
	}
	CHECK_INT(kt_log_count(e.st), valid);
	CHECK_INT(kt_rejection_count(e.st), 0);
	CHECK_INT(atomic_load(&e.m.duplicates), 0);
	kt_env_stop(&e);
}

/* The consumer group's offsets of topic's first n partitions, into out. */
/* A client of group that joins nothing: it only reads or writes its offsets. */
static rd_kafka_t *group_client(const char *brokers, const char *group)
{
	rd_kafka_conf_t *c = rd_kafka_conf_new();
	char err[256];
	CHECK_INT(rd_kafka_conf_set(c, "bootstrap.servers", brokers, err, sizeof err), 0);
	CHECK_INT(rd_kafka_conf_set(c, "group.id", group, err, sizeof err), 0);
	CHECK_INT(rd_kafka_conf_set(c, "enable.auto.commit", "false", err, sizeof err), 0);
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
	CHECK(rk != NULL);
	return rk;
}

static void group_offsets(const char *brokers, const char *group, int n, int64_t *out)
{
	rd_kafka_t *rk = group_client(brokers, group);
	rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(n);
	for (int i = 0; i < n; i++)
		rd_kafka_topic_partition_list_add(parts, KT_TOPIC, i);
	CHECK_INT(rd_kafka_committed(rk, parts, 10000), 0);
	for (int i = 0; i < n; i++)
		out[i] = parts->elems[i].err ? -1 : parts->elems[i].offset;
	rd_kafka_topic_partition_list_destroy(parts);
	rd_kafka_destroy(rk);
}

/*
 * The group's coordinator refuses an offset commit, then answers some late,
 * past the consumer's wait for them (which then sends the next ones without
 * waiting): nothing lost or doubled, the batches written unconfirmed are
 * counted, and the group's offsets reach the end all the same, as each
 * batch is committed before it is written.
 */
static void test_slow_commits(void)
{
	struct kt_env e;
	int64_t ends[PARTITIONS] = {0}, committed[PARTITIONS];
	struct feed f[PARTITIONS];
	struct kt_runner r;
	kt_env_start(&e, 3, PARTITIONS, "slow-commits");
	CHECK_INT(rd_kafka_mock_coordinator_set(e.cluster.mc, "group", "slow-commits", 1), 0);
	feeds_init(f, "sc", 40, ends);
	kt_runner_start(&r, e.st, &e.m, &e.opt);
	rd_kafka_mock_push_request_errors(e.cluster.mc, 8 /* OffsetCommit */, 1,
					  RD_KAFKA_RESP_ERR_OFFSET_METADATA_TOO_LARGE);
	for (int i = 0; i < PARTITIONS; i++)
		feed_send(e.producer, &f[i], f[i].count / 4);
	CHECK(kt_wait_offsets(e.st, KT_TOPIC, PARTITIONS, ends, 60000));
	CHECK(atomic_load(&e.m.commits_unconfirmed) >= 1);
	CHECK_INT(rd_kafka_mock_broker_push_request_error_rtts(
			  e.cluster.mc, 1, 8 /* OffsetCommit */, 6, RD_KAFKA_RESP_ERR_NO_ERROR, 1500,
			  RD_KAFKA_RESP_ERR_NO_ERROR, 1500, RD_KAFKA_RESP_ERR_NO_ERROR, 1500,
			  RD_KAFKA_RESP_ERR_NOT_COORDINATOR, 1500, RD_KAFKA_RESP_ERR_NO_ERROR, 1500,
			  RD_KAFKA_RESP_ERR_NO_ERROR, 1500),
		  0);
	uint64_t refused = atomic_load(&e.m.commits_unconfirmed);
	for (int round = 2; round <= 4; round++) {
		for (int i = 0; i < PARTITIONS; i++)
			feed_send(e.producer, &f[i], f[i].count * round / 4);
		CHECK(kt_wait_offsets(e.st, KT_TOPIC, PARTITIONS, ends, 60000));
	}
	CHECK(atomic_load(&e.m.commits_unconfirmed) > refused);
	CHECK_INT(kt_runner_stop(&r), 0);
	group_offsets(e.cluster.bootstraps, "slow-commits", PARTITIONS, committed);
	int valid = 0;
	for (int i = 0; i < PARTITIONS; i++) {
		CHECK_INT(committed[i], ends[i]);
		CHECK(kt_check_campaign(e.st, &f[i].expect));
		valid += f[i].count;
		kt_events_free(f[i].evs, f[i].count);
	}
	CHECK_INT(kt_log_count(e.st), valid);
	CHECK_INT(kt_rejection_count(e.st), 0);
	kt_env_stop(&e);
}

/* Whether the group's offsets of every partition reach ends, within 10 s. */
static bool group_reaches(const char *brokers, const char *group, const int64_t *ends)
{
	int64_t committed[PARTITIONS];
	for (int tries = 0; tries < 100; tries++) {
		group_offsets(brokers, group, PARTITIONS, committed);
		bool behind = false;
		for (int i = 0; i < PARTITIONS; i++)
			behind |= committed[i] < ends[i];
		if (!behind)
			return true;
		kt_sleep_ms(100);
	}
	for (int i = 0; i < PARTITIONS; i++)
		if (committed[i] < ends[i])
			fprintf(stderr, "partition %d: the group at %lld, the data dir at %lld\n", i,
				(long long)committed[i], (long long)ends[i]);
	return false;
}

/* Sends the next quarter of each feed while the coordinator refuses every offset
 * commit (REBALANCE_IN_PROGRESS, which librdkafka does not retry). */
static void send_refused(struct kt_env *e, struct feed *f, int64_t *ends)
{
	rd_kafka_resp_err_t refused[100];
	for (int i = 0; i < 100; i++)
		refused[i] = RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS;
	rd_kafka_mock_push_request_errors_array(e->cluster.mc, 8 /* OffsetCommit */, 100, refused);
	for (int i = 0; i < PARTITIONS; i++)
		feed_send(e->producer, &f[i], f[i].sent + f[i].count / 4);
	CHECK(kt_wait_offsets(e->st, KT_TOPIC, PARTITIONS, ends, 30000));
	int64_t committed[PARTITIONS];
	group_offsets(e->cluster.bootstraps, "refused-commits", PARTITIONS, committed);
	bool behind = false;
	for (int i = 0; i < PARTITIONS; i++)
		behind |= committed[i] < ends[i];
	CHECK(behind); /* the refusals did take effect */
}

/*
 * The coordinator refuses the offset commits of batches, which are written
 * all the same, and the partitions then get nothing new: the group's
 * offsets must still reach what this instance shows (the next holder waits
 * only that far), once the coordinator takes commits again, whether this
 * instance runs on meanwhile or stops and starts again.
 */
static void test_refused_commits(void)
{
	struct kt_env e;
	int64_t ends[PARTITIONS] = {0};
	struct feed f[PARTITIONS];
	struct kt_runner r;
	kt_env_start(&e, 1, PARTITIONS, "refused-commits");
	e.opt.partitioner = partitioner_named(PARTITIONER_DEFAULT); /* catch-up marks */
	feeds_init(f, "rc", 20, ends);
	kt_runner_start(&r, e.st, &e.m, &e.opt);
	for (int i = 0; i < PARTITIONS; i++)
		feed_send(e.producer, &f[i], f[i].count / 4);
	CHECK(kt_wait_offsets(e.st, KT_TOPIC, PARTITIONS, ends, 30000));
	/* Running on: the refused offsets are sent again. */
	send_refused(&e, f, ends);
	rd_kafka_mock_clear_request_errors(e.cluster.mc, 8);
	CHECK(group_reaches(e.cluster.bootstraps, "refused-commits", ends));
	/* Stopped while refused: told at the next start. */
	send_refused(&e, f, ends);
	CHECK_INT(kt_runner_stop(&r), 0);
	rd_kafka_mock_clear_request_errors(e.cluster.mc, 8);
	kt_runner_start(&r, e.st, &e.m, &e.opt);
	CHECK(group_reaches(e.cluster.bootstraps, "refused-commits", ends));
	for (int i = 0; i < PARTITIONS; i++)
		feed_send(e.producer, &f[i], f[i].count);
	CHECK(kt_wait_offsets(e.st, KT_TOPIC, PARTITIONS, ends, 30000));
	CHECK_INT(kt_runner_stop(&r), 0);
	for (int i = 0; i < PARTITIONS; i++) {
		CHECK(kt_check_campaign(e.st, &f[i].expect));
		kt_events_free(f[i].evs, f[i].count);
	}
	kt_env_stop(&e);
}

/*
 * Starts r, writes half of each feed and waits until the group has its
 * offsets; the next commit is then answered rtt_ms late, with err.
 */
static void half_then_late_commit(struct kt_env *e, struct feed f[PARTITIONS], int64_t *ends,
				  struct kt_runner *r, rd_kafka_resp_err_t err, int rtt_ms)
{
	kt_runner_start(r, e->st, &e->m, &e->opt);
	for (int i = 0; i < PARTITIONS; i++)
		feed_send(e->producer, &f[i], f[i].count / 2);
	CHECK(kt_wait_offsets(e->st, KT_TOPIC, PARTITIONS, ends, 30000));
	CHECK(group_reaches(e->cluster.bootstraps, e->opt.group, ends));
	CHECK_INT(rd_kafka_mock_broker_push_request_error_rtts(e->cluster.mc, 1, 8 /* OffsetCommit */,
							       1, err, rtt_ms),
		  0);
}

/*
 * The partitions go (here: the instance stops, and another would hold them
 * next) while the commit of the last batch is unanswered, and the group
 * then refuses it: the group must still end at what this data dir holds,
 * as the next holder's campaigns wait only until its data dir reaches the
 * group's offset. One message makes one batch and one commit, refused and
 * answered 4 s late, past serve's 1 s wait.
 */
static void test_revoke_commits(void)
{
	struct kt_env e;
	int64_t ends[PARTITIONS] = {0}, committed[PARTITIONS];
	struct feed f[PARTITIONS];
	struct kt_runner r;
	kt_env_start(&e, 1, PARTITIONS, "revoke-commits");
	e.opt.partitioner = partitioner_named(PARTITIONER_DEFAULT); /* catch-up marks */
	feeds_init(f, "vc", 20, ends);
	half_then_late_commit(&e, f, ends, &r, RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS, 4000);
	feed_send(e.producer, &f[0], f[0].sent + 1);
	CHECK(kt_wait_offsets(e.st, KT_TOPIC, PARTITIONS, ends, 30000));
	CHECK_INT(kt_runner_stop(&r), 0);
	group_offsets(e.cluster.bootstraps, "revoke-commits", PARTITIONS, committed);
	for (int i = 0; i < PARTITIONS; i++) {
		CHECK_INT(committed[i], ends[i]);
		kt_events_free(f[i].evs, f[i].count);
	}
	kt_env_stop(&e);
}

/*
 * The brokers go while the commit of the last batch is unanswered, and the
 * instance is then stopped: librdkafka 2.0's close waits for that commit
 * for ever (librdkafka issue 3740), so a stop must give up on the group
 * after its bound and still end, with every written batch in the data dir.
 */
static void test_stop_brokers_gone(void)
{
	struct kt_env e;
	int64_t ends[PARTITIONS] = {0};
	struct feed f[PARTITIONS];
	struct kt_runner r;
	kt_env_start(&e, 1, PARTITIONS, "stop-brokers-gone");
	feeds_init(f, "sg", 20, ends);
	half_then_late_commit(&e, f, ends, &r, RD_KAFKA_RESP_ERR_NO_ERROR, 4000);
	feed_send(e.producer, &f[0], f[0].sent + 1);
	CHECK(kt_wait_offsets(e.st, KT_TOPIC, PARTITIONS, ends, 30000));
	CHECK_INT(rd_kafka_mock_broker_set_down(e.cluster.mc, 1), 0);
	int64_t start = clock_mono_ms();
	CHECK_INT(kt_runner_stop(&r), 0);
	/* Within the bounds of the revoke's wait and of the close. */
	CHECK(clock_mono_ms() - start < 40000);
	CHECK(kt_wait_offsets(e.st, KT_TOPIC, PARTITIONS, ends, 1000));
	CHECK_INT(rd_kafka_mock_broker_set_up(e.cluster.mc, 1), 0);
	for (int i = 0; i < PARTITIONS; i++)
		kt_events_free(f[i].evs, f[i].count);
	kt_env_stop(&e);
}

/*
 * A batch's commit is answered late with a transient error, which
 * librdkafka retries after the next batch's commit was taken: the retry
 * lowers the group's offset, both answers say taken, and the group must
 * still end at what this data dir holds, running and stopped.
 */
static void test_retried_commits(void)
{
	struct kt_env e;
	int64_t ends[PARTITIONS] = {0}, committed[PARTITIONS];
	struct feed f[PARTITIONS];
	struct kt_runner r;
	kt_env_start(&e, 1, PARTITIONS, "retried-commits");
	e.opt.partitioner = partitioner_named(PARTITIONER_DEFAULT); /* catch-up marks */
	feeds_init(f, "rt", 20, ends);
	half_then_late_commit(&e, f, ends, &r, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, 3000);
	/* One message, one batch: written once its commit is overdue (1 s),
	 * then the next, whose commit is taken before the first's answer. */
	for (int n = 0; n < 2; n++) {
		feed_send(e.producer, &f[0], f[0].sent + 1);
		CHECK(kt_wait_offsets(e.st, KT_TOPIC, PARTITIONS, ends, 30000));
	}
	kt_sleep_ms(3000); /* past the first commit's retry */
	CHECK(group_reaches(e.cluster.bootstraps, "retried-commits", ends));
	CHECK_INT(kt_runner_stop(&r), 0);
	group_offsets(e.cluster.bootstraps, "retried-commits", PARTITIONS, committed);
	for (int i = 0; i < PARTITIONS; i++) {
		CHECK_INT(committed[i], ends[i]);
		kt_events_free(f[i].evs, f[i].count);
	}
	kt_env_stop(&e);
}

/* Commits offsets for the group, as an instance that read that far would have. */
static void commit_for_group(const char *brokers, const char *group, int n, const int64_t *offsets)
{
	rd_kafka_t *rk = group_client(brokers, group);
	rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(n);
	for (int i = 0; i < n; i++)
		rd_kafka_topic_partition_list_add(parts, KT_TOPIC, i)->offset = offsets[i];
	CHECK_INT(rd_kafka_commit(rk, parts, 0), 0);
	rd_kafka_topic_partition_list_destroy(parts);
	rd_kafka_destroy(rk);
}

/*
 * The group's offsets cannot be read when the partitions are assigned (the
 * coordinator answers every OffsetFetch "loading"): the campaigns are
 * answered at once, as documented, but nothing of those partitions may be
 * committed until the group's offsets are learned, or the batches of this
 * data dir, behind another instance's, would lower them.
 */
static void test_unknown_group_offsets(void)
{
	struct kt_env e;
	int64_t ends[PARTITIONS] = {0}, ahead[PARTITIONS], committed[PARTITIONS];
	struct feed f[PARTITIONS];
	struct kt_runner r;
	kt_env_start(&e, 1, PARTITIONS, "unknown-offsets");
	e.opt.partitioner = partitioner_named(PARTITIONER_DEFAULT); /* catch-up marks */
	feeds_init(f, "uo", 20, ends);
	for (int i = 0; i < PARTITIONS; i++) {
		feed_send(e.producer, &f[i], f[i].count / 2);
		ahead[i] = ends[i] + 5; /* where another instance had read to */
	}
	commit_for_group(e.cluster.bootstraps, "unknown-offsets", PARTITIONS, ahead);
	rd_kafka_resp_err_t loading[1000];
	for (int i = 0; i < 1000; i++)
		loading[i] = RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS;
	rd_kafka_mock_push_request_errors_array(e.cluster.mc, 9 /* OffsetFetch */, 1000, loading);
	kt_runner_start(&r, e.st, &e.m, &e.opt);
	CHECK(kt_wait_offsets(e.st, KT_TOPIC, PARTITIONS, ends, 30000));
	rd_kafka_mock_clear_request_errors(e.cluster.mc, 9);
	group_offsets(e.cluster.bootstraps, "unknown-offsets", PARTITIONS, committed);
	for (int i = 0; i < PARTITIONS; i++)
		CHECK_INT(committed[i], ahead[i]);
	/* Learned at last (asked again every 2 s): the data dir, ahead of the
	 * group once the rest is read, is committed. */
	for (int i = 0; i < PARTITIONS; i++)
		feed_send(e.producer, &f[i], f[i].count);
	CHECK(kt_wait_offsets(e.st, KT_TOPIC, PARTITIONS, ends, 30000));
	CHECK(group_reaches(e.cluster.bootstraps, "unknown-offsets", ends));
	CHECK_INT(kt_runner_stop(&r), 0);
	for (int i = 0; i < PARTITIONS; i++) {
		CHECK(kt_check_campaign(e.st, &f[i].expect));
		kt_events_free(f[i].evs, f[i].count);
	}
	kt_env_stop(&e);
}

/* Whether the consumer told HTTP an assignment (ownership_set). */
static bool assignment_recorded(void *arg)
{
	return ownership_group_generation(&((struct metrics *)arg)->owner) >= 0;
}

/* Whether HTTP was told every partition caught up: the consumer's thread tells it
 * after the writer's commit, which kt_wait_offsets sees first. */
static bool none_catching_up(void *arg)
{
	return ownership_catching_up(&((struct metrics *)arg)->owner) == 0;
}

/*
 * A new instance whose partitions' start the brokers do not say (their
 * ListOffsets refused once) reads them "from the beginning", an offset
 * below any: it is behind the group's offset all the same, and its
 * campaigns wait (catching_up) until it has read that far, rather than
 * be answered from an empty data dir as another instance had shown them;
 * nor is anything of them committed meanwhile, which would lower the
 * group's offsets.
 */
static void test_unknown_starts(void)
{
	struct kt_env e;
	int64_t ends[PARTITIONS] = {0}, committed[PARTITIONS];
	struct feed f[PARTITIONS];
	struct kt_runner r;
	kt_env_start(&e, 1, PARTITIONS, "unknown-starts");
	e.opt.partitioner = partitioner_named(PARTITIONER_DEFAULT); /* catch-up marks */
	feeds_init(f, "us", 20, ends);
	for (int i = 0; i < PARTITIONS; i++)
		feed_send(e.producer, &f[i], f[i].count);
	commit_for_group(e.cluster.bootstraps, "unknown-starts", PARTITIONS, ends);
	rd_kafka_mock_push_request_errors(e.cluster.mc, 2 /* ListOffsets */, 1,
					  RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
	/* Nothing is read for a while: the marks can be seen before it catches up. */
	CHECK_INT(rd_kafka_mock_broker_push_request_error_rtts(e.cluster.mc, 1, 1 /* Fetch */, 1,
							       RD_KAFKA_RESP_ERR_NO_ERROR, 3000),
		  0);
	kt_runner_start(&r, e.st, &e.m, &e.opt);
	CHECK(kt_wait(assignment_recorded, &e.m, 30000));
	CHECK_INT(ownership_catching_up(&e.m.owner), PARTITIONS);
	CHECK(kt_wait_offsets(e.st, KT_TOPIC, PARTITIONS, ends, 30000));
	CHECK(kt_wait(none_catching_up, &e.m, 30000));
	CHECK_INT(kt_runner_stop(&r), 0);
	group_offsets(e.cluster.bootstraps, "unknown-starts", PARTITIONS, committed);
	for (int i = 0; i < PARTITIONS; i++) {
		CHECK_INT(committed[i], ends[i]);
		CHECK(kt_check_campaign(e.st, &f[i].expect));
		kt_events_free(f[i].evs, f[i].count);
	}
	kt_env_stop(&e);
}

/* Big-endian n-byte integer v at *p, which it moves on. */
static void put_be(unsigned char **p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--)
		*(*p)++ = (unsigned char)(v >> (8 * i));
}

/*
 * Appends a transaction's commit marker (a control record) to partition of
 * a one-broker mock cluster, as a transactional producer's commit makes
 * the broker write: librdkafka's producer cannot, and the mock writes none
 * at a commit. Through a Produce request of our own, which the mock keeps
 * as it is. Returns the marker's offset, or -1.
 */
static int64_t append_commit_marker(const char *bootstraps, int32_t partition)
{
	unsigned char req[256], *p = req + 4;
	put_be(&p, 0, 2); /* Produce */
	put_be(&p, 3, 2); /* version 3: record batches v2 */
	put_be(&p, 1, 4); /* correlation id */
	put_be(&p, 0, 2); /* client id "" */
	put_be(&p, 0xffff, 2); /* transactional id: null */
	put_be(&p, 1, 2); /* acks */
	put_be(&p, 5000, 4); /* timeout */
	put_be(&p, 1, 4); /* one topic */
	put_be(&p, strlen(KT_TOPIC), 2);
	memcpy(p, KT_TOPIC, strlen(KT_TOPIC));
	p += strlen(KT_TOPIC);
	put_be(&p, 1, 4); /* one partition */
	put_be(&p, (uint32_t)partition, 4);
	put_be(&p, 78, 4); /* the batch's size, then the batch: */
	put_be(&p, 0, 8); /* base offset (the broker's to set) */
	put_be(&p, 66, 4); /* length after this field */
	put_be(&p, 0, 4); /* leader epoch */
	put_be(&p, 2, 1); /* magic */
	put_be(&p, 0, 4); /* CRC: checked only with check.crcs */
	put_be(&p, 0x30, 2); /* transactional | control */
	put_be(&p, 0, 4); /* last offset delta */
	put_be(&p, 0, 8);
	put_be(&p, 0, 8); /* timestamps */
	put_be(&p, 7, 8); /* producer id */
	put_be(&p, 0, 2); /* producer epoch */
	put_be(&p, 0xffffffff, 4); /* base sequence */
	put_be(&p, 1, 4); /* one record, lengths as zigzag varints: */
	static const unsigned char record[] = {
		16 << 1, 0, 0, 0, /* length, attributes, timestamp and offset deltas */
		4 << 1, 0, 0, 0, 1, /* key: version 0, type 1 (commit) */
		6 << 1, 0, 0, 0, 0, 0, 0, /* value: version 0, coordinator epoch 0 */
		0, /* no headers */
	};
	memcpy(p, record, sizeof record);
	p += sizeof record;
	unsigned char *start = req;
	put_be(&start, (uint64_t)(p - req - 4), 4); /* the request's size */

	struct sockaddr_in sa = {.sin_family = AF_INET};
	char host[64];
	int port = 0;
	if (sscanf(bootstraps, "%63[^:]:%d", host, &port) != 2 ||
	    inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return -1;
	sa.sin_port = htons((uint16_t)port);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	unsigned char resp[128];
	size_t got = 0;
	ssize_t n = 0;
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
	    write(fd, req, (size_t)(p - req)) == p - req)
		while (got < sizeof resp && (n = read(fd, resp + got, sizeof resp - got)) > 0)
			if ((got += (size_t)n) >= 4 && got >= 4 + ((size_t)resp[2] << 8 | resp[3]))
				break;
	if (fd >= 0)
		close(fd);
	/* size, correlation id, 1 topic, its name, 1 partition, its id, error, base offset */
	size_t at = 4 + 4 + 4 + 2 + strlen(KT_TOPIC) + 4 + 4;
	if (got < at + 2 + 8 || resp[at] || resp[at + 1])
		return -1;
	int64_t offset = 0;
	for (int i = 0; i < 8; i++)
		offset = offset << 8 | resp[at + 2 + i];
	return offset;
}

struct caught_up {
	struct metrics *m;
	struct store *st;
	const int64_t *ends; /* the offset each partition's data dir must stand at by then */
	bool early;          /* answering before its data dir got there */
};

/* Every partition held, none catching up; notes whether the data dirs stood at ends then. */
static bool all_caught_up(void *arg)
{
	struct caught_up *w = arg;
	int32_t held[PARTITIONS], count, generation;
	size_t n = 0;
	if (!ownership_held(&w->m->owner, held, PARTITIONS, &n, &count, &generation) ||
	    n != PARTITIONS ||
	    ownership_catching_up(&w->m->owner) != 0)
		return false;
	w->early = !kt_wait_offsets(w->st, KT_TOPIC, PARTITIONS, w->ends, 0);
	return true;
}

static bool no_lag(void *arg)
{
	return metrics_total_lag(arg) == 0;
}

/*
 * A topic a transactional producer writes: after each commit comes its
 * marker, a control record, which takes an offset but is never delivered.
 * The group's offset lies past a partition's end (an earlier incarnation
 * of the topic), so the catch-up waits for the end, one past a marker; or
 * just past a marker (the position a Java consumer commits). Neither may
 * keep the campaigns waiting once every event before is written, nor let
 * them answer before; nor may an idle partition, with a group offset of 0
 * or none. Nor are the markers lag once read past.
 */
static void test_control_records(void)
{
	struct kt_env e;
	int64_t ends[PARTITIONS] = {0}, group[PARTITIONS] = {1000, 0, 0, 0};
	struct feed f[2];
	struct kt_runner r;
	kt_env_start(&e, 1, PARTITIONS, "control-records");
	e.opt.partitioner = partitioner_named(PARTITIONER_DEFAULT); /* catch-up marks */
	e.opt.batch_ms = 1000; /* the markers are read long before the events are written */
	for (int i = 0; i < 2; i++) {
		char id[16];
		snprintf(id, sizeof id, "cr-%d", i);
		feed_init(&f[i], id, 20, i, ends);
		feed_send(e.producer, &f[i], i == 0 ? f[i].count - 5 : f[i].count);
		CHECK_INT(append_commit_marker(e.cluster.bootstraps, i), ends[i]);
	}
	group[1] = ends[1] + 1;
	/* Partition 3 has no group offset at all. */
	commit_for_group(e.cluster.bootstraps, "control-records", PARTITIONS - 1, group);
	kt_runner_start(&r, e.st, &e.m, &e.opt);
	struct caught_up w = {&e.m, e.st, ends, false};
	CHECK(kt_wait(all_caught_up, &w, 15000));
	CHECK(!w.early);
	/* Nor are the markers counted as lag. */
	CHECK(kt_wait(no_lag, &e.m, 5000));
	/* Events after a marker are read as ever. */
	feed_send(e.producer, &f[0], f[0].count);
	CHECK(kt_wait_offsets(e.st, KT_TOPIC, 1, ends, 30000));
	CHECK_INT(kt_runner_stop(&r), 0);
	for (int i = 0; i < 2; i++) {
		CHECK(kt_check_campaign(e.st, &f[i].expect));
		kt_events_free(f[i].evs, f[i].count);
	}
	kt_env_stop(&e);
}

static atomic_bool disk_full;
static atomic_int failed_writes;

/*
 * ingest_batch, but failing like a full disk while disk_full is set. A
 * failing write takes a while, as a real one does, so the consumer polls
 * more messages meanwhile: those must be dropped and read again later.
 */
static int flaky_ingest(struct writer *w, const struct ingest_msg *msgs, size_t n,
			const char *cluster, int64_t now_ms, struct ingest_stats *stats)
{
	if (atomic_load(&disk_full)) {
		nanosleep(&(struct timespec){.tv_nsec = 200 * 1000 * 1000}, NULL);
		atomic_fetch_add(&failed_writes, 1);
		return PL_ENOSPACE;
	}
	return ingest_batch(w, msgs, n, cluster, now_ms, stats);
}

static bool writes_failed_twice(void *arg)
{
	(void)arg;
	return atomic_load(&failed_writes) >= 2;
}

/* The data dir refuses writes: stall (HTTP would stay up), retry, resume exactly. */
static void test_store_errors(void)
{
	struct kt_env e;
	int64_t ends[PARTITIONS] = {0};
	struct feed f[2];
	struct kt_runner r;
	kt_env_start(&e, 1, PARTITIONS, "store-errors");
	e.opt.ingest = flaky_ingest;
	feed_init(&f[0], "se-0", 60, 0, ends);
	feed_init(&f[1], "se-1", 60, 3, ends);
	kt_runner_start(&r, e.st, &e.m, &e.opt);
	feed_send(e.producer, &f[0], 30);
	feed_send(e.producer, &f[1], 30);
	CHECK(kt_wait_offsets(e.st, KT_TOPIC, PARTITIONS, ends, 30000));
	uint64_t before = kt_log_count(e.st);

	atomic_store(&disk_full, true);
	feed_send(e.producer, &f[0], 60);
	feed_send(e.producer, &f[1], 50);
	CHECK(wait_state(&e.m, CONSUMER_STALLED, 10000));
	CHECK(kt_wait(writes_failed_twice, NULL, 10000)); /* it retries */
	CHECK(!atomic_load(&e.m.store_writable));
	CHECK_INT(kt_log_count(e.st), before);
	char detail[256];
	metrics_get_state(&e.m, detail, sizeof detail);
	CHECK(strstr(detail, "data dir") != NULL);

	atomic_store(&disk_full, false);
	feed_send(e.producer, &f[0], f[0].count);
	feed_send(e.producer, &f[1], f[1].count);
	CHECK(kt_wait_offsets(e.st, KT_TOPIC, PARTITIONS, ends, 30000));
	CHECK(wait_state(&e.m, CONSUMER_CONSUMING, 10000));
	CHECK(atomic_load(&e.m.store_writable));
	CHECK_INT(kt_runner_stop(&r), 0);
	CHECK(kt_check_campaign(e.st, &f[0].expect));
	CHECK(kt_check_campaign(e.st, &f[1].expect));
	CHECK_INT(kt_log_count(e.st), f[0].count + f[1].count);
	CHECK_INT(kt_rejection_count(e.st), 0);
	CHECK_INT(atomic_load(&e.m.duplicates), 0);
	for (int i = 0; i < 2; i++)
		kt_events_free(f[i].evs, f[i].count);
	kt_env_stop(&e);
}

/*
 * The broker restarts empty while the data dir keeps its offsets. With a new
 * incarnation id, and with the same id (the mock's own id can repeat), the
 * consumer must read the new log from the beginning: re-published events
 * are duplicates, new ones are applied.
 */
static void test_incarnations(void)
{
	int64_t ends[PARTITIONS] = {0};
	struct feed first, again, second, third;
	char dir[256];
	struct metrics m;
	struct kt_runner r;
	struct store *st = fixture_store(dir, sizeof dir, 0);
	feed_init(&first, "inc-a", 30, 1, ends);
	feed_init(&again, "inc-a", 30, 1, ends);
	feed_init(&second, "inc-b", 10, 1, ends);
	feed_init(&third, "inc-c", 10, 1, ends);

	const char *incarnations[3] = {"embedded-1", "embedded-2", "embedded-2"};
	for (int life = 0; life < 3; life++) {
		struct kt_cluster k;
		kt_cluster_start(&k, 1, KT_TOPIC, PARTITIONS);
		rd_kafka_t *p = kt_producer_new(k.bootstraps, NULL);
		struct consumer_options opt = kt_consumer_options(k.bootstraps, "incarnations");
		opt.cluster_id = incarnations[life];
		memset(ends, 0, sizeof ends);
		if (life == 0) {
			feed_send(p, &first, first.count);
		} else if (life == 1) {
			again.sent = 0;
			feed_send(p, &again, 5); /* re-published, already applied */
			feed_send(p, &second, second.count);
		} else {
			feed_send(p, &third, third.count); /* shorter than the stored offset */
		}
		uint64_t before = kt_log_count(st);
		metrics_init(&m);
		kt_runner_start(&r, st, &m, &opt);
		CHECK(kt_wait_offsets(st, KT_TOPIC, PARTITIONS, ends, 30000));
		CHECK_INT(kt_runner_stop(&r), 0);
		CHECK_INT(atomic_load(&m.duplicates), life == 1 ? 5 : 0);
		CHECK_INT(kt_log_count(st) - before,
			  life == 0 ? first.count : life == 1 ? second.count : third.count);
		metrics_deinit(&m);
		rd_kafka_destroy(p);
		kt_cluster_stop(&k);
	}
	CHECK(kt_check_campaign(st, &first.expect));
	CHECK(kt_check_campaign(st, &second.expect));
	CHECK(kt_check_campaign(st, &third.expect));
	kt_events_free(first.evs, first.count);
	kt_events_free(again.evs, again.count);
	kt_events_free(second.evs, second.count);
	kt_events_free(third.evs, third.count);
	kt_store_close(st);
	fixture_remove(dir);
}

/*
 * Produces ~8 MiB to partition (the mock broker keeps ~5 MiB of one), so
 * retention deletes what came before; returns where the partition starts
 * now, for the caller to check that the broker really dropped its messages.
 */
static int64_t push_past_retention(rd_kafka_t *producer, int32_t partition, const char *key)
{
	size_t big = 100 * 1024;
	char *junk = malloc(big);
	memset(junk, 'x', big);
	for (int i = 0; i < 80; i++)
		CHECK(kt_produce(producer, KT_TOPIC, partition, key, junk, big) >= 0);
	free(junk);
	int64_t lo = -1, hi = -1;
	CHECK_INT(rd_kafka_query_watermark_offsets(producer, KT_TOPIC, partition, &lo, &hi, 5000), 0);
	return lo;
}

/*
 * Retention deleted messages that were never read: the partition stalls
 * and says so, the others go on; only --skip-lost-offsets moves past it.
 */
static void test_lost_offsets(void)
{
	struct kt_env e;
	int64_t ends[PARTITIONS] = {0};
	struct feed lost, other;
	struct kt_runner r;
	kt_env_start(&e, 1, PARTITIONS, "lost");
	feed_init(&lost, "lost-0", 20, 0, ends);
	feed_init(&other, "other-2", 20, 2, ends);

	feed_send(e.producer, &lost, 10);
	kt_runner_start(&r, e.st, &e.m, &e.opt);
	CHECK(kt_wait_offsets(e.st, KT_TOPIC, PARTITIONS, ends, 30000));
	CHECK_INT(kt_runner_stop(&r), 0);
	uint64_t before = kt_log_count(e.st);

	/* Pushed out of partition 0 while nobody reads. */
	CHECK(push_past_retention(e.producer, 0, "lost-0") > lost.sent);
	feed_send(e.producer, &lost, lost.count);

	metrics_deinit(&e.m);
	metrics_init(&e.m);
	kt_runner_start(&r, e.st, &e.m, &e.opt);
	CHECK(wait_state(&e.m, CONSUMER_STALLED, 30000));
	feed_send(e.producer, &other, other.count);
	int64_t other_end[PARTITIONS] = {0, 0, ends[2], 0};
	CHECK(kt_wait_offsets(e.st, KT_TOPIC, PARTITIONS, other_end, 30000));
	CHECK(kt_check_campaign(e.st, &other.expect));
	CHECK_INT(kt_log_count(e.st), before + (uint64_t)other.count); /* nothing of partition 0 */
	char detail[256];
	CHECK_INT(metrics_get_state(&e.m, detail, sizeof detail), CONSUMER_STALLED);
	CHECK(strstr(detail, "pledges [0]") != NULL);
	CHECK_INT(kt_runner_stop(&r), 0);

	e.opt.skip_lost_offsets = true;
	metrics_deinit(&e.m);
	metrics_init(&e.m);
	kt_runner_start(&r, e.st, &e.m, &e.opt);
	CHECK(kt_wait_offsets(e.st, KT_TOPIC, PARTITIONS, ends, 30000));
	CHECK(wait_state(&e.m, CONSUMER_CONSUMING, 10000));
	CHECK_INT(kt_runner_stop(&r), 0);
	/* The pledges after the gap are applied; the surviving junk is rejected. */
	CHECK_INT(kt_log_count(e.st), before + (uint64_t)other.count + (uint64_t)(lost.count - 10));
	CHECK(kt_rejections_with(e.st, PL_R_TOO_LARGE) > 0);

	kt_events_free(lost.evs, lost.count);
	kt_events_free(other.evs, other.count);
	kt_env_stop(&e);
}

/* Whether the consumer stalls for events retention deleted (not for the disk). */
static bool retention_stall(void *arg)
{
	char detail[256];
	return metrics_get_state(arg, detail, sizeof detail) == CONSUMER_STALLED &&
	       strstr(detail, "deleted by Kafka retention") != NULL;
}

/*
 * A partition nothing is stored of yet, assigned at its start, while the
 * disk fails: retention deletes its first messages before they are read.
 * Resuming where it "begins" now would skip them without a word; it stalls
 * and says so, as a stored offset would.
 */
static void test_unread_during_stall(void)
{
	struct kt_env e;
	int64_t ends[PARTITIONS] = {0};
	struct feed first, unread;
	struct kt_runner r;
	kt_env_start(&e, 1, PARTITIONS, "unread-stall");
	e.opt.ingest = flaky_ingest;
	feed_init(&first, "us-0", 10, 0, ends);
	feed_init(&unread, "us-1", 10, 1, ends);
	kt_runner_start(&r, e.st, &e.m, &e.opt);
	feed_send(e.producer, &first, 5);
	int64_t first_end[PARTITIONS] = {ends[0], 0, 0, 0};
	CHECK(kt_wait_offsets(e.st, KT_TOPIC, PARTITIONS, first_end, 30000));

	atomic_store(&failed_writes, 0);
	atomic_store(&disk_full, true);
	feed_send(e.producer, &first, first.count);
	CHECK(wait_state(&e.m, CONSUMER_STALLED, 20000));
	/* Partition 1's events, then pushed out unread. */
	feed_send(e.producer, &unread, unread.count);
	CHECK(push_past_retention(e.producer, 1, "us-1") > unread.count);
	atomic_store(&disk_full, false);

	/* Partition 0 goes on; partition 1 stops, naming itself. */
	int64_t first_all[PARTITIONS] = {ends[0], 0, 0, 0};
	CHECK(kt_wait_offsets(e.st, KT_TOPIC, PARTITIONS, first_all, 30000));
	CHECK(kt_wait(retention_stall, &e.m, 20000));
	char detail[256];
	CHECK_INT(metrics_get_state(&e.m, detail, sizeof detail), CONSUMER_STALLED);
	CHECK(strstr(detail, "pledges [1]") != NULL);
	CHECK(kt_check_campaign(e.st, &first.expect));
	CHECK_INT(kt_log_count(e.st), (uint64_t)first.count); /* nothing of partition 1 */
	CHECK_INT(kt_runner_stop(&r), 0);
	kt_events_free(first.evs, first.count);
	kt_events_free(unread.evs, unread.count);
	kt_env_stop(&e);
}

/*
 * Resuming after a store failure starts from the offsets in the data dir.
 * A backlog waits on the broker while no consumer runs; the next consumer
 * fetches a large part of it at once and, with batches of 5, fills the next
 * batch while the first write is under way. That write fails, and the
 * batch polled meanwhile is dropped. Resuming where librdkafka stands
 * (after the last message it handed over) would skip exactly those
 * messages; resuming from the stored offsets reads them again.
 */
static void test_store_resume(void)
{
	struct kt_env e;
	int64_t ends[PARTITIONS] = {0};
	struct feed f[2];
	struct kt_runner r;
	kt_env_start(&e, 1, PARTITIONS, "store-resume");
	e.opt.ingest = flaky_ingest;
	e.opt.batch_max = 5;
	feed_init(&f[0], "sr-0", 80, 0, ends);
	feed_init(&f[1], "sr-1", 80, 2, ends);
	kt_runner_start(&r, e.st, &e.m, &e.opt);
	feed_send(e.producer, &f[0], 10);
	feed_send(e.producer, &f[1], 10);
	CHECK(kt_wait_offsets(e.st, KT_TOPIC, PARTITIONS, ends, 30000));
	CHECK_INT(kt_runner_stop(&r), 0);

	feed_send_burst(e.cluster.bootstraps, &f[0]);
	feed_send_burst(e.cluster.bootstraps, &f[1]);
	atomic_store(&failed_writes, 0);
	atomic_store(&disk_full, true);
	/* A group of its own: one clean assignment, no rebalance to seek for us. */
	e.opt.group = "store-resume-2";
	kt_runner_start(&r, e.st, &e.m, &e.opt);
	CHECK(kt_wait(writes_failed_twice, NULL, 20000));
	atomic_store(&disk_full, false);

	CHECK(kt_wait_offsets(e.st, KT_TOPIC, PARTITIONS, ends, 30000));
	CHECK_INT(kt_runner_stop(&r), 0);
	CHECK(kt_check_campaign(e.st, &f[0].expect));
	CHECK(kt_check_campaign(e.st, &f[1].expect));
	CHECK_INT(kt_log_count(e.st), f[0].count + f[1].count);
	CHECK_INT(kt_rejection_count(e.st), 0);
	CHECK_INT(atomic_load(&e.m.duplicates), 0);
	for (int i = 0; i < 2; i++)
		kt_events_free(f[i].evs, f[i].count);
	kt_env_stop(&e);
}

static int put_far_offset(struct store_txn *t, void *arg)
{
	(void)arg;
	struct evlog_offset off = {.next = 1000};
	snprintf(off.cluster, sizeof off.cluster, "oor");
	evlog_offset_put(t, KT_TOPIC, 1, &off);
	return t->err;
}

/*
 * Partition 1's stored offset is past its end (a recreated topic), so it is
 * read again from the beginning. librdkafka says so once, having stopped
 * it; here that comes while a batch of partition 0 is being written and
 * the write fails. The partition must still be restarted once writes
 * succeed, not left stopped with /healthz saying all is well.
 */
static void test_out_of_range_while_writes_fail(void)
{
	struct kt_env e;
	int64_t ends[PARTITIONS] = {0};
	struct feed f[2];
	struct kt_runner r;
	kt_env_start(&e, 2, PARTITIONS, "oor-fail");
	e.opt.cluster_id = "oor";
	e.opt.ingest = flaky_ingest;
	e.opt.batch_ms = 3000; /* partition 0's messages in hand when partition 1's error comes */
	atomic_store(&failed_writes, 0);
	atomic_store(&disk_full, true);
	CHECK_INT(store_run_write(e.st, put_far_offset, NULL), 0);
	CHECK_INT(rd_kafka_mock_partition_set_leader(e.cluster.mc, KT_TOPIC, 0, 1), 0);
	CHECK_INT(rd_kafka_mock_partition_set_leader(e.cluster.mc, KT_TOPIC, 1, 2), 0);
	feed_init(&f[0], "oor-0", 10, 0, ends);
	feed_init(&f[1], "oor-1", 10, 1, ends);
	feed_send(e.producer, &f[0], f[0].count);
	feed_send(e.producer, &f[1], f[1].count);
	/* Partition 1's answers come late: its error during partition 0's write. */
	CHECK_INT(rd_kafka_mock_broker_set_rtt(e.cluster.mc, 2, 300), 0);
	kt_runner_start(&r, e.st, &e.m, &e.opt);
	CHECK(kt_wait(writes_failed_twice, NULL, 20000));
	atomic_store(&disk_full, false);
	CHECK(kt_wait_offsets(e.st, KT_TOPIC, PARTITIONS, ends, 30000));
	CHECK_INT(kt_runner_stop(&r), 0);
	CHECK(kt_check_campaign(e.st, &f[0].expect));
	CHECK(kt_check_campaign(e.st, &f[1].expect));
	for (int i = 0; i < 2; i++)
		kt_events_free(f[i].evs, f[i].count);
	kt_env_stop(&e);
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		void (*run)(void);
	} tests[] = {
		{"store", test_store_errors},
		{"resume", test_store_resume},
		{"incarnations", test_incarnations},
		{"lost", test_lost_offsets},
		{"unread", test_unread_during_stall},
		{"out-of-range", test_out_of_range_while_writes_fail},
		{"brokers", test_broker_faults},
		{"slow-commits", test_slow_commits},
		{"refused-commits", test_refused_commits},
		{"revoke-commits", test_revoke_commits},
		{"stop-brokers-gone", test_stop_brokers_gone},
		{"retried-commits", test_retried_commits},
		{"unknown-offsets", test_unknown_group_offsets},
		{"unknown-starts", test_unknown_starts},
		{"control-records", test_control_records},
	};
	const char *only = argc > 1 ? argv[1] : "";
	for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++)
		if (!*only || !strcmp(only, tests[i].name))
			tests[i].run();
	return check_done();
}
