/*
 * hold_env.c — keeps a data dir's LMDB environment open, as a running serve
 * does, until killed: the next process to open it then finds lock.mdb as
 * the last one left it rather than rebuilding it from data.mdb.
 * Prints "open" once it holds it.
 */
#include <lmdb.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	MDB_env *env;
	if (argc != 2 || mdb_env_create(&env) || mdb_env_set_maxdbs(env, 256) ||
	    mdb_env_set_maxreaders(env, 512) ||
	    mdb_env_open(env, argv[1], MDB_NOTLS | MDB_RDONLY, 0640)) {
		fprintf(stderr, "hold_env: cannot open %s\n", argc > 1 ? argv[1] : "(none)");
		return 1;
	}
	printf("open\n");
	fflush(stdout);
	pause();
	return 0;
}
