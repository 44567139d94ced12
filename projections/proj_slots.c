/*
 * proj_slots.c — which slot readers see, and the generation of what they
 * see. A rebuild fills the other slot and swaps them: the generation rises,
 * so caches keyed by the log position alone (ETags, live streams) also key
 * on it. It also empties a slot before a rebuild, a share at a time.
 */
#include <string.h>

#include "bytes.h"
#include "pl_error.h"
#include "proj.h"

#define LIVE_KEY "live"
#define GENERATION_KEY "generation"

int proj_live(struct store_txn *t, enum store_slot *slot, uint64_t *generation)
{
	MDB_val v;
	*slot = STORE_SLOT_A;
	*generation = 0;
	int rc = store_get(t, STORE_DB_META, LIVE_KEY, strlen(LIVE_KEY), &v);
	if (rc == 0) {
		if (v.mv_size != 1 || (*(const char *)v.mv_data != 'a' && *(const char *)v.mv_data != 'b'))
			return store_txn_fail(t, PL_ECORRUPT);
		*slot = *(const char *)v.mv_data == 'a' ? STORE_SLOT_A : STORE_SLOT_B;
	} else if (rc != PL_ENOTFOUND) {
		return rc;
	}
	rc = store_get(t, STORE_DB_META, GENERATION_KEY, strlen(GENERATION_KEY), &v);
	if (rc == PL_ENOTFOUND)
		return PL_OK;
	if (rc)
		return rc;
	if (v.mv_size != 8)
		return store_txn_fail(t, PL_ECORRUPT);
	*generation = bytes_get_le64(v.mv_data);
	return PL_OK;
}

void proj_set_live(struct store_txn *t, enum store_slot slot)
{
	enum store_slot old;
	uint64_t gen;
	if (proj_live(t, &old, &gen))
		return;
	uint8_t val[8];
	bytes_put_le64(val, gen + 1);
	store_put(t, STORE_DB_META, LIVE_KEY, strlen(LIVE_KEY), store_slot_name(slot), 1, 0);
	store_put(t, STORE_DB_META, GENERATION_KEY, strlen(GENERATION_KEY), val, sizeof val, 0);
}

const enum store_slot_table proj_published_tables[] = {
	SLOT_CAMPAIGNS, SLOT_TOTALS,    SLOT_COMMENTS,  SLOT_COMMENTS_STAGED, SLOT_HISTORY,
	SLOT_HISTORY_STAGED, SLOT_HISTORY_RUNS, SLOT_PLATFORM, SLOT_BY_RAISED, SLOT_BY_OPENED,
	SLOT_BY_CLOSING};
const size_t proj_published_count = sizeof proj_published_tables / sizeof proj_published_tables[0];

int proj_clear_next(struct store_txn *t, enum store_slot slot, bool *done)
{
	*done = false;
	for (size_t i = 0; i < proj_published_count; i++) {
		enum store_db db = store_slot_db(slot, proj_published_tables[i]);
		uint64_t entries;
		int rc = store_entries(t, db, &entries);
		if (rc)
			return rc;
		if (entries) {
			/* Dropped whole, its pages freed without visiting its entries:
			 * a fraction of the time deleting them one by one takes. */
			store_clear(t, db);
			return t->err;
		}
	}
	*done = true;
	return PL_OK;
}
