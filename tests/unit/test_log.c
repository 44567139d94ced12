/*
 * test_log.c — the event log as a whole: the demo stream gives the seed
 * page's figures, replay is byte-identical, verify's comparison catches
 * tampering in every table, point-in-time replay (a cut on an event's time
 * keeps it), map growth from a tiny map, and data
 * dirs that must be refused.
 */
#include <lmdb.h>
#include <sys/stat.h>

#include "check.h"
#include "fixture.h"
#include "proj_records.h"
#include "replay.h"

/* Feeds the demo in batches of 100: every line must apply. */
static void ingest_file(struct store *st, const char *path)
{
	struct ingest_stats total;
	fixture_ingest_file(st, path, 100, &total);
	for (int r = 1; r < PL_REASON_COUNT; r++)
		CHECK_INT(total.rejected[r], 0);
	CHECK_INT(total.last_seq, 2059);
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
	CHECK_INT(store_read_begin(st, &t), 0);
	CHECK_INT(proj_comments_page(&t, PROJ_LIVE, (struct pl_str){"jess-phillips-for-labour-leader", 31},
				     NULL, 20, &page), 0);
	CHECK_INT(page.count, 10);
	CHECK(!page.has_next);
	CHECK(page.count && page.items[0].has_name && page.items[0].name.len == 5 &&
	      memcmp(page.items[0].name.ptr, "Tom W", 5) == 0);
	CHECK(page.count == 10 && page.items[9].name.len == 9 &&
	      memcmp(page.items[9].name.ptr, "Jo Miller", 9) == 0);
	store_abort(&t);
}

/* Every projection table's bytes, concatenated with separators. */
static char *snapshot(struct store *st, size_t *len)
{
	struct store_txn t;
	char *out = NULL;
	FILE *mem = open_memstream(&out, len);
	store_read_begin(st, &t);
	for (int table = 0; table < PROJ_TABLE_COUNT; table++) {
		MDB_cursor *c = store_cursor(&t, proj_db(PROJ_LIVE, (enum proj_table)table));
		MDB_val k, v;
		for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
			fwrite(&k.mv_size, sizeof k.mv_size, 1, mem);
			fwrite(k.mv_data, 1, k.mv_size, mem);
			fwrite(&v.mv_size, sizeof v.mv_size, 1, mem);
			fwrite(v.mv_data, 1, v.mv_size, mem);
		}
		mdb_cursor_close(c);
		fputs("|table|", mem);
	}
	store_abort(&t);
	fclose(mem);
	return out;
}

struct job {
	enum proj_set set;
	struct replay_options opt;
	struct replay_result res;
	bool keep;
	char diff[256];
	int compare;
};

static int job_txn(struct store_txn *t, void *arg)
{
	struct job *j = arg;
	int rc = replay_into(t, j->set, &j->opt, &j->res);
	if (rc)
		return rc;
	if (!j->keep) {
		j->compare = proj_compare(t, j->diff, sizeof j->diff);
		return 1; /* throw away */
	}
	return t->err;
}

static void test_replay_identical(struct store *st)
{
	size_t before_len, after_len;
	char *before = snapshot(st, &before_len);

	/* Rebuild in place, as `pledged replay` does. */
	struct job j = {.set = PROJ_LIVE, .keep = true};
	CHECK_INT(store_run_write(st, job_txn, &j), 0);
	CHECK_INT(j.res.outcome, REPLAY_OK);
	CHECK_INT(j.res.applied, 2059);
	char *after = snapshot(st, &after_len);
	CHECK(before_len > 1000 && before_len == after_len && memcmp(before, after, before_len) == 0);
	free(after);
	free(before);

	/* Verify's comparison: equal now. */
	j = (struct job){.set = PROJ_SCRATCH};
	CHECK_INT(store_run_write(st, job_txn, &j), 1);
	CHECK_INT(j.compare, 0);
}

/*
 * Changes one stored projection record (val NULL: deletes it), then checks
 * that verify's comparison reports it, naming expect, and that it matches
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
	if (val)
		store_put(&t, db, key, klen, val, vlen, 0);
	else
		store_del(&t, db, key, klen);
	CHECK_INT(store_commit(&t), 0);

	struct job j = {.set = PROJ_SCRATCH};
	CHECK_INT(store_run_write(st, job_txn, &j), 1);
	CHECK_INT(j.compare, 1);
	if (!strstr(j.diff, expect))
		fprintf(stderr, "diff '%s' lacks '%s'\n", j.diff, expect);
	CHECK(strstr(j.diff, expect) != NULL);

	/* Put it back and verify matches again. */
	CHECK_INT(store_write_begin(st, &t), 0);
	if (saved)
		store_put(&t, db, key, klen, saved, saved_len, 0);
	else
		store_del(&t, db, key, klen);
	CHECK_INT(store_commit(&t), 0);
	free(saved);
	j = (struct job){.set = PROJ_SCRATCH};
	CHECK_INT(store_run_write(st, job_txn, &j), 1);
	CHECK_INT(j.compare, 0);
}

static void test_verify_catches_tampering(struct store *st)
{
	const char *camp = "jess-phillips-for-labour-leader";
	struct proj_totals tot = {.raised = 5804200, .opened_at = 1, .closed_at = 2, .last_at = 2};
	uint8_t buf[PROJ_TOTALS_SIZE];
	proj_totals_encode(buf, &tot);
	tamper_and_compare(st, STORE_DB_TOTALS, camp, strlen(camp), buf, sizeof buf,
			   "totals: key 'jess-phillips-for-labour-leader' differs");
	tamper_and_compare(st, STORE_DB_PLEDGES, "pl-00001", 8, NULL, 0,
			   "pledges: key 'pl-00001' produced by the log but missing");
	tamper_and_compare(st, STORE_DB_PLEDGES, "pl-forged", 9, "x", 1,
			   "pledges: key 'pl-forged' stored but not produced by the log");
}

/*
 * Each projection table in turn: its first record changed by one byte, then
 * deleted. Verify must name the table each time, so a comparison that
 * skipped a table would fail here.
 */
static void test_verify_sees_every_table(struct store *st)
{
	for (int table = 0; table < PROJ_TABLE_COUNT; table++) {
		enum store_db db = proj_db(PROJ_LIVE, (enum proj_table)table);
		struct store_txn t;
		MDB_val k, v;
		uint8_t key[512], val[8192];
		size_t klen = 0, vlen = 0;
		CHECK_INT(store_read_begin(st, &t), 0);
		MDB_cursor *c = store_cursor(&t, db);
		if (c && mdb_cursor_get(c, &k, &v, MDB_FIRST) == 0 && k.mv_size <= sizeof key &&
		    v.mv_size <= sizeof val && v.mv_size > 0) {
			memcpy(key, k.mv_data, klen = k.mv_size);
			memcpy(val, v.mv_data, vlen = v.mv_size);
		}
		if (c)
			mdb_cursor_close(c);
		store_abort(&t);
		CHECK(vlen > 0);
		if (!vlen)
			continue;
		char changed[128], missing[128];
		snprintf(changed, sizeof changed, "%s: key '", store_db_name(db));
		snprintf(missing, sizeof missing, "%s: key '", store_db_name(db));
		val[vlen - 1] ^= 1;
		tamper_and_compare(st, db, key, klen, val, vlen, changed);
		tamper_and_compare(st, db, key, klen, NULL, 0, missing);
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

static void test_point_in_time(struct store *st, const char *demo)
{
	struct job j = {.set = PROJ_SCRATCH, .opt = {.until_seq = 1}};
	CHECK_INT(store_run_write(st, job_txn, &j), 1);
	CHECK_INT(j.res.applied, 1);
	CHECK_INT(j.res.last_seq, 1);

	/* By 12:00 on 14 January 2020 two comments had been posted. */
	j = (struct job){.set = PROJ_SCRATCH, .keep = true,
			 .opt = {.has_until_time = true, .until_time = INT64_C(1579003200000)}};
	CHECK_INT(store_run_write(st, job_txn, &j), 0);
	CHECK_INT(j.res.outcome, REPLAY_OK);
	CHECK(j.res.skipped_time > 0);
	CHECK_INT(j.res.applied + j.res.skipped_time, 2059);
	struct store_txn t;
	struct proj_campaign c;
	CHECK_INT(store_read_begin(st, &t), 0);
	CHECK_INT(proj_campaign_get(&t, PROJ_SCRATCH, (struct pl_str){"jess-phillips-for-labour-leader", 31}, &c), 0);
	CHECK_INT(c.totals.comments, 2);
	CHECK(!c.closed);
	CHECK(c.totals.raised > 0 && c.totals.raised < 5804100);
	store_abort(&t);

	/* A cut exactly at an event's time keeps it: Tom W's comment, the newest. */
	int64_t tom = INT64_C(1579124400000);
	j = (struct job){.set = PROJ_SCRATCH, .keep = true,
			 .opt = {.has_until_time = true, .until_time = tom}};
	CHECK_INT(store_run_write(st, job_txn, &j), 0);
	CHECK_INT(j.res.outcome, REPLAY_OK);
	CHECK_INT(j.res.applied, events_until(demo, tom));
	CHECK_INT(j.res.applied + j.res.skipped_time, 2059);
	struct proj_comment_page page;
	CHECK_INT(store_read_begin(st, &t), 0);
	CHECK_INT(proj_comments_page(&t, PROJ_SCRATCH, (struct pl_str){"jess-phillips-for-labour-leader", 31},
				     NULL, 1, &page), 0);
	CHECK(page.count == 1 && page.items[0].at == tom && page.items[0].name.len == 5 &&
	      memcmp(page.items[0].name.ptr, "Tom W", 5) == 0);
	store_abort(&t);
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
	test_verify_catches_tampering(st);
	test_verify_sees_every_table(st);
	test_point_in_time(st, argv[1]);
	store_close(st);

	/* Reopening with the tiny map size still reads everything. */
	struct store_options opt = {.initial_map_size = 64 * 1024};
	CHECK_INT(store_open(&st, dir, &opt), 0);
	test_demo_figures(st);
	store_close(st);
	fixture_remove(dir);

	test_refused_dirs();
	return check_done();
}
