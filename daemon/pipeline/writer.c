/* writer.c — the writer of the log and the live slot; see writer.h. */
#include "writer.h"

#include "clock.h"
#include "log.h"
#include "pl_error.h"
#include "rejections.h"

static int still_live(void *w, struct store_txn *t)
{
	return writer_check_live(w, t);
}

/*
 * Opens the live slot as of t and brings it up to the end of the log. Its
 * generation is the writer's only once it is open: a slot that failed to
 * open or catch up is closed, and must be opened again (writer_check_live).
 */
static int open_live(struct writer *w, struct store_txn *t, struct replay_result *res)
{
	enum store_slot which;
	uint64_t head, generation;
	int rc = proj_live(t, &which, &generation);
	if (rc == 0)
		rc = evlog_last_seq(t, &head);
	if (rc == 0)
		rc = slot_open(&w->live, w->st, which, &w->opt, t);
	if (rc)
		return rc;
	slot_set_log(&w->live, t);
	w->live.guard = still_live;
	w->live.guard_arg = w;
	rc = slot_catch_up(&w->live, head, res);
	if (rc == 0 && res->outcome != REPLAY_OK)
		rc = PL_ECORRUPT;
	if (rc == 0 && w->upkeep)
		rc = slot_upkeep_start(&w->live, &w->upkeep_us, &w->upkeep_wait_us);
	if (rc)
		slot_close(&w->live);
	else
		w->generation = generation;
	return rc;
}

int writer_open(struct writer *w, struct store *st, const struct slot_options *opt,
		struct replay_result *res)
{
	struct store_txn t;
	*w = (struct writer){.st = st, .opt = *opt,
			     .window = {EVENT_WINDOW_EARLIEST_MS, EVENT_WINDOW_SKEW_MS}};
	if (!w->opt.work_blocks)
		w->opt.work_blocks = WRITER_WORK_BLOCKS;
	int rc = store_read_begin(st, &t);
	if (rc == 0)
		rc = open_live(w, &t, res);
	store_abort(&t);
	return rc;
}

void writer_close(struct writer *w)
{
	slot_close(&w->live);
}

int writer_check_live(struct writer *w, struct store_txn *t)
{
	enum store_slot which;
	uint64_t gen;
	int rc = proj_live(t, &which, &gen);
	if (rc)
		return rc;
	return w->live.open && gen == w->generation && which == w->live.which ? PL_OK : PL_EBUSY;
}

int writer_follow(struct writer *w, struct replay_result *res)
{
	struct store_txn t;
	int rc = store_read_begin(w->st, &t);
	if (rc == 0 && (rc = writer_check_live(w, &t)) == PL_EBUSY) {
		int64_t t0 = clock_mono_ms();
		slot_close(&w->live);
		rc = open_live(w, &t, res);
		if (rc == 0)
			log_info("writer: the projections were swapped; now writing slot %s (opened and "
				 "caught up %llu entries in %lld ms)",
				 store_slot_name(w->live.which), (unsigned long long)res->applied,
				 (long long)(clock_mono_ms() - t0));
	}
	store_abort(&t);
	return rc;
}

bool writer_has_work(const struct writer *w)
{
	return slot_busy(&w->live);
}

int writer_maintain(struct writer *w, int max_txns)
{
	int rc = slot_maintain(&w->live, max_txns);
	if (rc == PL_EBUSY) {
		/* Swapped since the last batch: the old slot's upkeep is the
		 * rebuild's to throw away; write the new live slot from now on. */
		struct replay_result res;
		rc = writer_follow(w, &res);
	}
	return rc;
}

int writer_upkeep_on(struct writer *w)
{
	w->upkeep = true;
	return slot_upkeep_start(&w->live, &w->upkeep_us, &w->upkeep_wait_us);
}

static int forwarded_txn(struct store_txn *t, void *arg)
{
	rejections_forwarded_put(t, *(const uint64_t *)arg);
	return t->err;
}

int writer_checkpoint(struct writer *w)
{
	/* The dead-letter topic's deliveries since the last batch: the next
	 * start would otherwise send them again. */
	uint64_t forwarded = atomic_load(&w->forwarded);
	int marked = PL_OK;
	w->upkeep = false;
	slot_upkeep_stop(&w->live); /* what it left half done is written below */
	if (w->forward_on && forwarded != w->forward_stored &&
	    (marked = store_run_write(w->st, forwarded_txn, &forwarded)) == PL_OK)
		w->forward_stored = forwarded;
	int rc = writer_maintain(w, 0); /* a freeze under way first */
	if (rc == 0 && index_pending(&w->live.ix))
		rc = index_freeze(&w->live.ix, w->live.applied_seq);
	if (rc == 0)
		rc = writer_maintain(w, 0);
	return marked ? marked : rc;
}
