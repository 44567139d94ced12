/*
 * bench_events.h — a deterministic stream of realistic events for the
 * benchmarks: campaigns opened first, then pledges (most), refunds,
 * comments by backers, comment removals, about 1% re-delivered duplicates
 * and 0.1% malformed messages, spread over a number of campaigns.
 */
#ifndef BENCH_EVENTS_H
#define BENCH_EVENTS_H

#include <msgpack.h>
#include <stdint.h>

struct bench_stream {
	uint64_t state;     /* PRNG state */
	uint64_t produced;
	uint32_t campaigns;
	uint64_t pledges;   /* pledges created so far */
	uint64_t comments;
	char key[32];       /* message key of the newest message */
	char last_supporter[32], last_pledge_campaign[32]; /* a backer, for comments */
	char last_comment_campaign[32];
	int last_comment_removed;
	msgpack_sbuffer last; /* the previous good message, re-delivered as a duplicate */
	char last_key[32];
};

void bench_stream_init(struct bench_stream *s, uint32_t campaigns, uint64_t seed);
void bench_stream_deinit(struct bench_stream *s);

/*
 * Writes the next message's value into out (cleared first) and its key into
 * s->key. Returns 1 for a well-formed event, 0 for a deliberately bad one.
 */
int bench_stream_next(struct bench_stream *s, msgpack_sbuffer *out);

#endif
