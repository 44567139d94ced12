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

/*
 * Called for each campaign of a walk with its key in the order walked (to
 * resume after it); returns 0 to go on, > 0 to stop, < 0 to stop with that
 * error.
 */
typedef int (*proj_campaign_fn)(const struct proj_campaign *c, const void *key, size_t key_len,
				void *arg);

/* Calls fn for every campaign in id order. */
int proj_campaign_each(struct store_txn *t, enum store_slot slot, proj_campaign_fn fn, void *arg);

/*
 * Calls fn for the campaigns in order (proj_records.h), starting after the
 * key after (after_len 0: from the first). A key no longer in the order
 * (its campaign's total moved) resumes where it would be.
 */
int proj_campaign_each_in(struct store_txn *t, enum store_slot slot, enum proj_order order,
			  const void *after, size_t after_len, proj_campaign_fn fn, void *arg);

/*
 * Calls fn for the platform's figures in each currency (its three-letter
 * code, not NUL-terminated), in code order; fn's return as in proj_campaign_fn.
 */
typedef int (*proj_platform_fn)(const char currency[3], const struct proj_platform *p, void *arg);
int proj_platform_each(struct store_txn *t, enum store_slot slot, proj_platform_fn fn, void *arg);

/*
 * A position in a comment feed: the comments after it in the feed's order
 * come after it. A feed is ordered by time, newest first, and the comments
 * of one time by their ids (bytewise, highest first): an order that every
 * instance of a topic gives alike and that no removal shifts, so that a
 * cursor one replica gave pages on at another, even when the comment it
 * names is gone there or not there yet. A cursor is the last shown
 * comment's time and id (a campaign holds each comment id once: a second
 * comment.posted with it is refused).
 */
struct proj_cursor {
	int64_t at;
	size_t id_len; /* 0: all of time `at` come after it */
	char id[PL_MAX_ID_BYTES];
};

/* AT (at most 20 characters), '-', the id in hex, NUL. */
#define PROJ_CURSOR_MAX (20 + 1 + 2 * PL_MAX_ID_BYTES + 1)
/* Parses the text form "AT-ID" (ID in lowercase hex). The forms older
 * pledged gave ("AT.OLDER" and "AT.OLDER.TAG", which ordered a time's
 * comments otherwise) still parse, with no id: the next page repeats the
 * comments of their time rather than skip any. PL_EINVAL if it is anything
 * else. */
int proj_cursor_parse(const char *s, size_t len, struct proj_cursor *cur);
void proj_cursor_format(const struct proj_cursor *cur, char buf[PROJ_CURSOR_MAX]);
/* The cursor that names comment id of time at. */
struct proj_cursor proj_cursor_at(int64_t at, struct pl_str id);
/* The feed's order of two comments of one time: < 0 when a comes first. */
int proj_comment_order(struct pl_str a, struct pl_str b);
/* Whether comment id of the cursor's time comes after the cursor. */
bool proj_cursor_passes(const struct proj_cursor *cur, struct pl_str id);

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
 * staged holds the slot's staged comments (proj_staged.h), brought up to
 * date here; the page points into it and into t's pages.
 */
struct proj_staged;
int proj_comments_page(struct store_txn *t, enum store_slot slot, struct proj_staged *staged,
		       struct pl_str campaign, const struct proj_cursor *before, unsigned limit,
		       struct proj_comment_page *page);

#endif
