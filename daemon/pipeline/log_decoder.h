/*
 * log_decoder.h — log entries read, checked and decoded on a thread of their own.
 *
 * A rebuild, a catch-up or a replay applies the log one entry after another
 * on one thread. Reading each entry, checking its checksum and decoding it
 * is about a quarter of that work and needs nothing the rules change, so a
 * decoder does it on a second thread, some blocks of entries ahead, in a
 * read transaction of its own that sees the same snapshot as the caller's.
 * It hands out a block of entries at a time, copied out of its transaction
 * before they were decoded: a block stays valid until the next is taken.
 */
#ifndef LOG_DECODER_H
#define LOG_DECODER_H

#include <stdint.h>

#include "evlog.h"
#include "slot.h"

struct log_decoder;

/* Entries in log order, each with its decoding (decode_event). */
struct log_block {
	size_t n;
	const struct evlog_entry *e;
	const struct decoded *d;
};

/*
 * Starts decoding the log from from_seq on, as t sees it, on a new thread.
 * PL_EBUSY when no transaction of its own can see what t sees (a commit
 * came in between), PL_ENOMEM, or a store error.
 */
int log_decoder_start(struct log_decoder **out, struct store_txn *t, uint64_t from_seq);

/*
 * The next block, valid until the next call: true, or false at the end of
 * the walk (see log_decoder_finish).
 */
bool log_decoder_next(struct log_decoder *dec, struct log_block *b);

/*
 * Stops the thread, whether or not the walk was at its end, and frees the
 * decoder. Returns 0, or the error that ended the walk early (as
 * evlog_each(): PL_ECHECKSUM or PL_ECORRUPT with *bad_seq for a damaged
 * entry, whose block came last).
 */
int log_decoder_finish(struct log_decoder *dec, uint64_t *bad_seq);

#endif
