/*
 * index.h — the state index: fingerprint → small fixed-size value, for the
 * state that rules need but readers do not (event ids, pledges, supporters,
 * comment ids, campaign totals), kept so that writing it costs about its
 * own bytes.
 *
 * A log-structured merge tree on LMDB. Changes go to an in-memory table per
 * kind (memtable.h); when the tables hold checkpoint_entries entries they
 * are frozen and written out, a few hundred blocks per transaction, as
 * sorted runs (runs.h), and a checkpoint records the log position they
 * reflect. Runs are merged four at a time into larger ones (eight for a
 * kind whose lookups mostly miss), so a lookup visits a bounded number of
 * runs; a Bloom filter (bloom.h) answers most lookups of new ids without
 * any, and a filter per run (run_filters.h) lets a lookup that finds its
 * key skip the newer runs that do not hold it. Memory is bounded by the
 * settings: two tables' worth of entries (the active one and the one being
 * written) and the filters.
 *
 * Nothing between two checkpoints is on disk: after a crash the caller
 * applies the log from index_checkpoint_seq() on again (the log is the
 * truth, this is a cache of it). A run becomes visible only when the
 * directory in META names it, in the transaction that writes its last
 * block, so a crash mid-write leaves an orphan run that index_open()
 * schedules for deletion. One process at a time may write an index.
 *
 * Transactions: the caller brackets every write transaction that changes
 * the tables (index_put, index_unput) with index_txn_begin() and
 * index_txn_end(), and every one of the index's own work (index_work,
 * index_load_finish) with index_work_begin() and index_work_end(); one
 * that is run again (map growth) calls the rewind first. A transaction
 * that does not commit leaves the index as it was.
 *
 * Threads: one thread looks up and changes the tables (the writer), and
 * may leave the work to another (an upkeep). index_work_apart() changes
 * nothing a lookup reads, so it may run beside index_get(),
 * index_prefetch(), index_put() and index_unput(), bracketed by its own
 * index_work_begin/end. Everything else must not: the caller keeps the
 * two apart.
 */
#ifndef INDEX_H
#define INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bloom.h"
#include "fp.h"
#include "memtable.h"
#include "run_filters.h"
#include "runs.h"
#include "store.h"

#define INDEX_MAX_KINDS 8
#define INDEX_MAX_RUNS 256
#define INDEX_MAX_VALUE 64
#define INDEX_MERGE_WIDTH 4      /* runs of one tier merged into one of the next */
#define INDEX_WIDE_MERGE_WIDTH 8 /* the same, for a kind whose lookups mostly miss */

struct index_kind_def {
	const char *name;  /* for messages */
	enum store_db db;  /* the database of its runs */
	size_t value_size; /* at most INDEX_MAX_VALUE */
	/* Lookups of this kind are mostly of ids that must be new, which the
	 * Bloom filter answers without reading a run: its runs are merged
	 * INDEX_WIDE_MERGE_WIDTH at a time, so an entry is rewritten by fewer
	 * tiers, and the few lookups that find one visit more runs. */
	bool mostly_missed;
};

struct index_options {
	size_t checkpoint_entries; /* freeze the tables at this many entries; 0: 1000000 */
	size_t bloom_bytes;        /* the filter's largest size; 0: 32 MiB */
	size_t run_filter_bytes;   /* all runs' own filters (run_filters.h); 0: 64 MiB */
};

struct index_run {
	uint32_t number;
	uint8_t kind;
	uint8_t tier; /* 0 for a checkpoint's run, t+1 for a merge of tier t */
	uint64_t entries;
	/* The newest checkpoint's run among the ones it holds the entries of
	 * (its own number for a checkpoint's run): a merge adds no key, so a
	 * filter that covers its sources covers it. */
	uint32_t newest_part;
};

/* What the index has on disk and the work under way across transactions. */
struct index_durable {
	uint64_t checkpoint_seq; /* every event up to it is in the runs */
	uint32_t next_run;
	size_t nruns;
	struct index_run runs[INDEX_MAX_RUNS]; /* oldest data first */

	size_t flushed[INDEX_MAX_KINDS]; /* frozen entries written so far */
	uint32_t flush_run[INDEX_MAX_KINDS];

	bool merging;
	uint8_t merge_kind;
	uint8_t merge_tier;
	uint8_t merge_width;
	uint32_t merge_src[INDEX_WIDE_MERGE_WIDTH];
	struct run_iter merge_iter[INDEX_WIDE_MERGE_WIDTH];
	uint32_t merge_out;
	uint64_t merge_written;

	size_t ngarbage;
	struct index_run garbage[INDEX_MAX_RUNS]; /* runs to delete */

	/* The stored filter: its size (0: none), and the checkpoints' runs
	 * (newest_part) it holds the keys of, those numbered below this one. */
	size_t bloom_stored_bytes;
	uint32_t bloom_covers_below;
};

struct index_kind {
	struct index_kind_def def;
	struct memtable active;
	/* The table being written while ix->frozen: the active one of the last
	 * checkpoint, swapped out (and its memory reused) rather than copied,
	 * so lookups in it cost what lookups in the active one do. */
	struct memtable frozen;
	/* Where writing it stands: the entry numbered written_at, in order. */
	const uint8_t *write_cursor;
	size_t written_at;
};

struct index {
	char name[32]; /* META key "index.NAME" and BLOOMS key */
	size_t nkinds;
	struct index_kind kinds[INDEX_MAX_KINDS];
	struct index_options opt;
	struct bloom bloom;
	struct run_filters filters; /* of the runs of kinds not mostly_missed */
	uint64_t run_reads;         /* lookups in a run since open */
	struct index_durable d;
	uint64_t frozen_seq; /* the checkpoint the frozen tables make */
	bool frozen;

	/* The open transaction's undo of the tables (index_txn_begin). */
	uint8_t *undo;
	size_t undo_len, undo_cap;
	bool in_txn;

	/* The open work transaction's (index_work_begin): the directory as it
	 * was, and whether the transaction did only what lookups do not see. */
	struct index_durable saved;
	bool apart;
	bool release_frozen; /* the frozen tables are on disk once this commits */
	bool merge_drained;  /* the merge has written everything; its finish is due */
};

/*
 * Opens the index called name (loading its directory and filter, or
 * starting empty) within t, which may be read-only. Runs on disk that the
 * directory does not name are scheduled for deletion. 0 or an error.
 */
int index_open(struct index *ix, struct store_txn *t, const char *name,
	       const struct index_kind_def *kinds, size_t nkinds, const struct index_options *opt);
void index_close(struct index *ix);

/*
 * The entries of each kind in the runs of the index called name, of nkinds
 * kinds, into entries[]: what another index of the same kinds built from
 * the same log will come to hold, for index_expect(). 0 or an error.
 */
int index_entries_of(struct store_txn *t, const char *name, size_t nkinds, uint64_t *entries);

/*
 * Sizes an empty index that is about to be filled from a whole log (a
 * rebuild) for entries[k] entries of each kind in all: each table at once
 * as large as it grows by the first checkpoint, rather than doubling and
 * spreading its entries on the way there, and the filter as large as it
 * grows, rather than made again from the runs at each doubling. Without
 * the memory, they grow as they fill, as before.
 */
void index_expect(struct index *ix, const uint64_t *entries);

/* Every event up to this log position is on disk. */
static inline uint64_t index_checkpoint_seq(const struct index *ix)
{
	return ix->d.checkpoint_seq;
}

/* Copies the value of f into value (the kind's size): 0, PL_ENOTFOUND or an error. */
int index_get(struct index *ix, struct store_txn *t, int kind, const struct fp *f, void *value);
/*
 * Asks the CPU to bring what a lookup of f will read into the cache (its
 * slots in the tables, its block of the filter): callers that know the keys
 * of the next few events ask early, so those lookups overlap rather than
 * each waiting for memory in turn.
 */
void index_prefetch(const struct index *ix, int kind, const struct fp *f);
/* Sets the value of f. 0 or PL_ENOMEM. */
int index_put(struct index *ix, int kind, const struct fp *f, const void *value);
/* Takes back a value set since the last checkpoint (an id claimed by an event
 * then refused). 0, or PL_ENOMEM when the transaction could not note how to
 * undo it: the value is then still set, and the transaction must fail. */
int index_unput(struct index *ix, int kind, const struct fp *f);

/* Entries changed since the last freeze. */
size_t index_pending(const struct index *ix);

/* Whether the active tables are full enough to be frozen (and none are frozen now). */
bool index_should_freeze(const struct index *ix);
/*
 * Freezes the active tables as the checkpoint of log position seq (every
 * event up to seq is applied, none after). PL_EBUSY while a freeze is being
 * written, PL_ENOMEM.
 */
int index_freeze(struct index *ix, uint64_t seq);

/* Whether there is writing, merging or deleting to do. */
bool index_has_work(const struct index *ix);
/*
 * Does a bounded share of that work (about max_blocks blocks of 4 KiB) in
 * the write transaction t: the frozen tables first, then a merge, then
 * deletions. 0 or the transaction's error.
 */
int index_work(struct index *ix, struct store_txn *t, size_t max_blocks);
/*
 * The same, short of the step that makes written runs the ones lookups
 * read (a checkpoint's or a merge's finish): blocks of runs, and
 * deletions. Once index_finish_due(), only index_work() goes on.
 */
int index_work_apart(struct index *ix, struct store_txn *t, size_t max_blocks);
bool index_finish_due(const struct index *ix);

/*
 * A first checkpoint loaded from sorted entries rather than written from
 * the tables: for an index with nothing in its tables nor on disk, filled
 * from a whole log at once (a bulk rebuild). entries[k] holds count[k]
 * entries of kind k (FP_SIZE + its value size each), sorted by
 * fingerprint.
 *   index_load_begin     numbers each kind's run (memory only);
 *   index_load_filters   makes the Bloom filter and the runs' own filters
 *                        of them (memory only: any thread, while nothing
 *                        else uses the index);
 *   index_load_write     writes up to max_blocks blocks of kind's run from
 *                        entry *done on, in the caller's transaction;
 *   index_load_finish    in the transaction that follows the last write
 *                        (bracketed by index_work_begin/end), makes them
 *                        the checkpoint of log position seq.
 * A crash before the finish leaves orphan runs, deleted as any.
 */
int index_load_begin(struct index *ix, const size_t count[]);
int index_load_filters(struct index *ix, const uint8_t *const entries[], const size_t count[]);
int index_load_write(struct index *ix, struct store_txn *t, int kind, const uint8_t *entries,
		     size_t count, size_t *done, size_t max_blocks);
int index_load_finish(struct index *ix, struct store_txn *t, const size_t count[], uint64_t seq);

/* Write transactions: see the file comment. */
void index_txn_begin(struct index *ix);
void index_txn_rewind(struct index *ix);
void index_txn_end(struct index *ix, bool committed);
void index_work_begin(struct index *ix);
void index_work_rewind(struct index *ix);
void index_work_end(struct index *ix, bool committed);

/*
 * Calls fn for every entry of kind in fingerprint order, each with its
 * newest value, from the tables in memory and the runs in t (the index's
 * whole content). fn returns 0 to go on, non-zero to stop with it; it
 * must not change the index.
 */
int index_each(struct index *ix, struct store_txn *t, int kind,
	       int (*fn)(const struct fp *f, const void *value, void *arg), void *arg);

#endif
