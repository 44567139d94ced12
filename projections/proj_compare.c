/*
 * proj_compare.c — byte-for-byte comparison of two slots' published
 * tables, in one data dir or two: verify compares the live slot with a
 * rebuild of the log.
 */
#include <stdio.h>
#include <string.h>

#include "pl_error.h"
#include "proj.h"

/* Describes a key for a diff message: printable bytes as text, else hex. */
static void describe_key(char *out, size_t size, const MDB_val *k)
{
	size_t n = 0;
	const unsigned char *p = k->mv_data;
	for (size_t i = 0; i < k->mv_size && n + 5 < size; i++)
		n += (size_t)snprintf(out + n, size - n, (p[i] >= 0x20 && p[i] < 0x7f) ? "%c" : "\\x%02x",
				      p[i]);
	out[n] = '\0';
}

static int compare_table(struct store_txn *ta, enum store_slot a, struct store_txn *tb,
			 enum store_slot b, enum store_slot_table table, char *diff, size_t size)
{
	enum store_db da = store_slot_db(a, table), db = store_slot_db(b, table);
	MDB_cursor *ca = store_cursor(ta, da), *cb = store_cursor(tb, db);
	MDB_val ka, va, kb, vb;
	int result = 0;
	if (!ca || !cb)
		goto out;
	int ra = mdb_cursor_get(ca, &ka, &va, MDB_FIRST);
	int rb = mdb_cursor_get(cb, &kb, &vb, MDB_FIRST);
	while (ra == 0 && rb == 0) {
		MDB_val *k = &ka;
		const char *what = NULL;
		int kc = mdb_cmp(ta->txn, store_dbi(ta, da), &ka, &kb);
		if (kc < 0) {
			what = "stored but not produced by the log";
		} else if (kc > 0) {
			what = "produced by the log but missing";
			k = &kb;
		} else if (va.mv_size != vb.mv_size || memcmp(va.mv_data, vb.mv_data, va.mv_size)) {
			what = "differs from the log's value";
		}
		if (what) {
			char key[128];
			describe_key(key, sizeof key, k);
			snprintf(diff, size, "%s: key '%s' %s", store_db_name(da), key, what);
			result = 1;
			goto out;
		}
		ra = mdb_cursor_get(ca, &ka, &va, MDB_NEXT);
		rb = mdb_cursor_get(cb, &kb, &vb, MDB_NEXT);
	}
	if (ra == 0 || rb == 0) {
		char key[128];
		describe_key(key, sizeof key, ra == 0 ? &ka : &kb);
		snprintf(diff, size, "%s: key '%s' %s", store_db_name(da), key,
			 ra == 0 ? "stored but not produced by the log" : "produced by the log but missing");
		result = 1;
	} else if (ra != MDB_NOTFOUND) {
		store_txn_fail(ta, store_error(ra));
	} else if (rb != MDB_NOTFOUND) {
		store_txn_fail(tb, store_error(rb));
	}
out:
	if (ca)
		mdb_cursor_close(ca);
	if (cb)
		mdb_cursor_close(cb);
	return ta->err ? ta->err : tb->err ? tb->err : result;
}

int proj_compare(struct store_txn *ta, enum store_slot a, struct store_txn *tb, enum store_slot b,
		 char *diff, size_t diff_size)
{
	for (size_t i = 0; i < proj_published_count; i++) {
		int rc = compare_table(ta, a, tb, b, proj_published_tables[i], diff, diff_size);
		if (rc)
			return rc;
	}
	return PL_OK;
}
