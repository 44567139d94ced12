/*
 * test_random_stream.c — random streams fed two ways must end the same.
 *
 * For each seed, a stream of every event type (campaigns opened and
 * closed, pledges, partial and full refunds, comments and removals,
 * erasures copied to every partition, events sent again, times out of
 * order) spread over three partitions is ingested twice into fresh data
 * dirs:
 *
 *   calm   batches of 1..20 messages, nothing else;
 *   rough  the same stream in other batches, with a rebuild swapped in part
 *          way, the writer closed and opened again (a restart), and, as
 *          root, a tmpfs that runs out of space every few batches (each
 *          failed batch, upkeep or rebuild tried again once it has grown,
 *          as serve does).
 *
 * Both must pass verify, hold the same log, rejections and figures for
 * every campaign, and in the rough one the history's figures at random
 * times must equal those of a dry run of the log cut at that time.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/mount.h>

#include "check.h"
#include "log.h"
#include "fixture.h"
#include "proj_history.h"
#include "rebuild.h"
#include "rejections.h"
#include "replay.h"

enum { PARTITIONS = 3, SUPPORTERS = 8, MAX_MSGS = 4000, CUTS = 8 };
#define T0 INT64_C(1578132000000)
#define HOUR INT64_C(3600000)

static uint64_t rng_state;

/* splitmix64: the same stream for a seed on every machine. */
static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

static int rnd_below(int n)
{
	return (int)(rnd() % (uint64_t)n);
}

struct msg {
	int32_t partition;
	int64_t offset;
	int64_t at;
	msgpack_sbuffer buf;
};

struct stream {
	struct msg msgs[MAX_MSGS];
	size_t count;
};

/* What the generator knows, to make events that mostly apply. */
struct world {
	int campaigns;
	char currency[64][4];
	unsigned backers[64]; /* bit s: supporter s pledged there */
	int pledges, pledge_campaign[2000], pledge_amount[2000];
	int comments, comment_campaign[2000];
	char sent[1500][400]; /* every event made, to send one again */
	int sent_partition[1500];
	int nsent;
	char queue[PARTITIONS][2000][400];
	int queued[PARTITIONS];
};

static void emit(struct world *w, int partition, const char *json)
{
	/* An erasure names no campaign: every partition gets a copy. */
	for (int p = 0; p < PARTITIONS; p++)
		if (p == partition || partition < 0)
			snprintf(w->queue[p][w->queued[p]++], sizeof w->queue[0][0], "%s", json);
	if (w->nsent < 1500) {
		snprintf(w->sent[w->nsent], sizeof w->sent[0], "%s", json);
		w->sent_partition[w->nsent++] = partition;
	}
}

/* One event at time t, or none when the dice chose one that cannot be made yet. */
static void make_event(struct world *w, int id, int64_t t)
{
	char json[400];
	int64_t at = t + (rnd_below(14) - 10) * HOUR;
	int r = rnd_below(100);
	if ((r < 4 || w->campaigns == 0) && w->campaigns < 64) {
		int c = w->campaigns++;
		snprintf(w->currency[c], sizeof w->currency[c], "%s", rnd_below(2) ? "GBP" : "EUR");
		snprintf(json, sizeof json,
			 "{\"v\":1,\"type\":\"campaign.opened\",\"id\":\"e%d\",\"at\":%lld,\"campaign\":"
			 "\"c%d\",\"title\":\"T\",\"owner\":\"O\",\"currency\":\"%s\"}",
			 id, (long long)at, c, w->currency[c]);
		emit(w, c % PARTITIONS, json);
	} else if (r < 40 && w->pledges < 2000) {
		int c = rnd_below(w->campaigns), s = rnd_below(SUPPORTERS), p = w->pledges++;
		int amount = 1 + rnd_below(1000);
		w->pledge_campaign[p] = c;
		w->pledge_amount[p] = amount;
		w->backers[c] |= 1u << s;
		snprintf(json, sizeof json,
			 "{\"v\":1,\"type\":\"pledge.created\",\"id\":\"e%d\",\"at\":%lld,\"campaign\":"
			 "\"c%d\",\"pledge\":\"p%d\",\"supporter\":\"s%d\",\"amount\":%d,\"currency\":"
			 "\"%s\"%s}",
			 id, (long long)at, c, p, s, amount, w->currency[c],
			 rnd_below(2) ? ",\"name\":\"A Name\"" : "");
		emit(w, c % PARTITIONS, json);
	} else if (r < 52 && w->pledges) {
		int p = rnd_below(w->pledges), c = w->pledge_campaign[p];
		int amount = rnd_below(2) ? w->pledge_amount[p] : 1 + rnd_below(w->pledge_amount[p]);
		snprintf(json, sizeof json,
			 "{\"v\":1,\"type\":\"pledge.refunded\",\"id\":\"e%d\",\"at\":%lld,\"campaign\":"
			 "\"c%d\",\"pledge\":\"p%d\",\"amount\":%d}",
			 id, (long long)at, c, p, amount);
		emit(w, c % PARTITIONS, json);
	} else if (r < 72 && w->comments < 2000) {
		int c = rnd_below(w->campaigns), s = rnd_below(SUPPORTERS);
		if (!(w->backers[c] & (1u << s)))
			return;
		w->comment_campaign[w->comments] = c;
		snprintf(json, sizeof json,
			 "{\"v\":1,\"type\":\"comment.posted\",\"id\":\"e%d\",\"at\":%lld,\"campaign\":"
			 "\"c%d\",\"comment\":\"k%d\",\"supporter\":\"s%d\",\"text\":\"hello from s%d\"%s}",
			 id, (long long)at, c, w->comments++, s, s,
			 rnd_below(2) ? ",\"name\":\"A Name\"" : "");
		emit(w, c % PARTITIONS, json);
	} else if (r < 80 && w->comments) {
		int k = rnd_below(w->comments), c = w->comment_campaign[k];
		snprintf(json, sizeof json,
			 "{\"v\":1,\"type\":\"comment.removed\",\"id\":\"e%d\",\"at\":%lld,\"campaign\":"
			 "\"c%d\",\"comment\":\"k%d\"}",
			 id, (long long)at, c, k);
		emit(w, c % PARTITIONS, json);
	} else if (r < 81) {
		int c = rnd_below(w->campaigns);
		snprintf(json, sizeof json,
			 "{\"v\":1,\"type\":\"campaign.closed\",\"id\":\"e%d\",\"at\":%lld,\"campaign\":"
			 "\"c%d\"}",
			 id, (long long)at, c);
		emit(w, c % PARTITIONS, json);
	} else if (r < 87) {
		snprintf(json, sizeof json,
			 "{\"v\":1,\"type\":\"supporter.forgotten\",\"id\":\"e%d\",\"at\":%lld,"
			 "\"supporter\":\"s%d\",\"by\":\"test\"}",
			 id, (long long)at, rnd_below(SUPPORTERS));
		emit(w, -1, json);
	} else if (r < 90 && w->nsent) {
		int e = rnd_below(w->nsent); /* sent again: a duplicate by its id */
		snprintf(json, sizeof json, "%s", w->sent[e]);
		emit(w, w->sent_partition[e], json);
	}
}

/* The stream of seed: its partitions interleaved, each in its own order. */
static void make_stream(unsigned seed, int events, struct stream *s)
{
	static struct world w;
	memset(&w, 0, sizeof w);
	rng_state = seed;
	int64_t t = T0;
	for (int i = 1; i <= events; i++) {
		t += rnd_below(3) * HOUR;
		make_event(&w, i, t);
	}
	int next[PARTITIONS] = {0};
	s->count = 0;
	for (;;) {
		int open[PARTITIONS], nopen = 0;
		for (int p = 0; p < PARTITIONS; p++)
			if (next[p] < w.queued[p])
				open[nopen++] = p;
		if (nopen == 0)
			break;
		int p = open[rnd_below(nopen)];
		for (int k = 1 + rnd_below(4); k > 0 && next[p] < w.queued[p]; k--) {
			const char *json = w.queue[p][next[p]];
			struct msg *m = &s->msgs[s->count++];
			char err[160];
			m->partition = p;
			m->offset = next[p]++;
			const char *at = strstr(json, "\"at\":");
			m->at = at ? atoll(at + 5) : T0;
			msgpack_sbuffer_init(&m->buf);
			if (pl_json_to_msgpack(json, strlen(json), &m->buf, err, sizeof err)) {
				fprintf(stderr, "bad event %s: %s\n", json, err);
				abort();
			}
		}
	}
}

static void free_stream(struct stream *s)
{
	for (size_t i = 0; i < s->count; i++)
		msgpack_sbuffer_destroy(&s->msgs[i].buf);
}

static struct slot_options fixture_like(void)
{
	/* As fixture_writer's: small moves and runs, few campaigns held. */
	return (struct slot_options){.work_blocks = 512, .history_move_rows = 300,
				     .history_move_campaigns = 2, .history_run_min_rows = 60,
				     .history_runs_max = 3, .held_campaigns = 4};
}

/* A data dir on a small tmpfs that grows each time it is found full. */
struct disk {
	char dir[256];
	size_t kib; /* 0: an ordinary directory */
	int full;   /* times it was full */
};

static bool disk_grow(struct disk *d, int rc)
{
	if (rc != PL_ENOSPACE || !d->kib)
		return false;
	char opt[64];
	d->kib += 16;
	d->full++;
	snprintf(opt, sizeof opt, "size=%zuk", d->kib);
	if (mount("tmpfs", d->dir, "tmpfs", MS_REMOUNT, opt)) {
		perror("remount");
		abort();
	}
	return true;
}

/* Feeds s in batches of 1..20; rough adds the rebuild, the restart and, on
 * a tmpfs, the failures. What the batches did is added to *total. */
static void feed(struct store *st, struct disk *d, const struct stream *s, bool rough,
		 struct ingest_stats *total)
{
	size_t rebuild_at = s->count / 3 + (size_t)rnd_below((int)s->count / 3 + 1);
	size_t restart_at = (size_t)rnd_below((int)s->count);
	bool rebuilt = !rough, restarted = !rough;
	for (size_t i = 0; i < s->count;) {
		struct ingest_msg batch[20];
		struct ingest_stats stats;
		size_t n = 1 + (size_t)rnd_below(20);
		if (n > s->count - i)
			n = s->count - i;
		for (size_t j = 0; j < n; j++) {
			const struct msg *m = &s->msgs[i + j];
			batch[j] = (struct ingest_msg){.src = {"t", 1, m->partition, m->offset},
						       .value = m->buf.data,
						       .value_len = m->buf.size};
		}
		int rc = ingest_batch(fixture_writer(st), batch, n, "cluster", 1700000000000, &stats);
		if (disk_grow(d, rc))
			continue; /* the same batch again, as the consumer sends it */
		CHECK_INT(rc, 0);
		if (rc)
			return;
		ingest_stats_add(total, &stats);
		i += n;
		rc = writer_maintain(fixture_writer(st), 1 + rnd_below(3));
		if (!disk_grow(d, rc))
			CHECK_INT(rc, 0);
		if (!rebuilt && i >= rebuild_at) {
			struct rebuild_options ro = {.slot = fixture_like(), .swap = true, .txn_ms = 1};
			struct rebuild_report rep;
			while (disk_grow(d, rc = rebuild_run(st, &ro, &rep)))
				;
			CHECK_INT(rc, 0);
			CHECK_INT(rep.result.outcome, REPLAY_OK);
			CHECK(rep.swapped);
			rebuilt = true;
		}
		if (!restarted && i >= restart_at) {
			fixture_drop_writer(st);
			restarted = true;
		}
	}
}

struct cut {
	struct store_txn *live_t;
	enum store_slot live;
	int64_t at;
	int compared, differ;
};

/* A campaign of the dry run against the live history's figures at the cut. */
static int compare_at_cut(const struct proj_campaign *c, const void *key, size_t key_len,
			  void *arg)
{
	(void)key;
	(void)key_len;
	struct cut *x = arg;
	struct proj_campaign h = {.id = c->id};
	int rc = proj_history_as_of(x->live_t, x->live, NULL, x->at, &h, NULL);
	const struct proj_totals *a = &h.totals, *b = &c->totals;
	x->compared++;
	/* Comments may differ: http.md says when as_of and a cut disagree. */
	if (rc || a->raised != b->raised || a->pledges != b->pledges ||
	    a->supporters != b->supporters || a->opened_at != b->opened_at ||
	    a->closed_at != b->closed_at || h.days != c->days) {
		fprintf(stderr,
			"cut at %lld, campaign %.*s: history (rc %d) raised %lld pledges %lld "
			"supporters %lld, dry run %lld %lld %lld\n",
			(long long)x->at, (int)c->id.len, c->id.ptr, rc, (long long)a->raised,
			(long long)a->pledges, (long long)a->supporters, (long long)b->raised,
			(long long)b->pledges, (long long)b->supporters);
		x->differ++;
	}
	return 0;
}

static void check_cuts(struct store *st, const struct stream *s)
{
	for (int k = 0; k < CUTS; k++) {
		char dir[256];
		struct store *scratch;
		struct store_txn src, out_t;
		struct slot out;
		struct replay_report rep;
		struct store_options so = {.create = true, .no_sync = true};
		struct cut x = {.at = s->msgs[rnd_below((int)s->count)].at - rnd_below(2)};
		struct replay_options ro = {.has_until_time = true, .until_time = x.at,
					    .slot = fixture_like()};
		uint64_t gen;
		fixture_tmpdir(dir, sizeof dir);
		CHECK_INT(store_open(&scratch, dir, &so), 0);
		CHECK_INT(store_read_begin(st, &src), 0);
		CHECK_INT(replay_scratch(&src, scratch, &ro, &out, &rep), 0);
		CHECK_INT(rep.result.outcome, REPLAY_OK);
		CHECK_INT(proj_live(&src, &x.live, &gen), 0);
		x.live_t = &src;
		CHECK_INT(store_read_begin(scratch, &out_t), 0);
		CHECK_INT(proj_campaign_each(&out_t, STORE_SLOT_A, compare_at_cut, &x), 0);
		store_abort(&out_t);
		CHECK(x.compared > 0 || k > 0);
		CHECK_INT(x.differ, 0);
		slot_close(&out);
		store_abort(&src);
		store_close(scratch);
		store_remove_dir(dir);
	}
}

/* A store in d: on a 256 KiB tmpfs when one can be mounted (root). */
static struct store *open_on(struct disk *d, bool small_disk)
{
	struct store *st;
	struct store_options so = {.create = true, .no_sync = true, .initial_map_size = 64 * 1024};
	fixture_tmpdir(d->dir, sizeof d->dir);
	d->kib = 0;
	d->full = 0;
	if (small_disk && mount("tmpfs", d->dir, "tmpfs", 0, "size=256k") == 0)
		d->kib = 256;
	if (store_open(&st, d->dir, &so)) {
		fprintf(stderr, "cannot open a store in %s\n", d->dir);
		abort();
	}
	return st;
}

static void close_on(struct disk *d, struct store *st)
{
	fixture_close(st);
	if (d->kib)
		umount(d->dir);
	else
		store_remove_dir(d->dir);
	rmdir(d->dir);
}

int main(void)
{
	log_set_level(LOG_ERROR); /* erasures and their copies sent again each say so */
	static struct stream s;
	static const unsigned seeds[] = {1, 7, 42};
	for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
		make_stream(seeds[i], 1500, &s);
		struct disk calm_disk, rough_disk;
		struct ingest_stats calm_stats = {0}, rough_stats = {0};
		struct store *calm = open_on(&calm_disk, false);
		feed(calm, &calm_disk, &s, false, &calm_stats);
		CHECK(fixture_verified(calm));
		struct fixture_outcome a, b;
		CHECK_INT(fixture_outcome(calm, &a), 0);
		close_on(&calm_disk, calm);

		struct store *rough = open_on(&rough_disk, true);
		feed(rough, &rough_disk, &s, true, &rough_stats);
		CHECK(fixture_verified(rough));
		CHECK_INT(fixture_outcome(rough, &b), 0);
		check_cuts(rough, &s);
		close_on(&rough_disk, rough);

		printf("seed %u: %zu messages, log %llu, %llu rejections, %llu campaigns; "
		       "the rough feed's disk full %d times%s\n",
		       seeds[i], s.count, (unsigned long long)a.log,
		       (unsigned long long)a.rejections, (unsigned long long)a.campaigns,
		       rough_disk.full, rough_disk.kib ? "" : " (no tmpfs: not root)");
		for (int r = 1; r < PL_REASON_COUNT; r++)
			if (calm_stats.rejected[r])
				printf("  %s %llu\n", pl_reason_code((enum pl_reason)r),
				       (unsigned long long)calm_stats.rejected[r]);
		printf("  duplicates %llu\n", (unsigned long long)calm_stats.duplicates);
		CHECK_INT(rough_stats.duplicates, calm_stats.duplicates);
		CHECK(a.log > 500 && a.rejections > 0 && a.campaigns > 10);
		CHECK_INT(b.log, a.log);
		CHECK_INT(b.rejections, a.rejections);
		CHECK_INT(b.campaigns, a.campaigns);
		CHECK_INT(b.raised, a.raised);
		CHECK_INT(b.pledges, a.pledges);
		CHECK_INT(b.supporters, a.supporters);
		CHECK_INT(b.comments, a.comments);
		CHECK(b.digest == a.digest);
		free_stream(&s);
	}
	return check_done();
}
