/* proj_staged.c — the history and the comments written behind; see proj_staged.h. */
#include "proj_staged.h"

#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "fp.h"
#include "memtable.h"
#include "pl_error.h"
#include "proj.h"
#include "proj_history_table.h"
#include "proj_records.h"

/* Room for a row of val_len bytes under key (which ends with seq) in a staged table. */
static uint8_t *stage(struct store_txn *t, enum store_slot slot, enum store_slot_table table,
		      uint64_t seq, const void *key, size_t key_len, size_t val_len)
{
	uint8_t k[8];
	bytes_put_be64(k, seq);
	/* The key ends with seq: the staged row's own key has it. */
	key_len -= 8;
	uint8_t *p = store_reserve(t, store_slot_db(slot, table), k, sizeof k, key_len + val_len,
				   MDB_APPEND);
	if (!p)
		return NULL;
	memcpy(p, key, key_len);
	return p + key_len;
}

void proj_stage_history(struct store_txn *t, enum store_slot slot, uint64_t seq, const void *key,
			size_t key_len, const void *val, size_t val_len)
{
	uint8_t *p = stage(t, slot, SLOT_HISTORY_STAGED, seq, key, key_len, val_len);
	if (p)
		memcpy(p, val, val_len);
}

void proj_stage_comment(struct store_txn *t, enum store_slot slot, uint64_t seq, const void *key,
			size_t key_len, const struct proj_comment *c)
{
	uint8_t *p = stage(t, slot, SLOT_COMMENTS_STAGED, seq, key, key_len,
			   proj_comment_encode(NULL, c));
	if (p)
		proj_comment_encode(p, c);
}

/* LMDB's default order of keys (mdb_cmp_memn): bytes, then the shorter first. */
static int key_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);
	return c ? c : (alen > blen) - (alen < blen);
}

void proj_staged_init(struct proj_staged *s)
{
	memset(s, 0, sizeof *s);
}

void proj_staged_deinit(struct proj_staged *s)
{
	free(s->rows);
	free(s->spare);
	free(s->bytes);
	memset(s, 0, sizeof *s);
}

/* The longest row a staged table holds. */
static size_t row_max(enum store_slot_table table)
{
	return table == SLOT_HISTORY_STAGED ? PROJ_HISTORY_MAX : UINT16_MAX;
}

/* Forgets the rows held, keeping the memory. */
static void forget_rows(struct proj_staged *s)
{
	s->count = 0;
	s->used = 0;
	s->first_seq = 0;
	s->last_seq = 0;
	s->moved = false;
}

static const uint8_t *row_key(const struct proj_staged *s, const struct proj_staged_row *r)
{
	return s->bytes + r->off;
}

/* A new row with where its key is, for sorting without the arena at hand. */
struct fresh {
	const uint8_t *key;
	struct proj_staged_row row;
};

static int fresh_cmp(const void *a, const void *b)
{
	const struct fresh *x = a, *y = b;
	return key_cmp(x->key, x->row.key_len, y->key, y->row.key_len);
}

static bool reserve(void **p, size_t *cap, size_t want, size_t size)
{
	if (want <= *cap)
		return true;
	size_t n = *cap ? *cap : 1024;
	while (n < want)
		n *= 2;
	void *q = realloc(*p, n * size);
	if (!q)
		return false;
	*p = q;
	*cap = n;
	return true;
}

/* Room for count + more rows in both row arrays. */
static bool reserve_rows(struct proj_staged *s, size_t more)
{
	size_t cap = s->cap, spare_cap = s->cap;
	if (!reserve((void **)&s->rows, &cap, s->count + more, sizeof *s->rows))
		return false;
	if (!reserve((void **)&s->spare, &spare_cap, s->count + more, sizeof *s->spare))
		return false; /* cap stays what both arrays have at least */
	s->cap = cap < spare_cap ? cap : spare_cap;
	return true;
}

void proj_staged_hold(struct proj_staged *s, uint64_t seq, const void *key, size_t key_len,
		      const void *val, size_t val_len)
{
	size_t size = key_len + val_len;
	if (s->moved) /* what it holds is in the history table now */
		forget_rows(s);
	if ((s->count && seq <= s->last_seq) || !reserve_rows(s, 1) ||
	    !reserve((void **)&s->bytes, &s->size, s->used + size, 1) || s->used + size > UINT32_MAX ||
	    key_len > UINT16_MAX || val_len > UINT16_MAX) {
		forget_rows(s);
		return;
	}
	memcpy(s->bytes + s->used, key, key_len);
	memcpy(s->bytes + s->used + key_len, val, val_len);
	s->rows[s->count++] = (struct proj_staged_row){(uint32_t)s->used, (uint16_t)key_len,
						       (uint16_t)val_len};
	s->used += size;
	if (s->count == 1)
		s->first_seq = seq;
	s->last_seq = seq;
}

struct proj_staged_mark proj_staged_mark(const struct proj_staged *s)
{
	return (struct proj_staged_mark){s->count, s->used, s->first_seq, s->last_seq};
}

void proj_staged_commit(struct proj_staged *s)
{
	if (s->moved)
		forget_rows(s);
}

void proj_staged_undo(struct proj_staged *s, struct proj_staged_mark m)
{
	s->moved = false;
	if (s->count < m.count || (m.count && s->first_seq != m.first_seq)) {
		forget_rows(s);
		return;
	}
	s->count = m.count;
	s->used = m.used;
	s->first_seq = m.first_seq;
	s->last_seq = m.last_seq;
}

/* Merges the sorted fresh rows into s's sorted rows. */
static int merge(struct proj_staged *s, struct fresh *fresh, size_t n)
{
	if (n == 0)
		return PL_OK;
	/* Aimed now: the arena may have moved while the rows were read. */
	for (size_t i = 0; i < n; i++)
		fresh[i].key = s->bytes + fresh[i].row.off;
	qsort(fresh, n, sizeof *fresh, fresh_cmp);
	if (!reserve_rows(s, n))
		return PL_ENOMEM;
	size_t i = 0, j = 0, out = 0;
	while (i < s->count || j < n) {
		bool take_old = j == n;
		if (i < s->count && j < n) {
			const struct proj_staged_row *r = &s->rows[i];
			take_old = key_cmp(row_key(s, r), r->key_len, fresh[j].key, fresh[j].row.key_len) <= 0;
		}
		s->spare[out++] = take_old ? s->rows[i++] : fresh[j++].row;
	}
	struct proj_staged_row *tmp = s->rows;
	s->rows = s->spare;
	s->spare = tmp;
	s->count = out;
	return PL_OK;
}

/*
 * Reads the staged rows from the cursor's position (rc of the get that put
 * it there) to the end into s: merged into its order, or with in_log_order
 * appended as read (s then holds them in log order, not sorted).
 */
static int read_rows(struct proj_staged *s, struct store_txn *t, MDB_cursor *c, MDB_val *k,
		     MDB_val *v, int rc, bool in_log_order, size_t max_row)
{
	struct fresh *fresh = NULL;
	size_t n = 0, cap = 0;
	int err = PL_OK;
	for (; rc == 0; rc = mdb_cursor_get(c, k, v, MDB_NEXT)) {
		/* value: the row's key but its last 8 bytes (the seq, which is
		 * the staged key), then the row; held as the whole key, then the row */
		const uint8_t *val = v->mv_data;
		size_t head = v->mv_size ? 1 + (size_t)val[0] + 8 : 0, size = v->mv_size + 8;
		if (k->mv_size != 8 || v->mv_size == 0 || head > v->mv_size ||
		    v->mv_size - head > max_row) {
			err = store_txn_fail(t, PL_ECORRUPT);
			break;
		}
		if (!reserve((void **)&fresh, &cap, n + 1, sizeof *fresh) ||
		    !reserve((void **)&s->bytes, &s->size, s->used + size, 1) ||
		    s->used + size > UINT32_MAX) {
			err = PL_ENOMEM;
			break;
		}
		uint8_t *to = s->bytes + s->used;
		memcpy(to, val, head);
		memcpy(to + head, k->mv_data, 8);
		memcpy(to + head + 8, val + head, v->mv_size - head);
		fresh[n++] = (struct fresh){NULL, {(uint32_t)s->used, (uint16_t)(head + 8),
						   (uint16_t)(v->mv_size - head)}};
		s->used += size;
		s->last_seq = bytes_get_be64(k->mv_data);
	}
	if (err == 0 && rc != MDB_NOTFOUND)
		err = store_txn_fail(t, store_error(rc));
	if (err == 0 && in_log_order) {
		if (reserve_rows(s, n))
			for (size_t i = 0; i < n; i++)
				s->rows[s->count++] = fresh[i].row;
		else
			err = PL_ENOMEM;
	} else if (err == 0) {
		err = merge(s, fresh, n);
	}
	free(fresh);
	if (err)
		forget_rows(s); /* what was read in part is no sound state to go on from */
	return err;
}

/*
 * Reads the rows of slot's staged table that s does not hold yet, or all
 * when a move took those it holds (in_log_order: see read_rows).
 */
static int load(struct proj_staged *s, struct store_txn *t, enum store_slot slot,
		enum store_slot_table table, bool in_log_order)
{
	MDB_cursor *c = store_cursor(t, store_slot_db(slot, table));
	if (!c)
		return t->err;
	MDB_val k, v;
	int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
	if (rc == 0 && k.mv_size != 8)
		rc = MDB_CORRUPTED;
	if (rc) {
		mdb_cursor_close(c);
		forget_rows(s);
		return rc == MDB_NOTFOUND ? PL_OK : store_txn_fail(t, store_error(rc));
	}
	uint64_t first = bytes_get_be64(k.mv_data);
	if (s->count && first != s->first_seq)
		forget_rows(s); /* moved: the rows held are in the history table now */
	if (s->count) {
		uint8_t from[8];
		bytes_put_be64(from, s->last_seq + 1);
		k = (MDB_val){sizeof from, from};
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	}
	s->first_seq = first;
	rc = read_rows(s, t, c, &k, &v, rc, in_log_order, row_max(table));
	mdb_cursor_close(c);
	return rc;
}

static int sync(struct proj_staged *s, struct store_txn *t, enum store_slot slot,
		enum store_slot_table table)
{
	enum store_slot live;
	uint64_t generation;
	int rc = proj_live(t, &live, &generation);
	if (rc)
		return rc;
	if (!s->synced || s->slot != slot || s->table != table || s->generation != generation) {
		forget_rows(s);
		s->synced = true;
		s->slot = slot;
		s->table = table;
		s->generation = generation;
	}
	/* Rows held across transactions: a staged comment removed since (the
	 * one change but appends and moves; staged history rows never are)
	 * leaves the table with fewer rows than s, which then reads them all. */
	uint64_t entries;
	rc = load(s, t, slot, table, false);
	if (rc == 0)
		rc = store_entries(t, store_slot_db(slot, table), &entries);
	if (rc == 0 && entries != s->count) {
		forget_rows(s);
		rc = load(s, t, slot, table, false);
	}
	return rc;
}

int proj_staged_sync(struct proj_staged *s, struct store_txn *t, enum store_slot slot)
{
	return sync(s, t, slot, SLOT_HISTORY_STAGED);
}

int proj_staged_sync_comments(struct proj_staged *s, struct store_txn *t, enum store_slot slot)
{
	return sync(s, t, slot, SLOT_COMMENTS_STAGED);
}

/*
 * The order of the rows s holds (in log order) for a move: grouped by
 * campaign, each campaign's in log order, which is mostly its time order.
 * Where rows land does not depend on the order of the puts, only which
 * pages stay at hand: a campaign's rows one after another fill its last
 * page and the next, with no sort of every row.
 */
static int group_by_campaign(const struct proj_staged *s, uint32_t *order)
{
	struct memtable groups; /* campaign fingerprint → its group's number */
	uint32_t *group = malloc(s->count * sizeof *group), *start = NULL, ngroups = 0;
	int rc = memtable_init(&groups, sizeof(uint32_t));
	if (!group || rc) {
		free(group);
		if (rc == 0)
			memtable_deinit(&groups);
		return PL_ENOMEM;
	}
	for (size_t i = 0; rc == 0 && i < s->count; i++) {
		const uint8_t *key = row_key(s, &s->rows[i]);
		struct fp f;
		fp_of(&f, 0, key, 1 + (size_t)key[0]); /* the length-prefixed id; a table of its own */
		const uint32_t *g = memtable_get(&groups, &f);
		if (g) {
			group[i] = *g;
			continue;
		}
		group[i] = ngroups;
		rc = memtable_put(&groups, &f, &ngroups);
		ngroups++;
	}
	if (rc == 0 && !(start = calloc((size_t)ngroups + 1, sizeof *start)))
		rc = PL_ENOMEM;
	if (rc == 0) {
		for (size_t i = 0; i < s->count; i++) /* counting sort, stable */
			start[group[i] + 1]++;
		for (uint32_t g = 0; g < ngroups; g++)
			start[g + 1] += start[g];
		for (size_t i = 0; i < s->count; i++)
			order[start[group[i]]++] = (uint32_t)i;
	}
	free(start);
	free(group);
	memtable_deinit(&groups);
	return rc;
}

/* Moves the staged comments into COMMENTS, in key order through one cursor. */
static int move_comments(struct store_txn *t, enum store_slot slot)
{
	struct proj_staged s;
	proj_staged_init(&s);
	/* Copied out and sorted first, as COMMENTS will have them. */
	int rc = load(&s, t, slot, SLOT_COMMENTS_STAGED, false);
	MDB_cursor *to = rc ? NULL : store_txn_cursor(t, store_slot_db(slot, SLOT_COMMENTS));
	for (size_t i = 0; to && i < s.count; i++) {
		MDB_val k, v;
		proj_staged_row(&s, i, &k, &v);
		if ((rc = mdb_cursor_put(to, &k, &v, 0))) {
			rc = store_txn_fail(t, store_error(rc));
			break;
		}
	}
	proj_staged_deinit(&s);
	if (rc == 0)
		store_clear(t, store_slot_db(slot, SLOT_COMMENTS_STAGED));
	return rc ? rc : t->err;
}

void proj_comment_del(struct store_txn *t, enum store_slot slot, const void *key, size_t key_len)
{
	/* Staged under its log position, the key's last 8 bytes. */
	enum store_db staged = store_slot_db(slot, SLOT_COMMENTS_STAGED);
	const uint8_t *seq = (const uint8_t *)key + key_len - 8;
	MDB_val v;
	int rc = key_len >= 8 ? store_get(t, staged, seq, 8, &v) : store_txn_fail(t, PL_EINVAL);
	if (rc == 0)
		store_del(t, staged, seq, 8);
	else if (rc == PL_ENOTFOUND)
		store_del(t, store_slot_db(slot, SLOT_COMMENTS), key, key_len);
}

int proj_staged_move(struct store_txn *t, enum store_slot slot, size_t min_rows,
		     struct proj_staged *held, uint64_t *read_back)
{
	enum store_db staged = store_slot_db(slot, SLOT_HISTORY_STAGED);
	enum store_db history = store_slot_db(slot, SLOT_HISTORY);
	uint64_t entries;
	int rc = store_entries(t, staged, &entries);
	if (rc || entries == 0 || entries < min_rows)
		return rc;
	/* What held lacks (all, after a restart), read back in log order and
	 * copied out: the puts below may move the pages the rows are on. */
	size_t had = held->count;
	uint64_t had_first = held->first_seq;
	rc = load(held, t, slot, SLOT_HISTORY_STAGED, true);
	if (held->first_seq != had_first) /* it held no prefix of the table: read afresh */
		had = 0;
	if (rc == 0 && held->count != entries) { /* held more than the table: not its copy */
		forget_rows(held);
		had = 0;
		rc = load(held, t, slot, SLOT_HISTORY_STAGED, true);
	}
	if (rc == 0 && held->count != entries)
		rc = PL_ECORRUPT;
	if (rc == 0)
		*read_back += held->count - had;
	uint32_t *order = NULL;
	if (rc == 0 && !(order = malloc(held->count * sizeof *order)))
		rc = PL_ENOMEM;
	if (rc == 0)
		rc = group_by_campaign(held, order);
	struct proj_history_appender app = {.c = store_txn_cursor(t, history)};
	if (rc == 0 && !app.c)
		rc = t->err;
	/* Grouped, the rows are read out of the order they were loaded in:
	 * ask for the next ones early, or each waits for memory in turn. */
	enum { AHEAD = 8 };
	for (size_t i = 0; rc == 0 && i < held->count; i++) {
		if (i + 2 * AHEAD < held->count)
			__builtin_prefetch(&held->rows[order[i + 2 * AHEAD]]);
		if (i + AHEAD < held->count)
			__builtin_prefetch(row_key(held, &held->rows[order[i + AHEAD]]));
		const struct proj_staged_row *r = &held->rows[order[i]];
		int mrc = proj_history_append(&app, row_key(held, r), r->key_len,
					      row_key(held, r) + r->key_len, r->val_len);
		if (mrc)
			rc = store_error(mrc);
	}
	free(order);
	if (rc)
		return store_txn_fail(t, rc);
	held->moved = true;
	store_clear(t, staged);
	return t->err ? t->err : move_comments(t, slot);
}

void proj_staged_row(const struct proj_staged *s, size_t i, MDB_val *k, MDB_val *v)
{
	const struct proj_staged_row *r = &s->rows[i];
	*k = (MDB_val){r->key_len, (uint8_t *)row_key(s, r)};
	*v = (MDB_val){r->val_len, (uint8_t *)row_key(s, r) + r->key_len};
}

int proj_staged_key_cmp(const MDB_val *a, const MDB_val *b)
{
	return key_cmp(a->mv_data, a->mv_size, b->mv_data, b->mv_size);
}

size_t proj_staged_lower_bound(const struct proj_staged *s, const void *key, size_t key_len)
{
	size_t lo = 0, hi = s->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct proj_staged_row *r = &s->rows[mid];
		if (key_cmp(row_key(s, r), r->key_len, key, key_len) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Makes the row LMDB's last get gave (c->rc) the cursor's, with its whole key. */
static int settle(struct proj_history_cursor *c)
{
	if (c->rc == 0 && c->split) {
		if (c->v.mv_size < PROJ_HISTORY_HEAD || c->k.mv_size + PROJ_HISTORY_HEAD > sizeof c->key)
			c->rc = MDB_CORRUPTED;
		else {
			memcpy(c->key, c->k.mv_data, c->k.mv_size);
			memcpy(c->key + c->k.mv_size, c->v.mv_data, PROJ_HISTORY_HEAD);
			c->k = (MDB_val){c->k.mv_size + PROJ_HISTORY_HEAD, c->key};
			c->v = (MDB_val){c->v.mv_size - PROJ_HISTORY_HEAD, (uint8_t *)c->v.mv_data + PROJ_HISTORY_HEAD};
		}
	}
	if (c->rc && c->rc != MDB_NOTFOUND)
		return store_txn_fail(c->t, store_error(c->rc));
	return PL_OK;
}

int proj_history_cursor_open(struct proj_history_cursor *c, struct store_txn *t, enum store_db db,
			     const struct proj_staged *staged, const void *from, size_t from_len)
{
	memset(c, 0, sizeof *c);
	c->t = t;
	c->staged = staged;
	if (!(c->cur = store_cursor(t, db)))
		return t->err;
	unsigned flags = 0;
	if ((c->rc = mdb_dbi_flags(t->txn, store_dbi(t, db), &flags)))
		return store_txn_fail(t, store_error(c->rc));
	c->split = flags & MDB_DUPSORT;
	if (from && c->split && from_len != proj_history_prefix_len(from, from_len))
		return PL_EINVAL; /* a campaign's rows begin at its first duplicate */
	if (from) {
		c->k = (MDB_val){from_len, (void *)from};
		c->rc = mdb_cursor_get(c->cur, &c->k, &c->v, MDB_SET_RANGE);
	} else {
		c->rc = mdb_cursor_get(c->cur, &c->k, &c->v, MDB_FIRST);
	}
	if (from && staged)
		c->next = proj_staged_lower_bound(staged, from, from_len);
	return settle(c);
}

/* Whether the staged row is the cursor's row (else the history table's is). */
static bool at_staged(const struct proj_history_cursor *c)
{
	const struct proj_staged *s = c->staged;
	if (!s || c->next >= s->count)
		return false;
	if (c->rc)
		return true;
	const struct proj_staged_row *r = &s->rows[c->next];
	return key_cmp(row_key(s, r), r->key_len, c->k.mv_data, c->k.mv_size) < 0;
}

int proj_history_cursor_get(const struct proj_history_cursor *c, MDB_val *k, MDB_val *v)
{
	if (at_staged(c)) {
		const struct proj_staged_row *r = &c->staged->rows[c->next];
		const uint8_t *p = row_key(c->staged, r);
		*k = (MDB_val){r->key_len, (void *)p};
		*v = (MDB_val){r->val_len, (void *)(p + r->key_len)};
		return 0;
	}
	if (c->rc)
		return MDB_NOTFOUND;
	*k = c->k;
	*v = c->v;
	return 0;
}

int proj_history_cursor_next(struct proj_history_cursor *c)
{
	if (at_staged(c)) {
		c->next++;
		return PL_OK;
	}
	if (c->rc)
		return PL_OK;
	c->rc = mdb_cursor_get(c->cur, &c->k, &c->v, MDB_NEXT);
	return settle(c);
}

void proj_history_cursor_close(struct proj_history_cursor *c)
{
	if (c->cur)
		mdb_cursor_close(c->cur);
	c->cur = NULL;
}
