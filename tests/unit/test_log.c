/*
 * test_log.c — the event log as a whole: the demo stream gives the seed
 * page's figures, replay is byte-identical, verify's comparison catches
 * tampering in every table, point-in-time replay (a cut on an event's time
 * keeps it), map growth from a tiny map, and data
 * dirs that must be refused.
 */
#include <lmdb.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <unistd.h>

#include "bytes.h"
#include "check.h"
#include "fixture.h"
#include "proj_history_cursor.h"
#include "proj_records.h"
#include "proj_staged.h"
#include "rebuild.h"
#include "replay.h"
#include "verify.h"

/* The staged comments as the page reads them (proj_read.h), kept across calls. */
static struct proj_staged comments_staged;

/* Feeds the demo in batches of 100: every line must apply. */
static void ingest_file(struct store *st, const char *path)
{
	struct ingest_stats total;
	fixture_ingest_file(st, path, 100, &total);
	for (int r = 1; r < PL_REASON_COUNT; r++)
		CHECK_INT(total.rejected[r], 0);
	CHECK_INT(total.last_seq, 2059);
}

/* The live slot readers see now. */
static enum store_slot live_slot(struct store *st)
{
	struct store_txn t;
	enum store_slot slot = STORE_SLOT_A;
	uint64_t gen;
	CHECK_INT(store_read_begin(st, &t), 0);
	CHECK_INT(proj_live(&t, &slot, &gen), 0);
	store_abort(&t);
	return slot;
}

static void test_demo_figures(struct store *st)
{
	struct proj_campaign c;
	CHECK_INT(fixture_campaign(st, "jess-phillips-for-labour-leader", &c), 0);
	CHECK_INT(c.totals.raised, 5804100);
	CHECK_INT(c.totals.supporters, 1975);
	CHECK_INT(c.days, 19);
	CHECK_INT(c.totals.comments, 10);
	CHECK(c.closed);

	struct store_txn t;
	struct proj_comment_page page;
	enum store_slot slot = live_slot(st);
	CHECK_INT(store_read_begin(st, &t), 0);
	CHECK_INT(proj_comments_page(&t, slot, &comments_staged, (struct pl_str){"jess-phillips-for-labour-leader", 31},
				     NULL, 10, &page), 0);
	CHECK_INT(page.count, 10);
	CHECK(!page.has_next);
	CHECK(page.count && page.items[0].has_name && page.items[0].name.len == 5 &&
	      memcmp(page.items[0].name.ptr, "Tom W", 5) == 0);
	CHECK(page.count == 10 && page.items[9].name.len == 9 &&
	      memcmp(page.items[9].name.ptr, "Jo Miller", 9) == 0);
	store_abort(&t);
}

/*
 * The campaigns, totals and comments of the live slot, concatenated with
 * separators: the comments as one table, moved and staged (which rows are
 * staged depends on when moves fell, not on the log).
 */
static char *snapshot(struct store *st, size_t *len)
{
	static const enum store_slot_table tables[] = {SLOT_CAMPAIGNS, SLOT_TOTALS, SLOT_COMMENTS};
	struct store_txn t;
	char *out = NULL;
	FILE *mem = open_memstream(&out, len);
	enum store_slot slot = live_slot(st);
	store_read_begin(st, &t);
	for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
		struct proj_staged staged;
		struct proj_history_cursor c;
		proj_staged_init(&staged);
		if (tables[i] == SLOT_COMMENTS)
			CHECK_INT(proj_staged_sync_comments(&staged, &t, slot), 0);
		CHECK_INT(proj_history_cursor_open(&c, &t, store_slot_db(slot, tables[i]), &staged, NULL, 0),
			  0);
		MDB_val k, v;
		while (proj_history_cursor_get(&c, &k, &v) == 0) {
			fwrite(&k.mv_size, sizeof k.mv_size, 1, mem);
			fwrite(k.mv_data, 1, k.mv_size, mem);
			fwrite(&v.mv_size, sizeof v.mv_size, 1, mem);
			fwrite(v.mv_data, 1, v.mv_size, mem);
			CHECK_INT(proj_history_cursor_next(&c), 0);
		}
		proj_history_cursor_close(&c);
		proj_staged_deinit(&staged);
		fputs("|table|", mem);
	}
	store_abort(&t);
	fclose(mem);
	return out;
}

/* verify_run on st: 0 all clear, 1 a difference (described in diff). */
static int verify(struct store *st, char *diff, size_t size)
{
	struct verify_report rep;
	CHECK_INT(fixture_verify(st, &rep), 0);
	CHECK_INT(rep.replay.result.outcome, REPLAY_OK);
	CHECK_INT(rep.bad_rejection, 0);
	snprintf(diff, size, "%s", rep.diff);
	return rep.differs;
}

/* A rebuild (online, swapped in) gives byte for byte what ingest gave. */
static void test_replay_identical(struct store *st)
{
	size_t before_len, after_len;
	char *before = snapshot(st, &before_len);
	enum store_slot was = live_slot(st);
	struct rebuild_options opt = {.swap = true, .txn_ms = 5};
	struct rebuild_report rep;
	CHECK_INT(rebuild_run(st, &opt, &rep), 0);
	CHECK_INT(rep.result.outcome, REPLAY_OK);
	CHECK(rep.swapped);
	CHECK_INT(rep.head, 2059);
	CHECK(live_slot(st) != was);
	char *after = snapshot(st, &after_len);
	CHECK(before_len > 1000 && before_len == after_len && memcmp(before, after, before_len) == 0);
	free(after);
	free(before);
	/* The writer follows the swap before its next batch. */
	struct replay_result res;
	CHECK_INT(writer_follow(fixture_writer(st), &res), 0);
	CHECK_INT(fixture_writer(st)->live.which, live_slot(st));

	char diff[512];
	CHECK_INT(verify(st, diff, sizeof diff), 0);
}

/*
 * Replaces the record key → old (NULL: none) with key → val (NULL: none):
 * in a table of duplicates (the history) only that one of the key's values.
 */
static void replace(struct store_txn *t, enum store_db db, const void *key, size_t klen,
		    const void *old, size_t old_len, const void *val, size_t vlen)
{
	MDB_val k = {klen, (void *)key}, o = {old_len, (void *)old};
	if (old)
		CHECK_INT(mdb_del(t->txn, store_dbi(t, db), &k, &o), 0);
	if (val)
		store_put(t, db, key, klen, val, vlen, 0);
}

/*
 * Changes one record (val NULL: deletes it) of a table of the live slot,
 * then checks that verify reports it, naming expect, and that it matches
 * again once the record is put back.
 */
static void tamper_and_compare(struct store *st, enum store_db db, const void *key, size_t klen,
			       const void *val, size_t vlen, const char *expect)
{
	struct store_txn t;
	CHECK_INT(store_write_begin(st, &t), 0);
	MDB_val old;
	int had = store_get(&t, db, key, klen, &old);
	char *saved = had == 0 ? malloc(old.mv_size) : NULL;
	size_t saved_len = had == 0 ? old.mv_size : 0;
	if (saved)
		memcpy(saved, old.mv_data, saved_len);
	replace(&t, db, key, klen, saved, saved_len, val, vlen);
	CHECK_INT(store_commit(&t), 0);

	char diff[512];
	CHECK_INT(verify(st, diff, sizeof diff), 1);
	if (!strstr(diff, expect))
		fprintf(stderr, "diff '%s' lacks '%s'\n", diff, expect);
	CHECK(strstr(diff, expect) != NULL);

	/* Put it back and verify matches again. */
	CHECK_INT(store_write_begin(st, &t), 0);
	replace(&t, db, key, klen, val, vlen, saved, saved_len);
	CHECK_INT(store_commit(&t), 0);
	free(saved);
	CHECK_INT(verify(st, diff, sizeof diff), 0);
}

static void test_verify_catches_tampering(struct store *st)
{
	const char *camp = "jess-phillips-for-labour-leader";
	struct proj_totals tot = {.raised = 5804200, .opened_at = 1, .closed_at = 2, .last_at = 2};
	uint8_t buf[PROJ_TOTALS_SIZE];
	enum store_slot slot = live_slot(st);
	proj_totals_encode(buf, &tot);
	tamper_and_compare(st, store_slot_db(slot, SLOT_TOTALS), camp, strlen(camp), buf, sizeof buf,
			   ".totals: key 'jess-phillips-for-labour-leader' differs");
	tamper_and_compare(st, store_slot_db(slot, SLOT_CAMPAIGNS), camp, strlen(camp), NULL, 0,
			   ".campaigns: key 'jess-phillips-for-labour-leader' produced by the log but missing");
	tamper_and_compare(st, store_slot_db(slot, SLOT_CAMPAIGNS), "forged", 6, "x", 1,
			   ".campaigns: key 'forged' stored but not produced by the log");
}

/*
 * Every table of the live slot in turn, the published ones and the runs of
 * the rules' state: its first record changed by one byte, then deleted.
 * Verify must report each, so a comparison that skipped a table would fail
 * here.
 */
static void test_verify_sees_every_table(struct store *st)
{
	/* The rules' state must be on disk to be tampered with there. */
	CHECK_INT(writer_checkpoint(fixture_writer(st)), 0);
	enum store_slot slot = live_slot(st);
	for (int table = 0; table < SLOT_TABLE_COUNT; table++) {
		enum store_db db = store_slot_db(slot, (enum store_slot_table)table);
		struct store_txn t;
		MDB_val k, v;
		uint8_t key[512], val[8192];
		size_t klen = 0, vlen = 0;
		CHECK_INT(store_read_begin(st, &t), 0);
		MDB_cursor *c = store_cursor(&t, db);
		bool found = c && mdb_cursor_get(c, &k, &v, MDB_FIRST) == 0 &&
			     k.mv_size <= sizeof key && v.mv_size <= sizeof val;
		if (found) {
			memcpy(key, k.mv_data, klen = k.mv_size);
			memcpy(val, v.mv_data, vlen = v.mv_size);
		}
		if (c)
			mdb_cursor_close(c);
		store_abort(&t);
		/* Published tables are named; the state index by its kind. */
		bool published = false;
		for (size_t i = 0; i < proj_published_count; i++)
			published |= proj_published_tables[i] == (enum store_slot_table)table;
		const char *expect = published ? store_db_name(db) + 1 : "state of ";
		/* Staged rows are compared as what they are: rows of the history. */
		if (table == SLOT_HISTORY_STAGED || table == SLOT_HISTORY_RUNS)
			expect = ".campaign_history: ";
		if (table == SLOT_COMMENTS_STAGED)
			expect = ".comments: ";
		if (!found) { /* an empty table (a move emptied it, or no open campaign closes
			       * soon): a record too many */
			CHECK(published);
			/* A history row is its time and log position (16 bytes), then the row. */
			static const char forged[] = "\0\0\0\0\0\0\0\1\0\0\0\0\0\0\0\1x";
			/* A staged row is keyed by its log position; its value is its
			 * key but that position (campaign "z", a time), then the row. */
			static const char staged_key[] = "\0\0\0\0\0\1\0\0";
			static const char staged_val[] = "\x01z\0\0\0\0\0\0\0\1x";
			/* A run's row: the run, then the history key (campaign "z"). */
			static const char run_key[] = "\0\0\0\1\x01z\0\0\0\0\0\0\0\1\0\0\0\0\0\0\0\1";
			bool history = table == SLOT_HISTORY;
			bool staged = table == SLOT_HISTORY_STAGED || table == SLOT_COMMENTS_STAGED;
			if (staged)
				tamper_and_compare(st, db, staged_key, sizeof staged_key - 1, staged_val,
						   sizeof staged_val - 1, expect);
			else if (table == SLOT_HISTORY_RUNS)
				tamper_and_compare(st, db, run_key, sizeof run_key - 1, "x", 1, expect);
			else
				tamper_and_compare(st, db, "\x01z", 2, history ? forged : "x",
						   history ? sizeof forged - 1 : 1, expect);
			continue;
		}
		/* The orders' values are empty: one byte is a change too. */
		if (vlen)
			val[vlen - 1] ^= 1;
		else
			val[vlen++] = 'x';
		tamper_and_compare(st, db, key, klen, val, vlen, expect);
		tamper_and_compare(st, db, key, klen, NULL, 0, expect);
	}
}

/* Events in the demo stream whose time is at or before until_ms. */
static uint64_t events_until(const char *demo, int64_t until_ms)
{
	FILE *f = fopen(demo, "r");
	char line[8192];
	uint64_t n = 0;
	while (f && fgets(line, sizeof line, f)) {
		json_t *j = json_loads(line, 0, NULL);
		n += json_integer_value(json_object_get(j, "at")) <= until_ms;
		json_decref(j);
	}
	if (f)
		fclose(f);
	return n;
}

/* A dry run into a scratch data dir; the scratch store and slot are left open. */
static void dry_run(struct store *st, const struct replay_options *opt, struct store **scratch,
		    char *dir, size_t size, struct slot *out, struct replay_report *rep)
{
	struct store_txn src;
	fixture_tmpdir(dir, size);
	struct store_options so = {.create = true, .no_sync = true};
	CHECK_INT(store_open(scratch, dir, &so), 0);
	CHECK_INT(store_read_begin(st, &src), 0);
	CHECK_INT(replay_scratch(&src, *scratch, opt, out, rep), 0);
	store_abort(&src);
}

static void test_point_in_time(struct store *st, const char *demo)
{
	struct store *scratch;
	char dir[300];
	struct slot out;
	struct replay_report rep;
	struct replay_options opt = {.until_seq = 1};
	dry_run(st, &opt, &scratch, dir, sizeof dir, &out, &rep);
	CHECK_INT(rep.result.applied, 1);
	CHECK_INT(rep.last_seq, 1);
	slot_close(&out);
	store_close(scratch);
	fixture_remove(dir);

	/* By 12:00 on 14 January 2020 two comments had been posted. */
	opt = (struct replay_options){.has_until_time = true, .until_time = INT64_C(1579003200000)};
	dry_run(st, &opt, &scratch, dir, sizeof dir, &out, &rep);
	CHECK_INT(rep.result.outcome, REPLAY_OK);
	CHECK(rep.skipped_time > 0);
	CHECK_INT(rep.result.applied + rep.skipped_time, 2059);
	struct store_txn t;
	struct proj_campaign c;
	CHECK_INT(store_read_begin(scratch, &t), 0);
	CHECK_INT(proj_campaign_get(&t, STORE_SLOT_A, (struct pl_str){"jess-phillips-for-labour-leader", 31}, &c), 0);
	CHECK_INT(c.totals.comments, 2);
	CHECK(!c.closed);
	CHECK(c.totals.raised > 0 && c.totals.raised < 5804100);
	store_abort(&t);
	slot_close(&out);
	store_close(scratch);
	fixture_remove(dir);

	/* A cut exactly at an event's time keeps it: Tom W's comment, the newest. */
	int64_t tom = INT64_C(1579124400000);
	opt = (struct replay_options){.has_until_time = true, .until_time = tom};
	dry_run(st, &opt, &scratch, dir, sizeof dir, &out, &rep);
	CHECK_INT(rep.result.outcome, REPLAY_OK);
	CHECK_INT(rep.result.applied, events_until(demo, tom));
	CHECK_INT(rep.result.applied + rep.skipped_time, 2059);
	struct proj_comment_page page;
	CHECK_INT(store_read_begin(scratch, &t), 0);
	CHECK_INT(proj_comments_page(&t, STORE_SLOT_A, &comments_staged, (struct pl_str){"jess-phillips-for-labour-leader", 31},
				     NULL, 1, &page), 0);
	CHECK(page.count == 1 && page.items[0].at == tom && page.items[0].name.len == 5 &&
	      memcmp(page.items[0].name.ptr, "Tom W", 5) == 0);
	store_abort(&t);
	slot_close(&out);
	store_close(scratch);
	fixture_remove(dir);
}

static int grow_txn(struct store_txn *t, void *arg)
{
	(void)arg;
	store_put(t, STORE_DB_META, "grown", 5, "1", 1, 0);
	return t->err;
}

/* A copy (backup's) taken after another process grew the map adopts its size. */
static void test_copy_after_growth(struct store *st, const char *dir)
{
	pid_t pid = fork();
	if (pid == 0) { /* another process: grows the map, commits in it */
		struct store *other;
		struct store_options opt = {0};
		_exit(store_open(&other, dir, &opt) || store_grow(other) ||
		      store_run_write(other, grow_txn, NULL));
	}
	int status = -1;
	waitpid(pid, &status, 0);
	CHECK_INT(status, 0);
	char copy[300];
	snprintf(copy, sizeof copy, "%s-copy", dir);
	CHECK_INT(mkdir(copy, 0700), 0);
	CHECK_INT(store_copy(st, copy), 0);
	struct store *c;
	struct store_options ro = {.read_only = true};
	struct store_txn t;
	uint64_t last = 0;
	CHECK_INT(store_open(&c, copy, &ro), 0);
	CHECK_INT(store_read_begin(c, &t), 0);
	CHECK_INT(evlog_last_seq(&t, &last), 0);
	CHECK_INT(last, 2059);
	store_abort(&t);
	store_close(c);
	fixture_remove(copy);
}

/* A rebuild stopped before its first transaction still says where the log ends. */
static void test_rebuild_stopped_at_once(struct store *st)
{
	atomic_bool stop = true;
	struct rebuild_options opt = {.swap = true, .stop = &stop};
	struct rebuild_report rep;
	CHECK_INT(rebuild_run(st, &opt, &rep), 0);
	CHECK(!rep.caught_up && !rep.swapped);
	CHECK_INT(rep.done, 0);
	CHECK_INT(rep.head, 2059);
	CHECK_INT(rebuild_abort(st, &opt.slot), 0);
}

/*
 * The log is dense: an entry LMDB's damaged pages hid (each entry left
 * still sound) is damage where the walk meets the gap, for verify's
 * checksum pass, its replay and a rebuild alike, not a mismatch of the
 * projections.
 */
static void test_log_gap(const char *demo)
{
	char dir[256];
	struct store *st = fixture_store(dir, sizeof dir, 0);
	ingest_file(st, demo);
	struct store_txn t;
	uint8_t key[8];
	bytes_put_be64(key, 5);
	CHECK_INT(store_write_begin(st, &t), 0);
	store_del(&t, STORE_DB_LOG, key, sizeof key);
	CHECK_INT(store_commit(&t), 0);

	uint64_t entries, bad_entry, bad_rejection;
	CHECK_INT(verify_checksums(st, &entries, &bad_entry, &bad_rejection), 0);
	CHECK_INT(entries, 4);
	CHECK_INT(bad_entry, 5);
	struct verify_report rep;
	CHECK_INT(fixture_verify(st, &rep), 0);
	CHECK_INT(rep.replay.result.outcome, REPLAY_DAMAGED);
	CHECK_INT(rep.replay.result.failed_seq, 5);
	struct rebuild_options opt = {.swap = true, .txn_ms = 5};
	struct rebuild_report rr;
	rebuild_run(st, &opt, &rr);
	CHECK_INT(rr.result.outcome, REPLAY_DAMAGED);
	CHECK_INT(rr.result.failed_seq, 5);
	CHECK(!rr.swapped);
	fixture_close(st);
	fixture_remove(dir);
}

static void test_refused_dirs(void)
{
	char dir[256], path[512];
	struct store *st;
	struct store_options ro = {0}, rw = {.create = true};

	fixture_tmpdir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/missing", dir);
	CHECK_INT(store_open(&st, path, &ro), PL_ENOTFOUND);
	CHECK_INT(store_open(&st, dir, &ro), PL_ENOTFOUND); /* exists but holds no data */

	/* A file where the dir should be. */
	snprintf(path, sizeof path, "%s/file", dir);
	FILE *f = fopen(path, "w");
	fputs("hello", f);
	fclose(f);
	CHECK_INT(store_open(&st, path, &rw), PL_EFOREIGN);
	remove(path);

	/* Garbage where data.mdb should be. */
	snprintf(path, sizeof path, "%s/data.mdb", dir);
	f = fopen(path, "w");
	for (int i = 0; i < 3000; i++)
		fputs("not an lmdb file ", f);
	fclose(f);
	CHECK_INT(store_open(&st, dir, &rw), PL_ECORRUPT);
	remove(path);
	snprintf(path, sizeof path, "%s/lock.mdb", dir);
	remove(path);

	/* Another program's LMDB environment. */
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	mdb_env_create(&env);
	mdb_env_set_maxdbs(env, 4);
	CHECK_INT(mdb_env_open(env, dir, 0, 0640), 0);
	mdb_txn_begin(env, NULL, 0, &txn);
	mdb_dbi_open(txn, "accounts", MDB_CREATE, &dbi);
	MDB_val k = {1, "k"}, v = {1, "v"};
	mdb_put(txn, dbi, &k, &v, 0);
	mdb_txn_commit(txn);
	mdb_env_close(env);
	CHECK_INT(store_open(&st, dir, &rw), PL_EFOREIGN);
	CHECK_INT(store_open(&st, dir, &ro), PL_EFOREIGN);
	fixture_remove(dir);
}

/* A pledged data dir (its pledged.dir marker there) whose format row or
 * whole "meta" table is gone is damaged, not another program's; one of its
 * format that lost a table (the log) is damaged, not given an empty one. */
static void test_layout_gone(void)
{
	/* 0: the format row gone; 1: the meta table; 2: the log table. */
	for (int whole = 0; whole < 3; whole++) {
		char dir[256];
		struct store *st = fixture_store(dir, sizeof dir, 0);
		fixture_close(st);
		MDB_env *env;
		MDB_txn *txn;
		MDB_dbi dbi;
		mdb_env_create(&env);
		mdb_env_set_maxdbs(env, 64);
		CHECK_INT(mdb_env_open(env, dir, 0, 0640), 0);
		CHECK_INT(mdb_txn_begin(env, NULL, 0, &txn), 0);
		CHECK_INT(mdb_dbi_open(txn, whole == 2 ? "log" : "meta", 0, &dbi), 0);
		if (whole) {
			CHECK_INT(mdb_drop(txn, dbi, 1), 0);
		} else {
			MDB_val k = {strlen("format"), "format"};
			CHECK_INT(mdb_del(txn, dbi, &k, NULL), 0);
		}
		CHECK_INT(mdb_txn_commit(txn), 0);
		mdb_env_close(env);
		struct store_options ro = {.read_only = true}, rw = {.create = true};
		CHECK_INT(store_open(&st, dir, &ro), PL_ECORRUPT);
		CHECK_INT(store_open(&st, dir, &rw), PL_ECORRUPT);
		fixture_remove(dir);
	}
}

/* lock.mdb removed while another process has the data dir open: an open
 * that would make a new one is refused (two lock files, two writers at
 * once); in this process, or once the other has closed it, it is made. */
static void test_lock_file_gone(void)
{
	char dir[256], lock[300];
	struct store *st = fixture_store(dir, sizeof dir, 0);
	fixture_close(st);
	snprintf(lock, sizeof lock, "%s/lock.mdb", dir);
	int ready[2], go[2];
	CHECK_INT(pipe(ready), 0);
	CHECK_INT(pipe(go), 0);
	pid_t child = fork();
	if (child == 0) {
		struct store_options ro = {.read_only = true};
		struct store *held;
		char c = store_open(&held, dir, &ro) == PL_OK ? 'y' : 'n';
		if (write(ready[1], &c, 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(1);
		store_close(held);
		_exit(0);
	}
	char c = 0;
	CHECK(read(ready[0], &c, 1) == 1 && c == 'y');
	CHECK_INT(remove(lock), 0);
	struct store_options ro = {.read_only = true}, rw = {0};
	CHECK_INT(store_open(&st, dir, &ro), PL_ELOCKGONE);
	CHECK_INT(store_open(&st, dir, &rw), PL_ELOCKGONE);
	CHECK_INT(access(lock, F_OK), -1); /* none made */
	CHECK(write(go[1], "x", 1) == 1);
	int status;
	CHECK_INT(waitpid(child, &status, 0), child);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* No process there: openers started at once take turns making it. */
	for (int round = 0; round < 10; round++) {
		remove(lock); /* made by the round before */
		int go_all[2];
		CHECK_INT(pipe(go_all), 0);
		pid_t kids[2];
		for (int k = 0; k < 2; k++)
			if ((kids[k] = fork()) == 0) {
				struct store_options mine = {.read_only = k == 0};
				struct store *opened;
				char x;
				if (read(go_all[0], &x, 1) != 1 || store_open(&opened, dir, &mine))
					_exit(1);
				store_close(opened);
				_exit(0);
			}
		CHECK(write(go_all[1], "xy", 2) == 2);
		for (int k = 0; k < 2; k++) {
			CHECK_INT(waitpid(kids[k], &status, 0), kids[k]);
			CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		}
		close(go_all[0]);
		close(go_all[1]);
	}
	/* Only this process: a second open of its own while lock.mdb is gone. */
	CHECK_INT(store_open(&st, dir, &rw), PL_OK);
	struct store *again;
	CHECK_INT(remove(lock), 0);
	CHECK_INT(store_open(&again, dir, &ro), PL_OK);
	store_close(again);
	store_close(st);
	fixture_remove(dir);
}

/*
 * A sweep removes a scratch dir it found with lstat(): only that
 * directory. Swapped since for a link (to someone's data dir) or for
 * another directory, it is left, and what the link leads to is untouched.
 */
static void test_sweep_lock_seen(void)
{
	char base[256], dir[300], moved[300], victim[300], kept[320];
	fixture_tmpdir(base, sizeof base);
	snprintf(dir, sizeof dir, "%s/pledged-verify-AAAAAA", base);
	snprintf(moved, sizeof moved, "%s/moved", base);
	snprintf(victim, sizeof victim, "%s/victim", base);
	snprintf(kept, sizeof kept, "%s/data.mdb", victim);
	CHECK_INT(mkdir(dir, 0700), 0);
	CHECK_INT(mkdir(victim, 0700), 0);
	FILE *f = fopen(kept, "w");
	CHECK(f != NULL);
	if (f)
		fclose(f);
	struct stat seen;
	CHECK_INT(lstat(dir, &seen), 0);
	int fd;
	CHECK_INT(rename(dir, moved), 0);
	CHECK_INT(symlink(victim, dir), 0);
	CHECK_INT(store_lock_dir_seen(dir, &seen, &fd), PL_EBUSY); /* a link now */
	CHECK_INT(unlink(dir), 0);
	CHECK_INT(mkdir(dir, 0700), 0);
	CHECK_INT(store_lock_dir_seen(dir, &seen, &fd), PL_EBUSY); /* another directory */
	CHECK_INT(rmdir(dir), 0);
	CHECK_INT(rename(moved, dir), 0);
	CHECK_INT(store_lock_dir_seen(dir, &seen, &fd), PL_OK); /* the one seen */
	store_remove_dir_locked(dir, fd);
	store_unlock_dir(fd);
	CHECK(access(dir, F_OK) != 0);
	CHECK_INT(access(kept, F_OK), 0);
	unlink(kept);
	rmdir(victim);
	rmdir(base);
}

/* Two backups into one empty directory: the second to arrive keeps nothing
 * and replaces nothing. */
static void test_move_into_taken(void)
{
	char base[256], from[300], to[300], path[340];
	fixture_tmpdir(base, sizeof base);
	snprintf(from, sizeof from, "%s/from", base);
	snprintf(to, sizeof to, "%s/to", base);
	CHECK_INT(mkdir(from, 0700), 0);
	CHECK_INT(mkdir(to, 0700), 0);
	static const char *const files[][2] = {{"from", "data.mdb"}, {"from", "pledged.dir"},
					       {"to", "data.mdb"}};
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		snprintf(path, sizeof path, "%s/%s/%s", base, files[i][0], files[i][1]);
		FILE *f = fopen(path, "w");
		CHECK(f != NULL);
		if (f) {
			fputs(files[i][0], f);
			fclose(f);
		}
	}
	CHECK_INT(store_move_into(from, to), PL_EEXIST);
	char held[8] = "";
	snprintf(path, sizeof path, "%s/data.mdb", to);
	FILE *f = fopen(path, "r");
	CHECK(f && fgets(held, sizeof held, f));
	CHECK_STR(held, "to");
	if (f)
		fclose(f);
	snprintf(path, sizeof path, "%s/pledged.dir", to);
	CHECK(access(path, F_OK) != 0);
	snprintf(path, sizeof path, "%s/data.mdb", from);
	CHECK_INT(access(path, F_OK), 0);
	store_remove_dir(from);
	store_remove_dir(to);
	CHECK_INT(rmdir(base), 0);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: test_log DEMO.jsonl\n");
		return 2;
	}
	char dir[256];
	/* 64 KiB: the demo overfills it many times, so the map must grow. */
	struct store *st = fixture_store(dir, sizeof dir, 64 * 1024);
	size_t initial = store_map_size(st);
	ingest_file(st, argv[1]);
	CHECK(store_map_size(st) > initial);
	test_demo_figures(st);
	test_replay_identical(st);
	test_rebuild_stopped_at_once(st);
	test_copy_after_growth(st, dir);
	test_verify_catches_tampering(st);
	test_verify_sees_every_table(st);
	test_point_in_time(st, argv[1]);
	fixture_close(st);

	/* Reopening with the tiny map size still reads everything. */
	struct store_options opt = {.initial_map_size = 64 * 1024};
	CHECK_INT(store_open(&st, dir, &opt), 0);
	test_demo_figures(st);
	store_close(st);
	fixture_remove(dir);

	test_log_gap(argv[1]);
	test_refused_dirs();
	test_layout_gone();
	test_lock_file_gone();
	test_sweep_lock_seen();
	test_move_into_taken();
	proj_staged_deinit(&comments_staged);
	return check_done();
}
