/*
 * past_feed.h — a campaign's comment feed as it stood at a time: the
 * comments posted by then and not removed by then, newest first, read from
 * the log. An erased comment never shows again, at any time.
 */
#ifndef PAST_FEED_H
#define PAST_FEED_H

#include "proj_read.h"
#include "proj_staged.h"

/* As proj_comments_page(), for the feed at as_of; staged as in proj_history.h. */
int past_feed_page(struct store_txn *t, enum store_slot slot, struct proj_staged *staged,
		   struct pl_str campaign, int64_t as_of, const struct proj_cursor *before, unsigned limit,
		   struct proj_comment_page *page);

#endif
