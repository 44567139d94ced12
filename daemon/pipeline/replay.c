/* replay.c — the log into a scratch data dir; see replay.h. */
#include "replay.h"

#include <string.h>

#include "lookahead.h"
#include "pl_error.h"

/* Entries applied per write transaction of the scratch data dir. */
#define CHUNK_ENTRIES 20000

/*
 * Leaving events out can only make a later one miss something it refers
 * to, or (a refund left out) find a total too high to add to; any other
 * rejection means the log and the rules disagree.
 */
static bool depends_on_earlier(enum pl_reason reason)
{
	return reason == PL_R_UNKNOWN_CAMPAIGN || reason == PL_R_UNKNOWN_PLEDGE ||
	       reason == PL_R_UNKNOWN_COMMENT || reason == PL_R_NOT_A_BACKER ||
	       reason == PL_R_TOTAL_OVERFLOW;
}

struct chunk {
	struct slot *s;
	const struct replay_options *opt;
	struct replay_report *rep;
	uint64_t next;  /* the next entry to read */
	size_t left;    /* entries this transaction may still take */
	bool finished;
	/* Where the transaction began, for when it is run again. */
	uint64_t start;
	struct replay_report saved;
};

/* Applies one entry; returns 1 to stop the walk, 0 to go on, < 0 on error. */
static int replay_entry(const struct evlog_entry *e, const struct decoded *d, void *arg)
{
	struct chunk *c = arg;
	struct replay_report *rep = c->rep;
	struct replay_result *res = &rep->result;
	if (c->opt->until_seq && e->seq > c->opt->until_seq) {
		c->finished = true;
		return 1;
	}
	if (c->left == 0)
		return 1;
	c->left--;
	c->next = e->seq + 1;
	if (d->rc) {
		res->rejection = d->rej;
		res->outcome = REPLAY_UNREADABLE;
		res->failed_seq = e->seq;
		return 1;
	}
	if (c->opt->has_until_time && pl_event_int(&d->ev, PL_F_AT) > c->opt->until_time) {
		rep->skipped_time++;
		int rc = proj_left_out(&c->s->pw, &d->ev, &d->keys, e->seq);
		if (rc)
			res->failed_seq = e->seq;
		return rc;
	}
	int rc = slot_apply(c->s, d, &e->src, e->seq, &res->rejection);
	if (rc == PL_EREJECTED && rep->skipped_time && depends_on_earlier(res->rejection.reason)) {
		rep->skipped_dependent++;
		return 0;
	}
	if (rc == PL_EREJECTED || rc == PL_EEXIST) {
		if (rc == PL_EEXIST)
			pl_reject(&res->rejection, PL_R_NONE, "its event id is in the log twice");
		res->outcome = REPLAY_INCONSISTENT;
		res->failed_seq = e->seq;
		return 1;
	}
	if (rc) {
		res->failed_seq = e->seq; /* the entry whose applying found the damage */
		return rc;
	}
	res->applied++;
	rep->last_seq = e->seq;
	return 0;
}

static int chunk_txn(struct store_txn *t, void *arg)
{
	struct chunk *c = arg;
	slot_txn_rewind(c->s, t, true);
	*c->rep = c->saved;
	c->next = c->start;
	c->finished = false;
	c->left = CHUNK_ENTRIES;
	int rc = lookahead_log(c->s, c->s->log_t, c->next, replay_entry, c, &c->rep->result.failed_seq);
	if (rc == PL_ECHECKSUM || rc == PL_ECORRUPT) {
		c->rep->result.outcome = REPLAY_DAMAGED;
		return 1; /* nothing to keep */
	}
	if (rc < 0)
		return rc;
	if (c->left > 0) /* the walk ran out of entries before its budget */
		c->finished = true;
	return slot_flush(c->s);
}

int replay_scratch(struct store_txn *src_t, struct store *scratch, const struct replay_options *opt,
		   struct slot *out, struct replay_report *rep)
{
	struct store_txn t;
	memset(rep, 0, sizeof *rep);
	int rc = store_read_begin(scratch, &t);
	if (rc == 0)
		rc = slot_open(out, scratch, STORE_SLOT_A, &opt->slot, &t);
	store_abort(&t);
	if (rc)
		return rc;
	slot_set_log(out, src_t);
	out->pw.time_cut = opt->has_until_time;
	out->pw.cut_at = opt->until_time;
	struct chunk c = {.s = out, .opt = opt, .rep = rep, .start = 1};
	while (rc == 0 && !c.finished && rep->result.outcome == REPLAY_OK) {
		c.saved = *rep;
		slot_txn_begin(out, NULL, true);
		rc = store_run_write(scratch, chunk_txn, &c);
		slot_txn_end(out, rc == 0);
		if (rc == 1)
			rc = 0;
		c.start = c.next;
		if (rc == 0)
			rc = slot_maintain(out, 2);
	}
	if (rc < 0)
		rep->result.outcome = REPLAY_FAILED;
	return rc;
}
