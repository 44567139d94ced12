/* rebuild.c — filling the other slot from the log, then swapping; see rebuild.h. */
#include "rebuild.h"

#include <string.h>

#include "bulk_fill.h"
#include "bytes.h"
#include "clock.h"
#include "lookahead.h"
#include "pl_error.h"
#include "proj_read.h"

#define META_SLOT "rebuild.slot"
#define META_SEQ "rebuild.seq"
#define DEFAULT_TXN_MS 20
/* Bounded transactions after the checkpoint that may fail to reach a log
 * that serve keeps extending, before one unbounded one swaps regardless. */
#define MAX_CHASE 100

int rebuild_status(struct store_txn *t, bool *under_way, enum store_slot *slot, uint64_t *done)
{
	MDB_val v;
	*under_way = false;
	*done = 0;
	int rc = store_get(t, STORE_DB_META, META_SLOT, strlen(META_SLOT), &v);
	if (rc == PL_ENOTFOUND)
		return PL_OK;
	if (rc)
		return rc;
	if (v.mv_size != 1 || (*(const char *)v.mv_data != 'a' && *(const char *)v.mv_data != 'b'))
		return store_txn_fail(t, PL_ECORRUPT);
	*slot = *(const char *)v.mv_data == 'a' ? STORE_SLOT_A : STORE_SLOT_B;
	*under_way = true;
	rc = store_get(t, STORE_DB_META, META_SEQ, strlen(META_SEQ), &v);
	if (rc == 0 && v.mv_size == 8)
		*done = bytes_get_le64(v.mv_data);
	else if (rc != PL_ENOTFOUND)
		return rc ? rc : store_txn_fail(t, PL_ECORRUPT);
	return PL_OK;
}

static void put_seq(struct store_txn *t, uint64_t seq)
{
	uint8_t v[8];
	bytes_put_le64(v, seq);
	store_put(t, STORE_DB_META, META_SEQ, strlen(META_SEQ), v, sizeof v, 0);
}

static int mark_txn(struct store_txn *t, void *arg)
{
	const enum store_slot *slot = arg;
	store_put(t, STORE_DB_META, META_SLOT, strlen(META_SLOT), store_slot_name(*slot), 1, 0);
	put_seq(t, 0);
	return t->err;
}

static int unmark_txn(struct store_txn *t, void *arg)
{
	(void)arg;
	store_del(t, STORE_DB_META, META_SLOT, strlen(META_SLOT));
	store_del(t, STORE_DB_META, META_SEQ, strlen(META_SEQ));
	return t->err;
}

struct run {
	struct slot s;
	const struct rebuild_options *opt;
	struct rebuild_report *rep;
	struct replay_result saved;
	int64_t deadline; /* monotonic ms; 0: no limit */
	bool may_swap;    /* checkpoint written: a transaction that reaches the end swaps */
	bool swapping;    /* this transaction made the slot live */
	int chasing;      /* transactions since may_swap that did not reach the end */
	bool at_end;
	size_t since_clock;
	uint64_t budget; /* entries a transaction may apply under max_rate; 0: no limit */
};

static int apply_entry(const struct evlog_entry *e, const struct decoded *d, void *arg)
{
	struct run *r = arg;
	struct replay_result *res = &r->rep->result;
	if (r->budget && res->applied - r->saved.applied >= r->budget)
		return 1;
	if (r->deadline && ++r->since_clock >= 64) {
		r->since_clock = 0;
		if (clock_mono_ms() >= r->deadline)
			return 1;
	}
	if (d->rc) {
		res->rejection = d->rej;
		res->outcome = REPLAY_UNREADABLE;
		res->failed_seq = e->seq;
		return 1;
	}
	int rc = slot_apply(&r->s, d, &e->src, e->seq, &res->rejection);
	if (rc == PL_EREJECTED || rc == PL_EEXIST) {
		if (rc == PL_EEXIST)
			pl_reject(&res->rejection, PL_R_NONE, "its event id is in the log twice");
		res->outcome = REPLAY_INCONSISTENT;
		res->failed_seq = e->seq;
		return 1;
	}
	if (rc == 0)
		res->applied++;
	return rc;
}

/*
 * PL_EBUSY (failing t) unless t stores the rebuild of r's slot at the entry
 * r's slot stands at: start() reads the rebuild's progress in read
 * transactions, and were those older than t (store_catch_up_readers() says
 * when), entries would be applied twice.
 */
static int check_progress(struct store_txn *t, const struct run *r)
{
	bool under_way;
	enum store_slot slot;
	uint64_t done;
	int rc = rebuild_status(t, &under_way, &slot, &done);
	if (rc == 0 && (!under_way || slot != r->s.which || done != r->s.applied_seq))
		rc = store_txn_fail(t, PL_EBUSY);
	return rc;
}

/* In a bulk fill's last transaction: the slot is still this rebuild's, and now reaches seq. */
static int bulk_filled(struct store_txn *t, uint64_t seq, void *arg)
{
	struct run *r = arg;
	enum store_slot live;
	uint64_t gen;
	int rc = proj_live(t, &live, &gen);
	if (rc == 0 && live == r->s.which)
		rc = store_txn_fail(t, PL_EBUSY);
	if (rc == 0)
		rc = check_progress(t, r);
	if (rc == 0)
		put_seq(t, seq);
	return rc ? rc : t->err;
}

/* One write transaction of the rebuild: entries until the deadline, or the swap. */
static int chunk_txn(struct store_txn *t, void *arg)
{
	struct run *r = arg;
	enum store_slot live;
	uint64_t gen, head;
	slot_txn_rewind(&r->s, t, true);
	slot_set_log(&r->s, t);
	r->swapping = false;
	r->rep->result = r->saved;
	r->since_clock = 0;
	int rc = proj_live(t, &live, &gen);
	if (rc == 0 && live == r->s.which)
		rc = store_txn_fail(t, PL_EBUSY); /* someone else swapped: not ours any more */
	if (rc == 0)
		rc = check_progress(t, r);
	if (rc == 0)
		rc = evlog_last_seq(t, &head);
	if (rc == 0)
		rc = lookahead_log(&r->s, t, r->s.applied_seq + 1, apply_entry, r,
				   &r->rep->result.failed_seq);
	if (rc == PL_ECHECKSUM || rc == PL_ECORRUPT) {
		r->rep->result.outcome = REPLAY_DAMAGED;
		return 1;
	}
	if (rc < 0)
		return rc;
	if (r->rep->result.outcome != REPLAY_OK)
		return 1; /* keep what was built before it; report */
	r->rep->head = head;
	r->at_end = r->s.applied_seq == head;
	if ((rc = slot_flush(&r->s)))
		return rc;
	put_seq(t, r->s.applied_seq);
	if (r->may_swap && r->at_end) {
		proj_set_live(t, r->s.which);
		unmark_txn(t, NULL);
		r->swapping = true;
	}
	return t->err;
}

/* Starts a rebuild of the slot readers do not see, or takes up the one under way. */
static int start(struct store *st, struct run *r)
{
	struct store_txn t = {0};
	bool under_way;
	enum store_slot live, slot;
	uint64_t gen, done;
	/* Taking up where a killed rebuild stopped: read all it committed. */
	int rc = store_catch_up_readers(st);
	if (rc == 0)
		rc = store_read_begin(st, &t);
	if (rc == 0)
		rc = proj_live(&t, &live, &gen);
	if (rc == 0)
		rc = rebuild_status(&t, &under_way, &slot, &done);
	/* Where the log ends, for a report of a rebuild stopped before its first transaction. */
	if (rc == 0)
		rc = evlog_last_seq(&t, &r->rep->head);
	store_abort(&t);
	if (rc)
		return rc;
	if (under_way && slot == live)
		under_way = false; /* it was swapped in, but the marker outlived it */
	/* Nothing recorded: a bulk fill killed half-way may have left rows. */
	if (under_way && done == 0)
		under_way = false;
	r->rep->resumed = under_way;
	if (!under_way) {
		slot = live == STORE_SLOT_A ? STORE_SLOT_B : STORE_SLOT_A;
		if ((rc = slot_clear(st, slot, &r->opt->slot)) ||
		    (rc = store_run_write(st, mark_txn, &slot)))
			return rc;
		done = 0;
	}
	r->rep->slot = slot;
	if ((rc = store_read_begin(st, &t)) == 0)
		rc = slot_open(&r->s, st, slot, &r->opt->slot, &t);
	if (rc == 0 && !under_way)
		slot_size_like(&r->s, &t, live);
	if (rc == 0) {
		/* Its tables reach done; its index may be behind them. */
		slot_set_log(&r->s, &t);
		rc = slot_catch_up(&r->s, done, &r->rep->result);
		if (rc == 0 && r->rep->result.outcome != REPLAY_OK)
			rc = PL_ECORRUPT;
	}
	store_abort(&t);
	if (rc && r->s.open)
		slot_close(&r->s);
	memset(&r->rep->result, 0, sizeof r->rep->result);
	return rc;
}

/* Keeps a rebuild under opt->max_rate entries per second on average, in
 * naps between transactions, so that it takes a bounded share of the disk
 * and CPU from the serve beside it. */
static void pace(const struct run *r, int64_t t0)
{
	const struct rebuild_options *opt = r->opt;
	if (!opt->max_rate)
		return;
	int64_t due = t0 + (int64_t)(r->rep->result.applied * 1000 / opt->max_rate);
	for (int64_t now = clock_mono_ms(); now < due; now = clock_mono_ms()) {
		if (opt->stop && atomic_load(opt->stop))
			return;
		int64_t nap = due - now < 100 ? due - now : 100; /* stays responsive to stop */
		struct timespec ts = {0, (long)nap * 1000000L};
		nanosleep(&ts, NULL);
	}
}

static void report_progress(struct run *r, int64_t t0)
{
	if (!r->opt->progress)
		return;
	double seconds = (double)(clock_mono_ms() - t0) / 1000.0;
	double rate = seconds > 0 ? (double)r->rep->result.applied / seconds : 0;
	/* The first transactions, before the naps, would promise more. */
	if (r->opt->max_rate && !r->may_swap && rate > (double)r->opt->max_rate)
		rate = (double)r->opt->max_rate;
	struct rebuild_progress p = {r->s.applied_seq, r->rep->head, rate};
	r->opt->progress(&p, r->opt->progress_arg);
}

int rebuild_run(struct store *st, const struct rebuild_options *opt, struct rebuild_report *rep)
{
	struct run r = {.opt = opt, .rep = rep};
	int txn_ms = opt->txn_ms > 0 ? opt->txn_ms : DEFAULT_TXN_MS;
	int64_t t0 = clock_mono_ms();
	memset(rep, 0, sizeof *rep);
	int rc = start(st, &r);
	if (rc)
		return rc;
	/* From nothing, and not held back to a rate: the log at once, if it can
	 * (a long one's first entries; the loop below applies the rest). */
	bool filled = false;
	if (!opt->in_log_order && r.s.applied_seq == 0 && !opt->max_rate &&
	    !(opt->stop && atomic_load(opt->stop)) &&
	    (rc = bulk_fill(&r.s, txn_ms, &opt->bulk, opt->stop, bulk_filled, &r, &filled)) == 0 && filled) {
		rep->result.applied = r.s.applied_seq;
		rep->at_once = r.s.applied_seq;
		rep->bulk = true;
	}
	if (rc) {
		slot_close(&r.s);
		return rc;
	}
	enum store_slot old = r.s.which == STORE_SLOT_A ? STORE_SLOT_B : STORE_SLOT_A;
	while (rc == 0 && !(opt->stop && atomic_load(opt->stop))) {
		int64_t began = clock_mono_ms();
		/* Chasing a serve that writes faster than this catches up: at last
		 * one unbounded transaction, rather than never swapping. */
		r.deadline = r.chasing > MAX_CHASE ? 0 : began + txn_ms;
		/* Under max_rate, a tenth of a second's worth at a time, paced
		 * between them; the last stretch to the swap is not held back. */
		r.budget = opt->max_rate && !r.may_swap ? (opt->max_rate + 9) / 10 : 0;
		r.saved = rep->result;
		slot_txn_begin(&r.s, NULL, true);
		rc = store_run_write(st, chunk_txn, &r);
		slot_txn_end(&r.s, rc == 0);
		int64_t took = clock_mono_ms() - began;
		if (took > rep->longest_txn_ms)
			rep->longest_txn_ms = took;
		if (rc == 1)
			rc = 0;
		if (rc || rep->result.outcome != REPLAY_OK)
			break;
		report_progress(&r, t0);
		if (r.swapping) {
			rep->swapped = rep->caught_up = true;
			break;
		}
		if (r.at_end && !opt->swap) {
			rep->caught_up = true;
			break;
		}
		if (r.at_end && !r.may_swap) {
			/* Write its checkpoint now, so that a serve taking it over has
			 * little of the log to catch up (none to write when nothing came
			 * after the last, as after a bulk fill). Then catch up again, in
			 * bounded transactions as before: the first that reaches the end
			 * swaps. */
			if (index_pending(&r.s.ix) &&
			    (rc = index_freeze(&r.s.ix, r.s.applied_seq)) == PL_EBUSY)
				rc = 0;
			if (rc == 0)
				rc = slot_maintain(&r.s, 0);
			r.may_swap = true;
		} else {
			if (r.may_swap)
				r.chasing++;
			rc = slot_maintain(&r.s, 1);
			if (!r.may_swap)
				pace(&r, t0);
		}
	}
	rep->seconds = (double)(clock_mono_ms() - t0) / 1000.0;
	rep->applied = rep->result.applied;
	rep->done = r.s.applied_seq;
	slot_close(&r.s);
	if (rc == 0 && rep->swapped)
		rc = slot_clear(st, old, &opt->slot);
	return rc;
}

int rebuild_abort(struct store *st, const struct slot_options *opt)
{
	struct store_txn t;
	bool under_way;
	enum store_slot slot;
	uint64_t done;
	int rc = store_read_begin(st, &t);
	if (rc == 0)
		rc = rebuild_status(&t, &under_way, &slot, &done);
	store_abort(&t);
	if (rc)
		return rc;
	if (!under_way)
		return PL_ENOTFOUND;
	if ((rc = store_run_write(st, unmark_txn, NULL)))
		return rc;
	return slot_clear(st, slot, opt);
}

/* ---- the difference a swap would make ---- */

struct diff_walk {
	struct store_txn *t;
	enum store_slot other;
	int (*fn)(const struct rebuild_change *c, void *arg);
	void *arg;
	bool other_side;  /* walking the rebuilt slot for campaigns the live one lacks */
	bool other_empty; /* the rebuilt slot holds no entry it records (at entry 0) */
};

static int diff_campaign(const struct proj_campaign *c, const void *key, size_t key_len,
			  void *arg)
{
	(void)key;
	(void)key_len;
	struct diff_walk *w = arg;
	struct proj_campaign o;
	int rc = w->other_empty ? PL_ENOTFOUND : proj_campaign_get(w->t, w->other, c->id, &o);
	if (rc && rc != PL_ENOTFOUND)
		return rc;
	if (w->other_side && rc == 0)
		return 0; /* seen from the live side already */
	struct rebuild_change ch = {.id = c->id};
	const struct proj_totals *mine = &c->totals, *theirs = rc == 0 ? &o.totals : NULL;
	if (theirs && mine->raised == theirs->raised && mine->pledges == theirs->pledges &&
	    mine->supporters == theirs->supporters && mine->comments == theirs->comments &&
	    mine->closed_at == theirs->closed_at)
		return 0;
	if (w->other_side) {
		ch.in_rebuilt = true;
		ch.rebuilt = *mine;
	} else {
		ch.in_live = true;
		ch.live = *mine;
		ch.in_rebuilt = theirs != NULL;
		if (theirs)
			ch.rebuilt = *theirs;
	}
	return w->fn(&ch, w->arg);
}

int rebuild_diff(struct store *st, int (*fn)(const struct rebuild_change *c, void *arg), void *arg)
{
	struct store_txn t;
	bool under_way;
	enum store_slot live, rebuilt;
	uint64_t gen, done;
	int rc = store_read_begin(st, &t);
	if (rc == 0)
		rc = proj_live(&t, &live, &gen);
	if (rc == 0)
		rc = rebuild_status(&t, &under_way, &rebuilt, &done);
	if (rc == 0 && !under_way)
		rc = PL_ENOTFOUND;
	if (rc == 0) {
		/* At entry 0 its rows are none it holds: a fill stopped between
		 * its transactions leaves rows no record counts, and the next
		 * rebuild starts over from an emptied slot. */
		struct diff_walk w = {&t, rebuilt, fn, arg, false, done == 0};
		rc = proj_campaign_each(&t, live, diff_campaign, &w);
		w = (struct diff_walk){&t, live, fn, arg, true, false};
		if (rc == 0 && done > 0)
			rc = proj_campaign_each(&t, rebuilt, diff_campaign, &w);
	}
	store_abort(&t);
	return rc;
}
