/* past_feed.c — the comment feed at a time; see past_feed.h. */
#include "past_feed.h"

#include "event_decode.h"
#include "evlog.h"
#include "pl_error.h"
#include "proj_history.h"

/* Reads the comment.posted at seq into c; *erased when its text was erased since. */
static int read_comment(struct store_txn *t, uint64_t seq, struct proj_comment *c, bool *erased)
{
	struct evlog_entry e;
	struct pl_event ev;
	struct pl_rejection rej;
	int rc = evlog_get(t, seq, &e);
	if (rc)
		return rc == PL_ENOTFOUND ? store_txn_fail(t, PL_ECORRUPT) : rc;
	*erased = e.erased;
	if (pl_event_decode(e.raw, e.raw_len, NULL, 0, &ev, &rej) || ev.type != PL_EV_COMMENT_POSTED)
		return store_txn_fail(t, PL_ECORRUPT);
	*c = (struct proj_comment){.id = pl_event_str(&ev, PL_F_COMMENT),
				   .name = pl_event_str(&ev, PL_F_NAME),
				   .has_name = pl_event_has(&ev, PL_F_NAME),
				   .text = pl_event_str(&ev, PL_F_TEXT),
				   /* Its own time, as the live feed gives it; the history
				    * orders it by its effective one (proj_history.h). */
				   .at = pl_event_int(&ev, PL_F_AT),
				   .seq = seq};
	return PL_OK;
}

int past_feed_page(struct store_txn *t, enum store_slot slot, struct proj_staged *staged,
		   struct pl_str campaign, int64_t as_of, const struct proj_cursor *before, unsigned limit,
		   struct proj_comment_page *page)
{
	uint64_t seqs[PROJ_PAGE_MAX + 1];
	int64_t ats[PROJ_PAGE_MAX + 1];
	struct proj_cursor from = before ? *before : (struct proj_cursor){INT64_MAX, UINT64_MAX};
	size_t bytes = 0;
	page->count = 0;
	page->has_next = false;
	if (limit < 1 || limit > PROJ_PAGE_MAX)
		return PL_EINVAL;
	/* Erased comments are skipped after the history has counted them: ask again past them. */
	while (page->count < limit && !page->has_next) {
		size_t n;
		bool more;
		int rc = proj_history_comments(t, slot, staged, campaign, as_of, &from,
					       limit - page->count, seqs, ats, &n, &more);
		if (rc)
			return rc;
		for (size_t i = 0; i < n; i++) {
			struct proj_comment *c = &page->items[page->count];
			bool erased = false;
			if (bytes >= PROJ_PAGE_BYTES) {
				page->has_next = true;
				break;
			}
			if ((rc = read_comment(t, seqs[i], c, &erased)))
				return rc;
			from = (struct proj_cursor){ats[i], seqs[i]};
			if (erased)
				continue;
			bytes += c->name.len + c->text.len;
			page->next = from;
			page->count++;
		}
		if (!more)
			break;
		page->has_next |= page->count == limit;
	}
	return PL_OK;
}
