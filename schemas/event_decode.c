/*
 * event_decode.c — validating decoder for the wire events.
 *
 * One pass over the map reads each known key's value as its field's kind
 * (and refuses malformed msgpack and duplicate keys); then only the fields
 * the event's type uses are checked against their rules. So a known key on
 * a type that does not use it is ignored like any unknown key (forward
 * compatibility).
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

/* The known fields the scan met, and how reading each as its kind went. */
struct field_spots {
	uint32_t seen;               /* PL_BIT() of every known key met */
	int8_t read[PL_FIELD_COUNT]; /* of those: an mp_status, its value in the event when MP_OK */
};

static bool seen(const struct field_spots *spots, enum pl_field f)
{
	return (spots->seen >> f) & 1u;
}

/* Reads the value at r as field f's kind into ev's slot for it, not yet present. */
static int read_as_kind(struct mp_reader *r, enum pl_field f, struct pl_event *ev)
{
	if (pl_field_defs[f].kind == PL_KIND_STR)
		return mp_read_str(r, &ev->f[f].s.ptr, &ev->f[f].s.len);
	return mp_read_int(r, &ev->f[f].i);
}

/*
 * Scans the pairs: each known key's value is read as its field's kind there
 * and then (one pass, not a second over the map), any other value skipped.
 * A known field's value not of its kind is skipped too, and refused by its
 * field's rules only once the whole map is known to be msgpack.
 */
static int scan_pairs(struct mp_reader *r, uint32_t pairs, struct field_spots *spots,
		      struct pl_event *ev, struct pl_rejection *rej)
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
			if (seen(spots, (enum pl_field)f))
				return pl_reject(rej, PL_R_DUPLICATE_FIELD, "field '%s' appears twice",
						 pl_field_defs[f].key);
			spots->seen |= UINT32_C(1) << f;
			const uint8_t *value = r->p;
			spots->read[f] = (int8_t)read_as_kind(r, (enum pl_field)f, ev);
			if (spots->read[f] == MP_OK)
				continue;
			r->p = value;
		}
		rc = mp_skip(r);
		if (rc)
			return pl_reject(rej, PL_R_BAD_MSGPACK, "value of key %u: %s", i, mp_strerror(rc));
	}
	return PL_OK;
}

static int scan_map(struct mp_reader *r, struct field_spots *spots, struct pl_event *ev,
		    struct pl_rejection *rej)
{
	uint32_t pairs;
	int rc = mp_read_map(r, &pairs);
	if (rc == MP_WRONG_TYPE)
		return pl_reject(rej, PL_R_BAD_MSGPACK, "message is not a msgpack map");
	if (rc)
		return pl_reject(rej, PL_R_BAD_MSGPACK, "map header: %s", mp_strerror(rc));
	if ((rc = scan_pairs(r, pairs, spots, ev, rej)))
		return rc;
	if (mp_reader_left(r) != 0)
		return pl_reject(rej, PL_R_BAD_MSGPACK, "%zu bytes after the map", mp_reader_left(r));
	return PL_OK;
}

static int check_str_field(const struct field_spots *spots, enum pl_field f, struct pl_event *ev,
			   struct pl_rejection *rej)
{
	const struct pl_field_def *def = &pl_field_defs[f];
	if (spots->read[f])
		return pl_reject(rej, PL_R_WRONG_TYPE, "field '%s' must be a string", def->key);
	uint32_t len = ev->f[f].s.len;
	if (len < def->min && def->min == 1)
		return pl_reject(rej, PL_R_TOO_SHORT, "field '%s' must not be empty", def->key);
	if (len < def->min)
		return pl_reject(rej, PL_R_TOO_SHORT, "field '%s' has %u bytes, at least %lld needed",
				 def->key, len, (long long)def->min);
	if (len > def->max)
		return pl_reject(rej, PL_R_TOO_LONG, "field '%s' has %u bytes, at most %lld allowed",
				 def->key, len, (long long)def->max);
	if (!pl_utf8_valid(ev->f[f].s.ptr, len))
		return pl_reject(rej, PL_R_BAD_UTF8, "field '%s' is not valid UTF-8", def->key);
	ev->present |= UINT32_C(1) << f;
	return PL_OK;
}

static int check_int_field(const struct field_spots *spots, enum pl_field f, struct pl_event *ev,
			   struct pl_rejection *rej)
{
	const struct pl_field_def *def = &pl_field_defs[f];
	if (spots->read[f] == MP_INT_RANGE)
		return pl_reject(rej, PL_R_OUT_OF_RANGE, "field '%s' is above %lld", def->key,
				 (long long)def->max);
	if (spots->read[f])
		return pl_reject(rej, PL_R_WRONG_TYPE, "field '%s' must be an integer", def->key);
	int64_t v = ev->f[f].i;
	if (v < def->min || v > def->max)
		return pl_reject(rej, PL_R_OUT_OF_RANGE, "field '%s' is %lld, must be %lld..%lld",
				 def->key, (long long)v, (long long)def->min, (long long)def->max);
	ev->present |= UINT32_C(1) << f;
	return PL_OK;
}

/* Applies field f's rules to the value the scan read; present in ev when they hold. */
static int check_field(const struct field_spots *spots, enum pl_field f, struct pl_event *ev,
		       struct pl_rejection *rej)
{
	if (pl_field_defs[f].kind == PL_KIND_STR)
		return check_str_field(spots, f, ev, rej);
	return check_int_field(spots, f, ev, rej);
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
static void read_names(const struct field_spots *spots, struct pl_event *ev)
{
	struct pl_rejection ignored;
	if (seen(spots, PL_F_ID))
		check_field(spots, PL_F_ID, ev, &ignored);
	if (seen(spots, PL_F_TYPE) && check_field(spots, PL_F_TYPE, ev, &ignored) == 0) {
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
	/* Not the whole event: its fields are read only when present. */
	ev->type = 0;
	ev->present = 0;
	if (!buf) /* a Kafka message without a value */
		return pl_reject(rej, PL_R_BAD_MSGPACK, "no value: a Kafka tombstone");
	if (len == 0)
		return pl_reject(rej, PL_R_BAD_MSGPACK, "an empty value");
	if (len > PL_MAX_EVENT_BYTES) {
		/* Not read, but its first bytes may still say what it was: its
		 * header against the whole (more pairs than 16 KiB could hold are
		 * no fault here), then its pairs within the first 16 KiB. */
		struct pl_rejection ignored;
		uint32_t pairs;
		mp_reader_init(&r, buf, len);
		if (mp_read_map(&r, &pairs) == MP_OK) {
			r.end = (const uint8_t *)buf + PL_MAX_EVENT_BYTES;
			(void)scan_pairs(&r, pairs, &spots, ev, &ignored);
		}
		read_names(&spots, ev);
		return pl_reject(rej, PL_R_TOO_LARGE, "message has %zu bytes, at most %d allowed",
				 len, PL_MAX_EVENT_BYTES);
	}
	mp_reader_init(&r, buf, len);
	if ((rc = scan_map(&r, &spots, ev, rej))) {
		read_names(&spots, ev);
		return rc;
	}

	/* A readable id names the event in its rejection, whatever else is
	 * wrong with it (an unknown type, a missing field); the rules for the
	 * id itself come with the other fields below. */
	struct pl_rejection ignored;
	if (seen(&spots, PL_F_ID))
		check_field(&spots, PL_F_ID, ev, &ignored);
	if (!seen(&spots, PL_F_TYPE))
		return pl_reject(rej, PL_R_MISSING_FIELD, "field 'type' is missing");
	if ((rc = check_field(&spots, PL_F_TYPE, ev, rej)))
		return rc;
	struct pl_str tname = pl_event_str(ev, PL_F_TYPE);
	int type = pl_type_from_name(tname.ptr, tname.len);
	if (type < 0)
		return pl_reject(rej, PL_R_UNKNOWN_TYPE, "type '%s' is not known", pl_show(tname).s);
	ev->type = (enum pl_event_type)type;

	if (!seen(&spots, PL_F_V))
		return pl_reject(rej, PL_R_MISSING_FIELD, "field 'v' is missing");
	if ((rc = check_field(&spots, PL_F_V, ev, rej))) {
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
		if (!seen(&spots, (enum pl_field)f)) {
			if (required & bit)
				return pl_reject(rej, PL_R_MISSING_FIELD, "field '%s' is missing for %s",
						 pl_field_defs[f].key, td->name);
			continue;
		}
		if ((rc = check_field(&spots, (enum pl_field)f, ev, rej)))
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
