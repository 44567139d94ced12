/*
 * proj_records.h — how projections are laid out in LMDB.
 *
 * What readers see, in a slot's tables (see store.h), keyed by the ids
 * people use:
 *   CAMPAIGNS    campaign id                  → campaign info (static fields)
 *   TOTALS       campaign id                  → totals (numbers that move)
 *   COMMENTS     len8 campaign, at, seq       → comment (id, name, text)
 *   HISTORY      len8 campaign, at, seq       → what an event changed (proj_history)
 *   PLATFORM     currency                     → totals of all campaigns in it
 *   BY_RAISED    raised (descending), id      → nothing: campaigns by money raised
 *   BY_OPENED    opened_at (descending), id   → nothing: newest first
 *   BY_CLOSING   closes_at, id                → nothing: open campaigns closing soonest
 *                                                first (none given: last)
 * What the rules need, in the slot's state index (index.h), keyed by
 * fingerprints of the ids (fp.h):
 *   campaign     campaign id                  → totals and currency
 *   pledge       pledge id                    → its event's sequence, refunded
 *   supporter    campaign, supporter          → net amount
 *   comment      comment id                   → its event's sequence, removed
 *   backer       currency, supporter          → campaigns they back (net > 0)
 * A pledge or comment keeps only where its event is in the log: a refund or
 * a removal reads the rest there. Every encoder writes every byte, so equal
 * state means equal bytes: that is what makes replay byte-identical.
 */
#ifndef PROJ_RECORDS_H
#define PROJ_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event_schema.h"

#define PROJ_NONE (-1) /* absent optional integer (target, closes_at, closed_at) */

struct proj_info {
	struct pl_str title, owner, location, currency;
	bool has_location;
	int64_t target;    /* PROJ_NONE when absent */
	int64_t closes_at; /* PROJ_NONE when absent */
};

struct proj_totals {
	int64_t raised, pledges, supporters, comments;
	int64_t opened_at, closed_at; /* closed_at PROJ_NONE while open */
	int64_t last_at;              /* latest event time seen for the campaign */
};

/* A campaign's state: its totals and the currency its pledges must use. */
struct proj_campaign_state {
	struct proj_totals totals;
	char currency[3];
};

struct proj_pledge {
	uint64_t seq; /* its pledge.created */
	int64_t refunded;
};

struct proj_comment_state {
	uint64_t seq; /* its comment.posted */
	bool removed;
};

struct proj_comment {
	struct pl_str id, name, text;
	bool has_name;
	int64_t at;
	uint64_t seq;
};

/*
 * One history row: what one event changed in one campaign, at the time it
 * counts from (its effective time: its own, or the later time of what it
 * depends on, docs/http.md "History"). Rows only add up; the supporter
 * count at a time comes from the nets of the fingerprints, not a delta,
 * because whether a supporter counts depends on everything they did.
 */
struct proj_history {
	uint8_t type;            /* enum pl_event_type */
	int64_t raised;          /* change of raised */
	int32_t pledges;         /* change of the pledge count */
	int32_t comments;        /* change of the visible comments */
	int64_t net;             /* change of one supporter's net amount */
	uint8_t supporter[16];   /* that supporter's fingerprint, when net != 0 */
	uint64_t ref;            /* a removal's comment.posted seq; 0 otherwise */
};
#define PROJ_HISTORY_MAX 64 /* 2, varints of 10, 5, 5, 10 and 10, and 16 */
size_t proj_history_encode(uint8_t buf[PROJ_HISTORY_MAX], const struct proj_history *h);
int proj_history_decode(const void *buf, size_t len, struct proj_history *h);

/* The figures of every campaign in one currency. */
struct proj_platform {
	__int128 raised; /* every campaign may hold up to INT64_MAX */
	int64_t pledges, open, closed, supporters;
};
#define PROJ_PLATFORM_SIZE 48
void proj_platform_encode(uint8_t *buf, const struct proj_platform *p);
int proj_platform_decode(const void *buf, size_t len, struct proj_platform *p);
/* Adds the figures of d to those of to. */
void proj_platform_add(struct proj_platform *to, const struct proj_platform *d);

/* The campaign orders: an 8-byte sort key, then the id. */
enum proj_order { PROJ_BY_ID, PROJ_BY_RAISED, PROJ_BY_NEWEST, PROJ_BY_CLOSING };
#define PROJ_ORDER_KEY_MAX (8 + PL_MAX_ID_BYTES)
/* Ascending (closing) or descending (raised, newest) by v, then by id. */
size_t proj_order_key(uint8_t *key, enum proj_order order, int64_t v, struct pl_str id);

/* Composite keys: the campaign prefixed by its length keeps them unambiguous. */
#define PROJ_KEY_MAX (1 + PL_MAX_ID_BYTES + PL_MAX_ID_BYTES + 16)

/* A COMMENTS or HISTORY key: the campaign's, ordered by time, then log position. */
size_t proj_timed_key(uint8_t *key, struct pl_str campaign, int64_t at, uint64_t seq);
/* The prefix every such key of a campaign starts with. */
size_t proj_campaign_prefix(uint8_t *key, struct pl_str campaign);
/* The length of such a key's campaign prefix (key[0] is the id's length). */
static inline size_t proj_key_prefix_len(const uint8_t *key)
{
	return 1 + (size_t)key[0];
}
/* LMDB's default order of keys (mdb_cmp_memn): bytes, then the shorter first. */
int proj_key_cmp(const void *a, size_t alen, const void *b, size_t blen);
/* Splits such a key; fails unless it belongs to campaign. */
int proj_timed_key_parse(const uint8_t *key, size_t len, struct pl_str campaign, int64_t *at,
			   uint64_t *seq);

/* Encoders return the encoded size; call with buf NULL to get the size alone. */
size_t proj_info_encode(uint8_t *buf, const struct proj_info *info);
int proj_info_decode(const void *buf, size_t len, struct proj_info *info);

#define PROJ_TOTALS_SIZE 56
void proj_totals_encode(uint8_t *buf, const struct proj_totals *t);
int proj_totals_decode(const void *buf, size_t len, struct proj_totals *t);

/* The state values, of fixed sizes. */
#define PROJ_CAMPAIGN_STATE_SIZE (PROJ_TOTALS_SIZE + 4)
void proj_campaign_state_encode(uint8_t *buf, const struct proj_campaign_state *c);
void proj_campaign_state_decode(const uint8_t *buf, struct proj_campaign_state *c);
#define PROJ_PLEDGE_SIZE 16
void proj_pledge_encode(uint8_t *buf, const struct proj_pledge *p);
void proj_pledge_decode(const uint8_t *buf, struct proj_pledge *p);
#define PROJ_COMMENT_STATE_SIZE 8
void proj_comment_state_encode(uint8_t *buf, const struct proj_comment_state *c);
void proj_comment_state_decode(const uint8_t *buf, struct proj_comment_state *c);

/* The COMMENTS value: id, name, text (at and seq live in the key). */
size_t proj_comment_encode(uint8_t *buf, const struct proj_comment *c);
int proj_comment_decode(const void *buf, size_t len, struct proj_comment *c);

#endif
