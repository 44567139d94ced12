/*
 * decoded.h — an event decoded with the fingerprints that applying it looks
 * up, ready for a slot (slot.h) to apply.
 */
#ifndef DECODED_H
#define DECODED_H

#include <stddef.h>

#include "event_decode.h"
#include "fp.h"
#include "proj.h"

struct decoded {
	int rc;                  /* pl_event_decode()'s */
	struct pl_event ev;
	struct pl_rejection rej; /* why it did not decode */
	struct fp id;            /* its event id's fingerprint (evlog_id_fp) */
	struct proj_keys keys;   /* what the rules look up (proj_keys_of) */
};

/* Decodes raw (with its Kafka key, if any) into d, with the fingerprints.
 * Touches nothing else: any thread may. */
void decode_event(struct decoded *d, const void *raw, size_t raw_len, const void *key,
		  size_t key_len);

#endif
