/*
 * log_offsets.c — where each log entry lies in a data dir's data.mdb, for
 * test_damage.sh to flip bytes inside entries: prints "SEQ OFFSET LENGTH"
 * per entry (the entry's stored bytes, header and payload, as file offsets).
 *
 * LMDB maps the file from its first byte, so a value's address minus the
 * map's address (from /proc/self/maps) is its offset in the file.
 *
 * Usage: log_offsets DATA_DIR
 */
#include <inttypes.h>
#include <lmdb.h>
#include <stdio.h>
#include <string.h>

#include "bytes.h"
#include "store.h"

/* The address data.mdb is mapped at, or 0. */
static uintptr_t map_address(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[4096];
	uintptr_t start = 0, found = 0;
	while (f && !found && fgets(line, sizeof line, f))
		if (strstr(line, "/data.mdb") && sscanf(line, "%" SCNxPTR "-", &start) == 1)
			found = start;
	if (f)
		fclose(f);
	return found;
}

int main(int argc, char **argv)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_cursor *c;
	MDB_val k, v;
	if (argc != 2) {
		fprintf(stderr, "usage: log_offsets DATA_DIR\n");
		return 2;
	}
	int rc = mdb_env_create(&env);
	if (!rc)
		rc = mdb_env_set_maxdbs(env, 64);
	if (!rc)
		rc = mdb_env_open(env, argv[1], MDB_RDONLY, 0);
	if (!rc)
		rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
	if (!rc)
		rc = mdb_dbi_open(txn, store_db_name(STORE_DB_LOG), 0, &dbi);
	if (!rc)
		rc = mdb_cursor_open(txn, dbi, &c);
	uintptr_t base = map_address();
	if (!rc && !base) {
		fprintf(stderr, "log_offsets: data.mdb is not in /proc/self/maps\n");
		return 1;
	}
	for (int op = MDB_FIRST; !rc && !(rc = mdb_cursor_get(c, &k, &v, op)); op = MDB_NEXT) {
		if (k.mv_size != 8)
			continue;
		printf("%" PRIu64 " %" PRIuPTR " %zu\n", bytes_get_be64(k.mv_data),
		       (uintptr_t)v.mv_data - base, v.mv_size);
	}
	if (rc != MDB_NOTFOUND) {
		fprintf(stderr, "log_offsets: %s\n", mdb_strerror(rc));
		return 1;
	}
	return 0;
}
