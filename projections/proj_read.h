/*
 * proj_read.h — reading projections: campaign summaries and comment pages.
 *
 * Readers use a read-only store transaction; every pointer returned
 * borrows that transaction's pages and is valid until it ends.
 */
#ifndef PROJ_READ_H
#define PROJ_READ_H

#include "proj.h"
#include "proj_records.h"

#define DAY_MS INT64_C(86400000)

struct proj_campaign {
	struct pl_str id;
	struct proj_info info;
	struct proj_totals totals;
	bool closed;
	int64_t days; /* whole days open (to closing, or to the last event), at least 1 */
};

/* Whole days open: to closing, or to the last event; at least 1. */
int64_t proj_days_open(const struct proj_totals *tot);

/* Reads one campaign: 0, PL_ENOTFOUND or an error. */
int proj_campaign_get(struct store_txn *t, enum store_slot slot, struct pl_str id,
		      struct proj_campaign *out);

/* Calls fn for every campaign in id order; stops when fn returns non-zero. */
int proj_campaign_each(struct store_txn *t, enum store_slot slot,
		       int (*fn)(const struct proj_campaign *c, void *arg), void *arg);

/* The same for the campaigns whose id comes after `after` (byte order);
 * all of them when after is empty. */
int proj_campaign_each_after(struct store_txn *t, enum store_slot slot, struct pl_str after,
			     int (*fn)(const struct proj_campaign *c, void *arg), void *arg);

/* A position in a comment feed: comments strictly older come after it. */
struct proj_cursor {
	int64_t at;
	uint64_t seq;
};

#define PROJ_CURSOR_MAX 48
/* Parses the text form "AT.SEQ"; PL_EINVAL if it is anything else. */
int proj_cursor_parse(const char *s, size_t len, struct proj_cursor *cur);
void proj_cursor_format(const struct proj_cursor *cur, char *buf, size_t size);

#define PROJ_PAGE_MAX 100
/* Text a page holds at most (names and comments): a page of long comments
 * ends early, so that no answer grows past a few hundred KiB. */
#define PROJ_PAGE_BYTES (256 * 1024)
struct proj_comment_page {
	struct proj_comment items[PROJ_PAGE_MAX];
	size_t count;
	bool has_next;
	struct proj_cursor next; /* valid when has_next */
};

/*
 * Reads up to limit (1..PROJ_PAGE_MAX) visible comments of a campaign, newest
 * first, starting after before (or at the newest when before is NULL); fewer
 * when they would hold more than PROJ_PAGE_BYTES of text (at least one).
 */
int proj_comments_page(struct store_txn *t, enum store_slot slot, struct pl_str campaign,
		       const struct proj_cursor *before, unsigned limit,
		       struct proj_comment_page *page);

#endif
