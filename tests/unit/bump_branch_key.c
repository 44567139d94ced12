/*
 * bump_branch_key.c — damages a data dir the way a flipped bit in a branch
 * page of LMDB's B-tree does: the second separator key of a table keyed by
 * sequence number (the log) raised by 2, still below the third. Each entry
 * stays sound and a walk still meets them all in order, but a seek for the
 * key after the raised one lands behind it: what seeks must notice.
 *
 * The table's root page comes from its record in LMDB's main database (an
 * MDB_db: the root's page number at byte 40); the root must be a branch
 * page, a table of more than one leaf. Its layout is mdb.c's: a page
 * header of 16 bytes (flags at 10, the free space's lower bound at 12),
 * then 16-bit offsets of its nodes; a branch node is 8 bytes (its key's
 * size at 6), then its key.
 *
 * Usage: bump_branch_key DATA_DIR TABLE
 */
#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "bytes.h"

enum { PAGE = 4096, HEADER = 16, P_BRANCH = 0x01, DB_ROOT = 40 };

static unsigned u16(const uint8_t *p)
{
	return (unsigned)p[0] | (unsigned)p[1] << 8;
}

/* The page number of table's root, or 0. */
static uint64_t root_of(const char *dir, const char *table)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi main_db;
	MDB_val k = {strlen(table), (void *)table}, v;
	uint64_t root = 0;
	if (mdb_env_create(&env))
		return 0;
	mdb_env_set_maxdbs(env, 128);
	if (mdb_env_open(env, dir, MDB_RDONLY, 0) == 0 &&
	    mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) == 0) {
		if (mdb_dbi_open(txn, NULL, 0, &main_db) == 0 &&
		    mdb_get(txn, main_db, &k, &v) == 0 && v.mv_size >= DB_ROOT + 8)
			memcpy(&root, (const uint8_t *)v.mv_data + DB_ROOT, 8);
		mdb_txn_abort(txn);
	}
	mdb_env_close(env);
	return root;
}

/* Node i's key of a branch page, when it is 8 bytes; its offset in *at. */
static int key8(const uint8_t *page, unsigned i, uint64_t *key, size_t *at)
{
	unsigned off = u16(page + HEADER + 2 * i);
	if (off < HEADER || off + 16 > PAGE || u16(page + off + 6) != 8)
		return 0;
	*at = off + 8;
	*key = bytes_get_be64(page + *at);
	return 1;
}

int main(int argc, char **argv)
{
	char path[4096];
	static uint8_t page[PAGE];
	if (argc != 3)
		return 2;
	uint64_t root = root_of(argv[1], argv[2]);
	snprintf(path, sizeof path, "%s/data.mdb", argv[1]);
	FILE *f = root ? fopen(path, "r+b") : NULL;
	uint64_t a, b;
	size_t at, b_at;
	/* Node 0's key is empty in a branch page: nodes 1 and 2 hold the first two. */
	if (f && fseek(f, (long)(root * PAGE), SEEK_SET) == 0 && fread(page, PAGE, 1, f) == 1 &&
	    (u16(page + 10) & P_BRANCH) && (u16(page + 12) - HEADER) / 2 >= 3 &&
	    key8(page, 1, &a, &at) && key8(page, 2, &b, &b_at) && a + 2 < b) {
		bytes_put_be64(page + at, a + 2);
		if (fseek(f, (long)(root * PAGE), SEEK_SET) == 0 && fwrite(page, PAGE, 1, f) == 1 &&
		    fclose(f) == 0) {
			printf("%s: root page %llu: key %llu now %llu\n", argv[2],
			       (unsigned long long)root, (unsigned long long)a,
			       (unsigned long long)(a + 2));
			return 0;
		}
		return 1;
	}
	if (f)
		fclose(f);
	fprintf(stderr, "bump_branch_key: %s in %s has no branch root keyed by numbers\n", argv[2],
		path);
	return 1;
}
