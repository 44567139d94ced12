/* decoded.c — an event decoded for applying; see decoded.h. */
#include "decoded.h"

#include "evlog.h"

void decode_event(struct decoded *d, const void *raw, size_t raw_len, const void *key,
		  size_t key_len)
{
	d->rc = pl_event_decode(raw, raw_len, key, key_len, &d->ev, &d->rej);
	if (d->rc == 0) {
		evlog_id_fp(pl_event_str(&d->ev, PL_F_ID), &d->id);
		proj_keys_of(&d->ev, &d->keys);
	}
}
