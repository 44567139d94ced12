/* event_schema.c — the tables behind event_schema.h and lookups into them. */
#include "event_schema.h"

#include <pthread.h>
#include <string.h>

const struct pl_field_def pl_field_defs[PL_FIELD_COUNT] = {
#define PL_FIELD_DEF(e, key, kind, lo, hi, doc, example)                                   \
	[PL_F_##e] = {key, sizeof key - 1, PL_KIND_##kind, lo, hi, doc, example},
	PL_FIELDS(PL_FIELD_DEF)
#undef PL_FIELD_DEF
};

const struct pl_type_def pl_type_defs[PL_EVENT_TYPE_COUNT] = {
#define PL_TYPE_DEF(e, name, keyed_by, req, opt, doc)                                      \
	[PL_EV_##e] = {name, sizeof name - 1, PL_F_##keyed_by, req, opt, doc},
	PL_EVENT_TYPES(PL_TYPE_DEF)
#undef PL_TYPE_DEF
};

static const char *const reason_codes[PL_REASON_COUNT] = {
	[PL_R_NONE] = "none",
#define PL_REASON_CODE(e, code, doc) [PL_R_##e] = code,
	PL_REASONS(PL_REASON_CODE)
#undef PL_REASON_CODE
};

static const char *const reason_docs[PL_REASON_COUNT] = {
	[PL_R_NONE] = "",
#define PL_REASON_DOC(e, code, doc) [PL_R_##e] = doc,
	PL_REASONS(PL_REASON_DOC)
#undef PL_REASON_DOC
};

const char *pl_reason_code(enum pl_reason r)
{
	if ((unsigned)r >= PL_REASON_COUNT)
		return "none";
	return reason_codes[r];
}

const char *pl_reason_doc(enum pl_reason r)
{
	if ((unsigned)r >= PL_REASON_COUNT)
		return "";
	return reason_docs[r];
}

static bool str_equals(const char *a, size_t alen, const char *b)
{
	return strlen(b) == alen && memcmp(a, b, alen) == 0;
}

enum pl_reason pl_reason_from_code(const char *code, size_t len)
{
	for (int r = 1; r < PL_REASON_COUNT; r++)
		if (str_equals(code, len, reason_codes[r]))
			return (enum pl_reason)r;
	return PL_R_NONE;
}

/* Both lookups run for every key of every message: compare lengths first. */
int pl_type_from_name(const char *name, size_t len)
{
	for (int t = 0; t < PL_EVENT_TYPE_COUNT; t++)
		if (pl_type_defs[t].name_len == len && memcmp(name, pl_type_defs[t].name, len) == 0)
			return t;
	return -1;
}

/*
 * Every key of every message is looked up: by a hash of its length and
 * first two bytes into a table of the fields' keys, built once, then one
 * comparison (no scan of every field).
 */
#define FIELD_KEY_ROOM 16
#define FIELD_SLOTS 64 /* a power of two well above PL_FIELD_COUNT */

static const char field_keys[PL_FIELD_COUNT][FIELD_KEY_ROOM] = {
#define PL_FIELD_KEY(e, key, kind, lo, hi, doc, example) [PL_F_##e] = key,
	PL_FIELDS(PL_FIELD_KEY)
#undef PL_FIELD_KEY
};
static int8_t field_slots[FIELD_SLOTS];
static pthread_once_t field_slots_once = PTHREAD_ONCE_INIT;

static unsigned key_hash(const char *key, size_t len)
{
	unsigned second = len > 1 ? (unsigned char)key[1] : 0;
	return ((unsigned)len * 31u + (unsigned char)key[0] * 7u + second) % FIELD_SLOTS;
}

static void fill_field_slots(void)
{
	memset(field_slots, -1, sizeof field_slots);
	for (int f = 0; f < PL_FIELD_COUNT; f++) {
		unsigned h = key_hash(field_keys[f], pl_field_defs[f].key_len);
		while (field_slots[h] >= 0)
			h = (h + 1) % FIELD_SLOTS;
		field_slots[h] = (int8_t)f;
	}
}

int pl_field_from_key(const char *key, size_t len)
{
	if (len == 0 || len >= FIELD_KEY_ROOM)
		return -1;
	pthread_once(&field_slots_once, fill_field_slots);
	for (unsigned h = key_hash(key, len); field_slots[h] >= 0; h = (h + 1) % FIELD_SLOTS) {
		/* Lengths, not a NUL after the key: "owner\0\0" is no field's key. */
		int f = field_slots[h];
		if (pl_field_defs[f].key_len == len && memcmp(field_keys[f], key, len) == 0)
			return f;
	}
	return -1;
}

void pl_event_set_str(struct pl_event *ev, enum pl_field f, const char *s, size_t len)
{
	ev->f[f].s.ptr = s;
	ev->f[f].s.len = (uint32_t)len;
	ev->present |= UINT32_C(1) << f;
}

void pl_event_set_int(struct pl_event *ev, enum pl_field f, int64_t v)
{
	ev->f[f].i = v;
	ev->present |= UINT32_C(1) << f;
}
