/* runs.c — immutable sorted runs in blocks; see runs.h. */
#include "runs.h"

#include <errno.h>
#include <string.h>

#include "bytes.h"
#include "pl_error.h"

#define KEY_SIZE (4 + FP_SIZE)

static void make_key(uint8_t *key, uint32_t run, const struct fp *f)
{
	bytes_put_be32(key, run);
	if (f)
		memcpy(key + 4, f->b, FP_SIZE);
	else
		memset(key + 4, 0, FP_SIZE);
}

static uint32_t key_run(const MDB_val *k)
{
	return k->mv_size == KEY_SIZE ? bytes_get_be32(k->mv_data) : UINT32_MAX;
}

int run_write(struct store_txn *t, enum store_db db, uint32_t run, bool newest,
	      const uint8_t *entries, size_t count, size_t entry_size)
{
	size_t per_block = run_block_entries(entry_size);
	for (size_t i = 0; i < count && !t->err; i += per_block) {
		size_t n = count - i < per_block ? count - i : per_block;
		uint8_t key[KEY_SIZE];
		make_key(key, run, (const struct fp *)(entries + i * entry_size));
		/* Blocks come in key order: appended without a descent, when the
		 * run is the newest in its database. */
		store_put(t, db, key, sizeof key, entries + i * entry_size, n * entry_size,
			  newest ? MDB_APPEND : MDB_NOOVERWRITE);
	}
	return t->err;
}

/* Positions c on the block of run that would hold f; MDB_NOTFOUND if none. */
static int seek_block(MDB_cursor *c, uint32_t run, const struct fp *f, MDB_val *k, MDB_val *v)
{
	uint8_t key[KEY_SIZE];
	make_key(key, run, f);
	*k = (MDB_val){sizeof key, key};
	int rc = mdb_cursor_get(c, k, v, MDB_SET_RANGE);
	if (rc == 0 && k->mv_size == KEY_SIZE && memcmp(k->mv_data, key, KEY_SIZE) == 0)
		return 0;
	/* The block before the first key beyond f starts at or before it. */
	rc = rc == MDB_NOTFOUND ? mdb_cursor_get(c, k, v, MDB_LAST) : rc ? rc : mdb_cursor_get(c, k, v, MDB_PREV);
	if (rc)
		return rc;
	return key_run(k) == run ? 0 : MDB_NOTFOUND;
}

const uint8_t *run_lookup(struct store_txn *t, enum store_db db, uint32_t run, const struct fp *f,
			  size_t entry_size)
{
	MDB_cursor *c = store_txn_cursor(t, db);
	if (!c)
		return NULL;
	MDB_val k, v;
	const uint8_t *found = NULL;
	int rc = seek_block(c, run, f, &k, &v);
	if (rc == 0 && v.mv_size % entry_size)
		rc = MDB_CORRUPTED;
	if (rc == 0)
		found = entries_find(v.mv_data, v.mv_size / entry_size, entry_size, f);
	if (rc && rc != MDB_NOTFOUND)
		store_txn_fail(t, store_error(rc));
	return found;
}

int run_delete(struct store_txn *t, enum store_db db, uint32_t run, size_t max_blocks, bool *done)
{
	MDB_cursor *c = store_txn_cursor(t, db);
	*done = false;
	if (!c)
		return t->err;
	uint8_t key[KEY_SIZE];
	make_key(key, run, NULL);
	MDB_val k = {sizeof key, key}, v;
	int rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	size_t n = 0;
	while (rc == 0 && key_run(&k) == run && n < max_blocks) {
		if (!store_value_sound(t, &k, &v))
			return store_txn_fail(t, PL_ECORRUPT);
		rc = mdb_cursor_del(c, 0);
		n++;
		if (rc == 0)
			rc = mdb_cursor_get(c, &k, &v, MDB_GET_CURRENT);
	}
	if (rc == MDB_NOTFOUND || (rc == 0 && key_run(&k) != run)) {
		*done = true;
		rc = 0;
	} else if (rc == EINVAL) {
		/* The cursor stood on the last entry, now deleted. */
		*done = true;
		rc = 0;
	}
	return rc ? store_txn_fail(t, store_error(rc)) : t->err;
}

int run_each_number(struct store_txn *t, enum store_db db, void (*fn)(uint32_t run, void *arg),
		    void *arg)
{
	MDB_cursor *c = store_txn_cursor(t, db);
	if (!c)
		return t->err;
	MDB_val k, v;
	int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
	while (rc == 0) {
		uint32_t run = key_run(&k);
		if (run == UINT32_MAX) {
			rc = MDB_CORRUPTED;
			break;
		}
		fn(run, arg);
		if (run == UINT32_MAX - 1)
			break;
		uint8_t key[KEY_SIZE];
		make_key(key, run + 1, NULL);
		k = (MDB_val){sizeof key, key};
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	}
	if (rc && rc != MDB_NOTFOUND)
		return store_txn_fail(t, store_error(rc));
	return t->err;
}

void run_iter_init(struct run_iter *it, uint32_t run, size_t entry_size)
{
	memset(it, 0, sizeof *it);
	it->run = run;
	it->entry_size = entry_size;
}

/* Makes the block at k/v current, or ends the iterator when it is another run's. */
static int take_block(struct run_iter *it, int rc, const MDB_val *k, const MDB_val *v)
{
	if (rc == MDB_NOTFOUND || (rc == 0 && key_run(k) != it->run)) {
		it->done = true;
		it->block = NULL;
		return 0;
	}
	if (rc)
		return rc;
	if (v->mv_size == 0 || v->mv_size % it->entry_size)
		return MDB_CORRUPTED;
	memcpy(it->block_first.b, (const uint8_t *)k->mv_data + 4, FP_SIZE);
	it->block = v->mv_data;
	it->count = v->mv_size / it->entry_size;
	return 0;
}

int run_iter_seek(struct run_iter *it, struct store_txn *t, enum store_db db)
{
	if (it->done)
		return PL_OK;
	MDB_cursor *c = store_txn_cursor(t, db);
	if (!c)
		return t->err;
	uint8_t key[KEY_SIZE];
	make_key(key, it->run, it->started ? &it->block_first : NULL);
	MDB_val k = {sizeof key, key}, v;
	int rc = mdb_cursor_get(c, &k, &v, it->started ? MDB_SET_KEY : MDB_SET_RANGE);
	rc = take_block(it, rc, &k, &v);
	if (rc == 0 && !it->started)
		it->index = 0;
	it->started = true;
	if (rc == 0 && !it->done && it->index >= it->count)
		rc = MDB_CORRUPTED;
	return rc ? store_txn_fail(t, store_error(rc)) : t->err;
}

int run_iter_next(struct run_iter *it, struct store_txn *t, enum store_db db)
{
	if (it->done)
		return PL_OK;
	if (++it->index < it->count)
		return PL_OK;
	MDB_cursor *c = store_txn_cursor(t, db);
	if (!c)
		return t->err;
	uint8_t key[KEY_SIZE];
	make_key(key, it->run, &it->block_first);
	MDB_val k = {sizeof key, key}, v;
	int rc = mdb_cursor_get(c, &k, &v, MDB_SET_KEY);
	if (rc == 0)
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	rc = take_block(it, rc, &k, &v);
	it->index = 0;
	return rc ? store_txn_fail(t, store_error(rc)) : t->err;
}
