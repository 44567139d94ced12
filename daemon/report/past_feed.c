/* past_feed.c — the comment feed at a time; see past_feed.h. */
#include "past_feed.h"

#include "event_decode.h"
#include "evlog.h"
#include "pl_error.h"
#include "proj_history.h"

/* Reads the event at log position seq; *erased when its personal fields were erased since. */
static int read_entry(struct store_txn *t, uint64_t seq, struct pl_event *ev, bool *erased)
{
	struct evlog_entry e;
	struct pl_rejection rej;
	int rc = evlog_get(t, seq, &e);
	if (rc)
		return rc == PL_ENOTFOUND ? store_txn_fail(t, PL_ECORRUPT) : rc;
	*erased = e.erased;
	if (pl_event_decode(e.raw, e.raw_len, NULL, 0, ev, &rej))
		return store_txn_fail(t, PL_ECORRUPT);
	return PL_OK;
}

/* proj_event_at_fn over t. */
static int event_at(void *t, uint64_t seq, struct pl_event *ev)
{
	bool erased = false;
	return read_entry(t, seq, ev, &erased);
}

/* Reads the comment.posted at seq into c; *erased when its text was erased since. */
static int read_comment(struct store_txn *t, uint64_t seq, struct proj_comment *c, bool *erased)
{
	struct pl_event ev;
	int rc = read_entry(t, seq, &ev, erased);
	if (rc)
		return rc;
	if (ev.type != PL_EV_COMMENT_POSTED)
		return store_txn_fail(t, PL_ECORRUPT);
	*c = (struct proj_comment){.id = pl_event_str(&ev, PL_F_COMMENT),
				   .name = pl_event_str(&ev, PL_F_NAME),
				   .has_name = pl_event_has(&ev, PL_F_NAME),
				   .text = pl_event_str(&ev, PL_F_TEXT),
				   /* Its own time, as the live feed gives and orders it
				    * (proj_history_comments). */
				   .at = pl_event_int(&ev, PL_F_AT),
				   .seq = seq};
	return PL_OK;
}

/* The page being filled, as the history gives its comments newest first. */
struct filling {
	struct store_txn *t;
	struct proj_comment_page *page;
	unsigned limit;
	size_t bytes;
};

static int add_comment(uint64_t seq, int64_t at, void *arg)
{
	struct filling *f = arg;
	struct proj_comment_page *page = f->page;
	bool full = page->count == f->limit || f->bytes >= PROJ_PAGE_BYTES;
	struct proj_comment spare;
	struct proj_comment *c = full ? &spare : &page->items[page->count];
	bool erased = false;
	int rc = read_comment(f->t, seq, c, &erased);
	if (rc || erased)
		return rc; /* an erased comment never shows: the next one, then */
	if (full) {
		page->has_next = true; /* one more shows after this page */
		return 1;
	}
	f->bytes += c->name.len + c->text.len;
	page->next = proj_cursor_at(at, c->id);
	page->count++;
	return PL_OK;
}

int past_feed_page(struct store_txn *t, enum store_slot slot, struct proj_staged *staged,
		   struct pl_str campaign, int64_t as_of, const struct proj_cursor *before, unsigned limit,
		   struct proj_comment_page *page)
{
	struct filling f = {.t = t, .page = page, .limit = limit};
	page->count = 0;
	page->has_next = false;
	if (limit < 1 || limit > PROJ_PAGE_MAX)
		return PL_EINVAL;
	return proj_history_comments(t, slot, staged, campaign, as_of, before, event_at, t,
				     add_comment, &f);
}
