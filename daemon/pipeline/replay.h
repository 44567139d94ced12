/*
 * replay.h — rebuild projections from the event log.
 *
 * Walks the log in sequence order, decodes each entry again and applies it
 * to a projection set. Every entry in the log was accepted once, so in a
 * full replay every entry must apply again; one that does not means the
 * log and the rules disagree (REPLAY_INCONSISTENT), which is reported with
 * its sequence and reason rather than skipped.
 *
 * Point in time: until_seq stops after that sequence; until_time keeps only
 * entries whose event time is at or before it, in log order. With a time
 * cut an entry may depend on one that was cut (a refund whose pledge came
 * later): such entries are counted in skipped_dependent, not failures.
 */
#ifndef REPLAY_H
#define REPLAY_H

#include "event_decode.h"
#include "proj.h"

struct replay_options {
	uint64_t until_seq;  /* 0: no limit */
	bool has_until_time;
	int64_t until_time;  /* Unix ms, event time */
};

enum replay_outcome {
	REPLAY_OK,           /* every selected entry applied */
	REPLAY_EMPTY,        /* the log holds no entries */
	REPLAY_INCONSISTENT, /* an entry did not apply; see failed_seq and rejection */
	REPLAY_UNREADABLE,   /* an entry does not decode; see failed_seq and rejection */
	REPLAY_FAILED,       /* the store failed; see the returned error */
};

struct replay_result {
	enum replay_outcome outcome;
	uint64_t applied;
	uint64_t skipped_time;      /* after until_time */
	uint64_t skipped_dependent; /* depended on an entry after until_time */
	uint64_t last_seq;          /* last entry applied */
	uint64_t failed_seq;
	struct pl_rejection rejection;
};

/* A sentence describing an outcome, for operators. */
const char *replay_outcome_text(enum replay_outcome outcome);

/*
 * Empties set and replays the log into it, in the caller's write
 * transaction. Returns 0 (see res->outcome) or a store error.
 */
int replay_into(struct store_txn *t, enum proj_set set, const struct replay_options *opt,
		struct replay_result *res);

#endif
