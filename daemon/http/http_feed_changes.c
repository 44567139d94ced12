/* http_feed_changes.c — comment feeds changed over a stretch of the log; see http_feed_changes.h. */
#include "http_feed_changes.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "array.h"
#include "event_decode.h"
#include "evlog.h"
#include "pl_error.h"

uint64_t feed_campaign_hash(const char *id, size_t len)
{
	return XXH3_64bits(id, len);
}

struct reading {
	struct feed_changes *fc;
	uint64_t to;
};

/* The types that change a feed. */
static const enum pl_event_type feed_types[] = {PL_EV_COMMENT_POSTED, PL_EV_COMMENT_REMOVED,
						PL_EV_SUPPORTER_FORGOTTEN};

/* Whether raw holds the name of a type that changes a feed: an entry of
 * such a type does (its "type" value), and most entries, pledges, do not,
 * so only those that do are decoded. */
static bool may_change_feeds(const void *raw, size_t len)
{
	for (size_t i = 0; i < sizeof feed_types / sizeof *feed_types; i++) {
		const struct pl_type_def *def = &pl_type_defs[feed_types[i]];
		if (memmem(raw, len, def->name, def->name_len))
			return true;
	}
	return false;
}

static int note_entry(const struct evlog_entry *e, void *arg)
{
	struct reading *rd = arg;
	struct feed_changes *fc = rd->fc;
	if (e->seq > rd->to)
		return 1;
	if (!may_change_feeds(e->raw, e->raw_len))
		return 0;
	struct pl_event ev;
	struct pl_rejection rej;
	/* Every entry was valid when logged; one that no longer decodes was
	 * erased, by a supporter.forgotten this stretch holds too (it is in
	 * the same snapshot, and after the entry): every feed is told. */
	if (pl_event_decode(e->raw, e->raw_len, NULL, 0, &ev, &rej))
		return 0;
	if (ev.type == PL_EV_SUPPORTER_FORGOTTEN) {
		fc->everyone_seq = e->seq;
		return 0;
	}
	if (ev.type != PL_EV_COMMENT_POSTED && ev.type != PL_EV_COMMENT_REMOVED)
		return 0;
	if (!array_reserve((void **)&fc->changes, &fc->cap, fc->count + 1, sizeof *fc->changes))
		return PL_ENOMEM;
	struct pl_str c = pl_event_str(&ev, PL_F_CAMPAIGN);
	fc->changes[fc->count++] = (struct feed_change){feed_campaign_hash(c.ptr, c.len), e->seq};
	return 0;
}

static int by_campaign_then_seq(const void *a, const void *b)
{
	const struct feed_change *x = a, *y = b;
	if (x->campaign != y->campaign)
		return x->campaign < y->campaign ? -1 : 1;
	return (x->seq > y->seq) - (x->seq < y->seq);
}

int feed_changes_read(struct feed_changes *fc, struct store_txn *t, uint64_t from, uint64_t to)
{
	fc->count = 0;
	fc->everyone_seq = 0;
	fc->all = to - from > FEED_CHANGES_MAX_ENTRIES;
	if (fc->all || to <= from)
		return 0;
	struct reading rd = {fc, to};
	int rc = evlog_each(t, from + 1, note_entry, &rd, NULL);
	if (rc < 0)
		return rc;
	if (!fc->count) /* no changes, and no array for qsort */
		return 0;
	/* Sorted, each campaign's latest kept: looked up by bisection. */
	qsort(fc->changes, fc->count, sizeof *fc->changes, by_campaign_then_seq);
	size_t kept = 0;
	for (size_t i = 0; i < fc->count; i++) {
		if (kept && fc->changes[kept - 1].campaign == fc->changes[i].campaign)
			kept--;
		fc->changes[kept++] = fc->changes[i];
	}
	fc->count = kept;
	return 0;
}

bool feed_changed(const struct feed_changes *fc, uint64_t campaign, uint64_t since)
{
	if (fc->all || fc->everyone_seq > since)
		return true;
	size_t lo = 0, hi = fc->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (fc->changes[mid].campaign < campaign)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < fc->count && fc->changes[lo].campaign == campaign && fc->changes[lo].seq > since;
}

void feed_changes_deinit(struct feed_changes *fc)
{
	free(fc->changes);
	*fc = (struct feed_changes){0};
}
