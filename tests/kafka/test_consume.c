/*
 * test_consume.c — a consumer over TCP against the mock cluster: four
 * partitions, valid campaigns interleaved with duplicates, malformed and
 * rule-breaking messages, and two restarts of the consumer in the middle of
 * the stream (one while messages are flowing). Totals, log length and
 * rejection reasons must come out exact.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kt.h"

#define PARTITIONS 4
#define CAMPAIGNS 8

struct stream {
	char **evs[CAMPAIGNS];
	int count[CAMPAIGNS];
	int sent[CAMPAIGNS];
	struct kt_expect expect[CAMPAIGNS];
	int64_t ends[PARTITIONS];
	int valid;
};

static void send_campaign_events(rd_kafka_t *p, struct stream *s, int k, int upto)
{
	char key[32];
	snprintf(key, sizeof key, "%s", s->expect[k].id);
	for (; s->sent[k] < upto && s->sent[k] < s->count[k]; s->sent[k]++) {
		int64_t off = kt_produce_json(p, KT_TOPIC, k % PARTITIONS, key, s->evs[k][s->sent[k]]);
		CHECK(off >= 0);
		s->ends[k % PARTITIONS] = off + 1;
	}
}

/* Sends the first fraction (in percent) of every campaign, round-robin. */
static void send_fraction(rd_kafka_t *p, struct stream *s, int percent)
{
	for (int k = 0; k < CAMPAIGNS; k++)
		send_campaign_events(p, s, k, s->count[k] * percent / 100);
}

static void send_raw(rd_kafka_t *p, struct stream *s, int partition, const char *key,
		     const void *v, size_t len)
{
	int64_t off = kt_produce(p, KT_TOPIC, partition, key, v, len);
	CHECK(off >= 0);
	s->ends[partition] = off + 1;
}

static void send_json(rd_kafka_t *p, struct stream *s, int partition, const char *key,
		      const char *json)
{
	int64_t off = kt_produce_json(p, KT_TOPIC, partition, key, json);
	CHECK(off >= 0);
	s->ends[partition] = off + 1;
}

/* One of each kind of bad message; returns how many were sent. */
static int send_bad(rd_kafka_t *p, struct stream *s, int round)
{
	char json[512];
	send_raw(p, s, 0, "camp-0", "\xc1garbage", 8); /* 0xc1 is never valid msgpack */
	snprintf(json, sizeof json,
		 "{\"v\":1,\"type\":\"pledge.exploded\",\"id\":\"bad-type-%d\",\"at\":1700000000000,"
		 "\"campaign\":\"camp-1\"}", round);
	send_json(p, s, 1, "camp-1", json);
	snprintf(json, sizeof json,
		 "{\"v\":1,\"type\":\"pledge.created\",\"id\":\"bad-camp-%d\",\"at\":1700000000000,"
		 "\"campaign\":\"nowhere\",\"pledge\":\"x%d\",\"supporter\":\"s\",\"amount\":5,"
		 "\"currency\":\"EUR\"}", round, round);
	send_json(p, s, 2, "nowhere", json);
	snprintf(json, sizeof json,
		 "{\"v\":1,\"type\":\"comment.posted\",\"id\":\"bad-backer-%d\",\"at\":1700000000000,"
		 "\"campaign\":\"camp-3\",\"comment\":\"cx%d\",\"supporter\":\"stranger\","
		 "\"text\":\"hello\"}", round, round);
	send_json(p, s, 3, "camp-3", json);
	snprintf(json, sizeof json,
		 "{\"v\":1,\"type\":\"pledge.created\",\"id\":\"bad-key-%d\",\"at\":1700000000000,"
		 "\"campaign\":\"camp-0\",\"pledge\":\"y%d\",\"supporter\":\"s\",\"amount\":5,"
		 "\"currency\":\"EUR\"}", round, round);
	send_json(p, s, 0, "camp-4", json);
	snprintf(json, sizeof json,
		 "{\"v\":1,\"type\":\"pledge.created\",\"id\":\"bad-amount-%d\",\"at\":1700000000000,"
		 "\"campaign\":\"camp-1\",\"pledge\":\"z%d\",\"supporter\":\"s\",\"amount\":0,"
		 "\"currency\":\"EUR\"}", round, round);
	send_json(p, s, 1, "camp-1", json);
	return 6;
}

static bool all_consumed(struct store *st, struct stream *s)
{
	return kt_wait_offsets(st, KT_TOPIC, PARTITIONS, s->ends, 30000);
}

static bool has_batches(void *arg)
{
	return atomic_load(&((struct metrics *)arg)->batches) > 0;
}

int main(void)
{
	struct kt_env e;
	struct stream s = {0};
	struct kt_runner r;
	kt_env_start(&e, 1, PARTITIONS, "consume-test");

	for (int c = 0; c < CAMPAIGNS; c++) {
		char id[32];
		snprintf(id, sizeof id, "camp-%d", c);
		s.count[c] = kt_campaign_build(id, 20 + 3 * c, &s.evs[c], &s.expect[c]);
		s.valid += s.count[c];
	}

	/* 1: half the stream, bad messages and duplicates mixed in, one consumer. */
	send_fraction(e.producer, &s, 30);
	int bad = send_bad(e.producer, &s, 1);
	send_json(e.producer, &s, 0, "camp-0", s.evs[0][1]); /* duplicate of an applied pledge */
	send_fraction(e.producer, &s, 50);
	kt_runner_start(&r, e.st, &e.m, &e.opt);
	CHECK(all_consumed(e.st, &s));
	CHECK_INT(kt_runner_stop(&r), 0);
	CHECK_INT(atomic_load(&e.m.duplicates), 1);
	uint64_t applied_first = 0;
	for (int t = 0; t < PL_EVENT_TYPE_COUNT; t++)
		applied_first += atomic_load(&e.m.applied[t]);
	CHECK_INT(applied_first, kt_log_count(e.st));
	CHECK_INT(kt_rejection_count(e.st), bad);

	/* 2: restart; stop it again while messages are still arriving. */
	metrics_deinit(&e.m);
	metrics_init(&e.m);
	kt_runner_start(&r, e.st, &e.m, &e.opt);
	send_fraction(e.producer, &s, 65);
	CHECK(kt_wait(has_batches, &e.m, 30000));
	bad += send_bad(e.producer, &s, 2);
	send_fraction(e.producer, &s, 80);
	CHECK_INT(kt_runner_stop(&r), 0);
	CHECK(kt_log_count(e.st) > applied_first);

	/* 3: the rest, with re-sent events from before; a third consumer finishes. */
	metrics_deinit(&e.m);
	metrics_init(&e.m);
	kt_runner_start(&r, e.st, &e.m, &e.opt);
	for (int c = 0; c < CAMPAIGNS; c += 2) {
		char key[32];
		snprintf(key, sizeof key, "camp-%d", c);
		send_json(e.producer, &s, c % PARTITIONS, key, s.evs[c][2]);
	}
	send_fraction(e.producer, &s, 100);
	CHECK(all_consumed(e.st, &s));
	CHECK_INT(kt_runner_stop(&r), 0);
	CHECK_INT(atomic_load(&e.m.duplicates), CAMPAIGNS / 2);
	CHECK_INT(metrics_get_state(&e.m, NULL, 0), CONSUMER_CONSUMING);

	for (int c = 0; c < CAMPAIGNS; c++)
		CHECK(kt_check_campaign(e.st, &s.expect[c]));
	CHECK_INT(kt_log_count(e.st), s.valid);
	CHECK_INT(kt_rejection_count(e.st), bad);
	CHECK_INT(kt_rejections_with(e.st, PL_R_BAD_MSGPACK), 2);
	CHECK_INT(kt_rejections_with(e.st, PL_R_UNKNOWN_TYPE), 2);
	CHECK_INT(kt_rejections_with(e.st, PL_R_UNKNOWN_CAMPAIGN), 2);
	CHECK_INT(kt_rejections_with(e.st, PL_R_NOT_A_BACKER), 2);
	CHECK_INT(kt_rejections_with(e.st, PL_R_KEY_MISMATCH), 2);
	CHECK_INT(kt_rejections_with(e.st, PL_R_OUT_OF_RANGE), 2);

	for (int c = 0; c < CAMPAIGNS; c++)
		kt_events_free(s.evs[c], s.count[c]);
	kt_env_stop(&e);
	return check_done();
}
