/*
 * make_v2.c — turns a data dir of today's format back into format 2, as
 * pledged wrote them before format 3, for the upgrade test: the tables
 * format 3 added (each slot's history, platform totals, backers and the
 * campaign orders) are
 * dropped and META["format"] says "pledged/2". Everything else of format 3
 * is as format 2 had it.
 *
 *   make_v2 DIR
 */
#include <lmdb.h>
#include <stdio.h>
#include <string.h>

static const char *const added[] = {
	"a.history",   "a.platform",  "a.runs.backers", "a.by_raised", "a.by_opened", "a.by_closing",
	"b.history",   "b.platform",  "b.runs.backers", "b.by_raised", "b.by_opened", "b.by_closing"};

int main(int argc, char **argv)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	if (argc != 2) {
		fprintf(stderr, "usage: make_v2 DIR\n");
		return 2;
	}
	int rc = mdb_env_create(&env);
	if (!rc)
		rc = mdb_env_set_maxdbs(env, 64);
	if (!rc)
		rc = mdb_env_open(env, argv[1], 0, 0640);
	if (!rc)
		rc = mdb_txn_begin(env, NULL, 0, &txn);
	for (size_t i = 0; !rc && i < sizeof added / sizeof added[0]; i++) {
		rc = mdb_dbi_open(txn, added[i], 0, &dbi);
		if (!rc)
			rc = mdb_drop(txn, dbi, 1);
	}
	if (!rc)
		rc = mdb_dbi_open(txn, "meta", 0, &dbi);
	if (!rc) {
		MDB_val k = {6, "format"}, v = {9, "pledged/2"};
		rc = mdb_put(txn, dbi, &k, &v, 0);
	}
	if (!rc)
		rc = mdb_txn_commit(txn);
	if (rc) {
		fprintf(stderr, "make_v2: %s: %s\n", argv[1], mdb_strerror(rc));
		return 1;
	}
	mdb_env_close(env);
	return 0;
}
