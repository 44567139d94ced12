/*
 * test_follow_failed.c — a writer whose opening of a swapped-in slot failed
 * must not go on writing with the slot it closed.
 *
 * A rebuild swaps while serve's writer runs; the writer follows at its next
 * batch, opening the new slot and catching its state index up over the log.
 * When that fails (here a damaged entry), the batch is refused and the slot
 * stays closed; once the entry can be read again, the next batch must open
 * the slot anew, not write with the closed one (freed tables: a crash, or
 * ids taken for new).
 */
#include <stdio.h>
#include <string.h>

#include "bytes.h"
#include "check.h"
#include "fixture.h"
#include "rebuild.h"
#include "verify.h"

static struct store *st;
static struct writer w;
static int events;
static int64_t offset;

static int ingest(int n)
{
	return fixture_ingest_numbered(&w, n, false, &events, &offset);
}

static int calls;
/* Between the rebuild's catching up and its swap: more events, past its checkpoint. */
static void more(const struct rebuild_progress *p, void *arg)
{
	(void)arg;
	if (p->done == p->head && calls++ == 0)
		CHECK_INT(ingest(100), 0);
}

static uint8_t saved[4096];
static size_t saved_len;
static uint64_t damaged_seq;

static int damage_txn(struct store_txn *t, void *arg)
{
	bool repair = *(bool *)arg;
	uint8_t key[8];
	MDB_val v;
	bytes_put_be64(key, damaged_seq);
	if (repair) {
		store_put(t, STORE_DB_LOG, key, 8, saved, saved_len, 0);
		return t->err;
	}
	CHECK_INT(store_get(t, STORE_DB_LOG, key, 8, &v), 0);
	memcpy(saved, v.mv_data, v.mv_size);
	saved_len = v.mv_size;
	uint8_t bad[4096];
	memcpy(bad, saved, saved_len);
	bad[saved_len - 1] ^= 0x5a; /* the checksum no longer matches */
	store_put(t, STORE_DB_LOG, key, 8, bad, saved_len, 0);
	return t->err;
}

int main(void)
{
	char dir[300];
	st = fixture_store(dir, sizeof dir, (size_t)64 << 10);
	struct slot_options opt = {.checkpoint_entries = 300, .work_blocks = 1};
	struct replay_result res;
	CHECK_INT(writer_open(&w, st, &opt, &res), 0);
	CHECK_INT(ingest(400), 0);
	uint64_t before = w.live.applied_seq;

	struct rebuild_options ropt = {.swap = true, .txn_ms = 5, .slot = opt, .progress = more};
	struct rebuild_report rep;
	CHECK_INT(rebuild_run(st, &ropt, &rep), 0);
	CHECK(rep.swapped);

	/* A log entry the new slot's index has to catch up over cannot be read. */
	damaged_seq = before + 50;
	bool repair = false;
	CHECK_INT(store_run_write(st, damage_txn, &repair), 0);
	CHECK(ingest(1) != 0); /* following the swap fails: the batch is refused */
	fprintf(stderr, "after the failed follow: live.open=%d\n", (int)w.live.open);

	/* Once it can, the writer must open the new slot again; it must never
	 * write with the one it closed. */
	repair = true;
	CHECK_INT(store_run_write(st, damage_txn, &repair), 0);
	int rc = ingest(50);
	fprintf(stderr, "next batch: %s, live.open=%d\n", pl_strerror(rc), (int)w.live.open);
	CHECK_INT(rc, 0);
	CHECK(w.live.open);
	CHECK_INT(writer_checkpoint(&w), 0);
	struct verify_report vrep;
	CHECK_INT(fixture_verify(st, &vrep), 0);
	CHECK_INT(vrep.differs, 0);
	writer_close(&w);
	fixture_close(st);
	fixture_remove(dir);
	return check_done();
}
