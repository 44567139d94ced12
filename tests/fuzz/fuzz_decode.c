/*
 * fuzz_decode.c — libFuzzer target for the msgpack event decoder.
 *
 * The first byte picks a message key length (0xff: no key) so the key check
 * is fuzzed too. Whatever the bytes, decoding must return 0 or PL_EREJECTED
 * with a reason, and an accepted event must survive encode → decode. The
 * erasure's search of a message for a supporter's id (the key's bytes, as
 * the id) reads them as text, msgpack and JSON: it must only answer.
 */
#include <stdlib.h>
#include <string.h>

#include "event_codec.h"
#include "event_decode.h"
#include "event_names.h"
#include "pl_error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t key_len = data[0] == 0xff ? 0 : data[0] % 16;
	const uint8_t *key = data[0] == 0xff ? NULL : data + 1;
	if (1 + key_len > size)
		return 0;
	const uint8_t *msg = data + 1 + key_len;
	size_t len = size - 1 - key_len;

	if (key_len && pl_bytes_name(msg, len, (struct pl_str){(const char *)key, key_len}) &&
	    !memmem(msg, len, "\\", 1) && !memmem(msg, len, key, key_len))
		abort(); /* named without an escape, yet the id is not there */
	struct pl_event ev;
	struct pl_rejection rej;
	int rc = pl_event_decode(msg, len, key, key_len, &ev, &rej);
	if (rc == PL_EREJECTED) {
		if (rej.reason <= PL_R_NONE || rej.reason >= PL_REASON_COUNT || !rej.detail[0])
			abort();
		return 0;
	}
	if (rc != 0)
		abort();
	msgpack_sbuffer buf;
	struct pl_event again;
	msgpack_sbuffer_init(&buf);
	if (pl_event_encode(&ev, &buf) ||
	    pl_event_decode(buf.data, buf.size, key, key_len, &again, &rej) ||
	    again.type != ev.type || again.present != ev.present)
		abort();
	msgpack_sbuffer_destroy(&buf);
	return 0;
}
