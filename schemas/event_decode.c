/*
 * event_decode.c — validating decoder for the wire events.
 *
 * Two passes over the map: the first records where each known key's value
 * starts (and refuses malformed msgpack and duplicate keys), the second reads
 * only the fields the event's type uses. So a known key on a type that does
 * not use it is ignored like any unknown key (forward compatibility).
 */
#include "event_decode.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <utf8proc.h>

#include "mp_reader.h"
#include "pl_error.h"

struct pl_shown pl_show(struct pl_str str)
{
	struct pl_shown out;
	size_t n = 0;
	/* Strings are checked for length before any rule names them; a longer one is cut. */
	for (uint32_t i = 0; i < str.len && n + 2 < sizeof out.s; i++) {
		if (str.ptr[i] == '\0' || str.ptr[i] == '\\')
			out.s[n++] = '\\';
		out.s[n++] = str.ptr[i] == '\0' ? '0' : str.ptr[i];
	}
	out.s[n] = '\0';
	return out;
}

int pl_reject(struct pl_rejection *rej, enum pl_reason reason, const char *fmt, ...)
{
	va_list ap;
	rej->reason = reason;
	va_start(ap, fmt);
	int n = vsnprintf(rej->detail, sizeof rej->detail, fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof rej->detail) {
		/* Cut short: drop a multi-byte character split at the end. */
		size_t len = sizeof rej->detail - 1;
		while (len > 0 && !pl_utf8_valid(rej->detail, len))
			len--;
		rej->detail[len] = '\0';
	}
	return PL_EREJECTED;
}

bool pl_utf8_valid(const char *s, size_t len)
{
	const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
	size_t i = 0;
	while (i < len) {
		if (p[i] < 0x80) { /* ASCII needs no library call */
			i++;
			continue;
		}
		utf8proc_int32_t cp;
		utf8proc_ssize_t n = utf8proc_iterate(p + i, (utf8proc_ssize_t)(len - i), &cp);
		if (n <= 0)
			return false;
		i += (size_t)n;
	}
	return true;
}

/* Where each known field's value starts; NULL when absent. */
struct field_spots {
	const uint8_t *at[PL_FIELD_COUNT];
};

/* Notes where each known key's value starts, pair by pair. */
static int scan_pairs(struct mp_reader *r, uint32_t pairs, struct field_spots *spots,
		      struct pl_rejection *rej)
{
	int rc;
	for (uint32_t i = 0; i < pairs; i++) {
		const char *key;
		uint32_t key_len;
		rc = mp_read_str(r, &key, &key_len);
		if (rc == MP_WRONG_TYPE)
			return pl_reject(rej, PL_R_BAD_MSGPACK, "map key %u is not a string", i);
		if (rc)
			return pl_reject(rej, PL_R_BAD_MSGPACK, "map key %u: %s", i, mp_strerror(rc));
		int f = pl_field_from_key(key, key_len);
		if (f >= 0) {
			if (spots->at[f])
				return pl_reject(rej, PL_R_DUPLICATE_FIELD, "field '%s' appears twice",
						 pl_field_defs[f].key);
			spots->at[f] = r->p;
		}
		rc = mp_skip(r);
		if (rc)
			return pl_reject(rej, PL_R_BAD_MSGPACK, "value of key %u: %s", i, mp_strerror(rc));
	}
	return PL_OK;
}

static int scan_map(struct mp_reader *r, struct field_spots *spots, struct pl_rejection *rej)
{
	uint32_t pairs;
	int rc = mp_read_map(r, &pairs);
	if (rc == MP_WRONG_TYPE)
		return pl_reject(rej, PL_R_BAD_MSGPACK, "message is not a msgpack map");
	if (rc)
		return pl_reject(rej, PL_R_BAD_MSGPACK, "map header: %s", mp_strerror(rc));
	if ((rc = scan_pairs(r, pairs, spots, rej)))
		return rc;
	if (mp_reader_left(r) != 0)
		return pl_reject(rej, PL_R_BAD_MSGPACK, "%zu bytes after the map", mp_reader_left(r));
	return PL_OK;
}

static int read_str_field(const uint8_t *spot, const uint8_t *end, enum pl_field f,
			  struct pl_event *ev, struct pl_rejection *rej)
{
	const struct pl_field_def *def = &pl_field_defs[f];
	struct mp_reader r = {spot, end};
	const char *s;
	uint32_t len;
	if (mp_read_str(&r, &s, &len))
		return pl_reject(rej, PL_R_WRONG_TYPE, "field '%s' must be a string", def->key);
	if (len < def->min && def->min == 1)
		return pl_reject(rej, PL_R_TOO_SHORT, "field '%s' must not be empty", def->key);
	if (len < def->min)
		return pl_reject(rej, PL_R_TOO_SHORT, "field '%s' has %u bytes, at least %lld needed",
				 def->key, len, (long long)def->min);
	if (len > def->max)
		return pl_reject(rej, PL_R_TOO_LONG, "field '%s' has %u bytes, at most %lld allowed",
				 def->key, len, (long long)def->max);
	if (!pl_utf8_valid(s, len))
		return pl_reject(rej, PL_R_BAD_UTF8, "field '%s' is not valid UTF-8", def->key);
	pl_event_set_str(ev, f, s, len);
	return PL_OK;
}

static int read_int_field(const uint8_t *spot, const uint8_t *end, enum pl_field f,
			  struct pl_event *ev, struct pl_rejection *rej)
{
	const struct pl_field_def *def = &pl_field_defs[f];
	struct mp_reader r = {spot, end};
	int64_t v;
	int rc = mp_read_int(&r, &v);
	if (rc == MP_INT_RANGE)
		return pl_reject(rej, PL_R_OUT_OF_RANGE, "field '%s' is above %lld", def->key,
				 (long long)def->max);
	if (rc)
		return pl_reject(rej, PL_R_WRONG_TYPE, "field '%s' must be an integer", def->key);
	if (v < def->min || v > def->max)
		return pl_reject(rej, PL_R_OUT_OF_RANGE, "field '%s' is %lld, must be %lld..%lld",
				 def->key, (long long)v, (long long)def->min, (long long)def->max);
	pl_event_set_int(ev, f, v);
	return PL_OK;
}

static int read_field(const struct field_spots *spots, const uint8_t *end, enum pl_field f,
		      struct pl_event *ev, struct pl_rejection *rej)
{
	if (pl_field_defs[f].kind == PL_KIND_STR)
		return read_str_field(spots->at[f], end, f, ev, rej);
	return read_int_field(spots->at[f], end, f, ev, rej);
}

static bool currency_valid(struct pl_str c)
{
	for (uint32_t i = 0; i < c.len; i++)
		if (c.ptr[i] < 'A' || c.ptr[i] > 'Z')
			return false;
	return true;
}

/*
 * What a rejection can still say of a message refused before its fields
 * were read: its id and type, when their keys came before the fault and
 * their values read.
 */
static void read_names(const struct field_spots *spots, const uint8_t *end, struct pl_event *ev)
{
	struct pl_rejection ignored;
	if (spots->at[PL_F_ID])
		read_field(spots, end, PL_F_ID, ev, &ignored);
	if (spots->at[PL_F_TYPE] && read_field(spots, end, PL_F_TYPE, ev, &ignored) == 0) {
		struct pl_str name = pl_event_str(ev, PL_F_TYPE);
		int type = pl_type_from_name(name.ptr, name.len);
		if (type >= 0)
			ev->type = (enum pl_event_type)type;
	}
}

int pl_event_decode(const void *buf, size_t len, const void *key, size_t key_len,
		    struct pl_event *ev, struct pl_rejection *rej)
{
	struct field_spots spots = {0};
	struct mp_reader r;
	int rc;
	memset(ev, 0, sizeof *ev);
	if (!buf) /* a Kafka message without a value */
		return pl_reject(rej, PL_R_BAD_MSGPACK, "no value: a Kafka tombstone");
	if (len == 0)
		return pl_reject(rej, PL_R_BAD_MSGPACK, "an empty value");
	const uint8_t *end = (const uint8_t *)buf + len;

	if (len > PL_MAX_EVENT_BYTES) {
		/* Not read, but its first bytes may still say what it was: its
		 * header against the whole (more pairs than 16 KiB could hold are
		 * no fault here), then its pairs within the first 16 KiB. */
		struct pl_rejection ignored;
		uint32_t pairs;
		mp_reader_init(&r, buf, len);
		if (mp_read_map(&r, &pairs) == MP_OK) {
			r.end = (const uint8_t *)buf + PL_MAX_EVENT_BYTES;
			(void)scan_pairs(&r, pairs, &spots, &ignored);
		}
		read_names(&spots, (const uint8_t *)buf + PL_MAX_EVENT_BYTES, ev);
		return pl_reject(rej, PL_R_TOO_LARGE, "message has %zu bytes, at most %d allowed",
				 len, PL_MAX_EVENT_BYTES);
	}
	mp_reader_init(&r, buf, len);
	if ((rc = scan_map(&r, &spots, rej))) {
		read_names(&spots, end, ev);
		return rc;
	}

	/* A readable id names the event in its rejection, whatever else is
	 * wrong with it (an unknown type, a missing field); the rules for the
	 * id itself come with the other fields below. */
	struct pl_rejection ignored;
	if (spots.at[PL_F_ID])
		read_field(&spots, end, PL_F_ID, ev, &ignored);
	if (!spots.at[PL_F_TYPE])
		return pl_reject(rej, PL_R_MISSING_FIELD, "field 'type' is missing");
	if ((rc = read_field(&spots, end, PL_F_TYPE, ev, rej)))
		return rc;
	struct pl_str tname = pl_event_str(ev, PL_F_TYPE);
	int type = pl_type_from_name(tname.ptr, tname.len);
	if (type < 0)
		return pl_reject(rej, PL_R_UNKNOWN_TYPE, "type '%s' is not known", pl_show(tname).s);
	ev->type = (enum pl_event_type)type;

	if (!spots.at[PL_F_V])
		return pl_reject(rej, PL_R_MISSING_FIELD, "field 'v' is missing");
	if ((rc = read_field(&spots, end, PL_F_V, ev, rej))) {
		/* Any integer is a version, one above int64 too: not the known one. */
		if (rej->reason == PL_R_OUT_OF_RANGE)
			return pl_reject(rej, PL_R_UNSUPPORTED_VERSION,
					 "schema version above %lld, only %d is known",
					 (long long)INT64_MAX, PL_SCHEMA_VERSION);
		return rc;
	}
	if (pl_event_int(ev, PL_F_V) != PL_SCHEMA_VERSION)
		return pl_reject(rej, PL_R_UNSUPPORTED_VERSION, "schema version %lld, only %d is known",
				 (long long)pl_event_int(ev, PL_F_V), PL_SCHEMA_VERSION);

	const struct pl_type_def *td = &pl_type_defs[type];
	uint32_t required = PL_COMMON_FIELDS | (UINT32_C(1) << td->keyed_by) | td->required;
	for (int f = 0; f < PL_FIELD_COUNT; f++) {
		uint32_t bit = UINT32_C(1) << f;
		if (f == PL_F_TYPE || f == PL_F_V || !((required | td->optional) & bit))
			continue;
		if (!spots.at[f]) {
			if (required & bit)
				return pl_reject(rej, PL_R_MISSING_FIELD, "field '%s' is missing for %s",
						 pl_field_defs[f].key, td->name);
			continue;
		}
		if ((rc = read_field(&spots, end, (enum pl_field)f, ev, rej)))
			return rc;
	}

	if (pl_event_has(ev, PL_F_CURRENCY) && !currency_valid(pl_event_str(ev, PL_F_CURRENCY)))
		return pl_reject(rej, PL_R_BAD_CURRENCY, "currency must be 3 upper-case letters (ISO 4217)");
	struct pl_str by = pl_event_str(ev, td->keyed_by);
	if (key && (key_len != by.len || memcmp(key, by.ptr, key_len) != 0))
		return pl_reject(rej, PL_R_KEY_MISMATCH, "message key differs from %s '%s'",
				 pl_field_defs[td->keyed_by].key, pl_show(by).s);
	return PL_OK;
}
