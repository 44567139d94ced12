/*
 * test_rebalance.c — two pledged consumers, each with its own data dir, in
 * one group, over TCP against the mock cluster: the second joins while
 * events are flowing, later leaves. Run with "eager" (range/roundrobin) or
 * "cooperative" (cooperative-sticky) as argument.
 *
 * Positions live in each data dir, so a partition that moves to an instance
 * resumes there from that instance's own stored offset (the beginning if it
 * never had it): its campaigns are always complete where they are served.
 * Checked: every partition is complete in its final owner, so the union of
 * the two logs is the input; no event id is in one log twice; after the
 * second instance leaves, the first holds every event exactly once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "event_decode.h"
#include "fixture.h"
#include "group_generation.h"
#include "kt.h"
#include "partitioner.h"

#define PARTITIONS 4
#define CAMPAIGNS 8

struct stream {
	char **evs[CAMPAIGNS];
	int count[CAMPAIGNS];
	struct kt_expect expect[CAMPAIGNS];
	int64_t ends[PARTITIONS];
	int total;
	atomic_int produced;
	rd_kafka_t *p;
};

/* Produces every event, campaigns interleaved, so that consumers join under load. */
static void *produce_all(void *arg)
{
	struct stream *s = arg;
	for (int i = 0;; i++) {
		bool any = false;
		for (int c = 0; c < CAMPAIGNS; c++) {
			if (i >= s->count[c])
				continue;
			any = true;
			int64_t off = kt_produce_json(s->p, KT_TOPIC, c % PARTITIONS, s->expect[c].id,
						      s->evs[c][i]);
			if (off >= 0)
				s->ends[c % PARTITIONS] = off + 1;
			atomic_fetch_add(&s->produced, 1);
		}
		if (!any)
			return NULL;
		kt_sleep_ms(60); /* ~7 s in all: time for a rebalance mid-stream */
	}
}

static bool produced_third(void *arg)
{
	struct stream *s = arg;
	return atomic_load(&s->produced) >= s->total / 3;
}

static bool has_batches(void *arg)
{
	return atomic_load(&((struct metrics *)arg)->batches) > 0;
}

static bool is_consuming(void *arg)
{
	return metrics_get_state(arg, NULL, 0) == CONSUMER_CONSUMING;
}

static int64_t stored_offset(struct store *st, int partition)
{
	struct store_txn t;
	struct evlog_offset off = {.next = -1};
	if (store_read_begin(st, &t) == 0)
		evlog_offset_get(&t, KT_TOPIC, partition, &off);
	store_abort(&t);
	return off.next;
}

/* Whether m lists partition as assigned to its instance. */
static bool holds(struct metrics *m, int partition)
{
	bool found = false;
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->partition_count; i++)
		found |= m->partitions[i].partition == partition;
	pthread_mutex_unlock(&m->lock);
	return found;
}

/* Both instances recorded their assignment in one, newer, generation of the group. */
struct generations {
	struct metrics *ma, *mb;
	int32_t before;
};

static bool same_newer_generation(void *arg)
{
	struct generations *g = arg;
	int32_t a = ownership_group_generation(&g->ma->owner);
	return a > g->before && a == ownership_group_generation(&g->mb->owner);
}

/*
 * What HTTP was told of A's partitions while B joined, sampled: between the
 * revoke and the next assignment A must wait (503), not hold "none" (421,
 * "another instance holds it": nobody does then).
 */
struct ownership_watch {
	struct metrics *m;
	atomic_bool stop;
	bool saw_waiting, saw_none;
};

static void *watch_ownership(void *arg)
{
	struct ownership_watch *w = arg;
	while (!atomic_load(&w->stop)) {
		char held[256];
		struct ownership_view v;
		ownership_view(&w->m->owner, &v);
		ownership_view_describe(&v, held, sizeof held);
		w->saw_waiting |= strcmp(held, "waiting") == 0;
		w->saw_none |= strncmp(held, "none", 4) == 0;
		kt_sleep_ms(1);
	}
	return NULL;
}

/* The generation inside librdkafka's serialized group metadata, and nothing from elsewhere. */
static void test_generation_parse(void)
{
	rd_kafka_consumer_group_metadata_t *md =
		rd_kafka_consumer_group_metadata_new_with_genid("g", 123456, "member-1", NULL);
	void *buf;
	size_t len;
	rd_kafka_error_t *err = rd_kafka_consumer_group_metadata_write(md, &buf, &len);
	CHECK(err == NULL);
	if (!err) {
		CHECK_INT(group_generation_parse(buf, len), 123456);
		CHECK_INT(group_generation_parse(buf, 9), -1); /* cut short */
		((char *)buf)[5] = '9';                         /* another layout */
		CHECK_INT(group_generation_parse(buf, len), -1);
		rd_kafka_mem_free(NULL, buf);
	}
	rd_kafka_consumer_group_metadata_destroy(md);
}

struct pair {
	struct store *a, *b;
	struct metrics *ma, *mb;
	struct stream *s;
};

/* Every partition held by exactly one instance, which has read all of it. */
static bool each_partition_done(void *arg)
{
	struct pair *w = arg;
	for (int p = 0; p < PARTITIONS; p++) {
		bool in_a = holds(w->ma, p), in_b = holds(w->mb, p);
		if (in_a == in_b || stored_offset(in_a ? w->a : w->b, p) != w->s->ends[p])
			return false;
	}
	return true;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Whether every event id in st's log is there once. */
static bool log_ids_unique(struct store *st)
{
	struct store_txn t;
	size_t n = 0, cap = 4096;
	char **ids = malloc(cap * sizeof *ids);
	bool unique = true;
	if (!ids || store_read_begin(st, &t)) {
		free(ids);
		return false;
	}
	MDB_cursor *cur = store_cursor(&t, STORE_DB_LOG);
	MDB_val k, v;
	for (int op = MDB_FIRST; cur && mdb_cursor_get(cur, &k, &v, op) == 0; op = MDB_NEXT) {
		struct evlog_entry e;
		struct pl_event ev;
		struct pl_rejection rej;
		if (evlog_parse(&k, &v, &e) ||
		    pl_event_decode(e.raw, e.raw_len, NULL, 0, &ev, &rej) != 0) {
			unique = false;
			continue;
		}
		struct pl_str id = pl_event_str(&ev, PL_F_ID);
		if (n == cap) {
			char **more = realloc(ids, (cap *= 2) * sizeof *ids);
			if (!more)
				abort();
			ids = more;
		}
		ids[n++] = strndup(id.ptr, id.len);
	}
	if (cur)
		mdb_cursor_close(cur);
	store_abort(&t);
	qsort(ids, n, sizeof *ids, cmp_str);
	for (size_t i = 1; i < n; i++)
		if (strcmp(ids[i - 1], ids[i]) == 0)
			unique = false;
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
	return unique;
}

int main(int argc, char **argv)
{
	bool cooperative = argc > 1 && strcmp(argv[1], "cooperative") == 0;
	struct kt_cluster k;
	struct stream s = {0};
	char dir_a[256], dir_b[256];
	struct metrics ma, mb;
	struct kt_runner ra, rb;
	kt_cluster_start(&k, 1, KT_TOPIC, PARTITIONS);
	s.p = kt_producer_new(k.bootstraps, NULL);
	struct store *a = fixture_store(dir_a, sizeof dir_a, 0);
	struct store *b = fixture_store(dir_b, sizeof dir_b, 0);
	test_generation_parse();
	struct consumer_options opt = kt_consumer_options(k.bootstraps, "rebalance");
	opt.partitioner = partitioner_named(PARTITIONER_DEFAULT); /* records the generation */
	struct kafka_prop props[8];
	memcpy(props, opt.kafka, opt.kafka_count * sizeof *props);
	if (cooperative) {
		snprintf(props[opt.kafka_count].key, sizeof props[0].key,
			 "partition.assignment.strategy");
		snprintf(props[opt.kafka_count].value, sizeof props[0].value, "cooperative-sticky");
		opt.kafka_count++;
	}
	opt.kafka = props;
	for (int c = 0; c < CAMPAIGNS; c++) {
		char id[32];
		snprintf(id, sizeof id, "rb-%d", c);
		s.count[c] = kt_campaign_build(id, 80, &s.evs[c], &s.expect[c]);
		s.total += s.count[c];
	}

	metrics_init(&ma);
	metrics_init(&mb);
	kt_runner_start(&ra, a, &ma, &opt);
	pthread_t producer;
	pthread_create(&producer, NULL, produce_all, &s);
	CHECK(kt_wait(produced_third, &s, 60000));
	CHECK(kt_wait(has_batches, &ma, 60000));
	struct generations g = {&ma, &mb, ownership_group_generation(&ma.owner)};
	CHECK(g.before >= 1);
	struct ownership_watch watch = {.m = &ma};
	pthread_t watcher;
	pthread_create(&watcher, NULL, watch_ownership, &watch);
	kt_runner_start(&rb, b, &mb, &opt); /* joins while events flow: a rebalance under load */
	CHECK(kt_wait(is_consuming, &mb, 60000));
	CHECK(kt_wait(same_newer_generation, &g, 60000));
	atomic_store(&watch.stop, true);
	pthread_join(watcher, NULL);
	CHECK(!watch.saw_none);
	/* An eager rebalance revokes everything first (a cooperative one may too). */
	CHECK(watch.saw_waiting || cooperative);
	printf("group generation %d alone, %d after the join\n", (int)g.before,
	       (int)ownership_group_generation(&ma.owner));
	pthread_join(producer, NULL);
	struct pair w = {a, b, &ma, &mb, &s};
	CHECK(kt_wait(each_partition_done, &w, 60000));

	/* Each partition complete in the instance that holds it to the end. */
	int owned_by_b = 0;
	for (int c = 0; c < CAMPAIGNS; c++) {
		int part = c % PARTITIONS;
		struct store *owner = holds(&mb, part) ? b : a;
		owned_by_b += owner == b;
		CHECK(kt_check_campaign(owner, &s.expect[c]));
	}
	CHECK(owned_by_b > 0 && owned_by_b < CAMPAIGNS); /* the group really split the work */
	CHECK(log_ids_unique(a));
	CHECK(log_ids_unique(b));
	uint64_t in_a = kt_log_count(a), in_b = kt_log_count(b);
	CHECK(in_a + in_b >= (uint64_t)s.total);
	printf("split: %llu events in A, %llu in B, %llu applied in both (moved partitions "
	       "re-read from each instance's own offsets)\n",
	       (unsigned long long)in_a, (unsigned long long)in_b,
	       (unsigned long long)(in_a + in_b - (uint64_t)s.total));

	/* B leaves: A gets everything and ends with every event exactly once. */
	CHECK_INT(kt_runner_stop(&rb), 0);
	CHECK(kt_wait_offsets(a, KT_TOPIC, PARTITIONS, s.ends, 60000));
	CHECK_INT(kt_runner_stop(&ra), 0);
	for (int c = 0; c < CAMPAIGNS; c++)
		CHECK(kt_check_campaign(a, &s.expect[c]));
	CHECK_INT(kt_log_count(a), s.total);
	CHECK(log_ids_unique(a));
	CHECK_INT(kt_rejection_count(a), 0);
	CHECK_INT(kt_rejection_count(b), 0);

	metrics_deinit(&ma);
	metrics_deinit(&mb);
	for (int c = 0; c < CAMPAIGNS; c++)
		kt_events_free(s.evs[c], s.count[c]);
	rd_kafka_destroy(s.p);
	kt_store_close(a);
	kt_store_close(b);
	fixture_remove(dir_a);
	fixture_remove(dir_b);
	kt_cluster_stop(&k);
	return check_done();
}
