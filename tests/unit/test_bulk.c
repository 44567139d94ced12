/*
 * test_bulk.c — the rules applied in bulk decide what they decide in log order.
 *
 * For each seed, a random log of every event type the bulk rules take
 * (campaigns opened and closed, pledges in two currencies, partial and full
 * refunds, comments by backers and others, removals, times out of order
 * and before openings; what the rules refuse stays out of the log) is
 * ingested into a data dir. proj_bulk_apply() on that log, in partitions
 * of 16 items and in one, must then give every entry the history row, every
 * key of the state index the value (the event ids too), and every currency the platform totals
 * that a replay of the same log in order gives. Then each entry the rules
 * would refuse, added to the good log, must stop it at that entry.
 */
#include <stdarg.h>
#include <stdint.h>

#include "bytes.h"
#include "check.h"
#include "fixture.h"
#include "proj_bulk.h"
#include "proj_history_cursor.h"
#include "rebuild.h"
#include "rejections.h"
#include "replay.h"

#define T0 INT64_C(1578132000000)
#define HOUR INT64_C(3600000)
enum { CAMPAIGNS = 40, SUPPORTERS = 10, EVENTS = 4000 };

static uint64_t rng_state;

static int rnd_below(int n)
{
	rng_state = rng_state * 6364136223846793005u + 1442695040888963407u;
	return (int)((rng_state >> 33) % (uint64_t)n);
}

/*
 * Ingests a random mix; the rules refuse some of it, as they would a
 * gateway's. Event ids start with tag; a feed with a tag also sends every
 * tenth event under an untagged id again (a duplicate of the first feed's).
 */
static void feed(struct store *st, unsigned seed, const char *tag)
{
	int refused = 0;
	int campaigns = 0, pledges = 0, comments = 0;
	unsigned backers[CAMPAIGNS] = {0}; /* bit s: supporter s pledged there */
	static int pledge_campaign[EVENTS], pledge_amount[EVENTS], comment_campaign[EVENTS];
	char json[512];
	rng_state = seed;
	int64_t t = T0;
	for (int id = 1; id <= EVENTS; id++) {
		int r = rnd_below(100);
		int c = campaigns ? rnd_below(campaigns) : 0, s = rnd_below(SUPPORTERS);
		int64_t at = (t += rnd_below(3) * HOUR) + (rnd_below(14) - 10) * HOUR;
		const char *cur = c % 3 ? "GBP" : "EUR";
		if (r < 5 || campaigns == 0) {
			if (campaigns == CAMPAIGNS)
				continue;
			c = campaigns++;
			snprintf(json, sizeof json,
				 "{\"v\":1,\"type\":\"campaign.opened\",\"id\":\"e%d\",\"at\":%lld,"
				 "\"campaign\":\"c%d\",\"title\":\"T\",\"owner\":\"O\",\"currency\":\"%s\"}",
				 id, (long long)at, c, c % 3 ? "GBP" : "EUR");
		} else if (r < 45) {
			backers[c] |= 1u << s;
			pledge_campaign[pledges] = c;
			pledge_amount[pledges] = 1 + rnd_below(500);
			snprintf(json, sizeof json,
				 "{\"v\":1,\"type\":\"pledge.created\",\"id\":\"e%d\",\"at\":%lld,"
				 "\"campaign\":\"c%d\",\"pledge\":\"p%d\",\"supporter\":\"s%d\","
				 "\"amount\":%d,\"currency\":\"%s\"}",
				 id, (long long)at, c, pledges, s, pledge_amount[pledges],
				 rnd_below(30) ? cur : "USD");
			pledges++;
		} else if (r < 60 && pledges) {
			int p = rnd_below(pledges);
			snprintf(json, sizeof json,
				 "{\"v\":1,\"type\":\"pledge.refunded\",\"id\":\"e%d\",\"at\":%lld,"
				 "\"campaign\":\"c%d\",\"pledge\":\"p%d\",\"amount\":%d}",
				 id, (long long)at, rnd_below(8) ? pledge_campaign[p] : c, p,
				 rnd_below(2) ? pledge_amount[p] : 1 + rnd_below(300));
		} else if (r < 82) {
			/* Mostly by someone who pledged there (a refund may have undone it). */
			for (int k = 0; k < 8 && !(backers[c] & (1u << s)); k++)
				s = rnd_below(SUPPORTERS);
			comment_campaign[comments] = c;
			snprintf(json, sizeof json,
				 "{\"v\":1,\"type\":\"comment.posted\",\"id\":\"e%d\",\"at\":%lld,"
				 "\"campaign\":\"c%d\",\"comment\":\"k%d\",\"supporter\":\"s%d\","
				 "\"text\":\"hi\"}",
				 id, (long long)at, c, rnd_below(10) ? comments++ : rnd_below(comments + 1), s);
		} else if (r < 92 && comments) {
			int k = rnd_below(comments);
			snprintf(json, sizeof json,
				 "{\"v\":1,\"type\":\"comment.removed\",\"id\":\"e%d\",\"at\":%lld,"
				 "\"campaign\":\"c%d\",\"comment\":\"k%d\"}",
				 id, (long long)at, rnd_below(8) ? comment_campaign[k] : c, k);
		} else if (r < 94 && rnd_below(8) == 0) {
			snprintf(json, sizeof json,
				 "{\"v\":1,\"type\":\"campaign.closed\",\"id\":\"e%d\",\"at\":%lld,"
				 "\"campaign\":\"c%d\"}",
				 id, (long long)at, c);
		} else {
			continue;
		}
		if (*tag && id % 10) {
			char *e = strstr(json, "\"id\":\"e");
			memmove(e + 6 + strlen(tag), e + 6, strlen(e + 6) + 1);
			memcpy(e + 6, tag, strlen(tag));
		}
		refused += fixture_ingest(st, json) > 0;
	}
	CHECK(refused > EVENTS / 20);
}

/* A rebuild of st within limits, which must have swapped: its report. */
static struct rebuild_report rebuild_within(struct store *st, struct bulk_limits limits)
{
	struct rebuild_options ro = {.swap = true, .txn_ms = 1, .bulk = limits};
	struct rebuild_report rep;
	fixture_drop_writer(st);
	CHECK_INT(rebuild_run(st, &ro, &rep), 0);
	CHECK_INT(rep.result.outcome, REPLAY_OK);
	CHECK(rep.swapped);
	return rep;
}

/* A rebuild of st, which must have filled its slot at once, then swapped. */
static void rebuild_at_once(struct store *st)
{
	CHECK(rebuild_within(st, (struct bulk_limits){0}).bulk);
}

/*
 * A log longer than filling at once may take has its first entries filled
 * at once and the rest applied in log order; one whose comments' rows (the
 * whole log's, however its halves share them) pass the limit is rebuilt
 * entry by entry; at the limits, at once. Each to the same end.
 */
static void check_limits(struct store *st, size_t entries, size_t comment_bytes)
{
	const struct bulk_limits limits[] = {{.entries = entries / 2},
					     {.entries = entries - 1},
					     {.comment_bytes = comment_bytes - 1},
					     {.entries = entries, .comment_bytes = comment_bytes}};
	for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
		struct rebuild_report rep = rebuild_within(st, limits[i]);
		CHECK(rep.bulk == (i != 2));
		CHECK_INT(rep.applied, entries);
		CHECK(fixture_verified(st));
	}
}

#define ERASURE_OF_S1 \
	"{\"v\":1,\"type\":\"supporter.forgotten\",\"id\":\"forget-1\"," \
	"\"at\":1578132000000,\"supporter\":\"s1\",\"by\":\"test\"}"

/*
 * An erasure is filled at once with the rest, whether it lies within the
 * fill's limit or past it (then the log-order path applies it after the
 * fill), in the log's last half or its first; the same with feeds after
 * it, which lean on the first's campaigns, pledges, comments and ids.
 */
static void check_erasure_among(struct store *st, unsigned seed, size_t entries)
{
	CHECK_INT(fixture_ingest(st, ERASURE_OF_S1), 0);
	const struct bulk_limits limits[] = {{.entries = entries}, {.entries = entries / 2}, {0}};
	for (int round = 0; round < 2; round++) {
		struct fixture_outcome o;
		CHECK_INT(fixture_outcome(st, &o), 0);
		for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
			struct rebuild_report rep = rebuild_within(st, limits[i]);
			CHECK(rep.bulk);
			CHECK_INT(rep.applied, o.log);
			CHECK(fixture_verified(st));
		}
		if (round == 0) { /* twice: the erasure then lies in the log's first half */
			feed(st, seed + 1, "f");
			feed(st, seed + 2, "g");
		}
	}
}

/* An erasure early in the log, after one entry or first: filled at once too. */
static void check_erasure_early(unsigned seed)
{
	for (int first = 0; first < 2; first++) {
		char dir[256];
		struct store *st = fixture_store(dir, sizeof dir, 0);
		if (!first)
			CHECK_INT(fixture_ingest(st, "{\"v\":1,\"type\":\"campaign.opened\","
							 "\"id\":\"early\",\"at\":1578132000000,"
							 "\"campaign\":\"c-early\",\"title\":\"T\","
							 "\"owner\":\"O\",\"currency\":\"GBP\"}"),
				  0);
		CHECK_INT(fixture_ingest(st, ERASURE_OF_S1), 0);
		feed(st, seed, "");
		struct fixture_outcome o;
		CHECK_INT(fixture_outcome(st, &o), 0);
		struct rebuild_report rep = rebuild_within(st, (struct bulk_limits){0});
		CHECK(rep.bulk);
		CHECK_INT(rep.applied, o.log);
		CHECK(fixture_verified(st));
		fixture_close(st);
		fixture_remove(dir);
	}
}

/* Ingests one event of the erasures' campaign, made from fmt and its arguments: 0 when applied. */
static int ingest_on(struct store *st, int32_t partition, const char *fmt, ...)
{
	static int64_t offset[2];
	char json[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(json, sizeof json, fmt, ap);
	va_end(ap);
	return fixture_ingest_on(st, json, NULL, partition, 1000000 + offset[partition]++);
}

#define X_OPENED                                                                       \
	"{\"v\":1,\"type\":\"campaign.opened\",\"id\":\"x-open\",\"at\":%lld,\"campaign\":\"c-x\"," \
	"\"title\":\"T\",\"owner\":\"O\",\"currency\":\"GBP\"}"
#define X_COMMENT                                                                         \
	"{\"v\":1,\"type\":\"comment.posted\",\"id\":\"x-%s\",\"at\":%lld,\"campaign\":\"c-x\"," \
	"\"comment\":\"%s\",\"supporter\":\"s1\",\"name\":\"Ann\",\"text\":\"hello\"}"
#define X_ERASURE                                                                    \
	"{\"v\":1,\"type\":\"supporter.forgotten\",\"id\":\"%s\",\"at\":%lld,\"supporter\":\"s1\"," \
	"\"by\":\"test\"}"

/*
 * Erasures of every kind, among a random log and before more of it, filled
 * at once: the erasure's later copy on another partition (an id of its
 * own, the comment that partition brought since), a second erasure that
 * finds every comment removed (no rows), comments removed before, and a
 * campaign whose hidden comments all count from the erasure's time (one
 * merged row), beside others hidden at their own times. Within the fill's
 * limit and past it (the log-order path then applies them after it).
 */
static void check_erasures_at_once(unsigned seed)
{
	char dir[256];
	struct store *st = fixture_store(dir, sizeof dir, 0);
	struct fixture_outcome before, after;
	const int64_t late = T0 + 20000 * HOUR; /* after every comment of the feed */
	feed(st, seed, "");
	CHECK_INT(ingest_on(st, 0, X_OPENED, (long long)T0), 0);
	CHECK_INT(ingest_on(st, 0, "{\"v\":1,\"type\":\"pledge.created\",\"id\":\"x-pledge\","
				   "\"at\":%lld,\"campaign\":\"c-x\",\"pledge\":\"p-x\","
				   "\"supporter\":\"s1\",\"amount\":100,\"currency\":\"GBP\"}",
			    (long long)(T0 + HOUR)),
		  0);
	CHECK_INT(ingest_on(st, 0, X_COMMENT, "k1", (long long)(T0 + 2 * HOUR), "k-x1"), 0);
	CHECK_INT(ingest_on(st, 0, X_COMMENT, "k2", (long long)(T0 + 3 * HOUR), "k-x2"), 0);
	CHECK_INT(ingest_on(st, 0, X_COMMENT, "k3", (long long)(T0 + 4 * HOUR), "k-x3"), 0);
	CHECK_INT(ingest_on(st, 0, "{\"v\":1,\"type\":\"comment.removed\",\"id\":\"x-removed\","
				   "\"at\":%lld,\"campaign\":\"c-x\",\"comment\":\"k-x2\"}",
			    (long long)(T0 + 5 * HOUR)),
		  0);
	CHECK_INT(fixture_outcome(st, &before), 0);
	CHECK_INT(ingest_on(st, 0, X_ERASURE, "forget-s1", (long long)late), 0);
	CHECK_INT(ingest_on(st, 0, X_ERASURE, "forget-s1-again", (long long)late + 1), 0);
	CHECK_INT(ingest_on(st, 1, X_COMMENT, "k4", (long long)late + 2, "k-x4"), 0);
	CHECK_INT(ingest_on(st, 1, X_ERASURE, "forget-s1", (long long)late), 0);
	CHECK_INT(fixture_outcome(st, &after), 0);
	/* k-x1, k-x3, k-x4 and s1's comments of the feed hidden. */
	CHECK(after.comments < before.comments - 2);
	feed(st, seed + 1, "f");
	struct fixture_outcome o;
	CHECK_INT(fixture_outcome(st, &o), 0);
	const struct bulk_limits limits[] = {{0}, {.entries = before.log}};
	for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
		struct rebuild_report rep = rebuild_within(st, limits[i]);
		CHECK(rep.bulk);
		CHECK_INT(rep.applied, o.log);
		CHECK(fixture_verified(st));
	}
	fixture_close(st);
	fixture_remove(dir);
}

/* Puts the record of the erasure at log position seq: naming comment, or gone when 0. */
struct damaged_record {
	uint64_t seq, comment;
};

static int damage_record(struct store_txn *t, void *arg)
{
	const struct damaged_record *d = arg;
	uint8_t key[sizeof "erasure." - 1 + 8], record[16 + 8] = {0};
	memcpy(key, "erasure.", sizeof "erasure." - 1);
	bytes_put_be64(key + sizeof "erasure." - 1, d->seq);
	if (d->comment) {
		bytes_put_le64(record + 16, d->comment);
		store_put(t, STORE_DB_META, key, sizeof key, record, sizeof record, 0);
	} else {
		store_del(t, STORE_DB_META, key, sizeof key);
	}
	return t->err;
}

/*
 * An erasure whose record is gone, names what is not a comment before it,
 * or names a comment that a removal after it removed (the erasure hid it
 * first: the removal does not apply): not filled at once, but left to the
 * log-order path, which reports the damage as it does without the fill.
 */
static void check_erasure_record_damaged(void)
{
	/* The log: opened 1, pledges 2 (s1) and 3 (s2), comments 4 (s2) and 5 (s1),
	 * s1's erasure 6, comment 4 removed 7. */
	const struct damaged_record damage[] = {{6, 0}, {6, 1}, {6, 8}, {6, 4}};
	for (size_t i = 0; i < sizeof damage / sizeof damage[0]; i++) {
		char dir[256];
		struct store *st = fixture_store(dir, sizeof dir, 0);
		CHECK_INT(ingest_on(st, 0, X_OPENED, (long long)T0), 0);
		for (int s = 1; s <= 2; s++)
			CHECK_INT(ingest_on(st, 0, "{\"v\":1,\"type\":\"pledge.created\","
						   "\"id\":\"x-pledge%d\",\"at\":%lld,"
						   "\"campaign\":\"c-x\",\"pledge\":\"p-x%d\","
						   "\"supporter\":\"s%d\",\"amount\":100,"
						   "\"currency\":\"GBP\"}",
					    s, (long long)T0, s, s),
				  0);
		CHECK_INT(ingest_on(st, 0, "{\"v\":1,\"type\":\"comment.posted\",\"id\":\"x-k2\","
					   "\"at\":%lld,\"campaign\":\"c-x\",\"comment\":\"k-x2\","
					   "\"supporter\":\"s2\",\"text\":\"hello\"}",
				    (long long)T0),
			  0);
		CHECK_INT(ingest_on(st, 0, X_COMMENT, "k1", (long long)T0, "k-x1"), 0);
		CHECK_INT(ingest_on(st, 0, X_ERASURE, "forget-s1", (long long)T0), 0);
		CHECK_INT(ingest_on(st, 0, "{\"v\":1,\"type\":\"comment.removed\","
					   "\"id\":\"x-removed\",\"at\":%lld,\"campaign\":\"c-x\","
					   "\"comment\":\"k-x2\"}",
				    (long long)T0),
			  0);
		CHECK_INT(store_run_write(st, damage_record, (void *)&damage[i]), 0);
		struct rebuild_report at_once, in_order;
		struct rebuild_options ro = {.swap = true};
		fixture_drop_writer(st);
		int rc_at_once = rebuild_run(st, &ro, &at_once);
		CHECK_INT(rebuild_abort(st, &(struct slot_options){0}), 0);
		ro.in_log_order = true;
		CHECK_INT(rebuild_run(st, &ro, &in_order), rc_at_once);
		CHECK(!at_once.bulk && !at_once.swapped && !in_order.swapped);
		CHECK_INT(at_once.result.outcome, in_order.result.outcome);
		fixture_close(st);
		fixture_remove(dir);
	}
}

/*
 * A rebuild filled at once whose record of how far it got is gone (as
 * when it dies between its transactions, before the last records it): the
 * next rebuild, either way, starts over from an emptied slot, not on top of
 * the rows it finds there.
 */
static int forget_progress(struct store_txn *t, void *arg)
{
	(void)arg;
	uint8_t zero[8] = {0};
	store_put(t, STORE_DB_META, "rebuild.seq", strlen("rebuild.seq"), zero, sizeof zero, 0);
	return t->err;
}

/* A difference --diff shows: the live campaign, and none rebuilt. */
static int count_unbuilt(const struct rebuild_change *c, void *arg)
{
	size_t *n = arg;
	(*n)++;
	CHECK(c->in_live && !c->in_rebuilt);
	return 0;
}

static void check_half_filled(struct store *st, bool at_once)
{
	struct rebuild_options ro = {.txn_ms = 1};
	struct rebuild_report rep;
	fixture_drop_writer(st);
	CHECK_INT(rebuild_run(st, &ro, &rep), 0);
	CHECK(rep.bulk && rep.caught_up && !rep.swapped);
	CHECK_INT(store_run_write(st, forget_progress, NULL), 0);
	/* What --diff shows of it: a rebuild that holds nothing, not its rows. */
	struct fixture_outcome live;
	size_t unbuilt = 0;
	CHECK_INT(fixture_outcome(st, &live), 0);
	CHECK_INT(rebuild_diff(st, count_unbuilt, &unbuilt), 0);
	CHECK_INT(unbuilt, live.campaigns);
	ro = (struct rebuild_options){.swap = true, .in_log_order = !at_once};
	CHECK_INT(rebuild_run(st, &ro, &rep), 0);
	CHECK(!rep.resumed && rep.swapped && rep.bulk == at_once);
	CHECK(fixture_verified(st));
}

/*
 * A data dir rebuilt at once, then fed a second stream that leans on what
 * the first left (its campaigns, pledge and comment ids, event ids sent
 * again), must decide that stream as one never rebuilt, and pass verify.
 */
static void check_rebuilt_at_once(unsigned seed)
{
	char dir_a[256], dir_b[256];
	struct store *a = fixture_store(dir_a, sizeof dir_a, 0);
	struct store *b = fixture_store(dir_b, sizeof dir_b, 0);
	feed(a, seed, "");
	feed(b, seed, "");
	rebuild_at_once(a);
	CHECK(fixture_verified(a));
	feed(a, seed + 1, "f");
	feed(b, seed + 1, "f");
	struct fixture_outcome x, y;
	CHECK_INT(fixture_outcome(a, &x), 0);
	CHECK_INT(fixture_outcome(b, &y), 0);
	CHECK_INT(x.log, y.log);
	CHECK_INT(x.rejections, y.rejections);
	CHECK_INT(x.campaigns, y.campaigns);
	CHECK(x.digest == y.digest);
	CHECK(fixture_verified(a));
	rebuild_at_once(a);
	CHECK(fixture_verified(a));
	check_half_filled(a, true);
	check_half_filled(a, false);
	printf("seed %u: rebuilt at once, then fed: log %llu, %llu rejections, as never rebuilt\n",
	       seed, (unsigned long long)x.log, (unsigned long long)x.rejections);
	fixture_close(a);
	fixture_close(b);
	fixture_remove(dir_a);
	fixture_remove(dir_b);
}

/* The log as the bulk rules take it, with each entry's campaign id for its history key. */
struct log_copy {
	struct proj_bulk_entry *e;
	char (*campaign)[16];
	size_t n, cap;
	size_t comment_bytes; /* the comments' rows, as the comments table holds them */
};

static int copy_entry(const struct evlog_entry *le, void *arg)
{
	struct log_copy *lc = arg;
	struct decoded d;
	d.keys = (struct proj_keys){0}; /* an event's keys are set for its fields only */
	decode_event(&d, le->raw, le->raw_len, NULL, 0);
	if (d.rc || lc->n == lc->cap)
		return PL_ECORRUPT;
	struct pl_str c = pl_event_str(&d.ev, PL_F_CAMPAIGN);
	if (d.ev.type == PL_EV_COMMENT_POSTED) {
		struct proj_comment com = {.id = pl_event_str(&d.ev, PL_F_COMMENT),
					   .name = pl_event_str(&d.ev, PL_F_NAME),
					   .has_name = pl_event_has(&d.ev, PL_F_NAME),
					   .text = pl_event_str(&d.ev, PL_F_TEXT)};
		lc->comment_bytes += proj_comment_encode(NULL, &com);
	}
	proj_bulk_entry_of(&lc->e[lc->n], &d.ev, &d.keys, &d.id, le->seq);
	snprintf(lc->campaign[lc->n++], sizeof lc->campaign[0], "%.*s", (int)c.len, c.ptr);
	return 0;
}

static void copy_log(struct store *st, struct log_copy *lc)
{
	struct store_txn t;
	lc->cap = EVENTS + 16;
	lc->n = 0;
	lc->comment_bytes = 0;
	lc->e = calloc(lc->cap, sizeof *lc->e);
	lc->campaign = calloc(lc->cap, sizeof *lc->campaign);
	CHECK_INT(store_read_begin(st, &t), 0);
	CHECK_INT(evlog_each(&t, 1, copy_entry, lc, NULL), 0);
	store_abort(&t);
}

/* --- the replay in log order, side by side --- */

struct kind_walk {
	const struct proj_bulk_table *bulk;
	size_t i;
	int differ;
};

static int compare_entry(const struct fp *f, const void *value, void *arg)
{
	struct kind_walk *w = arg;
	const uint8_t *b = w->bulk->entries + w->i * w->bulk->entry_size;
	if (w->i++ >= w->bulk->count || memcmp(b, f->b, FP_SIZE) ||
	    memcmp(b + FP_SIZE, value, w->bulk->entry_size - FP_SIZE))
		w->differ++;
	return 0;
}

static const struct log_copy *sort_log;
static const struct proj_bulk *sort_bulk;

static size_t row_key(size_t i, uint8_t key[PROJ_KEY_MAX])
{
	const char *c = sort_log->campaign[i];
	return proj_timed_key(key, (struct pl_str){c, strlen(c)}, sort_bulk->rows[i].at,
			      sort_log->e[i].seq);
}

static int by_row_key(const void *a, const void *b)
{
	uint8_t ka[PROJ_KEY_MAX], kb[PROJ_KEY_MAX];
	size_t la = row_key(*(const size_t *)a, ka), lb = row_key(*(const size_t *)b, kb);
	return proj_key_cmp(ka, la, kb, lb);
}

/* Every history row of slot a of the replay against the bulk's, in key order. */
static void compare_history(struct store_txn *t, const struct log_copy *lc,
			    const struct proj_bulk *b)
{
	size_t *order = calloc(lc->n, sizeof *order);
	for (size_t i = 0; i < lc->n; i++)
		order[i] = i;
	sort_log = lc;
	sort_bulk = b;
	qsort(order, lc->n, sizeof *order, by_row_key);
	struct proj_staged staged;
	struct proj_history_cursor c;
	proj_staged_init(&staged);
	CHECK_INT(proj_staged_sync(&staged, t, STORE_SLOT_A), 0);
	CHECK_INT(proj_history_cursor_open(&c, t, store_slot_db(STORE_SLOT_A, SLOT_HISTORY), &staged,
					   NULL, 0),
		  0);
	size_t i = 0, differ = 0;
	MDB_val k, v;
	for (; proj_history_cursor_get(&c, &k, &v) == 0; proj_history_cursor_next(&c), i++) {
		uint8_t key[PROJ_KEY_MAX], val[PROJ_HISTORY_MAX];
		if (i == lc->n) {
			differ++;
			break;
		}
		size_t klen = row_key(order[i], key);
		size_t vlen = proj_history_encode(val, &b->rows[order[i]].h);
		if (klen != k.mv_size || memcmp(key, k.mv_data, klen) || vlen != v.mv_size ||
		    memcmp(val, v.mv_data, vlen))
			differ++;
	}
	CHECK_INT(i, lc->n);
	CHECK_INT(differ, 0);
	proj_history_cursor_close(&c);
	proj_staged_deinit(&staged);
	free(order);
}

struct platform_walk {
	const struct proj_bulk *b;
	size_t seen;
	int differ;
};

static int compare_platform(const char currency[3], const struct proj_platform *p, void *arg)
{
	struct platform_walk *w = arg;
	w->seen++;
	for (size_t i = 0; i < w->b->nplatform; i++)
		if (memcmp(w->b->platform[i].currency, currency, 3) == 0)
			return memcmp(&w->b->platform[i].p, p, sizeof *p) ? (w->differ++, 0) : 0;
	w->differ++;
	return 0;
}

/* The bulk's decisions against a replay of st's log in order into a scratch data dir. */
static void compare_with_replay(struct store *st, const struct log_copy *lc,
				const struct proj_bulk *b)
{
	char dir[256];
	struct store *scratch;
	struct store_txn src, t;
	struct slot out;
	struct replay_report rep;
	struct store_options so = {.create = true, .no_sync = true};
	struct replay_options ro = {0};
	fixture_tmpdir(dir, sizeof dir);
	CHECK_INT(store_open(&scratch, dir, &so), 0);
	CHECK_INT(store_read_begin(st, &src), 0);
	CHECK_INT(replay_scratch(&src, scratch, &ro, &out, &rep), 0);
	CHECK_INT(rep.result.outcome, REPLAY_OK);
	CHECK_INT(store_read_begin(scratch, &t), 0);
	for (int k = 0; k < PROJ_KIND_COUNT; k++) {
		struct kind_walk w = {&b->state[k], 0, 0};
		CHECK_INT(index_each(&out.ix, &t, SLOT_K_PROJ + k, compare_entry, &w), 0);
		CHECK_INT(w.i, b->state[k].count);
		CHECK_INT(w.differ, 0);
		CHECK(b->state[k].count > 0);
	}
	struct kind_walk ids = {&b->ids, 0, 0};
	CHECK_INT(index_each(&out.ix, &t, SLOT_K_EVENT_IDS, compare_entry, &ids), 0);
	CHECK_INT(ids.i, lc->n);
	CHECK_INT(b->ids.count, lc->n);
	CHECK_INT(ids.differ, 0);
	compare_history(&t, lc, b);
	struct platform_walk pw = {b, 0, 0};
	CHECK_INT(proj_platform_each(&t, STORE_SLOT_A, compare_platform, &pw), 0);
	CHECK_INT(pw.seen, b->nplatform);
	CHECK_INT(pw.differ, 0);
	store_abort(&t);
	slot_close(&out);
	store_abort(&src);
	store_close(scratch);
	store_remove_dir(dir);
}

/* Whether two bulk outcomes of one log are the same. */
static bool same_bulk(const struct proj_bulk *a, const struct proj_bulk *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t va[PROJ_HISTORY_MAX], vb[PROJ_HISTORY_MAX];
		size_t la = proj_history_encode(va, &a->rows[i].h);
		if (a->rows[i].at != b->rows[i].at || la != proj_history_encode(vb, &b->rows[i].h) ||
		    memcmp(va, vb, la))
			return false;
	}
	if (a->nplatform != b->nplatform)
		return false;
	for (size_t i = 0; i < a->nplatform; i++)
		if (memcmp(a->platform[i].currency, b->platform[i].currency, 3) ||
		    memcmp(&a->platform[i].p, &b->platform[i].p, sizeof a->platform[i].p))
			return false;
	if (a->ids.count != b->ids.count ||
	    memcmp(a->ids.entries, b->ids.entries, a->ids.count * FP_SIZE))
		return false;
	for (int k = 0; k < PROJ_KIND_COUNT; k++)
		if (a->state[k].count != b->state[k].count ||
		    memcmp(a->state[k].entries, b->state[k].entries,
			   a->state[k].count * a->state[k].entry_size))
			return false;
	return true;
}

/* --- entries the rules refuse --- */

/* The first entry of type in the log after from (by index), or -1. */
static long find(const struct log_copy *lc, uint8_t type, size_t from)
{
	for (size_t i = from; i < lc->n; i++)
		if (lc->e[i].type == type)
			return (long)i;
	return -1;
}

/* The log with x added at its end must stop there. */
static void check_refused(struct log_copy *lc, struct proj_bulk_entry x, const char *what)
{
	struct proj_bulk b;
	x.seq = lc->e[lc->n - 1].seq + 1;
	lc->e[lc->n] = x;
	int rc = proj_bulk_apply(&b, lc->e, lc->n + 1, 16);
	if (rc != PL_EREJECTED || b.stopped_at != x.seq)
		fprintf(stderr, "%s: rc %d, stopped at %llu (%s), not at %llu\n", what, rc,
			(unsigned long long)b.stopped_at, b.why ? b.why : "-",
			(unsigned long long)x.seq);
	CHECK_INT(rc, PL_EREJECTED);
	CHECK_INT(b.stopped_at, x.seq);
	proj_bulk_free(&b);
}

static void check_refusals(struct log_copy *lc, const struct proj_bulk *good)
{
	struct fp fresh;
	fp_of(&fresh, 99, "fresh", 5);
	long opened = find(lc, PL_EV_CAMPAIGN_OPENED, 0), closed = find(lc, PL_EV_CAMPAIGN_CLOSED, 0);
	long pledge = find(lc, PL_EV_PLEDGE_CREATED, 0), refund = find(lc, PL_EV_PLEDGE_REFUNDED, 0);
	long comment = find(lc, PL_EV_COMMENT_POSTED, 0), removal = find(lc, PL_EV_COMMENT_REMOVED, 0);
	CHECK(opened >= 0 && closed >= 0 && pledge >= 0 && refund >= 0 && comment >= 0 &&
	      removal >= 0);
	if (opened < 0 || closed < 0 || pledge < 0 || refund < 0 || comment < 0 || removal < 0)
		return;
	struct proj_bulk_entry x = lc->e[opened];
	check_refused(lc, x, "a campaign opened again");
	x = lc->e[closed];
	check_refused(lc, x, "a campaign closed again");
	x = lc->e[pledge];
	x.campaign = fresh;
	x.pledge = fresh;
	check_refused(lc, x, "a pledge to a campaign never opened");
	x = lc->e[pledge];
	check_refused(lc, x, "a pledge id taken");
	x = lc->e[pledge];
	x.pledge = fresh;
	memcpy(x.currency, "JPY", 3); /* no campaign of the log's */
	check_refused(lc, x, "a pledge in another currency");
	x = lc->e[pledge];
	x.pledge = fresh;
	x.amount = INT64_MAX;
	check_refused(lc, x, "a pledge over the campaign's limit");
	/* A pledge to the closed campaign. */
	x = lc->e[pledge];
	x.campaign = lc->e[closed].campaign;
	x.pledge = fresh;
	memcpy(x.currency, lc->e[find(lc, PL_EV_CAMPAIGN_OPENED, 0)].currency, 3);
	for (long o = opened; o >= 0; o = find(lc, PL_EV_CAMPAIGN_OPENED, (size_t)o + 1))
		if (fp_cmp(&lc->e[o].campaign, &x.campaign) == 0)
			memcpy(x.currency, lc->e[o].currency, 3);
	check_refused(lc, x, "a pledge to a closed campaign");
	/* A refund of the first pledge beyond what it was. */
	x = lc->e[pledge];
	x.type = PL_EV_PLEDGE_REFUNDED;
	x.amount = lc->e[pledge].amount + 1;
	check_refused(lc, x, "a refund beyond its pledge");
	x = lc->e[refund];
	x.campaign = lc->e[opened].campaign;
	if (fp_cmp(&x.campaign, &lc->e[refund].campaign) == 0)
		x.campaign = lc->e[find(lc, PL_EV_CAMPAIGN_OPENED, (size_t)opened + 1)].campaign;
	check_refused(lc, x, "a refund in another campaign than its pledge's");
	x = lc->e[refund];
	x.pledge = fresh;
	check_refused(lc, x, "a refund of no pledge");
	x = lc->e[comment];
	x.comment = fresh;
	x.supporter = fresh;
	check_refused(lc, x, "a comment by no supporter");
	/* By a supporter whose pledges there were all refunded. */
	const struct proj_bulk_table *nets = &good->state[PROJ_K_SUPPORTER];
	size_t z = 0;
	while (z < nets->count && bytes_get_le64(nets->entries + z * nets->entry_size + FP_SIZE))
		z++;
	CHECK(z < nets->count);
	if (z < nets->count) {
		memcpy(x.supporter.b, nets->entries + z * nets->entry_size, FP_SIZE);
		check_refused(lc, x, "a comment by a supporter refunded in full");
	}
	x = lc->e[removal];
	check_refused(lc, x, "a comment removed twice");
	x = lc->e[removal];
	x.comment = fresh;
	check_refused(lc, x, "a removal of no comment");
	x = lc->e[pledge];
	x.pledge = fresh;
	x.id = lc->e[removal].id;
	check_refused(lc, x, "an event id taken");
	/* An erasure's hides, after the log: of no comment, of a comment of another campaign. */
	x = (struct proj_bulk_entry){.type = PROJ_BULK_HIDE, .at = T0,
				     .campaign = lc->e[comment].campaign, .comment = fresh};
	check_refused(lc, x, "a hide of no comment");
	x.comment = lc->e[comment].comment;
	x.campaign = lc->e[opened].campaign;
	if (fp_cmp(&x.campaign, &lc->e[comment].campaign) == 0)
		x.campaign = lc->e[find(lc, PL_EV_CAMPAIGN_OPENED, (size_t)opened + 1)].campaign;
	check_refused(lc, x, "a hide of a comment of another campaign");
}

int main(void)
{
	static const unsigned seeds[] = {1, 7, 42};
	for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
		char dir[256];
		struct store *st = fixture_store(dir, sizeof dir, 0);
		struct log_copy lc;
		struct proj_bulk small, one;
		feed(st, seeds[i], "");
		copy_log(st, &lc);
		CHECK(lc.n > EVENTS / 2);
		CHECK_INT(proj_bulk_apply(&small, lc.e, lc.n, 16), 0);
		CHECK_INT(proj_bulk_apply(&one, lc.e, lc.n, 0), 0);
		CHECK(same_bulk(&small, &one, lc.n));
		compare_with_replay(st, &lc, &small);
		check_refusals(&lc, &small);
		check_limits(st, lc.n, lc.comment_bytes);
		check_erasure_among(st, seeds[i], lc.n);
		printf("seed %u: %zu entries, %zu pledges, %zu supporters, %zu comments agree\n",
		       seeds[i], lc.n, small.state[PROJ_K_PLEDGE].count,
		       small.state[PROJ_K_SUPPORTER].count, small.state[PROJ_K_COMMENT].count);
		proj_bulk_free(&small);
		proj_bulk_free(&one);
		free(lc.e);
		free(lc.campaign);
		fixture_close(st);
		fixture_remove(dir);
		check_rebuilt_at_once(seeds[i]);
		check_erasure_early(seeds[i]);
		check_erasures_at_once(seeds[i]);
		check_erasure_record_damaged();
	}
	return check_done();
}
