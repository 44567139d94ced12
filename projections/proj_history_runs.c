/* proj_history_runs.c — history rows of campaigns a move brings few of; see proj_history_runs.h. */
#include "proj_history_runs.h"

#include <string.h>

#include "bytes.h"
#include "pl_error.h"
#include "proj_records.h"

#define RUN_KEY_MAX (4 + PROJ_KEY_MAX)

static enum store_db runs_db(enum store_slot slot)
{
	return store_slot_db(slot, SLOT_HISTORY_RUNS);
}

int proj_runs_span(struct store_txn *t, enum store_slot slot, uint32_t *first, uint32_t *last)
{
	*first = *last = 0;
	MDB_val k, v;
	int rc = store_first(t, runs_db(slot), &k, &v);
	if (rc == 0 && k.mv_size >= 4) {
		*first = bytes_get_be32(k.mv_data);
		rc = store_last(t, runs_db(slot), &k, &v);
	}
	if (rc == 0 && k.mv_size >= 4)
		*last = bytes_get_be32(k.mv_data);
	if (rc)
		return rc == PL_ENOTFOUND ? PL_OK : rc;
	return *first && *last >= *first ? PL_OK : store_txn_fail(t, PL_ECORRUPT);
}

int proj_run_append(MDB_cursor *c, uint32_t run, const uint8_t *key, size_t key_len,
		    const void *val, size_t val_len)
{
	uint8_t k[RUN_KEY_MAX];
	if (key_len > PROJ_KEY_MAX)
		return MDB_BAD_VALSIZE;
	bytes_put_be32(k, run);
	memcpy(k + 4, key, key_len);
	MDB_val kv = {4 + key_len, k}, vv = {val_len, (void *)val};
	return mdb_cursor_put(c, &kv, &vv, MDB_APPEND);
}

/* Gets the row op leads to, making it w's while it is one of w's run. */
static int load(struct proj_run_walk *w, struct store_txn *t, MDB_val *k, MDB_cursor_op op)
{
	MDB_val v;
	w->rc = mdb_cursor_get(w->c, k, &v, op);
	if (w->rc == 0 && (k->mv_size < 4 || bytes_get_be32(k->mv_data) != w->run))
		w->rc = k->mv_size < 4 ? MDB_CORRUPTED : MDB_NOTFOUND;
	if (w->rc == 0) {
		const uint8_t *key = (const uint8_t *)k->mv_data + 4;
		size_t len = k->mv_size - 4;
		if (len < 2 + 16 || len != proj_key_prefix_len(key) + 16 ||
		    proj_key_prefix_len(key) > 1 + PL_MAX_ID_BYTES) {
			w->rc = MDB_CORRUPTED;
		} else {
			w->k = (MDB_val){len, (void *)key};
			w->v = v;
		}
	}
	if (w->rc && w->rc != MDB_NOTFOUND)
		return store_txn_fail(t, store_error(w->rc));
	return PL_OK;
}

int proj_run_walk_open(struct proj_run_walk *w, struct store_txn *t, enum store_slot slot,
		       uint32_t run, const uint8_t *from, size_t from_len)
{
	memset(w, 0, sizeof *w);
	w->run = run;
	w->rc = MDB_NOTFOUND;
	if (from_len > PROJ_KEY_MAX)
		return PL_EINVAL;
	if (!(w->c = store_cursor(t, runs_db(slot))))
		return t->err;
	uint8_t key[RUN_KEY_MAX];
	bytes_put_be32(key, run);
	if (from_len)
		memcpy(key + 4, from, from_len);
	MDB_val k = {4 + from_len, key};
	return load(w, t, &k, MDB_SET_RANGE);
}

int proj_run_walk_next(struct proj_run_walk *w, struct store_txn *t)
{
	MDB_val k;
	return w->rc ? PL_OK : load(w, t, &k, MDB_NEXT);
}

void proj_run_walk_close(struct proj_run_walk *w)
{
	if (w->c)
		mdb_cursor_close(w->c);
	w->c = NULL;
}

/* Whether w's row is of the campaign whose key prefix is p. */
static bool of_campaign(const struct proj_run_walk *w, const uint8_t *p, size_t plen)
{
	const uint8_t *key = w->k.mv_data;
	return w->rc == 0 && proj_key_prefix_len(key) == plen && memcmp(key, p, plen) == 0;
}

/* The walk whose row comes first (of the campaign p when plen), or -1. */
static int first_row(const struct proj_run_walk *w, size_t n, const uint8_t *p, size_t plen)
{
	int best = -1;
	for (size_t i = 0; i < n; i++) {
		if (w[i].rc || (plen && !of_campaign(&w[i], p, plen)))
			continue;
		if (best < 0 || proj_key_cmp(w[i].k.mv_data, w[i].k.mv_size, w[best].k.mv_data,
					     w[best].k.mv_size) < 0)
			best = (int)i;
	}
	return best;
}

int proj_runs_compact(struct store_txn *t, enum store_slot slot, uint32_t first, uint32_t through,
		      size_t max_campaigns, uint8_t *campaign, size_t *campaign_len, bool *done)
{
	struct proj_run_walk w[PROJ_RUNS_LIMIT];
	size_t n = 0, runs = through >= first ? (size_t)(through - first) + 1 : 0;
	*done = false;
	if (runs == 0 || runs > PROJ_RUNS_LIMIT)
		return store_txn_fail(t, PL_ECORRUPT);
	int rc = PL_OK;
	/* Each run from the campaign after the last one put. */
	for (; rc == 0 && n < runs; n++) {
		rc = proj_run_walk_open(&w[n], t, slot, first + (uint32_t)n, campaign, *campaign_len);
		while (rc == 0 && *campaign_len && of_campaign(&w[n], campaign, *campaign_len))
			rc = proj_run_walk_next(&w[n], t);
	}
	struct proj_history_appender app = {
		.c = rc ? NULL : store_txn_cursor(t, store_slot_db(slot, SLOT_HISTORY))};
	if (rc == 0 && !app.c)
		rc = t->err;
	uint8_t current[PROJ_KEY_MAX];
	size_t current_len = 0;
	for (size_t put = 0; rc == 0 && put < max_campaigns; put++) {
		int b = first_row(w, n, NULL, 0); /* its campaign is the next one */
		if (b < 0)
			break;
		current_len = proj_key_prefix_len(w[b].k.mv_data);
		memcpy(current, w[b].k.mv_data, current_len);
		/* The campaign's rows from every run, in key order (time, then seq). */
		while (rc == 0 && (b = first_row(w, n, current, current_len)) >= 0) {
			int mrc = proj_history_append(&app, w[b].k.mv_data, w[b].k.mv_size,
						      w[b].v.mv_data, w[b].v.mv_size);
			rc = mrc ? store_txn_fail(t, store_error(mrc)) : proj_run_walk_next(&w[b], t);
		}
	}
	if (rc == 0 && first_row(w, n, NULL, 0) < 0) {
		*done = true;
	} else if (rc == 0) {
		memcpy(campaign, current, current_len);
		*campaign_len = current_len;
	}
	for (size_t i = 0; i < n; i++)
		proj_run_walk_close(&w[i]);
	return rc ? rc : t->err;
}
