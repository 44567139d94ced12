/*
 * bump_branch_key.c — damages a data dir the way a flipped bit in a branch
 * page of LMDB's B-tree does: a separator key of a table keyed by sequence
 * number (the log, the rejections) raised by 2, still below the next one.
 * Each entry stays sound, but a seek to the key after the lowered range
 * lands behind it: a walk that seeks must notice, not go round for ever.
 *
 * It reads data.mdb as pages of 4096 bytes, LMDB's layout (mdb.c): a page
 * header of 16 bytes (flags at 10, the free space's lower bound at 12),
 * then 16-bit offsets of its nodes; a branch node is 8 bytes (the child's
 * page number, the key's size at 6), then its key. Changes the first such
 * key it finds and exits 0, or 1 when there is none.
 *
 * Usage: bump_branch_key DATA_DIR
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "bytes.h"

enum { PAGE = 4096, HEADER = 16, P_BRANCH = 0x01 };

static unsigned u16(const uint8_t *p)
{
	return (unsigned)p[0] | (unsigned)p[1] << 8;
}

/* The key of node i of page, when it is a sequence number (8 bytes, below 2^32). */
static int seq_key(const uint8_t *page, unsigned i, uint64_t *seq, size_t *at)
{
	unsigned off = u16(page + HEADER + 2 * i);
	if (off < HEADER || off + 16 > PAGE || u16(page + off + 6) != 8)
		return 0;
	*at = off + 8;
	*seq = bytes_get_be64(page + *at);
	return *seq < (UINT64_C(1) << 32);
}

int main(int argc, char **argv)
{
	char path[4096];
	if (argc != 2)
		return 2;
	snprintf(path, sizeof path, "%s/data.mdb", argv[1]);
	FILE *f = fopen(path, "r+b");
	static uint8_t page[PAGE];
	for (long n = 2; f && fseek(f, n * PAGE, SEEK_SET) == 0 && fread(page, PAGE, 1, f) == 1; n++) {
		unsigned keys = (u16(page + 12) - HEADER) / 2;
		if (!(u16(page + 10) & P_BRANCH) || u16(page + 12) < HEADER || keys < 3)
			continue;
		uint64_t a, b;
		size_t at, b_at;
		/* Node 0's key is empty in a branch page: 1 and 2 are the first two. */
		if (!seq_key(page, 1, &a, &at) || !seq_key(page, 2, &b, &b_at) || a + 2 >= b)
			continue;
		bytes_put_be64(page + at, a + 2);
		if (fseek(f, n * PAGE, SEEK_SET) || fwrite(page, PAGE, 1, f) != 1)
			break;
		printf("page %ld: key %llu now %llu\n", n, (unsigned long long)a,
		       (unsigned long long)(a + 2));
		return fclose(f) == 0 ? 0 : 1;
	}
	if (f)
		fclose(f);
	fprintf(stderr, "bump_branch_key: no branch page keyed by sequence numbers in %s\n", path);
	return 1;
}
