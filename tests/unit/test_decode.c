/*
 * test_decode.c — every schema rule of the wire contract, table-driven:
 * each row is a message and the reason it must get (or none).
 */
#include <stdlib.h>

#include "check.h"
#include "event_codec.h"
#include "event_decode.h"
#include "event_names.h"
#include "event_redact.h"
#include "pl_error.h"

#define OPENED "\"v\":1,\"type\":\"campaign.opened\",\"id\":\"e1\",\"at\":1,\"campaign\":\"c\""
#define PLEDGE "\"v\":1,\"type\":\"pledge.created\",\"id\":\"e2\",\"at\":2,\"campaign\":\"c\""
#define COMMENT "\"v\":1,\"type\":\"comment.posted\",\"id\":\"e3\",\"at\":3,\"campaign\":\"c\""
#define REFUND                                                                              \
	"\"v\":1,\"type\":\"pledge.refunded\",\"id\":\"e4\",\"at\":4,\"campaign\":\"c\","       \
	"\"pledge\":\"p\",\"amount\":1"
#define FORGOTTEN "\"v\":1,\"type\":\"supporter.forgotten\",\"id\":\"e4\",\"at\":4"
#define X10 "xxxxxxxxxx"
#define X201 X10 X10 X10 X10 X10 X10 X10 X10 X10 X10 X10 X10 X10 X10 X10 X10 X10 X10 X10 X10 "x"

struct json_case {
	const char *name;
	const char *json;
	const char *key; /* Kafka message key, NULL for none */
	enum pl_reason want;
	/* Optional: replace the first "@@@@" in the packed bytes with these 4 bytes. */
	const char *patch;
};

static const struct json_case json_cases[] = {
	{"opened", "{" OPENED ",\"title\":\"T\",\"owner\":\"O\",\"currency\":\"GBP\"}", "c", PL_R_NONE},
	{"opened with options",
	 "{" OPENED ",\"title\":\"T\",\"owner\":\"O\",\"currency\":\"GBP\",\"location\":\"L\",\"target\":0,\"closes_at\":9}",
	 NULL, PL_R_NONE},
	{"closed", "{\"v\":1,\"type\":\"campaign.closed\",\"id\":\"e\",\"at\":1,\"campaign\":\"c\"}", NULL, PL_R_NONE},
	{"pledge", "{" PLEDGE ",\"pledge\":\"p\",\"supporter\":\"s\",\"amount\":1,\"currency\":\"GBP\"}", NULL, PL_R_NONE},
	{"pledge max amount",
	 "{" PLEDGE ",\"pledge\":\"p\",\"supporter\":\"s\",\"amount\":1000000000000,\"currency\":\"GBP\",\"name\":\"N\"}",
	 NULL, PL_R_NONE},
	{"refund", "{\"v\":1,\"type\":\"pledge.refunded\",\"id\":\"e\",\"at\":1,\"campaign\":\"c\",\"pledge\":\"p\",\"amount\":5}",
	 NULL, PL_R_NONE},
	{"comment", "{" COMMENT ",\"comment\":\"k\",\"supporter\":\"s\",\"text\":\"hi\"}", NULL, PL_R_NONE},
	{"comment removed", "{\"v\":1,\"type\":\"comment.removed\",\"id\":\"e\",\"at\":1,\"campaign\":\"c\",\"comment\":\"k\"}",
	 NULL, PL_R_NONE},
	{"unknown keys ignored", "{" COMMENT ",\"comment\":\"k\",\"supporter\":\"s\",\"text\":\"hi\",\"x\":[1,{\"y\":null}],\"z\":1.5}",
	 NULL, PL_R_NONE},
	{"other type's key ignored even if ill-typed",
	 "{" COMMENT ",\"comment\":\"k\",\"supporter\":\"s\",\"text\":\"hi\",\"amount\":\"lots\",\"title\":7}", NULL, PL_R_NONE},
	{"utf-8 text", "{" COMMENT ",\"comment\":\"k\",\"supporter\":\"s\",\"text\":\"caf\u00e9 \u2764 \U0001F600\"}", NULL, PL_R_NONE},

	{"missing type", "{\"v\":1,\"id\":\"e\",\"at\":1,\"campaign\":\"c\"}", NULL, PL_R_MISSING_FIELD},
	{"missing v", "{\"type\":\"campaign.closed\",\"id\":\"e\",\"at\":1,\"campaign\":\"c\"}", NULL, PL_R_MISSING_FIELD},
	{"missing id", "{\"v\":1,\"type\":\"campaign.closed\",\"at\":1,\"campaign\":\"c\"}", NULL, PL_R_MISSING_FIELD},
	{"missing at", "{\"v\":1,\"type\":\"campaign.closed\",\"id\":\"e\",\"campaign\":\"c\"}", NULL, PL_R_MISSING_FIELD},
	{"missing campaign", "{\"v\":1,\"type\":\"campaign.closed\",\"id\":\"e\",\"at\":1}", NULL, PL_R_MISSING_FIELD},
	{"missing amount", "{" PLEDGE ",\"pledge\":\"p\",\"supporter\":\"s\",\"currency\":\"GBP\"}", NULL, PL_R_MISSING_FIELD},
	{"missing text", "{" COMMENT ",\"comment\":\"k\",\"supporter\":\"s\"}", NULL, PL_R_MISSING_FIELD},
	{"missing title", "{" OPENED ",\"owner\":\"O\",\"currency\":\"GBP\"}", NULL, PL_R_MISSING_FIELD},

	{"type not a string", "{\"v\":1,\"type\":5,\"id\":\"e\",\"at\":1,\"campaign\":\"c\"}", NULL, PL_R_WRONG_TYPE},
	{"amount as string", "{" PLEDGE ",\"pledge\":\"p\",\"supporter\":\"s\",\"amount\":\"10\",\"currency\":\"GBP\"}", NULL, PL_R_WRONG_TYPE},
	{"amount as float", "{" PLEDGE ",\"pledge\":\"p\",\"supporter\":\"s\",\"amount\":10.5,\"currency\":\"GBP\"}", NULL, PL_R_WRONG_TYPE},
	{"at as string", "{\"v\":1,\"type\":\"campaign.closed\",\"id\":\"e\",\"at\":\"now\",\"campaign\":\"c\"}", NULL, PL_R_WRONG_TYPE},
	{"id as int", "{\"v\":1,\"type\":\"campaign.closed\",\"id\":7,\"at\":1,\"campaign\":\"c\"}", NULL, PL_R_WRONG_TYPE},
	{"name null", "{" COMMENT ",\"comment\":\"k\",\"supporter\":\"s\",\"text\":\"hi\",\"name\":null}", NULL, PL_R_WRONG_TYPE},

	{"unknown type", "{\"v\":1,\"type\":\"pledge.exploded\",\"id\":\"e\",\"at\":1,\"campaign\":\"c\"}", NULL, PL_R_UNKNOWN_TYPE},
	{"version 2", "{\"v\":2,\"type\":\"campaign.closed\",\"id\":\"e\",\"at\":1,\"campaign\":\"c\"}", NULL, PL_R_UNSUPPORTED_VERSION},
	{"version as string", "{\"v\":\"1\",\"type\":\"campaign.closed\",\"id\":\"e\",\"at\":1,\"campaign\":\"c\"}", NULL, PL_R_WRONG_TYPE},

	{"empty id", "{\"v\":1,\"type\":\"campaign.closed\",\"id\":\"\",\"at\":1,\"campaign\":\"c\"}", NULL, PL_R_TOO_SHORT},
	{"empty campaign", "{\"v\":1,\"type\":\"campaign.closed\",\"id\":\"e\",\"at\":1,\"campaign\":\"\"}", NULL, PL_R_TOO_SHORT},
	{"empty text", "{" COMMENT ",\"comment\":\"k\",\"supporter\":\"s\",\"text\":\"\"}", NULL, PL_R_TOO_SHORT},
	{"currency of 2 letters", "{" PLEDGE ",\"pledge\":\"p\",\"supporter\":\"s\",\"amount\":1,\"currency\":\"GB\"}", NULL, PL_R_TOO_SHORT},
	{"currency of 4 letters", "{" PLEDGE ",\"pledge\":\"p\",\"supporter\":\"s\",\"amount\":1,\"currency\":\"GBPX\"}", NULL, PL_R_TOO_LONG},

	{"negative amount", "{" PLEDGE ",\"pledge\":\"p\",\"supporter\":\"s\",\"amount\":-5,\"currency\":\"GBP\"}", NULL, PL_R_OUT_OF_RANGE},
	{"zero amount", "{" PLEDGE ",\"pledge\":\"p\",\"supporter\":\"s\",\"amount\":0,\"currency\":\"GBP\"}", NULL, PL_R_OUT_OF_RANGE},
	{"amount over 10^12", "{" PLEDGE ",\"pledge\":\"p\",\"supporter\":\"s\",\"amount\":1000000000001,\"currency\":\"GBP\"}", NULL, PL_R_OUT_OF_RANGE},
	{"zero refund", "{\"v\":1,\"type\":\"pledge.refunded\",\"id\":\"e\",\"at\":1,\"campaign\":\"c\",\"pledge\":\"p\",\"amount\":0}", NULL, PL_R_OUT_OF_RANGE},
	{"negative time", "{\"v\":1,\"type\":\"campaign.closed\",\"id\":\"e\",\"at\":-1,\"campaign\":\"c\"}", NULL, PL_R_OUT_OF_RANGE},
	{"negative target", "{" OPENED ",\"title\":\"T\",\"owner\":\"O\",\"currency\":\"GBP\",\"target\":-1}", NULL, PL_R_OUT_OF_RANGE},

	{"lower-case currency", "{" PLEDGE ",\"pledge\":\"p\",\"supporter\":\"s\",\"amount\":1,\"currency\":\"gbp\"}", NULL, PL_R_BAD_CURRENCY},
	{"digit currency", "{" OPENED ",\"title\":\"T\",\"owner\":\"O\",\"currency\":\"G8P\"}", NULL, PL_R_BAD_CURRENCY},

	{"key differs from campaign", "{\"v\":1,\"type\":\"campaign.closed\",\"id\":\"e\",\"at\":1,\"campaign\":\"c\"}", "d", PL_R_KEY_MISMATCH},
	{"empty key", "{\"v\":1,\"type\":\"campaign.closed\",\"id\":\"e\",\"at\":1,\"campaign\":\"c\"}", "", PL_R_KEY_MISMATCH},

	/* The erasure has no campaign: it is keyed by its supporter. */
	{"forgotten", "{" FORGOTTEN ",\"supporter\":\"s\",\"by\":\"ticket 1\"}", "s", PL_R_NONE},
	{"forgotten without key", "{" FORGOTTEN ",\"supporter\":\"s\"}", NULL, PL_R_NONE},
	{"forgotten ignores a campaign", "{" FORGOTTEN ",\"supporter\":\"s\",\"campaign\":\"c\"}", "s", PL_R_NONE},
	{"forgotten keyed by a campaign", "{" FORGOTTEN ",\"supporter\":\"s\",\"campaign\":\"c\"}", "c", PL_R_KEY_MISMATCH},
	{"forgotten without supporter", "{" FORGOTTEN ",\"campaign\":\"c\"}", "c", PL_R_MISSING_FIELD},
	{"forgotten empty supporter", "{" FORGOTTEN ",\"supporter\":\"\"}", NULL, PL_R_TOO_SHORT},
	{"forgotten by too long", "{" FORGOTTEN ",\"supporter\":\"s\",\"by\":\"" X201 "\"}", NULL, PL_R_TOO_LONG},
	{"forgotten by a number", "{" FORGOTTEN ",\"supporter\":\"s\",\"by\":7}", NULL, PL_R_WRONG_TYPE},

	{"invalid byte", "{" COMMENT ",\"comment\":\"k\",\"supporter\":\"s\",\"text\":\"a@@@@b\"}", NULL, PL_R_BAD_UTF8, "\xff" "AAA"},
	{"overlong slash", "{" COMMENT ",\"comment\":\"k\",\"supporter\":\"s\",\"text\":\"a@@@@b\"}", NULL, PL_R_BAD_UTF8, "\xc0\xaf" "AA"},
	{"surrogate", "{" COMMENT ",\"comment\":\"k\",\"supporter\":\"s\",\"text\":\"a@@@@b\"}", NULL, PL_R_BAD_UTF8, "\xed\xa0\x80" "A"},
	{"truncated sequence", "{" COMMENT ",\"comment\":\"k\",\"supporter\":\"s\",\"text\":\"a@@@@\"}", NULL, PL_R_BAD_UTF8, "AAA\xe2"},
	{"bad utf-8 in campaign", "{\"v\":1,\"type\":\"campaign.closed\",\"id\":\"e\",\"at\":1,\"campaign\":\"@@@@\"}", NULL, PL_R_BAD_UTF8, "\xf8\x88\x80\x80"},
	{"bad utf-8 in name", "{" COMMENT ",\"comment\":\"k\",\"supporter\":\"s\",\"text\":\"t\",\"name\":\"@@@@\"}", NULL, PL_R_BAD_UTF8, "\x80\x80\x80\x80"},
};

/* Packs a JSON case into msgpack, applying its patch. */
static void pack_case(const struct json_case *c, msgpack_sbuffer *buf)
{
	char err[160];
	msgpack_sbuffer_init(buf);
	if (pl_json_to_msgpack(c->json, strlen(c->json), buf, err, sizeof err)) {
		fprintf(stderr, "test table error in '%s': %s\n", c->name, err);
		abort();
	}
	if (c->patch) {
		char *at = memmem(buf->data, buf->size, "@@@@", 4);
		if (!at)
			abort();
		memcpy(at, c->patch, 4);
	}
}

static void test_json_cases(void)
{
	for (size_t i = 0; i < sizeof json_cases / sizeof json_cases[0]; i++) {
		const struct json_case *c = &json_cases[i];
		msgpack_sbuffer buf;
		struct pl_event ev;
		struct pl_rejection rej = {0};
		pack_case(c, &buf);
		int rc = pl_event_decode(buf.data, buf.size, c->key, c->key ? strlen(c->key) : 0, &ev, &rej);
		enum pl_reason got = rc == 0 ? PL_R_NONE : rej.reason;
		if (got != c->want)
			fprintf(stderr, "case '%s': got %s (%s), want %s\n", c->name, pl_reason_code(got),
				rc ? rej.detail : "", pl_reason_code(c->want));
		CHECK_INT(got, c->want);
		CHECK(rc == 0 || rc == PL_EREJECTED);
		CHECK(rc == 0 || rej.detail[0] != '\0');
		msgpack_sbuffer_destroy(&buf);
	}
}

/* Raw byte messages that are not well-formed msgpack maps. */
struct raw_case {
	const char *name;
	const char *bytes;
	size_t len;
	enum pl_reason want;
};

#define RAW(name, lit, want) {name, lit, sizeof(lit) - 1, want}
static const struct raw_case raw_cases[] = {
	RAW("empty", "", PL_R_BAD_MSGPACK),
	RAW("an integer", "\x05", PL_R_BAD_MSGPACK),
	RAW("an array", "\x91\x01", PL_R_BAD_MSGPACK),
	RAW("huge array32 (msgpack-c issue 1013)", "\xdd\xff\x00\x00\x00", PL_R_BAD_MSGPACK),
	RAW("huge map32", "\xdf\xff\xff\xff\xff", PL_R_BAD_MSGPACK),
	RAW("map count beyond the bytes", "\x83\xa1v\x01", PL_R_BAD_MSGPACK),
	RAW("key not a string", "\x81\x01\x01", PL_R_BAD_MSGPACK),
	RAW("string longer than the bytes", "\x81\xa1v\xdb\xff\xff\xff\xff", PL_R_BAD_MSGPACK),
	RAW("reserved byte", "\x81\xa1x\xc1", PL_R_BAD_MSGPACK),
	RAW("trailing bytes", "\x80\x00", PL_R_BAD_MSGPACK),
	RAW("truncated uint64", "\x81\xa1v\xcf\x00\x00", PL_R_BAD_MSGPACK),
	RAW("huge bin", "\x81\xa1x\xc6\xff\xff\xff\xff", PL_R_BAD_MSGPACK),
	RAW("huge ext", "\x81\xa1x\xc9\xff\xff\xff\xff\x01", PL_R_BAD_MSGPACK),
	RAW("duplicate key", "\x82\xa1v\x01\xa1v\x01", PL_R_DUPLICATE_FIELD),
	RAW("v above int64", "\x82\xa4type\xaf" "campaign.closed\xa1v\xcf\xff\xff\xff\xff\xff\xff\xff\xff",
	    PL_R_UNSUPPORTED_VERSION),
	RAW("empty map", "\x80", PL_R_MISSING_FIELD),
};

static void test_raw_cases(void)
{
	for (size_t i = 0; i < sizeof raw_cases / sizeof raw_cases[0]; i++) {
		const struct raw_case *c = &raw_cases[i];
		struct pl_event ev;
		struct pl_rejection rej = {0};
		/* Copy to an exact-size heap buffer so ASan sees any overread. */
		char *copy = malloc(c->len ? c->len : 1);
		memcpy(copy, c->bytes, c->len);
		int rc = pl_event_decode(copy, c->len, NULL, 0, &ev, &rej);
		enum pl_reason got = rc == 0 ? PL_R_NONE : rej.reason;
		if (got != c->want)
			fprintf(stderr, "raw case '%s': got %s (%s), want %s\n", c->name, pl_reason_code(got),
				rej.detail, pl_reason_code(c->want));
		CHECK_INT(got, c->want);
		free(copy);
	}
}

/* Deep nesting in an ignored key must be refused, not recursed without bound. */
static void test_deep_nesting(void)
{
	size_t depth = 10000, len = 3 + depth + 1;
	unsigned char *buf = malloc(len);
	buf[0] = 0x81;
	buf[1] = 0xa1;
	buf[2] = 'x';
	memset(buf + 3, 0x91, depth); /* array of one, nested */
	buf[len - 1] = 0x01;
	struct pl_event ev;
	struct pl_rejection rej;
	CHECK_INT(pl_event_decode(buf, len, NULL, 0, &ev, &rej), PL_EREJECTED);
	CHECK_INT(rej.reason, PL_R_BAD_MSGPACK);
	free(buf);
}

/* No value at all, an empty one and a cut-off map header: each says which. */
static void test_no_value(void)
{
	struct pl_event ev;
	struct pl_rejection rej;
	CHECK_INT(pl_event_decode(NULL, 0, "k", 1, &ev, &rej), PL_EREJECTED);
	CHECK_INT(rej.reason, PL_R_BAD_MSGPACK);
	CHECK_STR(rej.detail, "no value: a Kafka tombstone");
	CHECK_INT(pl_event_decode("", 0, NULL, 0, &ev, &rej), PL_EREJECTED);
	CHECK_INT(rej.reason, PL_R_BAD_MSGPACK);
	CHECK_STR(rej.detail, "an empty value");
	CHECK_INT(pl_event_decode("\xde\x00", 2, NULL, 0, &ev, &rej), PL_EREJECTED);
	CHECK_INT(rej.reason, PL_R_BAD_MSGPACK);
	CHECK_STR(rej.detail, "map header: truncated");
}

/* 16 KiB is read (and found not to be msgpack), one byte more is not read. */
static void test_too_large(void)
{
	size_t len = 16384 + 1;
	char *buf = calloc(1, len);
	struct pl_event ev;
	struct pl_rejection rej;
	CHECK_INT(pl_event_decode(buf, len, NULL, 0, &ev, &rej), PL_EREJECTED);
	CHECK_INT(rej.reason, PL_R_TOO_LARGE);
	CHECK_INT(pl_event_decode(buf, len - 1, NULL, 0, &ev, &rej), PL_EREJECTED);
	CHECK_INT(rej.reason, PL_R_BAD_MSGPACK);
	free(buf);
}

/* A map broken after its id and type still names the event it was. */
static void test_names_of_broken_maps(void)
{
	/* {"id":"e9","type":"pledge.created", then each fault */
	static const char head[] = "\x83\xa2id\xa2" "e9\xa4type\xaepledge.created";
	static const struct {
		const char *name, *tail;
		size_t tail_len;
		enum pl_reason want;
	} cases[] = {
		{"duplicate", "\xa2id\xa2" "e8", 6, PL_R_DUPLICATE_FIELD},
		{"non-string key", "\x01\x02", 2, PL_R_BAD_MSGPACK},
		{"value cut short", "\xa1x\xa5" "ab", 5, PL_R_BAD_MSGPACK},
		{"bytes after", "\xa1x\x01\x00", 4, PL_R_BAD_MSGPACK},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t len = sizeof head - 1 + cases[i].tail_len;
		char *buf = malloc(len);
		memcpy(buf, head, sizeof head - 1);
		memcpy(buf + sizeof head - 1, cases[i].tail, cases[i].tail_len);
		struct pl_event ev;
		struct pl_rejection rej;
		CHECK_INT(pl_event_decode(buf, len, NULL, 0, &ev, &rej), PL_EREJECTED);
		if (rej.reason != cases[i].want)
			fprintf(stderr, "broken map '%s': %s (%s)\n", cases[i].name,
				pl_reason_code(rej.reason), rej.detail);
		CHECK_INT(rej.reason, cases[i].want);
		struct pl_str id = pl_event_str(&ev, PL_F_ID);
		CHECK(id.len == 2 && memcmp(id.ptr, "e9", 2) == 0);
		CHECK(pl_event_has(&ev, PL_F_TYPE));
		CHECK_INT(ev.type, PL_EV_PLEDGE_CREATED);
		free(buf);
	}
	/* Too large: its first 16 KiB are read for the names alone. */
	size_t len = 17000;
	char *big = malloc(len);
	memcpy(big, head, sizeof head - 1);
	memcpy(big + sizeof head - 1, "\xa1x\xda\x42\x00", 5); /* a string of 16896 bytes */
	memset(big + sizeof head - 1 + 5, 'a', len - (sizeof head - 1 + 5));
	struct pl_event ev;
	struct pl_rejection rej;
	CHECK_INT(pl_event_decode(big, len, NULL, 0, &ev, &rej), PL_EREJECTED);
	CHECK_INT(rej.reason, PL_R_TOO_LARGE);
	CHECK(pl_event_str(&ev, PL_F_ID).len == 2);
	CHECK_INT(ev.type, PL_EV_PLEDGE_CREATED);
	free(big);
	/* And one of more pairs than 16 KiB could hold: 9000 of three bytes. */
	size_t pairs = 9000, many_len = 3 + (sizeof head - 2) + (pairs - 2) * 3;
	char *many = malloc(many_len), *p = many;
	*p++ = '\xde';
	*p++ = (char)(pairs >> 8);
	*p++ = (char)(pairs & 0xff);
	memcpy(p, head + 1, sizeof head - 2); /* its id and type, without head's map header */
	p += sizeof head - 2;
	for (size_t i = 2; i < pairs; i++, p += 3)
		memcpy(p, "\xa1x\x01", 3);
	CHECK_INT(pl_event_decode(many, many_len, NULL, 0, &ev, &rej), PL_EREJECTED);
	CHECK_INT(rej.reason, PL_R_TOO_LARGE);
	CHECK(pl_event_str(&ev, PL_F_ID).len == 2);
	CHECK_INT(ev.type, PL_EV_PLEDGE_CREATED);
	free(many);
}

/*
 * Length limits: exactly at the limit passes, one byte over fails. The
 * limits are the contract's, written here as numbers: read from the schema
 * table, a wrong limit there would pass its own test.
 */
static void test_length_limits(void)
{
	static const struct {
		enum pl_field field;
		size_t limit; /* bytes */
		const char *type;
		const char *rest; /* other required fields */
	} rows[] = {
		{PL_F_ID, 64, "campaign.closed", ""},
		{PL_F_CAMPAIGN, 64, "campaign.closed", ""},
		{PL_F_TITLE, 200, "campaign.opened", ",\"owner\":\"o\",\"currency\":\"GBP\""},
		{PL_F_OWNER, 200, "campaign.opened", ",\"title\":\"t\",\"currency\":\"GBP\""},
		{PL_F_LOCATION, 200, "campaign.opened", ",\"title\":\"t\",\"owner\":\"o\",\"currency\":\"GBP\""},
		{PL_F_PLEDGE, 64, "pledge.refunded", ",\"amount\":1"},
		{PL_F_SUPPORTER, 64, "comment.posted", ",\"comment\":\"k\",\"text\":\"t\""},
		{PL_F_NAME, 100, "comment.posted", ",\"comment\":\"k\",\"supporter\":\"s\",\"text\":\"t\""},
		{PL_F_COMMENT, 64, "comment.removed", ""},
		{PL_F_TEXT, 4000, "comment.posted", ",\"comment\":\"k\",\"supporter\":\"s\""},
		{PL_F_BY, 200, "supporter.forgotten", ",\"supporter\":\"s\""},
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		const struct pl_field_def *def = &pl_field_defs[rows[i].field];
		for (int over = 0; over <= 1; over++) {
			size_t n = rows[i].limit + (size_t)over;
			char *value = malloc(n + 1);
			memset(value, 'a', n);
			value[n] = '\0';
			size_t cap = n + 512;
			char *json = malloc(cap);
			/* The field under test replaces any default of the same key. */
			snprintf(json, cap, "{\"v\":1,\"type\":\"%s\"%s%s%s,\"%s\":\"%s\"}", rows[i].type,
				 rows[i].field == PL_F_ID ? "" : ",\"id\":\"e\"", ",\"at\":1",
				 rows[i].field == PL_F_CAMPAIGN ? "" : ",\"campaign\":\"c\"", def->key, value);
			strncat(json, "", cap);
			/* Insert the type's other fields before the closing brace. */
			json[strlen(json) - 1] = '\0';
			strncat(json, rows[i].rest, cap - strlen(json) - 2);
			strcat(json, "}");
			struct json_case c = {def->key, json, NULL, over ? PL_R_TOO_LONG : PL_R_NONE, NULL};
			msgpack_sbuffer buf;
			struct pl_event ev;
			struct pl_rejection rej = {0};
			pack_case(&c, &buf);
			int rc = pl_event_decode(buf.data, buf.size, NULL, 0, &ev, &rej);
			enum pl_reason got = rc == 0 ? PL_R_NONE : rej.reason;
			if (got != c.want)
				fprintf(stderr, "limit of '%s' (+%d): got %s (%s)\n", def->key, over,
					pl_reason_code(got), rej.detail);
			CHECK_INT(got, c.want);
			msgpack_sbuffer_destroy(&buf);
			free(json);
			free(value);
		}
	}
}

/* Encoding then decoding gives back every field. */
static void test_round_trip(void)
{
	struct pl_event ev = {.type = PL_EV_PLEDGE_CREATED}, back;
	struct pl_rejection rej;
	pl_event_set_int(&ev, PL_F_V, 1);
	pl_event_set_str(&ev, PL_F_TYPE, "pledge.created", 14);
	pl_event_set_str(&ev, PL_F_ID, "id-1", 4);
	pl_event_set_int(&ev, PL_F_AT, 1579046400000);
	pl_event_set_str(&ev, PL_F_CAMPAIGN, "camp", 4);
	pl_event_set_str(&ev, PL_F_PLEDGE, "p1", 2);
	pl_event_set_str(&ev, PL_F_SUPPORTER, "s1", 2);
	pl_event_set_int(&ev, PL_F_AMOUNT, PL_MAX_AMOUNT);
	pl_event_set_str(&ev, PL_F_CURRENCY, "EUR", 3);
	pl_event_set_str(&ev, PL_F_NAME, "Zoë", 4);
	msgpack_sbuffer buf;
	msgpack_sbuffer_init(&buf);
	CHECK_INT(pl_event_encode(&ev, &buf), 0);
	CHECK_INT(pl_event_decode(buf.data, buf.size, "camp", 4, &back, &rej), 0);
	CHECK_INT(back.type, PL_EV_PLEDGE_CREATED);
	CHECK_INT(back.present, ev.present);
	CHECK_INT(pl_event_int(&back, PL_F_AMOUNT), PL_MAX_AMOUNT);
	CHECK_INT(pl_event_int(&back, PL_F_AT), 1579046400000);
	CHECK(pl_event_str(&back, PL_F_NAME).len == 4 &&
	      memcmp(pl_event_str(&back, PL_F_NAME).ptr, "Zoë", 4) == 0);
	json_t *j = pl_event_to_json(&back);
	char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	CHECK_STR(text, "{\"amount\":1000000000000,\"at\":1579046400000,\"campaign\":\"camp\","
			"\"currency\":\"EUR\",\"id\":\"id-1\",\"name\":\"Zoë\",\"pledge\":\"p1\","
			"\"supporter\":\"s1\",\"type\":\"pledge.created\",\"v\":1}");
	free(text);
	json_decref(j);
	msgpack_sbuffer_destroy(&buf);
}

static void test_reason_codes(void)
{
	/* Codes are part of the contract: unique, and found again by name. */
	for (int r = 1; r < PL_REASON_COUNT; r++) {
		const char *code = pl_reason_code((enum pl_reason)r);
		CHECK_INT(pl_reason_from_code(code, strlen(code)), r);
	}
	CHECK_STR(pl_reason_code(PL_R_NOT_A_BACKER), "not_a_backer");
	CHECK_STR(pl_reason_code(PL_R_BAD_MSGPACK), "bad_msgpack");
	CHECK_INT(pl_reason_from_code("nope", 4), PL_R_NONE);
}

static void test_json_to_msgpack_errors(void)
{
	msgpack_sbuffer buf;
	char err[160];
	msgpack_sbuffer_init(&buf);
	CHECK_INT(pl_json_to_msgpack("[1,2]", 5, &buf, err, sizeof err), PL_EINVAL);
	CHECK(strstr(err, "object") != NULL);
	CHECK_INT(pl_json_to_msgpack("{\"a\":", 5, &buf, err, sizeof err), PL_EINVAL);
	CHECK(strstr(err, "invalid JSON") != NULL);
	CHECK_INT(pl_json_to_msgpack("{\"a\":1,\"a\":2}", 13, &buf, err, sizeof err), PL_EINVAL);
	msgpack_sbuffer_destroy(&buf);
}

/* A detail names an id with a NUL byte whole (\0), not its part before the NUL. */
static void test_detail_shows_nul(void)
{
	const char *json = "{\"v\":1,\"type\":\"pledge.created\\u0000x\",\"id\":\"e\",\"at\":1,\"campaign\":\"c\"}";
	msgpack_sbuffer buf;
	char err[160];
	struct pl_event ev;
	struct pl_rejection rej = {0};
	msgpack_sbuffer_init(&buf);
	CHECK_INT(pl_json_to_msgpack(json, strlen(json), &buf, err, sizeof err), PL_OK);
	CHECK_INT(pl_event_decode(buf.data, buf.size, NULL, 0, &ev, &rej), PL_EREJECTED);
	CHECK_INT(rej.reason, PL_R_UNKNOWN_TYPE);
	CHECK_STR(rej.detail, "type 'pledge.created\\0x' is not known");
	msgpack_sbuffer_destroy(&buf);
	char id[PL_MAX_ID_BYTES];
	memset(id, 0, sizeof id); /* the longest id, all NULs: shown whole */
	CHECK_INT(strlen(pl_show((struct pl_str){id, sizeof id}).s), 2 * PL_MAX_ID_BYTES);
	CHECK_STR(pl_show((struct pl_str){"a\\0", 3}).s, "a\\\\0"); /* not a NUL's \0 */
}

/* A field too short says what it needs: an empty one, or how many bytes. */
static void test_too_short_details(void)
{
	static const struct {
		const char *json, *detail;
	} cases[] = {
		{"{" FORGOTTEN ",\"supporter\":\"\"}", "field 'supporter' must not be empty"},
		{"{" PLEDGE ",\"pledge\":\"p\",\"supporter\":\"s\",\"amount\":1,\"currency\":\"GB\"}",
		 "field 'currency' has 2 bytes, at least 3 needed"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		msgpack_sbuffer buf;
		char err[160];
		struct pl_event ev;
		struct pl_rejection rej = {0};
		msgpack_sbuffer_init(&buf);
		CHECK_INT(pl_json_to_msgpack(cases[i].json, strlen(cases[i].json), &buf, err, sizeof err),
			  PL_OK);
		CHECK_INT(pl_event_decode(buf.data, buf.size, NULL, 0, &ev, &rej), PL_EREJECTED);
		CHECK_INT(rej.reason, PL_R_TOO_SHORT);
		CHECK_STR(rej.detail, cases[i].detail);
		msgpack_sbuffer_destroy(&buf);
	}
}

/* An ignored key's value nests as deep in JSON as the decoder takes it in
 * msgpack (32 levels), and one level more is refused by both. */
static void test_json_nesting_as_decoded(void)
{
	for (int levels = 31; levels <= 33; levels++) {
		char json[256];
		int n = snprintf(json, sizeof json, "{%s,\"x\":%.*s1%.*s}", COMMENT ",\"comment\":\"k\","
				 "\"supporter\":\"s\",\"text\":\"t\"", levels,
				 "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", levels,
				 "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]");
		msgpack_sbuffer buf;
		char err[160];
		struct pl_event ev;
		struct pl_rejection rej = {0};
		msgpack_sbuffer_init(&buf);
		int rc = pl_json_to_msgpack(json, (size_t)n, &buf, err, sizeof err);
		CHECK_INT(rc, levels <= 32 ? PL_OK : PL_EINVAL);
		if (rc == PL_OK)
			CHECK_INT(pl_event_decode(buf.data, buf.size, NULL, 0, &ev, &rej), PL_OK);
		msgpack_sbuffer_destroy(&buf);
	}
	/* The same in msgpack: a map {"x": [[…[1]…]]}, judged by depth alone
	 * (32 levels: not bad_msgpack, 33: bad_msgpack). */
	for (int levels = 32; levels <= 33; levels++) {
		unsigned char mp[3 + 33 + 1] = {0x81, 0xa1, 'x'};
		memset(mp + 3, 0x91, (size_t)levels);
		mp[3 + levels] = 0x01;
		struct pl_event ev;
		struct pl_rejection rej = {0};
		CHECK_INT(pl_event_decode(mp, (size_t)(3 + levels + 1), NULL, 0, &ev, &rej),
			  PL_EREJECTED);
		CHECK_INT(rej.reason == PL_R_BAD_MSGPACK, levels == 33);
	}
	/* Levels are containers: the innermost may be empty, 33 are still too many. */
	for (int levels = 32; levels <= 33; levels++) {
		unsigned char mp[3 + 33] = {0x81, 0xa1, 'x'};
		memset(mp + 3, 0x91, (size_t)levels - 1);
		mp[3 + levels - 1] = 0x90; /* an empty array */
		struct pl_event ev;
		struct pl_rejection rej = {0};
		CHECK_INT(pl_event_decode(mp, (size_t)(3 + levels), NULL, 0, &ev, &rej), PL_EREJECTED);
		CHECK_INT(rej.reason == PL_R_BAD_MSGPACK, levels == 33);
	}
}

/* Packs JSON (a test's own, known good) into buf. */
static void pack(const char *json, msgpack_sbuffer *buf)
{
	struct json_case c = {"redact", json, NULL, PL_R_NONE, NULL};
	pack_case(&c, buf);
}

/* Each field's key finds it; a key one byte short, one byte long (a NUL
 * or more after it too: "owner\0\0" was found as owner) or of another case
 * finds no field, unless it is that field's own key. */
static void test_field_keys(void)
{
	char key[32];
	for (int f = 0; f < PL_FIELD_COUNT; f++) {
		const char *k = pl_field_defs[f].key;
		size_t len = pl_field_defs[f].key_len;
		CHECK_INT(pl_field_from_key(k, len), f);
		memset(key, 0, sizeof key);
		memcpy(key, k, len);
		for (size_t n = len + 1; n < sizeof key; n++)
			CHECK_INT(pl_field_from_key(key, n), -1);
		int shorter = pl_field_from_key(k, len - 1);
		CHECK(shorter < 0 || (pl_field_defs[shorter].key_len == len - 1 &&
				      memcmp(pl_field_defs[shorter].key, k, len - 1) == 0));
		snprintf(key, sizeof key, "%s_", k);
		CHECK_INT(pl_field_from_key(key, len + 1), -1);
		snprintf(key, sizeof key, "%s", k);
		key[0] = (char)(key[0] - 'a' + 'A');
		CHECK_INT(pl_field_from_key(key, len), -1);
	}
	CHECK_INT(pl_field_from_key("", 0), -1);
	CHECK_INT(pl_field_from_key("supporter-of-the-year", 21), -1);
}

/* A field the type does not use, or one not given, reads as empty and 0
 * even where the decoder read its value (an event is not cleared whole). */
static void test_fields_not_present(void)
{
	msgpack_sbuffer buf;
	struct pl_event ev;
	struct pl_rejection rej;
	memset(&ev, 0x5a, sizeof ev);
	pack("{" PLEDGE ",\"pledge\":\"p\",\"supporter\":\"s\",\"amount\":5,"
	     "\"currency\":\"GBP\",\"title\":\"not a pledge's\",\"target\":7}", &buf);
	CHECK_INT(pl_event_decode(buf.data, buf.size, NULL, 0, &ev, &rej), PL_OK);
	CHECK(pl_event_has(&ev, PL_F_AMOUNT) && pl_event_int(&ev, PL_F_AMOUNT) == 5);
	CHECK(!pl_event_has(&ev, PL_F_TITLE) && pl_event_str(&ev, PL_F_TITLE).len == 0);
	CHECK(!pl_event_has(&ev, PL_F_TARGET) && pl_event_int(&ev, PL_F_TARGET) == 0);
	CHECK(!pl_event_has(&ev, PL_F_NAME) && pl_event_str(&ev, PL_F_NAME).len == 0);
	CHECK(!pl_event_has(&ev, PL_F_TEXT) && pl_event_str(&ev, PL_F_TEXT).len == 0);
	msgpack_sbuffer_destroy(&buf);
}

/* A supporter's id is found however a message holds it: at either end of
 * a msgpack string (whose header bytes pass for letters), nested deeper
 * than any decoding goes, or escaped in JSON that is no valid JSON. */
static void test_names_anywhere(void)
{
	struct pl_str sx = {"sx-42", 5};
	msgpack_sbuffer buf;
	/* At the start, at the end, alone, in the middle, of a longer text. */
	const char *texts[] = {"sx-42 at start", "at the end sx-42", "sx-42", "hi sx-42 there",
			       "a text of more than thirty-one bytes ending sx-42"};
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		char json[200];
		snprintf(json, sizeof json, "{\"type\":\"comment.posted\",\"text\":\"%s\",\"name\":\"N\"}",
			 texts[i]);
		pack(json, &buf);
		CHECK(pl_bytes_name(buf.data, buf.size, sx));
		CHECK(!pl_bytes_name(buf.data, buf.size, (struct pl_str){"sx-4", 4}));
		msgpack_sbuffer_destroy(&buf);
	}
	pack("{\"text\":\"sx-420 at start\",\"name\":\"sx-4200\"}", &buf);
	CHECK(!pl_bytes_name(buf.data, buf.size, sx));
	msgpack_sbuffer_destroy(&buf);
	/* Forty arrays deep, past what decoding walks (MP_MAX_DEPTH). */
	uint8_t deep[64];
	memset(deep, 0x91, 40);
	const char tail[] = "\xaesx-42 at start";
	memcpy(deep + 40, tail, sizeof tail - 1);
	CHECK(pl_bytes_name(deep, 40 + sizeof tail - 1, sx));
	CHECK(!pl_bytes_name(deep, 39 + sizeof tail - 1, sx)); /* the string itself cut short */
	/* Messages kept as bad msgpack: a bare string; a map that breaks off or
	 * miscounts after the string. */
	const uint8_t bare[] = "\xb2sx-42 says Secret!";
	CHECK(pl_bytes_name(bare, sizeof bare - 1, sx));
	CHECK(!pl_bytes_name(bare, sizeof bare - 2, sx)); /* shorter than its header says */
	/* Text that only begins like a string: its first bytes are no message. */
	const uint8_t longer[] = "\xa8sx-42 hi, and more";
	CHECK(!pl_bytes_name(longer, sizeof longer - 1, sx));
	const uint8_t miscounted[] = "\x84\xa4text\xaesx-42 at start\xa1k\xa1v\xa1x";
	CHECK(pl_bytes_name(miscounted, sizeof miscounted - 1, sx));
	const uint8_t broken[] = "\x82\xa4text\xaesx-42 at start\xa1k\xc1";
	CHECK(pl_bytes_name(broken, sizeof broken - 1, sx));
	/* Headers announcing more than the bytes hold: a fixmap, a map16. */
	const uint8_t overcounted[] = "\x8f\xa4text\xa9" "abc sx-42\xa1k\xa1v",
		      overcounted16[] = "\xde\x03\xe8\xa4text\xa9" "abc sx-42\xa1k\xa1v";
	CHECK(pl_bytes_name(overcounted, sizeof overcounted - 1, sx));
	CHECK(pl_bytes_name(overcounted16, sizeof overcounted16 - 1, sx));
	/* JSON escapes: deep, in invalid JSON of every kind, a key twice. */
	char nested[400] = "";
	for (int i = 0; i < 70; i++)
		strcat(nested, "[");
	strcat(nested, "\"sx-\\u00342\"");
	for (int i = 0; i < 70; i++)
		strcat(nested, "]");
	CHECK(pl_bytes_name(nested, strlen(nested), sx));
	const char *invalid[] = {
		"{\"x\":\"\xff\",\"supporter\":\"sx-\\u00342\"}",
		"{\"a\":1}\n{\"supporter\":\"sx-\\u00342\"}",
		"\xef\xbb\xbf{\"supporter\":\"sx-\\u00342\"}",
		"{\"supporter\":\"sx-\\u00342\",\"supporter\":\"other\"}",
		"\"sx-\\u00342 said hello\"",
		"{\"text\":\"hello \\\"sx-42\\\"\"}",
		"\"{\"supporter\":\"sx-\\u00342\"}", /* a stray quote first */
		"{\"supporter\":\"sx-42\\n\"}",
		"{\"supporter\":\"sx-\\u00342", /* a message cut short */
		"{\"supporter\":\"\\u0073\\u0078\\u002d\\u0034\\u0032\"}",
	};
	for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++)
		CHECK(pl_bytes_name(invalid[i], strlen(invalid[i]), sx));
	const char *not_named[] = {
		"{\"supporter\":\"sx-\\u003420\"}",
		"{\"supporter\":\"x\\u0073x-42\"}",
		"{\"supporter\":\"sx-\\u0034\\u0032\\u00e9\"}",
		"{\"supporter\":\"sx-\\ud800\\u00342\"}", /* a lone surrogate is a character */
		"{\"supporter\":\"sx-42\\u0030\"}", /* "sx-420" */
		"{\"supporter\":\"sx-42\\u00e9\"}",
		"{\"supporter\":\"sx-4\\u0032\\u0030\"}",
	};
	for (size_t i = 0; i < sizeof not_named / sizeof not_named[0]; i++)
		CHECK(!pl_bytes_name(not_named[i], strlen(not_named[i]), sx));
	/* A character beyond the BMP, as a surrogate pair. */
	struct pl_str emoji = {"a\xf0\x9f\x98\x80", 5};
	const char *pair = "{\"supporter\":\"a\\ud83d\\ude00\"}";
	CHECK(pl_bytes_name(pair, strlen(pair), emoji));
}

/* The right to erasure: name dropped, text replaced, all else as it was. */
static void test_redact(void)
{
	msgpack_sbuffer buf;
	struct pl_event ev;
	struct pl_rejection rej;
	uint8_t out[PL_REDACT_MAX(4096)];
	pack("{" COMMENT ",\"comment\":\"k\",\"supporter\":\"s\",\"text\":\"Secret words\","
	     "\"name\":\"Ada Secret\",\"x\":[1,{\"y\":null}]}", &buf);
	size_t len = pl_event_redact(buf.data, buf.size, out);
	CHECK(len > 0 && len <= PL_REDACT_MAX(buf.size));
	CHECK_INT(pl_event_decode(out, len, "c", 1, &ev, &rej), 0);
	CHECK_INT(ev.type, PL_EV_COMMENT_POSTED);
	CHECK(!pl_event_has(&ev, PL_F_NAME));
	CHECK(pl_event_str(&ev, PL_F_TEXT).len == strlen(PL_ERASED_TEXT) &&
	      memcmp(pl_event_str(&ev, PL_F_TEXT).ptr, PL_ERASED_TEXT, strlen(PL_ERASED_TEXT)) == 0);
	CHECK(pl_event_str(&ev, PL_F_SUPPORTER).len == 1 && pl_event_str(&ev, PL_F_COMMENT).len == 1);
	CHECK_INT(pl_event_int(&ev, PL_F_AT), 3);
	CHECK(!memmem(out, len, "Secret", 6));
	CHECK(memmem(out, len, "\xa1x\x92\x01\x81\xa1y\xc0", 8) != NULL); /* unknown keys kept */
	msgpack_sbuffer_destroy(&buf);

	/* A pledge keeps its money; 16 keys left take a map16 header. */
	pack("{" PLEDGE ",\"pledge\":\"p\",\"supporter\":\"s\",\"amount\":7,\"currency\":\"GBP\","
	     "\"name\":\"Ada Secret\",\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6,\"g\":7}",
	     &buf);
	len = pl_event_redact(buf.data, buf.size, out);
	CHECK_INT(out[0], 0xde);
	CHECK_INT(pl_event_decode(out, len, NULL, 0, &ev, &rej), 0);
	CHECK_INT(pl_event_int(&ev, PL_F_AMOUNT), 7);
	CHECK(!pl_event_has(&ev, PL_F_NAME));
	CHECK(!memmem(out, len, "Secret", 6));
	msgpack_sbuffer_destroy(&buf);
	CHECK_INT(pl_event_redact("\x92\x01\x02", 3, out), 0); /* not a map */

	/* Whose personal fields an event holds: by its supporter key, used by
	 * its type or ignored, when it has a name or a text, likewise. */
	struct pl_str sup1 = {"sup-1", 5};
	pack("{" REFUND ",\"supporter\":\"sup-1\",\"name\":\"Ada\"}", &buf);
	CHECK(pl_event_personal_of(buf.data, buf.size, sup1));
	CHECK(!pl_event_personal_of(buf.data, buf.size, (struct pl_str){"sup-10", 6}));
	msgpack_sbuffer_destroy(&buf);
	pack("{" PLEDGE ",\"supporter\":\"sup-1\",\"text\":\"a note\"}", &buf);
	CHECK(pl_event_personal_of(buf.data, buf.size, sup1));
	msgpack_sbuffer_destroy(&buf);
	pack("{" PLEDGE ",\"supporter\":\"sup-1\",\"nickname\":\"Ada\"}", &buf);
	CHECK(!pl_event_personal_of(buf.data, buf.size, sup1)); /* no field it erases */
	msgpack_sbuffer_destroy(&buf);
	pack("{" REFUND ",\"name\":\"Ada\",\"by\":\"sup-1\"}", &buf);
	CHECK(!pl_event_personal_of(buf.data, buf.size, sup1)); /* named, but not theirs */
	msgpack_sbuffer_destroy(&buf);

	/* Whether a message names a supporter: a whole string in any msgpack
	 * form, or a word of text; never a longer id that contains it. */
	pack("{\"supporter\":\"sup-10\"}", &buf);
	CHECK(!pl_bytes_name(buf.data, buf.size, sup1));
	msgpack_sbuffer_destroy(&buf);
	pack("{\"type\":\"x\",\"supporter\":\"sup-1\"}", &buf);
	CHECK(pl_bytes_name(buf.data, buf.size, sup1));
	msgpack_sbuffer_destroy(&buf);
	/* The longer forms a gateway may send for a short string: str8, str16, str32. */
	const uint8_t str8[] = "\x81\xa9supporter\xd9\x05sup-1", str16[] = "\x81\xa9supporter\xda\x00\x05sup-1",
		      str32[] = "\x81\xa9supporter\xdb\x00\x00\x00\x05sup-1",
		      str8_longer[] = "\x81\xa9supporter\xd9\x06sup-10";
	CHECK(pl_bytes_name(str8, sizeof str8 - 1, sup1));
	CHECK(pl_bytes_name(str16, sizeof str16 - 1, sup1));
	CHECK(pl_bytes_name(str32, sizeof str32 - 1, sup1));
	CHECK(!pl_bytes_name(str8_longer, sizeof str8_longer - 1, sup1));
	CHECK(!pl_bytes_name(str8, sizeof str8 - 1, (struct pl_str){"sup-", 4}));
	/* Binary instead of a string: a message rejected for its type. */
	const uint8_t bin8[] = "\x81\xa9supporter\xc4\x05sup-1\xa4text";
	CHECK(pl_bytes_name(bin8, sizeof bin8 - 1, sup1));
	/* A 50-byte id: its str8 header's length byte is '2', a digit. */
	const char *id50 = "a-supporter-id-of-fifty-bytes-0123456789-abcdefghi";
	CHECK_INT(strlen(id50), 50);
	pack("{\"supporter\":\"a-supporter-id-of-fifty-bytes-0123456789-abcdefghi\"}", &buf);
	CHECK_INT(((const uint8_t *)buf.data)[11], 0xd9);
	CHECK(pl_bytes_name(buf.data, buf.size, (struct pl_str){id50, 50}));
	msgpack_sbuffer_destroy(&buf);
	/* Text: a message sent as JSON, or as anything else. */
	const char *json = "{\"supporter\":\"sup-1\",\"text\":\"hi\"}";
	CHECK(pl_bytes_name(json, strlen(json), sup1));
	CHECK(pl_bytes_name("sup-1", 5, sup1));
	CHECK(pl_bytes_name("by sup-1, twice", 15, sup1));
	CHECK(!pl_bytes_name("{\"supporter\":\"sup-10\"}", 22, sup1));
	CHECK(!pl_bytes_name("xsup-1", 6, sup1));
	CHECK(!pl_bytes_name("sup-1.5", 7, sup1));
	CHECK(!pl_bytes_name("sup-1\xc3\xa9", 7, sup1));
	CHECK(pl_bytes_name("sup-10 sup-1", 12, sup1)); /* the second one */
	CHECK(!pl_bytes_name("sup-1", 5, (struct pl_str){"", 0}));
	/* JSON that spells the id with escapes (Python's and PHP's defaults). */
	struct pl_str jose = {"jos\xc3\xa9-1", 7}, slash = {"a/b", 3};
	const char *escaped = "{\"supporter\":\"jos\\u00e9-1\",\"text\":\"x\"}";
	CHECK(pl_bytes_name(escaped, strlen(escaped), jose));
	CHECK(!pl_bytes_name(escaped, strlen(escaped), (struct pl_str){"jos\xc3\xa9", 5}));
	const char *php = "[{\"supporter\":\"a\\/b\"}]";
	CHECK(pl_bytes_name(php, strlen(php), slash));
	CHECK(!pl_bytes_name("{\"supporter\":\"a\\/b", 16, slash)); /* not JSON: bytes only */
}

int main(void)
{
	test_json_cases();
	test_raw_cases();
	test_deep_nesting();
	test_no_value();
	test_too_large();
	test_names_of_broken_maps();
	test_length_limits();
	test_round_trip();
	test_reason_codes();
	test_json_to_msgpack_errors();
	test_json_nesting_as_decoded();
	test_detail_shows_nul();
	test_too_short_details();
	test_redact();
	test_names_anywhere();
	test_field_keys();
	test_fields_not_present();
	return check_done();
}
