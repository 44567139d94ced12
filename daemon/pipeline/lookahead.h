/*
 * lookahead.h — events decoded a few ahead of the one being applied.
 *
 * Applying an event looks up three or four keys of the state index, each at
 * a random place in tables larger than the CPU's caches: one memory wait
 * after another is most of what applying costs. Decoding the next few events
 * early and prefetching their keys (index_prefetch) lets those waits overlap.
 * Ingest decodes the messages of its batch this way; lookahead_log() walks
 * log entries this way for rebuilds, catch-ups and replays.
 */
#ifndef LOOKAHEAD_H
#define LOOKAHEAD_H

#include <stddef.h>
#include <stdint.h>

#include "evlog.h"
#include "slot.h"

/* How many events ahead: enough to cover a memory wait, few enough to stay in L1. */
#define LOOKAHEAD_DEPTH 8

/* Prefetches what applying d (decoded) to s reads: the writer's thread only. */
void lookahead_prefetch(const struct slot *s, const struct decoded *d);

/* Decodes raw into d (decode_event) and prefetches what applying it to s reads. */
void lookahead_decode(const struct slot *s, struct decoded *d, const void *raw, size_t raw_len,
		      const void *key, size_t key_len);

/*
 * Calls fn for every log entry from from_seq on (read in t), in order, with
 * the entry decoded; the walk runs up to LOOKAHEAD_DEPTH entries ahead of
 * fn. A long walk is read and decoded on a second thread (log_decoder.h),
 * so t must not have changed the log itself. fn returns 0 to go on,
 * non-zero to stop the walk with that value.
 * Returns 0 at the end of the log, fn's value, or evlog_each()'s error
 * (PL_ECHECKSUM with *bad_seq for a damaged entry — after fn has seen every
 * entry before it).
 */
int lookahead_log(const struct slot *s, struct store_txn *t, uint64_t from_seq,
		  int (*fn)(const struct evlog_entry *e, const struct decoded *d, void *arg),
		  void *arg, uint64_t *bad_seq);

#endif
