/*
 * fuzz_json_lines.c — libFuzzer target for the JSON-lines input of
 * `publish` and `import`: any text either fails with a message or becomes
 * msgpack that the event decoder then judges without crashing.
 */
#include <stdlib.h>

#include "event_codec.h"
#include "event_decode.h"
#include "pl_error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	msgpack_sbuffer buf;
	char err[160];
	msgpack_sbuffer_init(&buf);
	int rc = pl_json_to_msgpack((const char *)data, size, &buf, err, sizeof err);
	if (rc == 0) {
		struct pl_event ev;
		struct pl_rejection rej;
		rc = pl_event_decode(buf.data, buf.size, NULL, 0, &ev, &rej);
		if (rc != 0 && rc != PL_EREJECTED)
			abort();
	} else if (rc != PL_EINVAL || !err[0]) {
		abort();
	}
	msgpack_sbuffer_destroy(&buf);
	return 0;
}
