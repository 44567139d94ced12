/*
 * store_pages.c — every page of a snapshot checked against LMDB's layout,
 * where LMDB itself trusts it; see store_check_pages() in store.h.
 *
 * LMDB keeps no checksums. A reader follows page numbers without looking
 * at the page it lands on, and a writer copying a page frees the number
 * the page's header names: a header whose number was flipped reads fine,
 * then makes the next write free a page still in use, and the damage
 * spreads with each write after. So the walk goes from the snapshot's
 * roots through every branch, leaf and overflow page, and a page must
 * name itself, be of the kind its parent points to, keep its nodes inside
 * itself, and belong to one place only: one parent, never on the list of
 * free pages as well.
 *
 * The same walk scrubs a copy (store_scrub_copy): what a page holds no
 * node in, it zeroes.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lmdb_layout.h"
#include "pl_error.h"

enum {
	/* Trees of trees (the main tree, a table, a key's duplicates) are a
	 * few levels deep each; a deeper walk is a loop in damaged pages. */
	MAX_DEPTH = 40,
	/* A writer may overwrite the meta page of a snapshot before it is read. */
	SNAPSHOT_TRIES = 5,
	SNAPSHOT_GONE = 1,
};
#define NO_PAGE UINT64_MAX /* an empty tree's root */

static const char FREE_TREE[] = "LMDB's list of free pages";
static const char MAIN_TREE[] = "LMDB's list of tables";

struct walk {
	int fd; /* the data file: read, not mapped, so that no damage can fault */
	size_t psize;
	uint8_t *pages_read; /* a page's room for each level of the walk */
	uint64_t pages; /* page numbers below this are in the file */
	uint8_t *seen;  /* a bit per page: reached from a root */
	const char *where; /* the tree walked now, as store_page_damage names it */
	struct store_page_damage *bad;
	const atomic_bool *stop; /* NULL, or set when the walk is to give up */
	struct store *st;        /* with stop: a growth of its map gives the walk up too */
	bool scrub;              /* zero each page's unused part (fd open for writing) */
};

static uint16_t u16_at(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, sizeof v);
	return v;
}

static uint64_t u64_at(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof v);
	return v;
}

static int damaged(struct walk *w, uint64_t pgno)
{
	w->bad->page = pgno;
	snprintf(w->bad->where, sizeof w->bad->where, "%s", w->where);
	return PL_ECORRUPT;
}

/* Marks pages pgno..pgno+n-1 reached; false when one was reached before. */
static bool mark(struct walk *w, uint64_t pgno, uint64_t n)
{
	for (uint64_t p = pgno; p < pgno + n; p++) {
		if (w->seen[p / 8] & (1u << (p % 8)))
			return false;
		w->seen[p / 8] |= (uint8_t)(1u << (p % 8));
	}
	return true;
}

/* Reads size bytes of page pgno into buf: false when it cannot. */
static bool read_page(const struct walk *w, uint64_t pgno, uint8_t *buf, size_t size)
{
	return pread(w->fd, buf, size, (off_t)(pgno * w->psize)) == (ssize_t)size;
}

/* The first size bytes of page pgno, read into buf, checked to name
 * itself; NULL when it does not. 0 and 1 are the meta pages. */
static const uint8_t *page_named(struct walk *w, uint64_t pgno, uint8_t *buf, size_t size)
{
	if (pgno < 2 || pgno >= w->pages || !read_page(w, pgno, buf, size))
		return NULL;
	return u64_at(buf) == pgno ? buf : NULL;
}

/* Zeroes bytes [from, to) of the file. */
static int zero_range(struct walk *w, uint64_t from, uint64_t to)
{
	static const uint8_t zeros[4096];
	while (from < to) {
		size_t n = to - from < sizeof zeros ? (size_t)(to - from) : sizeof zeros;
		ssize_t wrote = pwrite(w->fd, zeros, n, (off_t)from);
		if (wrote <= 0)
			return wrote < 0 ? pl_from_errno(errno) : PL_EIO;
		from += (uint64_t)wrote;
	}
	return PL_OK;
}

/* Zeroes n bytes at p; whether any was not zero. */
static bool zero(uint8_t *p, size_t n)
{
	bool changed = false;
	for (size_t i = 0; i < n; i++)
		changed |= p[i] != 0;
	if (changed)
		memset(p, 0, n);
	return changed;
}

/*
 * Zeroes the room between a page's node offsets and its nodes ([lower,
 * upper)), where page (or a page of duplicates inside a node) is size
 * bytes; a page of fixed-size keys packs them from its header on, so its
 * room is at its end. Sets *changed when a byte was not zero; false when
 * lower and upper make no sense.
 */
static bool zero_room(uint8_t *page, size_t size, bool *changed)
{
	uint16_t flags = u16_at(page + LMDB_PAGE_FLAGS_AT);
	uint16_t lower = u16_at(page + LMDB_PAGE_LOWER_AT);
	uint16_t upper = u16_at(page + LMDB_PAGE_UPPER_AT);
	if (size < LMDB_PAGE_HEADER || lower < LMDB_PAGE_HEADER || lower > upper || upper > size)
		return false;
	*changed |= zero(page + ((flags & LMDB_P_LEAF2) ? size - (upper - lower) : lower),
			 (size_t)(upper - lower));
	return true;
}

/*
 * Zeroes what page pgno (read into page, its nodes checked by the walk)
 * holds no node in, the pages of duplicates inside its nodes too, and
 * writes it back if that changed it.
 */
static int scrub_page(struct walk *w, uint64_t pgno, uint8_t *page)
{
	bool changed = false;
	if (!zero_room(page, w->psize, &changed))
		return damaged(w, pgno);
	uint16_t flags = u16_at(page + LMDB_PAGE_FLAGS_AT);
	size_t count = (size_t)(u16_at(page + LMDB_PAGE_LOWER_AT) - LMDB_PAGE_HEADER) / 2;
	for (size_t i = 0; flags == LMDB_P_LEAF && i < count; i++) {
		uint8_t *node = page + u16_at(page + LMDB_PAGE_HEADER + 2 * i);
		uint16_t nflags = u16_at(node + 4), ksize = u16_at(node + 6);
		size_t dsize = u16_at(node) | (size_t)u16_at(node + 2) << 16;
		bool inside = (nflags & (LMDB_F_DUPDATA | LMDB_F_SUBDATA | LMDB_F_BIGDATA)) ==
			      LMDB_F_DUPDATA;
		if (inside && ((size_t)(node - page) + LMDB_NODE_HEADER + ksize + dsize > w->psize ||
			       !zero_room(node + LMDB_NODE_HEADER + ksize, dsize, &changed)))
			return damaged(w, pgno);
	}
	if (!changed)
		return PL_OK;
	return pwrite(w->fd, page, w->psize, (off_t)(pgno * w->psize)) == (ssize_t)w->psize
		       ? PL_OK
		       : PL_EIO;
}

/*
 * The overflow pages at pgno holding a value of size bytes. A value made
 * smaller in the transaction that wrote it keeps its pages (LMDB rewrites
 * it in place), so the count may exceed what the value needs; pages it
 * claims beyond its own would be reached twice.
 */
static int check_overflow(struct walk *w, uint64_t pgno, uint64_t size)
{
	uint8_t header[LMDB_PAGE_HEADER];
	const uint8_t *page = page_named(w, pgno, header, sizeof header);
	if (!page || u16_at(page + LMDB_PAGE_FLAGS_AT) != LMDB_P_OVERFLOW)
		return damaged(w, pgno);
	uint32_t n;
	memcpy(&n, page + LMDB_PAGE_LOWER_AT, sizeof n);
	if (n < lmdb_overflow_pages(size, w->psize) || n > w->pages - pgno ||
	    !mark(w, pgno, n))
		return damaged(w, pgno);
	return w->scrub ? zero_range(w, pgno * w->psize + LMDB_PAGE_HEADER + size,
				     (pgno + n) * w->psize)
			: PL_OK;
}

static int walk_tree(struct walk *w, uint64_t root, int depth);

/* A tree a leaf points to: in the main tree, the table named by the key. */
static int walk_subtree(struct walk *w, uint64_t root, int depth, const uint8_t *key,
			size_t key_size)
{
	const char *outer = w->where;
	char table[sizeof w->bad->where];
	if (outer == MAIN_TREE) {
		snprintf(table, sizeof table, "LMDB's pages of table '%.*s'",
			 (int)(key_size < 64 ? key_size : 64), (const char *)key);
		w->where = table;
	}
	int rc = walk_tree(w, root, depth);
	w->where = outer;
	return rc;
}

/* The nodes of a branch or leaf page, and what they point to. */
static int walk_nodes(struct walk *w, uint64_t pgno, const uint8_t *page, bool branch, int depth)
{
	uint16_t lower = u16_at(page + LMDB_PAGE_LOWER_AT);
	uint16_t upper = u16_at(page + LMDB_PAGE_UPPER_AT);
	if (lower < LMDB_PAGE_HEADER || lower > upper || upper > w->psize ||
	    (lower - LMDB_PAGE_HEADER) % 2)
		return damaged(w, pgno);
	size_t count = (size_t)(lower - LMDB_PAGE_HEADER) / 2;
	if (branch && count == 0)
		return damaged(w, pgno);
	for (size_t i = 0; i < count; i++) {
		uint16_t at = u16_at(page + LMDB_PAGE_HEADER + 2 * i);
		if (at < upper || (size_t)at + LMDB_NODE_HEADER > w->psize)
			return damaged(w, pgno);
		const uint8_t *node = page + at;
		uint16_t lo = u16_at(node), hi = u16_at(node + 2), flags = u16_at(node + 4),
			 ksize = u16_at(node + 6);
		if ((size_t)at + LMDB_NODE_HEADER + ksize > w->psize)
			return damaged(w, pgno);
		int rc = PL_OK;
		if (branch) {
			uint64_t child = lo | (uint64_t)hi << 16 | (uint64_t)flags << 32;
			rc = walk_tree(w, child, depth + 1);
		} else {
			uint64_t dsize = lo | (uint64_t)hi << 16;
			const uint8_t *data = node + LMDB_NODE_HEADER + ksize;
			size_t inline_size = flags & LMDB_F_BIGDATA ? sizeof(uint64_t) : dsize;
			if ((size_t)at + LMDB_NODE_HEADER + ksize + inline_size > w->psize)
				return damaged(w, pgno);
			if (flags & LMDB_F_BIGDATA)
				rc = check_overflow(w, u64_at(data), dsize);
			else if (flags & LMDB_F_SUBDATA && dsize != LMDB_DB_RECORD)
				rc = damaged(w, pgno);
			else if (flags & LMDB_F_SUBDATA)
				rc = walk_subtree(w, u64_at(data + LMDB_DB_ROOT_AT), depth + 1,
						  node + LMDB_NODE_HEADER, ksize);
		}
		if (rc)
			return rc;
	}
	return PL_OK;
}

static int walk_tree(struct walk *w, uint64_t root, int depth)
{
	if (root == NO_PAGE)
		return PL_OK;
	if (w->stop && (atomic_load_explicit(w->stop, memory_order_relaxed) ||
			store_resize_waiting(w->st)))
		return PL_EBUSY;
	if (depth > MAX_DEPTH)
		return damaged(w, root);
	uint8_t *buf = w->pages_read + (size_t)depth * w->psize;
	const uint8_t *page = page_named(w, root, buf, w->psize);
	if (!page || !mark(w, root, 1))
		return damaged(w, root);
	/* Exactly what LMDB writes: a bit more (a page taken for one already
	 * copied, or one freed) makes the next write go astray. */
	int rc;
	switch (u16_at(page + LMDB_PAGE_FLAGS_AT)) {
	case LMDB_P_BRANCH: rc = walk_nodes(w, root, page, true, depth); break;
	case LMDB_P_LEAF: rc = walk_nodes(w, root, page, false, depth); break;
	case LMDB_P_LEAF | LMDB_P_LEAF2: rc = PL_OK; break; /* fixed-size keys, no nodes to follow */
	default: return damaged(w, root);
	}
	return rc == PL_OK && w->scrub ? scrub_page(w, root, buf) : rc;
}

/* Every page on the list of free pages, which none of the trees may hold
 * and the list holds once. */
static int check_free_list(struct walk *w, MDB_txn *txn)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc = mdb_cursor_open(txn, 0 /* LMDB's FREE_DBI */, &c);
	if (rc)
		return store_error(rc);
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		/* A count, then that many page numbers (store_check_free_pages). */
		size_t n = v.mv_size / sizeof(uint64_t);
		for (size_t i = 1; i < n; i++) {
			uint64_t p = u64_at((const uint8_t *)v.mv_data + i * sizeof(uint64_t));
			/* In use, or listed twice: the next writes would hand it out twice. */
			if (p < w->pages && !mark(w, p, 1)) {
				mdb_cursor_close(c);
				return damaged(w, p);
			}
		}
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? PL_OK : store_error(rc);
}

/* The walk of one snapshot; SNAPSHOT_GONE when its meta page was overwritten already. */
static int check_snapshot(struct walk *w, MDB_txn *txn)
{
	uint64_t id = mdb_txn_id(txn);
	uint8_t metas[2][LMDB_META_TXNID_AT + 8];
	const uint8_t *meta = NULL;
	for (int m = 0; m < 2; m++)
		if (read_page(w, (uint64_t)m, metas[m], sizeof metas[m]) &&
		    u64_at(metas[m] + LMDB_META_TXNID_AT) == id)
			meta = metas[m];
	if (!meta)
		return SNAPSHOT_GONE;
	w->where = FREE_TREE;
	int rc = walk_tree(w, u64_at(meta + LMDB_META_FREE_AT + LMDB_DB_ROOT_AT), 0);
	w->where = MAIN_TREE;
	if (rc == PL_OK)
		rc = walk_tree(w, u64_at(meta + LMDB_META_MAIN_AT + LMDB_DB_ROOT_AT), 0);
	w->where = FREE_TREE; /* a page in use that it lists as free */
	if (rc == PL_OK)
		rc = check_free_list(w, txn);
	return rc;
}

int store_check_pages(struct store *st, struct store_page_damage *bad)
{
	return store_check_pages_until(st, bad, NULL);
}

int store_check_pages_until(struct store *st, struct store_page_damage *bad,
			    const atomic_bool *stop)
{
	struct walk w = {.bad = bad, .stop = stop, .st = st};
	int rc = SNAPSHOT_GONE;
	memset(bad, 0, sizeof *bad);
	for (int i = 0; i < SNAPSHOT_TRIES && rc == SNAPSHOT_GONE; i++) {
		struct store_txn t;
		if ((rc = store_read_begin(st, &t)))
			break;
		/* This snapshot's pages: no writer overwrites them while it is open. */
		MDB_env *env = mdb_txn_env(t.txn);
		MDB_envinfo info;
		MDB_stat ms;
		struct stat sb;
		if (mdb_env_info(env, &info) || mdb_env_stat(env, &ms) ||
		    mdb_env_get_fd(env, &w.fd) || fstat(w.fd, &sb)) {
			store_abort(&t);
			rc = PL_EIO;
			break;
		}
		w.psize = ms.ms_psize;
		uint64_t last = (uint64_t)info.me_last_pgno + 1;
		uint64_t in_file = (uint64_t)sb.st_size / w.psize;
		w.pages = last < in_file ? last : in_file;
		free(w.seen);
		w.seen = calloc((size_t)(w.pages + 7) / 8, 1);
		if (!w.pages_read)
			w.pages_read = malloc((MAX_DEPTH + 1) * w.psize);
		rc = w.seen && w.pages_read ? check_snapshot(&w, t.txn) : PL_ENOMEM;
		store_abort(&t);
	}
	free(w.seen);
	free(w.pages_read);
	if (rc == SNAPSHOT_GONE)
		rc = PL_OK; /* a writer commits faster than a snapshot is looked at: nothing said */
	return rc;
}

int store_scrub_copy(const char *path)
{
	struct store_page_damage bad;
	struct walk w = {.bad = &bad, .scrub = true, .where = MAIN_TREE};
	struct stat sb;
	uint8_t first[LMDB_META_FREE_AT + 4];
	if ((w.fd = open(path, O_RDWR | O_CLOEXEC)) < 0)
		return pl_from_errno(errno);
	int rc = fstat(w.fd, &sb) ? pl_from_errno(errno) : PL_OK;
	/* The page size, as the first meta page gives it (the free pages' record's pad). */
	uint32_t psize = 0;
	if (rc == 0 && pread(w.fd, first, sizeof first, 0) == (ssize_t)sizeof first)
		memcpy(&psize, first + LMDB_META_FREE_AT, sizeof psize);
	if (rc == 0 && (psize < 512 || psize > 65536 || (psize & (psize - 1))))
		rc = PL_ECORRUPT;
	w.psize = psize;
	w.pages = rc ? 0 : (uint64_t)sb.st_size / psize;
	w.seen = calloc((size_t)(w.pages + 7) / 8 + 1, 1);
	w.pages_read = malloc((MAX_DEPTH + 1) * psize);
	if (rc == 0 && (!w.seen || !w.pages_read))
		rc = PL_ENOMEM;
	/* The newer of the two meta pages: the copy's only snapshot. */
	uint8_t metas[2][LMDB_META_TXNID_AT + 8];
	const uint8_t *meta = NULL;
	for (int m = 0; rc == 0 && m < 2; m++)
		if (read_page(&w, (uint64_t)m, metas[m], sizeof metas[m]) &&
		    (!meta || u64_at(metas[m] + LMDB_META_TXNID_AT) > u64_at(meta + LMDB_META_TXNID_AT)))
			meta = metas[m];
	if (rc == 0 && !meta)
		rc = PL_ECORRUPT;
	if (rc == 0) {
		w.where = FREE_TREE;
		rc = walk_tree(&w, u64_at(meta + LMDB_META_FREE_AT + LMDB_DB_ROOT_AT), 0);
		w.where = MAIN_TREE;
	}
	if (rc == 0)
		rc = walk_tree(&w, u64_at(meta + LMDB_META_MAIN_AT + LMDB_DB_ROOT_AT), 0);
	if (rc == 0 && fdatasync(w.fd) != 0)
		rc = pl_from_errno(errno);
	free(w.seen);
	free(w.pages_read);
	close(w.fd);
	return rc;
}
