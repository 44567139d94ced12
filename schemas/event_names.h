/*
 * event_names.h — whether a message names a supporter, for the right to
 * erasure: a rejected message is judged by its bytes alone, even when it
 * is not msgpack at all, or broken.
 */
#ifndef EVENT_NAMES_H
#define EVENT_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#include "event_schema.h"

/*
 * Whether raw[0..len) names id: holds it as a word (not followed or
 * preceded by a letter, digit, '-', '_', '.' or a byte of a multi-byte
 * character) of its text, of a msgpack string or binary at any depth and
 * in any of their encodings (a gateway need not pick the shortest; also
 * before the message breaks off or miscounts), or of its text with JSON's
 * escapes read, valid JSON or not. So "sup-1" is not named by "sup-10", in
 * any form, "sup-1\u0030" included.
 */
bool pl_bytes_name(const void *raw, size_t len, struct pl_str id);

#endif
