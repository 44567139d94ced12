/* proj_history_table.c — the history table's split keys; see proj_history_table.h. */
#include "proj_history_table.h"

#include <string.h>

#include "pl_error.h"
#include "proj_records.h"

size_t proj_history_prefix_len(const uint8_t *key, size_t key_len)
{
	size_t n = key_len ? 1 + (size_t)key[0] : 0;
	return n < key_len ? n : key_len;
}

/*
 * Positions c (on a history table) at the duplicate whose head is key's
 * last PROJ_HISTORY_HEAD bytes: 0, MDB_NOTFOUND or LMDB's error.
 */
static int seek_row(MDB_cursor *c, const uint8_t *key, size_t key_len, MDB_val *dup)
{
	size_t plen = proj_history_prefix_len(key, key_len);
	if (key_len != plen + PROJ_HISTORY_HEAD)
		return MDB_NOTFOUND;
	MDB_val k = {plen, (void *)key};
	*dup = (MDB_val){PROJ_HISTORY_HEAD, (void *)(key + plen)};
	int rc = mdb_cursor_get(c, &k, dup, MDB_GET_BOTH_RANGE);
	if (rc == 0 && (dup->mv_size < PROJ_HISTORY_HEAD ||
			memcmp(dup->mv_data, key + plen, PROJ_HISTORY_HEAD)))
		rc = MDB_NOTFOUND;
	return rc;
}

int proj_history_row_get(struct store_txn *t, enum store_db db, const uint8_t *key,
			 size_t key_len, MDB_val *val)
{
	MDB_cursor *c = store_txn_cursor(t, db);
	if (!c)
		return t->err;
	MDB_val dup;
	int rc = seek_row(c, key, key_len, &dup);
	if (rc == MDB_NOTFOUND)
		return PL_ENOTFOUND;
	if (rc)
		return store_txn_fail(t, store_error(rc));
	*val = (MDB_val){dup.mv_size - PROJ_HISTORY_HEAD, (uint8_t *)dup.mv_data + PROJ_HISTORY_HEAD};
	return PL_OK;
}

/* Puts the row key → val through c, appending it to its campaign's duplicates when append. */
static int put_row(MDB_cursor *c, const uint8_t *key, size_t key_len, const void *val,
		   size_t val_len, bool append)
{
	uint8_t dup[PROJ_HISTORY_HEAD + PROJ_HISTORY_MAX];
	size_t plen = proj_history_prefix_len(key, key_len);
	if (key_len != plen + PROJ_HISTORY_HEAD || val_len > PROJ_HISTORY_MAX)
		return MDB_BAD_VALSIZE;
	memcpy(dup, key + plen, PROJ_HISTORY_HEAD);
	memcpy(dup + PROJ_HISTORY_HEAD, val, val_len);
	MDB_val k = {plen, (void *)key}, d = {PROJ_HISTORY_HEAD + val_len, dup};
	return mdb_cursor_put(c, &k, &d, append ? MDB_APPENDDUP : 0);
}

void proj_history_row_put(struct store_txn *t, enum store_db db, const uint8_t *key,
			  size_t key_len, const void *val, size_t val_len)
{
	MDB_cursor *c = store_txn_cursor(t, db);
	if (!c)
		return;
	MDB_val dup;
	int rc = seek_row(c, key, key_len, &dup);
	if (rc == 0)
		rc = mdb_cursor_del(c, 0); /* the row's duplicate changes with its value */
	if (rc == 0 || rc == MDB_NOTFOUND)
		rc = put_row(c, key, key_len, val, val_len, false);
	if (rc)
		store_txn_fail(t, store_error(rc));
}

int proj_history_append(struct proj_history_appender *a, const uint8_t *key, size_t key_len,
			const void *val, size_t val_len)
{
	size_t plen = proj_history_prefix_len(key, key_len);
	if (key_len != plen + PROJ_HISTORY_HEAD)
		return MDB_BAD_VALSIZE;
	if (!a->campaign || plen != a->campaign_len || memcmp(key, a->campaign, plen)) {
		MDB_val k = {plen, (void *)key}, d;
		int rc = mdb_cursor_get(a->c, &k, &d, MDB_SET_KEY);
		if (rc == 0)
			rc = mdb_cursor_get(a->c, &k, &d, MDB_LAST_DUP);
		if (rc && rc != MDB_NOTFOUND)
			return rc;
		if (rc == 0 && d.mv_size < PROJ_HISTORY_HEAD)
			return MDB_CORRUPTED;
		a->has_last = rc == 0;
		if (a->has_last)
			memcpy(a->last, d.mv_data, PROJ_HISTORY_HEAD);
		a->campaign = key;
		a->campaign_len = plen;
	}
	const uint8_t *head = key + plen;
	bool append = !a->has_last || memcmp(head, a->last, PROJ_HISTORY_HEAD) > 0;
	if (append) {
		memcpy(a->last, head, PROJ_HISTORY_HEAD);
		a->has_last = true;
	}
	return put_row(a->c, key, key_len, val, val_len, append);
}
