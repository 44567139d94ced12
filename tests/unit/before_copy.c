/*
 * before_copy.c — an LD_PRELOAD library: runs the shell command BEFORE_COPY
 * just before the process's first LMDB copy (mdb_env_copy2, a backup's or
 * a compact's), after the checks that opened their own transactions. With
 * grow_env it puts another writer's map growth exactly there.
 */
#include <dlfcn.h>
#include <lmdb.h>
#include <stdlib.h>

int mdb_env_copy2(MDB_env *env, const char *path, unsigned int flags)
{
	static int (*real)(MDB_env *, const char *, unsigned int);
	static int ran;
	if (!real)
		real = (int (*)(MDB_env *, const char *, unsigned int))dlsym(RTLD_NEXT, "mdb_env_copy2");
	const char *cmd = getenv("BEFORE_COPY");
	if (cmd && !ran++ && system(cmd) != 0)
		return MDB_PANIC;
	return real(env, path, flags);
}
