/*
 * proj_compare.c — byte-for-byte comparison of the LIVE and SCRATCH
 * projection sets, for verify.
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

static int compare_table(struct store_txn *t, enum proj_table table, char *diff, size_t size)
{
	enum store_db live = proj_db(PROJ_LIVE, table), scratch = proj_db(PROJ_SCRATCH, table);
	MDB_cursor *a = store_cursor(t, live), *b = store_cursor(t, scratch);
	MDB_val ka, va, kb, vb;
	int result = 0;
	if (!a || !b)
		goto out;
	int ra = mdb_cursor_get(a, &ka, &va, MDB_FIRST);
	int rb = mdb_cursor_get(b, &kb, &vb, MDB_FIRST);
	while (ra == 0 && rb == 0) {
		MDB_val *k = &ka;
		const char *what = NULL;
		int kc = mdb_cmp(t->txn, store_dbi(t, live), &ka, &kb);
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
			snprintf(diff, size, "%s: key '%s' %s", store_db_name(live), key, what);
			result = 1;
			goto out;
		}
		ra = mdb_cursor_get(a, &ka, &va, MDB_NEXT);
		rb = mdb_cursor_get(b, &kb, &vb, MDB_NEXT);
	}
	if (ra == 0 || rb == 0) {
		char key[128];
		describe_key(key, sizeof key, ra == 0 ? &ka : &kb);
		snprintf(diff, size, "%s: key '%s' %s", store_db_name(live), key,
			 ra == 0 ? "stored but not produced by the log" : "produced by the log but missing");
		result = 1;
	} else if (ra != MDB_NOTFOUND || rb != MDB_NOTFOUND) {
		store_txn_fail(t, store_error(ra != MDB_NOTFOUND ? ra : rb));
	}
out:
	if (a)
		mdb_cursor_close(a);
	if (b)
		mdb_cursor_close(b);
	return t->err ? t->err : result;
}

int proj_compare(struct store_txn *t, char *diff, size_t diff_size)
{
	for (int table = 0; table < PROJ_TABLE_COUNT; table++) {
		int rc = compare_table(t, (enum proj_table)table, diff, diff_size);
		if (rc)
			return rc;
	}
	return PL_OK;
}
