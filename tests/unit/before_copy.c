/*
 * before_copy.c — an LD_PRELOAD library: runs the shell command BEFORE_COPY
 * just before the process's first LMDB copy (mdb_env_copy2, a backup's or
 * a compact's), after the checks that opened their own transactions. With
 * grow_env it puts another writer's map growth exactly there. BEFORE_OPEN
 * likewise runs before its first mdb_env_open, after store_open()'s checks
 * of the data dir's files: a change there is one those checks did not see.
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

int mdb_env_open(MDB_env *env, const char *path, unsigned int flags, mdb_mode_t mode)
{
	static int (*real)(MDB_env *, const char *, unsigned int, mdb_mode_t);
	static int ran;
	if (!real)
		real = (int (*)(MDB_env *, const char *, unsigned int, mdb_mode_t))dlsym(RTLD_NEXT,
											  "mdb_env_open");
	const char *cmd = getenv("BEFORE_OPEN");
	if (cmd && !ran++ && system(cmd) != 0)
		return MDB_PANIC;
	return real(env, path, flags, mode);
}
