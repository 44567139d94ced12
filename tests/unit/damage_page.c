/*
 * damage_page.c — damages the root page of one table of a data dir the way
 * a flipped bit does, where no checksum of pledged's can see it:
 *
 *   raise-key  the second separator key of a branch root keyed by sequence
 *              number (the log) raised by 2, still below the third. Each
 *              entry stays sound and a walk still meets them all in order,
 *              but a seek for the key after the raised one lands behind it.
 *   flip-pgno  the lowest bit of the page number in the root's header,
 *              which LMDB trusts when it copies the page on a write.
 *   swap-children  the child pages of a branch root's second and third
 *              nodes swapped: a walk meets their entries out of order.
 *
 * The table's root page comes from its record in LMDB's main database (an
 * MDB_db: the root's page number at byte 40). The page layout is mdb.c's:
 * a header of 16 bytes (the page number at 0, flags at 10, the free
 * space's lower bound at 12), then 16-bit offsets of its nodes; a branch
 * node is 8 bytes (its key's size at 6), then its key.
 *
 * Usage: damage_page DATA_DIR TABLE raise-key|flip-pgno|swap-children
 */
#include <lmdb.h>
#include <stdbool.h>
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

/* Raises the root's second separator key by 2; false when it has none to raise. */
static bool raise_key(uint8_t *page)
{
	uint64_t a, b;
	size_t at, b_at;
	/* Node 0's key is empty in a branch page: nodes 1 and 2 hold the first two. */
	if (!(u16(page + 10) & P_BRANCH) || u16(page + 12) < HEADER + 6 ||
	    !key8(page, 1, &a, &at) || !key8(page, 2, &b, &b_at) || a + 2 >= b)
		return false;
	bytes_put_be64(page + at, a + 2);
	printf("key %llu now %llu\n", (unsigned long long)a, (unsigned long long)(a + 2));
	return true;
}

/* Swaps the child page numbers (a node's first 6 bytes) of nodes 1 and 2 of a branch root. */
static bool swap_children(uint8_t *page)
{
	unsigned a = u16(page + HEADER + 2), b = u16(page + HEADER + 4);
	if (!(u16(page + 10) & P_BRANCH) || u16(page + 12) < HEADER + 6 || a < HEADER ||
	    b < HEADER || a + 6 > PAGE || b + 6 > PAGE)
		return false;
	uint8_t t[6];
	memcpy(t, page + a, 6);
	memcpy(page + a, page + b, 6);
	memcpy(page + b, t, 6);
	return true;
}

int main(int argc, char **argv)
{
	char path[4096];
	static uint8_t page[PAGE];
	if (argc != 4)
		return 2;
	uint64_t root = root_of(argv[1], argv[2]);
	snprintf(path, sizeof path, "%s/data.mdb", argv[1]);
	FILE *f = root ? fopen(path, "r+b") : NULL;
	bool done = f && fseek(f, (long)(root * PAGE), SEEK_SET) == 0 && fread(page, PAGE, 1, f) == 1;
	if (done && strcmp(argv[3], "raise-key") == 0)
		done = raise_key(page);
	else if (done && strcmp(argv[3], "flip-pgno") == 0)
		page[0] ^= 1;
	else if (done && strcmp(argv[3], "swap-children") == 0)
		done = swap_children(page);
	else
		done = false;
	if (done)
		done = fseek(f, (long)(root * PAGE), SEEK_SET) == 0 && fwrite(page, PAGE, 1, f) == 1;
	if (f && fclose(f))
		done = false;
	if (!done)
		fprintf(stderr, "damage_page: cannot %s the root of %s in %s\n", argv[3], argv[2], path);
	return done ? 0 : 1;
}
