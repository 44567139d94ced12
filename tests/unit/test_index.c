/*
 * test_index.c — the state index (store/index.h) against a plain model.
 *
 * Random puts, updates and take-backs in transactions, some of them thrown
 * away; checkpoints written a few blocks per transaction; merges; a filter
 * so small that most lookups reach the runs; and crashes (the index dropped
 * without its memory, opened again and fed the operations after its
 * checkpoint, as the pipeline replays the log). After every phase each
 * key's value and the whole content (index_each) must equal the model.
 * Lookups of the values kind skip the runs whose own filter rules the
 * key out; at the end, a lookup reads little more than the one run.
 * The ids kind is mostly missed: its runs merge wider than the values'.
 */
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "check.h"
#include "fixture.h"
#include "index.h"

#define MAIN_KEYS 6000 /* what the random phase uses */
#define KEYS 9000      /* the rest are first written once the filter is stored */
#define OPS 60000
#define BATCH 50

static const struct index_kind_def kinds[2] = {
	{"values", STORE_DB_A_SUPPORTERS, 8},
	{"ids", STORE_DB_A_EVENT_IDS, 0, .mostly_missed = true},
};

/* The model: for each key number, whether it is present and its value. */
struct model {
	bool present[2][KEYS];
	uint64_t value[KEYS];
};

/* One committed operation, kept so that a crash can be replayed. */
struct op {
	uint64_t seq;
	uint8_t kind;
	uint32_t key;
	uint64_t value;
};

static struct op *ops;
static size_t nops;

static struct fp key_fp(int kind, uint32_t key)
{
	struct fp f;
	fp_of(&f, (uint8_t)kind, &key, sizeof key);
	return f;
}

static uint64_t rnd_state = 88172645463325252ULL;
static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

static void apply(struct index *ix, struct model *m, const struct op *o)
{
	struct fp f = key_fp(o->kind, o->key);
	uint8_t v[8];
	bytes_put_le64(v, o->value);
	CHECK_INT(index_put(ix, o->kind, &f, v), 0);
	m->present[o->kind][o->key] = true;
	if (o->kind == 0)
		m->value[o->key] = o->value;
}

struct each_check {
	const struct model *m;
	int kind;
	size_t seen;
	bool ok;
};

static int each_entry(const struct fp *f, const void *value, void *arg)
{
	struct each_check *c = arg;
	c->seen++;
	/* Find the key by its fingerprint (test sizes keep this cheap enough). */
	for (uint32_t k = 0; k < KEYS; k++) {
		struct fp g = key_fp(c->kind, k);
		if (fp_cmp(&g, f) != 0)
			continue;
		if (!c->m->present[c->kind][k] ||
		    (c->kind == 0 && bytes_get_le64(value) != c->m->value[k]))
			c->ok = false;
		return 0;
	}
	c->ok = false;
	return 0;
}

static void compare(struct store *st, struct index *ix, const struct model *m, const char *when)
{
	struct store_txn t;
	int bad = 0;
	CHECK_INT(store_read_begin(st, &t), 0);
	for (int kind = 0; kind < 2; kind++) {
		size_t count = 0;
		for (uint32_t k = 0; k < KEYS; k++) {
			struct fp f = key_fp(kind, k);
			uint8_t v[8];
			int rc = index_get(ix, &t, kind, &f, v);
			count += m->present[kind][k];
			if (rc != (m->present[kind][k] ? 0 : PL_ENOTFOUND) ||
			    (rc == 0 && kind == 0 && bytes_get_le64(v) != m->value[k]))
				bad++;
		}
		struct each_check c = {m, kind, 0, true};
		CHECK_INT(index_each(ix, &t, kind, each_entry, &c), 0);
		CHECK(c.ok);
		CHECK_INT(c.seen, count);
	}
	store_abort(&t);
	if (bad)
		fprintf(stderr, "%s: %d keys differ from the model\n", when, bad);
	CHECK_INT(bad, 0);
}

/* Work on the index in small write transactions until it has none. */
/* One work transaction of the index, committed. */
static void work_once(struct store *st, struct index *ix, size_t max_blocks)
{
	struct store_txn t;
	CHECK_INT(store_write_begin(st, &t), 0);
	index_work_begin(ix);
	CHECK_INT(index_work(ix, &t, max_blocks), 0);
	int rc = store_commit(&t);
	index_work_end(ix, rc == 0);
	CHECK_INT(rc, 0);
}

static void work_all(struct store *st, struct index *ix, size_t max_blocks)
{
	for (int guard = 0; index_has_work(ix) && guard < 100000; guard++)
		work_once(st, ix, max_blocks);
}

/* The runs of kind at tier. */
static size_t runs_at(const struct index *ix, int kind, int tier)
{
	size_t n = 0;
	for (size_t i = 0; i < ix->d.nruns; i++)
		n += ix->d.runs[i].kind == kind && ix->d.runs[i].tier == tier;
	return n;
}

/* Rewrites the index's directory as builds before newest_part wrote it: 0 for it. */
static void directory_without_newest_parts(struct store *st)
{
	struct store_txn t;
	MDB_val v;
	size_t merged = 0;
	CHECK_INT(store_write_begin(st, &t), 0);
	CHECK_INT(store_get(&t, STORE_DB_META, "index.test", 10, &v), 0);
	uint8_t *old = malloc(v.mv_size);
	memcpy(old, v.mv_data, v.mv_size);
	for (size_t at = 16; at + 16 <= v.mv_size; at += 16) {
		merged += old[at + 6] || old[at + 7];
		old[at + 6] = old[at + 7] = 0;
	}
	CHECK(merged > 0); /* or this phase tests nothing */
	store_put(&t, STORE_DB_META, "index.test", 10, old, v.mv_size, 0);
	CHECK_INT(store_commit(&t), 0);
	free(old);
}

/* Updates n random keys of kind 0 in one committed transaction. */
static void update_some(struct store *st, struct index *ix, struct model *m, uint64_t seq, int n)
{
	struct store_txn t;
	CHECK_INT(store_write_begin(st, &t), 0);
	index_txn_begin(ix);
	for (int i = 0; i < n; i++) {
		struct op o = {seq, 0, (uint32_t)(rnd() % MAIN_KEYS), rnd()};
		apply(ix, m, &o);
	}
	CHECK_INT(store_commit(&t), 0);
	index_txn_end(ix, true);
}

/* A merge half written when the next checkpoint comes: the checkpoint's
 * runs are numbered above the merge's output and written first, so the
 * merge's remaining blocks are no longer the newest of their database. */
static void merge_interrupted_by_checkpoint(struct store *st, struct index *ix, struct model *m,
					    uint64_t *seq)
{
	bool half_merged = false;
	for (int round = 0; round < 8 && !half_merged; round++) {
		update_some(st, ix, m, ++*seq, 1200);
		CHECK_INT(index_freeze(ix, *seq), 0);
		for (int guard = 0; index_has_work(ix) && guard < 1000; guard++) {
			struct store_txn t;
			CHECK_INT(store_write_begin(st, &t), 0);
			index_work_begin(ix);
			CHECK_INT(index_work(ix, &t, 1), 0);
			int rc = store_commit(&t);
			index_work_end(ix, rc == 0);
			CHECK_INT(rc, 0);
			if (!ix->frozen && ix->d.merging && ix->d.merge_kind == 0 && ix->d.merge_written) {
				half_merged = true;
				break;
			}
		}
	}
	CHECK(half_merged); /* or this phase tests nothing */
	update_some(st, ix, m, ++*seq, 1200);
	CHECK_INT(index_freeze(ix, *seq), 0);
	work_all(st, ix, 1);
	compare(st, ix, m, "a merge interrupted by a checkpoint");
}

static void open_index_with(struct store *st, struct index *ix, size_t bloom_bytes,
			    size_t run_filter_bytes)
{
	struct store_txn t;
	struct index_options opt = {.checkpoint_entries = 2000, .bloom_bytes = bloom_bytes,
				    .run_filter_bytes = run_filter_bytes};
	CHECK_INT(store_read_begin(st, &t), 0);
	CHECK_INT(index_open(ix, &t, "test", kinds, 2, &opt), 0);
	store_abort(&t);
}

static void open_index(struct store *st, struct index *ix, size_t bloom_bytes)
{
	open_index_with(st, ix, bloom_bytes, 0);
}

/* Looks up every value key the model has; returns the runs read and sets *found. */
static uint64_t runs_read_finding_all(struct store *st, struct index *ix, const struct model *m,
				      uint64_t *found)
{
	struct store_txn t;
	uint8_t v[8];
	uint64_t before = ix->run_reads;
	*found = 0;
	CHECK_INT(store_read_begin(st, &t), 0);
	for (uint32_t key = 0; key < KEYS; key++) {
		struct fp f = key_fp(0, key);
		if (m->present[0][key] && index_get(ix, &t, 0, &f, v) == 0)
			++*found;
	}
	store_abort(&t);
	return ix->run_reads - before;
}

/*
 * Every key in the runs, looked up with the runs' own filters (built when
 * the index opens) and without them (no memory for any): with them, a
 * lookup reads the run that holds its key and rarely another; without,
 * every newer run of its kind first.
 */
static void lookups_read_only_their_run(struct store *st, struct index *ix, const struct model *m)
{
	uint64_t found, found_unfiltered;
	open_index(st, ix, 64 * 1024);
	CHECK(runs_at(ix, 0, 0) + runs_at(ix, 0, 1) + runs_at(ix, 0, 2) >= 3); /* or it tests nothing */
	uint64_t filtered = runs_read_finding_all(st, ix, m, &found);
	index_close(ix);
	open_index_with(st, ix, 64 * 1024, 1);
	uint64_t unfiltered = runs_read_finding_all(st, ix, m, &found_unfiltered);
	index_close(ix);
	printf("%llu keys found: %llu runs read with the runs' filters, %llu without\n",
	       (unsigned long long)found, (unsigned long long)filtered,
	       (unsigned long long)unfiltered);
	CHECK(found > 1000);
	CHECK(found_unfiltered == found);
	CHECK(filtered >= found);
	CHECK(filtered < found + found / 10);
	CHECK(unfiltered > filtered + found / 2);
}

/*
 * A rebuild's index sized like the index "test": its tables as large as
 * they grow by its first checkpoint and its filter as large as it grows,
 * at once; putting that many entries grows neither. An index with
 * entries is not sized again.
 */
static void sized_like_another(struct store *st)
{
	struct store_txn t;
	uint64_t entries[2], runs_entries[2] = {0};
	struct index like, copy;
	open_index(st, &like, 64 * 1024);
	for (size_t i = 0; i < like.d.nruns; i++)
		runs_entries[like.d.runs[i].kind] += like.d.runs[i].entries;
	index_close(&like);
	CHECK_INT(store_read_begin(st, &t), 0);
	CHECK_INT(index_entries_of(&t, "test", 2, entries), 0);
	CHECK(entries[0] == runs_entries[0] && entries[1] == runs_entries[1]);
	uint64_t none[2] = {1, 1};
	CHECK_INT(index_entries_of(&t, "none", 2, none), 0); /* never written: empty */
	CHECK(none[0] == 0 && none[1] == 0);
	struct index_options opt = {.checkpoint_entries = 2000, .bloom_bytes = 1 << 20};
	CHECK_INT(index_open(&copy, &t, "copy", kinds, 2, &opt), 0);
	store_abort(&t);
	CHECK(entries[0] + entries[1] > 2000); /* or the share below tests nothing */
	size_t empty_bloom = bloom_size(&copy.bloom), capacity[2];
	index_expect(&copy, entries);
	CHECK(bloom_size(&copy.bloom) > empty_bloom);
	for (int k = 0; k < 2; k++)
		capacity[k] = copy.kinds[k].active.capacity;
	/* The first checkpoint's share of each kind, put: no table grew. */
	double share = 2000.0 / (double)(entries[0] + entries[1]);
	for (int k = 0; k < 2; k++) {
		size_t n = (size_t)((double)entries[k] * share);
		for (uint32_t key = 0; key < n; key++) {
			struct fp f = key_fp(k, key);
			uint8_t v[8] = {1};
			CHECK_INT(index_put(&copy, k, &f, v), 0);
		}
		CHECK(copy.kinds[k].active.capacity == capacity[k]);
		CHECK(capacity[k] >= 2 * n);
	}
	size_t sized_bloom = bloom_size(&copy.bloom);
	entries[0] *= 64;
	index_expect(&copy, entries); /* not empty now: nothing changes */
	CHECK(bloom_size(&copy.bloom) == sized_bloom);
	CHECK(copy.kinds[0].active.capacity == capacity[0]);
	index_close(&copy);
}

/* Work transactions until the frozen tables are written (merges may stay under way). */
static void write_frozen(struct store *st, struct index *ix)
{
	for (int guard = 0; ix->frozen && guard < 100000; guard++)
		work_once(st, ix, 1000);
}

/* Commits a batch putting keys from..from+n-1 of kind. */
static void put_keys(struct store *st, struct index *ix, int kind, uint32_t from, uint32_t n)
{
	struct store_txn t;
	CHECK_INT(store_write_begin(st, &t), 0);
	index_txn_begin(ix);
	for (uint32_t k = from; k < from + n; k++) {
		struct fp f = key_fp(kind, k);
		uint8_t v[8];
		bytes_put_le64(v, k);
		CHECK_INT(index_put(ix, kind, &f, v), 0);
	}
	CHECK_INT(store_commit(&t), 0);
	index_txn_end(ix, true);
}

/*
 * A transaction that finishes a merge plans the next, numbering its run and
 * starting that run's filter, and is not committed (a full disk): the
 * number goes back to be given again, and the filter must go with it. Kept,
 * it stood for the next run of that number, of ids (whose runs have no
 * filter of their own), and hid every id in it: each read as new.
 */
static void undone_merge_plan(void)
{
	char dir[256];
	struct store *st = fixture_store(dir, sizeof dir, 0);
	struct index ix;
	struct store_txn t;
	open_index_with(st, &ix, 1 << 20, 0);
	uint64_t seq = 0;
	for (uint32_t c = 0; c < 8; c++) { /* eight runs of values: a merge planned */
		put_keys(st, &ix, 0, c * 1000, 200);
		CHECK_INT(index_freeze(&ix, ++seq), 0);
		write_frozen(st, &ix);
	}
	uint32_t first_out = ix.d.merge_out;
	CHECK(ix.d.merging);
	for (int steps = 0; steps < 100000; steps++) {
		CHECK_INT(store_write_begin(st, &t), 0);
		index_work_begin(&ix);
		CHECK_INT(index_work(&ix, &t, 1), 0);
		bool planned_next = ix.d.merging && ix.d.merge_out != first_out;
		if (planned_next) {
			store_abort(&t);
			index_work_end(&ix, false);
			break;
		}
		CHECK_INT(store_commit(&t), 0);
		index_work_end(&ix, true);
	}
	put_keys(st, &ix, 1, 0, 300); /* ids: their run takes the number given back */
	CHECK_INT(index_freeze(&ix, ++seq), 0);
	write_frozen(st, &ix);
	int missing = 0;
	CHECK_INT(store_read_begin(st, &t), 0);
	for (uint32_t k = 0; k < 300; k++) {
		struct fp f = key_fp(1, k);
		uint8_t v[8];
		missing += index_get(&ix, &t, 1, &f, v) == PL_ENOTFOUND;
	}
	store_abort(&t);
	CHECK_INT(missing, 0);
	index_close(&ix);
	store_close(st);
	fixture_remove(dir);
}

static int by_fp(const void *a, const void *b)
{
	return fp_cmp_at(a, b);
}

/*
 * A first checkpoint loaded from sorted entries (index_load_*), written in
 * transactions of a few blocks: every key found with its value and no
 * other, before and after a reopen, and after a checkpoint of the usual
 * kind on top of it; a load into an index that has entries is refused.
 */
static void loaded_at_once(void)
{
	char dir[256];
	struct store *st = fixture_store(dir, sizeof dir, 0);
	struct model *m = calloc(1, sizeof *m);
	struct index ix;
	size_t count[2] = {MAIN_KEYS / 2, MAIN_KEYS};
	uint8_t *entries[2] = {malloc(count[0] * (FP_SIZE + 8)), malloc(count[1] * FP_SIZE)};
	for (uint32_t k = 0; k < count[0]; k++) {
		struct fp f = key_fp(0, k);
		m->present[0][k] = true;
		m->value[k] = rnd();
		memcpy(entries[0] + k * (FP_SIZE + 8), f.b, FP_SIZE);
		bytes_put_le64(entries[0] + k * (FP_SIZE + 8) + FP_SIZE, m->value[k]);
	}
	for (uint32_t k = 0; k < count[1]; k++) {
		struct fp f = key_fp(1, k);
		m->present[1][k] = true;
		memcpy(entries[1] + k * FP_SIZE, f.b, FP_SIZE);
	}
	qsort(entries[0], count[0], FP_SIZE + 8, by_fp);
	qsort(entries[1], count[1], FP_SIZE, by_fp);
	open_index_with(st, &ix, 1 << 20, 1 << 20);
	CHECK_INT(index_load_begin(&ix, count), 0);
	CHECK_INT(index_load_filters(&ix, (const uint8_t *const *)entries, count), 0);
	int txns = 0;
	for (int kind = 0; kind < 2; kind++)
		for (size_t done = 0; done < count[kind]; txns++) {
			struct store_txn t;
			CHECK_INT(store_write_begin(st, &t), 0);
			CHECK_INT(index_load_write(&ix, &t, kind, entries[kind], count[kind], &done, 3), 0);
			CHECK_INT(store_commit(&t), 0);
		}
	CHECK(txns > 4);
	struct store_txn t;
	CHECK_INT(store_write_begin(st, &t), 0);
	index_work_begin(&ix);
	CHECK_INT(index_load_finish(&ix, &t, count, 77), 0);
	CHECK_INT(store_commit(&t), 0);
	index_work_end(&ix, true);
	CHECK_INT(ix.d.checkpoint_seq, 77);
	compare(st, &ix, m, "loaded at once");
	CHECK_INT(index_load_begin(&ix, count), PL_EINVAL);
	index_close(&ix);
	open_index_with(st, &ix, 1 << 20, 1 << 20);
	CHECK_INT(ix.d.checkpoint_seq, 77);
	compare(st, &ix, m, "loaded at once, opened again");
	update_some(st, &ix, m, 78, 500);
	CHECK_INT(index_freeze(&ix, 78), 0);
	work_all(st, &ix, 50);
	compare(st, &ix, m, "loaded at once, then a checkpoint");
	index_close(&ix);
	free(entries[0]);
	free(entries[1]);
	free(m);
	store_close(st);
	fixture_remove(dir);
}

int main(void)
{
	char dir[256];
	struct store *st = fixture_store(dir, sizeof dir, 0);
	struct index ix;
	struct model *m = calloc(1, sizeof *m);
	ops = calloc(OPS, sizeof *ops);
	open_index(st, &ix, 256);
	uint64_t seq = 0;
	int crashes = 0, checkpoints = 0;
	size_t most_idle_ids_runs = 0; /* tier-0 runs of ids with no merge under way */

	for (size_t done = 0; done < OPS; done += BATCH) {
		/* A batch: puts, updates and take-backs, committed or thrown away. */
		struct store_txn t;
		bool keep = rnd() % 8 != 0;
		struct op batch[BATCH];
		size_t n = 0;
		struct model before = *m;
		CHECK_INT(store_write_begin(st, &t), 0);
		index_txn_begin(&ix);
		seq++;
		for (int i = 0; i < BATCH; i++) {
			struct op o = {seq, (uint8_t)(rnd() % 2), (uint32_t)(rnd() % MAIN_KEYS), rnd()};
			struct fp f = key_fp(o.kind, o.key);
			uint8_t v[8];
			if (o.kind == 1 && !m->present[1][o.key] && rnd() % 4 == 0) {
				/* An id claimed and taken back in the same transaction. */
				CHECK_INT(index_get(&ix, &t, 1, &f, v), PL_ENOTFOUND);
				CHECK_INT(index_put(&ix, 1, &f, v), 0);
				index_unput(&ix, 1, &f);
				continue;
			}
			apply(&ix, m, &o);
			batch[n++] = o;
		}
		if (keep) {
			CHECK_INT(store_commit(&t), 0);
			index_txn_end(&ix, true);
			memcpy(ops + nops, batch, n * sizeof *batch);
			nops += n;
		} else {
			store_abort(&t);
			index_txn_end(&ix, false);
			*m = before;
			seq--;
		}

		if (index_should_freeze(&ix)) {
			CHECK_INT(index_freeze(&ix, seq), 0);
			checkpoints++;
		}
		if (index_has_work(&ix)) {
			/* A few blocks per transaction, so writing spans batches. */
			struct store_txn w;
			CHECK_INT(store_write_begin(st, &w), 0);
			index_work_begin(&ix);
			CHECK_INT(index_work(&ix, &w, 3), 0);
			bool commit = rnd() % 10 != 0;
			int rc = commit ? store_commit(&w) : (store_abort(&w), 0);
			index_work_end(&ix, commit && rc == 0);
		}
		if (!ix.d.merging && runs_at(&ix, 1, 0) > most_idle_ids_runs)
			most_idle_ids_runs = runs_at(&ix, 1, 0);

		if (rnd() % 150 == 0) {
			/* A crash: memory is lost; what is on disk plus the replayed tail must match. */
			index_close(&ix);
			open_index(st, &ix, 256);
			uint64_t from = index_checkpoint_seq(&ix);
			struct model replayed = {0};
			for (size_t i = 0; i < nops; i++) {
				if (ops[i].seq > from) {
					if (i == 0 || ops[i - 1].seq <= from)
						index_txn_begin(&ix);
					apply(&ix, &replayed, &ops[i]);
				}
			}
			if (ix.in_txn)
				index_txn_end(&ix, true);
			crashes++;
			compare(st, &ix, m, "after a crash");
		}
	}
	compare(st, &ix, m, "at the end");
	work_all(st, &ix, 50);
	compare(st, &ix, m, "all written");
	CHECK(checkpoints > 10);
	CHECK(crashes > 0);
	size_t tiers = 0;
	for (size_t i = 0; i < ix.d.nruns; i++)
		tiers = ix.d.runs[i].tier > tiers ? ix.d.runs[i].tier : tiers;
	CHECK(tiers >= 1); /* runs were merged */
	/* Each kind merges a tier once it has its width of runs; ids wait longer. */
	for (int tier = 0; tier < 16; tier++) {
		CHECK(runs_at(&ix, 0, tier) < INDEX_MERGE_WIDTH);
		CHECK(runs_at(&ix, 1, tier) < INDEX_WIDE_MERGE_WIDTH);
	}
	/* (a crash can leave one more than the width until the next checkpoint) */
	CHECK(most_idle_ids_runs > INDEX_MERGE_WIDTH + 1);
	CHECK(runs_at(&ix, 1, 1) + runs_at(&ix, 1, 2) > 0);
	printf("%d checkpoints, %d crashes, %zu runs, highest tier %zu, up to %zu runs of ids at tier 0\n",
	       checkpoints, crashes, ix.d.nruns, tiers, most_idle_ids_runs);
	merge_interrupted_by_checkpoint(st, &ix, m, &seq);

	/* Reopened with a filter of another size: it is rebuilt from the runs. */
	CHECK_INT(index_freeze(&ix, seq), 0);
	work_all(st, &ix, 50);
	index_close(&ix);
	open_index(st, &ix, 64 * 1024);
	compare(st, &ix, m, "filter rebuilt");

	/* Keys first written after the filter was last stored: the stored one
	 * does not cover the newest runs, and opening must add them from those. */
	for (uint32_t key = MAIN_KEYS; key < KEYS; key += 250) {
		struct store_txn t;
		CHECK_INT(store_write_begin(st, &t), 0);
		index_txn_begin(&ix);
		seq++;
		for (uint32_t k = key; k < key + 250; k++) {
			struct op o = {seq, (uint8_t)(k % 2), k, rnd()};
			apply(&ix, m, &o);
		}
		CHECK_INT(store_commit(&t), 0);
		index_txn_end(&ix, true);
		CHECK_INT(index_freeze(&ix, seq), 0);
		work_all(st, &ix, 50);
	}
	struct store_txn t;
	MDB_val v;
	CHECK_INT(store_read_begin(st, &t), 0);
	CHECK_INT(store_get(&t, STORE_DB_BLOOMS, "test", 4, &v), 0);
	uint32_t first_uncovered = bytes_get_le32((const uint8_t *)v.mv_data + v.mv_size - 12);
	store_abort(&t);
	CHECK(first_uncovered < ix.d.next_run); /* or this phase tests nothing */
	index_close(&ix);
	open_index(st, &ix, 64 * 1024);
	compare(st, &ix, m, "stored filter behind the runs");
	index_close(&ix);

	/* A directory written before runs said which checkpoints they hold:
	 * each counts as holding its own number's. */
	directory_without_newest_parts(st);
	open_index(st, &ix, 64 * 1024);
	compare(st, &ix, m, "directory without newest parts");
	update_some(st, &ix, m, ++seq, 40);
	CHECK_INT(index_freeze(&ix, seq), 0);
	work_all(st, &ix, 50);
	index_close(&ix);
	open_index(st, &ix, 64 * 1024);
	compare(st, &ix, m, "directory without newest parts, written again");
	index_close(&ix);

	/* The stored filter damaged (its bits cleared, its trailer kept): a
	 * filter believed would hide every key in the runs; it is rebuilt. */
	CHECK_INT(store_write_begin(st, &t), 0);
	CHECK_INT(store_get(&t, STORE_DB_BLOOMS, "test", 4, &v), 0);
	size_t stored = v.mv_size;
	uint8_t *damaged = calloc(1, stored);
	memcpy(damaged + stored - 12, (const uint8_t *)v.mv_data + stored - 12, 12);
	store_put(&t, STORE_DB_BLOOMS, "test", 4, damaged, stored, 0);
	CHECK_INT(store_commit(&t), 0);
	free(damaged);
	open_index(st, &ix, 64 * 1024);
	compare(st, &ix, m, "damaged filter");
	index_close(&ix);
	lookups_read_only_their_run(st, &ix, m);
	sized_like_another(st);
	undone_merge_plan();
	loaded_at_once();

	store_close(st);
	fixture_remove(dir);
	free(ops);
	free(m);
	return check_done();
}
