/* store.c — LMDB environment, layout check, sticky-error transactions, map growth. */
#include "store.h"

#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <fcntl.h>
#include <unistd.h>

#include "bytes.h"
#include "crash_point.h"
#include "lmdb_layout.h"
#include "pl_error.h"

#define DEFAULT_MAP_SIZE ((size_t)64 << 20)
/* Room for older formats' databases too (13 of format 1, 2 of format 4),
 * while `pledged upgrade` drops them. */
#define STORE_OLD_DBS 16
/* META["format"] holds "pledged/N" for format N; "pledged/upgrading"
 * while `pledged upgrade` is under way, which every other command refuses. */
#define FORMAT_KEY "format"
#define FORMAT_PREFIX "pledged/"
#define FORMAT_UPGRADING "pledged/upgrading"

static const struct {
	const char *name;
	unsigned flags;
} db_defs[STORE_DB_COUNT] = {
#define STORE_DB_DEF(e, name, flags) [STORE_DB_##e] = {name, flags},
	STORE_DBS(STORE_DB_DEF)
#undef STORE_DB_DEF
};

struct store {
	MDB_env *env;
	MDB_dbi dbi[STORE_DB_COUNT];
	pthread_rwlock_t resize_lock; /* shared: a txn is open; exclusive: resizing */
	char *dir;
	int format;
	_Atomic int refused; /* store_refuse_writes(): every write fails with it */
	int dir_fd;          /* holds the shared lock of store_lock_dir(); -1: none */
	atomic_int resizers; /* waiting for resize_lock exclusively, or holding it */
};

static void (*damage_handler)(const char *what);

struct code_range {
	uintptr_t inside, lo, hi;
};

/* The executable segment of a shared object that holds r->inside. */
static int find_code(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	struct code_range *r = arg;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X) || r->inside < lo || r->inside >= hi)
			continue;
		if (info->dlpi_name[0] == '\0')
			return -1; /* the program itself: LMDB is linked in */
		r->lo = lo;
		r->hi = hi;
		return 1;
	}
	return 0;
}

bool store_lmdb_code(uintptr_t *lo, uintptr_t *hi)
{
	struct code_range r = {(uintptr_t)&mdb_cursor_get, 0, 0};
	if (dl_iterate_phdr(find_code, &r) != 1)
		return false;
	*lo = r.lo;
	*hi = r.hi;
	return true;
}

void store_set_damage_handler(void (*fn)(const char *what))
{
	damage_handler = fn;
}

/* LMDB's assertions fire on pages that are not what they must be. */
static void lmdb_assert_cb(MDB_env *env, const char *msg)
{
	(void)env;
	if (damage_handler)
		damage_handler(msg);
}

const char *store_db_name(enum store_db db)
{
	return db_defs[db].name;
}

int store_error(int mdb_rc)
{
	switch (mdb_rc) {
	case MDB_SUCCESS: return PL_OK;
	case MDB_NOTFOUND: return PL_ENOTFOUND;
	case MDB_KEYEXIST: return PL_EEXIST;
	case MDB_MAP_FULL: return PL_EMAPFULL;
	case MDB_INVALID:
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_VERSION_MISMATCH:
	case MDB_BAD_VALSIZE:
		return PL_ECORRUPT;
	case ENOENT: return PL_ENOTFOUND;
	case EAGAIN:
	case EBUSY:
		return PL_EBUSY;
	}
	return mdb_rc > 0 ? pl_from_errno(mdb_rc) : PL_EIO; /* an errno of LMDB's calls */
}

/* Parses META["format"]: N, 0 while upgrading, -1 for anything else. */
static int parse_format(const MDB_val *v)
{
	size_t plen = strlen(FORMAT_PREFIX);
	if (v->mv_size == strlen(FORMAT_UPGRADING) && memcmp(v->mv_data, FORMAT_UPGRADING, v->mv_size) == 0)
		return 0;
	/* Any number: a newer pledged's format 10 is newer, not another program's. */
	if (v->mv_size <= plen || v->mv_size > plen + 6 || memcmp(v->mv_data, FORMAT_PREFIX, plen) != 0)
		return -1;
	int format = 0;
	for (size_t i = plen; i < v->mv_size; i++) {
		char d = ((const char *)v->mv_data)[i];
		if (d < '0' || d > '9' || (i == plen && d == '0'))
			return -1;
		format = format * 10 + (d - '0');
	}
	return format;
}

static void format_value(int format, char *buf, size_t size)
{
	if (format == 0)
		snprintf(buf, size, "%s", FORMAT_UPGRADING);
	else
		snprintf(buf, size, "%s%d", FORMAT_PREFIX, format);
}

/* Reads the format of an environment; PL_ENOTFOUND when it has no META. */
static int read_format(MDB_txn *txn, int *format)
{
	MDB_dbi meta;
	int rc = mdb_dbi_open(txn, db_defs[STORE_DB_META].name, 0, &meta);
	if (rc == MDB_NOTFOUND)
		return PL_ENOTFOUND;
	if (rc)
		return store_error(rc);
	MDB_val k = {strlen(FORMAT_KEY), FORMAT_KEY}, v;
	rc = mdb_get(txn, meta, &k, &v);
	if (rc == MDB_NOTFOUND)
		return PL_EFOREIGN;
	if (rc)
		return store_error(rc);
	*format = parse_format(&v);
	return *format < 0 ? PL_EFOREIGN : PL_OK;
}

/* Opens every named database, in a read-only transaction when they all exist. */
static int open_dbs(struct store *st, MDB_txn *txn, unsigned flags)
{
	for (int db = 0; db < STORE_DB_COUNT; db++) {
		int rc = mdb_dbi_open(txn, db_defs[db].name, flags | db_defs[db].flags, &st->dbi[db]);
		if (rc)
			return rc;
	}
	return 0;
}

/* Checks the format marker, creating the layout where it must. */
static int open_layout(struct store *st, const struct store_options *opt)
{
	MDB_txn *txn;
	int format = 0;
	int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);
	if (rc)
		return store_error(rc);
	rc = read_format(txn, &format);
	if (rc == 0 && format == STORE_FORMAT && open_dbs(st, txn, 0) == 0) {
		st->format = format;
		return store_error(mdb_txn_commit(txn)); /* keeps the handles */
	}
	mdb_txn_abort(txn);
	/* Of this format, every table is made with it: one missing is damage
	 * (made anew, a lost log would read as an empty one). */
	if (rc == 0 && format == STORE_FORMAT)
		return PL_ECORRUPT;
	if (rc == PL_ENOTFOUND && !opt->create)
		return PL_EFOREIGN;
	if (rc && rc != PL_ENOTFOUND)
		return rc;
	if (rc == 0 && format > STORE_FORMAT)
		return PL_ENEWER;
	if (rc == 0 && format < STORE_FORMAT && !opt->old_format)
		return PL_EUPGRADE;

	/* A fresh environment, or one being upgraded: create what is missing. */
	bool fresh = rc == PL_ENOTFOUND;
	if ((rc = mdb_txn_begin(st->env, NULL, 0, &txn)))
		return store_error(rc);
	if (fresh) {
		/* Nothing but our own databases may exist in it. */
		MDB_stat ms;
		MDB_dbi main_db;
		if (mdb_dbi_open(txn, NULL, 0, &main_db) == 0 && mdb_stat(txn, main_db, &ms) == 0 &&
		    ms.ms_entries > 0) {
			mdb_txn_abort(txn);
			return PL_EFOREIGN;
		}
	}
	rc = open_dbs(st, txn, MDB_CREATE);
	if (rc == 0 && fresh) {
		char value[32];
		format_value(STORE_FORMAT, value, sizeof value);
		MDB_val k = {strlen(FORMAT_KEY), FORMAT_KEY}, v = {strlen(value), value};
		rc = mdb_put(txn, st->dbi[STORE_DB_META], &k, &v, 0);
		format = STORE_FORMAT;
	}
	if (rc) {
		mdb_txn_abort(txn);
		return store_error(rc);
	}
	st->format = format;
	return store_error(mdb_txn_commit(txn));
}

int store_format(const struct store *st)
{
	return st->format;
}

void store_set_format(struct store_txn *t, int format)
{
	char value[32];
	format_value(format, value, sizeof value);
	store_put(t, STORE_DB_META, FORMAT_KEY, strlen(FORMAT_KEY), value, strlen(value), 0);
	if (!t->err)
		t->st->format = format;
}

/*
 * A data file shorter than its meta page says was cut off (a failed copy,
 * a full disk); LMDB would die of SIGBUS reading past its end. Refuse it.
 */
static int check_file_size(struct store *st)
{
	MDB_envinfo info;
	MDB_stat ms;
	struct stat sb;
	char path[4200];
	snprintf(path, sizeof path, "%s/data.mdb", st->dir);
	if (mdb_env_info(st->env, &info) || mdb_env_stat(st->env, &ms) || stat(path, &sb))
		return PL_EIO;
	if ((uint64_t)sb.st_size < ((uint64_t)info.me_last_pgno + 1) * ms.ms_psize)
		return PL_ECORRUPT;
	return PL_OK;
}

/*
 * LMDB makes a missing lock.mdb with ftruncate, for readers too, and writes
 * to it through a mapping: on a full file system that first write is a
 * SIGBUS, not an error. So an open that would make one refuses first when
 * there is no room for it (a full disk, or a full scratch directory). On a
 * read-only file system LMDB makes none (it goes on without: open_env).
 */
static int room_for_lock_file(const char *dir)
{
	char path[4200];
	struct stat sb;
	struct statvfs vfs;
	snprintf(path, sizeof path, "%s/lock.mdb", dir);
	if (stat(path, &sb) == 0 || statvfs(dir, &vfs) != 0 || (vfs.f_flag & ST_RDONLY))
		return PL_OK;
	return (uint64_t)vfs.f_bavail * vfs.f_frsize < ((uint64_t)256 << 10) ? PL_ENOSPACE : PL_OK;
}

/*
 * LMDB makes lock.mdb afresh only when no other process has it open; else
 * it takes it as it is: cut short, it counts readers past its end and
 * faults. Such a file, or one LMDB refuses (overwritten), while another
 * process has it open, is refused as a lock file gone, not taken for a
 * damaged data.mdb: stopping the processes mends it, a restore is not
 * needed. Called before LMDB opens it (mdb_rc 0), or after LMDB refused
 * it with mdb_rc; returns PL_ELOCKGONE or PL_OK.
 */
static int lock_file_refused(const char *dir, int mdb_rc)
{
	char path[4200];
	struct stat sb;
	long pid;
	snprintf(path, sizeof path, "%s/lock.mdb", dir);
	if (stat(path, &sb) != 0 || (mdb_rc == 0 && sb.st_size >= LMDB_LOCK_HEADER) ||
	    store_dir_in_use(dir, &pid) != 1)
		return PL_OK;
	if (mdb_rc == 0)
		return PL_ELOCKGONE;
	/* data.mdb read without lock.mdb: whether it is the one LMDB refused. */
	MDB_env *env;
	if (mdb_env_create(&env))
		return PL_OK;
	int rc = mdb_env_open(env, dir, MDB_RDONLY | MDB_NOLOCK | MDB_NOTLS, 0);
	mdb_env_close(env);
	return rc == 0 ? PL_ELOCKGONE : PL_OK;
}

/*
 * Creates and opens the LMDB environment of dir with extra_flags added.
 * On failure st->env stays set and must be closed (LMDB's rule).
 */
static int open_env(struct store *st, const char *dir, const struct store_options *opt,
		    unsigned extra_flags)
{
	int rc;
	if ((rc = mdb_env_create(&st->env)) ||
	    (rc = mdb_env_set_maxdbs(st->env, STORE_DB_COUNT + STORE_OLD_DBS)) ||
	    (rc = mdb_env_set_maxreaders(st->env, 512)) ||
	    (rc = mdb_env_set_mapsize(st->env, opt->initial_map_size ? opt->initial_map_size
								     : DEFAULT_MAP_SIZE)))
		return store_error(rc);
	/* NOTLS: read txns are not bound to threads (HTTP workers begin and end
	 * them freely). A thread must still never nest transactions: each holds
	 * the resize lock shared, and a grow waiting in between would deadlock. */
	unsigned flags = MDB_NOTLS | extra_flags | (opt->no_sync ? MDB_NOSYNC : 0) |
			 (opt->read_only ? MDB_RDONLY : 0);
	if (!(extra_flags & MDB_NOLOCK) &&
	    ((rc = room_for_lock_file(dir)) || (rc = lock_file_refused(dir, 0))))
		return rc;
	mdb_env_set_assert(st->env, lmdb_assert_cb);
	rc = mdb_env_open(st->env, dir, flags, 0640);
	if ((rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH) && !(extra_flags & MDB_NOLOCK) &&
	    lock_file_refused(dir, rc))
		return PL_ELOCKGONE;
	return store_error(rc);
}

/*
 * A data dir is born under a marker file, removed once its layout is
 * committed. LMDB starts afresh on an empty data.mdb and creates a missing
 * one: without the marker, either means the log was cut short or deleted,
 * and a fresh store would hide that it is gone.
 */
#define BIRTH_MARKER "creating"
/* And once it holds a store, it keeps a file saying so: a data.mdb that goes
 * missing later is noticed even where lock.mdb went with it (compact removes
 * lock.mdb). Data dirs of older versions get it at their next writable open. */
#define HELD_MARKER "pledged.dir"
/* A data.mdb with no more than its layout is a few pages (16 KiB today);
 * with a first event it is ten times that. */
#define FRESH_LAYOUT_MAX ((off_t)64 << 10)

/* fsync()s path (a file or a directory). */
static int sync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return pl_from_errno(errno);
	int rc = fsync(fd) ? pl_from_errno(errno) : PL_OK;
	close(fd);
	return rc;
}

/* Makes the empty file name in dir (a marker) and, unless no_sync, syncs dir. */
static int make_marker(const char *dir, const char *name, bool no_sync)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	/* Never through a link, made after check_data_file() looked (while
	 * LMDB opened, say): it would make the file it names. */
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (fd < 0)
		return errno == ELOOP ? PL_EFOREIGN : pl_from_errno(errno);
	close(fd);
	return no_sync ? PL_OK : sync_path(dir);
}

/*
 * Whether the LMDB file in dir holds anything beyond a bare layout (which
 * puts one row in "meta" and nothing elsewhere): a row in any other of its
 * databases, whatever format wrote it. false when it cannot be read.
 */
static bool holds_more_than_layout(const char *dir)
{
	MDB_env *env;
	MDB_txn *txn = NULL;
	MDB_cursor *c = NULL;
	MDB_val k, v;
	bool more = false;
	if (mdb_env_create(&env))
		return false;
	mdb_env_set_maxdbs(env, 256);
	if (mdb_env_open(env, dir, MDB_RDONLY | MDB_NOLOCK | MDB_NOTLS, 0) ||
	    mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) ||
	    mdb_cursor_open(txn, 1 /* LMDB's MAIN_DBI: the databases' names */, &c))
		goto done;
	for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && !more;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		char name[256];
		MDB_dbi dbi;
		MDB_stat ms;
		if (k.mv_size == 0 || k.mv_size >= sizeof name)
			continue;
		memcpy(name, k.mv_data, k.mv_size);
		name[k.mv_size] = '\0';
		if (strcmp(name, "meta") != 0 && mdb_dbi_open(txn, name, 0, &dbi) == 0 &&
		    mdb_stat(txn, dbi, &ms) == 0)
			more = ms.ms_entries > 0;
	}
done:
	if (c)
		mdb_cursor_close(c);
	if (txn)
		mdb_txn_abort(txn);
	mdb_env_close(env);
	return more;
}

/* Whether dir's HELD_MARKER says it held a store. */
static bool held_here(const char *dir)
{
	char held[4200];
	struct stat sb;
	snprintf(held, sizeof held, "%s/" HELD_MARKER, dir);
	return stat(held, &sb) == 0;
}

/* Whether dir's data.mdb is there to open, or may be made (*fresh). */
/*
 * Whether data.mdb's first meta page gives a page size LMDB can use: LMDB
 * reads it before anything else and divides by it (0 killed every command
 * with SIGFPE). A file too short to say, or not LMDB's, is LMDB's to refuse.
 */
static bool page_size_sane(const char *data)
{
	enum { LMDB_MAGIC = 0xBEEFC0DE, MAGIC_AT = 4, PAGE_SIZE_AT = 10 }; /* in 4-byte words */
	uint32_t head[PAGE_SIZE_AT + 1];
	int fd = open(data, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true;
	ssize_t n = pread(fd, head, sizeof head, 0);
	close(fd);
	if (n != (ssize_t)sizeof head || head[MAGIC_AT] != LMDB_MAGIC)
		return true;
	uint32_t size = head[PAGE_SIZE_AT];
	return size >= 512 && size <= 65536 && (size & (size - 1)) == 0;
}

/* Whether path is a regular file or cannot be looked at (then the callers say why). */
static bool regular_file(const char *path)
{
	struct stat sb;
	return lstat(path, &sb) != 0 || S_ISREG(sb.st_mode);
}

static int check_data_file(const char *dir, bool create, bool *fresh)
{
	char data[4200], lock[4200], marker[4200];
	snprintf(data, sizeof data, "%s/data.mdb", dir);
	snprintf(lock, sizeof lock, "%s/lock.mdb", dir);
	snprintf(marker, sizeof marker, "%s/" BIRTH_MARKER, dir);
	/* LMDB opens its files by name, through a link, and writes lock.mdb
	 * for a reader too; a marker is made through one: a link there, made
	 * by whoever may write the data dir, would have a command run as root
	 * write over (or make) the file it names. */
	for (size_t i = 0; i < STORE_DIR_FILE_COUNT; i++) {
		char path[4200];
		snprintf(path, sizeof path, "%s/%s", dir, store_dir_files[i]);
		if (!regular_file(path))
			return PL_EFOREIGN;
	}
	struct stat sb;
	bool has_data = stat(data, &sb) == 0;
	if (!has_data && errno == EACCES)
		return PL_EACCESS; /* a dir this user may not enter: not an empty one */
	off_t data_size = has_data ? sb.st_size : 0;
	*fresh = false;
	if (data_size > 0 && !page_size_sane(data))
		return PL_ECORRUPT;
	if (stat(marker, &sb) == 0) {
		/* A creation cut short: its data.mdb holds the layout at most,
		 * never an event. Begin it again, unless the store was born
		 * already (the held marker comes after the birth marker goes;
		 * older formats had none) or holds more than a layout: then the
		 * marker is a stray one, and a store that holds a log is never
		 * deleted. */
		if (held_here(dir) || data_size > FRESH_LAYOUT_MAX ||
		    (data_size > 0 && holds_more_than_layout(dir)))
			return PL_ECORRUPT;
		if (!create)
			return PL_ENOTFOUND;
		if (has_data && unlink(data) != 0)
			return pl_from_errno(errno);
		*fresh = true;
		return PL_OK;
	}
	if (data_size > 0)
		return PL_OK;
	if (has_data || stat(lock, &sb) == 0 || held_here(dir))
		return PL_ECORRUPT;
	if (!create)
		return PL_ENOTFOUND;
	int rc = make_marker(dir, BIRTH_MARKER, false);
	*fresh = rc == PL_OK;
	return rc;
}

/* The layout is committed: the data dir is no longer being born. */
static int end_birth(struct store *st, const struct store_options *opt)
{
	char marker[4200];
	snprintf(marker, sizeof marker, "%s/" BIRTH_MARKER, st->dir);
	int rc = opt->no_sync ? 0 : mdb_env_sync(st->env, 1);
	if (rc)
		return store_error(rc);
	if (unlink(marker) != 0)
		return pl_from_errno(errno);
	return opt->no_sync ? PL_OK : sync_path(st->dir);
}

/* Leaves HELD_MARKER in a data dir that holds a store, if it is not there. */
static int mark_held(const struct store *st, const struct store_options *opt)
{
	return held_here(st->dir) ? PL_OK : make_marker(st->dir, HELD_MARKER, opt->no_sync);
}

int store_open(struct store **out, const char *dir, const struct store_options *opt)
{
	struct stat sb;
	bool fresh;
	int rc;
	if (stat(dir, &sb) != 0) {
		if (!opt->create)
			return PL_ENOTFOUND;
		if (mkdir(dir, 0750) != 0)
			return pl_from_errno(errno);
	} else if (!S_ISDIR(sb.st_mode)) {
		return PL_EFOREIGN;
	}
	int dir_fd = -1;
	bool making_lock_file = false;
	if (!opt->dir_locked && (rc = store_lock_dir_to_open(dir, &dir_fd, &making_lock_file)))
		return rc;
	if ((rc = check_data_file(dir, opt->create, &fresh))) {
		store_unlock_dir(dir_fd);
		return rc;
	}

	struct store *st = calloc(1, sizeof *st);
	if (!st) {
		store_unlock_dir(dir_fd);
		return PL_ENOMEM;
	}
	st->dir_fd = dir_fd;
	st->dir = strdup(dir);
	pthread_rwlockattr_t attr;
	pthread_rwlockattr_init(&attr);
	/* Growing must not starve behind a steady stream of readers. */
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&st->resize_lock, &attr);
	pthread_rwlockattr_destroy(&attr);

	rc = open_env(st, dir, opt, 0);
	/* A data dir this user may read but not write (a read-only mount, a
	 * copy owned by another user): LMDB cannot create or lock lock.mdb, and
	 * says EACCES. Only a reader may go on without it (MDB_NOLOCK: no
	 * reader table, safe while nothing writes these files). On EROFS LMDB
	 * does the same by itself. */
	if (rc == PL_EACCESS && opt->read_only) {
		mdb_env_close(st->env);
		st->env = NULL;
		rc = open_env(st, dir, opt, MDB_NOLOCK);
	}
	if (rc == 0 && making_lock_file)
		rc = store_lock_dir_shared(dir_fd); /* lock.mdb is made: others may open */
	if (rc)
		goto fail;
	if (!st->dir || (rc = check_file_size(st)))
		goto fail;
	/* No layout in a data dir that held pledged's store: it lost it. */
	if ((rc = open_layout(st, opt)) == PL_EFOREIGN && held_here(dir))
		rc = PL_ECORRUPT;
	if (rc || (fresh && (rc = end_birth(st, opt))) ||
	    (!opt->read_only && (rc = mark_held(st, opt))))
		goto fail;
	*out = st;
	return PL_OK;
fail:
	store_close(st);
	return rc ? rc : PL_ENOMEM;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	if (st->env)
		mdb_env_close(st->env);
	pthread_rwlock_destroy(&st->resize_lock);
	store_unlock_dir(st->dir_fd);
	free(st->dir);
	free(st);
}

const char *store_dir(const struct store *st)
{
	return st->dir;
}

size_t store_map_size(struct store *st)
{
	MDB_envinfo info;
	mdb_env_info(st->env, &info);
	return info.me_mapsize;
}

/* Adopts a map size another process set (MDB_MAP_RESIZED). */
static int adopt_map_size(struct store *st)
{
	atomic_fetch_add(&st->resizers, 1);
	pthread_rwlock_wrlock(&st->resize_lock);
	int rc = mdb_env_set_mapsize(st->env, 0);
	pthread_rwlock_unlock(&st->resize_lock);
	atomic_fetch_sub(&st->resizers, 1);
	return store_error(rc);
}

bool store_resize_waiting(struct store *st)
{
	return atomic_load(&st->resizers) > 0;
}

/* Begins a transaction; with no_wait, PL_EBUSY rather than wait for a resize. */
static int txn_begin(struct store *st, struct store_txn *t, bool write, bool no_wait)
{
	memset(t, 0, sizeof *t);
	t->st = st;
	t->write = write;
	for (;;) {
		if (!no_wait)
			pthread_rwlock_rdlock(&st->resize_lock);
		else if (pthread_rwlock_tryrdlock(&st->resize_lock))
			return t->err = PL_EBUSY;
		int rc = mdb_txn_begin(st->env, NULL, write ? 0 : MDB_RDONLY, &t->txn);
		/* A reader killed inside its transaction (a backup or verify
		 * killed -9) keeps its slot in lock.mdb while other processes
		 * keep it open: no page freed since its snapshot would be used
		 * again, and data.mdb would grow for as long as serve runs. */
		if (rc == 0 && write)
			mdb_reader_check(st->env, NULL);
		if (rc == 0)
			return PL_OK;
		pthread_rwlock_unlock(&st->resize_lock);
		t->txn = NULL;
		if (rc == MDB_MAP_RESIZED && no_wait)
			return t->err = PL_EBUSY;
		if (rc != MDB_MAP_RESIZED)
			return t->err = store_error(rc);
		if ((rc = adopt_map_size(st)))
			return t->err = rc;
	}
}

int store_read_begin(struct store *st, struct store_txn *t)
{
	return txn_begin(st, t, false, false);
}

int store_read_begin_now(struct store *st, struct store_txn *t)
{
	return txn_begin(st, t, false, true);
}

bool store_same_snapshot(const struct store_txn *reader, const struct store_txn *t)
{
	/* A write transaction's id is one above the snapshot it was begun on. */
	size_t seen = mdb_txn_id(reader->txn), of_t = mdb_txn_id(t->txn);
	return reader->st == t->st && !reader->write && seen + (t->write ? 1 : 0) == of_t;
}

int store_write_begin(struct store *st, struct store_txn *t)
{
	int refused = atomic_load(&st->refused);
	if (refused) {
		memset(t, 0, sizeof *t);
		return t->err = refused;
	}
	return txn_begin(st, t, true, false);
}

void store_refuse_writes(struct store *st, int err)
{
	atomic_store(&st->refused, err);
}

int store_writes_refused(struct store *st)
{
	return atomic_load(&st->refused);
}

int store_catch_up_readers(struct store *st)
{
	struct store_txn t;
	int rc = store_write_begin(st, &t); /* LMDB repairs a dead writer's id here */
	store_abort(&t);
	return rc;
}

/* A read-only transaction leaves its cursors to its owner; close them. */
static void close_cursors(struct store_txn *t)
{
	for (int db = 0; db < STORE_DB_COUNT; db++) {
		if (t->cursors[db] && !t->write)
			mdb_cursor_close(t->cursors[db]);
		t->cursors[db] = NULL;
	}
}

void store_abort(struct store_txn *t)
{
	if (!t->txn)
		return;
	close_cursors(t);
	mdb_txn_abort(t->txn);
	t->txn = NULL;
	pthread_rwlock_unlock(&t->st->resize_lock);
}

/*
 * LMDB reports a short write as EIO, and a disk that fills up mid-commit
 * gives exactly that. Telling the two apart matters to the operator: a full
 * disk resumes by itself once space returns.
 */
bool store_disk_nearly_full(const struct store *st)
{
	struct statvfs vfs;
	return statvfs(st->dir, &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < ((uint64_t)8 << 20);
}

int store_commit(struct store_txn *t)
{
	if (!t->txn)
		return t->err ? t->err : PL_EINVAL;
	if (t->err) {
		store_abort(t);
		return t->err;
	}
	close_cursors(t);
	int rc = mdb_txn_commit(t->txn);
	t->txn = NULL;
	pthread_rwlock_unlock(&t->st->resize_lock);
	if (rc == 0)
		CRASH_POINT(STORE_COMMITTED);
	t->err = store_error(rc);
	if (t->err == PL_EIO && store_disk_nearly_full(t->st))
		t->err = PL_ENOSPACE;
	return t->err;
}

int store_txn_fail(struct store_txn *t, int err)
{
	if (!t->err)
		t->err = err;
	return t->err;
}

MDB_dbi store_dbi(const struct store_txn *t, enum store_db db)
{
	return t->st->dbi[db];
}

int store_get(struct store_txn *t, enum store_db db, const void *key, size_t key_len,
	      MDB_val *val)
{
	if (t->err)
		return t->err;
	MDB_val k = {key_len, (void *)key};
	int rc = mdb_get(t->txn, t->st->dbi[db], &k, val);
	if (rc == MDB_NOTFOUND)
		return PL_ENOTFOUND;
	return rc ? store_txn_fail(t, store_error(rc)) : PL_OK;
}

void store_put(struct store_txn *t, enum store_db db, const void *key, size_t key_len,
	       const void *val, size_t val_len, unsigned flags)
{
	if (t->err)
		return;
	MDB_val k = {key_len, (void *)key}, v = {val_len, (void *)val};
	int rc = mdb_put(t->txn, t->st->dbi[db], &k, &v, flags);
	if (rc)
		store_txn_fail(t, store_error(rc));
}

void *store_reserve(struct store_txn *t, enum store_db db, const void *key, size_t key_len,
		    size_t val_len, unsigned flags)
{
	if (t->err)
		return NULL;
	MDB_val k = {key_len, (void *)key}, v = {val_len, NULL};
	int rc = mdb_put(t->txn, t->st->dbi[db], &k, &v, flags | MDB_RESERVE);
	if (rc) {
		store_txn_fail(t, store_error(rc));
		return NULL;
	}
	return v.mv_data;
}

void *store_reserve_new(struct store_txn *t, enum store_db db, const void *key, size_t key_len,
			size_t val_len, bool *exists)
{
	*exists = false;
	if (t->err)
		return NULL;
	MDB_val k = {key_len, (void *)key}, v = {val_len, NULL};
	int rc = mdb_put(t->txn, t->st->dbi[db], &k, &v, MDB_NOOVERWRITE | MDB_RESERVE);
	if (rc == MDB_KEYEXIST) {
		*exists = true;
		return NULL;
	}
	if (rc) {
		store_txn_fail(t, store_error(rc));
		return NULL;
	}
	return v.mv_data;
}

int store_add_i64(struct store_txn *t, enum store_db db, const void *key, size_t key_len,
		  int64_t delta, int64_t *before)
{
	if (t->err)
		return t->err;
	if (!t->write)
		return store_txn_fail(t, PL_EINVAL);
	MDB_cursor *c = store_txn_cursor(t, db);
	if (!c)
		return t->err;
	uint8_t buf[8];
	bytes_put_le64(buf, (uint64_t)delta);
	MDB_val k = {key_len, (void *)key}, v = {sizeof buf, buf};
	/* A new key is written at once; an existing one leaves the cursor on it
	 * and its value in v, so the update needs no second descent. */
	int rc = mdb_cursor_put(c, &k, &v, MDB_NOOVERWRITE);
	if (rc == 0) {
		*before = 0;
		return PL_OK;
	}
	if (rc != MDB_KEYEXIST)
		return store_txn_fail(t, store_error(rc));
	if (v.mv_size != sizeof buf)
		return store_txn_fail(t, PL_ECORRUPT);
	*before = (int64_t)bytes_get_le64(v.mv_data);
	bytes_put_le64(buf, (uint64_t)(*before + delta));
	MDB_val updated = {sizeof buf, buf};
	rc = mdb_cursor_put(c, &k, &updated, MDB_CURRENT);
	return rc ? store_txn_fail(t, store_error(rc)) : PL_OK;
}

void store_del(struct store_txn *t, enum store_db db, const void *key, size_t key_len)
{
	if (t->err)
		return;
	MDB_val k = {key_len, (void *)key};
	int rc = mdb_del(t->txn, t->st->dbi[db], &k, NULL);
	if (rc && rc != MDB_NOTFOUND)
		store_txn_fail(t, store_error(rc));
}

void store_clear(struct store_txn *t, enum store_db db)
{
	if (t->err)
		return;
	int rc = mdb_drop(t->txn, t->st->dbi[db], 0);
	if (rc)
		store_txn_fail(t, store_error(rc));
}

int store_entries(struct store_txn *t, enum store_db db, uint64_t *count)
{
	MDB_stat ms;
	*count = 0;
	if (t->err)
		return t->err;
	int rc = mdb_stat(t->txn, t->st->dbi[db], &ms);
	if (rc)
		return store_txn_fail(t, store_error(rc));
	*count = ms.ms_entries;
	return PL_OK;
}

void store_drop_named(struct store_txn *t, const char *name)
{
	MDB_dbi dbi;
	if (t->err)
		return;
	int rc = mdb_dbi_open(t->txn, name, 0, &dbi);
	if (rc == MDB_NOTFOUND)
		return;
	if (rc == 0)
		rc = mdb_drop(t->txn, dbi, 1);
	if (rc)
		store_txn_fail(t, store_error(rc));
}

MDB_cursor *store_cursor(struct store_txn *t, enum store_db db)
{
	MDB_cursor *c = NULL;
	if (t->err)
		return NULL;
	int rc = mdb_cursor_open(t->txn, t->st->dbi[db], &c);
	if (rc) {
		store_txn_fail(t, store_error(rc));
		return NULL;
	}
	return c;
}

MDB_cursor *store_txn_cursor(struct store_txn *t, enum store_db db)
{
	if (t->err)
		return NULL;
	if (!t->cursors[db]) {
		int rc = mdb_cursor_open(t->txn, t->st->dbi[db], &t->cursors[db]);
		if (rc) {
			t->cursors[db] = NULL;
			store_txn_fail(t, store_error(rc));
		}
	}
	return t->cursors[db];
}

/* Positions c for store_each(); returns an LMDB code. */
static int seek_start(MDB_cursor *c, const MDB_val *from, bool backward, MDB_val *k, MDB_val *v)
{
	if (!from)
		return mdb_cursor_get(c, k, v, backward ? MDB_LAST : MDB_FIRST);
	*k = *from;
	int rc = mdb_cursor_get(c, k, v, MDB_SET_RANGE);
	if (!backward)
		return rc;
	if (rc == MDB_NOTFOUND)
		return mdb_cursor_get(c, k, v, MDB_LAST);
	if (rc == 0 && (k->mv_size != from->mv_size || memcmp(k->mv_data, from->mv_data, k->mv_size)))
		return mdb_cursor_get(c, k, v, MDB_PREV);
	return rc;
}

int store_each(struct store_txn *t, enum store_db db, const MDB_val *from, bool backward,
	       int (*fn)(const MDB_val *key, const MDB_val *val, void *arg), void *arg)
{
	MDB_cursor *c = store_cursor(t, db);
	if (!c)
		return t->err;
	MDB_val k, v;
	int rc = 0, mrc;
	for (mrc = seek_start(c, from, backward, &k, &v); mrc == 0 && rc == 0;
	     mrc = mdb_cursor_get(c, &k, &v, backward ? MDB_PREV : MDB_NEXT))
		rc = fn(&k, &v, arg);
	mdb_cursor_close(c);
	if (mrc && mrc != MDB_NOTFOUND)
		return store_txn_fail(t, store_error(mrc));
	return rc < 0 ? rc : 0;
}

/* The first or last record of db (op MDB_FIRST or MDB_LAST). */
static int edge(struct store_txn *t, enum store_db db, MDB_cursor_op op, MDB_val *key, MDB_val *val)
{
	MDB_cursor *c = store_cursor(t, db);
	if (!c)
		return t->err;
	int rc = mdb_cursor_get(c, key, val, op);
	mdb_cursor_close(c);
	if (rc == MDB_NOTFOUND)
		return PL_ENOTFOUND;
	return rc ? store_txn_fail(t, store_error(rc)) : PL_OK;
}

int store_first(struct store_txn *t, enum store_db db, MDB_val *key, MDB_val *val)
{
	return edge(t, db, MDB_FIRST, key, val);
}

int store_last(struct store_txn *t, enum store_db db, MDB_val *key, MDB_val *val)
{
	return edge(t, db, MDB_LAST, key, val);
}

bool store_value_sound(struct store_txn *t, const MDB_val *k, const MDB_val *v)
{
	/* A node of 8 bytes plus key and value larger than nodemax has the
	 * value moved to overflow pages (lmdb_layout.h). */
	MDB_stat ms;
	if (mdb_env_stat(mdb_txn_env(t->txn), &ms))
		return true;
	size_t psize = ms.ms_psize,
	       nodemax = (((psize - LMDB_PAGE_HEADER) / LMDB_MIN_KEYS) & ~(size_t)1) - 2;
	if (LMDB_NODE_HEADER + k->mv_size + v->mv_size <= nodemax)
		return true;
	const uint8_t *header = (const uint8_t *)v->mv_data - LMDB_PAGE_HEADER;
	uint16_t flags;
	uint32_t pages;
	memcpy(&flags, header + LMDB_PAGE_FLAGS_AT, sizeof flags);
	memcpy(&pages, header + LMDB_PAGE_LOWER_AT, sizeof pages);
	return (flags & LMDB_P_OVERFLOW) && pages == lmdb_overflow_pages(v->mv_size, psize);
}

bool store_seek_finds(struct store_txn *t, enum store_db db, const MDB_val *key,
		      const MDB_val *val)
{
	MDB_val k = *key, found;
	return mdb_get(t->txn, t->st->dbi[db], &k, &found) == 0 &&
	       (const uint8_t *)found.mv_data + found.mv_size ==
		       (const uint8_t *)val->mv_data + val->mv_size;
}

int store_check_values(struct store_txn *t, enum store_db *bad)
{
	for (int db = 0; db < STORE_DB_COUNT; db++) {
		MDB_cursor *c;
		MDB_val k, v;
		uint8_t last[512]; /* the key of the row before, to seek each key once */
		size_t last_len = SIZE_MAX;
		int rc = mdb_cursor_open(t->txn, t->st->dbi[db], &c);
		if (rc)
			return store_error(rc);
		for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
		     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
			if (!store_value_sound(t, &k, &v)) {
				rc = MDB_CORRUPTED;
				break;
			}
			if (k.mv_size == last_len && memcmp(k.mv_data, last, last_len) == 0)
				continue; /* another duplicate of the key sought already */
			/* A seek must find the row a walk found: branch pages, which a
			 * walk does not read, route every seek. */
			if (k.mv_size > sizeof last || !store_seek_finds(t, (enum store_db)db, &k, &v)) {
				rc = MDB_CORRUPTED;
				break;
			}
			memcpy(last, k.mv_data, k.mv_size);
			last_len = k.mv_size;
		}
		mdb_cursor_close(c);
		if (rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND) {
			*bad = (enum store_db)db;
			return PL_ECORRUPT;
		}
		if (rc != MDB_NOTFOUND)
			return store_error(rc);
	}
	return PL_OK;
}

int store_check_free_pages(struct store_txn *t)
{
	MDB_envinfo info;
	MDB_cursor *c;
	MDB_val k, v;
	mdb_env_info(mdb_txn_env(t->txn), &info);
	int rc = mdb_cursor_open(t->txn, 0 /* LMDB's FREE_DBI */, &c);
	if (rc)
		return store_error(rc);
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		/* A transaction id, then a count and that many page numbers. */
		size_t n, page;
		if (k.mv_size != sizeof(size_t) || v.mv_size < sizeof n || v.mv_size % sizeof n) {
			rc = MDB_CORRUPTED;
			break;
		}
		memcpy(&n, v.mv_data, sizeof n);
		if (n != v.mv_size / sizeof n - 1) {
			rc = MDB_CORRUPTED;
			break;
		}
		for (size_t i = 1; i <= n && rc == 0; i++) {
			memcpy(&page, (const char *)v.mv_data + i * sizeof page, sizeof page);
			if (page < 2 || page > info.me_last_pgno)
				rc = MDB_CORRUPTED;
		}
		if (rc)
			break;
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? PL_OK : rc == MDB_CORRUPTED ? PL_ECORRUPT : store_error(rc);
}

/* A copy is under way (read by a crash signal's handler). */
static volatile sig_atomic_t copying;

bool store_copying(void)
{
	return copying;
}

int store_copy(struct store *st, const char *dir)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/data.mdb", dir);
	struct store_txn t;
	enum store_db bad;
	int rc = store_read_begin(st, &t);
	if (rc == 0) {
		rc = store_check_values(&t, &bad);
		store_abort(&t);
	}
	if (rc)
		return rc;
	/* The copy holds a read transaction: take the shared lock like any
	 * reader, and adopt a map that a writer beside it grew, as
	 * txn_begin() does (LMDB refuses the copy's transaction until then). */
	do {
		pthread_rwlock_rdlock(&st->resize_lock);
		copying = 1;
		rc = mdb_env_copy2(st->env, dir, MDB_CP_COMPACT);
		copying = 0;
		pthread_rwlock_unlock(&st->resize_lock);
	} while (rc == MDB_MAP_RESIZED && unlink(path) == 0 && adopt_map_size(st) == PL_OK);
	if (rc)
		return rc == ENOSPC ? PL_ENOSPACE : store_error(rc);
	/* LMDB makes the copy 0644 less the umask: give it the mode of the
	 * data file it copies, which may be stricter or looser. */
	char source[4200];
	struct stat sb;
	snprintf(source, sizeof source, "%s/data.mdb", st->dir);
	if (stat(source, &sb) != 0 || chmod(path, sb.st_mode & 0777) != 0)
		return pl_from_errno(errno);
	/* The copy is a data dir holding a store from its first open (store_open). */
	if ((rc = make_marker(dir, HELD_MARKER, true)) || (rc = sync_path(path)) ||
	    (rc = sync_path(dir)))
		return rc;
	return PL_OK;
}

uint64_t store_copy_size(struct store *st)
{
	/* As LMDB's compacting copy counts: the pages below the last one in
	 * use, less those on the list of free pages and those of the list. */
	struct store_txn t;
	if (store_read_begin(st, &t))
		return 0;
	MDB_envinfo info;
	MDB_stat ms;
	MDB_cursor *c = NULL;
	MDB_val k, v;
	uint64_t pages = 0;
	int rc;
	if ((rc = mdb_env_info(st->env, &info)) || (rc = mdb_stat(t.txn, 0 /* FREE_DBI */, &ms)) ||
	    (rc = mdb_cursor_open(t.txn, 0, &c)))
		goto done;
	pages = (uint64_t)info.me_last_pgno + 1 - ms.ms_branch_pages - ms.ms_leaf_pages -
		ms.ms_overflow_pages;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		size_t n = 0; /* a count, then that many page numbers */
		if (v.mv_size >= sizeof n)
			memcpy(&n, v.mv_data, sizeof n);
		pages -= n < pages ? n : pages;
	}
	if (rc == MDB_NOTFOUND)
		rc = 0;
done:
	if (c)
		mdb_cursor_close(c);
	store_abort(&t);
	if (rc)
		return 0;
	/* Opened to be checked, the copy gets a lock file as large as this one's. */
	char lock[4096];
	struct stat sb;
	uint64_t lock_bytes = 0;
	if ((size_t)snprintf(lock, sizeof lock, "%s/lock.mdb", st->dir) < sizeof lock &&
	    stat(lock, &sb) == 0)
		lock_bytes = (uint64_t)sb.st_size;
	return pages * ms.ms_psize + lock_bytes;
}

int store_rename_durably(const char *from, const char *to)
{
	if (rename(from, to))
		return errno == EEXIST || errno == ENOTEMPTY ? PL_EEXIST : pl_from_errno(errno);
	char parent[4200];
	snprintf(parent, sizeof parent, "%s", to);
	char *slash = strrchr(parent, '/');
	if (slash == parent)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		snprintf(parent, sizeof parent, ".");
	return sync_path(parent);
}

/* rename() that never replaces dst: a link where the file system cannot say
 * RENAME_NOREPLACE. errno EEXIST when dst is there. */
static int rename_no_replace(const char *src, const char *dst)
{
	if (renameat2(AT_FDCWD, src, AT_FDCWD, dst, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	if (link(src, dst) != 0)
		return -1;
	return unlink(src);
}

int store_move_into(const char *from, const char *to)
{
	static const char *const moved[] = {"data.mdb", HELD_MARKER};
	for (size_t i = 0; i < sizeof moved / sizeof moved[0]; i++) {
		char src[4200], dst[4200];
		snprintf(src, sizeof src, "%s/%s", from, moved[i]);
		snprintf(dst, sizeof dst, "%s/%s", to, moved[i]);
		if (rename_no_replace(src, dst) == 0 || (i > 0 && errno == ENOENT))
			continue;
		/* Come there since to was found empty (another copy moved in
		 * first): it stays as it is. */
		return errno == EEXIST ? PL_EEXIST : pl_from_errno(errno);
	}
	return sync_path(to);
}

const char *const store_dir_files[STORE_DIR_FILE_COUNT] = {"data.mdb", "lock.mdb", BIRTH_MARKER,
							       HELD_MARKER};

void store_remove_dir(const char *dir)
{
	char path[4200];
	for (size_t i = 0; i < STORE_DIR_FILE_COUNT; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, store_dir_files[i]);
		remove(path);
	}
	rmdir(dir);
}

void store_remove_dir_locked(const char *dir, int fd)
{
	for (size_t i = 0; i < STORE_DIR_FILE_COUNT; i++)
		unlinkat(fd, store_dir_files[i], 0);
	rmdir(dir); /* fails, harmlessly, if dir is no longer that directory */
}

int store_grow(struct store *st)
{
	atomic_fetch_add(&st->resizers, 1);
	pthread_rwlock_wrlock(&st->resize_lock);
	MDB_envinfo info;
	mdb_env_info(st->env, &info);
	int rc = mdb_env_set_mapsize(st->env, info.me_mapsize * 2);
	pthread_rwlock_unlock(&st->resize_lock);
	atomic_fetch_sub(&st->resizers, 1);
	if (rc == 0)
		CRASH_POINT(STORE_GROWN);
	return store_error(rc);
}

int store_run_write(struct store *st, int (*fn)(struct store_txn *t, void *arg), void *arg)
{
	for (;;) {
		struct store_txn t;
		int rc = store_write_begin(st, &t);
		if (rc == 0) {
			rc = fn(&t, arg);
			if (rc == 0) {
				rc = store_commit(&t);
			} else {
				/* fn may have turned the sticky map-full into its own code. */
				if (t.err == PL_EMAPFULL)
					rc = PL_EMAPFULL;
				store_abort(&t);
			}
		}
		if (rc != PL_EMAPFULL)
			return rc;
		if ((rc = store_grow(st)))
			return rc;
	}
}
