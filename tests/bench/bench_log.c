/* bench_log.c — the bench's log through the real ingest path; see bench_log.h. */
#include "bench_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_events.h"
#include "ingest.h"
#include "writer.h"

uint64_t bench_fill_log(struct store *st, uint64_t events, const char *who)
{
	enum { BATCH = 5000 };
	static msgpack_sbuffer bufs[BATCH];
	static struct ingest_msg msgs[BATCH];
	static char keys[BATCH][32];
	struct bench_stream s;
	struct ingest_stats stats = {0};
	/* serve's settings, not the test fixture's (which moves and flushes far more often) */
	struct writer w;
	struct slot_options opt = {0};
	struct replay_result opened;
	if (writer_open(&w, st, &opt, &opened)) {
		fprintf(stderr, "%s: cannot open a writer\n", who);
		exit(1);
	}
	bench_stream_init(&s, 100, 42);
	for (int i = 0; i < BATCH; i++)
		msgpack_sbuffer_init(&bufs[i]);
	for (uint64_t done = 0; done < events;) {
		size_t n = 0;
		for (; n < BATCH && done < events; n++, done++) {
			bench_stream_next(&s, &bufs[n]);
			memcpy(keys[n], s.key, sizeof keys[n]);
			msgs[n] = (struct ingest_msg){.src = {"bench", 5, 0, (int64_t)done},
						      .key = keys[n], .key_len = strlen(keys[n]),
						      .value = bufs[n].data, .value_len = bufs[n].size};
		}
		if (ingest_batch(&w, msgs, n, "", 1700000000000, &stats) || writer_maintain(&w, 2)) {
			fprintf(stderr, "%s: ingest failed\n", who);
			exit(1);
		}
	}
	writer_close(&w);
	for (int i = 0; i < BATCH; i++)
		msgpack_sbuffer_destroy(&bufs[i]);
	bench_stream_deinit(&s);
	return stats.last_seq;
}
