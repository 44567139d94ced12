/*
 * proj_generation.c — the projections' generation: a counter in META that
 * every rebuild of the live projections raises. A replay can change what
 * readers see without the log moving, so caches keyed by the log position
 * alone (ETags, live streams) also key on this.
 */
#include <string.h>

#include "bytes.h"
#include "pl_error.h"
#include "proj.h"

#define GENERATION_KEY "projection_generation"

int proj_generation(struct store_txn *t, uint64_t *gen)
{
	MDB_val v;
	int rc = store_get(t, STORE_DB_META, GENERATION_KEY, strlen(GENERATION_KEY), &v);
	if (rc == PL_ENOTFOUND) {
		*gen = 0;
		return PL_OK;
	}
	if (rc)
		return rc;
	if (v.mv_size != 8)
		return store_txn_fail(t, PL_ECORRUPT);
	*gen = bytes_get_le64(v.mv_data);
	return PL_OK;
}

void proj_generation_bump(struct store_txn *t)
{
	uint64_t gen;
	if (proj_generation(t, &gen))
		return;
	uint8_t val[8];
	bytes_put_le64(val, gen + 1);
	store_put(t, STORE_DB_META, GENERATION_KEY, strlen(GENERATION_KEY), val, sizeof val, 0);
}
