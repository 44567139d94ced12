/*
 * runs.h — sorted runs of entries (fingerprint + fixed-size value) in an
 * LMDB database, written once and read many times (the state index's
 * on-disk part, index.h).
 *
 * A run is a numbered, immutable sequence of entries sorted by fingerprint,
 * packed into blocks of one LMDB overflow page each: key = run number
 * (4 bytes, big-endian) + the block's first fingerprint, value = its
 * entries. A new run has the highest number in its database, so its blocks
 * are appended (MDB_APPEND) and fill their pages: writing an entry costs
 * its own bytes, not a page. Finding an entry is one descent to its block
 * and a binary search inside it.
 */
#ifndef RUNS_H
#define RUNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fp.h"
#include "store.h"

/* Bytes of entries in a block: one overflow page, less its header. */
#define RUN_BLOCK_BYTES 4080

/* Entries per block for entries of entry_size bytes. */
static inline size_t run_block_entries(size_t entry_size)
{
	return RUN_BLOCK_BYTES / entry_size;
}

/*
 * Writes entries[0..count) (sorted, entry_size each) as blocks of run, in
 * the caller's write transaction. count is a multiple of
 * run_block_entries() except for the run's last piece, so a run can be
 * written over several transactions. newest: no run numbered above this
 * one has blocks in db, so they can be appended. Returns the transaction's
 * error.
 */
int run_write(struct store_txn *t, enum store_db db, uint32_t run, bool newest,
	      const uint8_t *entries, size_t count, size_t entry_size);

/*
 * The entry with fingerprint f in run, or NULL (absent, or an error: see
 * t->err). Points into the transaction's pages.
 */
const uint8_t *run_lookup(struct store_txn *t, enum store_db db, uint32_t run, const struct fp *f,
			  size_t entry_size);

/* Deletes up to max_blocks blocks of run; *done when none is left. */
int run_delete(struct store_txn *t, enum store_db db, uint32_t run, size_t max_blocks, bool *done);

/* Calls fn(run, arg) for each run number that has blocks in db, ascending. */
int run_each_number(struct store_txn *t, enum store_db db, void (*fn)(uint32_t run, void *arg),
		    void *arg);

/*
 * A position in a run, kept across transactions: the block (by its first
 * fingerprint) and the entry in it. run_iter_seek() reads the block in the
 * current transaction; pointers last until that transaction ends.
 */
struct run_iter {
	uint32_t run;
	size_t entry_size;
	struct fp block_first;
	size_t index;
	bool started, done;
	const uint8_t *block; /* current block, or NULL before seek */
	size_t count;         /* entries in it */
};

/* Starts at the first entry of run. */
void run_iter_init(struct run_iter *it, uint32_t run, size_t entry_size);
/* Reads the iterator's block in this transaction. */
int run_iter_seek(struct run_iter *it, struct store_txn *t, enum store_db db);
/* The current entry, or NULL at the end. After run_iter_seek only. */
static inline const uint8_t *run_iter_entry(const struct run_iter *it)
{
	return it->done ? NULL : it->block + it->index * it->entry_size;
}
/* Moves to the next entry, reading the next block when needed. */
int run_iter_next(struct run_iter *it, struct store_txn *t, enum store_db db);

#endif
