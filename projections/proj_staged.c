/* proj_staged.c — the history and the comments written behind; see proj_staged.h. */
#include "proj_staged.h"

#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "big_alloc.h"
#include "bytes.h"
#include "fp.h"
#include "memtable.h"
#include "pl_error.h"
#include "proj.h"
#include "proj_history_runs.h"
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
			size_t key_len, const void *row, size_t row_len)
{
	uint8_t *p = stage(t, slot, SLOT_COMMENTS_STAGED, seq, key, key_len, row_len);
	if (p)
		memcpy(p, row, row_len);
}

void proj_staged_init(struct proj_staged *s)
{
	memset(s, 0, sizeof *s);
}

void proj_staged_deinit(struct proj_staged *s)
{
	free(s->rows);
	free(s->spare);
	big_free(s->bytes, s->size);
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
	return proj_key_cmp(x->key, x->row.key_len, y->key, y->row.key_len);
}

/* Room for count + more rows in both row arrays. */
static bool reserve_rows(struct proj_staged *s, size_t more)
{
	size_t cap = s->cap, spare_cap = s->cap;
	if (!array_reserve((void **)&s->rows, &cap, s->count + more, sizeof *s->rows))
		return false;
	if (!array_reserve((void **)&s->spare, &spare_cap, s->count + more, sizeof *s->spare))
		return false; /* cap stays what both arrays have at least */
	s->cap = cap < spare_cap ? cap : spare_cap;
	return true;
}

void proj_staged_hold(struct proj_staged *s, uint64_t seq, const void *key, size_t key_len,
		      const void *val, size_t val_len)
{
	size_t size = key_len + val_len;
	if ((s->count && seq <= s->last_seq) || !reserve_rows(s, 1) ||
	    !big_array_reserve((void **)&s->bytes, &s->size, s->used + size, 1) ||
	    s->used + size > UINT32_MAX ||
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

void proj_staged_undo(struct proj_staged *s, struct proj_staged_mark m)
{
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
			take_old = proj_key_cmp(row_key(s, r), r->key_len, fresh[j].key, fresh[j].row.key_len) <= 0;
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
		    v->mv_size - head > max_row || val[0] > PL_MAX_ID_BYTES) {
			err = store_txn_fail(t, PL_ECORRUPT);
			break;
		}
		if (!array_reserve((void **)&fresh, &cap, n + 1, sizeof *fresh) ||
		    !big_array_reserve((void **)&s->bytes, &s->size, s->used + size, 1) ||
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
	return rc ? rc : proj_move_mark_get(t, slot, &s->mark);
}

int proj_staged_sync(struct proj_staged *s, struct store_txn *t, enum store_slot slot)
{
	return sync(s, t, slot, SLOT_HISTORY_STAGED);
}

int proj_staged_sync_comments(struct proj_staged *s, struct store_txn *t, enum store_slot slot)
{
	return sync(s, t, slot, SLOT_COMMENTS_STAGED);
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
	/* In COMMENTS too when moved, or when a move under way moved it. */
	if (rc == 0 || rc == PL_ENOTFOUND)
		store_del(t, store_slot_db(slot, SLOT_COMMENTS), key, key_len);
}

/* The META key of slot's move mark. */
static const char *mark_key(enum store_slot slot)
{
	return slot == STORE_SLOT_A ? "move.a" : "move.b";
}

/* A mark's value: its kind (1 byte), seq (big-endian 8 bytes), run (4), campaign's key prefix. */
enum { MARK_HEAD = 13 };

int proj_move_mark_get(struct store_txn *t, enum store_slot slot, struct proj_move_mark *m)
{
	MDB_val v;
	memset(m, 0, sizeof *m);
	int rc = store_get(t, STORE_DB_META, mark_key(slot), strlen(mark_key(slot)), &v);
	if (rc)
		return rc == PL_ENOTFOUND ? PL_OK : rc;
	const uint8_t *p = v.mv_data;
	size_t len = v.mv_size - MARK_HEAD;
	if (v.mv_size < MARK_HEAD || len > sizeof m->campaign || (len && p[MARK_HEAD] != len - 1) ||
	    (p[0] != PROJ_MARK_MOVE && p[0] != PROJ_MARK_COMPACT) ||
	    (p[0] == PROJ_MARK_MOVE && bytes_get_be64(p + 1) == 0) || bytes_get_be32(p + 9) == 0)
		return store_txn_fail(t, PL_ECORRUPT);
	m->kind = p[0];
	m->seq = bytes_get_be64(p + 1);
	m->run = bytes_get_be32(p + 9);
	memcpy(m->campaign, p + MARK_HEAD, len);
	m->campaign_len = len;
	return PL_OK;
}

static void mark_put(struct store_txn *t, enum store_slot slot, const struct proj_move_mark *m)
{
	uint8_t v[MARK_HEAD + sizeof m->campaign];
	v[0] = (uint8_t)m->kind;
	bytes_put_be64(v + 1, m->seq);
	bytes_put_be32(v + 9, m->run);
	memcpy(v + MARK_HEAD, m->campaign, m->campaign_len);
	store_put(t, STORE_DB_META, mark_key(slot), strlen(mark_key(slot)), v,
		  MARK_HEAD + m->campaign_len, 0);
}

void proj_move_mark_del(struct store_txn *t, enum store_slot slot)
{
	store_del(t, STORE_DB_META, mark_key(slot), strlen(mark_key(slot)));
}

/* A staged key's log position: its last 8 bytes. */
static uint64_t key_seq(const uint8_t *key, size_t len)
{
	return bytes_get_be64(key + len - 8);
}

bool proj_staged_moved(const struct proj_staged *s, size_t i)
{
	const struct proj_staged_row *r = &s->rows[i];
	const uint8_t *key = row_key(s, r);
	return s->mark.kind == PROJ_MARK_MOVE && key_seq(key, r->key_len) <= s->mark.seq &&
	       proj_key_cmp(key, proj_key_prefix_len(key), s->mark.campaign, s->mark.campaign_len) <= 0;
}

void proj_mover_init(struct proj_mover *m)
{
	memset(m, 0, sizeof *m);
	proj_staged_init(&m->rows);
	proj_staged_init(&m->comments);
}

void proj_mover_deinit(struct proj_mover *m)
{
	proj_staged_deinit(&m->rows);
	proj_staged_deinit(&m->comments);
	free(m->order);
	free(m->group_end);
	memset(m, 0, sizeof *m);
}

/* A group of a move's rows: its campaign's key prefix. */
struct group_key {
	const uint8_t *key;
	uint32_t group;
};

static int group_key_cmp(const void *a, const void *b)
{
	const struct group_key *x = a, *y = b;
	return proj_key_cmp(x->key, proj_key_prefix_len(x->key), y->key, proj_key_prefix_len(y->key));
}

/*
 * Orders the rows m holds (in log order) for moving: grouped by campaign,
 * the groups in the order of the campaigns' keys, each campaign's rows in
 * log order, which is mostly its time order. A campaign's rows one after
 * another fill its last page and the next, with no sort of every row.
 */
static int group_by_campaign(struct proj_mover *m)
{
	const struct proj_staged *s = &m->rows;
	struct memtable groups; /* campaign fingerprint → its group's number */
	uint32_t *group = malloc((s->count ? s->count : 1) * sizeof *group), *rank = NULL;
	uint32_t ngroups = 0;
	struct group_key *keys = NULL;
	size_t keys_cap = 0;
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
		fp_of(&f, 0, key, proj_key_prefix_len(key)); /* the length-prefixed id; a table of its own */
		const uint32_t *g = memtable_get(&groups, &f);
		if (g) {
			group[i] = *g;
			continue;
		}
		group[i] = ngroups;
		if (!array_reserve((void **)&keys, &keys_cap, (size_t)ngroups + 1, sizeof *keys))
			rc = PL_ENOMEM;
		else
			keys[ngroups] = (struct group_key){key, ngroups};
		if (rc == 0)
			rc = memtable_put(&groups, &f, &ngroups);
		ngroups++;
	}
	free(m->order);
	free(m->group_end);
	m->order = malloc((s->count ? s->count : 1) * sizeof *m->order);
	m->group_end = calloc((size_t)ngroups + 1, sizeof *m->group_end);
	m->ngroups = 0;
	if (rc == 0 && (!m->order || !m->group_end ||
			!(rank = malloc(((size_t)ngroups + 1) * sizeof *rank))))
		rc = PL_ENOMEM;
	if (rc == 0) {
		if (ngroups)
			qsort(keys, ngroups, sizeof *keys, group_key_cmp);
		for (uint32_t r = 0; r < ngroups; r++)
			rank[keys[r].group] = r;
		for (size_t i = 0; i < s->count; i++)
			group[i] = rank[group[i]];
		/* A counting sort by rank, stable: group_end[r] first counts
		 * group r's rows, then sums them to where the group ends. */
		for (size_t i = 0; i < s->count; i++)
			m->group_end[group[i]]++;
		for (uint32_t r = 1; r < ngroups; r++)
			m->group_end[r] += m->group_end[r - 1];
		uint32_t *next = rank; /* no longer needed: where each group's next row goes */
		for (uint32_t r = 0; r < ngroups; r++)
			next[r] = r ? m->group_end[r - 1] : 0;
		for (size_t i = 0; i < s->count; i++)
			m->order[next[group[i]]++] = (uint32_t)i;
		m->ngroups = ngroups;
	}
	free(rank);
	free(keys);
	free(group);
	memtable_deinit(&groups);
	return rc;
}

/* The key of group g's last row of m, which starts with its campaign's prefix. */
static const uint8_t *group_campaign(const struct proj_mover *m, size_t g)
{
	return row_key(&m->rows, &m->rows.rows[m->order[m->group_end[g] - 1]]);
}

/* The first group of m whose campaign sorts after the mark's. */
static size_t first_unmoved(const struct proj_mover *m, const struct proj_move_mark *mark)
{
	size_t lo = 0, hi = m->ngroups;
	if (mark->campaign_len == 0)
		return 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const uint8_t *key = group_campaign(m, mid);
		if (proj_key_cmp(key, proj_key_prefix_len(key), mark->campaign, mark->campaign_len) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* How many rows db (a staged table) holds, and its first and last log positions. */
static int staged_bounds(struct store_txn *t, enum store_db db, uint64_t *entries, uint64_t *first,
			 uint64_t *last)
{
	*first = *last = 0;
	MDB_val k, v;
	int rc = store_entries(t, db, entries);
	if (rc || *entries == 0)
		return rc;
	if ((rc = store_first(t, db, &k, &v)) == 0 && k.mv_size == 8)
		*first = bytes_get_be64(k.mv_data);
	if (rc == 0 && (rc = store_last(t, db, &k, &v)) == 0 && k.mv_size == 8)
		*last = bytes_get_be64(k.mv_data);
	if (rc)
		return rc == PL_ENOTFOUND ? store_txn_fail(t, PL_ECORRUPT) : rc;
	return *first && *last >= *first ? PL_OK : store_txn_fail(t, PL_ECORRUPT);
}

/* Makes m hold the staged history rows up to through_seq, read from the table. */
static int load_through(struct proj_mover *m, struct store_txn *t, enum store_slot slot,
			uint64_t through_seq, uint64_t *read_back)
{
	struct proj_staged *s = &m->rows;
	forget_rows(s);
	m->through_seq = 0;
	int rc = load(s, t, slot, SLOT_HISTORY_STAGED, true);
	while (rc == 0 && s->count) { /* rows staged after the move began: not its own */
		const struct proj_staged_row *r = &s->rows[s->count - 1];
		if (key_seq(row_key(s, r), r->key_len) <= through_seq)
			break;
		s->count--;
		s->used = r->off;
	}
	if (rc == 0 && s->count == 0)
		rc = store_txn_fail(t, PL_ECORRUPT); /* a move with no rows of its own */
	if (rc == 0) {
		s->last_seq = through_seq;
		*read_back += s->count;
		m->through_seq = through_seq;
	}
	return rc;
}

/*
 * Readies m for the move the mark says is under way, or for a new one
 * (mark->seq 0: it sets the mark's seq). 0, or PL_ENOTFOUND: nothing to move.
 */
static int ready(struct proj_mover *m, struct store_txn *t, enum store_slot slot, size_t min_rows,
		 struct proj_staged *held, struct proj_move_mark *mark, uint64_t *read_back)
{
	uint64_t entries, first, last;
	int rc = staged_bounds(t, store_slot_db(slot, SLOT_HISTORY_STAGED), &entries, &first, &last);
	if (rc)
		return rc;
	if (mark->seq && (entries == 0 || first > mark->seq))
		return store_txn_fail(t, PL_ECORRUPT); /* a mark whose rows are gone */
	if (!mark->seq && (entries == 0 || entries < min_rows))
		return PL_ENOTFOUND;
	/* What m holds for the move under way, or for one that began in a
	 * transaction that failed, is still right: staged history rows are
	 * only ever appended, or deleted by the last transaction of a move. */
	bool grouped = m->through_seq && m->rows.count && m->rows.first_seq == first &&
		       (mark->seq ? m->through_seq == mark->seq : m->through_seq <= last);
	if (!grouped && !mark->seq && held->count == entries && held->first_seq == first &&
	    held->last_seq == last) {
		/* The writer holds the whole table: take its rows, give it m's memory. */
		struct proj_staged spare = m->rows;
		m->rows = *held;
		*held = spare;
		forget_rows(held);
		m->through_seq = last;
	} else if (!grouped) {
		uint64_t through = mark->seq ? mark->seq : last;
		/* The writer holds the table's last rows (a writer opened anew):
		 * those the move reads back go, or they would stay held, move after
		 * move, and the rows held would never be the whole table again. */
		if (held->count && held->first_seq <= through)
			forget_rows(held);
		rc = load_through(m, t, slot, through, read_back);
	}
	if (rc == 0 && !grouped)
		rc = group_by_campaign(m);
	if (rc)
		m->through_seq = 0; /* nothing m holds is to be trusted */
	else if (!mark->seq)
		mark->seq = m->through_seq;
	return rc;
}

/*
 * Moves the staged comments logged up to through_seq whose campaigns sort
 * after `after` (none: from the first) and up to the campaign of key
 * `upto` (NULL: to the last) into COMMENTS, in key order through one cursor.
 * s keeps them sorted from transaction to transaction of a move, reading
 * only what is new (a removal makes it read them all).
 */
static int move_comments(struct store_txn *t, enum store_slot slot, struct proj_staged *s,
			 uint64_t through_seq, const uint8_t *after, size_t after_len,
			 const uint8_t *upto)
{
	int rc = proj_staged_sync_comments(s, t, slot);
	MDB_cursor *to = rc ? NULL : store_txn_cursor(t, store_slot_db(slot, SLOT_COMMENTS));
	size_t i = after_len ? proj_staged_lower_bound(s, after, after_len) : 0;
	for (; to && i < s->count; i++) {
		MDB_val k, v;
		proj_staged_row(s, i, &k, &v);
		const uint8_t *key = k.mv_data;
		if (after_len && proj_key_cmp(key, proj_key_prefix_len(key), after, after_len) <= 0)
			continue; /* the campaign of after itself */
		if (upto && proj_key_cmp(key, proj_key_prefix_len(key), upto, proj_key_prefix_len(upto)) > 0)
			break;
		if (key_seq(key, k.mv_size) > through_seq)
			continue; /* staged after the move began */
		if ((rc = mdb_cursor_put(to, &k, &v, 0))) {
			rc = store_txn_fail(t, store_error(rc));
			break;
		}
	}
	return rc ? rc : t->err;
}

/* Deletes the rows of db (a staged table) logged up to through_seq: the first ones. */
static int delete_through(struct store_txn *t, enum store_db db, uint64_t through_seq)
{
	uint64_t entries, first, last;
	int rc = staged_bounds(t, db, &entries, &first, &last);
	if (rc || entries == 0)
		return rc;
	if (last <= through_seq) {
		store_clear(t, db); /* nothing staged since the move began: dropped whole */
		return t->err;
	}
	MDB_cursor *c = store_txn_cursor(t, db);
	if (!c)
		return t->err;
	MDB_val k, v;
	while ((rc = mdb_cursor_get(c, &k, &v, MDB_FIRST)) == 0 && k.mv_size == 8 &&
	       bytes_get_be64(k.mv_data) <= through_seq)
		if ((rc = mdb_cursor_del(c, 0)))
			break;
	return rc && rc != MDB_NOTFOUND ? store_txn_fail(t, store_error(rc)) : t->err;
}

int proj_move_due(struct store_txn *t, enum store_slot slot, size_t min_rows, bool *due)
{
	struct proj_move_mark mark;
	uint64_t entries = 0;
	int rc = proj_move_mark_get(t, slot, &mark);
	if (rc == 0)
		rc = store_entries(t, store_slot_db(slot, SLOT_HISTORY_STAGED), &entries);
	*due = rc == 0 && (mark.kind != PROJ_MARK_NONE || (entries && entries >= min_rows));
	return rc;
}

/* Orders the rows of a small group (order[from..to)) by key: a run takes them so. */
static void sort_group(const struct proj_staged *s, uint32_t *order, size_t from, size_t to)
{
	for (size_t i = from + 1; i < to; i++) { /* insertion sort: a group is small, mostly in order */
		uint32_t x = order[i];
		const struct proj_staged_row *r = &s->rows[x];
		size_t j = i;
		for (; j > from; j--) {
			const struct proj_staged_row *q = &s->rows[order[j - 1]];
			if (proj_key_cmp(row_key(s, q), q->key_len, row_key(s, r), r->key_len) <= 0)
				break;
			order[j] = order[j - 1];
		}
		order[j] = x;
	}
}

/* One transaction of the compaction the mark says is under way. */
static int compact_step(struct store_txn *t, enum store_slot slot,
			const struct proj_move_options *o, struct proj_move_mark *mark, bool *more)
{
	uint32_t first, last;
	bool done;
	int rc = proj_runs_span(t, slot, &first, &last);
	if (rc == 0 && (first == 0 || last > mark->run))
		rc = store_txn_fail(t, PL_ECORRUPT); /* a run the compaction does not know of */
	if (rc == 0)
		rc = proj_runs_compact(t, slot, first, mark->run, o->max_campaigns, mark->campaign,
				       &mark->campaign_len, &done);
	if (rc)
		return rc;
	if (done) {
		store_clear(t, store_slot_db(slot, SLOT_HISTORY_RUNS));
		proj_move_mark_del(t, slot);
	} else {
		mark_put(t, slot, mark);
		*more = true;
	}
	return t->err;
}

/* The last transaction of a move: the moved rows leave the staged tables. */
static int end_move(struct store_txn *t, enum store_slot slot, const struct proj_move_options *o,
		    struct proj_move_mark *mark, bool *more)
{
	uint32_t first, last;
	int rc = delete_through(t, store_slot_db(slot, SLOT_HISTORY_STAGED), mark->seq);
	if (rc == 0)
		rc = delete_through(t, store_slot_db(slot, SLOT_COMMENTS_STAGED), mark->seq);
	if (rc == 0)
		rc = proj_runs_span(t, slot, &first, &last);
	if (rc)
		return rc;
	if (first && last - first + 1 > o->runs_max) { /* then a compaction of them all */
		*mark = (struct proj_move_mark){.kind = PROJ_MARK_COMPACT, .run = last};
		mark_put(t, slot, mark);
		*more = true;
	} else {
		proj_move_mark_del(t, slot);
	}
	return t->err;
}

int proj_staged_move(struct store_txn *t, enum store_slot slot, const struct proj_move_options *o,
		     struct proj_staged *held, struct proj_mover *m, uint64_t *read_back, bool *more)
{
	*more = false;
	struct proj_move_mark mark;
	int rc = proj_move_mark_get(t, slot, &mark);
	if (rc == 0 && mark.kind == PROJ_MARK_COMPACT)
		return compact_step(t, slot, o, &mark, more);
	bool starting = mark.kind == PROJ_MARK_NONE;
	if (rc == 0)
		rc = ready(m, t, slot, o->min_rows, held, &mark, read_back);
	if (rc)
		return rc == PL_ENOTFOUND ? PL_OK : rc;
	uint32_t first, last;
	if (starting && (rc = proj_runs_span(t, slot, &first, &last)) == 0) {
		mark.kind = PROJ_MARK_MOVE;
		mark.run = last + 1; /* its small campaigns' rows append after every run */
	}
	size_t from = first_unmoved(m, &mark), to = from;
	struct proj_history_appender app = {
		.c = rc ? NULL : store_txn_cursor(t, store_slot_db(slot, SLOT_HISTORY))};
	MDB_cursor *run = rc ? NULL : store_txn_cursor(t, store_slot_db(slot, SLOT_HISTORY_RUNS));
	if (rc == 0 && (!app.c || !run))
		rc = t->err;
	/* Grouped, the rows are read out of the order they were loaded in:
	 * ask for the next ones early, or each waits for memory in turn. */
	enum { AHEAD = 8 };
	struct proj_staged *s = &m->rows;
	for (; rc == 0 && to < m->ngroups && to - from < o->max_campaigns; to++) {
		size_t begin = to ? m->group_end[to - 1] : 0, end = m->group_end[to];
		bool small = end - begin < o->run_min_rows;
		if (small)
			sort_group(s, m->order, begin, end);
		for (size_t i = begin; rc == 0 && i < end; i++) {
			if (i + 2 * AHEAD < s->count)
				__builtin_prefetch(&s->rows[m->order[i + 2 * AHEAD]]);
			if (i + AHEAD < s->count)
				__builtin_prefetch(row_key(s, &s->rows[m->order[i + AHEAD]]));
			const struct proj_staged_row *r = &s->rows[m->order[i]];
			const uint8_t *key = row_key(s, r);
			int mrc = small ? proj_run_append(run, mark.run, key, r->key_len,
							  key + r->key_len, r->val_len)
					: proj_history_append(&app, key, r->key_len, key + r->key_len,
							      r->val_len);
			if (mrc)
				rc = store_txn_fail(t, store_error(mrc));
		}
	}
	bool done = to == m->ngroups;
	if (rc == 0)
		rc = move_comments(t, slot, &m->comments, mark.seq, mark.campaign, mark.campaign_len,
				   done ? NULL : group_campaign(m, to - 1));
	if (rc == 0 && done)
		return end_move(t, slot, o, &mark, more);
	if (rc == 0) {
		const uint8_t *campaign = group_campaign(m, to - 1);
		mark.campaign_len = proj_key_prefix_len(campaign);
		memcpy(mark.campaign, campaign, mark.campaign_len);
		mark_put(t, slot, &mark);
		*more = true;
	}
	return rc ? rc : t->err;
}

void proj_staged_row(const struct proj_staged *s, size_t i, MDB_val *k, MDB_val *v)
{
	const struct proj_staged_row *r = &s->rows[i];
	*k = (MDB_val){r->key_len, (uint8_t *)row_key(s, r)};
	*v = (MDB_val){r->val_len, (uint8_t *)row_key(s, r) + r->key_len};
}

int proj_staged_key_cmp(const MDB_val *a, const MDB_val *b)
{
	return proj_key_cmp(a->mv_data, a->mv_size, b->mv_data, b->mv_size);
}

size_t proj_staged_lower_bound(const struct proj_staged *s, const void *key, size_t key_len)
{
	size_t lo = 0, hi = s->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct proj_staged_row *r = &s->rows[mid];
		if (proj_key_cmp(row_key(s, r), r->key_len, key, key_len) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}
