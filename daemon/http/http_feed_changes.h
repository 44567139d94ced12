/*
 * http_feed_changes.h — which campaigns' comment feeds a stretch of the log
 * changed, for the streams (http_sse.c).
 *
 * A campaign's summary holds the count of its comments, not the comments: a
 * comment removed and another posted between two checks, or a supporter's
 * name erased, change the feed and leave the summary as it was. The log
 * says what changed: comment.posted and comment.removed name their
 * campaign; a supporter.forgotten may touch any campaign's feed.
 */
#ifndef HTTP_FEED_CHANGES_H
#define HTTP_FEED_CHANGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* Longer stretches are not read: every feed is taken as changed. */
#define FEED_CHANGES_MAX_ENTRIES 100000

struct feed_change {
	uint64_t campaign; /* feed_campaign_hash() of its campaign */
	uint64_t seq;      /* the latest entry that changed its feed */
};

struct feed_changes {
	struct feed_change *changes; /* by campaign hash, one each */
	size_t count, cap;
	uint64_t everyone_seq; /* the latest supporter.forgotten read, or 0 */
	bool all;              /* not read: every feed may have changed */
};

/* A campaign's key into the changes (equal ids, equal hashes). */
uint64_t feed_campaign_hash(const char *id, size_t len);

/* Reads the log's entries after from up to to (in t) into fc, emptied first.
 * 0, or an error of the store or of a damaged entry. */
int feed_changes_read(struct feed_changes *fc, struct store_txn *t, uint64_t from, uint64_t to);

/* Whether the feed of the campaign of hash changed after log position since. */
bool feed_changed(const struct feed_changes *fc, uint64_t campaign, uint64_t since);

void feed_changes_deinit(struct feed_changes *fc);

#endif
