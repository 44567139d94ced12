/* upkeep.c — a slot's state index kept up beside the writer; see upkeep.h. */
#include "upkeep.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "clock.h"
#include "crash_point.h"
#include "log.h"
#include "pl_error.h"

#define RETRY_MS 1000

enum holder { NOBODY, WRITER, UPKEEP };

struct upkeep {
	struct upkeep_target on; /* what it keeps up */
	pthread_t thread;
	pthread_mutex_t lock; /* guards the fields below, not the slot */
	pthread_cond_t changed;
	enum holder holder;
	bool upkeep_waits; /* for the hold: it goes first, its turns are short */
	bool freeze_due;   /* the last batch filled the active tables */
	bool stopping;
	bool swapped;      /* its slot is no longer the live one */
	int err;           /* its last transaction's, 0 after one succeeds */
	uint64_t tries;    /* its transactions so far */
	bool finishing;    /* the transaction in hand may finish a step */
};

/* Adds the time since t0 (clock_mono_us) to a counter, if there is one. */
static void add_us(_Atomic uint64_t *counter, int64_t t0)
{
	if (counter)
		atomic_fetch_add(counter, (uint64_t)(clock_mono_us() - t0));
}

/* Whether a batch must wait: the active tables are full and the frozen ones still being written. */
static bool behind(const struct index *ix)
{
	return ix->frozen && index_pending(ix) >= ix->opt.checkpoint_entries;
}

int upkeep_hold(struct upkeep *u)
{
	int rc = PL_OK;
	int64_t t0 = clock_mono_us();
	pthread_mutex_lock(&u->lock);
	/* Behind after a failure, the batch waits for one more try of the upkeep. */
	uint64_t tried = u->tries;
	for (;;) {
		if (u->holder == NOBODY && !u->upkeep_waits) {
			if (!behind(u->on.ix))
				break;
			if (u->swapped || (u->err && u->tries != tried)) {
				rc = u->swapped ? PL_EBUSY : u->err;
				break;
			}
		}
		pthread_cond_wait(&u->changed, &u->lock);
	}
	if (rc == PL_OK)
		u->holder = WRITER;
	pthread_mutex_unlock(&u->lock);
	add_us(u->on.wait_us, t0);
	return rc;
}

void upkeep_release(struct upkeep *u)
{
	pthread_mutex_lock(&u->lock);
	u->holder = NOBODY;
	u->freeze_due = index_should_freeze(u->on.ix);
	pthread_cond_broadcast(&u->changed);
	pthread_mutex_unlock(&u->lock);
}

/* The upkeep's turn: after the batch in hand, before the next. */
static void take(struct upkeep *u)
{
	pthread_mutex_lock(&u->lock);
	u->upkeep_waits = true;
	while (u->holder != NOBODY)
		pthread_cond_wait(&u->changed, &u->lock);
	u->upkeep_waits = false;
	u->holder = UPKEEP;
	pthread_mutex_unlock(&u->lock);
}

static void give(struct upkeep *u)
{
	pthread_mutex_lock(&u->lock);
	u->holder = NOBODY;
	pthread_cond_broadcast(&u->changed);
	pthread_mutex_unlock(&u->lock);
}

static int work_txn(struct store_txn *t, void *arg)
{
	struct upkeep *u = arg;
	struct index *ix = u->on.ix;
	int rc = u->on.guard ? u->on.guard(u->on.guard_arg, t) : PL_OK;
	if (rc)
		return store_txn_fail(t, rc);
	index_work_rewind(ix); /* run again after the map grew */
	return u->finishing ? index_work(ix, t, u->on.work_blocks)
			    : index_work_apart(ix, t, u->on.work_blocks);
}

static int work(struct upkeep *u, bool finishing)
{
	struct index *ix = u->on.ix;
	int64_t t0 = clock_mono_us();
	u->finishing = finishing;
	index_work_begin(ix);
	int rc = store_run_write(u->on.st, work_txn, u);
	index_work_end(ix, rc == 0);
	add_us(u->on.busy_us, t0);
	return rc;
}

/*
 * One turn: a freeze the last batch made due, then a transaction of
 * blocks, or of a finish under the hold. 0 when there was nothing to do.
 */
static int turn(struct upkeep *u, bool freeze, int *rc)
{
	struct index *ix = u->on.ix;
	bool finish = index_has_work(ix) && index_finish_due(ix);
	*rc = PL_OK;
	if (!freeze && !finish) {
		if (!index_has_work(ix))
			return 0;
		*rc = work(u, false);
		if (*rc == PL_OK && index_finish_due(ix))
			CRASH_POINT(UPKEEP_WRITTEN);
		return 1;
	}
	take(u);
	pthread_mutex_lock(&u->lock);
	u->freeze_due = false;
	pthread_mutex_unlock(&u->lock);
	bool froze = freeze && index_should_freeze(ix);
	if (froze)
		*rc = index_freeze(ix, *u->on.applied_seq);
	/* A merge's finish waits a turn after a freeze: the frozen tables come first
	 * (index_work), and their blocks are written without the hold. */
	if (*rc == PL_OK && finish && !froze)
		*rc = work(u, true);
	give(u);
	return 1;
}

/* Waits, u->lock held, ms or until stopping. */
static void wait_ms(struct upkeep *u, int ms)
{
	struct timespec until = clock_realtime_after(ms);
	while (!u->stopping && pthread_cond_timedwait(&u->changed, &u->lock, &until) == 0)
		;
}

/* Records how the turn ended; on a failure, waits before the next. */
static void note(struct upkeep *u, int rc)
{
	pthread_mutex_lock(&u->lock);
	if (rc == PL_EBUSY) {
		u->swapped = true;
	} else if (rc && !u->err) {
		log_warn("the state index's checkpoints and merges of slot %s: %s; trying again "
			 "every %d ms", u->on.name, pl_strerror(rc), RETRY_MS);
	} else if (!rc && u->err) {
		log_info("the state index's checkpoints and merges of slot %s go on",
			 u->on.name);
	}
	if (rc != PL_EBUSY)
		u->err = rc;
	u->tries++;
	pthread_cond_broadcast(&u->changed); /* a batch behind may go on, or fail */
	if (rc && rc != PL_EBUSY && !u->stopping)
		wait_ms(u, RETRY_MS);
	pthread_mutex_unlock(&u->lock);
}

static void *upkeep_main(void *arg)
{
	struct upkeep *u = arg;
	pthread_setname_np(pthread_self(), "pl-upkeep");
	for (;;) {
		pthread_mutex_lock(&u->lock);
		/* The index's own state is this thread's: looked at without the hold. */
		while (!u->stopping && !u->freeze_due && (u->swapped || !index_has_work(u->on.ix)))
			pthread_cond_wait(&u->changed, &u->lock);
		bool stop = u->stopping, freeze = u->freeze_due;
		pthread_mutex_unlock(&u->lock);
		if (stop)
			break;
		int rc;
		if (turn(u, freeze, &rc))
			note(u, rc);
	}
	return NULL;
}

int upkeep_start(struct upkeep **out, const struct upkeep_target *target)
{
	struct upkeep *u = calloc(1, sizeof *u);
	if (!u)
		return PL_ENOMEM;
	u->on = *target;
	pthread_mutex_init(&u->lock, NULL);
	pthread_cond_init(&u->changed, NULL);
	/* Tables filled before it started (a catch-up) are frozen at once. */
	u->freeze_due = index_should_freeze(target->ix);
	if (pthread_create(&u->thread, NULL, upkeep_main, u)) {
		pthread_cond_destroy(&u->changed);
		pthread_mutex_destroy(&u->lock);
		free(u);
		return PL_ENOMEM;
	}
	*out = u;
	return PL_OK;
}

void upkeep_stop(struct upkeep *u)
{
	if (!u)
		return;
	pthread_mutex_lock(&u->lock);
	u->stopping = true;
	pthread_cond_broadcast(&u->changed);
	pthread_mutex_unlock(&u->lock);
	pthread_join(u->thread, NULL);
	pthread_cond_destroy(&u->changed);
	pthread_mutex_destroy(&u->lock);
	free(u);
}
