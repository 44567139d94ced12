/*
 * event_schema.h — the single definition of every event of the wire
 * contract: its types, its fields with their types and limits, and every
 * rejection reason, each with the words that document it.
 *
 * Decoding, encoding, JSON output and docs/events.md all derive from these tables;
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
 * Fields: X(ENUM, "key", KIND, min, max, "what it means", "example as JSON")
 * For STR fields min/max bound the length in bytes; for INT fields the value.
 * The text and the example are the events reference (docs/events.md is
 * generated from these tables by schemas/events_doc.c).
 */
#define PL_FIELDS(X)                                                                   \
	X(V, "v", INT, INT64_MIN, INT64_MAX,                                           \
	  "schema version; only 1 is known", "1")                                      \
	X(TYPE, "type", STR, 1, 64, "the event type, one of those below",              \
	  "\"pledge.created\"")                                                         \
	X(ID, "id", STR, 1, PL_MAX_ID_BYTES,                                           \
	  "globally unique event id, the idempotency key: an event whose id was "      \
	  "applied before is acknowledged and ignored", "\"evt-0001\"")                \
	X(AT, "at", INT, 0, INT64_MAX,                                                 \
	  "event time, Unix milliseconds UTC, set by the gateway", "1578132000000")   \
	X(CAMPAIGN, "campaign", STR, 1, PL_MAX_ID_BYTES,                               \
	  "campaign id; must equal the Kafka message key when the message has one",   \
	  "\"roof-fund\"")                                                              \
	X(TITLE, "title", STR, 0, 200, "the campaign's title",                          \
	  "\"A new roof for the village hall\"")                                        \
	X(OWNER, "owner", STR, 0, 200, "who runs the campaign",                         \
	  "\"Hinton Village Hall\"")                                                    \
	X(CURRENCY, "currency", STR, 3, 3,                                             \
	  "ISO 4217 code: three upper-case letters", "\"GBP\"")                         \
	X(LOCATION, "location", STR, 0, 200, "where the campaign is",                   \
	  "\"Hinton, Dorset\"")                                                         \
	X(TARGET, "target", INT, 0, INT64_MAX,                                         \
	  "the amount the campaign hopes to raise, in minor units", "500000")         \
	X(CLOSES_AT, "closes_at", INT, 0, INT64_MAX,                                   \
	  "when the campaign plans to close, Unix ms (informational: only "            \
	  "campaign.closed closes it)", "1580515200000")                               \
	X(PLEDGE, "pledge", STR, 1, PL_MAX_ID_BYTES,                                   \
	  "the gateway's pledge id, unique across all campaigns", "\"pl-0001\"")       \
	X(SUPPORTER, "supporter", STR, 1, PL_MAX_ID_BYTES,                             \
	  "stable id of the person pledging or commenting", "\"sup-42\"")              \
	X(AMOUNT, "amount", INT, 1, PL_MAX_AMOUNT,                                     \
	  "money in the currency's minor unit (pence, cents)", "2500")                \
	X(NAME, "name", STR, 0, 100,                                                   \
	  "display name; absent means anonymous", "\"Ada L.\"")                        \
	X(COMMENT, "comment", STR, 1, PL_MAX_ID_BYTES,                                 \
	  "comment id, unique across all campaigns; a removed comment's id stays "     \
	  "taken", "\"cm-0001\"")                                                       \
	X(TEXT, "text", STR, 1, 4000, "the comment's text", "\"Good luck with the roof!\"")  \
	X(BY, "by", STR, 0, 200,                                                       \
	  "who asked for the erasure (a ticket, a system), kept with it",              \
	  "\"privacy request 1234\"")

enum pl_field {
#define PL_FIELD_ENUM(e, key, kind, lo, hi, doc, example) PL_F_##e,
	PL_FIELDS(PL_FIELD_ENUM)
#undef PL_FIELD_ENUM
	PL_FIELD_COUNT
};

#define PL_BIT(f) (UINT32_C(1) << PL_F_##f)
/* Fields every event carries; each also carries the field it is keyed by. */
#define PL_COMMON_FIELDS (PL_BIT(V) | PL_BIT(TYPE) | PL_BIT(ID) | PL_BIT(AT))

/*
 * Types: X(ENUM, "name", KEYED_BY, required fields, optional fields, "what it
 * does, its rules"). KEYED_BY is the field the Kafka message key must equal:
 * the campaign for all but the erasure of a supporter, which spans campaigns.
 */
#define PL_EVENT_TYPES(X)                                                                   \
	X(CAMPAIGN_OPENED, "campaign.opened", CAMPAIGN,                                           \
	  PL_BIT(TITLE) | PL_BIT(OWNER) | PL_BIT(CURRENCY),                                 \
	  PL_BIT(LOCATION) | PL_BIT(TARGET) | PL_BIT(CLOSES_AT),                            \
	  "Opens a campaign. A campaign id opens once (`campaign_exists`); its "            \
	  "pledges must be in its currency.")                                               \
	X(CAMPAIGN_CLOSED, "campaign.closed", CAMPAIGN, 0, 0,                                        \
	  "Closes an open campaign (`unknown_campaign`, `campaign_closed`). Later "         \
	  "pledges are rejected; refunds, comments and removals still apply.")              \
	X(PLEDGE_CREATED, "pledge.created", CAMPAIGN,                                              \
	  PL_BIT(PLEDGE) | PL_BIT(SUPPORTER) | PL_BIT(AMOUNT) | PL_BIT(CURRENCY),           \
	  PL_BIT(NAME),                                                                     \
	  "A supporter pledges `amount` to an open campaign (`unknown_campaign`, "          \
	  "`campaign_closed`) in the campaign's currency (`currency_mismatch`). The "       \
	  "pledge id is new across all campaigns (`duplicate_pledge`). Adds to the "        \
	  "campaign's raised total (`total_overflow` past 2^63-1) and pledge count; the "   \
	  "supporter counts once their net pledged amount in the campaign is above 0.")     \
	X(PLEDGE_REFUNDED, "pledge.refunded", CAMPAIGN, PL_BIT(PLEDGE) | PL_BIT(AMOUNT), 0,           \
	  "Refunds part or all of a pledge of this campaign (`unknown_pledge`); the "       \
	  "refunds of a pledge never add up to more than it (`refund_exceeds_pledge`). "    \
	  "Applies to closed campaigns too. Lowers the raised total; a supporter whose "    \
	  "net falls to 0 no longer counts and may no longer comment.")                     \
	X(COMMENT_POSTED, "comment.posted", CAMPAIGN,                                              \
	  PL_BIT(COMMENT) | PL_BIT(SUPPORTER) | PL_BIT(TEXT), PL_BIT(NAME),                 \
	  "A supporter comments on a campaign opened before (`unknown_campaign`). Only "   \
	  "backers may comment: the supporter's net pledged amount in this campaign must " \
	  "be above 0 (`not_a_backer`). The comment id is new across all campaigns "       \
	  "(`duplicate_comment`).")                                                         \
	X(COMMENT_REMOVED, "comment.removed", CAMPAIGN, PL_BIT(COMMENT), 0,                 \
	  "Moderation: hides a comment of this campaign (`unknown_comment` when there is "  \
	  "no such comment here or it was removed already). Its id stays taken.")           \
	X(SUPPORTER_FORGOTTEN, "supporter.forgotten", SUPPORTER, PL_BIT(SUPPORTER),         \
	  PL_BIT(BY),                                                                       \
	  "The right to erasure: every personal field stored for the supporter so far "     \
	  "is overwritten where it is kept: the name on their pledges and comments, the "   \
	  "text of their comments, and every rejected message that names them (its bytes " \
	  "are dropped). Their comments show as removed and their names as anonymous; "     \
	  "money, pledges and supporter counts do not change. It has no `campaign` and "    \
	  "is keyed by the supporter: publish it to every partition of the topic under "    \
	  "one id, so every instance of a consumer group sees it (`pledged forget` "        \
	  "does). Each copy is applied once, in order with its partition, so what a "       \
	  "partition held before its copy is erased even when consumed after another "     \
	  "copy. The erasure is kept in the log: when, by which message and `by` whom, "    \
	  "never what was erased. Never rejected by a rule.")

enum pl_event_type {
#define PL_TYPE_ENUM(e, name, keyed_by, req, opt, doc) PL_EV_##e,
	PL_EVENT_TYPES(PL_TYPE_ENUM)
#undef PL_TYPE_ENUM
	PL_EVENT_TYPE_COUNT
};

/*
 * Rejection reasons: X(ENUM, "stable_code", "when it is given"). The codes
 * are part of the contract (/v1/rejections, metrics); never rename one.
 * The first group comes from decoding, the second from projection rules.
 */
#define PL_REASONS(X)                                                                       \
	X(BAD_MSGPACK, "bad_msgpack",                                                       \
	  "the value is not one msgpack map with string keys: malformed or truncated "      \
	  "msgpack, bytes after the map, nesting deeper than 32 levels, or no value at "    \
	  "all (a Kafka tombstone)")                                                        \
	X(TOO_LARGE, "too_large",                                                           \
	  "the value is larger than 16384 bytes; it is not read, and the rejection keeps "  \
	  "its first 16384 bytes")                                                          \
	X(DUPLICATE_FIELD, "duplicate_field", "a known key appears twice in the map")       \
	X(MISSING_FIELD, "missing_field", "a field the event's type requires is absent")    \
	X(WRONG_TYPE, "wrong_type",                                                         \
	  "a field has another msgpack type than its own (a string for an integer, or "     \
	  "the reverse)")                                                                   \
	X(UNKNOWN_TYPE, "unknown_type", "`type` names no event type of this version")       \
	X(UNSUPPORTED_VERSION, "unsupported_version", "`v` is not 1")                       \
	X(TOO_SHORT, "too_short", "a string is shorter than its field allows (an empty id)") \
	X(TOO_LONG, "too_long", "a string is longer, in bytes, than its field allows")      \
	X(BAD_UTF8, "bad_utf8",                                                             \
	  "a string is not valid UTF-8 (overlong forms and surrogates included)")           \
	X(OUT_OF_RANGE, "out_of_range",                                                     \
	  "an integer is outside its field's range (an amount of 0 or above 10^12, a "      \
	  "negative time or target), or `at` is outside the accepted window (see Time)")    \
	X(BAD_CURRENCY, "bad_currency", "`currency` is not three upper-case letters")       \
	X(KEY_MISMATCH, "key_mismatch",                                                     \
	  "the Kafka message key differs from `campaign` (from `supporter` for "            \
	  "`supporter.forgotten`)")                                                         \
	X(CAMPAIGN_EXISTS, "campaign_exists", "the campaign id was opened before")          \
	X(UNKNOWN_CAMPAIGN, "unknown_campaign", "the campaign was never opened")            \
	X(CAMPAIGN_CLOSED, "campaign_closed", "the campaign is closed")                     \
	X(CURRENCY_MISMATCH, "currency_mismatch",                                           \
	  "the pledge's currency differs from the campaign's")                              \
	X(DUPLICATE_PLEDGE, "duplicate_pledge",                                             \
	  "the pledge id was used before, in any campaign")                                 \
	X(UNKNOWN_PLEDGE, "unknown_pledge", "no pledge with that id in this campaign")       \
	X(REFUND_EXCEEDS_PLEDGE, "refund_exceeds_pledge",                                   \
	  "the refunds of the pledge would add up to more than the pledge")                 \
	X(TOTAL_OVERFLOW, "total_overflow",                                                 \
	  "the campaign's raised total would pass 2^63-1 minor units")                      \
	X(NOT_A_BACKER, "not_a_backer",                                                     \
	  "the supporter has no pledge standing in this campaign (none, or all refunded)")  \
	X(DUPLICATE_COMMENT, "duplicate_comment",                                           \
	  "the comment id was used before, in any campaign (removed comments included)")    \
	X(UNKNOWN_COMMENT, "unknown_comment",                                               \
	  "no comment with that id in this campaign, or it was removed already")

enum pl_reason {
	PL_R_NONE = 0,
#define PL_REASON_ENUM(e, code, doc) PL_R_##e,
	PL_REASONS(PL_REASON_ENUM)
#undef PL_REASON_ENUM
	PL_REASON_COUNT
};

/* The first reason that comes from a rule needing state, not from decoding. */
#define PL_R_FIRST_RULE PL_R_CAMPAIGN_EXISTS

enum pl_field_kind { PL_KIND_INT, PL_KIND_STR };

struct pl_field_def {
	const char *key;
	uint8_t key_len;
	enum pl_field_kind kind;
	int64_t min, max;
	const char *doc;     /* what the field means */
	const char *example; /* a valid value, as JSON */
};

struct pl_type_def {
	const char *name;
	uint8_t name_len;
	enum pl_field keyed_by; /* the field the message key must equal */
	uint32_t required;      /* beyond PL_COMMON_FIELDS and keyed_by */
	uint32_t optional;
	const char *doc; /* what the event does, and its rules */
};

extern const struct pl_field_def pl_field_defs[PL_FIELD_COUNT];
extern const struct pl_type_def pl_type_defs[PL_EVENT_TYPE_COUNT];

/* The stable code of a reason ("bad_msgpack", …); "none" for PL_R_NONE. */
const char *pl_reason_code(enum pl_reason r);

/* When a reason is given, a sentence for the events reference. */
const char *pl_reason_doc(enum pl_reason r);

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

/* A decoded, validated event. Strings borrow the decoded buffer. Only the
 * fields in present are set: the others read as empty and 0. */
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
	return pl_event_has(ev, f) ? ev->f[f].s : (struct pl_str){"", 0};
}

static inline int64_t pl_event_int(const struct pl_event *ev, enum pl_field f)
{
	return pl_event_has(ev, f) ? ev->f[f].i : 0;
}

/* Sets a field of an event being built (encoders, tests, demo data). */
void pl_event_set_str(struct pl_event *ev, enum pl_field f, const char *s, size_t len);
void pl_event_set_int(struct pl_event *ev, enum pl_field f, int64_t v);

#endif
