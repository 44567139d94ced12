/*
 * event_codec.h — turning events into bytes and back into JSON.
 *
 * pl_event_encode() writes the wire form (msgpack, via msgpack-c's packer);
 * pl_event_to_json() gives the JSON form used by `dump` and the docs;
 * pl_json_to_msgpack() converts any JSON object to a msgpack map, which is
 * what `publish` sends: it does not validate, so gateways' test suites can
 * send bad events on purpose and see them rejected.
 */
#ifndef EVENT_CODEC_H
#define EVENT_CODEC_H

#include <jansson.h>
#include <msgpack.h>

#include "event_schema.h"

/* Appends ev as a msgpack map with its present fields to out. Returns 0 or PL_ENOMEM. */
int pl_event_encode(const struct pl_event *ev, msgpack_sbuffer *out);

/* A new JSON object with the event's present fields; NULL on allocation failure. */
json_t *pl_event_to_json(const struct pl_event *ev);

/*
 * Converts one JSON text (an object) to msgpack, appended to out. Integers
 * stay integers, so amounts keep their exact value. On failure returns
 * PL_EINVAL and writes a message to err (err_size bytes).
 */
int pl_json_to_msgpack(const char *text, size_t len, msgpack_sbuffer *out, char *err,
		       size_t err_size);

#endif
