/*
 * test_upkeep_thread.c — the state index kept up on a thread of its own
 * while the writer's batches look things up in it (upkeep.h).
 *
 * With checkpoints every few hundred entries and one block per upkeep
 * transaction, checkpoints and merges are written and finished all the
 * time beside the batches. Each batch brings new events, re-deliveries of
 * events long since checkpointed (their ids in runs being merged), and new
 * events reusing old pledges' ids (refused by the rules, who look the
 * pledge up). A lookup that missed a run, or met one its snapshot lacks,
 * would take a re-delivery as new or accept a pledge twice: every batch's
 * outcome is checked, and at the end every projection against the log.
 * The history moves every 300 rows, one campaign a transaction, some
 * campaigns' rows to runs, compacted every third: its transactions come
 * between the batches, among the upkeep's, and each move must take the
 * rows the writer held, never read them back.
 * Along the way a rebuild swaps the slots (the writer follows, with a new
 * upkeep thread), and the store refuses writes for a while (the upkeep
 * fails, and goes on once writes come back).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "fixture.h"
#include "rebuild.h"

#define NEW 40
#define AGAIN 10
#define REUSED 5
#define BATCH (NEW + AGAIN + REUSED)

static struct store *st;
static struct writer w;
static int events;       /* new events so far: ids e1..e<events> */
static int64_t offset;   /* the next offset of partition 0 */
static int reused_ids;   /* events that reuse a pledge: ids r1.. */
static unsigned seed = 7;
static int moves;        /* seen to end between two batches */

static unsigned rnd(void)
{
	seed = seed * 1103515245u + 12345u;
	return seed >> 8;
}

static void to_msgpack(const char *json, msgpack_sbuffer *buf)
{
	char err[160];
	msgpack_sbuffer_init(buf);
	if (pl_json_to_msgpack(json, strlen(json), buf, err, sizeof err)) {
		fprintf(stderr, "bad JSON %s: %s\n", json, err);
		abort();
	}
}

/* One batch: NEW new events, AGAIN re-deliveries, REUSED pledges reused. The batch's result. */
static int batch(struct ingest_stats *stats)
{
	msgpack_sbuffer bufs[BATCH];
	struct ingest_msg msgs[BATCH];
	char json[512];
	int n = 0;
	for (int i = 0; i < NEW; i++, n++) {
		fixture_numbered_event(json, sizeof json, events + 1 + i);
		to_msgpack(json, &bufs[n]);
	}
	for (int i = 0; i < AGAIN; i++, n++) {
		fixture_numbered_event(json, sizeof json, events ? 1 + (int)(rnd() % (unsigned)events) : 1);
		to_msgpack(json, &bufs[n]);
	}
	for (int i = 0; i < REUSED; i++, n++) {
		int pledge = events > 4 ? 5 + (int)(rnd() % (unsigned)(events - 4)) : 5;
		snprintf(json, sizeof json,
			 "{\"v\":1,\"type\":\"pledge.created\",\"id\":\"r%d\",\"at\":1700000000000,"
			 "\"campaign\":\"c%d\",\"pledge\":\"p%d\",\"supporter\":\"s%d\","
			 "\"amount\":7,\"currency\":\"EUR\"}",
			 reused_ids + 1 + i, pledge % 4, pledge, pledge % 97);
		to_msgpack(json, &bufs[n]);
	}
	for (int i = 0; i < n; i++)
		msgs[i] = (struct ingest_msg){.src = {"t", 1, 0, offset + i},
					      .value = bufs[i].data, .value_len = bufs[i].size};
	int rc = ingest_batch(&w, msgs, (size_t)n, "", 1700000000000, stats);
	for (int i = 0; i < n; i++)
		msgpack_sbuffer_destroy(&bufs[i]);
	if (rc == 0) {
		events += NEW;
		offset += n;
		reused_ids += REUSED;
	}
	return rc;
}

static uint64_t rejected(const struct ingest_stats *s)
{
	uint64_t n = 0;
	for (int i = 0; i < PL_REASON_COUNT; i++)
		n += s->rejected[i];
	return n;
}

/* The live slot's staged history rows. */
static uint64_t staged_rows(void)
{
	struct store_txn t;
	enum store_slot live;
	uint64_t generation, n = 0;
	CHECK_INT(store_read_begin(st, &t), 0);
	CHECK_INT(proj_live(&t, &live, &generation), 0);
	CHECK_INT(store_entries(&t, store_slot_db(live, SLOT_HISTORY_STAGED), &n), 0);
	store_abort(&t);
	return n;
}

/* n batches, each with the outcome it must have, each followed by the consumer's after work. */
static void batches(int n)
{
	for (int i = 0; i < n; i++) {
		struct ingest_stats stats;
		bool first = events == 0;
		uint64_t staged = staged_rows();
		CHECK_INT(batch(&stats), 0);
		uint64_t applied = 0;
		for (int t = 0; t < PL_EVENT_TYPE_COUNT; t++)
			applied += stats.applied[t];
		/* The very first batch re-delivers and reuses among its own events. */
		if (!first) {
			CHECK_INT(applied, NEW);
			CHECK_INT(stats.duplicates, AGAIN);
			CHECK_INT(rejected(&stats), REUSED);
		}
		CHECK_INT(writer_maintain(&w, 1), 0);
		moves += staged_rows() < staged; /* a move's last transaction deletes its 300 rows or more */
	}
}

static size_t highest_tier(const struct index *ix)
{
	size_t tier = 0;
	for (size_t i = 0; i < ix->d.nruns; i++)
		tier = ix->d.runs[i].tier > tier ? ix->d.runs[i].tier : tier;
	return tier;
}

int main(void)
{
	char dir[300];
	st = fixture_store(dir, sizeof dir, (size_t)256 << 10);
	struct slot_options opt = {.checkpoint_entries = 400, .work_blocks = 1,
				   .history_move_rows = 300, .history_move_campaigns = 1,
				   .history_run_min_rows = 76, .history_runs_max = 2};
	struct replay_result res;
	CHECK_INT(writer_open(&w, st, &opt, &res), 0);
	CHECK_INT(writer_upkeep_on(&w), 0);
	CHECK(w.live.upkeep != NULL);

	batches(200);
	enum store_slot first = w.live.which;
	CHECK(moves > 1);
	CHECK_INT(w.live.pw.staged_read_back, 0);

	/* A rebuild swaps the other slot in: the writer follows it, upkeep and all. */
	struct rebuild_options ropt = {.swap = true, .txn_ms = 5, .slot = opt};
	struct rebuild_report rep;
	CHECK_INT(rebuild_run(st, &ropt, &rep), 0);
	CHECK(rep.swapped);
	batches(150);
	CHECK(w.live.which != first);
	CHECK(w.live.upkeep != NULL);

	/* Writes refused a while, a checkpoint under way: batches fail and are
	 * tried again; so is the upkeep. */
	bool frozen = false;
	while (!frozen) {
		batches(1);
		CHECK_INT(slot_hold(&w.live), 0); /* the frozen tables change only under the hold */
		frozen = w.live.ix.frozen;
		slot_release(&w.live);
	}
	store_refuse_writes(st, PL_EIO);
	struct ingest_stats stats;
	CHECK_INT(batch(&stats), PL_EIO);
	usleep(300 * 1000); /* the upkeep fails meanwhile */
	store_refuse_writes(st, 0);
	batches(150);

	/* Its time and the batches' waits for it are counted (pledged_index_upkeep_*). */
	CHECK(atomic_load(&w.upkeep_us) > 0);
	CHECK(atomic_load(&w.upkeep_wait_us) > 0);

	/* Stopped, the index is written whole; the runs were merged on the way. */
	CHECK_INT(writer_checkpoint(&w), 0);
	CHECK(w.live.upkeep == NULL);
	CHECK(!index_has_work(&w.live.ix));
	CHECK_INT(index_pending(&w.live.ix), 0);
	CHECK(w.live.ix.d.nruns > 0);
	CHECK(highest_tier(&w.live.ix) >= 1);
	CHECK(fixture_verified(st));
	printf("%d events, %d moves, %zu runs, highest tier %zu\n", events, moves, w.live.ix.d.nruns,
	       highest_tier(&w.live.ix));
	writer_close(&w);
	fixture_close(st);
	fixture_remove(dir);
	return check_done();
}
