/* lookahead.c — decoding a few events ahead; see lookahead.h. */
#include "lookahead.h"

#include "log_decoder.h"
#include "pl_error.h"

/* A walk with fewer entries to go decodes them itself: a thread would cost more. */
#define DECODER_MIN_ENTRIES 4096

void lookahead_prefetch(const struct slot *s, const struct decoded *d)
{
	/* What slot_apply() of it will look up: its id, then what the rules read. */
	if (d->rc == 0) {
		evlog_id_prefetch(&s->ix, SLOT_K_EVENT_IDS, &d->id);
		proj_prefetch(&s->pw, &d->ev, &d->keys);
	}
}

void lookahead_decode(const struct slot *s, struct decoded *d, const void *raw, size_t raw_len,
		      const void *key, size_t key_len)
{
	decode_event(d, raw, raw_len, key, key_len);
	lookahead_prefetch(s, d);
}

struct ring {
	const struct slot *s;
	int (*fn)(const struct evlog_entry *e, const struct decoded *d, void *arg);
	void *arg;
	struct evlog_entry entries[LOOKAHEAD_DEPTH];
	struct decoded decoded[LOOKAHEAD_DEPTH];
	size_t first, count;
	int stopped; /* fn's non-zero value, once it stopped the walk */
};

/* Hands the oldest entry to fn. */
static int take_oldest(struct ring *r)
{
	size_t i = r->first;
	r->first = (r->first + 1) % LOOKAHEAD_DEPTH;
	r->count--;
	r->stopped = r->fn(&r->entries[i], &r->decoded[i], r->arg);
	return r->stopped;
}

static int add_entry(const struct evlog_entry *e, void *arg)
{
	struct ring *r = arg;
	int rc = r->count == LOOKAHEAD_DEPTH ? take_oldest(r) : 0;
	if (rc)
		return rc;
	size_t i = (r->first + r->count++) % LOOKAHEAD_DEPTH;
	r->entries[i] = *e; /* its bytes stay in the transaction's pages */
	lookahead_decode(r->s, &r->decoded[i], e->raw, e->raw_len, NULL, 0);
	return 0;
}

/* Hands the decoder's entries to fn, prefetching for them a few ahead within each block. */
static int apply_blocks(const struct slot *s, struct log_decoder *dec,
			int (*fn)(const struct evlog_entry *e, const struct decoded *d, void *arg),
			void *arg, uint64_t *bad_seq)
{
	struct log_block b;
	int rc = 0;
	while (rc == 0 && log_decoder_next(dec, &b)) {
		for (size_t i = 0; i < b.n && i < LOOKAHEAD_DEPTH; i++)
			lookahead_prefetch(s, &b.d[i]);
		for (size_t i = 0; i < b.n && rc == 0; i++) {
			if (i + LOOKAHEAD_DEPTH < b.n)
				lookahead_prefetch(s, &b.d[i + LOOKAHEAD_DEPTH]);
			rc = fn(&b.e[i], &b.d[i], arg);
		}
	}
	uint64_t damaged = 0;
	int walk = log_decoder_finish(dec, &damaged);
	if (rc)
		return rc; /* fn stopped before any damage the decoder ran into */
	if (walk && bad_seq)
		*bad_seq = damaged;
	return walk;
}

int lookahead_log(const struct slot *s, struct store_txn *t, uint64_t from_seq,
		  int (*fn)(const struct evlog_entry *e, const struct decoded *d, void *arg),
		  void *arg, uint64_t *bad_seq)
{
	/* A long walk decodes on a second thread, when one can see what t sees. */
	uint64_t head;
	struct log_decoder *dec;
	if (evlog_last_seq(t, &head) == 0 && head >= from_seq &&
	    head - from_seq >= DECODER_MIN_ENTRIES && log_decoder_start(&dec, t, from_seq) == 0)
		return apply_blocks(s, dec, fn, arg, bad_seq);

	struct ring r = {.s = s, .fn = fn, .arg = arg};
	int rc = evlog_each(t, from_seq, add_entry, &r, bad_seq);
	if (r.stopped || (rc && rc != PL_ECHECKSUM && rc != PL_ECORRUPT))
		return r.stopped ? r.stopped : rc; /* fn stopped the walk, or the store failed */
	/* The end of the log, or a damaged entry: what was read before it first. */
	while (r.count)
		if (take_oldest(&r))
			return r.stopped;
	return rc;
}
