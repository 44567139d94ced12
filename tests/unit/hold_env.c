/*
 * hold_env.c — keeps a data dir's LMDB environment open until killed, as a
 * running serve does: the next process to open it then finds lock.mdb as
 * the last one left it rather than rebuilding it from data.mdb. With
 * --write it also holds LMDB's write lock, as a writer inside a long
 * transaction does. Prints "open" once it holds what it was asked to.
 *
 * Usage: hold_env [--write] DIR
 */
#include <lmdb.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int write = argc == 3 && strcmp(argv[1], "--write") == 0;
	const char *dir = argv[argc - 1];
	MDB_env *env;
	MDB_txn *txn;
	if (argc != 2 + write || mdb_env_create(&env) || mdb_env_set_maxdbs(env, 256) ||
	    mdb_env_set_maxreaders(env, 512) ||
	    mdb_env_open(env, dir, MDB_NOTLS | (write ? 0 : MDB_RDONLY), 0640) ||
	    (write && mdb_txn_begin(env, NULL, 0, &txn))) {
		fprintf(stderr, "hold_env: cannot open %s\n", argc > 1 ? dir : "(none)");
		return 1;
	}
	printf("open\n");
	fflush(stdout);
	pause();
	return 0;
}
