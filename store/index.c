/* index.c — the state index, an LSM tree of fingerprints on LMDB; see index.h. */
#include "index.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "bytes.h"
#include "pl_error.h"

#define DEFAULT_CHECKPOINT_ENTRIES 1000000
#define DEFAULT_BLOOM_BYTES ((size_t)32 << 20)
#define DEFAULT_RUN_FILTER_BYTES ((size_t)64 << 20)
#define MIN_BLOOM_BYTES ((size_t)64 << 10)
#define BLOOM_BITS_PER_ENTRY 10
#define DIRECTORY_FORMAT 1
#define DIRECTORY_HEAD 16
#define DIRECTORY_RUN 16

/* ---- the directory in META ---- */

static size_t meta_key(const char *name, char *key, size_t size)
{
	return (size_t)snprintf(key, size, "index.%s", name);
}

/*
 * A run's entry: number (be32), kind, tier, how far below its number its
 * newest_part is (le16), entries (le64). Older builds wrote 0 there, which
 * reads as the run's own number: the newest it can be, so a filter covers
 * it only if it covers the run itself. A distance that does not fit is
 * written as 0 for the same reason.
 */
static uint16_t newest_part_below(const struct index_run *r)
{
	uint32_t below = r->number - r->newest_part;
	return below <= UINT16_MAX ? (uint16_t)below : 0;
}

static void save_directory(struct index *ix, struct store_txn *t)
{
	uint8_t buf[DIRECTORY_HEAD + INDEX_MAX_RUNS * DIRECTORY_RUN];
	char key[48];
	buf[0] = DIRECTORY_FORMAT;
	buf[1] = 0;
	bytes_put_le16(buf + 2, (uint16_t)ix->d.nruns);
	bytes_put_le64(buf + 4, ix->d.checkpoint_seq);
	bytes_put_be32(buf + 12, ix->d.next_run);
	uint8_t *p = buf + DIRECTORY_HEAD;
	for (size_t i = 0; i < ix->d.nruns; i++, p += DIRECTORY_RUN) {
		const struct index_run *r = &ix->d.runs[i];
		bytes_put_be32(p, r->number);
		p[4] = r->kind;
		p[5] = r->tier;
		bytes_put_le16(p + 6, newest_part_below(r));
		bytes_put_le64(p + 8, r->entries);
	}
	store_put(t, STORE_DB_META, key, meta_key(ix->name, key, sizeof key), buf, (size_t)(p - buf), 0);
}

/* Reads the directory of the index called name, of nkinds kinds, into d. */
static int read_directory(struct store_txn *t, const char *name, size_t nkinds,
			  struct index_durable *d)
{
	char key[48];
	MDB_val v;
	int rc = store_get(t, STORE_DB_META, key, meta_key(name, key, sizeof key), &v);
	if (rc == PL_ENOTFOUND) {
		d->next_run = 1;
		return PL_OK;
	}
	if (rc)
		return rc;
	const uint8_t *p = v.mv_data;
	if (v.mv_size < DIRECTORY_HEAD || p[0] != DIRECTORY_FORMAT)
		return PL_ECORRUPT;
	size_t n = bytes_get_le16(p + 2);
	if (n > INDEX_MAX_RUNS || v.mv_size != DIRECTORY_HEAD + n * DIRECTORY_RUN)
		return PL_ECORRUPT;
	d->checkpoint_seq = bytes_get_le64(p + 4);
	d->next_run = bytes_get_be32(p + 12);
	d->nruns = n;
	p += DIRECTORY_HEAD;
	for (size_t i = 0; i < n; i++, p += DIRECTORY_RUN) {
		struct index_run *r = &d->runs[i];
		r->number = bytes_get_be32(p);
		r->kind = p[4];
		r->tier = p[5];
		uint16_t below = bytes_get_le16(p + 6);
		r->entries = bytes_get_le64(p + 8);
		if (r->kind >= nkinds || r->number >= d->next_run || below > r->number)
			return PL_ECORRUPT;
		r->newest_part = r->number - below;
	}
	return PL_OK;
}

static int load_directory(struct index *ix, struct store_txn *t)
{
	return read_directory(t, ix->name, ix->nkinds, &ix->d);
}

static bool in_directory(const struct index *ix, uint8_t kind, uint32_t number)
{
	for (size_t i = 0; i < ix->d.nruns; i++)
		if (ix->d.runs[i].kind == kind && ix->d.runs[i].number == number)
			return true;
	return false;
}

/* ---- the Bloom filter, kept beside the directory ---- */

static size_t bloom_key(const struct index *ix, char *key, size_t size)
{
	return (size_t)snprintf(key, size, "%s", ix->name);
}

/*
 * The filter is stored as its bits, the number of the first run it does not
 * cover (le32: runs written later are added when it is loaded), and an
 * XXH3-64 of both (le64): a filter with a bit lost to damage would call a
 * stored id new, and the id would be taken twice.
 *
 * It is rewritten only once the runs it does not cover add up to
 * BLOOM_SAVE_RATIO times its size (or when it was resized), so loading it
 * reads at most that much of the runs again (a 32 MiB filter: 128 MiB of
 * runs, a fraction of a second). A merge's run holds no key its sources did
 * not, so merges leave a covered run covered (index_run.newest_part): the
 * filter is stored for every few times its size of new keys, not of keys
 * merged again, and it costs a fraction of the checkpoints' bytes.
 */
#define BLOOM_TRAILER 12
#define BLOOM_SAVE_RATIO 4

static void save_bloom(struct index *ix, struct store_txn *t)
{
	char key[48];
	size_t size = bloom_size(&ix->bloom);
	uint8_t *p = store_reserve(t, STORE_DB_BLOOMS, key, bloom_key(ix, key, sizeof key),
				   size + BLOOM_TRAILER, 0);
	if (p) {
		memcpy(p, ix->bloom.bits, size);
		bytes_put_le32(p + size, ix->d.next_run);
		bytes_put_le64(p + size + 4, XXH3_64bits(p, size + 4));
		ix->d.bloom_covers_below = ix->d.next_run;
		ix->d.bloom_stored_bytes = size;
	}
}

/* The stored filter's bit count in *size and its first uncovered run, when its checksum holds. */
static bool stored_bloom_intact(const MDB_val *v, size_t *size, uint32_t *first_uncovered)
{
	if (v->mv_size < BLOOM_TRAILER)
		return false;
	const uint8_t *p = v->mv_data;
	*size = v->mv_size - BLOOM_TRAILER;
	*first_uncovered = bytes_get_le32(p + *size);
	return XXH3_64bits(p, *size + 4) == bytes_get_le64(p + *size + 4);
}

static void add_table(struct bloom *b, const struct memtable *m)
{
	for (const uint8_t *e = memtable_next(m, NULL); e; e = memtable_next(m, e))
		bloom_add(b, (const struct fp *)e);
}

static int add_run(struct bloom *b, const struct index *ix, struct store_txn *t,
		   const struct index_run *r)
{
	const struct index_kind_def *def = &ix->kinds[r->kind].def;
	struct run_iter it;
	run_iter_init(&it, r->number, FP_SIZE + def->value_size);
	int rc = run_iter_seek(&it, t, def->db);
	for (const uint8_t *e; rc == 0 && (e = run_iter_entry(&it));
	     rc = run_iter_next(&it, t, def->db))
		bloom_add(b, (const struct fp *)e);
	return rc;
}

/* Adds every fingerprint of the tables, and of the runs that hold a checkpoint's from first_run on. */
static int add_to_bloom(struct index *ix, struct store_txn *t, uint32_t first_run)
{
	for (size_t k = 0; k < ix->nkinds; k++) {
		add_table(&ix->bloom, &ix->kinds[k].active);
		add_table(&ix->bloom, &ix->kinds[k].frozen);
	}
	for (size_t i = 0; i < ix->d.nruns; i++) {
		int rc = ix->d.runs[i].newest_part < first_run
				 ? PL_OK
				 : add_run(&ix->bloom, ix, t, &ix->d.runs[i]);
		if (rc)
			return rc;
	}
	return PL_OK;
}

/* Whether the runs of kind get filters of their own (run_filters.h). */
static bool filtered(const struct index *ix, size_t kind)
{
	return !ix->kinds[kind].def.mostly_missed;
}

/* Gives each run of a filtered kind its filter, by reading it. */
static int build_run_filters(struct index *ix, struct store_txn *t)
{
	for (size_t i = 0; i < ix->d.nruns; i++) {
		const struct index_run *r = &ix->d.runs[i];
		struct bloom *b = filtered(ix, r->kind)
					  ? run_filters_start(&ix->filters, r->number, r->entries)
					  : NULL;
		int rc = b ? add_run(b, ix, t, r) : PL_OK;
		if (rc)
			return rc;
	}
	return PL_OK;
}

/* Gives the run a checkpoint just wrote of kind its filter, from the frozen table. */
static void filter_frozen(struct index *ix, size_t kind)
{
	const struct memtable *m = &ix->kinds[kind].frozen;
	struct bloom *b = filtered(ix, kind)
				  ? run_filters_start(&ix->filters, ix->d.flush_run[kind], m->count)
				  : NULL;
	if (b)
		add_table(b, m);
}

/* Drops the filters of runs the directory no longer names (merged, or written by an undone transaction). */
static void prune_run_filters(struct index *ix)
{
	for (size_t i = ix->filters.n; i-- > 0;) {
		uint32_t run = ix->filters.f[i].run;
		bool named = ix->d.merging && run == ix->d.merge_out;
		for (size_t j = 0; j < ix->d.nruns && !named; j++)
			named = ix->d.runs[j].number == run;
		if (!named)
			run_filters_drop(&ix->filters, run);
	}
}

static uint64_t entries_on_disk(const struct index *ix)
{
	uint64_t n = 0;
	for (size_t i = 0; i < ix->d.nruns; i++)
		n += ix->d.runs[i].entries;
	return n;
}

/*
 * The filter's size for n entries: BLOOM_BITS_PER_ENTRY bits each, twice
 * that to leave room to grow, between MIN_BLOOM_BYTES and the setting.
 */
static size_t bloom_bytes_for(const struct index *ix, uint64_t n)
{
	uint64_t want = n * BLOOM_BITS_PER_ENTRY / 8 * 2;
	size_t bytes = MIN_BLOOM_BYTES;
	while (bytes < want && bytes < ix->opt.bloom_bytes)
		bytes *= 2;
	return bytes < ix->opt.bloom_bytes ? bytes : ix->opt.bloom_bytes;
}

/* The stored filter, if it has the size the entries call for; else one made from the runs. */
static int load_bloom(struct index *ix, struct store_txn *t)
{
	char key[48];
	MDB_val v;
	int rc = bloom_init(&ix->bloom, bloom_bytes_for(ix, entries_on_disk(ix)));
	if (rc)
		return rc;
	rc = store_get(t, STORE_DB_BLOOMS, key, bloom_key(ix, key, sizeof key), &v);
	size_t size;
	uint32_t first_uncovered;
	if (rc == 0 && stored_bloom_intact(&v, &size, &first_uncovered) &&
	    bloom_load(&ix->bloom, v.mv_data, size) == 0) {
		ix->d.bloom_covers_below = first_uncovered;
		ix->d.bloom_stored_bytes = size;
		return add_to_bloom(ix, t, first_uncovered);
	}
	if (rc && rc != PL_ENOTFOUND)
		return rc;
	/* None stored, another size, or damaged: the runs have every key. */
	return add_to_bloom(ix, t, 0);
}

/*
 * Once the entries outgrow the filter (fewer than BLOOM_BITS_PER_ENTRY / 2
 * bits each, under the setting), a filter twice the size or more is made
 * from the runs: a longer transaction, but at doublings only.
 */
static int grow_bloom(struct index *ix, struct store_txn *t)
{
	uint64_t n = entries_on_disk(ix) + index_pending(ix);
	if (bloom_size(&ix->bloom) >= ix->opt.bloom_bytes ||
	    bloom_size(&ix->bloom) * 8 >= n * BLOOM_BITS_PER_ENTRY / 2)
		return PL_OK;
	struct bloom old = ix->bloom;
	int rc = bloom_init(&ix->bloom, bloom_bytes_for(ix, n));
	if (rc == 0)
		rc = add_to_bloom(ix, t, 0);
	if (rc) {
		bloom_deinit(&ix->bloom);
		ix->bloom = old;
		return rc;
	}
	bloom_deinit(&old);
	return PL_OK;
}

/* ---- opening ---- */

struct orphan_scan {
	struct index *ix;
	uint8_t kind;
};

static void note_orphan(uint32_t number, void *arg)
{
	struct orphan_scan *s = arg;
	struct index *ix = s->ix;
	/* New runs are appended: number them above every run still on disk. */
	if (number >= ix->d.next_run)
		ix->d.next_run = number + 1;
	if (!in_directory(ix, s->kind, number) && ix->d.ngarbage < INDEX_MAX_RUNS)
		ix->d.garbage[ix->d.ngarbage++] = (struct index_run){.number = number, .kind = s->kind};
}

int index_open(struct index *ix, struct store_txn *t, const char *name,
	       const struct index_kind_def *kinds, size_t nkinds, const struct index_options *opt)
{
	memset(ix, 0, sizeof *ix);
	if (nkinds > INDEX_MAX_KINDS || strlen(name) >= sizeof ix->name)
		return PL_EINVAL;
	snprintf(ix->name, sizeof ix->name, "%s", name);
	ix->opt = *opt;
	if (!ix->opt.checkpoint_entries)
		ix->opt.checkpoint_entries = DEFAULT_CHECKPOINT_ENTRIES;
	if (!ix->opt.bloom_bytes)
		ix->opt.bloom_bytes = DEFAULT_BLOOM_BYTES;
	if (!ix->opt.run_filter_bytes)
		ix->opt.run_filter_bytes = DEFAULT_RUN_FILTER_BYTES;
	run_filters_init(&ix->filters, ix->opt.run_filter_bytes);
	ix->nkinds = nkinds;
	int rc = PL_OK;
	for (size_t k = 0; k < nkinds && rc == 0; k++) {
		ix->kinds[k].def = kinds[k];
		if (kinds[k].value_size > INDEX_MAX_VALUE)
			rc = PL_EINVAL;
		else
			rc = memtable_init(&ix->kinds[k].active, kinds[k].value_size);
		if (rc == 0)
			rc = memtable_init(&ix->kinds[k].frozen, kinds[k].value_size);
	}
	if (rc == 0)
		rc = load_directory(ix, t);
	if (rc == 0)
		rc = load_bloom(ix, t);
	if (rc == 0)
		rc = build_run_filters(ix, t);
	for (size_t k = 0; k < nkinds && rc == 0; k++) {
		struct orphan_scan s = {ix, (uint8_t)k};
		rc = run_each_number(t, kinds[k].db, note_orphan, &s);
	}
	if (rc)
		index_close(ix);
	return rc;
}

int index_entries_of(struct store_txn *t, const char *name, size_t nkinds, uint64_t *entries)
{
	struct index_durable d = {0};
	int rc = read_directory(t, name, nkinds, &d);
	for (size_t k = 0; k < nkinds; k++)
		entries[k] = 0;
	for (size_t i = 0; rc == 0 && i < d.nruns; i++)
		entries[d.runs[i].kind] += d.runs[i].entries;
	return rc;
}

void index_expect(struct index *ix, const uint64_t *entries)
{
	uint64_t total = 0;
	for (size_t k = 0; k < ix->nkinds; k++)
		total += entries[k];
	if (total == 0 || entries_on_disk(ix) || index_pending(ix))
		return;
	/* The first checkpoint comes at checkpoint_entries in all kinds together. */
	double share = total > ix->opt.checkpoint_entries
			       ? (double)ix->opt.checkpoint_entries / (double)total
			       : 1.0;
	for (size_t k = 0; k < ix->nkinds; k++)
		(void)memtable_reserve(&ix->kinds[k].active, (size_t)((double)entries[k] * share));
	size_t bytes = bloom_bytes_for(ix, total);
	struct bloom larger;
	if (bytes > bloom_size(&ix->bloom) && bloom_init(&larger, bytes) == 0) {
		bloom_deinit(&ix->bloom);
		ix->bloom = larger;
	}
}

void index_close(struct index *ix)
{
	for (size_t k = 0; k < ix->nkinds; k++) {
		memtable_deinit(&ix->kinds[k].active);
		memtable_deinit(&ix->kinds[k].frozen);
	}
	bloom_deinit(&ix->bloom);
	run_filters_deinit(&ix->filters);
	free(ix->undo);
	ix->undo = NULL;
	ix->nkinds = 0;
}

/* ---- lookups and changes ---- */

static size_t entry_size(const struct index *ix, int kind)
{
	return FP_SIZE + ix->kinds[kind].def.value_size;
}

int index_get(struct index *ix, struct store_txn *t, int kind, const struct fp *f, void *value)
{
	struct index_kind *k = &ix->kinds[kind];
	size_t vs = k->def.value_size, es = entry_size(ix, kind);
	const uint8_t *v = memtable_get(&k->active, f);
	if (!v && ix->frozen)
		v = memtable_get(&k->frozen, f);
	if (!v && bloom_may_contain(&ix->bloom, f)) {
		for (size_t i = ix->d.nruns; i-- > 0 && !v;) {
			const struct index_run *r = &ix->d.runs[i];
			if (r->kind != kind || !run_filters_may_hold(&ix->filters, r->number, f))
				continue;
			ix->run_reads++;
			const uint8_t *e = run_lookup(t, k->def.db, r->number, f, es);
			if (t->err)
				return t->err;
			v = e ? e + FP_SIZE : NULL;
		}
	}
	if (!v)
		return PL_ENOTFOUND;
	memcpy(value, v, vs);
	return PL_OK;
}

void index_prefetch(const struct index *ix, int kind, const struct fp *f)
{
	const struct index_kind *k = &ix->kinds[kind];
	memtable_prefetch(&k->active, f);
	if (ix->frozen)
		memtable_prefetch(&k->frozen, f);
	bloom_prefetch(&ix->bloom, f);
}

/* Records what f had in the active table, so the transaction can be undone. */
static int remember(struct index *ix, int kind, const struct fp *f)
{
	if (!ix->in_txn)
		return PL_OK;
	size_t vs = ix->kinds[kind].def.value_size;
	size_t need = 2 + FP_SIZE + vs + 1;
	if (ix->undo_len + need > ix->undo_cap) {
		size_t cap = ix->undo_cap ? ix->undo_cap * 2 : 65536;
		while (cap < ix->undo_len + need)
			cap *= 2;
		uint8_t *grown = realloc(ix->undo, cap);
		if (!grown)
			return PL_ENOMEM;
		ix->undo = grown;
		ix->undo_cap = cap;
	}
	uint8_t *r = ix->undo + ix->undo_len;
	const uint8_t *old = memtable_get(&ix->kinds[kind].active, f);
	r[0] = (uint8_t)kind;
	r[1] = old != NULL;
	memcpy(r + 2, f->b, FP_SIZE);
	size_t len = 2 + FP_SIZE;
	if (old) {
		memcpy(r + len, old, vs);
		len += vs;
	}
	r[len] = (uint8_t)(len + 1); /* walked backwards by rewind */
	ix->undo_len += len + 1;
	return PL_OK;
}

int index_put(struct index *ix, int kind, const struct fp *f, const void *value)
{
	int rc = remember(ix, kind, f);
	if (rc == 0)
		rc = memtable_put(&ix->kinds[kind].active, f, value);
	if (rc == 0)
		bloom_add(&ix->bloom, f);
	return rc;
}

int index_unput(struct index *ix, int kind, const struct fp *f)
{
	int rc = remember(ix, kind, f);
	if (rc == 0)
		memtable_remove(&ix->kinds[kind].active, f);
	return rc;
}

size_t index_pending(const struct index *ix)
{
	size_t n = 0;
	for (size_t k = 0; k < ix->nkinds; k++)
		n += ix->kinds[k].active.count;
	return n;
}

/* ---- a first checkpoint loaded from sorted entries ---- */

int index_load_begin(struct index *ix, const size_t count[])
{
	if (ix->d.nruns || ix->frozen || index_pending(ix))
		return PL_EINVAL;
	for (size_t k = 0; k < ix->nkinds; k++)
		ix->d.flush_run[k] = count[k] ? ix->d.next_run++ : 0;
	return PL_OK;
}

/* Entries ahead whose filter blocks are asked for: a filter is read at random. */
#define LOAD_PREFETCH 16

int index_load_filters(struct index *ix, const uint8_t *const entries[], const size_t count[])
{
	uint64_t n = 0;
	for (size_t k = 0; k < ix->nkinds; k++)
		n += count[k];
	struct bloom all;
	int rc = bloom_init(&all, bloom_bytes_for(ix, n));
	if (rc)
		return rc;
	for (size_t k = 0; k < ix->nkinds; k++) {
		size_t es = entry_size(ix, (int)k);
		struct bloom *own = filtered(ix, k) && count[k]
					    ? run_filters_start(&ix->filters, ix->d.flush_run[k], count[k])
					    : NULL;
		for (size_t i = 0; i < count[k]; i++) {
			const struct fp *f = (const struct fp *)(entries[k] + i * es);
			if (i + LOAD_PREFETCH < count[k]) {
				const struct fp *ahead = (const struct fp *)(entries[k] + (i + LOAD_PREFETCH) * es);
				bloom_prefetch(&all, ahead);
				if (own)
					bloom_prefetch(own, ahead);
			}
			bloom_add(&all, f);
			if (own)
				bloom_add(own, f);
		}
	}
	bloom_deinit(&ix->bloom);
	ix->bloom = all;
	return PL_OK;
}

int index_load_write(struct index *ix, struct store_txn *t, int kind, const uint8_t *entries,
		     size_t count, size_t *done, size_t max_blocks)
{
	size_t es = entry_size(ix, kind), piece = count - *done;
	if (piece > max_blocks * run_block_entries(es))
		piece = max_blocks * run_block_entries(es);
	int rc = run_write(t, ix->kinds[kind].def.db, ix->d.flush_run[kind], true,
			   entries + *done * es, piece, es);
	if (rc == 0)
		*done += piece;
	return rc;
}

int index_load_finish(struct index *ix, struct store_txn *t, const size_t count[], uint64_t seq)
{
	ix->apart = false;
	for (size_t k = 0; k < ix->nkinds; k++) {
		if (!count[k])
			continue;
		if (ix->d.nruns == INDEX_MAX_RUNS)
			return store_txn_fail(t, PL_EINVAL);
		ix->d.runs[ix->d.nruns++] = (struct index_run){
			.number = ix->d.flush_run[k], .kind = (uint8_t)k, .tier = 0,
			.entries = count[k], .newest_part = ix->d.flush_run[k]};
	}
	ix->d.checkpoint_seq = seq;
	save_directory(ix, t);
	save_bloom(ix, t);
	return t->err;
}

/* ---- transactions ---- */

void index_txn_begin(struct index *ix)
{
	ix->undo_len = 0;
	ix->in_txn = true;
}

void index_txn_rewind(struct index *ix)
{
	while (ix->undo_len) {
		uint8_t len = ix->undo[ix->undo_len - 1];
		const uint8_t *r = ix->undo + ix->undo_len - len;
		struct memtable *m = &ix->kinds[r[0]].active;
		const struct fp *f = (const struct fp *)(r + 2);
		/* Restoring never needs more room than the table had then. */
		if (r[1])
			memtable_put(m, f, r + 2 + FP_SIZE);
		else
			memtable_remove(m, f);
		ix->undo_len -= len;
	}
}

void index_txn_end(struct index *ix, bool committed)
{
	if (!committed)
		index_txn_rewind(ix);
	ix->undo_len = 0;
	ix->in_txn = false;
}

void index_work_begin(struct index *ix)
{
	ix->saved = ix->d;
	ix->release_frozen = false;
	ix->merge_drained = false;
	ix->apart = true;
}

/* What a transaction of index_work_apart() changes: how far the work is. */
static void restore_progress(struct index_durable *d, const struct index_durable *saved)
{
	memcpy(d->flushed, saved->flushed, sizeof d->flushed);
	memcpy(d->merge_iter, saved->merge_iter, sizeof d->merge_iter);
	d->merge_written = saved->merge_written;
	d->ngarbage = saved->ngarbage;
	memcpy(d->garbage, saved->garbage, d->ngarbage * sizeof *d->garbage);
}

void index_work_rewind(struct index *ix)
{
	ix->release_frozen = false;
	ix->merge_drained = false;
	if (ix->apart) {
		/* Not the rest: lookups may be reading it meanwhile. */
		restore_progress(&ix->d, &ix->saved);
		return;
	}
	ix->d = ix->saved;
	ix->apart = true;
	/* A filter started in the transaction (a merge's planned output) must
	 * not stand for the next run given its number back. */
	prune_run_filters(ix);
}

void index_work_end(struct index *ix, bool committed)
{
	if (!committed)
		index_work_rewind(ix);
	if (committed && ix->release_frozen) {
		for (size_t k = 0; k < ix->nkinds; k++)
			memtable_clear(&ix->kinds[k].frozen);
		ix->frozen = false;
	}
	ix->release_frozen = false;
}

/* ---- checkpoints ---- */

bool index_should_freeze(const struct index *ix)
{
	return !ix->frozen && index_pending(ix) >= ix->opt.checkpoint_entries;
}

int index_freeze(struct index *ix, uint64_t seq)
{
	if (ix->frozen)
		return PL_EBUSY;
	for (size_t k = 0; k < ix->nkinds; k++) {
		struct index_kind *kd = &ix->kinds[k];
		/* The written-out table of the last checkpoint is empty: swap. */
		struct memtable emptied = kd->frozen;
		kd->frozen = kd->active;
		kd->active = emptied;
		/* Sized like the last one at once, rather than doubling its way there;
		 * without the memory it grows as it fills, as before. */
		(void)memtable_reserve(&kd->active, kd->frozen.count);
		kd->write_cursor = memtable_next(&kd->frozen, NULL);
		kd->written_at = 0;
		ix->d.flushed[k] = 0;
		ix->d.flush_run[k] = kd->frozen.count ? ix->d.next_run++ : 0;
	}
	ix->frozen_seq = seq;
	ix->frozen = true;
	return PL_OK;
}

static size_t runs_of(const struct index *ix, uint8_t kind, uint8_t tier, size_t *at, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < ix->d.nruns && n < max; i++)
		if (ix->d.runs[i].kind == kind && ix->d.runs[i].tier == tier)
			at[n++] = i;
	return n;
}

/* Starts merging the oldest runs of the lowest tier that has enough. */
static void plan_merge(struct index *ix)
{
	if (ix->d.merging)
		return;
	for (uint8_t kind = 0; kind < ix->nkinds; kind++) {
		size_t width = ix->kinds[kind].def.mostly_missed ? INDEX_WIDE_MERGE_WIDTH
								 : INDEX_MERGE_WIDTH;
		for (uint8_t tier = 0; tier < 16; tier++) {
			size_t at[INDEX_WIDE_MERGE_WIDTH];
			if (runs_of(ix, kind, tier, at, width) < width)
				continue;
			ix->d.merging = true;
			ix->d.merge_kind = kind;
			ix->d.merge_tier = tier;
			ix->d.merge_width = (uint8_t)width;
			ix->d.merge_out = ix->d.next_run++;
			ix->d.merge_written = 0;
			uint64_t entries = 0;
			for (size_t i = 0; i < width; i++) {
				ix->d.merge_src[i] = ix->d.runs[at[i]].number;
				run_iter_init(&ix->d.merge_iter[i], ix->d.merge_src[i],
					      entry_size(ix, kind));
				entries += ix->d.runs[at[i]].entries;
			}
			if (filtered(ix, kind))
				(void)run_filters_start(&ix->filters, ix->d.merge_out, entries);
			return;
		}
	}
}

/* Bytes of the runs the stored filter does not cover: what loading it would read. */
static uint64_t uncovered_bytes(const struct index *ix)
{
	uint64_t bytes = 0;
	for (size_t i = 0; i < ix->d.nruns; i++) {
		const struct index_run *r = &ix->d.runs[i];
		if (r->newest_part >= ix->d.bloom_covers_below)
			bytes += r->entries * entry_size(ix, r->kind);
	}
	return bytes;
}

/* Stores the filter when loading it would read too much of the runs again. */
static void maybe_save_bloom(struct index *ix, struct store_txn *t)
{
	if (grow_bloom(ix, t) == 0 &&
	    (ix->d.bloom_stored_bytes != bloom_size(&ix->bloom) ||
	     uncovered_bytes(ix) / BLOOM_SAVE_RATIO >= bloom_size(&ix->bloom)))
		save_bloom(ix, t);
}

/* The frozen tables are written: make them the checkpoint. */
static void finish_checkpoint(struct index *ix, struct store_txn *t)
{
	for (size_t k = 0; k < ix->nkinds; k++) {
		if (!ix->kinds[k].frozen.count)
			continue;
		if (ix->d.nruns == INDEX_MAX_RUNS) {
			store_txn_fail(t, PL_EINVAL);
			return;
		}
		ix->d.runs[ix->d.nruns++] = (struct index_run){
			.number = ix->d.flush_run[k], .kind = (uint8_t)k, .tier = 0,
			.entries = ix->kinds[k].frozen.count, .newest_part = ix->d.flush_run[k]};
		filter_frozen(ix, k);
	}
	ix->d.checkpoint_seq = ix->frozen_seq;
	plan_merge(ix);
	prune_run_filters(ix);
	save_directory(ix, t);
	maybe_save_bloom(ix, t);
	ix->release_frozen = true;
}

/* Whether every frozen entry is in its run. */
static bool frozen_written(const struct index *ix)
{
	for (size_t k = 0; k < ix->nkinds; k++)
		if (ix->d.flushed[k] < ix->kinds[k].frozen.count)
			return false;
	return true;
}

/* The frozen entry numbered n: the cursor, or (after a rewind) found again. */
static const uint8_t *frozen_entry(struct index_kind *kd, size_t n)
{
	if (kd->written_at != n) {
		kd->write_cursor = memtable_next(&kd->frozen, NULL);
		for (kd->written_at = 0; kd->written_at < n; kd->written_at++)
			kd->write_cursor = memtable_next(&kd->frozen, kd->write_cursor);
	}
	return kd->write_cursor;
}

static int write_frozen(struct index *ix, struct store_txn *t, size_t *budget, bool may_finish)
{
	for (size_t k = 0; k < ix->nkinds && *budget && !t->err; k++) {
		struct index_kind *kd = &ix->kinds[k];
		size_t es = kd->frozen.entry_size, per_block = run_block_entries(es);
		const uint8_t *e = frozen_entry(kd, ix->d.flushed[k]);
		for (; e && *budget && !t->err; (*budget)--) {
			uint8_t block[RUN_BLOCK_BYTES];
			size_t n = 0;
			for (; e && n < per_block; e = memtable_next(&kd->frozen, e))
				memcpy(block + n++ * es, e, es);
			/* Numbered at the freeze, and written before any merge
			 * planned later: the newest of its kind. */
			run_write(t, kd->def.db, ix->d.flush_run[k], true, block, n, es);
			ix->d.flushed[k] += n;
		}
		kd->write_cursor = e;
		kd->written_at = ix->d.flushed[k];
	}
	if (t->err)
		return t->err;
	if (!frozen_written(ix) || !may_finish)
		return PL_OK;
	finish_checkpoint(ix, t);
	return t->err;
}

/* ---- merges ---- */

static int seek_sources(struct index *ix, struct store_txn *t, enum store_db db)
{
	for (size_t i = 0; i < ix->d.merge_width; i++)
		if (run_iter_seek(&ix->d.merge_iter[i], t, db))
			return t->err;
	return PL_OK;
}

/* The merge is written: the new run takes the place of its sources. */
static void finish_merge(struct index *ix, struct store_txn *t)
{
	size_t out = 0, newest = 0;
	uint32_t newest_part = 0;
	struct index_run *runs = ix->d.runs;
	for (size_t i = 0; i < ix->d.nruns; i++) {
		bool source = false;
		for (size_t s = 0; s < ix->d.merge_width; s++)
			source |= runs[i].kind == ix->d.merge_kind && runs[i].number == ix->d.merge_src[s];
		if (!source) {
			runs[out++] = runs[i];
			continue;
		}
		newest = out; /* the output goes where its newest source was */
		if (runs[i].newest_part > newest_part)
			newest_part = runs[i].newest_part;
		if (ix->d.ngarbage < INDEX_MAX_RUNS)
			ix->d.garbage[ix->d.ngarbage++] = runs[i];
	}
	memmove(&runs[newest + 1], &runs[newest], (out - newest) * sizeof *runs);
	runs[newest] = (struct index_run){.number = ix->d.merge_out, .kind = ix->d.merge_kind,
					  .tier = (uint8_t)(ix->d.merge_tier + 1),
					  .entries = ix->d.merge_written,
					  .newest_part = newest_part};
	ix->d.nruns = out + 1;
	ix->d.merging = false;
	plan_merge(ix);
	/* Undone, this leaves the sources without filters: read, as before. */
	prune_run_filters(ix);
	save_directory(ix, t);
	maybe_save_bloom(ix, t);
}

/* Whether a checkpoint came in while this merge was under way: its runs
 * are numbered above the merge's output, which can no longer be appended. */
static bool merge_overtaken(const struct index *ix)
{
	for (size_t i = 0; i < ix->d.nruns; i++)
		if (ix->d.runs[i].kind == ix->d.merge_kind && ix->d.runs[i].number > ix->d.merge_out)
			return true;
	return false;
}

static int merge_some(struct index *ix, struct store_txn *t, size_t *budget, bool may_finish)
{
	const struct index_kind_def *def = &ix->kinds[ix->d.merge_kind].def;
	size_t es = FP_SIZE + def->value_size, per_block = run_block_entries(es);
	uint8_t block[RUN_BLOCK_BYTES];
	/* Started with the merge; none when it was resumed after a restart. */
	struct bloom *filter = run_filters_of(&ix->filters, ix->d.merge_out);
	if (seek_sources(ix, t, def->db))
		return t->err;
	for (; *budget; (*budget)--) {
		size_t n = 0;
		while (n < per_block) {
			/* The smallest fingerprint; of equal ones, the newest source's. */
			const uint8_t *best = NULL;
			for (size_t i = 0; i < ix->d.merge_width; i++) {
				const uint8_t *e = run_iter_entry(&ix->d.merge_iter[i]);
				if (e && (!best || fp_cmp_at(e, best) <= 0))
					best = e;
			}
			if (!best)
				break;
			memcpy(block + n++ * es, best, es);
			const uint8_t *key = block + (n - 1) * es;
			for (size_t i = 0; i < ix->d.merge_width; i++) {
				const uint8_t *e = run_iter_entry(&ix->d.merge_iter[i]);
				if (e && fp_cmp_at(e, key) == 0 &&
				    run_iter_next(&ix->d.merge_iter[i], t, def->db))
					return t->err;
			}
		}
		if (n == 0 && !may_finish) {
			ix->merge_drained = true;
			return PL_OK;
		}
		if (n == 0) {
			finish_merge(ix, t);
			return t->err;
		}
		run_write(t, def->db, ix->d.merge_out, !merge_overtaken(ix), block, n, es);
		if (filter)
			for (size_t i = 0; i < n; i++)
				bloom_add(filter, (const struct fp *)(block + i * es));
		ix->d.merge_written += n;
		/* The write may have moved pages the sources' blocks were read from. */
		if (t->err || seek_sources(ix, t, def->db))
			return t->err;
	}
	return PL_OK;
}

/* ---- deletion ---- */

static int delete_some(struct index *ix, struct store_txn *t, size_t *budget)
{
	struct index_run *r = &ix->d.garbage[0];
	bool done;
	if (run_delete(t, ix->kinds[r->kind].def.db, r->number, *budget, &done))
		return t->err;
	*budget = 0;
	if (done)
		memmove(r, r + 1, --ix->d.ngarbage * sizeof *r);
	return PL_OK;
}

bool index_has_work(const struct index *ix)
{
	return ix->frozen || ix->d.merging || ix->d.ngarbage;
}

static int work(struct index *ix, struct store_txn *t, size_t max_blocks, bool may_finish)
{
	size_t budget = max_blocks ? max_blocks : 1;
	ix->apart = ix->apart && !may_finish;
	if (ix->frozen && !ix->release_frozen)
		return write_frozen(ix, t, &budget, may_finish);
	if (ix->d.merging)
		return merge_some(ix, t, &budget, may_finish);
	if (ix->d.ngarbage)
		return delete_some(ix, t, &budget);
	return PL_OK;
}

int index_work(struct index *ix, struct store_txn *t, size_t max_blocks)
{
	return work(ix, t, max_blocks, true);
}

int index_work_apart(struct index *ix, struct store_txn *t, size_t max_blocks)
{
	return work(ix, t, max_blocks, false);
}

bool index_finish_due(const struct index *ix)
{
	if (ix->frozen && !ix->release_frozen)
		return frozen_written(ix);
	return ix->d.merging && ix->merge_drained;
}

/* ---- reading everything ---- */

int index_each(struct index *ix, struct store_txn *t, int kind,
	       int (*fn)(const struct fp *f, const void *value, void *arg), void *arg)
{
	struct index_kind *kd = &ix->kinds[kind];
	size_t es = kd->active.entry_size;
	/* Sources newest first: the active table, the frozen one, the runs. */
	const uint8_t *active = memtable_next(&kd->active, NULL);
	const uint8_t *frozen = ix->frozen ? memtable_next(&kd->frozen, NULL) : NULL;
	struct run_iter iters[INDEX_MAX_RUNS];
	size_t nruns = 0;
	for (size_t i = ix->d.nruns; i-- > 0;) {
		if (ix->d.runs[i].kind != kind)
			continue;
		run_iter_init(&iters[nruns], ix->d.runs[i].number, es);
		if (run_iter_seek(&iters[nruns++], t, kd->def.db))
			break;
	}
	int rc = t->err;
	while (rc == 0) {
		const uint8_t *best = active, *e;
		if (frozen && (!best || fp_cmp_at(frozen, best) < 0))
			best = frozen;
		for (size_t i = 0; i < nruns; i++) {
			e = run_iter_entry(&iters[i]);
			if (e && (!best || fp_cmp_at(e, best) < 0))
				best = e;
		}
		if (!best)
			break;
		uint8_t entry[FP_SIZE + INDEX_MAX_VALUE];
		memcpy(entry, best, es);
		/* Skip every older copy of this fingerprint. */
		if (active && fp_cmp_at(active, entry) == 0)
			active = memtable_next(&kd->active, active);
		if (frozen && fp_cmp_at(frozen, entry) == 0)
			frozen = memtable_next(&kd->frozen, frozen);
		for (size_t i = 0; i < nruns && rc == 0; i++) {
			e = run_iter_entry(&iters[i]);
			if (e && fp_cmp_at(e, entry) == 0)
				rc = run_iter_next(&iters[i], t, kd->def.db);
		}
		if (rc == 0)
			rc = fn((const struct fp *)entry, entry + FP_SIZE, arg);
	}
	return rc;
}
