/* lookahead.c — decoding a few events ahead; see lookahead.h. */
#include "lookahead.h"

#include "pl_error.h"

void lookahead_decode_only(struct decoded *d, const void *raw, size_t raw_len, const void *key,
			   size_t key_len)
{
	d->rc = pl_event_decode(raw, raw_len, key, key_len, &d->ev, &d->rej);
	if (d->rc == 0) {
		evlog_id_fp(pl_event_str(&d->ev, PL_F_ID), &d->id);
		proj_keys_of(&d->ev, &d->keys);
	}
}

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
	lookahead_decode_only(d, raw, raw_len, key, key_len);
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

int lookahead_log(const struct slot *s, struct store_txn *t, uint64_t from_seq,
		  int (*fn)(const struct evlog_entry *e, const struct decoded *d, void *arg),
		  void *arg, uint64_t *bad_seq)
{
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
