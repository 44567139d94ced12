/* event_codec.c — msgpack encoding and JSON forms of events; see event_codec.h. */
#include "event_codec.h"

#include <stdio.h>
#include <string.h>

#include "mp_reader.h"
#include "pl_error.h"

int pl_event_encode(const struct pl_event *ev, msgpack_sbuffer *out)
{
	msgpack_packer pk;
	msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
	uint32_t n = (uint32_t)__builtin_popcount(ev->present);
	int rc = msgpack_pack_map(&pk, n);
	for (int f = 0; f < PL_FIELD_COUNT && rc == 0; f++) {
		if (!pl_event_has(ev, (enum pl_field)f))
			continue;
		rc |= msgpack_pack_str_with_body(&pk, pl_field_defs[f].key, pl_field_defs[f].key_len);
		if (pl_field_defs[f].kind == PL_KIND_STR)
			rc |= msgpack_pack_str_with_body(&pk, ev->f[f].s.ptr, ev->f[f].s.len);
		else
			rc |= msgpack_pack_int64(&pk, ev->f[f].i);
	}
	return rc ? PL_ENOMEM : PL_OK;
}

json_t *pl_event_to_json(const struct pl_event *ev)
{
	json_t *obj = json_object();
	if (!obj)
		return NULL;
	for (int f = 0; f < PL_FIELD_COUNT; f++) {
		if (!pl_event_has(ev, (enum pl_field)f))
			continue;
		json_t *v = pl_field_defs[f].kind == PL_KIND_STR
				    ? json_stringn(ev->f[f].s.ptr, ev->f[f].s.len)
				    : json_integer(ev->f[f].i);
		if (!v || json_object_set_new(obj, pl_field_defs[f].key, v)) {
			json_decref(obj);
			return NULL;
		}
	}
	return obj;
}

/* depth as the decoder counts it: the event's own map is -1, so that a
 * value may nest as deep in JSON as in msgpack (MP_MAX_DEPTH). */
static int pack_json(msgpack_packer *pk, json_t *v, int depth)
{
	if (depth > MP_MAX_DEPTH)
		return -1;
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		const char *key;
		json_t *item;
		int rc = msgpack_pack_map(pk, json_object_size(v));
		json_object_foreach(v, key, item) {
			rc |= msgpack_pack_str_with_body(pk, key, strlen(key));
			rc |= pack_json(pk, item, depth + 1);
		}
		return rc;
	}
	case JSON_ARRAY: {
		size_t i;
		json_t *item;
		int rc = msgpack_pack_array(pk, json_array_size(v));
		json_array_foreach(v, i, item)
			rc |= pack_json(pk, item, depth + 1);
		return rc;
	}
	case JSON_STRING:
		return msgpack_pack_str_with_body(pk, json_string_value(v), json_string_length(v));
	case JSON_INTEGER:
		return msgpack_pack_int64(pk, json_integer_value(v));
	case JSON_REAL:
		return msgpack_pack_double(pk, json_real_value(v));
	case JSON_TRUE:
		return msgpack_pack_true(pk);
	case JSON_FALSE:
		return msgpack_pack_false(pk);
	case JSON_NULL:
		return msgpack_pack_nil(pk);
	}
	return -1;
}

int pl_json_to_msgpack(const char *text, size_t len, msgpack_sbuffer *out, char *err,
		       size_t err_size)
{
	json_error_t jerr;
	/* JSON_ALLOW_NUL keeps strings with \u0000 intact; the daemon judges them. */
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
	if (!root) {
		snprintf(err, err_size, "invalid JSON at column %d: %s", jerr.column, jerr.text);
		return PL_EINVAL;
	}
	if (!json_is_object(root)) {
		snprintf(err, err_size, "each line must be a JSON object");
		json_decref(root);
		return PL_EINVAL;
	}
	msgpack_packer pk;
	msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
	int rc = pack_json(&pk, root, -1);
	json_decref(root);
	if (rc) {
		snprintf(err, err_size, "could not encode (nested too deeply or out of memory)");
		return PL_EINVAL;
	}
	return PL_OK;
}
