/*
 * test_projections.c — every projection rule of docs/events.md,
 * through the real ingest path on a real LMDB store: what is applied, what
 * is rejected with which reason, and what the totals then read.
 */
#include "check.h"
#include "bytes.h"
#include "erasure.h"
#include "fixture.h"
#include "past_feed.h"
#include "proj_history.h"
#include "proj_records.h"
#include "rejections.h"
#include "views.h"

/* The staged comments as the page reads them (proj_read.h), kept across calls. */
static struct proj_staged comments_staged;

static struct store *st;
static int next_id;

#define DAY INT64_C(86400000)
#define T0 INT64_C(1578132000000)
#define NOW INT64_C(1700000000000) /* the time events arrive */

static int ev(const char *type, const char *campaign, int64_t at, const char *fields)
{
	char json[8192];
	snprintf(json, sizeof json, "{\"v\":1,\"type\":\"%s\",\"id\":\"ev-%d\",\"at\":%lld,\"campaign\":\"%s\"%s%s}",
		 type, ++next_id, (long long)at, campaign, *fields ? "," : "", fields);
	return fixture_ingest(st, json);
}

/* Verify replays the log and finds the projections the same. */
static void check_verifies(void)
{
	struct verify_report rep;
	CHECK_INT(fixture_verify(st, &rep), 0);
	CHECK_INT(rep.replay.result.outcome, REPLAY_OK);
	CHECK_INT(rep.differs, 0);
}

static int open_campaign(const char *c, const char *currency, int64_t at)
{
	char f[256];
	snprintf(f, sizeof f, "\"title\":\"Title %s\",\"owner\":\"Owner\",\"currency\":\"%s\",\"target\":100000", c, currency);
	return ev("campaign.opened", c, at, f);
}

static int pledge(const char *c, const char *p, const char *s, long long amount, const char *cur, int64_t at)
{
	char f[256];
	snprintf(f, sizeof f, "\"pledge\":\"%s\",\"supporter\":\"%s\",\"amount\":%lld,\"currency\":\"%s\"", p, s, amount, cur);
	return ev("pledge.created", c, at, f);
}

static int refund(const char *c, const char *p, long long amount, int64_t at)
{
	char f[128];
	snprintf(f, sizeof f, "\"pledge\":\"%s\",\"amount\":%lld", p, amount);
	return ev("pledge.refunded", c, at, f);
}

static int comment(const char *c, const char *id, const char *s, const char *text, int64_t at)
{
	char f[512];
	snprintf(f, sizeof f, "\"comment\":\"%s\",\"supporter\":\"%s\",\"text\":\"%s\"", id, s, text);
	return ev("comment.posted", c, at, f);
}

static int remove_comment(const char *c, const char *id, int64_t at)
{
	char f[128];
	snprintf(f, sizeof f, "\"comment\":\"%s\"", id);
	return ev("comment.removed", c, at, f);
}

static struct proj_campaign get(const char *c)
{
	struct proj_campaign camp;
	memset(&camp, 0, sizeof camp);
	CHECK_INT(fixture_campaign(st, c, &camp), 0);
	return camp;
}

static void test_campaign_lifecycle(void)
{
	CHECK_INT(open_campaign("a", "GBP", T0), PL_R_NONE);
	CHECK_INT(open_campaign("a", "GBP", T0 + 1), PL_R_CAMPAIGN_EXISTS);
	CHECK_INT(ev("campaign.closed", "nope", T0, ""), PL_R_UNKNOWN_CAMPAIGN);
	struct proj_campaign c = get("a");
	CHECK_INT(c.totals.raised, 0);
	CHECK_INT(c.days, 1); /* at least one day */
	CHECK(!c.closed);
	CHECK_INT(c.info.target, 100000);

	CHECK_INT(pledge("a", "p1", "s1", 1000, "GBP", T0 + 2 * DAY + 5), PL_R_NONE);
	c = get("a");
	CHECK_INT(c.days, 2); /* to the last event while open */
	CHECK_INT(ev("campaign.closed", "a", T0 + 19 * DAY + 3600000, ""), PL_R_NONE);
	CHECK_INT(ev("campaign.closed", "a", T0 + 20 * DAY, ""), PL_R_CAMPAIGN_CLOSED);
	c = get("a");
	CHECK(c.closed);
	CHECK_INT(c.days, 19); /* whole days from opened to closed */
	CHECK_INT(c.totals.closed_at, T0 + 19 * DAY + 3600000);

	CHECK_INT(pledge("a", "p2", "s2", 1000, "GBP", T0 + 20 * DAY), PL_R_CAMPAIGN_CLOSED);
	CHECK_INT(refund("a", "p1", 400, T0 + 21 * DAY), PL_R_NONE); /* refunds still apply */
	c = get("a");
	CHECK_INT(c.totals.raised, 600);
	CHECK_INT(c.days, 19); /* later events do not move a closed campaign's days */
}

static void test_pledges_and_refunds(void)
{
	CHECK_INT(open_campaign("b", "EUR", T0), PL_R_NONE);
	CHECK_INT(pledge("nope", "px", "s1", 100, "EUR", T0), PL_R_UNKNOWN_CAMPAIGN);
	CHECK_INT(pledge("b", "b1", "s1", 100, "GBP", T0), PL_R_CURRENCY_MISMATCH);
	CHECK_INT(pledge("b", "b1", "s1", 1000, "EUR", T0), PL_R_NONE);
	CHECK_INT(pledge("b", "b1", "s9", 5, "EUR", T0), PL_R_DUPLICATE_PLEDGE);
	CHECK_INT(pledge("b", "p1", "s9", 5, "EUR", T0), PL_R_DUPLICATE_PLEDGE); /* ids are global */
	CHECK_INT(pledge("b", "b2", "s1", 500, "EUR", T0), PL_R_NONE);  /* repeat supporter */
	CHECK_INT(pledge("b", "b3", "s2", 2000, "EUR", T0), PL_R_NONE);
	struct proj_campaign c = get("b");
	CHECK_INT(c.totals.raised, 3500);
	CHECK_INT(c.totals.pledges, 3);
	CHECK_INT(c.totals.supporters, 2);

	CHECK_INT(refund("b", "nope", 1, T0), PL_R_UNKNOWN_PLEDGE);
	CHECK_INT(refund("b", "p1", 1, T0), PL_R_UNKNOWN_PLEDGE); /* pledge of another campaign */
	CHECK_INT(refund("b", "b1", 1001, T0), PL_R_REFUND_EXCEEDS_PLEDGE);
	CHECK_INT(refund("b", "b1", 600, T0), PL_R_NONE); /* partial */
	CHECK_INT(refund("b", "b1", 401, T0), PL_R_REFUND_EXCEEDS_PLEDGE);
	CHECK_INT(refund("b", "b1", 400, T0), PL_R_NONE); /* the rest */
	CHECK_INT(refund("b", "b1", 1, T0), PL_R_REFUND_EXCEEDS_PLEDGE);
	c = get("b");
	CHECK_INT(c.totals.raised, 2500);
	CHECK_INT(c.totals.pledges, 3); /* refunds do not uncount pledges */
	CHECK_INT(c.totals.supporters, 2); /* s1 still has b2 */
	CHECK_INT(refund("b", "b2", 500, T0), PL_R_NONE);
	c = get("b");
	CHECK_INT(c.totals.supporters, 1); /* s1 dropped to zero net */
	CHECK_INT(pledge("b", "b4", "s1", 1, "EUR", T0), PL_R_NONE);
	c = get("b");
	CHECK_INT(c.totals.supporters, 2); /* and counts again */
	CHECK_INT(c.totals.raised, 2001); /* 3500 - 1000 - 500 + 1 */
}

static void test_comments(void)
{
	CHECK_INT(open_campaign("c", "JPY", T0), PL_R_NONE);
	CHECK_INT(comment("nope", "k0", "cs1", "hi", T0), PL_R_UNKNOWN_CAMPAIGN);
	CHECK_INT(comment("c", "k1", "cs1", "hi", T0), PL_R_NOT_A_BACKER);
	CHECK_INT(pledge("c", "c1", "cs1", 300, "JPY", T0), PL_R_NONE);
	CHECK_INT(comment("c", "k1", "cs1", "first", T0 + 10), PL_R_NONE);
	CHECK_INT(comment("c", "k1", "cs1", "again", T0 + 11), PL_R_DUPLICATE_COMMENT);
	CHECK_INT(comment("c", "k2", "cs2", "not backer", T0 + 12), PL_R_NOT_A_BACKER);
	CHECK_INT(comment("b", "k2", "cs1", "backer of c, not of b", T0 + 12), PL_R_NOT_A_BACKER);
	CHECK_INT(comment("c", "k2", "cs1", "second", T0 + 20), PL_R_NONE);
	CHECK_INT(get("c").totals.comments, 2);

	CHECK_INT(remove_comment("c", "nope", T0), PL_R_UNKNOWN_COMMENT);
	CHECK_INT(remove_comment("b", "k1", T0), PL_R_UNKNOWN_COMMENT); /* not in that campaign */
	CHECK_INT(remove_comment("c", "k1", T0 + 30), PL_R_NONE);
	CHECK_INT(remove_comment("c", "k1", T0 + 31), PL_R_UNKNOWN_COMMENT);
	CHECK_INT(comment("c", "k1", "cs1", "reuse of removed id", T0 + 32), PL_R_DUPLICATE_COMMENT);
	CHECK_INT(get("c").totals.comments, 1);

	CHECK_INT(refund("c", "c1", 300, T0 + 40), PL_R_NONE);
	CHECK_INT(comment("c", "k3", "cs1", "fully refunded", T0 + 41), PL_R_NOT_A_BACKER);
}

/* test_comment_pages' comment i is "dk%02d", at time i / 2. */
static int comment_pages_order(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	char idx[16], idy[16];
	snprintf(idx, sizeof idx, "dk%02d", x);
	snprintf(idy, sizeof idy, "dk%02d", y);
	if (x / 2 != y / 2)
		return x / 2 > y / 2 ? -1 : 1;
	return -strcmp(idx, idy);
}

static void test_comment_pages(void)
{
	CHECK_INT(open_campaign("d", "GBP", T0), PL_R_NONE);
	CHECK_INT(pledge("d", "d1", "s1", 100, "GBP", T0), PL_R_NONE);
	char id[16], text[32];
	for (int i = 0; i < 25; i++) {
		snprintf(id, sizeof id, "dk%02d", i);
		snprintf(text, sizeof text, "comment %02d", i);
		/* Two comments share each time: their ids break the tie. */
		CHECK_INT(comment("d", id, "s1", text, T0 + 1000 * (i / 2)), PL_R_NONE);
	}
	CHECK_INT(remove_comment("d", "dk07", T0), PL_R_NONE);
	/* The feed's order: the newest time first, the higher id first within one. */
	int expect[25], n = 0;
	for (int i = 0; i < 25; i++)
		if (i != 7) /* removed */
			expect[n++] = i;
	qsort(expect, (size_t)n, sizeof expect[0], comment_pages_order);
	CHECK_INT(n, 24);

	struct store_txn t;
	struct proj_comment_page page;
	struct proj_cursor cur;
	struct pl_str camp = {"d", 1};
	int seen = 0;
	bool first = true;
	CHECK_INT(store_read_begin(st, &t), 0);
	for (;;) {
		CHECK_INT(proj_comments_page(&t, STORE_SLOT_A, &comments_staged, camp, first ? NULL : &cur, 10, &page), 0);
		for (size_t i = 0; i < page.count && seen < n; i++, seen++) {
			snprintf(text, sizeof text, "comment %02d", expect[seen]);
			CHECK(page.items[i].text.len == strlen(text) &&
			      memcmp(page.items[i].text.ptr, text, page.items[i].text.len) == 0);
			CHECK(!page.items[i].has_name);
		}
		if (!page.has_next)
			break;
		CHECK_INT(page.count, 10);
		char s[PROJ_CURSOR_MAX];
		proj_cursor_format(&page.next, s);
		CHECK_INT(proj_cursor_parse(s, strlen(s), &cur), 0);
		first = false;
	}
	CHECK_INT(seen, 24);
	CHECK_INT(page.count, 4);
	/* Another campaign's feed is empty; limits are checked. */
	CHECK_INT(proj_comments_page(&t, STORE_SLOT_A, &comments_staged, (struct pl_str){"a", 1}, NULL, 10, &page), 0);
	CHECK_INT(page.count, 0);
	CHECK(!page.has_next);
	CHECK_INT(proj_comments_page(&t, STORE_SLOT_A, &comments_staged, camp, NULL, 0, &page), PL_EINVAL);
	CHECK_INT(proj_comments_page(&t, STORE_SLOT_A, &comments_staged, camp, NULL, 101, &page), PL_EINVAL);
	store_abort(&t);

	static const char *bad[] = {"", ".", "1.", ".1", "a.1", "-1.2", "1 .2", "1..1", "1.1.", "1.1.0",
				    "1.1.g", "1.1.A", "1.1.1.1", "1.1.-1", "1.1.12345678901234567",
				    "99999999999999999999.1", "1.99999999999999999999", "1-", "-1",
				    "1-6", "1-6g", "1-6A", "1-0x61", "1.2-61", "1-61.2", "1--61", "a-61",
				    "99999999999999999999-61"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK_INT(proj_cursor_parse(bad[i], strlen(bad[i]), &cur), PL_EINVAL);
	CHECK_INT(proj_cursor_parse("1-61\0", 5, &cur), PL_EINVAL); /* a NUL inside */
	char longest[PROJ_CURSOR_MAX + 2];
	int n_at = snprintf(longest, sizeof longest, "%" PRId64 "-", INT64_MAX);
	memset(longest + n_at, 'f', 2 * PL_MAX_ID_BYTES);
	longest[n_at + 2 * PL_MAX_ID_BYTES] = '\0';
	CHECK_INT(proj_cursor_parse(longest, strlen(longest), &cur), 0);
	CHECK(cur.at == INT64_MAX && cur.id_len == PL_MAX_ID_BYTES && (uint8_t)cur.id[63] == 0xff);
	char again[PROJ_CURSOR_MAX];
	proj_cursor_format(&cur, again);
	CHECK_STR(again, longest);
	strcat(longest, "ff"); /* an id longer than any */
	CHECK_INT(proj_cursor_parse(longest, strlen(longest), &cur), PL_EINVAL);
	CHECK_INT(proj_cursor_parse("1579119300000-632d3039", 22, &cur), 0);
	CHECK(cur.at == INT64_C(1579119300000) && cur.id_len == 4 && memcmp(cur.id, "c-09", 4) == 0);
	/* The older forms still parse, as the start of their time. */
	CHECK_INT(proj_cursor_parse("1579119300000.1199", 18, &cur), 0);
	CHECK(cur.at == INT64_C(1579119300000) && cur.id_len == 0);
	CHECK_INT(proj_cursor_parse("1.2.ffffffffffffffff", 20, &cur), 0);
	CHECK(cur.at == 1 && cur.id_len == 0);
}

/* Reply i of the replicas' campaign: its time (six share T0 + 100, and
 * reply 9 posted later); its id, in an order other than the log's (reply
 * 9's has reply 1's as its start). */
static int64_t reply_at(int i)
{
	return i == 0 ? T0 + 50 : i < 7 || i == 9 ? T0 + 100 : T0 + 100 + i;
}

static const char *reply_id(int i)
{
	static const char *const ids[] = {"rk-q", "rk-m", "rk-z", "rk-a", "rk-x",
					  "rk-b", "rk-k", "rk-c", "rk-d", "rk-mm"};
	return ids[i];
}

static int post_reply(int i)
{
	char text[32];
	snprintf(text, sizeof text, "reply %d", i);
	return comment("r", reply_id(i), "rs", text, reply_at(i));
}

/* Feeds a campaign's events into a store of its own, with another
 * campaign's pledges between them when mixed (other partitions): the same
 * comments in the same order at other log positions, as on a replica. */
static struct store *replica(char *dir, size_t size, bool mixed)
{
	struct store *keep = st;
	st = fixture_store(dir, size, 0);
	CHECK_INT(open_campaign("other", "GBP", T0), PL_R_NONE);
	CHECK_INT(open_campaign("r", "GBP", T0), PL_R_NONE);
	CHECK_INT(pledge("r", "r-p", "rs", 100, "GBP", T0), PL_R_NONE);
	char p[16];
	for (int i = 0; i < 9; i++) {
		if (mixed) {
			snprintf(p, sizeof p, "o-p%d", i);
			CHECK_INT(pledge("other", p, "os", 100, "GBP", T0), PL_R_NONE);
		}
		CHECK_INT(post_reply(i), PL_R_NONE);
	}
	struct store *made = st;
	st = keep;
	return made;
}

static int reply_order(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	if (reply_at(x) != reply_at(y))
		return reply_at(x) > reply_at(y) ? -1 : 1;
	return -strcmp(reply_id(x), reply_id(y));
}

/* The feed of replies 0..9 on every replica, as numbers. */
static int feed[10];

/* What a page of up to limit replies shows, of those in present (a bit
 * each), after reply `after` (-1: the first page): "n,n,…," */
static void expect_page(unsigned present, int after, int limit, char *out, size_t size)
{
	int i = 0, shown = 0;
	out[0] = '\0';
	if (after >= 0)
		while (feed[i++] != after)
			;
	for (; i < 10 && shown < limit; i++)
		if (present & 1u << feed[i]) {
			snprintf(out + strlen(out), size - strlen(out), "%d,", feed[i]);
			shown++;
		}
}

/* One page of the feed (live, or as of now when past) after from: the
 * comments' numbers appended to order; whether another page follows. */
static bool one_page(struct store *rep, struct proj_staged *staged, bool past,
		     const struct proj_cursor *from, unsigned limit, struct proj_cursor *next,
		     char *order, size_t size)
{
	struct proj_comment_page page;
	struct store_txn t;
	struct pl_str r = {"r", 1};
	CHECK_INT(store_read_begin(rep, &t), 0);
	CHECK_INT(past ? past_feed_page(&t, STORE_SLOT_A, staged, r, INT64_MAX, from, limit, &page)
		       : proj_comments_page(&t, STORE_SLOT_A, staged, r, from, limit, &page),
		  0);
	for (size_t i = 0; i < page.count; i++)
		snprintf(order + strlen(order), size - strlen(order), "%.*s,",
			 (int)page.items[i].text.len - 6, page.items[i].text.ptr + 6);
	/* Through its text form, as a client gives it back. */
	char text[PROJ_CURSOR_MAX];
	proj_cursor_format(&page.next, text);
	store_abort(&t);
	if (page.has_next)
		CHECK_INT(proj_cursor_parse(text, strlen(text), next), 0);
	return page.has_next;
}

/* A feed's pages, each from the other replica, by the cursor the last gave. */
static void page_across(struct store *reps[2], struct proj_staged staged[2], bool past,
			unsigned limit, char *order, size_t size)
{
	struct proj_cursor cur;
	order[0] = '\0';
	for (int n = 0; n < 20; n++)
		if (!one_page(reps[n % 2], &staged[n % 2], past, n ? &cur : NULL, limit, &cur, order,
			      size))
			return;
	CHECK(!"a feed of nine comments ends within 20 pages");
}

/* The page after reply `after` on rep, by the cursor from_rep gave on a
 * first page that ended on it: checked against the replies each holds. */
static void check_after(struct store *from_rep, struct proj_staged *from_staged,
			unsigned from_present, struct store *rep, struct proj_staged *staged,
			unsigned present, bool past, int after)
{
	char order[256], want[256];
	struct proj_cursor cur;
	int limit = 1;
	for (int i = 0; feed[i] != after; i++)
		limit += (from_present & 1u << feed[i]) != 0;
	order[0] = '\0';
	CHECK(one_page(from_rep, from_staged, past, NULL, (unsigned)limit, &cur, order, sizeof order));
	CHECK(cur.id_len == strlen(reply_id(after)) &&
	      memcmp(cur.id, reply_id(after), cur.id_len) == 0);
	order[0] = '\0';
	one_page(rep, staged, past, &cur, 4, &cur, order, sizeof order);
	expect_page(present, after, 4, want, sizeof want);
	CHECK_STR(order, want);
}

/* A cursor one replica gave pages on at another, where the same comments
 * have other log positions: comments of one time are ordered by their
 * ids, not by the log position. A comment removed between two pages,
 * here or on one replica only, the cursor's own included, or one not yet
 * on a replica that lags, makes no page repeat or miss one. */
static void test_comment_cursor_across_replicas(void)
{
	for (int i = 0; i < 10; i++)
		feed[i] = i;
	qsort(feed, 10, sizeof feed[0], reply_order);
	char dirs[2][256];
	struct store *reps[2] = {replica(dirs[0], sizeof dirs[0], false),
				 replica(dirs[1], sizeof dirs[1], true)};
	struct proj_staged staged[2] = {{0}, {0}};
	char order[256], want[256];
	unsigned nine = 0x1ff;
	expect_page(nine, -1, 10, want, sizeof want);
	for (int past = 0; past < 2; past++)
		for (unsigned limit = 1; limit <= 4; limit++) {
			page_across(reps, staged, past, limit, order, sizeof order);
			CHECK_STR(order, want);
		}
	/* The six replies of one time, as the feed orders them. */
	int same[6], n = 0;
	for (int i = 0; i < 10; i++)
		if (feed[i] != 9 && reply_at(feed[i]) == T0 + 100)
			same[n++] = feed[i];
	CHECK_INT(n, 6);
	/* One of them removed on the first replica only, then the one before
	 * it too: a cursor's own comment and one after it, gone there. */
	int gone[2] = {same[3], same[2]};
	unsigned present0 = nine;
	for (int k = 0; k < 2; k++) {
		struct store *keep = st;
		st = reps[0];
		CHECK_INT(remove_comment("r", reply_id(gone[k]), T0 + 200 + k), PL_R_NONE);
		st = keep;
		present0 &= ~(1u << gone[k]);
		for (int past = 0; past < 2; past++)
			for (int j = 1; j <= 4; j++) {
				check_after(reps[1], &staged[1], nine, reps[0], &staged[0], present0, past,
					    same[j]);
				if (present0 & 1u << same[j])
					check_after(reps[0], &staged[0], present0, reps[1], &staged[1],
						    nine, past, same[j]);
			}
	}
	/* A reply of that time not yet on the first replica: a cursor of it
	 * from the second pages on there. */
	struct store *keep = st;
	st = reps[1];
	CHECK_INT(post_reply(9), PL_R_NONE);
	st = keep;
	for (int past = 0; past < 2; past++)
		check_after(reps[1], &staged[1], nine | 1u << 9, reps[0], &staged[0], present0,
			    past, 9);
	for (int i = 0; i < 2; i++) {
		proj_staged_deinit(&staged[i]);
		fixture_close(reps[i]);
		fixture_remove(dirs[i]);
	}
}

/* A search of the stored messages for a text. */
struct search {
	const char *text;
	int found;
};

static int entry_holds(const struct evlog_entry *e, void *arg)
{
	struct search *s = arg;
	s->found += memmem(e->raw, e->raw_len, s->text, strlen(s->text)) != NULL;
	return 0;
}

static int rejection_holds(const struct rejection_entry *e, void *arg)
{
	struct search *s = arg;
	s->found += memmem(e->raw, e->raw_len, s->text, strlen(s->text)) != NULL;
	return 0;
}

/* How many log entries and rejections hold text. */
static int stored(const char *text)
{
	struct store_txn t;
	struct search s = {text, 0};
	CHECK_INT(store_read_begin(st, &t), 0);
	CHECK_INT(evlog_each(&t, 1, entry_holds, &s, NULL), 0);
	CHECK_INT(rejections_each(&t, 0, rejection_holds, &s), 0);
	store_abort(&t);
	return s.found;
}

static int forget(const char *supporter)
{
	char json[256];
	snprintf(json, sizeof json,
		 "{\"v\":1,\"type\":\"supporter.forgotten\",\"id\":\"ev-%d\",\"at\":%lld,"
		 "\"supporter\":\"%s\",\"by\":\"test\"}",
		 ++next_id, (long long)T0, supporter);
	return fixture_ingest_keyed(st, json, supporter, 1000000 + next_id);
}

/* The copy of erasure number n on partition p, as `pledged forget` sends one to each. */
static int forget_copy(const char *supporter, int n, int32_t p)
{
	char json[256];
	snprintf(json, sizeof json,
		 "{\"v\":1,\"type\":\"supporter.forgotten\",\"id\":\"forget-%d\",\"at\":%lld,"
		 "\"supporter\":\"%s\",\"by\":\"test\"}",
		 n, (long long)T0, supporter);
	return fixture_ingest_on(st, json, supporter, p, 3000000 + ++next_id);
}

/* A message on partition p (a comment by s) sent before the erasure's copy
 * on that partition, but consumed after the erasure's first copy. */
static int comment_on(int32_t p, const char *c, const char *id, const char *s, const char *text,
		      int64_t at)
{
	char json[512];
	snprintf(json, sizeof json,
		 "{\"v\":1,\"type\":\"comment.posted\",\"id\":\"ev-%d\",\"at\":%lld,\"campaign\":\"%s\","
		 "\"comment\":\"%s\",\"supporter\":\"%s\",\"text\":\"%s\"}",
		 ++next_id, (long long)at, c, id, s, text);
	return fixture_ingest_on(st, json, c, p, 3000000 + ++next_id);
}

/* The log's last position. */
static uint64_t log_head(void)
{
	struct store_txn t;
	uint64_t head = 0;
	CHECK_INT(store_read_begin(st, &t), 0);
	CHECK_INT(evlog_last_seq(&t, &head), 0);
	store_abort(&t);
	return head;
}

/* The comments the record of the erasure at seq names: their count, the first in *first. */
static size_t record_comments(uint64_t seq, uint64_t *first)
{
	struct store_txn t;
	const uint8_t *comments;
	size_t count = 0;
	CHECK_INT(store_read_begin(st, &t), 0);
	CHECK_INT(erasure_comments(&t, seq, &comments, &count), 0);
	*first = count ? erasure_comment(comments, 0) : 0;
	store_abort(&t);
	return count;
}

static void pack_str8(msgpack_sbuffer *b, const char *s)
{
	const char head[2] = {(char)0xd9, (char)strlen(s)};
	msgpack_sbuffer_write(b, head, sizeof head);
	msgpack_sbuffer_write(b, s, strlen(s));
}

/* A comment whose every string is in msgpack's str8 form, which a gateway
 * may send for short strings too (not the shortest, still valid). */
static int comment_str8(const char *c, const char *id, const char *s, const char *name,
			const char *text, int64_t at)
{
	const char *keys[] = {"type", "campaign", "supporter", "name", "comment", "text"};
	const char *values[] = {"comment.posted", c, s, name, id, text};
	char event_id[32];
	snprintf(event_id, sizeof event_id, "ev-%d", ++next_id);
	msgpack_sbuffer b;
	msgpack_packer pk;
	msgpack_sbuffer_init(&b);
	msgpack_packer_init(&pk, &b, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 9);
	pack_str8(&b, "v");
	msgpack_pack_int(&pk, 1);
	pack_str8(&b, "id");
	pack_str8(&b, event_id);
	pack_str8(&b, "at");
	msgpack_pack_int64(&pk, at);
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		pack_str8(&b, keys[i]);
		pack_str8(&b, values[i]);
	}
	int rc = fixture_ingest_raw(st, b.data, b.size, NULL, 0, 2000000 + next_id);
	msgpack_sbuffer_destroy(&b);
	return rc;
}

/* The right to erasure: names and texts gone from log, rejections and feed; money stays. */
static void test_erasure(void)
{
	CHECK_INT(open_campaign("er", "GBP", T0), PL_R_NONE);
	CHECK_INT(open_campaign("er2", "GBP", T0), PL_R_NONE);
	CHECK_INT(ev("pledge.created", "er", T0 + 1,
		     "\"pledge\":\"erp1\",\"supporter\":\"gone\",\"amount\":500,\"currency\":\"GBP\","
		     "\"name\":\"Name-To-Erase\""), PL_R_NONE);
	CHECK_INT(pledge("er", "erp2", "stays", 300, "GBP", T0 + 2), PL_R_NONE);
	CHECK_INT(pledge("er2", "erp3", "gone", 200, "GBP", T0 + 2), PL_R_NONE);
	/* Known keys its type ignores, which the log keeps as sent. */
	CHECK_INT(ev("pledge.refunded", "er", T0 + 2,
		     "\"pledge\":\"erp1\",\"amount\":1,\"supporter\":\"gone\","
		     "\"name\":\"Name-To-Erase\",\"text\":\"Text-To-Erase-9\""), PL_R_NONE);
	CHECK_INT(ev("comment.posted", "er", T0 + 3,
		     "\"comment\":\"erk1\",\"supporter\":\"gone\",\"text\":\"Text-To-Erase-1\","
		     "\"name\":\"Name-To-Erase\""), PL_R_NONE);
	CHECK_INT(comment("er", "erk2", "stays", "Text-That-Stays", T0 + 4), PL_R_NONE);
	CHECK_INT(comment("er2", "erk3", "gone", "Text-To-Erase-2", T0 + 5), PL_R_NONE);
	CHECK_INT(comment("er", "erk4", "gone", "Text-To-Erase-3", T0 + 6), PL_R_NONE);
	CHECK_INT(remove_comment("er", "erk4", T0 + 7), PL_R_NONE);
	/* Rejected messages: one naming the supporter, one another's. */
	CHECK_INT(comment("er", "erk1", "gone", "Text-To-Erase-4", T0 + 8), PL_R_DUPLICATE_COMMENT);
	CHECK_INT(comment("er", "erk5", "gone-too", "Text-That-Stays-2", T0 + 8), PL_R_NOT_A_BACKER);
	/* The supporter's strings in a longer msgpack form, accepted and
	 * rejected, and a message sent as JSON text instead of msgpack. */
	CHECK_INT(comment_str8("er", "erk9", "gone", "Name-To-Erase", "Text-To-Erase-5", T0 + 8),
		  PL_R_NONE);
	CHECK_INT(comment_str8("er-none", "erk10", "gone", "Name", "Text-To-Erase-6", T0 + 8),
		  PL_R_UNKNOWN_CAMPAIGN);
	const char *as_json = "{\"v\":1,\"supporter\":\"gone\",\"text\":\"Text-To-Erase-7\"}";
	CHECK_INT(fixture_ingest_raw(st, as_json, strlen(as_json), NULL, 0, 2000000 + ++next_id),
		  PL_R_BAD_MSGPACK);
	/* Too large, kept cut short: the id lies past the part kept. */
	static char big[PL_MAX_EVENT_BYTES + 100];
	int n = snprintf(big, sizeof big, "{\"text\":\"Text-To-Erase-8 ");
	memset(big + n, 'a', sizeof big - (size_t)n);
	snprintf(big + sizeof big - 40, 40, "\",\"supporter\":\"gone\"}");
	CHECK_INT(fixture_ingest_raw(st, big, strlen(big), NULL, 0, 2000000 + ++next_id),
		  PL_R_TOO_LARGE);
	struct proj_campaign before = get("er"), before2 = get("er2");
	CHECK_INT(before.totals.comments, 3);
	CHECK_INT(stored("Text-To-Erase"), 9);
	CHECK_INT(stored("Name-To-Erase"), 4);

	CHECK_INT(forget("gone"), PL_R_NONE);
	CHECK_INT(forget("gone"), PL_R_NONE); /* again: nothing left to overwrite */
	CHECK_INT(forget("nobody"), PL_R_NONE);
	CHECK_INT(stored("Text-To-Erase"), 0);
	CHECK_INT(stored("Name-To-Erase"), 0);
	CHECK_INT(stored("Text-That-Stays"), 2);
	struct proj_campaign after = get("er"), after2 = get("er2");
	CHECK_INT(after.totals.raised, before.totals.raised);
	CHECK_INT(after.totals.pledges, before.totals.pledges);
	CHECK_INT(after.totals.supporters, before.totals.supporters);
	CHECK_INT(after.totals.last_at, before.totals.last_at);
	CHECK_INT(after.totals.comments, 1);
	CHECK_INT(after2.totals.comments, 0);
	CHECK_INT(after2.totals.raised, before2.totals.raised);

	struct store_txn t;
	struct proj_comment_page page;
	CHECK_INT(store_read_begin(st, &t), 0);
	CHECK_INT(proj_comments_page(&t, STORE_SLOT_A, &comments_staged, (struct pl_str){"er", 2}, NULL, 10, &page), 0);
	CHECK_INT(page.count, 1);
	CHECK(page.items[0].text.len == 15 && memcmp(page.items[0].text.ptr, "Text-That-Stays", 15) == 0);
	store_abort(&t);

	/* The forgotten supporter still backs the campaign: they may comment anew. */
	CHECK_INT(comment("er", "erk6", "gone", "after the erasure", T0 + 9), PL_R_NONE);
	CHECK_INT(stored("after the erasure"), 1);

	/* Two comments posted at one time, hidden by one erasure: the history
	 * takes both away (its rows are keyed by time and the erasure's position). */
	CHECK_INT(open_campaign("er3", "GBP", T0), PL_R_NONE);
	CHECK_INT(pledge("er3", "erp4", "twice", 100, "GBP", T0 + 1), PL_R_NONE);
	CHECK_INT(comment("er3", "erk7", "twice", "one", T0 + 2), PL_R_NONE);
	CHECK_INT(comment("er3", "erk8", "twice", "two", T0 + 2), PL_R_NONE);
	CHECK_INT(forget("twice"), PL_R_NONE);
	struct proj_campaign then = get("er3");
	CHECK_INT(then.totals.comments, 0);
	then.id = (struct pl_str){"er3", 3}; /* get()'s points into a closed transaction */
	CHECK_INT(store_read_begin(st, &t), 0);
	CHECK_INT(proj_history_as_of(&t, STORE_SLOT_A, NULL, T0 + 100, &then, NULL), 0);
	CHECK_INT(then.totals.comments, 0);
	store_abort(&t);

	/* An erasure's copies on other partitions: the first copy (partition
	 * 0) is applied before a comment that partition 1 holds ahead of its
	 * own copy; that copy erases it. Partition 0's comment after its copy,
	 * sent after the forget, stays through the later copies, and so does a
	 * rejected one. A re-delivered copy changes nothing. A later copy looks
	 * only after the first, which took partition 1's comment before it. */
	CHECK_INT(open_campaign("er4", "GBP", T0), PL_R_NONE);
	CHECK_INT(pledge("er4", "erp5", "late", 100, "GBP", T0 + 1), PL_R_NONE);
	CHECK_INT(comment_on(1, "er4", "erk10", "late", "Early-Text-1", T0 + 2), PL_R_NONE);
	CHECK_INT(forget_copy("late", 1, 0), PL_R_NONE);
	uint64_t first_copy = log_head(), named;
	CHECK_INT(record_comments(first_copy, &named), 1);
	CHECK_INT(named, first_copy - 1);
	CHECK_INT(comment_on(1, "er4", "erk11", "late", "Late-Text-1", T0 + 3), PL_R_NONE);
	uint64_t late_comment = log_head();
	CHECK_INT(comment_on(2, "er4", "erk12", "late", "Late-Text-2", T0 + 3), PL_R_NONE);
	CHECK_INT(comment_on(0, "er4", "erk13", "late", "After-Text-0", T0 + 4), PL_R_NONE);
	CHECK_INT(comment_on(0, "er-none", "erk14", "late", "After-Rejected-0", T0 + 4),
		  PL_R_UNKNOWN_CAMPAIGN);
	CHECK_INT(stored("Late-Text"), 2);
	CHECK_INT(forget_copy("late", 1, 1), PL_R_NONE);
	CHECK_INT(record_comments(log_head(), &named), 1);
	CHECK_INT(named, late_comment);
	CHECK_INT(stored("Late-Text-1"), 0);
	CHECK_INT(stored("Early-Text-1"), 0);
	CHECK_INT(forget_copy("late", 1, 1), -1);
	/* A later copy is applied though the event window has moved past its
	 * time since the first copy was (a serve restarted with another
	 * earliest_event_time): the erasure was accepted once. */
	struct writer *w = fixture_writer(st);
	w->window = (struct event_window){T0 + DAY, EVENT_WINDOW_SKEW_MS};
	CHECK_INT(forget_copy("late", 1, 2), PL_R_NONE);
	w->window = (struct event_window){EVENT_WINDOW_EARLIEST_MS, EVENT_WINDOW_SKEW_MS};
	CHECK_INT(stored("Late-Text"), 0);
	CHECK_INT(stored("After-Text-0"), 1);
	CHECK_INT(stored("After-Rejected-0"), 1);
	CHECK_INT(forget_copy("late", 1, 2), -1);
	CHECK_INT(forget_copy("late", 1, 0), -1); /* the first copy, delivered again */
	/* Its id again, for another supporter (a `forget --id` reused): a
	 * duplicate on every partition, the first copy's included, so nothing of
	 * theirs is erased anywhere, rather than on some partitions only. */
	CHECK_INT(comment_on(1, "er4", "erk15", "late", "Other-Text-1", T0 + 5), PL_R_NONE);
	CHECK_INT(pledge("er4", "erp6", "other", 100, "GBP", T0 + 5), PL_R_NONE);
	CHECK_INT(comment_on(1, "er4", "erk16", "other", "Other-Text-2", T0 + 6), PL_R_NONE);
	CHECK_INT(forget_copy("other", 1, 0), -1);
	CHECK_INT(forget_copy("other", 1, 1), -1);
	CHECK_INT(forget_copy("other", 1, 3), -1);
	CHECK_INT(stored("Other-Text"), 2);
	CHECK_INT(get("er4").totals.comments, 3);
	CHECK_INT(remove_comment("er4", "erk15", T0 + 7), PL_R_NONE);
	CHECK_INT(remove_comment("er4", "erk16", T0 + 7), PL_R_NONE);
	CHECK_INT(get("er4").totals.comments, 1);
	CHECK_INT(get("er4").totals.supporters, 2);

	/* Replayed from the log, the projections come out the same. */
	struct verify_report rep;
	CHECK_INT(fixture_verify(st, &rep), 0);
	CHECK_INT(rep.replay.result.outcome, REPLAY_OK);
	CHECK_INT(rep.bad_rejection, 0);
	CHECK_INT(rep.differs, 0);
	if (rep.differs)
		fprintf(stderr, "erasure: the replay differs: %s\n", rep.diff);
	if (rep.replay.result.outcome != REPLAY_OK)
		fprintf(stderr, "erasure: the replay stopped at %llu: %s\n",
			(unsigned long long)rep.replay.result.failed_seq, rep.replay.result.rejection.detail);
}

static void test_idempotency_and_rejections(void)
{
	const char *e = "{\"v\":1,\"type\":\"pledge.created\",\"id\":\"same-id\",\"at\":1578132000001,\"campaign\":\"b\","
			"\"pledge\":\"idem\",\"supporter\":\"s7\",\"amount\":7,\"currency\":\"EUR\"}";
	int64_t before = get("b").totals.raised;
	CHECK_INT(fixture_ingest(st, e), PL_R_NONE);
	CHECK_INT(fixture_ingest(st, e), -1); /* same id again: ignored */
	CHECK_INT(get("b").totals.raised, before + 7);

	/* A rejected event's id is not taken: the corrected event applies. */
	const char *bad = "{\"v\":1,\"type\":\"pledge.created\",\"id\":\"fix-me\",\"at\":1578132000001,\"campaign\":\"b\","
			  "\"pledge\":\"fix\",\"supporter\":\"s8\",\"amount\":7,\"currency\":\"GBP\"}";
	const char *good = "{\"v\":1,\"type\":\"pledge.created\",\"id\":\"fix-me\",\"at\":1578132000001,\"campaign\":\"b\","
			   "\"pledge\":\"fix\",\"supporter\":\"s8\",\"amount\":7,\"currency\":\"EUR\"}";
	CHECK_INT(fixture_ingest_keyed(st, bad, "b", 900), PL_R_CURRENCY_MISMATCH);
	CHECK_INT(fixture_ingest_keyed(st, good, "b", 901), PL_R_NONE);

	/* The newest rejection holds the raw bytes, key, coordinates and reason. */
	struct store_txn t;
	MDB_val k, v;
	struct rejection_entry r;
	CHECK_INT(store_read_begin(st, &t), 0);
	CHECK_INT(store_last(&t, STORE_DB_REJECTIONS, &k, &v), 0);
	CHECK_INT(rejections_parse(&k, &v, &r), 0);
	CHECK_INT(r.reason, PL_R_CURRENCY_MISMATCH);
	CHECK_INT(r.src.offset, 900);
	CHECK_INT(r.src.partition, 0);
	CHECK(r.src.topic_len == 4 && memcmp(r.src.topic, "test", 4) == 0);
	CHECK(r.has_key && r.key_len == 1 && memcmp(r.key, "b", 1) == 0);
	CHECK(strstr(r.detail, "GBP") != NULL);
	msgpack_sbuffer buf;
	char err[80];
	msgpack_sbuffer_init(&buf);
	pl_json_to_msgpack(bad, strlen(bad), &buf, err, sizeof err);
	CHECK(r.raw_len == buf.size && memcmp(r.raw, buf.data, buf.size) == 0);
	msgpack_sbuffer_destroy(&buf);

	/* A rejection's JSON: a key that is not UTF-8 comes as key_base64. */
	json_t *j = view_rejection(&r);
	CHECK_STR(json_string_value(json_object_get(j, "key")), "b");
	CHECK(json_object_get(j, "key_base64") == NULL);
	CHECK_STR(json_string_value(json_object_get(j, "reason")), "currency_mismatch");
	json_decref(j);
	store_abort(&t);
	CHECK_INT(fixture_ingest_keyed(st, good, "\xff", 902), PL_R_KEY_MISMATCH);
	CHECK_INT(store_read_begin(st, &t), 0);
	CHECK_INT(store_last(&t, STORE_DB_REJECTIONS, &k, &v), 0);
	CHECK_INT(rejections_parse(&k, &v, &r), 0);
	j = view_rejection(&r);
	CHECK(j && json_is_null(json_object_get(j, "key")));
	CHECK_STR(json_string_value(json_object_get(j, "key_base64")), "/w==");
	json_decref(j);
	store_abort(&t);
	/* A key too long for a rejection's record is kept cut, and its detail says so. */
	char *huge = malloc(70001);
	memset(huge, 'k', 70000);
	huge[70000] = '\0';
	CHECK_INT(fixture_ingest_keyed(st, good, huge, 903), PL_R_KEY_MISMATCH);
	free(huge);
	CHECK_INT(store_read_begin(st, &t), 0);
	CHECK_INT(store_last(&t, STORE_DB_REJECTIONS, &k, &v), 0);
	CHECK_INT(rejections_parse(&k, &v, &r), 0);
	CHECK(r.has_key && r.key_len == 65534);
	const char *says = "(its key of 70000 bytes kept cut to 65534)";
	CHECK(r.detail_len > strlen(says) &&
	      memcmp(r.detail + r.detail_len - strlen(says), says, strlen(says)) == 0);

	/* The offset after the newest message is stored with the batch. */
	struct evlog_offset off;
	CHECK_INT(evlog_offset_get(&t, "test", 0, &off), 0);
	CHECK_INT(off.next, 904);
	CHECK_STR(off.cluster, "cluster-a");
	CHECK_INT(evlog_offset_get(&t, "test", 1, &off), PL_ENOTFOUND);
	store_abort(&t);
}

/* The overflow guard, reached by giving a campaign a total near the limit. */
static void test_total_overflow(void)
{
	CHECK_INT(open_campaign("o", "GBP", T0), PL_R_NONE);
	/* The rules' state is the writer's: set the campaign's total there. */
	struct index *ix = &fixture_writer(st)->live.ix;
	int kind = SLOT_K_PROJ + PROJ_K_CAMPAIGN;
	struct fp f;
	struct store_txn t;
	struct proj_campaign_state state;
	uint8_t v[PROJ_CAMPAIGN_STATE_SIZE];
	proj_campaign_fp((struct pl_str){"o", 1}, &f);
	CHECK_INT(store_read_begin(st, &t), 0);
	CHECK_INT(index_get(ix, &t, kind, &f, v), 0);
	store_abort(&t);
	proj_campaign_state_decode(v, &state);
	state.totals.raised = INT64_MAX - 10;
	proj_campaign_state_encode(v, &state);
	CHECK_INT(index_put(ix, kind, &f, v), 0);
	CHECK_INT(pledge("o", "o1", "s1", 11, "GBP", T0), PL_R_TOTAL_OVERFLOW);
	CHECK_INT(pledge("o", "o1", "s1", 10, "GBP", T0), PL_R_NONE);
	CHECK_INT(get("o").totals.raised, INT64_MAX);
	/* The refusals in the order events.md gives them: a used id first. */
	CHECK_INT(pledge("o", "o1", "s2", 1, "GBP", T0), PL_R_DUPLICATE_PLEDGE);
}

/* Event times outside the writer's window are refused out_of_range, at
 * both edges, whatever the rule would have said; a window the caller sets
 * is the one used. The fixture's events arrive at NOW. */
static void test_event_window(void)
{
	CHECK_INT(open_campaign("w", "GBP", T0), 0);
	CHECK_INT(pledge("w", "w1", "s1", 100, "GBP", EVENT_WINDOW_EARLIEST_MS), 0);
	CHECK_INT(pledge("w", "w2", "s2", 100, "GBP", EVENT_WINDOW_EARLIEST_MS - 1), PL_R_OUT_OF_RANGE);
	CHECK_INT(pledge("w", "w3", "s3", 100, "GBP", NOW + EVENT_WINDOW_SKEW_MS), 0);
	CHECK_INT(pledge("w", "w4", "s4", 100, "GBP", NOW + EVENT_WINDOW_SKEW_MS + 1),
		  PL_R_OUT_OF_RANGE);
	CHECK_INT(comment("w", "wc", "stranger", "far ahead", INT64_C(9000000000000000)),
		  PL_R_OUT_OF_RANGE); /* not not_a_backer: the time is looked at first */
	struct proj_campaign c = get("w");
	CHECK_INT(c.totals.raised, 200);
	CHECK_INT(c.totals.comments, 0);

	struct writer *w = fixture_writer(st);
	w->window = (struct event_window){T0, 0};
	CHECK_INT(pledge("w", "w5", "s5", 100, "GBP", T0 - 1), PL_R_OUT_OF_RANGE);
	CHECK_INT(pledge("w", "w6", "s6", 100, "GBP", NOW + 1), PL_R_OUT_OF_RANGE);
	CHECK_INT(pledge("w", "w7", "s7", 100, "GBP", NOW), 0);
	w->window = (struct event_window){EVENT_WINDOW_EARLIEST_MS, EVENT_WINDOW_SKEW_MS};
	CHECK_INT(get("w").totals.raised, 300);

	/* A re-delivery of an event applied before is a duplicate, though the
	 * window has moved past its time since; an event the window refused
	 * took no id. */
	char early[512], late[512];
	snprintf(early, sizeof early, "{\"v\":1,\"type\":\"pledge.created\",\"id\":\"w-early\",\"at\":%lld,"
		 "\"campaign\":\"w\",\"pledge\":\"w8\",\"supporter\":\"s8\",\"amount\":100,\"currency\":\"GBP\"}",
		 (long long)T0);
	snprintf(late, sizeof late, "{\"v\":1,\"type\":\"pledge.created\",\"id\":\"w-late\",\"at\":%lld,"
		 "\"campaign\":\"w\",\"pledge\":\"w9\",\"supporter\":\"s9\",\"amount\":100,\"currency\":\"GBP\"}",
		 (long long)T0);
	CHECK_INT(fixture_ingest(st, early), 0);
	w->window = (struct event_window){T0 + DAY, EVENT_WINDOW_SKEW_MS};
	CHECK_INT(fixture_ingest(st, early), -1); /* a duplicate, not out_of_range */
	CHECK_INT(fixture_ingest(st, late), PL_R_OUT_OF_RANGE);
	w->window = (struct event_window){EVENT_WINDOW_EARLIEST_MS, EVENT_WINDOW_SKEW_MS};
	CHECK_INT(fixture_ingest(st, late), 0);
	CHECK_INT(get("w").totals.raised, 500);
	CHECK_INT(get("w").totals.pledges, 5);
}

static void test_batch(void)
{
	const char *json[] = {
		"{\"v\":1,\"type\":\"campaign.opened\",\"id\":\"bt1\",\"at\":1578132000001,\"campaign\":\"bt\",\"title\":\"t\",\"owner\":\"o\",\"currency\":\"GBP\"}",
		"{\"v\":1,\"type\":\"pledge.created\",\"id\":\"bt2\",\"at\":1578132000002,\"campaign\":\"bt\",\"pledge\":\"bt-p\",\"supporter\":\"s\",\"amount\":5,\"currency\":\"GBP\"}",
		"{\"v\":1,\"type\":\"pledge.created\",\"id\":\"bt2\",\"at\":1578132000002,\"campaign\":\"bt\",\"pledge\":\"bt-p\",\"supporter\":\"s\",\"amount\":5,\"currency\":\"GBP\"}",
		"{\"v\":1,\"type\":\"nope\",\"id\":\"bt3\",\"at\":1578132000002,\"campaign\":\"bt\"}",
	};
	enum { N = sizeof json / sizeof json[0] };
	msgpack_sbuffer bufs[N];
	struct ingest_msg msgs[N];
	char err[80];
	for (int i = 0; i < N; i++) {
		msgpack_sbuffer_init(&bufs[i]);
		pl_json_to_msgpack(json[i], strlen(json[i]), &bufs[i], err, sizeof err);
		msgs[i] = (struct ingest_msg){.src = {"bt", 2, i % 2, 10 + i}, .value = bufs[i].data,
					      .value_len = bufs[i].size};
	}
	struct ingest_stats stats;
	CHECK_INT(ingest_batch(fixture_writer(st), msgs, N, "", NOW, &stats), 0);
	CHECK_INT(stats.applied[PL_EV_CAMPAIGN_OPENED], 1);
	CHECK_INT(stats.applied[PL_EV_PLEDGE_CREATED], 1);
	CHECK_INT(stats.duplicates, 1);
	CHECK_INT(stats.rejected[PL_R_UNKNOWN_TYPE], 1);
	CHECK_INT(get("bt").totals.raised, 5);

	/* A Kafka tombstone (no value at all) is kept as a rejection, not a crash. */
	struct ingest_msg tomb = {.src = {"bt", 2, 0, 20}, .key = "bt", .key_len = 2};
	CHECK_INT(ingest_batch(fixture_writer(st), &tomb, 1, "", NOW, &stats), 0);
	CHECK_INT(stats.rejected[PL_R_BAD_MSGPACK], 1);
	struct store_txn t;
	struct evlog_offset off;
	CHECK_INT(store_read_begin(st, &t), 0);
	CHECK_INT(evlog_offset_get(&t, "bt", 0, &off), 0);
	CHECK_INT(off.next, 21); /* the tombstone at 20 was the last on partition 0 */
	CHECK_INT(evlog_offset_get(&t, "bt", 1, &off), 0);
	CHECK_INT(off.next, 14);
	store_abort(&t);
	for (int i = 0; i < N; i++)
		msgpack_sbuffer_destroy(&bufs[i]);
}

/*
 * Campaigns touched in one batch are published from an ordered table whose
 * last homes run on past its end: two campaigns whose fingerprints both
 * belong in the last slot (the top 16 bits all ones, so the last at any
 * size up to 2^16) must both get their totals.
 */
static void test_batch_table_tail(void)
{
	char ids[2][32];
	int found = 0;
	for (long n = 0; found < 2 && n < 100000000; n++) {
		struct fp f;
		snprintf(ids[found], sizeof ids[found], "tail-%ld", n);
		proj_campaign_fp((struct pl_str){ids[found], (uint32_t)strlen(ids[found])}, &f);
		if (fp_word(f.b, 0) >> 48 == 0xffff)
			found++;
	}
	CHECK_INT(found, 2);
	msgpack_sbuffer bufs[2];
	struct ingest_msg msgs[2];
	char json[256], err[80];
	for (int i = 0; i < 2; i++) {
		snprintf(json, sizeof json,
			 "{\"v\":1,\"type\":\"campaign.opened\",\"id\":\"%s\",\"at\":1578132000001,"
			 "\"campaign\":\"%s\",\"title\":\"t\",\"owner\":\"o\",\"currency\":\"GBP\"}",
			 ids[i], ids[i]);
		msgpack_sbuffer_init(&bufs[i]);
		pl_json_to_msgpack(json, strlen(json), &bufs[i], err, sizeof err);
		msgs[i] = (struct ingest_msg){.src = {"tail", 4, 0, i}, .value = bufs[i].data,
					      .value_len = bufs[i].size};
	}
	struct ingest_stats stats;
	CHECK_INT(ingest_batch(fixture_writer(st), msgs, 2, "", NOW, &stats), 0);
	CHECK_INT(stats.applied[PL_EV_CAMPAIGN_OPENED], 2);
	for (int i = 0; i < 2; i++) {
		struct proj_campaign c;
		CHECK_INT(fixture_campaign(st, ids[i], &c), 0);
		msgpack_sbuffer_destroy(&bufs[i]);
	}
}

struct platform_seen {
	int currencies;
	int64_t raised, pledges, open, supporters; /* of the currency "XQB" */
	bool bad;
};

static int platform_entry(const char currency[3], const struct proj_platform *p, void *arg)
{
	struct platform_seen *seen = arg;
	if (currency[0] != 'X' || currency[1] != 'Q')
		return 0;
	int i = currency[2] - 'A';
	seen->currencies++;
	/* Currency i: one campaign, i + 1 pledges of 10 by two supporters. */
	if (p->raised != 10 * (i + 1) || p->pledges != i + 1 || p->open != 1 ||
	    p->supporters != (i ? 2 : 1))
		seen->bad = true;
	if (i == 1)
		*seen = (struct platform_seen){seen->currencies, (int64_t)p->raised, p->pledges,
					       p->open, p->supporters, seen->bad};
	return 0;
}

/*
 * The platform's totals are summed per batch and written at its end, a few
 * currencies at a time: one batch touching more currencies than the writer
 * holds at once, each several times, must give every currency its sums.
 */
static void test_batch_platform(void)
{
	enum { CURRENCIES = PROJ_PLATFORM_PENDING * 2 + 3, MAX = CURRENCIES * (CURRENCIES + 2) };
	static msgpack_sbuffer bufs[MAX];
	static struct ingest_msg msgs[MAX];
	char json[512], err[80];
	size_t n = 0;
	for (int round = -1; round < CURRENCIES; round++) {
		for (int i = 0; i < CURRENCIES; i++) {
			if (round >= 0 && round > i)
				continue;
			if (round < 0)
				snprintf(json, sizeof json,
					 "{\"v\":1,\"type\":\"campaign.opened\",\"id\":\"pf-o%d\",\"at\":1578132000001,"
					 "\"campaign\":\"pf-%d\",\"title\":\"t\",\"owner\":\"o\",\"currency\":\"XQ%c\"}",
					 i, i, 'A' + i);
			else
				snprintf(json, sizeof json,
					 "{\"v\":1,\"type\":\"pledge.created\",\"id\":\"pf-p%d-%d\",\"at\":1578132000002,"
					 "\"campaign\":\"pf-%d\",\"pledge\":\"pf-%d-%d\",\"supporter\":\"s%d\","
					 "\"amount\":10,\"currency\":\"XQ%c\"}",
					 i, round, i, i, round, round % 2, 'A' + i);
			msgpack_sbuffer_init(&bufs[n]);
			pl_json_to_msgpack(json, strlen(json), &bufs[n], err, sizeof err);
			msgs[n] = (struct ingest_msg){.src = {"pf", 2, 0, (int64_t)n}, .value = bufs[n].data,
						      .value_len = bufs[n].size};
			n++;
		}
	}
	struct ingest_stats stats;
	CHECK_INT(ingest_batch(fixture_writer(st), msgs, n, "", NOW, &stats), 0);
	CHECK_INT(stats.applied[PL_EV_PLEDGE_CREATED], (int64_t)n - CURRENCIES);
	struct store_txn t;
	enum store_slot slot;
	uint64_t gen;
	struct platform_seen seen = {0};
	CHECK_INT(store_read_begin(st, &t), 0);
	CHECK_INT(proj_live(&t, &slot, &gen), 0);
	CHECK_INT(proj_platform_each(&t, slot, platform_entry, &seen), 0);
	store_abort(&t);
	CHECK_INT(seen.currencies, CURRENCIES);
	CHECK(!seen.bad);
	CHECK_INT(seen.raised, 20);
	CHECK_INT(seen.supporters, 2);
	check_verifies();
	for (size_t i = 0; i < n; i++)
		msgpack_sbuffer_destroy(&bufs[i]);
}

/* Messages of one test batch, from JSON. */
struct json_batch {
	size_t n;
	msgpack_sbuffer bufs[16];
	struct ingest_msg msgs[16];
};

static void json_batch_add(struct json_batch *b, const char *json)
{
	char err[80];
	msgpack_sbuffer_init(&b->bufs[b->n]);
	pl_json_to_msgpack(json, strlen(json), &b->bufs[b->n], err, sizeof err);
	b->msgs[b->n] = (struct ingest_msg){.src = {"wl", 2, 0, (int64_t)b->n},
					    .value = b->bufs[b->n].data,
					    .value_len = b->bufs[b->n].size};
	b->n++;
}

static void json_batch_free(struct json_batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		msgpack_sbuffer_destroy(&b->bufs[i]);
}

static int count_in_order(const struct proj_campaign *c, const void *key, size_t key_len, void *arg)
{
	(void)key, (void)key_len;
	if (c->id.len == 2 && memcmp(c->id.ptr, "wl", 2) == 0)
		++*(int *)arg;
	return 0;
}

static int in_order(enum proj_order order)
{
	struct store_txn t;
	enum store_slot slot;
	uint64_t gen;
	int n = 0;
	CHECK_INT(store_read_begin(st, &t), 0);
	CHECK_INT(proj_live(&t, &slot, &gen), 0);
	CHECK_INT(proj_campaign_each_in(&t, slot, order, NULL, 0, count_in_order, &n), 0);
	store_abort(&t);
	return n;
}

/*
 * A campaign's whole life in one batch: what the rules record for readers
 * is written when the batch ends, in the order it was decided, so the
 * close finds the row its opening wrote and the removal the comment's row.
 */
static void test_batch_whole_life(void)
{
	static const char *json[] = {
		"{\"v\":1,\"type\":\"campaign.opened\",\"id\":\"wl1\",\"at\":1578132000001,\"campaign\":\"wl\",\"title\":\"t\",\"owner\":\"o\",\"currency\":\"GBP\",\"closes_at\":1578232000000}",
		"{\"v\":1,\"type\":\"pledge.created\",\"id\":\"wl2\",\"at\":1578132000002,\"campaign\":\"wl\",\"pledge\":\"wl-p\",\"supporter\":\"s\",\"amount\":70,\"currency\":\"GBP\"}",
		"{\"v\":1,\"type\":\"comment.posted\",\"id\":\"wl3\",\"at\":1578132000003,\"campaign\":\"wl\",\"comment\":\"wl-c1\",\"supporter\":\"s\",\"text\":\"first\"}",
		"{\"v\":1,\"type\":\"comment.posted\",\"id\":\"wl4\",\"at\":1578132000004,\"campaign\":\"wl\",\"comment\":\"wl-c2\",\"supporter\":\"s\",\"text\":\"second\"}",
		"{\"v\":1,\"type\":\"comment.removed\",\"id\":\"wl5\",\"at\":1578132000005,\"campaign\":\"wl\",\"comment\":\"wl-c1\"}",
		"{\"v\":1,\"type\":\"pledge.refunded\",\"id\":\"wl6\",\"at\":1578132000006,\"campaign\":\"wl\",\"pledge\":\"wl-p\",\"amount\":20}",
		"{\"v\":1,\"type\":\"campaign.closed\",\"id\":\"wl7\",\"at\":1578132000007,\"campaign\":\"wl\"}",
	};
	struct json_batch b = {0};
	for (size_t i = 0; i < sizeof json / sizeof json[0]; i++)
		json_batch_add(&b, json[i]);
	struct ingest_stats stats;
	CHECK_INT(ingest_batch(fixture_writer(st), b.msgs, b.n, "", NOW, &stats), 0);
	CHECK_INT(stats.last_seq >= b.n, 1);
	struct proj_campaign c = get("wl");
	CHECK_INT(c.totals.raised, 50);
	CHECK_INT(c.totals.comments, 1);
	CHECK_INT(c.totals.closed_at, 1578132000007);
	CHECK_INT(in_order(PROJ_BY_CLOSING), 0); /* closed: out of the closing-soon order */
	CHECK_INT(in_order(PROJ_BY_NEWEST), 1);
	CHECK_INT(in_order(PROJ_BY_RAISED), 1); /* moved within its batch, kept once */
	static struct proj_comment_page page;
	struct store_txn t;
	enum store_slot slot;
	uint64_t gen;
	CHECK_INT(store_read_begin(st, &t), 0);
	CHECK_INT(proj_live(&t, &slot, &gen), 0);
	CHECK_INT(proj_comments_page(&t, slot, &comments_staged, (struct pl_str){"wl", 2}, NULL, 10,
				     &page), 0);
	CHECK_INT(page.count, 1);
	CHECK(page.count == 1 && page.items[0].text.len == 6 &&
	      memcmp(page.items[0].text.ptr, "second", 6) == 0);
	store_abort(&t);
	check_verifies();
	json_batch_free(&b);
}

/*
 * An erasure in the middle of a batch erases what the batch decided before
 * it (written first: its log entries and its rejection) and hides the
 * comment posted there; a refund after it still finds its pledge.
 */
static void test_batch_erasure(void)
{
	static const char *json[] = {
		"{\"v\":1,\"type\":\"campaign.opened\",\"id\":\"be1\",\"at\":1578132000001,\"campaign\":\"be\",\"title\":\"t\",\"owner\":\"o\",\"currency\":\"GBP\"}",
		"{\"v\":1,\"type\":\"pledge.created\",\"id\":\"be2\",\"at\":1578132000002,\"campaign\":\"be\",\"pledge\":\"be-p\",\"supporter\":\"be-gone\",\"amount\":70,\"currency\":\"GBP\",\"name\":\"Batch-Name-To-Erase\"}",
		"{\"v\":1,\"type\":\"comment.posted\",\"id\":\"be3\",\"at\":1578132000003,\"campaign\":\"be\",\"comment\":\"be-c1\",\"supporter\":\"be-gone\",\"text\":\"Batch-Text-To-Erase\"}",
		"{\"v\":1,\"type\":\"comment.posted\",\"id\":\"be4\",\"at\":1578132000004,\"campaign\":\"be\",\"comment\":\"be-c2\",\"supporter\":\"be-gone\",\"text\":\"Batch-Text-To-Erase\",\"name\":5}",
		"{\"v\":1,\"type\":\"supporter.forgotten\",\"id\":\"be5\",\"at\":1578132000005,\"supporter\":\"be-gone\",\"by\":\"test\"}",
		"{\"v\":1,\"type\":\"pledge.refunded\",\"id\":\"be6\",\"at\":1578132000006,\"campaign\":\"be\",\"pledge\":\"be-p\",\"amount\":20}",
		"{\"v\":1,\"type\":\"comment.posted\",\"id\":\"be7\",\"at\":1578132000007,\"campaign\":\"be\",\"comment\":\"be-c3\",\"supporter\":\"be-other\",\"text\":\"Batch-After\"}",
	};
	struct json_batch b = {0};
	for (size_t i = 0; i < sizeof json / sizeof json[0]; i++)
		json_batch_add(&b, json[i]);
	struct ingest_stats stats;
	CHECK_INT(ingest_batch(fixture_writer(st), b.msgs, b.n, "", NOW, &stats), 0);
	CHECK_INT(stats.applied[PL_EV_SUPPORTER_FORGOTTEN], 1);
	CHECK_INT(stats.applied[PL_EV_PLEDGE_REFUNDED], 1);
	CHECK_INT(stats.rejected[PL_R_WRONG_TYPE], 1);
	CHECK_INT(stats.rejected[PL_R_NOT_A_BACKER], 1);
	CHECK_INT(stats.erased_records, 3); /* the pledge, the comment and the rejected comment */
	CHECK_INT(stored("Batch-Name-To-Erase"), 0);
	CHECK_INT(stored("Batch-Text-To-Erase"), 0);
	struct proj_campaign c = get("be");
	CHECK_INT(c.totals.raised, 50);
	CHECK_INT(c.totals.comments, 0);
	check_verifies();
	json_batch_free(&b);
}

/*
 * A published row the flush must read (a campaign's info row, when it
 * closes) that no longer decodes fails the whole batch: nothing of it is
 * kept, the log included.
 */
static void test_batch_damaged_row(void)
{
	struct json_batch b = {0};
	json_batch_add(&b, "{\"v\":1,\"type\":\"campaign.opened\",\"id\":\"dr1\",\"at\":1578132000001,\"campaign\":\"dr\",\"title\":\"t\",\"owner\":\"o\",\"currency\":\"GBP\"}");
	struct ingest_stats stats;
	CHECK_INT(ingest_batch(fixture_writer(st), b.msgs, 1, "", NOW, &stats), 0);
	uint64_t last = stats.last_seq;
	struct store_txn t;
	enum store_slot slot;
	uint64_t gen;
	CHECK_INT(store_write_begin(st, &t), 0);
	CHECK_INT(proj_live(&t, &slot, &gen), 0);
	store_put(&t, store_slot_db(slot, SLOT_CAMPAIGNS), "dr", 2, "\x01", 1, 0);
	CHECK_INT(store_commit(&t), 0);
	json_batch_free(&b);
	b.n = 0;
	json_batch_add(&b, "{\"v\":1,\"type\":\"pledge.created\",\"id\":\"dr2\",\"at\":1578132000002,\"campaign\":\"dr\",\"pledge\":\"dr-p\",\"supporter\":\"s\",\"amount\":70,\"currency\":\"GBP\"}");
	json_batch_add(&b, "{\"v\":1,\"type\":\"campaign.closed\",\"id\":\"dr3\",\"at\":1578132000003,\"campaign\":\"dr\"}");
	CHECK_INT(ingest_batch(fixture_writer(st), b.msgs, b.n, "", NOW, &stats), PL_ECORRUPT);
	uint64_t now_last = 0;
	CHECK_INT(store_read_begin(st, &t), 0);
	CHECK_INT(evlog_last_seq(&t, &now_last), 0);
	store_abort(&t);
	CHECK_INT(now_last, last);
	json_batch_free(&b);
}

int main(void)
{
	char dir[256];
	st = fixture_store(dir, sizeof dir, 0);
	test_campaign_lifecycle();
	test_pledges_and_refunds();
	test_comments();
	test_comment_pages();
	test_comment_cursor_across_replicas();
	test_idempotency_and_rejections();
	test_total_overflow();
	test_event_window();
	test_batch();
	test_batch_table_tail();
	fixture_close(st);
	fixture_remove(dir);
	/* A store of its own: test_total_overflow's tampering would fail verify. */
	st = fixture_store(dir, sizeof dir, 0);
	test_erasure();
	test_batch_platform();
	test_batch_whole_life();
	test_batch_erasure();
	test_batch_damaged_row(); /* last: it leaves a damaged row */
	fixture_close(st);
	fixture_remove(dir);
	proj_staged_deinit(&comments_staged);
	return check_done();
}
