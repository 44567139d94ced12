/* upgrade.c — formats 1 to 6 to format 7, in place and resumable; see upgrade.h. */
#include "upgrade.h"

#include <string.h>

#include "bytes.h"
#include "pl_error.h"
#include "proj_staged.h"
#include "rejections.h"

/* Records rewritten per transaction. */
#define CHUNK 5000

/* The tables of format 1 that format 2 no longer has. */
static const char *const old_tables[] = {
	"event_ids", "campaigns", "totals", "pledges", "supporters", "comments", "comment_ids",
	"scratch.campaigns", "scratch.totals", "scratch.pledges", "scratch.supporters",
	"scratch.comments", "scratch.comment_ids"};

/* The history tables of formats 3 and 4, which kept every row under its own key. */
static const char *const old_history_tables[] = {"a.history", "b.history"};

static int mark_txn(struct store_txn *t, void *arg)
{
	(void)arg;
	store_set_format(t, 0);
	return t->err;
}

struct rewrite {
	enum store_db db;
	int (*upgrade)(struct store_txn *t, const MDB_val *key, const MDB_val *val);
	uint64_t next;     /* the next key to look at */
	uint64_t done;     /* rewritten so far */
	bool finished;
	uint64_t start, start_done;
};

/* Rewrites up to CHUNK records from r->next on. */
static int rewrite_txn(struct store_txn *t, void *arg)
{
	struct rewrite *r = arg;
	r->next = r->start;
	r->done = r->start_done;
	MDB_cursor *c = store_cursor(t, r->db);
	if (!c)
		return t->err;
	uint8_t key[8];
	bytes_put_be64(key, r->next);
	MDB_val k = {sizeof key, key}, v;
	int rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	size_t n = 0;
	/* The cursor is reopened after each write: a put may move pages under it. */
	while (rc == 0 && n < CHUNK) {
		if (k.mv_size != 8) {
			rc = MDB_CORRUPTED;
			break;
		}
		uint64_t seq = bytes_get_be64(k.mv_data);
		/* The log and the rejections are numbered without gaps: another
		 * key than the one asked for is damaged pages, which sent the
		 * cursor back (following them would go round for ever) or on
		 * (past entries that would stay unconverted). */
		if (seq != r->next) {
			rc = MDB_CORRUPTED;
			break;
		}
		int up = r->upgrade(t, &k, &v);
		if (up < 0)
			break;
		r->done += up == 0;
		r->next = seq + 1;
		n++;
		mdb_cursor_close(c);
		if (!(c = store_cursor(t, r->db)))
			return t->err;
		bytes_put_be64(key, r->next);
		k = (MDB_val){sizeof key, key};
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	}
	mdb_cursor_close(c);
	if (rc == MDB_NOTFOUND)
		r->finished = true;
	else if (rc)
		return store_txn_fail(t, store_error(rc));
	return t->err;
}

static int rewrite_all(struct store *st, struct rewrite *r)
{
	int rc = PL_OK;
	while (rc == 0 && !r->finished) {
		r->start = r->next;
		r->start_done = r->done;
		rc = store_run_write(st, rewrite_txn, r);
	}
	return rc;
}

static int drop_txn(struct store_txn *t, void *arg)
{
	store_drop_named(t, arg);
	return t->err;
}

static int finish_txn(struct store_txn *t, void *arg)
{
	(void)arg;
	static const char generation[] = "projection_generation";
	store_del(t, STORE_DB_META, generation, sizeof generation - 1);
	store_set_format(t, STORE_FORMAT);
	return t->err;
}

/*
 * Format 5 staged comments keyed as in COMMENTS, formats 6 and 7 by log position:
 * the few staged ones move into COMMENTS, where a move would have put
 * them, and the format changes in the same transaction.
 */
static int unstage_comments_txn(struct store_txn *t, void *arg)
{
	(void)arg;
	for (int slot = STORE_SLOT_A; slot <= STORE_SLOT_B && !t->err; slot++) {
		enum store_db staged = store_slot_db((enum store_slot)slot, SLOT_COMMENTS_STAGED);
		MDB_cursor *from = store_cursor(t, staged);
		if (!from)
			break;
		MDB_val k, v;
		int rc;
		for (rc = mdb_cursor_get(from, &k, &v, MDB_FIRST); rc == 0 && !t->err;
		     rc = mdb_cursor_get(from, &k, &v, MDB_NEXT))
			store_put(t, store_slot_db((enum store_slot)slot, SLOT_COMMENTS), k.mv_data,
				  k.mv_size, v.mv_data, v.mv_size, 0);
		mdb_cursor_close(from);
		if (rc && rc != MDB_NOTFOUND)
			store_txn_fail(t, store_error(rc));
		store_clear(t, staged);
	}
	store_set_format(t, STORE_FORMAT);
	return t->err;
}

static int set_format_txn(struct store_txn *t, void *arg)
{
	(void)arg;
	store_set_format(t, STORE_FORMAT);
	return t->err;
}

/*
 * Walks LMDB's pages, reads every row of every table, LMDB's list of free
 * pages and the log in order, as verify does, and parses the staged rows:
 * an old format has no checksums, and damage it brought (a page number
 * flipped) can surface only in what the upgrade wrote over it. PL_ECORRUPT
 * when damaged.
 */
static int check_pages(struct store *st)
{
	struct store_txn t;
	enum store_db bad;
	struct store_page_damage bad_page;
	int rc = store_check_pages(st, &bad_page);
	if (rc)
		return rc;
	rc = store_read_begin(st, &t);
	if (rc == 0)
		rc = store_check_values(&t, &bad);
	if (rc == 0)
		rc = store_check_free_pages(&t);
	uint64_t bad_seq;
	if (rc == 0 && (rc = evlog_check_seeks(&t, &bad_seq)) == PL_ECHECKSUM)
		rc = PL_ECORRUPT;
	/* The rows the rebuild staged, which readers parse: written over a
	 * damaged page, they are the first to show it. */
	enum store_slot live;
	uint64_t gen;
	struct proj_staged staged, comments;
	proj_staged_init(&staged);
	proj_staged_init(&comments);
	if (rc == 0)
		rc = proj_live(&t, &live, &gen);
	if (rc == 0)
		rc = proj_staged_sync(&staged, &t, live);
	if (rc == 0)
		rc = proj_staged_sync_comments(&comments, &t, live);
	proj_staged_deinit(&staged);
	proj_staged_deinit(&comments);
	store_abort(&t);
	return rc;
}

static void say(void (*progress)(const char *step, void *arg), void *arg, const char *step)
{
	if (progress)
		progress(step, arg);
}

/* Format 1 to 2: checksummed log entries and rejections, the old tables gone. */
static int rewrite_format1(struct store *st, void (*progress)(const char *step, void *arg), void *arg,
			   struct upgrade_report *rep)
{
	struct rewrite log = {.db = STORE_DB_LOG, .upgrade = evlog_upgrade_entry, .next = 1};
	struct rewrite rej = {.db = STORE_DB_REJECTIONS, .upgrade = rejections_upgrade_entry, .next = 1};
	say(progress, arg, "rewriting log entries with checksums");
	int rc = rewrite_all(st, &log);
	if (rc == 0) {
		say(progress, arg, "rewriting rejections with checksums");
		rc = rewrite_all(st, &rej);
	}
	rep->log_entries = log.done;
	rep->rejections = rej.done;
	if (rc == 0)
		say(progress, arg, "dropping the old projection tables");
	for (size_t i = 0; rc == 0 && i < sizeof old_tables / sizeof old_tables[0]; i++)
		rc = store_run_write(st, drop_txn, (void *)old_tables[i]);
	return rc;
}

int upgrade_run(struct store *st, void (*progress)(const char *step, void *arg), void *arg,
		struct upgrade_report *rep)
{
	memset(rep, 0, sizeof *rep);
	rep->from_format = store_format(st);
	if (rep->from_format == STORE_FORMAT)
		return PL_OK;
	/* Every write would follow damaged pages further. */
	struct store_page_damage bad_page;
	say(progress, arg, "checking LMDB's pages");
	int rc = store_check_pages(st, &bad_page);
	if (rc)
		return rc;
	if (rep->from_format == 6) {
		/* Format 7 adds a slot's move mark, which format 6 never needed
		 * (its moves were one transaction each), and its history runs,
		 * which start empty (opening the data dir made their tables). */
		say(progress, arg, "marking the data dir as format 7");
		return store_run_write(st, set_format_txn, NULL);
	}
	if (rep->from_format == 5) {
		/* Only the staged comments' keys differ. A rebuild format 5 left
		 * under way has its own staged comments: start it afresh. */
		if ((rc = rebuild_abort(st, &(struct slot_options){0})) == PL_ENOTFOUND)
			rc = PL_OK;
		say(progress, arg, "moving the staged comments into the comments table");
		return rc ? rc : store_run_write(st, unstage_comments_txn, NULL);
	}
	if (rep->from_format != 0) { /* 0: an upgrade interrupted, marked already */
		/* A rebuild the old format left under way filled its slot as that
		 * format did: start afresh rather than take it up. */
		if ((rc = rebuild_abort(st, &(struct slot_options){0})) == PL_ENOTFOUND)
			rc = PL_OK;
		if (rc == 0)
			rc = store_run_write(st, mark_txn, NULL);
	}
	/* Formats 2 to 4 have their log and rejections as format 7 does; only
	 * their projections differ (format 2 has no history or platform totals,
	 * format 3 packs history rows otherwise and stages none, formats 3 and 4
	 * keep every history row under a key of its own). An interrupted
	 * upgrade may come from format 1: the rewrites skip what is done. */
	if (rc == 0 && (rep->from_format < 2 || rep->from_format > 4))
		rc = rewrite_format1(st, progress, arg, rep);
	for (size_t i = 0; rc == 0 && i < sizeof old_history_tables / sizeof *old_history_tables; i++)
		rc = store_run_write(st, drop_txn, (void *)old_history_tables[i]);
	if (rc == 0) {
		struct rebuild_options ropt = {.swap = true};
		say(progress, arg, "rebuilding the projections from the log");
		rc = rebuild_run(st, &ropt, &rep->rebuild);
		rep->rebuilt = rc == 0;
		if (rc == 0 && rep->rebuild.result.outcome != REPLAY_OK)
			return PL_ECORRUPT;
	}
	if (rc == 0) {
		say(progress, arg, "checking LMDB's pages");
		rc = check_pages(st);
	}
	if (rc == 0)
		rc = store_run_write(st, finish_txn, NULL);
	return rc;
}
