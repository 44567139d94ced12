/*
 * store.h — the LMDB environment behind a data directory, and transactions
 * with a sticky error.
 *
 * Every named database of the data dir is listed in STORE_DBS below: that
 * list is the on-disk layout. A store_txn remembers its first error; every
 * later operation on it does nothing, and commit turns into abort, so
 * callers can write a straight line of puts and check once at the end.
 *
 * Map growth: LMDB refuses mdb_env_set_mapsize() while any transaction of the
 * process is open. Readers therefore hold a shared lock for the life of a
 * read transaction, and store_grow() takes it exclusively; writers retry
 * their whole transaction after growing (store_run_write()). So a thread
 * must never open a transaction while it holds another one.
 */
#ifndef STORE_H
#define STORE_H

#include <lmdb.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

/*
 * Named databases: X(ENUM, "name", flags). The log, its offsets and the
 * rejections exist once. Everything derived from the log exists in two
 * slots, a and b: the projections readers see (campaigns, totals,
 * comments) and the runs of the state index (index.h) with the event ids
 * and the rules' state. One slot is live; a rebuild fills the other and
 * swaps (META says which is live). BLOOMS holds the state index's filters.
 * A slot's history keeps each campaign under one key, its rows as sorted
 * duplicates, and the rows of campaigns a move brings few of in runs
 * (proj_history_runs.h); it and the comments are written behind
 * (proj_staged.h).
 */
#define STORE_SLOT_DBS(X, S, s)                                          \
	X(S##_CAMPAIGNS, s ".campaigns", 0)                              \
	X(S##_TOTALS, s ".totals", 0)                                    \
	X(S##_COMMENTS, s ".comments", 0)                                \
	X(S##_EVENT_IDS, s ".runs.event_ids", 0)                         \
	X(S##_CAMPAIGN_STATE, s ".runs.campaigns", 0)                    \
	X(S##_PLEDGES, s ".runs.pledges", 0)                             \
	X(S##_SUPPORTERS, s ".runs.supporters", 0)                       \
	X(S##_COMMENT_IDS, s ".runs.comment_ids", 0)                    \
	X(S##_HISTORY, s ".campaign_history", MDB_DUPSORT)               \
	X(S##_HISTORY_STAGED, s ".history_staged", 0)                    \
	X(S##_PLATFORM, s ".platform", 0)                                \
	X(S##_BACKERS, s ".runs.backers", 0)                             \
	X(S##_BY_RAISED, s ".by_raised", 0)                              \
	X(S##_BY_OPENED, s ".by_opened", 0)                              \
	X(S##_BY_CLOSING, s ".by_closing", 0)                            \
	X(S##_COMMENTS_STAGED, s ".comments_staged", 0)                  \
	X(S##_HISTORY_RUNS, s ".history_runs", 0)

#define STORE_DBS(X)                         \
	X(META, "meta", 0)                   \
	X(LOG, "log", 0)                     \
	X(OFFSETS, "offsets", 0)             \
	X(REJECTIONS, "rejections", 0)       \
	X(BLOOMS, "blooms", 0)               \
	STORE_SLOT_DBS(X, A, "a")            \
	STORE_SLOT_DBS(X, B, "b")

enum store_db {
#define STORE_DB_ENUM(e, name, flags) STORE_DB_##e,
	STORE_DBS(STORE_DB_ENUM)
#undef STORE_DB_ENUM
	STORE_DB_COUNT
};

/* The tables of a slot, in the order of STORE_SLOT_DBS. */
enum store_slot_table {
	SLOT_CAMPAIGNS,
	SLOT_TOTALS,
	SLOT_COMMENTS,
	SLOT_EVENT_IDS,
	SLOT_CAMPAIGN_STATE,
	SLOT_PLEDGES,
	SLOT_SUPPORTERS,
	SLOT_COMMENT_IDS,
	SLOT_HISTORY,
	SLOT_HISTORY_STAGED,
	SLOT_PLATFORM,
	SLOT_BACKERS,
	SLOT_BY_RAISED,
	SLOT_BY_OPENED,
	SLOT_BY_CLOSING,
	SLOT_COMMENTS_STAGED,
	SLOT_HISTORY_RUNS,
	SLOT_TABLE_COUNT
};

enum store_slot { STORE_SLOT_A, STORE_SLOT_B };

/* The database of a slot's table. */
static inline enum store_db store_slot_db(enum store_slot slot, enum store_slot_table table)
{
	_Static_assert(STORE_DB_B_CAMPAIGNS - STORE_DB_A_CAMPAIGNS == SLOT_TABLE_COUNT,
		       "STORE_SLOT_DBS must list the slot tables in store_slot_table order");
	return (enum store_db)(STORE_DB_A_CAMPAIGNS + (int)slot * SLOT_TABLE_COUNT + (int)table);
}

/* "a" or "b". */
static inline const char *store_slot_name(enum store_slot slot)
{
	return slot == STORE_SLOT_A ? "a" : "b";
}

/* The on-disk format this build reads and writes. */
#define STORE_FORMAT 7

/* Name of a database, for messages and diffs. */
const char *store_db_name(enum store_db db);

struct store_options {
	size_t initial_map_size; /* bytes; 0 means 64 MiB */
	bool create;             /* create the directory and layout if missing */
	bool no_sync;            /* skip fsync at commit (tests, benchmarks only) */
	bool old_format;         /* open a dir of an older format too (for `pledged upgrade`) */
	bool read_only;          /* never write: read transactions only (MDB_RDONLY). On a
				  * read-only file system, or files this user may not
				  * write, LMDB then keeps no reader table, which is safe
				  * only while nothing writes the files. */
	bool dir_locked;         /* the caller holds store_lock_dir(dir, true) (compact) */
};

struct store;

/*
 * Opens (or with opt->create, creates) the data directory dir.
 * Errors: PL_ENOTFOUND (no data dir and not create), PL_EFOREIGN (not a
 * pledged data dir, or one of its store_dir_files is not a regular file:
 * a link, a directory), PL_EUPGRADE (an older format: `pledged upgrade`),
 * PL_ENEWER (a newer format), PL_ECORRUPT (an LMDB file that is damaged or
 * shorter than its own metadata says, or one that lost pledged's layout in
 * a dir that held a store), PL_EBUSY (compact holds the directory's lock:
 * store_lock_dir()), PL_ELOCKGONE (lock.mdb is missing while another
 * process holds the directory's lock: found after waiting up to 2 s for it
 * to appear; or cut short or refused by LMDB while another process has it
 * open), PL_EIO.
 */
int store_open(struct store **out, const char *dir, const struct store_options *opt);

/*
 * The data directory's own lock (flock on the directory): every store_open()
 * holds it shared for as long as the store is open; `pledged compact` holds
 * it exclusively from before its copy until the copy has replaced data.mdb,
 * since a process that opened the data dir in between would keep reading the
 * old file, deleted, and never see another write. Commands also hold it
 * shared on a scratch or partial dir they made, and a sweep exclusively
 * while it removes one. PL_EBUSY when held the other way; *fd is -1 then,
 * or when dir may not be read (nothing to share); store_unlock_dir()
 * releases it.
 */
int store_lock_dir(const char *dir, bool exclusive, int *fd);

/*
 * store_lock_dir(dir, true) for a sweep that found dir with lstat() as
 * *seen: never through a link, and only the directory seen (a swap in
 * between is refused, PL_EBUSY). Remove it with store_remove_dir_locked.
 */
int store_lock_dir_seen(const char *dir, const struct stat *seen, int *fd);
void store_unlock_dir(int fd);

/*
 * The lock store_open() takes (store_lock_dir, shared), made sure that
 * lock.mdb is one for every process. LMDB's write lock and its table of
 * readers live in lock.mdb. One removed while other processes have the
 * data dir open (a "stale lock" cleaned up by hand) would be made anew by
 * the next open, and that process and they would then write at once, each
 * under a lock the others do not see, and reuse pages the others still
 * read: the store would be damaged. So an open that would make lock.mdb
 * takes the lock exclusively (*exclusive), which it gets only when no
 * other process holds the data dir, and keeps it until LMDB has made
 * lock.mdb (store_lock_dir_shared). Two such openers take turns: the
 * second waits for the lock, or for lock.mdb, up to 2 s. PL_ELOCKGONE when
 * lock.mdb is still missing then and others hold the dir shared; PL_EBUSY
 * when held exclusively (compact); *fd -1 when dir may not be read.
 */
int store_lock_dir_to_open(const char *dir, int *fd, bool *exclusive);
/* From exclusive to shared (fd -1: nothing). 0 or PL_EIO. */
int store_lock_dir_shared(int fd);

/* The format of the open data dir: STORE_FORMAT, or an older one when opened with old_format. */
int store_format(const struct store *st);


/*
 * Called instead of LMDB's abort() when LMDB finds its own pages damaged
 * (a failed internal assertion): the CLI prints what to do and exits.
 */
void store_set_damage_handler(void (*fn)(const char *what));

/*
 * Where LMDB's machine code lies in memory ([*lo, *hi)), so that a crash
 * signal can tell a crash inside LMDB (which trusts every page it reads: a
 * damaged one can send it astray) from one of pledged's own. false when it
 * cannot be told apart (LMDB linked into the program itself).
 */
bool store_lmdb_code(uintptr_t *lo, uintptr_t *hi);

/*
 * Whether a copy (store_copy) is under way. LMDB's compacting copy walks
 * every tree and trusts each page: on a damaged one it may write astray
 * and crash in libc (memmove, or malloc's own checks) rather than in
 * LMDB. Safe to call in a signal handler.
 */
bool store_copying(void);
void store_close(struct store *st);

/* Current map size in bytes. */
size_t store_map_size(struct store *st);

/* The path of the data directory. */
const char *store_dir(const struct store *st);

/* Whether the data dir's file system has less than 8 MiB left for it. */
bool store_disk_nearly_full(const struct store *st);

struct store_txn {
	struct store *st;
	MDB_txn *txn;
	int err;    /* first error; sticky */
	bool write;
	MDB_cursor *cursors[STORE_DB_COUNT]; /* store_txn_cursor's, closed when the txn ends */
};

/* Begins a read-only transaction; it never blocks the writer. */
int store_read_begin(struct store *st, struct store_txn *t);
/*
 * The same, but PL_EBUSY rather than wait while the map is being resized:
 * for a thread that some other thread holding a transaction waits for.
 */
int store_read_begin_now(struct store *st, struct store_txn *t);
/*
 * Whether reader, a read-only transaction, sees the data t sees: t is a
 * read-only transaction of the same snapshot, or the write transaction
 * begun on it (which must not have changed what the caller reads).
 */
bool store_same_snapshot(const struct store_txn *reader, const struct store_txn *t);
/* Begins the write transaction (one at a time, across processes). */
int store_write_begin(struct store *st, struct store_txn *t);
/*
 * Makes every later write transaction of st fail with err (non-zero): for
 * damage found outside a write (serve's walk of the pages at start), which
 * writing on would spread. Safe from any thread; for the process's life.
 */
void store_refuse_writes(struct store *st, int err);
/* The error store_refuse_writes() set, or 0. Safe from any thread. */
int store_writes_refused(struct store *st);
/*
 * A writer killed inside its commit, after LMDB wrote the meta page and
 * before it told lock.mdb the new transaction's id, leaves read
 * transactions on the snapshot before that commit for as long as another
 * process keeps the environment open, until the next writer takes LMDB's
 * lock (which repairs the id). Takes that lock once and lets it go, so
 * reads after it see every commit. Waits for a writer inside a transaction.
 */
int store_catch_up_readers(struct store *st);
/* Commits a write transaction, or aborts if an error is set; returns the error. */
int store_commit(struct store_txn *t);
/* Ends any transaction without writing. Safe to call twice. */
void store_abort(struct store_txn *t);

/*
 * Marks the data dir as being of format (inside the caller's write
 * transaction): `pledged upgrade` only. format 0 marks an upgrade under way,
 * which every other command refuses.
 */
void store_set_format(struct store_txn *t, int format);

/* Records err on t unless an error is already set; returns t->err. */
int store_txn_fail(struct store_txn *t, int err);

/* The LMDB handle of a named database, for cursors and mdb_cmp(). */
MDB_dbi store_dbi(const struct store_txn *t, enum store_db db);

/* Gets key; returns 0, PL_ENOTFOUND (not sticky) or the sticky error. */
int store_get(struct store_txn *t, enum store_db db, const void *key, size_t key_len,
	      MDB_val *val);
/* Puts key=val with LMDB flags (MDB_APPEND, MDB_NOOVERWRITE…). */
void store_put(struct store_txn *t, enum store_db db, const void *key, size_t key_len,
	       const void *val, size_t val_len, unsigned flags);
/* Reserves val_len bytes for key and returns where to write them, or NULL on error. */
void *store_reserve(struct store_txn *t, enum store_db db, const void *key, size_t key_len,
		    size_t val_len, unsigned flags);
/*
 * Reserves val_len bytes for a key that must be new. When the key exists
 * already this is not an error: returns NULL with *exists set, and the
 * transaction goes on. Other failures return NULL and set the sticky error.
 */
void *store_reserve_new(struct store_txn *t, enum store_db db, const void *key, size_t key_len,
			size_t val_len, bool *exists);
/*
 * Adds delta to the little-endian int64 counter at key (a missing key counts
 * as 0) in one B-tree descent; *before gets the value it had. Write
 * transactions only. Returns 0 or the sticky error.
 */
int store_add_i64(struct store_txn *t, enum store_db db, const void *key, size_t key_len,
		  int64_t delta, int64_t *before);
/* Deletes key; a missing key is not an error. */
void store_del(struct store_txn *t, enum store_db db, const void *key, size_t key_len);
/* Empties a database. */
void store_clear(struct store_txn *t, enum store_db db);
/* How many entries a database holds (LMDB keeps the count: no walk). 0 or the sticky error. */
int store_entries(struct store_txn *t, enum store_db db, uint64_t *count);

/*
 * Whether the value at key k, as a cursor read it, may be deleted: a
 * value too large for its page lies in overflow pages whose count LMDB
 * frees on trust, and a damaged count made it free billions of pages (a
 * rebuild grew past 12 GB). false for such a value whose pages' header
 * does not say the count its size needs.
 */
bool store_value_sound(struct store_txn *t, const MDB_val *k, const MDB_val *v);

/*
 * Whether a seek for key finds the very row val (or a tail of its value)
 * as a walk found it: the same bytes of the same page (for a key with
 * duplicates, its first).
 * Seeks follow LMDB's branch pages, which a walk does not read. Any error
 * is a no, and leaves t as it was.
 */
bool store_seek_finds(struct store_txn *t, enum store_db db, const MDB_val *key,
		      const MDB_val *val);

/*
 * Reads every row of every table, the slot readers do not see included,
 * checks each large value with store_value_sound(), and seeks each key
 * again, which must find the row the walk found: 0, PL_ECORRUPT with *bad
 * naming the first damaged table, or the store's error. Reads alone would
 * trust such a value; the next delete of it (emptying the old slot, a
 * merge, an erasure) would not. And a walk does not read the branch pages
 * every seek follows.
 */
int store_check_values(struct store_txn *t, enum store_db *bad);

/*
 * Walks LMDB's own list of free pages, which no read uses but the next
 * write does: 0, PL_ECORRUPT when an entry or a page of it is damaged, or
 * the store's error.
 */
int store_check_free_pages(struct store_txn *t);
/*
 * Walks every page of a snapshot from LMDB's roots (store_pages.c): each
 * must name itself, be the kind its parent points to, keep its nodes inside
 * it, and have one place only, never on the list of free pages as well.
 * Reads trust all of that; a write that copies a page frees the number its
 * header names. 0, PL_ECORRUPT with *bad filled, or the store's error.
 * Takes read transactions of its own.
 */
struct store_page_damage {
	uint64_t page;  /* the first page found damaged */
	char where[96]; /* its tree: "LMDB's pages of table 'name'", "LMDB's list of free pages"... */
};
int store_check_pages(struct store *st, struct store_page_damage *bad);
/* The same, giving up with PL_EBUSY once *stop is set or the map is to grow
 * (a walk beside serve: its transaction would hold the growth, and with it
 * every reader, for as long as the walk takes). */
int store_check_pages_until(struct store *st, struct store_page_damage *bad,
			    const atomic_bool *stop);
/* Whether a growth of the map waits for this process's transactions to end. */
bool store_resize_waiting(struct store *st);
/* What was wrong with the page, for messages: "page N " STORE_PAGE_DAMAGE. */
#define STORE_PAGE_DAMAGE \
	"does not name itself, is not the kind of page its parent points to, or has two places"
/* Deletes the named database of an older format, if there is one (`pledged upgrade`). */
void store_drop_named(struct store_txn *t, const char *name);
/* Opens a cursor; the caller closes it with mdb_cursor_close() before the txn ends. */
MDB_cursor *store_cursor(struct store_txn *t, enum store_db db);
/*
 * The transaction's own cursor on db, opened on first use and closed when
 * the transaction ends: for lookups that position it anew each time, without
 * a cursor's allocation per call. NULL on error (see t->err).
 */
MDB_cursor *store_txn_cursor(struct store_txn *t, enum store_db db);
/*
 * Calls fn for the entries of db in key order (backward: reverse order),
 * starting at from: forward, the first key >= from; backward, the last key
 * <= from; from NULL starts at the first (last) key. fn returns 0 to go on,
 * > 0 to stop, < 0 to stop with that error. Returns 0 or the error.
 */
int store_each(struct store_txn *t, enum store_db db, const MDB_val *from, bool backward,
	       int (*fn)(const MDB_val *key, const MDB_val *val, void *arg), void *arg);

/* The first and the last key of db (e.g. the newest sequence); PL_ENOTFOUND when empty. */
int store_first(struct store_txn *t, enum store_db db, MDB_val *key, MDB_val *val);
int store_last(struct store_txn *t, enum store_db db, MDB_val *key, MDB_val *val);

/*
 * Runs fn inside a write transaction and commits. When the map is full it
 * aborts, grows the map and runs fn again from the start, so fn must only
 * change state through the transaction (or reset its own at each start).
 * Returns fn's or commit's error.
 */
int store_run_write(struct store *st, int (*fn)(struct store_txn *t, void *arg), void *arg);

/*
 * Writes a compacted, consistent copy of the environment into the empty
 * directory dir while writers go on (LMDB's hot backup: the copy is one read
 * transaction's snapshot), and syncs it to disk. The copy is itself a data
 * dir. For a backup that is either complete or absent, copy into a
 * temporary directory, check it, then store_rename_durably() it.
 * PL_ECORRUPT, before copying anything, when store_check_values() finds a
 * damaged table: LMDB's copy would trust its pages and write astray (walk
 * them first with store_check_pages(), for the same reason).
 */
int store_copy(struct store *st, const char *dir);

/*
 * Zeroes, in the data file at path (a copy, not open), what each page
 * holds no node in: the room between a page's node offsets and its
 * nodes, and an overflow value's last page past its end; then syncs it.
 * LMDB's compacting copy (store_copy) writes pages through a buffer it
 * does not clear and copies overflow pages whole, so bytes that some page
 * once held (what an erasure overwrote) would otherwise reach the copy.
 * 0, PL_ECORRUPT, or an I/O error.
 */
int store_scrub_copy(const char *path);

/* What store_copy() writes, in bytes: the pages in use (every table's and
 * LMDB's list of them) and the two meta pages; and the lock file the copy
 * gets when it is opened to be checked. For messages: how much room a copy
 * needs. 0 when it cannot be read. */
uint64_t store_copy_size(struct store *st);

/*
 * Whether a process has the data dir dir open, before this one opens it:
 * every process with the LMDB environment open holds a lock on the first
 * byte of lock.mdb. 1 with *pid, 0 (none, or no lock file), or PL_EIO.
 */
int store_dir_in_use(const char *dir, long *pid);

/* Renames from to to and syncs the directory that holds them. */
int store_rename_durably(const char *from, const char *to);

/*
 * Moves the closed data dir from's files into the empty directory to on
 * the same file system (a mount point, which cannot be renamed onto), and
 * syncs to: data.mdb first, so that to holds a whole store or none, then
 * its marker. from is left with LMDB's lock file at most. Nothing in to is
 * ever replaced: PL_EEXIST when a data.mdb came there meanwhile (another
 * copy made into the same directory at the same time).
 */
int store_move_into(const char *from, const char *to);

/* Removes dir and the files a store keeps there (LMDB's two and its own
 * markers): scratch data dirs and copies that failed. */
void store_remove_dir(const char *dir);

/* store_remove_dir for a dir locked by store_lock_dir_seen: its files are
 * removed in the directory fd names, wherever dir now points. */
void store_remove_dir_locked(const char *dir, int fd);

/* The files store_remove_dir() removes, for whoever must remove them where
 * it cannot be called (a signal handler may not format paths). */
#define STORE_DIR_FILE_COUNT 4
extern const char *const store_dir_files[STORE_DIR_FILE_COUNT];

/* Doubles the map size. No transaction of the calling thread may be open. */
int store_grow(struct store *st);

/* Translates an LMDB return code into a PL_E* code. */
int store_error(int mdb_rc);

#endif
