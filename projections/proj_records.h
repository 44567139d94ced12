/*
 * proj_records.h — how projection state is laid out in LMDB.
 *
 * Keys and values of the projection databases (see store.h), as plain
 * structs and their byte forms. Every encoder writes every byte, so equal
 * state means equal bytes: that is what makes replay byte-identical.
 *
 *   CAMPAIGNS    campaign id                  → campaign info (static fields)
 *   TOTALS       campaign id                  → totals (numbers that move)
 *   PLEDGES      pledge id                    → pledge (campaign, supporter, amounts)
 *   SUPPORTERS   len8 campaign, supporter     → net amount
 *   COMMENTS     len8 campaign, at, seq       → comment (id, name, text)
 *   COMMENT_IDS  comment id                   → removed flag, COMMENTS key
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

struct proj_pledge {
	int64_t amount, refunded;
	struct pl_str campaign, supporter;
};

struct proj_comment {
	struct pl_str id, name, text;
	bool has_name;
	int64_t at;
	uint64_t seq;
};

/* Composite keys: the campaign prefixed by its length keeps them unambiguous. */
#define PROJ_KEY_MAX (1 + PL_MAX_ID_BYTES + PL_MAX_ID_BYTES + 16)

size_t proj_supporter_key(uint8_t *key, struct pl_str campaign, struct pl_str supporter);
size_t proj_comment_key(uint8_t *key, struct pl_str campaign, int64_t at, uint64_t seq);
/* The prefix every COMMENTS key of a campaign starts with. */
size_t proj_comment_prefix(uint8_t *key, struct pl_str campaign);
/* Splits a COMMENTS key; fails unless it belongs to campaign. */
int proj_comment_key_parse(const uint8_t *key, size_t len, struct pl_str campaign, int64_t *at,
			   uint64_t *seq);

/* Encoders return the encoded size; call with buf NULL to get the size alone. */
size_t proj_info_encode(uint8_t *buf, const struct proj_info *info);
int proj_info_decode(const void *buf, size_t len, struct proj_info *info);

#define PROJ_TOTALS_SIZE 56
void proj_totals_encode(uint8_t *buf, const struct proj_totals *t);
int proj_totals_decode(const void *buf, size_t len, struct proj_totals *t);

size_t proj_pledge_encode(uint8_t *buf, const struct proj_pledge *p);
int proj_pledge_decode(const void *buf, size_t len, struct proj_pledge *p);

/* The COMMENTS value: id, name, text (at and seq live in the key). */
size_t proj_comment_encode(uint8_t *buf, const struct proj_comment *c);
int proj_comment_decode(const void *buf, size_t len, struct proj_comment *c);

#endif
