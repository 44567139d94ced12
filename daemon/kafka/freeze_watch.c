/* freeze_watch.c — signs of life for ownership; see freeze_watch.h. */
#include "freeze_watch.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "log.h"
#include "pl_error.h"

#define BEAT_MS 100

struct freeze_watch {
	struct ownership *o;
	int64_t session_ms;
	pthread_t thread;
	atomic_bool stop;
};

static void *watch_main(void *arg)
{
	struct freeze_watch *fw = arg;
	pthread_setname_np(pthread_self(), "pl-alive");
	while (!atomic_load(&fw->stop)) {
		struct timespec nap = {0, BEAT_MS * 1000000L};
		nanosleep(&nap, NULL);
		if (ownership_alive(fw->o))
			log_warn("this process did not run for longer than the consumer group's "
				 "session timeout (%lld ms): the group has moved its partitions on; "
				 "campaigns wait (503) until it says what this instance holds",
				 (long long)fw->session_ms);
	}
	return NULL;
}

int freeze_watch_start(struct freeze_watch **out, struct ownership *o, int64_t session_ms)
{
	struct freeze_watch *fw = calloc(1, sizeof *fw);
	if (!fw)
		return PL_ENOMEM;
	fw->o = o;
	fw->session_ms = session_ms;
	atomic_init(&fw->stop, false);
	ownership_expect_alive(o, session_ms);
	if (pthread_create(&fw->thread, NULL, watch_main, fw)) {
		ownership_expect_alive(o, 0);
		free(fw);
		return PL_ENOMEM;
	}
	*out = fw;
	return PL_OK;
}

void freeze_watch_stop(struct freeze_watch *fw)
{
	if (!fw)
		return;
	atomic_store(&fw->stop, true);
	pthread_join(fw->thread, NULL);
	ownership_expect_alive(fw->o, 0);
	free(fw);
}
