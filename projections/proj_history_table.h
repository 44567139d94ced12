/*
 * proj_history_table.h — a slot's history table: each campaign's rows as
 * the duplicates of its one key.
 *
 * A history key (proj_timed_key: the campaign's prefix, the time, the log
 * position) is kept split in two. The campaign's prefix is the table's
 * key, stored once; each row is one of its duplicates (MDB_DUPSORT): the
 * time and log position (PROJ_HISTORY_HEAD bytes, big-endian, so that
 * duplicates sort by them), then the packed row (proj_history_encode).
 * Rows appended at the end of a campaign's duplicates (MDB_APPENDDUP) fill
 * its pages, where rows put in the middle would split them in half.
 * Readers see whole history keys (proj_history_cursor.h).
 */
#ifndef PROJ_HISTORY_TABLE_H
#define PROJ_HISTORY_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define PROJ_HISTORY_HEAD 16 /* a duplicate's time and log position, before its row */

/* The length of a history key's campaign prefix, the table's key. */
size_t proj_history_prefix_len(const uint8_t *key, size_t key_len);

/*
 * The row at history key key in table db, a slot's history table: 0 with
 * *val (valid until t changes), PL_ENOTFOUND, or t's error.
 */
int proj_history_row_get(struct store_txn *t, enum store_db db, const uint8_t *key,
			 size_t key_len, MDB_val *val);
/* Writes the row at history key key in table db, in place of any there. */
void proj_history_row_put(struct store_txn *t, enum store_db db, const uint8_t *key,
			  size_t key_len, const void *val, size_t val_len);

/*
 * Puts rows grouped by campaign through one cursor c (on a history table):
 * a row that sorts after its campaign's last is appended, any other (an
 * event that came late) put in its place. Knowing which before the put
 * matters: a refused MDB_APPENDDUP may leave the transaction unusable.
 * Start with {.c = cursor}; the keys given must stay valid while it is used.
 */
struct proj_history_appender {
	MDB_cursor *c;
	const uint8_t *campaign; /* the prefix of the campaign being put */
	size_t campaign_len;
	uint8_t last[PROJ_HISTORY_HEAD]; /* its last duplicate's head */
	bool has_last;
};

/* Puts the row key → val; 0 or LMDB's error. */
int proj_history_append(struct proj_history_appender *a, const uint8_t *key, size_t key_len,
			const void *val, size_t val_len);

#endif
