/*
 * event_schema.h — the single definition of every event of the wire contract
 * (CONTRACT.md section 1): its types, its fields with their types and limits,
 * and every rejection reason.
 *
 * Decoding, encoding, JSON output and the docs all derive from these tables;
 * to add a field or a type, change it here and nowhere else.
 */
#ifndef EVENT_SCHEMA_H
#define EVENT_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest message value accepted at all; larger ones are rejected unread. */
#define PL_MAX_EVENT_BYTES 16384
/* Largest amount in minor units (10^12). */
#define PL_MAX_AMOUNT INT64_C(1000000000000)
/* Longest id (event, campaign, pledge, supporter, comment) in bytes. Keys
 * prefix a campaign with its length in one byte, hence the bound. */
#define PL_MAX_ID_BYTES 64
_Static_assert(PL_MAX_ID_BYTES <= 255, "ids are length-prefixed with one byte in keys");
/* The one schema version this daemon understands. */
#define PL_SCHEMA_VERSION 1

/*
 * Fields: X(ENUM, "key", KIND, min, max)
 * For STR fields min/max bound the length in bytes; for INT fields the value.
 */
#define PL_FIELDS(X)                                                        \
	X(V, "v", INT, INT64_MIN, INT64_MAX)                                \
	X(TYPE, "type", STR, 1, 64)                                         \
	X(ID, "id", STR, 1, PL_MAX_ID_BYTES)                                \
	X(AT, "at", INT, 0, INT64_MAX)                                      \
	X(CAMPAIGN, "campaign", STR, 1, PL_MAX_ID_BYTES)                    \
	X(TITLE, "title", STR, 0, 200)                                      \
	X(OWNER, "owner", STR, 0, 200)                                      \
	X(CURRENCY, "currency", STR, 3, 3)                                  \
	X(LOCATION, "location", STR, 0, 200)                                \
	X(TARGET, "target", INT, 0, INT64_MAX)                              \
	X(CLOSES_AT, "closes_at", INT, 0, INT64_MAX)                        \
	X(PLEDGE, "pledge", STR, 1, PL_MAX_ID_BYTES)                        \
	X(SUPPORTER, "supporter", STR, 1, PL_MAX_ID_BYTES)                  \
	X(AMOUNT, "amount", INT, 1, PL_MAX_AMOUNT)                          \
	X(NAME, "name", STR, 0, 100)                                        \
	X(COMMENT, "comment", STR, 1, PL_MAX_ID_BYTES)                      \
	X(TEXT, "text", STR, 1, 4000)

enum pl_field {
#define PL_FIELD_ENUM(e, key, kind, lo, hi) PL_F_##e,
	PL_FIELDS(PL_FIELD_ENUM)
#undef PL_FIELD_ENUM
	PL_FIELD_COUNT
};

#define PL_BIT(f) (UINT32_C(1) << PL_F_##f)
/* Fields every event carries. */
#define PL_COMMON_FIELDS (PL_BIT(V) | PL_BIT(TYPE) | PL_BIT(ID) | PL_BIT(AT) | PL_BIT(CAMPAIGN))

/* Types: X(ENUM, "name", required fields, optional fields) */
#define PL_EVENT_TYPES(X)                                                          \
	X(CAMPAIGN_OPENED, "campaign.opened",                                      \
	  PL_BIT(TITLE) | PL_BIT(OWNER) | PL_BIT(CURRENCY),                        \
	  PL_BIT(LOCATION) | PL_BIT(TARGET) | PL_BIT(CLOSES_AT))                   \
	X(CAMPAIGN_CLOSED, "campaign.closed", 0, 0)                                \
	X(PLEDGE_CREATED, "pledge.created",                                        \
	  PL_BIT(PLEDGE) | PL_BIT(SUPPORTER) | PL_BIT(AMOUNT) | PL_BIT(CURRENCY),  \
	  PL_BIT(NAME))                                                            \
	X(PLEDGE_REFUNDED, "pledge.refunded", PL_BIT(PLEDGE) | PL_BIT(AMOUNT), 0)  \
	X(COMMENT_POSTED, "comment.posted",                                        \
	  PL_BIT(COMMENT) | PL_BIT(SUPPORTER) | PL_BIT(TEXT), PL_BIT(NAME))        \
	X(COMMENT_REMOVED, "comment.removed", PL_BIT(COMMENT), 0)

enum pl_event_type {
#define PL_TYPE_ENUM(e, name, req, opt) PL_EV_##e,
	PL_EVENT_TYPES(PL_TYPE_ENUM)
#undef PL_TYPE_ENUM
	PL_EVENT_TYPE_COUNT
};

/*
 * Rejection reasons: X(ENUM, "stable_code"). The codes are part of the
 * contract (/v1/rejections, metrics); never rename one.
 * The first group comes from decoding, the second from projection rules.
 */
#define PL_REASONS(X)                                \
	X(BAD_MSGPACK, "bad_msgpack")                \
	X(TOO_LARGE, "too_large")                    \
	X(DUPLICATE_FIELD, "duplicate_field")        \
	X(MISSING_FIELD, "missing_field")            \
	X(WRONG_TYPE, "wrong_type")                  \
	X(UNKNOWN_TYPE, "unknown_type")              \
	X(UNSUPPORTED_VERSION, "unsupported_version") \
	X(TOO_SHORT, "too_short")                    \
	X(TOO_LONG, "too_long")                      \
	X(BAD_UTF8, "bad_utf8")                      \
	X(OUT_OF_RANGE, "out_of_range")              \
	X(BAD_CURRENCY, "bad_currency")              \
	X(KEY_MISMATCH, "key_mismatch")              \
	X(CAMPAIGN_EXISTS, "campaign_exists")        \
	X(UNKNOWN_CAMPAIGN, "unknown_campaign")      \
	X(CAMPAIGN_CLOSED, "campaign_closed")        \
	X(CURRENCY_MISMATCH, "currency_mismatch")    \
	X(DUPLICATE_PLEDGE, "duplicate_pledge")      \
	X(UNKNOWN_PLEDGE, "unknown_pledge")          \
	X(REFUND_EXCEEDS_PLEDGE, "refund_exceeds_pledge") \
	X(TOTAL_OVERFLOW, "total_overflow")          \
	X(NOT_A_BACKER, "not_a_backer")              \
	X(DUPLICATE_COMMENT, "duplicate_comment")    \
	X(UNKNOWN_COMMENT, "unknown_comment")

enum pl_reason {
	PL_R_NONE = 0,
#define PL_REASON_ENUM(e, code) PL_R_##e,
	PL_REASONS(PL_REASON_ENUM)
#undef PL_REASON_ENUM
	PL_REASON_COUNT
};

enum pl_field_kind { PL_KIND_INT, PL_KIND_STR };

struct pl_field_def {
	const char *key;
	uint8_t key_len;
	enum pl_field_kind kind;
	int64_t min, max;
};

struct pl_type_def {
	const char *name;
	uint8_t name_len;
	uint32_t required; /* beyond PL_COMMON_FIELDS */
	uint32_t optional;
};

extern const struct pl_field_def pl_field_defs[PL_FIELD_COUNT];
extern const struct pl_type_def pl_type_defs[PL_EVENT_TYPE_COUNT];

/* The stable code of a reason ("bad_msgpack", …); "none" for PL_R_NONE. */
const char *pl_reason_code(enum pl_reason r);

/* Looks a reason up by its code; PL_R_NONE when unknown. */
enum pl_reason pl_reason_from_code(const char *code, size_t len);

/* Looks a type up by its wire name; returns -1 when unknown. */
int pl_type_from_name(const char *name, size_t len);

/* Looks a field up by its wire key; returns -1 when the key is not ours. */
int pl_field_from_key(const char *key, size_t len);

/* A string value pointing into the buffer it was decoded from (not NUL-terminated). */
struct pl_str {
	const char *ptr;
	uint32_t len;
};

/* A decoded, validated event. Strings borrow the decoded buffer. */
struct pl_event {
	enum pl_event_type type;
	uint32_t present; /* PL_BIT() of every field set */
	struct {
		struct pl_str s;
		int64_t i;
	} f[PL_FIELD_COUNT];
};

static inline bool pl_event_has(const struct pl_event *ev, enum pl_field f)
{
	return (ev->present >> f) & 1u;
}

static inline struct pl_str pl_event_str(const struct pl_event *ev, enum pl_field f)
{
	return ev->f[f].s;
}

static inline int64_t pl_event_int(const struct pl_event *ev, enum pl_field f)
{
	return ev->f[f].i;
}

/* Sets a field of an event being built (encoders, tests, demo data). */
void pl_event_set_str(struct pl_event *ev, enum pl_field f, const char *s, size_t len);
void pl_event_set_int(struct pl_event *ev, enum pl_field f, int64_t v);

#endif
