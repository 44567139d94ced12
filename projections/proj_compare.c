/*
 * proj_compare.c — byte-for-byte comparison of two slots' published
 * tables, in one data dir or two: verify compares the live slot with a
 * rebuild of the log.
 */
#include <stdio.h>
#include <string.h>

#include "pl_error.h"
#include "proj.h"
#include "proj_history_cursor.h"
#include "proj_staged.h"

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

/*
 * One side of a comparison: a table's rows in key order; for the history
 * and the comments, with the staged rows (and the history's runs) merged
 * in, since where a row sits depends on when moves fell, not on the log
 * (proj_staged.h).
 */
struct side {
	struct proj_history_cursor c;
	struct proj_staged staged;
};

static int side_open(struct side *s, struct store_txn *t, enum store_slot slot,
		     enum store_slot_table table)
{
	proj_staged_init(&s->staged);
	memset(&s->c, 0, sizeof s->c);
	bool history = table == SLOT_HISTORY, comments = table == SLOT_COMMENTS;
	int rc = history    ? proj_staged_sync(&s->staged, t, slot)
		 : comments ? proj_staged_sync_comments(&s->staged, t, slot)
			    : PL_OK;
	if (rc == 0)
		rc = proj_history_cursor_open(&s->c, t, store_slot_db(slot, table),
					      history || comments ? &s->staged : NULL, NULL, 0);
	return rc;
}

static void side_close(struct side *s)
{
	proj_history_cursor_close(&s->c);
	proj_staged_deinit(&s->staged);
}

static int compare_table(struct store_txn *ta, enum store_slot a, struct store_txn *tb,
			 enum store_slot b, enum store_slot_table table, char *diff, size_t size)
{
	if (table == SLOT_HISTORY_STAGED || table == SLOT_HISTORY_RUNS ||
	    table == SLOT_COMMENTS_STAGED)
		return PL_OK; /* compared as part of the history and the comments */
	enum store_db da = store_slot_db(a, table);
	struct side sa, sb;
	int result = 0;
	int rc = side_open(&sa, ta, a, table);
	int rc2 = side_open(&sb, tb, b, table);
	if (rc || rc2)
		goto out;
	MDB_val ka, va, kb, vb;
	int ra = proj_history_cursor_get(&sa.c, &ka, &va);
	int rb = proj_history_cursor_get(&sb.c, &kb, &vb);
	while (ra == 0 || rb == 0) {
		MDB_val *k = &ka;
		const char *what = NULL;
		int kc = ra ? 1 : rb ? -1 : mdb_cmp(ta->txn, store_dbi(ta, da), &ka, &kb);
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
		if ((rc = proj_history_cursor_next(&sa.c)) || (rc2 = proj_history_cursor_next(&sb.c)))
			goto out;
		ra = proj_history_cursor_get(&sa.c, &ka, &va);
		rb = proj_history_cursor_get(&sb.c, &kb, &vb);
	}
out:
	side_close(&sa);
	side_close(&sb);
	return ta->err ? ta->err : tb->err ? tb->err : rc ? rc : rc2 ? rc2 : result;
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
