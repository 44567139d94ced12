/*
 * lmdb_layout.h — LMDB 0.9's on-disk layout (mdb.c), for the checks that
 * look at pages where LMDB itself trusts them (store_value_sound() in
 * store.c, store_check_pages() in store_pages.c). Internal to store/.
 *
 * A page's 16-byte header holds its number, 2 bytes of padding, its flags,
 * then where its free space starts and ends (or, for an overflow page, how
 * many pages it spans); the 16-bit offsets of its nodes follow. A node has
 * 8 bytes of header: the data's size (a child's page number in a branch
 * page, whose high 16 bits are the flags'), flags and the key's size; then
 * the key and the data.
 */
#ifndef LMDB_LAYOUT_H
#define LMDB_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

enum {
	LMDB_PAGE_HEADER = 16,
	LMDB_PAGE_FLAGS_AT = 10,
	LMDB_PAGE_LOWER_AT = 12, /* an overflow page's count is there too, 32 bits */
	LMDB_PAGE_UPPER_AT = 14,
	LMDB_P_BRANCH = 0x01,
	LMDB_P_LEAF = 0x02,
	LMDB_P_OVERFLOW = 0x04,
	LMDB_P_LEAF2 = 0x20,
	LMDB_NODE_HEADER = 8,
	LMDB_F_BIGDATA = 0x01, /* the data is on overflow pages: their first number */
	LMDB_F_SUBDATA = 0x02, /* the data is a tree's record: a named table, or a key's duplicates */
	LMDB_F_DUPDATA = 0x04, /* the data is a key's duplicates: a page of its own inside the node,
				  or (with LMDB_F_SUBDATA) a tree's record */
	LMDB_MIN_KEYS = 2,     /* a leaf holds at least two nodes: larger ones overflow */
	/* A tree's record (MDB_db): the root's page number at byte 40 of 48. */
	LMDB_DB_RECORD = 48,
	LMDB_DB_ROOT_AT = 40,
	/* The meta page: the free pages' and the main tree's records from byte
	 * 40, then the last page number, then the transaction id. */
	LMDB_META_FREE_AT = LMDB_PAGE_HEADER + 24,
	LMDB_META_MAIN_AT = LMDB_META_FREE_AT + LMDB_DB_RECORD,
	LMDB_META_TXNID_AT = LMDB_META_MAIN_AT + LMDB_DB_RECORD + 8,
	/* lock.mdb's header (MDB_txninfo, with the first reader's slot): a
	 * shorter file is one LMDB would map and read past. */
	LMDB_LOCK_HEADER = 192,
};

/* The overflow pages a value of size bytes takes, at least. */
static inline uint64_t lmdb_overflow_pages(uint64_t size, size_t psize)
{
	return (LMDB_PAGE_HEADER + size + psize - 1) / psize;
}

#endif
