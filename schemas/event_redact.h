/*
 * event_redact.h — what the right to erasure leaves of a message.
 *
 * An accepted event keeps its shape: the name is dropped (anonymous) and a
 * comment's text becomes PL_ERASED_TEXT, every other key is copied byte for
 * byte, so the event still decodes and applies as it did. A rejected
 * message loses its bytes whole when it names the supporter
 * (event_names.h).
 */
#ifndef EVENT_REDACT_H
#define EVENT_REDACT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event_schema.h"

/* What replaces an erased comment's text. */
#define PL_ERASED_TEXT "(erased)"

/* The most bytes pl_event_redact() writes for an event of len bytes. */
#define PL_REDACT_MAX(len) ((len) + 16)

/*
 * Writes the redacted form of the valid event raw[0..len) to out (at least
 * PL_REDACT_MAX(len) bytes). Returns its size, or 0 when raw is not a
 * msgpack map.
 */
size_t pl_event_redact(const void *raw, size_t len, uint8_t *out);

/*
 * Whether the msgpack map raw[0..len) is the event of supporter id (its
 * `supporter` key holds id, whether the event's type uses that key or
 * ignores it) and holds a field pl_event_redact() drops or overwrites (a
 * `name` or a `text`, used or ignored likewise).
 */
bool pl_event_personal_of(const void *raw, size_t len, struct pl_str id);

#endif
