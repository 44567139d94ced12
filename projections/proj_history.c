/* proj_history.c — figures at a time, from a campaign's history; see proj_history.h. */
#include "proj_history.h"

#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "memtable.h"
#include "pl_error.h"
#include "proj_history_cursor.h"

/* A pass over one campaign's history rows in time order, adding them up. */
struct walk {
	struct store_txn *t;
	struct pl_str campaign;
	struct proj_history_cursor cur; /* the history table and the staged rows */
	struct proj_staged own;          /* the staged rows when the caller keeps none */
	int rc;          /* of the cursor: 0 while a row is pending */
	int64_t at;      /* the pending row's */
	uint64_t seq;
	struct proj_history h;
	bool supporters;      /* counted: their nets kept in memory as the walk goes */
	struct memtable nets; /* supporter fingerprint → net amount */
	struct proj_totals tot;
	uint64_t rows; /* added up so far */
};

/* Reads the row at the cursor into w, or ends the walk past the campaign. */
static int walk_load(struct walk *w)
{
	MDB_val k, v;
	if ((w->rc = proj_history_cursor_get(&w->cur, &k, &v)))
		return PL_OK;
	if (proj_timed_key_parse(k.mv_data, k.mv_size, w->campaign, &w->at, &w->seq)) {
		w->rc = MDB_NOTFOUND;
		return PL_OK;
	}
	if (proj_history_decode(v.mv_data, v.mv_size, &w->h))
		return store_txn_fail(w->t, PL_ECORRUPT);
	return PL_OK;
}

/* Steps to the next row. */
static int walk_next(struct walk *w)
{
	int rc = proj_history_cursor_next(&w->cur);
	return rc ? rc : walk_load(w);
}

static void walk_close(struct walk *w)
{
	proj_history_cursor_close(&w->cur);
	proj_staged_deinit(&w->own);
	if (w->supporters)
		memtable_deinit(&w->nets);
}

static int walk_open(struct walk *w, struct store_txn *t, enum store_slot slot,
		     struct proj_staged *staged, struct pl_str campaign, bool supporters)
{
	memset(w, 0, sizeof *w);
	proj_staged_init(&w->own);
	w->t = t;
	w->campaign = campaign;
	w->supporters = supporters;
	w->tot.closed_at = PROJ_NONE;
	w->tot.opened_at = PROJ_NONE;
	if (campaign.len > PL_MAX_ID_BYTES)
		return PL_EINVAL;
	if (supporters && memtable_init(&w->nets, 8))
		return PL_ENOMEM;
	if (!staged)
		staged = &w->own;
	uint8_t key[PROJ_KEY_MAX];
	size_t klen = proj_campaign_prefix(key, campaign);
	int rc = proj_staged_sync(staged, t, slot);
	if (rc == 0)
		rc = proj_history_cursor_open(&w->cur, t, store_slot_db(slot, SLOT_HISTORY), staged,
					      key, klen);
	return rc ? rc : walk_load(w); /* the caller closes the walk either way */
}

/* Adds the pending row to the totals. */
static int walk_add(struct walk *w)
{
	struct proj_totals *t = &w->tot;
	t->raised += w->h.raised;
	t->pledges += w->h.pledges;
	t->comments += w->h.comments;
	if (w->h.net && w->supporters) {
		struct fp f;
		memcpy(f.b, w->h.supporter, FP_SIZE);
		int64_t *net = memtable_get(&w->nets, &f), before = net ? *net : 0;
		int64_t after = before + w->h.net;
		if (memtable_put(&w->nets, &f, &after))
			return PL_ENOMEM;
		t->supporters += (after > 0) - (before > 0);
	}
	if (w->h.type == PL_EV_CAMPAIGN_OPENED)
		t->opened_at = w->at;
	if (w->h.type == PL_EV_CAMPAIGN_CLOSED)
		t->closed_at = w->at;
	/* An erasure is no event of the campaign's own (as in the live totals). */
	if (w->h.type != PL_EV_SUPPORTER_FORGOTTEN && w->at > t->last_at)
		t->last_at = w->at;
	return PL_OK;
}

/* Adds every row timed before limit; stops at the first later one. */
static int walk_until(struct walk *w, int64_t limit)
{
	while (w->rc == 0 && w->at < limit) {
		w->rows++;
		int rc = walk_add(w);
		if (rc || (rc = walk_next(w)))
			return rc;
	}
	return PL_OK;
}

int proj_history_as_of(struct store_txn *t, enum store_slot slot, struct proj_staged *staged,
		       int64_t as_of, struct proj_campaign *c, uint64_t *rows)
{
	struct walk w;
	int rc = walk_open(&w, t, slot, staged, c->id, true);
	if (rc == 0)
		rc = walk_until(&w, as_of == INT64_MAX ? as_of : as_of + 1);
	if (rows)
		*rows += w.rows;
	if (rc == 0 && w.tot.opened_at == PROJ_NONE)
		rc = PL_ENOTFOUND;
	if (rc == 0) {
		c->totals = w.tot;
		c->closed = w.tot.closed_at != PROJ_NONE;
		c->days = proj_days_open(&c->totals);
	}
	walk_close(&w);
	return rc;
}

static struct proj_totals difference(const struct proj_totals *a, const struct proj_totals *b)
{
	struct proj_totals d = *a;
	d.raised -= b->raised;
	d.pledges -= b->pledges;
	d.supporters -= b->supporters;
	d.comments -= b->comments;
	return d;
}

int proj_history_buckets(struct store_txn *t, enum store_slot slot, struct proj_staged *staged,
			 struct pl_str campaign, int64_t start, int64_t step, size_t count,
			 bool supporters, int (*fn)(const struct proj_bucket *b, void *arg), void *arg)
{
	struct walk w;
	int rc = walk_open(&w, t, slot, staged, campaign, supporters);
	if (rc == 0)
		rc = walk_until(&w, start);
	for (size_t i = 0; rc == 0 && i < count; i++) {
		struct proj_bucket b = {.start = start + (int64_t)i * step};
		struct proj_totals before = w.tot;
		b.end = b.start + step;
		if ((rc = walk_until(&w, b.end)))
			break;
		b.at_end = w.tot;
		b.change = difference(&w.tot, &before);
		rc = fn(&b, arg);
	}
	walk_close(&w);
	return rc;
}

/* A comment visible at the time asked: where it is in the log, and its time. */
struct visible {
	int64_t at;
	uint64_t seq;
};

static int newest_first(const void *a, const void *b)
{
	const struct visible *x = a, *y = b;
	if (x->at != y->at)
		return x->at < y->at ? 1 : -1;
	return x->seq < y->seq ? 1 : x->seq > y->seq ? -1 : 0;
}

/* A comment of one time: where it is in the log, and its place in the feed. */
struct placed {
	uint64_t seq;
	struct proj_cursor place;
};

static int feed_order(const void *a, const void *b)
{
	const struct proj_cursor *x = &((const struct placed *)a)->place,
				 *y = &((const struct placed *)b)->place;
	return proj_comment_order((struct pl_str){x->id, x->id_len}, (struct pl_str){y->id, y->id_len});
}

/* Calls fn, in the live feed's order (proj_read.h), with the comments
 * v[0..n) of one time that come after `from` (NULL: all), reading their
 * ids from the log. */
static int time_in_order(const struct visible *v, size_t n, const struct proj_cursor *from,
			 proj_event_at_fn event_at, void *log_arg,
			 int (*fn)(uint64_t seq, int64_t at, void *arg), void *arg)
{
	struct placed *p = malloc(n * sizeof *p);
	int rc = p ? PL_OK : PL_ENOMEM;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct pl_event ev;
		if ((rc = event_at(log_arg, v[i].seq, &ev)))
			break;
		p[i] = (struct placed){v[i].seq, proj_cursor_at(v[i].at, pl_event_str(&ev, PL_F_COMMENT))};
	}
	if (rc == 0)
		qsort(p, n, sizeof *p, feed_order);
	for (size_t i = 0; rc == 0 && i < n; i++)
		if (!from || proj_cursor_passes(from, (struct pl_str){p[i].place.id, p[i].place.id_len}))
			rc = fn(p[i].seq, v[0].at, arg);
	free(p);
	return rc;
}

static int by_value(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int proj_history_comments(struct store_txn *t, enum store_slot slot, struct proj_staged *staged,
			  struct pl_str campaign, int64_t as_of, const struct proj_cursor *before,
			  proj_event_at_fn event_at, void *log_arg,
			  int (*fn)(uint64_t seq, int64_t at, void *arg), void *arg)
{
	struct walk w;
	struct visible *posted = NULL;
	uint64_t *removed = NULL;
	size_t nposted = 0, nremoved = 0, cap_posted = 0, cap_removed = 0;
	int64_t opened_at = INT64_MIN;
	int rc = walk_open(&w, t, slot, staged, campaign, false);
	while (rc == 0 && w.rc == 0 && w.at <= as_of) {
		if (w.h.type == PL_EV_CAMPAIGN_OPENED) {
			opened_at = w.at;
		} else if (w.h.type == PL_EV_COMMENT_POSTED) {
			if (!array_reserve((void **)&posted, &cap_posted, nposted + 1, sizeof *posted))
				rc = PL_ENOMEM;
			else
				posted[nposted++] = (struct visible){w.at, w.seq};
			/* At the opening: perhaps timed before it, so its own time decides its place. */
			struct pl_event ev;
			if (rc == 0 && w.at == opened_at && (rc = event_at(log_arg, w.seq, &ev)) == 0)
				posted[nposted - 1].at = pl_event_int(&ev, PL_F_AT);
		} else if (w.h.ref) {
			if (!array_reserve((void **)&removed, &cap_removed, nremoved + 1, sizeof *removed))
				rc = PL_ENOMEM;
			else
				removed[nremoved++] = w.h.ref;
		}
		if (rc == 0)
			rc = walk_next(&w);
	}
	if (rc == 0) {
		/* qsort and bsearch take no NULL, even for no elements. */
		if (nremoved)
			qsort(removed, nremoved, sizeof *removed, by_value);
		if (nposted)
			qsort(posted, nposted, sizeof *posted, newest_first);
		/* Those removed by then are not in the feed, nor counted in a cursor. */
		size_t n = 0;
		for (size_t i = 0; i < nposted; i++)
			if (!nremoved ||
			    !bsearch(&posted[i].seq, removed, nremoved, sizeof *removed, by_value))
				posted[n++] = posted[i];
		/* Time by time, so that a page reads the ids of the times it shows only. */
		for (size_t i = 0, end; rc == 0 && i < n; i = end) {
			for (end = i + 1; end < n && posted[end].at == posted[i].at; end++)
				;
			if (before && posted[i].at > before->at)
				continue;
			bool at_cursor_time = before && posted[i].at == before->at;
			if (end - i > 1 || at_cursor_time)
				rc = time_in_order(posted + i, end - i, at_cursor_time ? before : NULL,
						   event_at, log_arg, fn, arg);
			else
				rc = fn(posted[i].seq, posted[i].at, arg);
		}
		if (rc == 1)
			rc = PL_OK;
	}
	free(posted);
	free(removed);
	walk_close(&w);
	return rc;
}
