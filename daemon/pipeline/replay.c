/* replay.c — apply the log to a projection set; see replay.h. */
#include "replay.h"

#include <stdlib.h>
#include <string.h>

#include "evlog.h"
#include "pl_error.h"

const char *replay_outcome_text(enum replay_outcome outcome)
{
	switch (outcome) {
	case REPLAY_OK: return "replayed";
	case REPLAY_EMPTY: return "the log is empty";
	case REPLAY_INCONSISTENT: return "a log entry no longer applies";
	case REPLAY_UNREADABLE: return "a log entry cannot be decoded";
	case REPLAY_FAILED: return "the store failed";
	}
	return "unknown";
}

/*
 * Leaving events out can only make a later one miss something it refers
 * to; any other rejection means the log and the rules disagree.
 */
static bool depends_on_earlier(enum pl_reason reason)
{
	return reason == PL_R_UNKNOWN_CAMPAIGN || reason == PL_R_UNKNOWN_PLEDGE ||
	       reason == PL_R_UNKNOWN_COMMENT || reason == PL_R_NOT_A_BACKER;
}

/* Applies one entry; returns 1 to stop the walk, 0 to go on, <0 on error. */
static int replay_entry(struct proj_writer *w, const struct replay_options *opt,
			const struct evlog_entry *e, struct replay_result *res)
{
	struct pl_event ev;
	if (pl_event_decode(e->raw, e->raw_len, NULL, 0, &ev, &res->rejection)) {
		res->outcome = REPLAY_UNREADABLE;
		res->failed_seq = e->seq;
		return 1;
	}
	if (opt->has_until_time && pl_event_int(&ev, PL_F_AT) > opt->until_time) {
		res->skipped_time++;
		return 0;
	}
	int rc = proj_apply(w, &ev, e->seq, &res->rejection);
	if (rc == PL_EREJECTED) {
		if (res->skipped_time && depends_on_earlier(res->rejection.reason)) {
			res->skipped_dependent++;
			return 0;
		}
		res->outcome = REPLAY_INCONSISTENT;
		res->failed_seq = e->seq;
		return 1;
	}
	if (rc)
		return rc;
	res->applied++;
	res->last_seq = e->seq;
	return 0;
}

struct replay_walk {
	struct proj_writer writer;
	const struct replay_options *opt;
	struct replay_result *res;
};

static int replay_log_entry(const struct evlog_entry *e, void *arg)
{
	struct replay_walk *w = arg;
	if (w->opt->until_seq && e->seq > w->opt->until_seq)
		return 1;
	return replay_entry(&w->writer, w->opt, e, w->res);
}

int replay_into(struct store_txn *t, enum proj_set set, const struct replay_options *opt,
		struct replay_result *res)
{
	memset(res, 0, sizeof *res);
	proj_clear(t, set);
	struct replay_walk *w = malloc(sizeof *w);
	if (!w)
		return store_txn_fail(t, PL_ENOMEM);
	w->opt = opt;
	w->res = res;
	proj_writer_init(&w->writer, t, set);
	int rc = evlog_each(t, 1, replay_log_entry, w);
	if (rc == 0)
		rc = proj_writer_flush(&w->writer);
	if (rc == 0 && set == PROJ_LIVE)
		proj_generation_bump(t);
	free(w);
	if (rc < 0) {
		res->outcome = REPLAY_FAILED;
		return rc;
	}
	if (res->outcome == REPLAY_OK && res->applied == 0 && res->skipped_time == 0)
		res->outcome = REPLAY_EMPTY;
	return PL_OK;
}
