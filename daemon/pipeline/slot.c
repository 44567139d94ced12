/* slot.c — writing one slot: event ids and projections over a state index; see slot.h. */
#include "slot.h"

#include <stdio.h>
#include <string.h>

#include "erasure.h"
#include "lookahead.h"
#include "pl_error.h"
#include "upkeep.h"

#define DEFAULT_WORK_BLOCKS 512

const char *replay_outcome_text(enum replay_outcome outcome)
{
	switch (outcome) {
	case REPLAY_OK: return "replayed";
	case REPLAY_INCONSISTENT: return "a log entry no longer applies";
	case REPLAY_UNREADABLE: return "a log entry cannot be decoded";
	case REPLAY_DAMAGED: return "a log entry is damaged (it does not match its checksum, or is "
				    "missing or out of its place)";
	case REPLAY_FAILED: return "the store failed";
	}
	return "unknown";
}

/* proj_apply's look back into the log, or what is still to be written to it. */
static int event_at(void *arg, uint64_t seq, struct pl_event *ev)
{
	struct slot *s = arg;
	struct evlog_entry e;
	struct pl_rejection rej;
	int rc = s->pending ? s->pending(s->pending_arg, seq, &e.raw, &e.raw_len) : PL_ENOTFOUND;
	if (rc == PL_ENOTFOUND && (rc = evlog_get(s->log_t, seq, &e)))
		return rc == PL_ENOTFOUND ? PL_ECORRUPT : rc;
	return pl_event_decode(e.raw, e.raw_len, NULL, 0, ev, &rej) ? PL_ECORRUPT : PL_OK;
}

/* proj_apply's reading of an erasure's record. */
static int erased_comment(void *arg, uint64_t seq, size_t i, uint64_t *comment_seq)
{
	struct slot *s = arg;
	const uint8_t *comments;
	size_t count;
	int rc = erasure_comments(s->log_t, seq, &comments, &count);
	if (rc)
		return rc;
	if (i >= count)
		return PL_ENOTFOUND;
	*comment_seq = erasure_comment(comments, i);
	return PL_OK;
}

/* Lets go of what slot_open() made. */
static void slot_close_parts(struct slot *s)
{
	proj_writer_deinit(&s->pw);
	index_close(&s->ix);
}

int slot_open(struct slot *s, struct store *st, enum store_slot which,
	      const struct slot_options *opt, struct store_txn *t)
{
	struct index_kind_def kinds[SLOT_KINDS];
	struct index_options iopt = {opt->checkpoint_entries, opt->bloom_bytes};
	memset(s, 0, sizeof *s);
	s->st = st;
	s->which = which;
	s->opt = *opt;
	if (!s->opt.work_blocks)
		s->opt.work_blocks = DEFAULT_WORK_BLOCKS;
	kinds[SLOT_K_EVENT_IDS] = evlog_id_kind(which);
	proj_kind_defs(which, kinds + SLOT_K_PROJ);
	char name[8];
	snprintf(name, sizeof name, "%s", store_slot_name(which));
	int rc = index_open(&s->ix, t, name, kinds, SLOT_KINDS, &iopt);
	if (rc)
		return rc;
	rc = proj_writer_init(&s->pw, which, &s->ix, SLOT_K_PROJ, event_at, erased_comment, s);
	if (rc) {
		index_close(&s->ix);
		return rc;
	}
	if (opt->history_move_rows)
		s->pw.move_rows = opt->history_move_rows;
	if (opt->history_move_campaigns)
		s->pw.move_campaigns = opt->history_move_campaigns;
	if (opt->history_run_min_rows)
		s->pw.run_min_rows = opt->history_run_min_rows;
	if (opt->history_runs_max)
		s->pw.runs_max = opt->history_runs_max;
	if (opt->held_campaigns)
		s->pw.held_campaigns = opt->held_campaigns;
	/* A move the last writer left under way, or its rows staged. */
	if ((rc = proj_move_due(t, which, s->pw.move_rows, &s->pw.move_due))) {
		slot_close_parts(s);
		return rc;
	}
	s->applied_seq = index_checkpoint_seq(&s->ix);
	s->open = true;
	return PL_OK;
}

void slot_size_like(struct slot *s, struct store_txn *t, enum store_slot other)
{
	uint64_t entries[SLOT_KINDS];
	if (index_entries_of(t, store_slot_name(other), SLOT_KINDS, entries) == 0)
		index_expect(&s->ix, entries);
}

void slot_close(struct slot *s)
{
	if (!s->open)
		return;
	slot_upkeep_stop(s);
	slot_close_parts(s);
	s->open = false;
}

int slot_claim(struct slot *s, const struct decoded *d, const struct evlog_source *src,
	       bool copies, struct fp *claimed)
{
	*claimed = d->id;
	int rc = evlog_id_claim(&s->ix, s->pw.t, SLOT_K_EVENT_IDS, claimed);
	if (rc == PL_EEXIST && copies && d->ev.type == PL_EV_SUPPORTER_FORGOTTEN) {
		evlog_copy_id_fp(pl_event_str(&d->ev, PL_F_ID), src, claimed);
		rc = evlog_id_claim(&s->ix, s->pw.t, SLOT_K_EVENT_IDS, claimed);
	}
	if (rc)
		return rc == PL_EEXIST ? rc : store_txn_fail(s->pw.t, rc);
	return PL_OK;
}

int slot_apply_claimed(struct slot *s, const struct decoded *d, const struct fp *claimed,
		       uint64_t seq, struct pl_rejection *rej)
{
	int rc = proj_apply(&s->pw, &d->ev, &d->keys, seq, rej);
	if (rc == PL_EREJECTED && slot_unclaim(s, claimed))
		return s->pw.t->err;
	if (rc == 0)
		s->applied_seq = seq;
	return rc;
}

int slot_unclaim(struct slot *s, const struct fp *claimed)
{
	int rc = evlog_id_release(&s->ix, SLOT_K_EVENT_IDS, claimed);
	return rc ? store_txn_fail(s->pw.t, rc) : PL_OK;
}

int slot_apply(struct slot *s, const struct decoded *d, const struct evlog_source *src,
	       uint64_t seq, struct pl_rejection *rej)
{
	struct fp claimed;
	int rc = slot_claim(s, d, src, true, &claimed); /* the log holds only copies applied */
	return rc ? rc : slot_apply_claimed(s, d, &claimed, seq, rej);
}

struct catch_up {
	struct slot *s;
	uint64_t up_to;
	struct replay_result *res;
};

static int catch_up_entry(const struct evlog_entry *e, const struct decoded *d, void *arg)
{
	struct catch_up *c = arg;
	if (e->seq > c->up_to)
		return 1;
	if (d->rc) {
		c->res->rejection = d->rej;
		c->res->outcome = REPLAY_UNREADABLE;
		c->res->failed_seq = e->seq;
		return 1;
	}
	int rc = slot_apply(c->s, d, &e->src, e->seq, &c->res->rejection);
	if (rc == PL_EREJECTED || rc == PL_EEXIST) {
		if (rc == PL_EEXIST)
			pl_reject(&c->res->rejection, PL_R_NONE, "its event id is in the log twice");
		c->res->outcome = REPLAY_INCONSISTENT;
		c->res->failed_seq = e->seq;
		return 1;
	}
	if (rc == 0)
		c->res->applied++;
	return rc;
}

int slot_catch_up(struct slot *s, uint64_t up_to, struct replay_result *res)
{
	memset(res, 0, sizeof *res);
	if (s->applied_seq >= up_to)
		return PL_OK;
	struct catch_up c = {s, up_to, res};
	/* Nothing is published: the tables have these entries already. */
	proj_writer_begin(&s->pw, s->log_t, false);
	int rc = lookahead_log(s, s->log_t, s->applied_seq + 1, catch_up_entry, &c, &res->failed_seq);
	/* What was applied reaches the index, however the walk ended. */
	int flushed = slot_flush(s);
	if (rc >= 0 && flushed)
		rc = flushed;
	if (rc == PL_ECHECKSUM || rc == PL_ECORRUPT) {
		res->outcome = REPLAY_DAMAGED;
		return PL_OK;
	}
	if (rc < 0) {
		res->outcome = REPLAY_FAILED;
		return rc;
	}
	return PL_OK;
}

void slot_txn_begin(struct slot *s, struct store_txn *t, bool publish)
{
	index_txn_begin(&s->ix);
	proj_writer_begin(&s->pw, t, publish);
	s->saved_applied = s->applied_seq;
}

void slot_txn_rewind(struct slot *s, struct store_txn *t, bool publish)
{
	index_txn_rewind(&s->ix);
	proj_writer_end(&s->pw, false);
	proj_writer_begin(&s->pw, t, publish);
	s->applied_seq = s->saved_applied;
}

void slot_txn_end(struct slot *s, bool committed)
{
	index_txn_end(&s->ix, committed);
	proj_writer_end(&s->pw, committed);
	if (!committed)
		s->applied_seq = s->saved_applied;
}

int slot_flush_rules(struct slot *s)
{
	return proj_writer_flush(&s->pw);
}

int slot_publish(struct slot *s, struct store_txn *t)
{
	return proj_writer_publish(&s->pw, t);
}

int slot_flush(struct slot *s)
{
	int rc = slot_flush_rules(s);
	return rc ? rc : slot_publish(s, s->pw.t);
}

bool slot_busy(const struct slot *s)
{
	return s->pw.move_due || (!s->upkeep && index_has_work(&s->ix));
}

int slot_upkeep_start(struct slot *s, _Atomic uint64_t *busy_us, _Atomic uint64_t *wait_us)
{
	struct upkeep_target target = {.st = s->st,
				       .ix = &s->ix,
				       .name = store_slot_name(s->which),
				       .applied_seq = &s->applied_seq,
				       .work_blocks = s->opt.work_blocks,
				       .guard = s->guard,
				       .guard_arg = s->guard_arg,
				       .busy_us = busy_us,
				       .wait_us = wait_us};
	return s->upkeep ? PL_OK : upkeep_start(&s->upkeep, &target);
}

void slot_upkeep_stop(struct slot *s)
{
	upkeep_stop(s->upkeep);
	s->upkeep = NULL;
}

int slot_hold(struct slot *s)
{
	return s->upkeep ? upkeep_hold(s->upkeep) : PL_OK;
}

void slot_release(struct slot *s)
{
	if (s->upkeep)
		upkeep_release(s->upkeep);
}

/* PL_EBUSY (failing t) when s's guard says the slot is no longer its owner's to write. */
static int check_guard(struct slot *s, struct store_txn *t)
{
	int rc = s->guard ? s->guard(s->guard_arg, t) : PL_OK;
	return rc ? store_txn_fail(t, rc) : PL_OK;
}

static int work_txn(struct store_txn *t, void *arg)
{
	struct slot *s = arg;
	int rc = check_guard(s, t);
	if (rc)
		return rc;
	index_work_rewind(&s->ix);
	return index_work(&s->ix, t, s->opt.work_blocks);
}

struct move {
	struct slot *s;
	bool more;
};

static int move_txn(struct store_txn *t, void *arg)
{
	struct move *m = arg;
	int rc = check_guard(m->s, t);
	return rc ? rc : proj_writer_move(&m->s->pw, t, &m->more);
}

/* One transaction of the move due (proj_staged.h). */
static int move_step(struct slot *s)
{
	struct move m = {s, false};
	int rc = store_run_write(s->st, move_txn, &m);
	if (rc == 0 && !m.more)
		proj_writer_moved(&s->pw);
	return rc;
}

/* Moves of the history for one maintenance transaction (slot_maintain). */
static int moves_per_txn(const struct slot *s)
{
	/* A move's transaction brings as many campaigns however large the
	 * index's are: one of serve's 8 MiB (WRITER_WORK_BLOCKS) leaves a move
	 * the four of the 2 MiB it stands for, or the rows staged meanwhile
	 * would pile up for four times as many batches. */
	return s->opt.work_blocks > DEFAULT_WORK_BLOCKS ? (int)(s->opt.work_blocks / DEFAULT_WORK_BLOCKS)
							: 1;
}

/* The history's moves only: the index's work is the upkeep thread's. */
static int maintain_moves(struct slot *s, int max_txns)
{
	int moves = moves_per_txn(s);
	for (int n = 0; s->pw.move_due && (max_txns <= 0 || n < max_txns * moves); n++) {
		int rc = move_step(s);
		if (rc)
			return rc;
	}
	return PL_OK;
}

int slot_maintain(struct slot *s, int max_txns)
{
	if (s->upkeep)
		return maintain_moves(s, max_txns);
	if (index_should_freeze(&s->ix)) {
		int rc = index_freeze(&s->ix, s->applied_seq);
		if (rc)
			return rc;
	}
	/* A full active table while the last checkpoint is still being
	 * written: finish that one first, or memory would grow without bound. */
	bool behind = s->ix.frozen && index_pending(&s->ix) >= s->ix.opt.checkpoint_entries;
	int moves = moves_per_txn(s);
	for (int n = 0; slot_busy(s) && (max_txns <= 0 || n < max_txns * moves || behind);) {
		/* A move first: readers hold its staged rows until it ends. */
		int rc;
		if (s->pw.move_due && !behind) {
			rc = move_step(s);
			n++;
		} else {
			index_work_begin(&s->ix);
			rc = store_run_write(s->st, work_txn, s);
			index_work_end(&s->ix, rc == 0);
			n += moves;
		}
		if (rc)
			return rc;
		behind = s->ix.frozen && index_pending(&s->ix) >= s->ix.opt.checkpoint_entries;
	}
	return PL_OK;
}

static int forget_index_txn(struct store_txn *t, void *arg)
{
	const char *name = arg;
	char key[32];
	snprintf(key, sizeof key, "index.%s", name);
	store_del(t, STORE_DB_META, key, strlen(key));
	store_del(t, STORE_DB_BLOOMS, name, strlen(name));
	return t->err;
}

struct clear_tables {
	enum store_slot which;
	bool done;
};

static int clear_tables_txn(struct store_txn *t, void *arg)
{
	struct clear_tables *c = arg;
	int rc = proj_clear_next(t, c->which, &c->done);
	if (rc == 0 && c->done)
		proj_move_mark_del(t, c->which); /* a move under way has nothing left to move */
	return rc ? rc : t->err;
}

int slot_clear(struct store *st, enum store_slot which, const struct slot_options *opt)
{
	struct clear_tables c = {which, false};
	int rc = PL_OK;
	while (rc == 0 && !c.done)
		rc = store_run_write(st, clear_tables_txn, &c);
	if (rc == 0)
		rc = store_run_write(st, forget_index_txn, (void *)store_slot_name(which));
	if (rc)
		return rc;
	/* With no directory, every run on disk is an orphan the index deletes. */
	struct slot s;
	struct store_txn t;
	if ((rc = store_read_begin(st, &t)) == 0)
		rc = slot_open(&s, st, which, opt, &t);
	store_abort(&t);
	if (rc == 0) {
		rc = slot_maintain(&s, 0);
		slot_close(&s);
	}
	return rc;
}
