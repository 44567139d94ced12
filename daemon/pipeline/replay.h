/*
 * replay.h — the log replayed into a scratch data dir: what verify checks
 * the live projections against and what a dry run shows, without writing a
 * byte to the data dir it reads.
 *
 * The log is read in one read-only transaction of the data dir (a
 * snapshot: serve goes on ingesting meanwhile) and applied to slot a of a
 * fresh data dir in a temporary directory, in write transactions of
 * bounded size, so memory stays bounded by the slot's settings.
 *
 * Point in time: until_seq stops after that sequence; until_time keeps only
 * entries whose event time is at or before it, in log order. With a time
 * cut an entry may depend on one that was cut (a refund whose pledge came
 * later): such entries are counted in skipped_dependent, not failures.
 */
#ifndef REPLAY_H
#define REPLAY_H

#include "slot.h"

struct replay_options {
	uint64_t until_seq; /* 0: no limit */
	bool has_until_time;
	int64_t until_time; /* Unix ms, event time */
	struct slot_options slot;
};

struct replay_report {
	struct replay_result result;
	uint64_t skipped_time;      /* after until_time */
	uint64_t skipped_dependent; /* depended on an entry after until_time */
	uint64_t last_seq;          /* last entry applied */
};

/*
 * Replays the log read in src_t into slot a of scratch (a fresh data dir),
 * which is left open in *out for the caller to read and compare. Returns 0
 * with rep->result, or a store error.
 */
int replay_scratch(struct store_txn *src_t, struct store *scratch, const struct replay_options *opt,
		   struct slot *out, struct replay_report *rep);

#endif
