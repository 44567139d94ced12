/*
 * event_decode.h — msgpack message → validated struct pl_event.
 *
 * Applies every schema rule of docs/events.md that can be checked on
 * one message alone (rules that need state, like "campaign must be open",
 * belong to projections/). On failure the message gets one specific reason.
 */
#ifndef EVENT_DECODE_H
#define EVENT_DECODE_H

#include "event_schema.h"

#define PL_DETAIL_MAX 160

/* Why a message was refused: a stable code plus a sentence for humans. */
struct pl_rejection {
	enum pl_reason reason;
	char detail[PL_DETAIL_MAX];
};

/* Fills a rejection; detail is printf-style. Returns PL_EREJECTED. */
int pl_reject(struct pl_rejection *rej, enum pl_reason reason, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A string as a detail names it: a NUL byte shown as \0, since a detail
 * is a C string and would otherwise end there (an id may hold NULs), and
 * so a backslash as \\. */
struct pl_shown {
	char s[2 * PL_MAX_ID_BYTES + 1];
};
struct pl_shown pl_show(struct pl_str str);

/*
 * Decodes one message value. key/key_len is the Kafka message key (NULL when
 * the message has none); when present it must equal the campaign.
 * buf may be NULL when len is 0 (a Kafka tombstone: rejected as bad_msgpack).
 * Returns 0 with *ev filled (its strings point into buf), or PL_EREJECTED
 * with *rej filled. Never reads outside buf[0..len).
 */
int pl_event_decode(const void *buf, size_t len, const void *key, size_t key_len,
		    struct pl_event *ev, struct pl_rejection *rej);

/* True when s[0..len) is well-formed UTF-8 (no overlongs, no surrogates). */
bool pl_utf8_valid(const char *s, size_t len);

#endif
