/*
 * grow_env.c — another process growing a data dir's LMDB map, as a writer
 * beside a reader does when its map fills: doubles the map size and commits
 * a transaction that uses pages past the old size (a value of the meta
 * table as large as the old map, kept: pages freed unwritten would leave
 * the file shorter than its metadata says), so that every other process
 * must adopt the new size (MDB_MAP_RESIZED) before it reads.
 *
 * Usage: grow_env DIR
 */
#include <lmdb.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi meta;
	MDB_envinfo info;
	MDB_val k = {5, "grown"}, v;
	if (argc != 2 || mdb_env_create(&env) || mdb_env_set_maxdbs(env, 256) ||
	    mdb_env_open(env, argv[1], MDB_NOTLS, 0640) || mdb_env_info(env, &info) ||
	    mdb_env_set_mapsize(env, info.me_mapsize * 2) || mdb_txn_begin(env, NULL, 0, &txn) ||
	    mdb_dbi_open(txn, "meta", 0, &meta) ||
	    (v.mv_size = info.me_mapsize, mdb_put(txn, meta, &k, &v, MDB_RESERVE)) ||
	    (memset(v.mv_data, 0, v.mv_size), mdb_txn_commit(txn))) {
		fprintf(stderr, "grow_env: cannot grow %s\n", argc > 1 ? argv[1] : "(none)");
		return 1;
	}
	mdb_env_close(env);
	return 0;
}
