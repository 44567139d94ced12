/*
 * make_old_format.c — turns a data dir of today's format back into an
 * older one, as pledged wrote them then, for the upgrade test.
 *
 *   make_old_format DIR 6   format 6 moved staged rows in one transaction,
 *                           with no move mark, and had no history runs:
 *                           the dir must have neither a mark (a writer
 *                           stopped cleanly ends its move) nor rows in
 *                           runs; the empty "history_runs" tables are
 *                           dropped.
 *   make_old_format DIR 5   format 5 kept each slot's staged comments
 *                           ("comments_staged") keyed as in "comments"
 *                           (campaign, time, log position), not by log
 *                           position.
 *   make_old_format DIR 4   as 5, and format 4 kept every history row under a key of
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
 *   make_old_format DIR 10  not older: a newer pledged's data dir, as far as
 *                           this one can tell; only the format's number
 *                           changes.
 *
 * Each way META["format"] says "pledged/N"; everything else is as that
 * format had it.
 */
#include <lmdb.h>
#include <stdbool.h>
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

/* Room for a converted row: a history key (1 + 255 + 16 bytes) and its value. */
struct row_buf {
	unsigned char key[300], val[64];
};

/* Turns a row of the table moved from into one of the table moved to: 0 or MDB_CORRUPTED. */
typedef int (*convert_fn)(const MDB_val *k, const MDB_val *v, MDB_val *to_k, MDB_val *to_v,
			  struct row_buf *buf);

/* Moves every row of slot's table from into its table to, converted, then drops from. */
static int move_rows(MDB_txn *txn, const char *slot, const char *from, const char *to,
		     convert_fn convert)
{
	char from_name[40], to_name[40];
	snprintf(from_name, sizeof from_name, "%s.%s", slot, from);
	snprintf(to_name, sizeof to_name, "%s.%s", slot, to);
	MDB_dbi src, dst;
	MDB_cursor *c;
	MDB_val k, v;
	int rc = mdb_dbi_open(txn, from_name, 0, &src);
	if (!rc)
		rc = mdb_dbi_open(txn, to_name, MDB_CREATE, &dst);
	if (!rc)
		rc = mdb_cursor_open(txn, src, &c);
	if (rc)
		return rc;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		struct row_buf buf;
		MDB_val to_k, to_v;
		if ((rc = convert(&k, &v, &to_k, &to_v, &buf)) ||
		    (rc = mdb_put(txn, dst, &to_k, &to_v, MDB_NOOVERWRITE)))
			break;
	}
	mdb_cursor_close(c);
	if (rc == MDB_NOTFOUND)
		rc = drop(txn, from_name);
	return rc;
}

/* Format 5's history row (campaign → time, seq, row) as format 4 kept it (campaign, time, seq → row). */
static int unsplit_row(const MDB_val *k, const MDB_val *v, MDB_val *to_k, MDB_val *to_v,
		       struct row_buf *buf)
{
	if (v->mv_size < 16 || k->mv_size + 16 > sizeof buf->key)
		return MDB_CORRUPTED;
	memcpy(buf->key, k->mv_data, k->mv_size);
	memcpy(buf->key + k->mv_size, v->mv_data, 16);
	*to_k = (MDB_val){k->mv_size + 16, buf->key};
	*to_v = (MDB_val){v->mv_size - 16, (char *)v->mv_data + 16};
	return 0;
}

/* A row as it is. */
static int same_row(const MDB_val *k, const MDB_val *v, MDB_val *to_k, MDB_val *to_v,
		    struct row_buf *buf)
{
	(void)buf;
	*to_k = *k;
	*to_v = *v;
	return 0;
}

/* A staged comment (key: seq; value: comments key but the seq, row) keyed as in comments. */
static int unstage_comment(const MDB_val *k, const MDB_val *v, MDB_val *to_k, MDB_val *to_v,
			   struct row_buf *buf)
{
	size_t head = v->mv_size ? 1 + (size_t)((unsigned char *)v->mv_data)[0] + 8 : 0;
	if (!v->mv_size || head > v->mv_size || k->mv_size != 8 || head + 8 > sizeof buf->key)
		return MDB_CORRUPTED;
	memcpy(buf->key, v->mv_data, head);
	memcpy(buf->key + head, k->mv_data, 8);
	*to_k = (MDB_val){head + 8, buf->key};
	*to_v = (MDB_val){v->mv_size - head, (char *)v->mv_data + head};
	return 0;
}

/* A staged history row (key: seq; value: history key but the seq, row) as format 3 wrote it. */
static int unstage_row(const MDB_val *k, const MDB_val *v, MDB_val *to_k, MDB_val *to_v,
		       struct row_buf *buf)
{
	size_t head = v->mv_size ? 1 + (size_t)((unsigned char *)v->mv_data)[0] + 8 : 0;
	struct proj_history h;
	if (!v->mv_size || head > v->mv_size || k->mv_size != 8 || head + 8 > sizeof buf->key ||
	    proj_history_decode((char *)v->mv_data + head, v->mv_size - head, &h))
		return MDB_CORRUPTED;
	memcpy(buf->key, v->mv_data, head);
	memcpy(buf->key + head, k->mv_data, 8);
	*to_k = (MDB_val){head + 8, buf->key};
	*to_v = (MDB_val){format3_row(buf->val, &h), buf->val};
	return 0;
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

/* Drops slot's history runs, which must be empty (format 6 had none). */
static int drop_empty_runs(MDB_txn *txn, const char *slot, const char *dir)
{
	char name[32];
	MDB_dbi dbi;
	MDB_stat ms;
	snprintf(name, sizeof name, "%s.history_runs", slot);
	int rc = mdb_dbi_open(txn, name, 0, &dbi);
	if (!rc)
		rc = mdb_stat(txn, dbi, &ms);
	if (!rc && ms.ms_entries) {
		fprintf(stderr, "make_old_format: %s: rows in %s, which format 6 never had\n", dir, name);
		return MDB_INCOMPATIBLE;
	}
	return rc ? rc : mdb_drop(txn, dbi, 1);
}

int main(int argc, char **argv)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	if (argc != 3 || (strcmp(argv[2], "2") && strcmp(argv[2], "3") && strcmp(argv[2], "4") &&
			  strcmp(argv[2], "5") && strcmp(argv[2], "6") && strcmp(argv[2], "10"))) {
		fprintf(stderr, "usage: make_old_format DIR 2|3|4|5|6|10\n");
		return 2;
	}
	bool older = strcmp(argv[2], "10") != 0;
	int rc = mdb_env_create(&env);
	if (!rc)
		rc = mdb_env_set_maxdbs(env, 64);
	if (!rc)
		rc = mdb_env_open(env, argv[1], 0, 0640);
	if (!rc)
		rc = mdb_txn_begin(env, NULL, 0, &txn);
	if (!rc && (rc = mdb_dbi_open(txn, "meta", 0, &dbi)) == 0) {
		MDB_val k = {6, "move.a"}, v;
		int a = mdb_get(txn, dbi, &k, &v);
		k.mv_data = "move.b";
		if (a != MDB_NOTFOUND || mdb_get(txn, dbi, &k, &v) != MDB_NOTFOUND) {
			fprintf(stderr, "make_old_format: %s: a move under way, which format 6 never had\n",
				argv[1]);
			return 1;
		}
	}
	for (const char *slot = "a"; !rc && slot && argv[2][0] == '6'; slot = *slot == 'a' ? "b" : NULL)
		rc = drop_empty_runs(txn, slot, argv[1]);
	for (const char *slot = "a"; !rc && older && slot && argv[2][0] != '6';
	     slot = *slot == 'a' ? "b" : NULL) {
		if (argv[2][0] == '5') {
			if (!(rc = move_rows(txn, slot, "comments_staged", "restaged", unstage_comment)))
				rc = move_rows(txn, slot, "restaged", "comments_staged", same_row);
			continue;
		}
		if (!(rc = move_rows(txn, slot, "campaign_history", "history", unsplit_row)) &&
		    !(rc = move_rows(txn, slot, "comments_staged", "comments", unstage_comment)) &&
		    argv[2][0] != '4' && !(rc = reencode(txn, slot)))
			rc = move_rows(txn, slot, "history_staged", "history", unstage_row);
	}
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
