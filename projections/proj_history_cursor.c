/* proj_history_cursor.c — the history's three tables read as one; see proj_history_cursor.h. */
#include "proj_history_cursor.h"

#include <stdlib.h>
#include <string.h>

#include "pl_error.h"
#include "proj_history_table.h"

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

/* Passes over the staged rows a move under way has put in the table already. */
static void skip_moved(struct proj_history_cursor *c)
{
	while (c->staged && c->next < c->staged->count && proj_staged_moved(c->staged, c->next))
		c->next++;
}

/* Passes over the rows of run i that a compaction under way has put in the table already. */
static int skip_compacted(struct proj_history_cursor *c, size_t i)
{
	const struct proj_move_mark *m = &c->staged->mark;
	struct proj_run_walk *w = &c->runs[i];
	int rc = PL_OK;
	while (rc == 0 && w->rc == 0 && m->kind == PROJ_MARK_COMPACT && w->run <= m->run &&
	       proj_key_cmp(w->k.mv_data, proj_key_prefix_len(w->k.mv_data), m->campaign,
			    m->campaign_len) <= 0)
		rc = proj_run_walk_next(w, c->t);
	return rc;
}

/* Where the cursor's row comes from. */
enum { AT_END = -1, AT_TABLE, AT_STAGED, AT_RUN /* + the run's index */ };

/* Points c->at at the source whose row comes first (the table's on a tie). */
static void pick(struct proj_history_cursor *c)
{
	MDB_val staged, best = {0, NULL};
	c->at = AT_END;
	if (c->rc == 0) {
		best = c->k;
		c->at = AT_TABLE;
	}
	if (c->staged && c->next < c->staged->count) {
		MDB_val row;
		proj_staged_row(c->staged, c->next, &staged, &row);
		if (c->at == AT_END || proj_staged_key_cmp(&staged, &best) < 0) {
			best = staged;
			c->at = AT_STAGED;
		}
	}
	for (size_t i = 0; i < c->nruns; i++) {
		const struct proj_run_walk *w = &c->runs[i];
		if (w->rc == 0 && (c->at == AT_END || proj_staged_key_cmp(&w->k, &best) < 0)) {
			best = w->k;
			c->at = AT_RUN + (int)i;
		}
	}
}

/* Opens a walk of each run of the history, from the key from (NULL: the first). */
static int open_runs(struct proj_history_cursor *c, const void *from, size_t from_len)
{
	uint32_t first, last;
	int rc = proj_runs_span(c->t, c->staged->slot, &first, &last);
	if (rc || first == 0)
		return rc;
	size_t n = (size_t)(last - first) + 1;
	if (n > PROJ_RUNS_LIMIT)
		return store_txn_fail(c->t, PL_ECORRUPT);
	if (!(c->runs = calloc(n, sizeof *c->runs)))
		return PL_ENOMEM;
	for (; rc == 0 && c->nruns < n; c->nruns++) { /* each one opened is closed */
		rc = proj_run_walk_open(&c->runs[c->nruns], c->t, c->staged->slot,
					first + (uint32_t)c->nruns, from, from ? from_len : 0);
		if (rc == 0)
			rc = skip_compacted(c, c->nruns);
	}
	return rc;
}

int proj_history_cursor_open(struct proj_history_cursor *c, struct store_txn *t, enum store_db db,
			     const struct proj_staged *staged, const void *from, size_t from_len)
{
	memset(c, 0, sizeof *c);
	c->t = t;
	c->staged = staged;
	c->at = AT_END;
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
	skip_moved(c);
	int rc = settle(c);
	/* The history's own table has runs beside it; read with its staged rows. */
	if (rc == 0 && c->split && staged && staged->synced)
		rc = open_runs(c, from, from_len);
	pick(c);
	return rc;
}

int proj_history_cursor_get(const struct proj_history_cursor *c, MDB_val *k, MDB_val *v)
{
	if (c->at == AT_STAGED) {
		proj_staged_row(c->staged, c->next, k, v);
	} else if (c->at >= AT_RUN) {
		*k = c->runs[c->at - AT_RUN].k;
		*v = c->runs[c->at - AT_RUN].v;
	} else if (c->at == AT_TABLE) {
		*k = c->k;
		*v = c->v;
	}
	return c->at == AT_END ? MDB_NOTFOUND : 0;
}

int proj_history_cursor_next(struct proj_history_cursor *c)
{
	int rc = PL_OK;
	if (c->at == AT_STAGED) {
		c->next++;
		skip_moved(c);
	} else if (c->at >= AT_RUN) {
		size_t i = (size_t)(c->at - AT_RUN);
		rc = proj_run_walk_next(&c->runs[i], c->t);
		if (rc == 0)
			rc = skip_compacted(c, i);
	} else if (c->at == AT_TABLE) {
		c->rc = mdb_cursor_get(c->cur, &c->k, &c->v, MDB_NEXT);
		rc = settle(c);
	}
	pick(c);
	return rc;
}

void proj_history_cursor_close(struct proj_history_cursor *c)
{
	if (c->cur)
		mdb_cursor_close(c->cur);
	c->cur = NULL;
	for (size_t i = 0; i < c->nruns; i++)
		proj_run_walk_close(&c->runs[i]);
	free(c->runs);
	c->runs = NULL;
	c->nruns = 0;
}
