/*
 * test_upkeep_after_swap.c — serve's writer keeps its hands off a slot a
 * rebuild swapped out.
 *
 * After each batch serve writes its slot's upkeep (the state index's
 * checkpoints and merges, the history's moves). A `pledged replay` may swap
 * the other slot in between two batches, empty the old one and start
 * rebuilding it again. The interleaving, in one process:
 *   1. the writer ingests with small checkpoints until one is frozen and
 *      only partly written, as after many a batch;
 *   2. a rebuild swaps the other slot in and empties the old one;
 *   3. the next rebuild fills the old slot again, and between two of its
 *      transactions the writer runs its upkeep without a batch having told
 *      it of the swap.
 * The writer must write nothing into the slot being rebuilt (its checkpoint
 * there made the rebuild's own append fail with "already exists", or worse
 * went unnoticed) and must follow the swap; every projection must then match
 * the log.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "fixture.h"
#include "rebuild.h"
#include "verify.h"

static struct store *st;
static struct writer w;
static int events;

/* n events through the writer in batches of 50, each followed by serve's upkeep. */
static void ingest(int n)
{
	static int64_t offset;
	CHECK_INT(fixture_ingest_numbered(&w, n, true, &events, &offset), 0);
}

static int upkeep_calls, upkeep_rc = -1;

/* Between two of the rebuild's transactions: the writer's upkeep, once. */
static void writer_upkeep(const struct rebuild_progress *p, void *arg)
{
	(void)p;
	(void)arg;
	if (upkeep_calls++ == 0)
		upkeep_rc = writer_maintain(&w, 0);
}

int main(void)
{
	char dir[300];
	st = fixture_store(dir, sizeof dir, (size_t)64 << 10);
	struct slot_options opt = {.checkpoint_entries = 300, .work_blocks = 1};
	struct replay_result res;
	CHECK_INT(writer_open(&w, st, &opt, &res), 0);

	ingest(1500);
	while (!(w.live.ix.frozen && !w.live.ix.release_frozen))
		ingest(50);
	enum store_slot first = w.live.which;

	struct rebuild_options ropt = {.swap = true, .txn_ms = 5, .slot = opt};
	struct rebuild_report rep;
	CHECK_INT(rebuild_run(st, &ropt, &rep), 0);
	CHECK(rep.swapped);
	CHECK(rep.slot != first);

	ropt.progress = writer_upkeep;
	CHECK_INT(rebuild_run(st, &ropt, &rep), 0);
	CHECK_INT(rep.result.outcome, REPLAY_OK);
	CHECK(rep.swapped);
	CHECK_INT(rep.slot, first);
	CHECK(upkeep_calls > 0);
	CHECK_INT(upkeep_rc, 0);
	/* The writer followed the first swap: it writes the slot readers saw then. */
	CHECK(w.live.which != first);

	/* It follows the second at its next batch, and everything matches the log. */
	ingest(100);
	CHECK_INT(w.live.which, first);
	CHECK_INT(writer_checkpoint(&w), 0);
	CHECK(fixture_verified(st));
	writer_close(&w);
	fixture_close(st);
	fixture_remove(dir);
	return check_done();
}
