/*
 * test_staged.c — the history and the comments written behind (proj_staged.h).
 *
 * First the packed row itself: every field at its limits, and damaged
 * encodings refused. Then events arrive one batch each, timed out of
 * order, and the fixture's writer moves the staged rows every 300, so a
 * campaign's history is split between the history table and the staging
 * table in every way (and its comments between theirs, some removed while
 * staged, some once moved). Figures at several times, chart buckets, the
 * comments at a time and the live feed page by page are checked against
 * sums the test keeps itself, read by a reader that keeps its staged rows
 * from call to call (as an HTTP worker does) and by one that reads them
 * afresh. The store starts with a small map, so batches are run again
 * after the map grew, and the writer's own copy of the rows it staged
 * must still be whole: no move reads them back, until the writer is opened
 * anew and its first move reads the staged table back; the writer then
 * holds no more than the table, and the move after takes its rows. Then:
 * the kept reader after a rebuild swapped the slots, verify, and a damaged
 * staged or history row, which must be an error, not a crash. Last, the
 * history table's rows put and read one by one, and the held rows' undo.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fixture.h"

#include "bytes.h"
#include "pl_error.h"
#include "proj.h"
#include "proj_history.h"
#include "proj_history_cursor.h"
#include "proj_history_runs.h"
#include "proj_history_table.h"
#include "proj_records.h"
#include "rebuild.h"

/* The staged comments as the page reads them (proj_read.h), kept across calls. */
static struct proj_staged comments_staged;

#define MIN INT64_C(60000)
#define T0 INT64_C(1578132000000)
#define CAMPAIGNS 4
#define SUPPORTERS 40
#define EVENTS 2400
#define MORE_EVENTS 400 /* after the writer is opened anew */
#define INITIAL_MAP ((size_t)256 << 10)

static struct store *st;
static int next_id;

/* What the test knows of each event it sent: enough to sum at any time. */
struct sent {
	int campaign, supporter;
	int64_t at, amount; /* amount 0: a comment */
	int comment;        /* its number, for a comment */
	bool removed;       /* a comment removed later, timed as it was posted */
};
static struct sent sent[EVENTS + 8 * MORE_EVENTS];
static size_t nsent;

static int ingest(const char *type, int campaign, int64_t at, const char *fields)
{
	char json[1024];
	snprintf(json, sizeof json,
		 "{\"v\":1,\"type\":\"%s\",\"id\":\"st-%d\",\"at\":%lld,\"campaign\":\"c%d\"%s%s}", type,
		 ++next_id, (long long)at, campaign, *fields ? "," : "", fields);
	return fixture_ingest(st, json);
}

/* The figures of campaign c from the events timed at or before t. */
static struct proj_totals expected(int c, int64_t t)
{
	struct proj_totals tot = {0};
	int64_t net[SUPPORTERS] = {0};
	for (size_t i = 0; i < nsent; i++) {
		const struct sent *s = &sent[i];
		if (s->campaign != c || s->at > t)
			continue;
		if (s->amount) {
			tot.raised += s->amount;
			tot.pledges++;
			tot.supporters += net[s->supporter] == 0;
			net[s->supporter] += s->amount;
		} else if (!s->removed) {
			tot.comments++;
		}
	}
	return tot;
}

static enum store_slot live(struct store_txn *t)
{
	enum store_slot slot;
	uint64_t gen;
	CHECK_INT(proj_live(t, &slot, &gen), 0);
	return slot;
}

static size_t staged_entries(struct store_txn *t, enum store_slot slot)
{
	uint64_t n;
	CHECK_INT(store_entries(t, store_slot_db(slot, SLOT_HISTORY_STAGED), &n), 0);
	return (size_t)n;
}

/* The live slot's staged history rows, and its move mark. */
static size_t staged_now(struct proj_move_mark *mark)
{
	struct store_txn t;
	CHECK_INT(store_read_begin(st, &t), 0);
	enum store_slot slot = live(&t);
	size_t n = staged_entries(&t, slot);
	CHECK_INT(proj_move_mark_get(&t, slot, mark), 0);
	store_abort(&t);
	return n;
}

/* The runs of the live slot's history (proj_history_runs.h). */
static uint32_t runs_now(void)
{
	struct store_txn t;
	uint32_t first, last;
	CHECK_INT(store_read_begin(st, &t), 0);
	CHECK_INT(proj_runs_span(&t, live(&t), &first, &last), 0);
	store_abort(&t);
	return first ? last - first + 1 : 0;
}

static int add_raised(const struct proj_bucket *b, void *arg)
{
	int64_t **out = arg;
	*(*out)++ = b->at_end.raised;
	return 0;
}

/* Every figure of every campaign at a few times, read with keep and afresh. */
/* The comments proj_history_comments gives, in its order. */
struct seen_comments {
	uint64_t seqs[200];
	int64_t ats[200];
	size_t n;
};

/* proj_event_at_fn over a transaction t. */
static int event_at(void *t, uint64_t seq, struct pl_event *ev)
{
	struct evlog_entry e;
	struct pl_rejection rej;
	int rc = evlog_get(t, seq, &e);
	return rc ? rc : pl_event_decode(e.raw, e.raw_len, NULL, 0, ev, &rej);
}

/* The id of the comment posted at seq. */
static struct pl_str comment_id(struct store_txn *t, uint64_t seq)
{
	struct pl_event ev;
	CHECK_INT(event_at(t, seq, &ev), 0);
	return pl_event_str(&ev, PL_F_COMMENT);
}

static int see_comment(uint64_t seq, int64_t at, void *arg)
{
	struct seen_comments *s = arg;
	if (s->n == sizeof s->seqs / sizeof s->seqs[0])
		return PL_ENOMEM; /* more than this test posts */
	s->seqs[s->n] = seq;
	s->ats[s->n++] = at;
	return 0;
}

static void check_figures(struct proj_staged *keep)
{
	static const int64_t times[] = {T0 + 100 * MIN, T0 + 333 * MIN, T0 + 700 * MIN, INT64_MAX};
	struct store_txn t;
	CHECK_INT(store_read_begin(st, &t), 0);
	enum store_slot slot = live(&t);
	for (int c = 0; c < CAMPAIGNS; c++) {
		char id[8];
		snprintf(id, sizeof id, "c%d", c);
		struct pl_str name = {id, strlen(id)};
		for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
			struct proj_totals want = expected(c, times[i]);
			for (int fresh = 0; fresh < 2; fresh++) {
				struct proj_campaign got = {.id = name};
				CHECK_INT(proj_history_as_of(&t, slot, fresh ? NULL : keep, times[i], &got, NULL), 0);
				CHECK_INT(got.totals.raised, want.raised);
				CHECK_INT(got.totals.pledges, want.pledges);
				CHECK_INT(got.totals.supporters, want.supporters);
				CHECK_INT(got.totals.comments, want.comments);
			}
			/* The comments visible then: as many as were posted by then. */
			struct seen_comments seen = {0};
			CHECK_INT(proj_history_comments(&t, slot, keep, name, times[i], NULL, event_at, &t,
							see_comment, &seen),
				  0);
			CHECK_INT(seen.n, want.comments);
			for (size_t k = 1; k < seen.n; k++) /* newest first, then by id */
				CHECK(seen.ats[k - 1] > seen.ats[k] ||
				      (seen.ats[k - 1] == seen.ats[k] &&
				       proj_comment_order(comment_id(&t, seen.seqs[k - 1]),
							  comment_id(&t, seen.seqs[k])) < 0));
		}
		/* The live feed, moved and staged rows alike, a page of 7 at a time. */
		struct proj_comment_page page;
		struct proj_cursor from;
		struct proj_comment last = {.at = INT64_MAX};
		int64_t listed = 0;
		for (bool first = true; first || page.has_next; first = false) {
			CHECK_INT(proj_comments_page(&t, slot, &comments_staged, name, first ? NULL : &from, 7, &page), 0);
			for (size_t k = 0; k < page.count; k++, listed++) { /* newest first */
				const struct proj_comment *com = &page.items[k];
				CHECK(com->at < last.at ||
				      (com->at == last.at && proj_comment_order(last.id, com->id) < 0));
				last = *com;
			}
			if (!page.count)
				break;
			from = page.next;
		}
		CHECK_INT(listed, expected(c, INT64_MAX).comments);
		/* A chart of ten buckets of 100 minutes. */
		int64_t raised[10], *out = raised;
		CHECK_INT(proj_history_buckets(&t, slot, keep, name, T0, 100 * MIN, 10, false, add_raised,
					       &out),
			  0);
		for (int b = 0; b < 10; b++)
			CHECK_INT(raised[b], expected(c, T0 + (b + 1) * 100 * MIN - 1).raised);
	}
	/* The reader holds exactly what is staged: what moves leaves it. */
	CHECK_INT(keep->count, staged_entries(&t, slot));
	store_abort(&t);
}

static void test_split_history(struct proj_staged *keep)
{
	for (int c = 0; c < CAMPAIGNS; c++)
		CHECK_INT(ingest("campaign.opened", c, T0,
				 "\"title\":\"T\",\"owner\":\"O\",\"currency\":\"GBP\",\"target\":100000"),
			  PL_R_NONE);
	srand(7);
	bool backer[CAMPAIGNS][SUPPORTERS] = {{false}};
	static size_t commented[EVENTS]; /* sent[] index of each comment */
	size_t ncomments = 0, moves = 0, staged_before = 0, moves_run_again = 0, moving = 0;
	size_t with_runs = 0, compacting = 0;
	size_t map_before = store_map_size(st);
	for (int i = 0; i < EVENTS; i++) {
		/* Half of the events for c0, whose rows a move puts in the history
		 * table, a sixth for each other, whose rows go to runs. */
		int pick = rand() % 6;
		struct sent s = {pick < 3 ? 0 : pick - 2, rand() % SUPPORTERS, T0 + (rand() % 1000) * MIN, 0};
		char f[256];
		struct sent *posted = ncomments ? &sent[commented[(size_t)rand() % ncomments]] : NULL;
		if (i % 50 == 49 && posted && !posted->removed) {
			/* A comment removed, staged or moved by now, timed as it was posted. */
			snprintf(f, sizeof f, "\"comment\":\"k%d\"", posted->comment);
			CHECK_INT(ingest("comment.removed", posted->campaign, posted->at, f), PL_R_NONE);
			posted->removed = true;
		} else if (i % 16 == 15 && backer[s.campaign][s.supporter]) {
			snprintf(f, sizeof f, "\"comment\":\"k%d\",\"supporter\":\"s%d\",\"text\":\"hello\"",
				 i, s.supporter);
			CHECK_INT(ingest("comment.posted", s.campaign, s.at, f), PL_R_NONE);
			s.comment = i;
			commented[ncomments++] = nsent;
			sent[nsent++] = s;
		} else {
			s.amount = 1 + rand() % 1000;
			snprintf(f, sizeof f,
				 "\"pledge\":\"p%d\",\"supporter\":\"s%d\",\"amount\":%lld,\"currency\":\"GBP\"",
				 i, s.supporter, (long long)s.amount);
			CHECK_INT(ingest("pledge.created", s.campaign, s.at, f), PL_R_NONE);
			backer[s.campaign][s.supporter] = true;
			sent[nsent++] = s;
		}
		struct proj_move_mark mark;
		size_t staged = staged_now(&mark);
		moves += staged < staged_before;
		moving += mark.kind == PROJ_MARK_MOVE;
		compacting += mark.kind == PROJ_MARK_COMPACT;
		with_runs += runs_now() > 0;
		/* The map grew in this step (which was run again) and a move went on. */
		moves_run_again += (staged < staged_before || mark.kind) && store_map_size(st) > map_before;
		map_before = store_map_size(st);
		staged_before = staged;
		if (i % 97 == 0 || i == EVENTS - 1)
			check_figures(keep);
	}
	CHECK(moves >= 5); /* the histories really were split */
	CHECK(moving >= 5); /* and read while a move went on between batches */
	CHECK(with_runs >= 100); /* with rows in runs */
	CHECK(compacting >= 1);  /* and while a compaction went on */
	CHECK(staged_before > 0);
	/* A move's transaction was run again after the map grew (INITIAL_MAP is
	 * chosen so), and still every move had its rows at hand. */
	CHECK(moves_run_again >= 1);
	CHECK_INT(fixture_writer(st)->live.pw.staged_read_back, 0);
}

/* A pledge of supporter sup to campaign c, the nth of this kind. */
static void pledge(int n, int c, int sup, int64_t amount)
{
	struct sent s = {c, sup, T0 + (n % 1000) * MIN, amount};
	char f[256];
	snprintf(f, sizeof f,
		 "\"pledge\":\"q%d\",\"supporter\":\"s%d\",\"amount\":%lld,\"currency\":\"GBP\"", n,
		 sup, (long long)amount);
	CHECK_INT(ingest("pledge.created", c, s.at, f), PL_R_NONE);
	sent[nsent++] = s;
}

/*
 * A writer stopped cleanly (its checkpoint ends any move under way) and
 * opened anew holds none of the rows staged before: its first move reads
 * the table back, the rows staged before and since.
 */
static void test_reopened_writer(struct proj_staged *keep)
{
	CHECK_INT(writer_checkpoint(fixture_writer(st)), 0);
	struct proj_move_mark mark;
	size_t staged = staged_now(&mark), at_start = 0;
	CHECK(staged > 0);
	CHECK(mark.kind == PROJ_MARK_NONE);
	fixture_drop_writer(st);
	bool moved = false;
	for (int i = 0; i < MORE_EVENTS && !moved; i++) {
		pledge(i, i % CAMPAIGNS, i % SUPPORTERS, 1 + i);
		size_t now = staged_now(&mark);
		if (mark.kind == PROJ_MARK_MOVE && !at_start)
			at_start = now; /* the move began after this batch: these are its rows */
		moved = now < staged;
		staged = now;
	}
	CHECK(moved);
	CHECK(at_start > 0);
	CHECK_INT(fixture_writer(st)->live.pw.staged_read_back, at_start);
	/* The rows it read back were the ones it held: from then on it holds
	 * only what the table has, and the next move takes them. */
	moved = false;
	for (int i = 0; i < 2 * MORE_EVENTS && !moved; i++) {
		pledge(20000 + i, i % CAMPAIGNS, i % SUPPORTERS, 1 + i);
		size_t now = staged_now(&mark);
		CHECK(fixture_writer(st)->live.pw.staged.count <= now);
		moved = now < staged;
		staged = now;
	}
	CHECK(moved);
	CHECK_INT(fixture_writer(st)->live.pw.staged_read_back, at_start);
	check_figures(keep);
}

/*
 * serve killed while a move goes on (no checkpoint): the writer opened
 * anew finds the mark and ends the move, reading back the rows it moves.
 * Its first batch removes a comment of a campaign the move has moved
 * already, which is then both staged and in COMMENTS. Readers see every
 * row once at each step.
 */
static void test_move_interrupted(struct proj_staged *keep)
{
	struct proj_move_mark mark;
	int n = MORE_EVENTS;
	CHECK_INT(writer_checkpoint(fixture_writer(st)), 0); /* no compaction under way */
	pledge(n++, 0, 0, 5); /* s0 backs c0, and may comment */
	for (; staged_now(&mark) < fixture_writer(st)->live.opt.history_move_rows - 2; n++)
		pledge(n, 1 + n % (CAMPAIGNS - 1), n % SUPPORTERS, 7);
	CHECK(mark.kind == PROJ_MARK_NONE);
	struct sent com = {0, 0, T0 + 500 * MIN, 0, 999999, false};
	CHECK_INT(ingest("comment.posted", 0, com.at,
			 "\"comment\":\"k999999\",\"supporter\":\"s0\",\"text\":\"moved mid-move\""),
		  PL_R_NONE);
	size_t posted = nsent;
	sent[nsent++] = com;
	pledge(n++, 3, 1, 9); /* the move's rows are staged: it begins */
	size_t staged = staged_now(&mark);
	CHECK(mark.kind == PROJ_MARK_MOVE);
	CHECK(mark.campaign_len == 3 && memcmp(mark.campaign, "\x02" "c1", 3) == 0);
	check_figures(keep);

	fixture_drop_writer(st); /* as kill -9 would: nothing written on the way out */
	CHECK_INT(ingest("comment.removed", 0, com.at, "\"comment\":\"k999999\""), PL_R_NONE);
	sent[posted].removed = true;
	CHECK_INT(fixture_writer(st)->live.pw.staged_read_back, staged);
	CHECK(staged_now(&mark) < staged);
	CHECK(mark.kind != PROJ_MARK_MOVE); /* a compaction may follow */
	check_figures(keep);
}

/*
 * serve killed twice while a compaction of the runs goes on: once before
 * its first transaction, once after it. The writer opened anew goes on from
 * the mark, and readers see every row once throughout. Nine pledges in ten
 * go to c0, so each move puts the others' few rows in a run.
 */
static void test_compaction_interrupted(struct proj_staged *keep)
{
	struct proj_move_mark mark;
	int n = 10000, kills = 0;
	CHECK_INT(writer_checkpoint(fixture_writer(st)), 0);
	for (int i = 0; i < 4 * MORE_EVENTS && kills < 2; i++, n++) {
		pledge(n, n % 10 ? 0 : 1 + n / 10 % 3, n % SUPPORTERS, 3);
		staged_now(&mark);
		if (mark.kind == PROJ_MARK_COMPACT) {
			CHECK(runs_now() > 3);
			CHECK(kills == 0 ? mark.campaign_len == 0 : mark.campaign_len > 0);
			check_figures(keep);
			fixture_drop_writer(st); /* as kill -9 would */
			kills++;
		}
	}
	CHECK_INT(kills, 2);
	pledge(n, 0, 1, 3); /* the compaction's last transaction */
	staged_now(&mark);
	CHECK(mark.kind == PROJ_MARK_NONE);
	CHECK_INT(runs_now(), 0);
	check_figures(keep);
}

/* A rebuild fills the other slot and swaps: the kept reader starts afresh there. */
static void test_after_rebuild(struct proj_staged *keep)
{
	struct rebuild_options opt = {.swap = true, .slot = {.history_move_rows = 1000}};
	struct rebuild_report rep;
	enum store_slot before = keep->slot;
	fixture_drop_writer(st);
	CHECK_INT(rebuild_run(st, &opt, &rep), 0);
	CHECK_INT(rep.result.outcome, REPLAY_OK);
	check_figures(keep);
	CHECK(keep->slot != before);

	struct verify_report vr;
	CHECK_INT(fixture_verify(st, &vr), 0);
	CHECK_INT(vr.differs, 0);
	if (vr.differs)
		fprintf(stderr, "staged: the replay differs: %s\n", vr.diff);
}

/*
 * Puts the damaged row key → val into table of the live slot: PL_ECORRUPT
 * for every reader of c0's history and for verify, not a crash; then takes
 * it out again, and the kept reader recovers.
 */
static void check_damaged(struct proj_staged *keep, enum store_slot_table table, const void *key,
			  size_t klen, const char *val)
{
	struct store_txn t;
	CHECK_INT(store_write_begin(st, &t), 0);
	enum store_slot slot = live(&t);
	enum store_db db = store_slot_db(slot, table);
	store_put(&t, db, key, klen, val, strlen(val), 0);
	CHECK_INT(store_commit(&t), 0);

	CHECK_INT(store_read_begin(st, &t), 0);
	for (int fresh = 0; fresh < 2; fresh++) {
		struct proj_campaign got = {.id = {"c0", 2}};
		CHECK_INT(proj_history_as_of(&t, slot, fresh ? NULL : keep, INT64_MAX, &got, NULL), PL_ECORRUPT);
	}
	store_abort(&t);
	struct verify_report vr;
	CHECK_INT(fixture_verify(st, &vr), PL_ECORRUPT);

	CHECK_INT(store_write_begin(st, &t), 0);
	MDB_val k = {klen, (void *)key}, v = {strlen(val), (void *)val};
	CHECK_INT(mdb_del(t.txn, store_dbi(&t, db), &k, &v), 0); /* that row alone, of duplicates too */
	CHECK_INT(store_commit(&t), 0);
	check_figures(keep);
}

/* A staged row too short to hold its key, and a history row too short for its time and position. */
static void test_damaged_rows(struct proj_staged *keep)
{
	uint8_t seq[8];
	bytes_put_be64(seq, UINT64_MAX);
	check_damaged(keep, SLOT_HISTORY_STAGED, seq, sizeof seq, "\x05" "c0");
	check_damaged(keep, SLOT_HISTORY, "\x02" "c0", 3, "short");
}

/* The history's rows of campaign id in table db, in order, each its time and row's first byte. */
static size_t list_rows(struct store_txn *t, enum store_db db, const char *id, int64_t *ats,
			uint8_t *types, size_t max)
{
	uint8_t prefix[PROJ_KEY_MAX];
	size_t plen = proj_campaign_prefix(prefix, (struct pl_str){id, strlen(id)}), n = 0;
	struct proj_history_cursor c;
	MDB_val k, v;
	CHECK_INT(proj_history_cursor_open(&c, t, db, NULL, prefix, plen), 0);
	while (proj_history_cursor_get(&c, &k, &v) == 0 && n < max) {
		uint64_t seq;
		if (proj_timed_key_parse(k.mv_data, k.mv_size, (struct pl_str){id, strlen(id)}, &ats[n],
					 &seq))
			break;
		types[n++] = *(const uint8_t *)v.mv_data;
		CHECK_INT(proj_history_cursor_next(&c), 0);
	}
	proj_history_cursor_close(&c);
	return n;
}

/*
 * The history table keeps a campaign's rows as duplicates of its key: a
 * row put again at its key replaces it (an erasure merging rows), rows
 * put out of order read back in order, whole keys; a cursor from anything
 * but a campaign's prefix is refused.
 */
static void test_history_rows(void)
{
	struct store_txn t;
	CHECK_INT(store_write_begin(st, &t), 0);
	enum store_slot other = live(&t) == STORE_SLOT_A ? STORE_SLOT_B : STORE_SLOT_A;
	enum store_db db = store_slot_db(other, SLOT_HISTORY);
	struct pl_str c9 = {"c9", 2};
	static const int64_t ats[] = {T0 + 5, T0 + 1, T0 + 9, T0 + 5};
	for (size_t i = 0; i < sizeof ats / sizeof *ats; i++) {
		uint8_t key[PROJ_KEY_MAX], row = (uint8_t)(10 + i);
		size_t klen = proj_timed_key(key, c9, ats[i], i == 3 ? 1 : i + 1);
		proj_history_row_put(&t, db, key, klen, &row, 1);
	}
	uint8_t key[PROJ_KEY_MAX];
	size_t klen = proj_timed_key(key, c9, T0 + 5, 1);
	MDB_val v;
	CHECK_INT(proj_history_row_get(&t, db, key, klen, &v), 0);
	CHECK(v.mv_size == 1 && *(const uint8_t *)v.mv_data == 13); /* the last put at its key */
	klen = proj_timed_key(key, c9, T0 + 5, 7);
	CHECK_INT(proj_history_row_get(&t, db, key, klen, &v), PL_ENOTFOUND);
	int64_t got[8];
	uint8_t types[8];
	CHECK_INT(list_rows(&t, db, "c9", got, types, 8), 3);
	CHECK(got[0] == T0 + 1 && got[1] == T0 + 5 && got[2] == T0 + 9);
	CHECK(types[0] == 11 && types[1] == 13 && types[2] == 12);
	CHECK_INT(list_rows(&t, db, "c8", got, types, 8), 0); /* no such campaign: c9's rows follow */
	struct proj_history_cursor c;
	CHECK_INT(proj_history_cursor_open(&c, &t, db, NULL, key, klen), PL_EINVAL);
	proj_history_cursor_close(&c);
	uint64_t n;
	CHECK_INT(store_entries(&t, db, &n), 0);
	CHECK_INT(n, 3);
	store_abort(&t);
}

/* Held rows go back to a mark, and forget themselves when a move emptied them since. */
static void test_held_undo(void)
{
	struct proj_staged h;
	proj_staged_init(&h);
	uint8_t key[PROJ_KEY_MAX], row = 1;
	for (uint64_t seq = 1; seq <= 5; seq++) {
		size_t klen = proj_timed_key(key, (struct pl_str){"c1", 2}, T0, seq);
		proj_staged_hold(&h, seq, key, klen, &row, 1);
	}
	struct proj_staged_mark m = proj_staged_mark(&h);
	for (uint64_t seq = 6; seq <= 9; seq++) {
		size_t klen = proj_timed_key(key, (struct pl_str){"c1", 2}, T0, seq);
		proj_staged_hold(&h, seq, key, klen, &row, 1);
	}
	CHECK_INT(h.count, 9);
	proj_staged_undo(&h, m);
	CHECK_INT(h.count, 5);
	CHECK_INT(h.last_seq, 5);
	MDB_val k, v;
	proj_staged_row(&h, 4, &k, &v);
	CHECK(k.mv_size == proj_timed_key(key, (struct pl_str){"c1", 2}, T0, 5) &&
	      memcmp(k.mv_data, key, k.mv_size) == 0 && v.mv_size == 1);
	/* A row out of log order (a transaction run again without its undo) is no copy. */
	size_t klen = proj_timed_key(key, (struct pl_str){"c1", 2}, T0, 3);
	proj_staged_hold(&h, 3, key, klen, &row, 1);
	CHECK_INT(h.count, 0);
	/* Held again after a move, then undone to a mark from before it: all forgotten. */
	for (uint64_t seq = 20; seq <= 26; seq++) {
		klen = proj_timed_key(key, (struct pl_str){"c1", 2}, T0, seq);
		proj_staged_hold(&h, seq, key, klen, &row, 1);
	}
	proj_staged_undo(&h, m);
	CHECK_INT(h.count, 0);
	proj_staged_deinit(&h);
}

/*
 * A move's pace under serve's upkeep: one transaction of the index after a
 * batch (WRITER_WORK_BLOCKS) leaves a move the four transactions it had
 * beside four of 2 MiB, or the rows staged meanwhile would pile up for four
 * times as many batches. Moving a campaign a transaction, a move of the
 * fixture's four campaigns ends in the upkeep of the batch that made it due
 * (with one transaction, three batches came while it went on).
 */
static void test_move_pace(void)
{
	char dir[300];
	struct store *s = fixture_store(dir, sizeof dir, INITIAL_MAP);
	struct slot_options opt = {.history_move_rows = 300, .history_move_campaigns = 1};
	struct replay_result res;
	struct writer w;
	int events = 0, moving = 0, moves = 0;
	int64_t offset = 0;
	CHECK_INT(writer_open(&w, s, &opt, &res), 0);
	/* Up to the next move's rows, 300 more. */
	while (events < 500) {
		size_t held = w.live.pw.staged.count;
		CHECK_INT(fixture_ingest_numbered(&w, 50, true, &events, &offset), 0);
		moving += w.live.pw.move_due; /* batches that come while it goes on */
		moves += w.live.pw.staged.count < held; /* one began: it took the rows */
	}
	CHECK_INT(moves, 1);
	CHECK_INT(moving, 0);
	writer_close(&w);
	store_close(s);
	fixture_remove(dir);
}

static void check_round_trip(const struct proj_history *h)
{
	uint8_t buf[PROJ_HISTORY_MAX + 1];
	struct proj_history back;
	size_t n = proj_history_encode(buf, h);
	CHECK(n <= PROJ_HISTORY_MAX);
	CHECK_INT(proj_history_decode(buf, n, &back), 0);
	CHECK(memcmp(&back, h, sizeof back) == 0);
	/* Cut short anywhere, or one byte too many: refused, never read past. */
	for (size_t cut = 0; cut < n; cut++)
		CHECK_INT(proj_history_decode(buf, cut, &back), PL_ECORRUPT);
	buf[n] = 0;
	CHECK_INT(proj_history_decode(buf, n + 1, &back), PL_ECORRUPT);
}

static void test_row_encoding(void)
{
	struct proj_history h;
	memset(&h, 0, sizeof h);
	h.type = PL_EV_CAMPAIGN_OPENED;
	check_round_trip(&h); /* nothing changed: two bytes */
	memset(h.supporter, 0xab, sizeof h.supporter);
	h.type = PL_EV_PLEDGE_CREATED;
	h.raised = h.net = 2500, h.pledges = 1;
	check_round_trip(&h);
	uint8_t buf[PROJ_HISTORY_MAX];
	CHECK_INT(proj_history_encode(buf, &h), 2 + 2 + 1 + 16); /* the amount written once */
	h.raised = h.net = INT64_MIN, h.pledges = INT32_MIN;
	check_round_trip(&h);
	h.raised = INT64_MAX, h.net = -1, h.pledges = INT32_MAX, h.comments = INT32_MIN;
	h.ref = UINT64_MAX;
	check_round_trip(&h);
	memset(&h, 0, sizeof h);
	h.type = PL_EV_COMMENT_REMOVED, h.comments = -1, h.ref = 12345;
	check_round_trip(&h);

	struct proj_history back;
	static const uint8_t unknown_flag[] = {1, 64}, both_nets[] = {1, 8 | 32, 2, 2},
			     net_without_raised[] = {1, 32}, endless_varint[] = {1, 1, 0x80, 0x80},
			     pledges_past_int32[] = {1, 2, 0x80, 0x80, 0x80, 0x80, 0x20};
	CHECK_INT(proj_history_decode(unknown_flag, sizeof unknown_flag, &back), PL_ECORRUPT);
	CHECK_INT(proj_history_decode(both_nets, sizeof both_nets, &back), PL_ECORRUPT);
	CHECK_INT(proj_history_decode(net_without_raised, sizeof net_without_raised, &back),
		  PL_ECORRUPT);
	CHECK_INT(proj_history_decode(endless_varint, sizeof endless_varint, &back), PL_ECORRUPT);
	CHECK_INT(proj_history_decode(pledges_past_int32, sizeof pledges_past_int32, &back),
		  PL_ECORRUPT);
}

int main(void)
{
	test_row_encoding();
	char dir[300];
	test_held_undo();
	st = fixture_store(dir, sizeof dir, INITIAL_MAP);
	struct proj_staged keep;
	proj_staged_init(&keep);
	test_split_history(&keep);
	test_reopened_writer(&keep);
	test_move_interrupted(&keep);
	test_compaction_interrupted(&keep);
	test_after_rebuild(&keep);
	test_damaged_rows(&keep);
	test_history_rows();
	proj_staged_deinit(&keep);
	test_move_pace();
	fixture_close(st);
	fixture_remove(dir);
	proj_staged_deinit(&comments_staged);
	return check_done();
}
