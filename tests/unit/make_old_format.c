/*
 * make_old_format.c — turns a data dir of today's format back into an
 * older one, as pledged wrote them then, for the upgrade test.
 *
 *   make_old_format DIR 4   format 4 kept every history row under a key of
 *                           its own (campaign, time, log position) in each
 *                           slot's "history" table, not as duplicates of the
 *                           campaign's key in "campaign_history", and wrote
 *                           every comment straight into "comments" (no
 *                           "comments_staged").
 *   make_old_format DIR 3   as 4, and format 3 wrote every history row
 *                           straight into each slot's history table, in
 *                           fixed-width fields: the staged rows are moved
 *                           there in that encoding and the staging tables
 *                           dropped.
 *   make_old_format DIR 2   as 3, and format 2 had no history, platform totals,
 *                           backers or campaign orders: those tables (and
 *                           the staging ones) are dropped.
 *
 * Each way META["format"] says "pledged/N"; everything else is as that
 * format had it.
 */
#include <lmdb.h>
#include <stdio.h>
#include <string.h>

#include "bytes.h"
#include "pl_error.h"
#include "proj_records.h"

static const char *const format3_added[] = {"a.history", "a.platform", "a.runs.backers",
					    "a.by_raised", "a.by_opened", "a.by_closing",
					    "b.history", "b.platform", "b.runs.backers",
					    "b.by_raised", "b.by_opened", "b.by_closing"};

static int drop(MDB_txn *txn, const char *name)
{
	MDB_dbi dbi;
	int rc = mdb_dbi_open(txn, name, 0, &dbi);
	return rc ? rc : mdb_drop(txn, dbi, 1);
}

/* A history row as format 3 wrote it: type, flags, then the fields the flags name, little-endian. */
static size_t format3_row(unsigned char *out, const struct proj_history *h)
{
	enum { RAISED = 1, PLEDGES = 2, COMMENTS = 4, NET = 8, REF = 16 };
	size_t n = 2;
	out[0] = h->type;
	out[1] = 0;
	if (h->raised)
		bytes_put_le64(out + n, (uint64_t)h->raised), n += 8, out[1] |= RAISED;
	if (h->pledges)
		bytes_put_le32(out + n, (uint32_t)h->pledges), n += 4, out[1] |= PLEDGES;
	if (h->comments)
		bytes_put_le32(out + n, (uint32_t)h->comments), n += 4, out[1] |= COMMENTS;
	if (h->net) {
		bytes_put_le64(out + n, (uint64_t)h->net);
		memcpy(out + n + 8, h->supporter, sizeof h->supporter);
		n += 8 + sizeof h->supporter, out[1] |= NET;
	}
	if (h->ref)
		bytes_put_le64(out + n, h->ref), n += 8, out[1] |= REF;
	return n;
}

/* Moves slot's history rows from format 5's table (campaign → time, seq, row) to format 4's. */
static int unsplit(MDB_txn *txn, const char *slot)
{
	char split_name[40], history_name[32];
	snprintf(split_name, sizeof split_name, "%s.campaign_history", slot);
	snprintf(history_name, sizeof history_name, "%s.history", slot);
	MDB_dbi split, history;
	MDB_cursor *c;
	MDB_val k, v;
	int rc = mdb_dbi_open(txn, split_name, 0, &split);
	if (!rc)
		rc = mdb_dbi_open(txn, history_name, MDB_CREATE, &history);
	if (!rc)
		rc = mdb_cursor_open(txn, split, &c);
	if (rc)
		return rc;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		unsigned char key[300];
		if (v.mv_size < 16 || k.mv_size + 16 > sizeof key) {
			rc = MDB_CORRUPTED;
			break;
		}
		memcpy(key, k.mv_data, k.mv_size);
		memcpy(key + k.mv_size, v.mv_data, 16);
		MDB_val hk = {k.mv_size + 16, key}, hv = {v.mv_size - 16, (char *)v.mv_data + 16};
		if ((rc = mdb_put(txn, history, &hk, &hv, 0)))
			break;
	}
	mdb_cursor_close(c);
	if (rc == MDB_NOTFOUND)
		rc = drop(txn, split_name);
	return rc;
}

/* Moves slot's staged comments into its comments table, as format 4 kept them. */
static int unstage_comments(MDB_txn *txn, const char *slot)
{
	char staged_name[40], comments_name[32];
	snprintf(staged_name, sizeof staged_name, "%s.comments_staged", slot);
	snprintf(comments_name, sizeof comments_name, "%s.comments", slot);
	MDB_dbi staged, comments;
	MDB_cursor *c;
	MDB_val k, v;
	int rc = mdb_dbi_open(txn, staged_name, 0, &staged);
	if (!rc)
		rc = mdb_dbi_open(txn, comments_name, 0, &comments);
	if (!rc)
		rc = mdb_cursor_open(txn, staged, &c);
	if (rc)
		return rc;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
		if ((rc = mdb_put(txn, comments, &k, &v, MDB_NOOVERWRITE)))
			break;
	mdb_cursor_close(c);
	if (rc == MDB_NOTFOUND)
		rc = drop(txn, staged_name);
	return rc;
}

/* Rewrites the rows already in slot's history table as format 3 wrote them. */
static int reencode(MDB_txn *txn, const char *slot)
{
	char name[32];
	snprintf(name, sizeof name, "%s.history", slot);
	MDB_dbi history;
	MDB_cursor *c;
	MDB_val k, v;
	int rc = mdb_dbi_open(txn, name, 0, &history);
	if (!rc)
		rc = mdb_cursor_open(txn, history, &c);
	if (rc)
		return rc;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		struct proj_history h;
		unsigned char row[64];
		if (proj_history_decode(v.mv_data, v.mv_size, &h)) {
			rc = MDB_CORRUPTED;
			break;
		}
		MDB_val old = {format3_row(row, &h), row};
		if ((rc = mdb_cursor_put(c, &k, &old, MDB_CURRENT)))
			break;
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Moves slot's staged history rows (key: seq; value: history key, row) into its history. */
static int unstage(MDB_txn *txn, const char *slot)
{
	char staged_name[32], history_name[32];
	snprintf(staged_name, sizeof staged_name, "%s.history_staged", slot);
	snprintf(history_name, sizeof history_name, "%s.history", slot);
	MDB_dbi staged, history;
	MDB_cursor *c;
	MDB_val k, v;
	int rc = mdb_dbi_open(txn, staged_name, 0, &staged);
	if (!rc)
		rc = mdb_dbi_open(txn, history_name, 0, &history);
	if (!rc)
		rc = mdb_cursor_open(txn, staged, &c);
	if (rc)
		return rc;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		/* value: the history key without its last 8 bytes (k, the seq), then the row */
		unsigned char key[300];
		size_t head = 1 + (size_t)((unsigned char *)v.mv_data)[0] + 8;
		if (head > v.mv_size || k.mv_size != 8 || head + 8 > sizeof key) {
			rc = MDB_CORRUPTED;
			break;
		}
		memcpy(key, v.mv_data, head);
		memcpy(key + head, k.mv_data, 8);
		struct proj_history h;
		unsigned char row[64];
		if (proj_history_decode((char *)v.mv_data + head, v.mv_size - head, &h)) {
			rc = MDB_CORRUPTED;
			break;
		}
		MDB_val hk = {head + 8, key}, hv = {format3_row(row, &h), row};
		if ((rc = mdb_put(txn, history, &hk, &hv, 0)))
			break;
	}
	mdb_cursor_close(c);
	if (rc == MDB_NOTFOUND)
		rc = drop(txn, staged_name);
	return rc;
}

int main(int argc, char **argv)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	if (argc != 3 || (strcmp(argv[2], "2") && strcmp(argv[2], "3") && strcmp(argv[2], "4"))) {
		fprintf(stderr, "usage: make_old_format DIR 2|3|4\n");
		return 2;
	}
	int rc = mdb_env_create(&env);
	if (!rc)
		rc = mdb_env_set_maxdbs(env, 64);
	if (!rc)
		rc = mdb_env_open(env, argv[1], 0, 0640);
	if (!rc)
		rc = mdb_txn_begin(env, NULL, 0, &txn);
	for (const char *slot = "a"; !rc && slot; slot = *slot == 'a' ? "b" : NULL)
		if (!(rc = unsplit(txn, slot)) && !(rc = unstage_comments(txn, slot)) &&
		    argv[2][0] != '4' && !(rc = reencode(txn, slot)))
			rc = unstage(txn, slot);
	for (size_t i = 0; !rc && argv[2][0] == '2' && i < sizeof format3_added / sizeof *format3_added; i++)
		rc = drop(txn, format3_added[i]);
	if (!rc)
		rc = mdb_dbi_open(txn, "meta", 0, &dbi);
	if (!rc) {
		char format[16];
		snprintf(format, sizeof format, "pledged/%s", argv[2]);
		MDB_val k = {6, "format"}, v = {strlen(format), format};
		rc = mdb_put(txn, dbi, &k, &v, 0);
	}
	if (!rc)
		rc = mdb_txn_commit(txn);
	if (rc) {
		fprintf(stderr, "make_old_format: %s: %s\n", argv[1], mdb_strerror(rc));
		return 1;
	}
	mdb_env_close(env);
	return 0;
}
