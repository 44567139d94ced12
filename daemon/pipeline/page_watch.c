/* page_watch.c — serve's walk of LMDB's pages at start; see page_watch.h. */
#include "page_watch.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "pl_error.h"

struct page_watch {
	struct store *st;
	pthread_t thread;
	atomic_bool stop;
};

static void *watch_main(void *arg)
{
	struct page_watch *pw = arg;
	struct store_page_damage bad;
	int64_t t0 = clock_mono_ms();
	int rc, tries = 0;
	/* Given up for a growth of the map: again, from a new snapshot. */
	while ((rc = store_check_pages_until(pw->st, &bad, &pw->stop)) == PL_EBUSY &&
	       !atomic_load(&pw->stop))
		if (++tries % 10 == 0)
			usleep(100000);
	if (rc == PL_ECORRUPT) {
		store_refuse_writes(pw->st, PL_ECORRUPT);
		log_error("the data dir is damaged: %s: page %llu " STORE_PAGE_DAMAGE " (found by "
			  "the check of LMDB's pages at start); nothing more is written or read, so that the damage does not spread: stop "
			  "serve and restore the data dir from a backup ('pledged verify' on a copy "
			  "names the page)",
			  bad.where, (unsigned long long)bad.page);
	} else if (rc && rc != PL_EBUSY) {
		log_warn("could not check LMDB's pages at start (%s); serve goes on without",
			 pl_strerror(rc));
	} else if (rc == 0) {
		log_info("LMDB's pages checked in %lld ms", (long long)(clock_mono_ms() - t0));
	}
	return NULL;
}

int page_watch_start(struct page_watch **out, struct store *st)
{
	struct page_watch *pw = calloc(1, sizeof *pw);
	if (!pw)
		return PL_ENOMEM;
	pw->st = st;
	atomic_init(&pw->stop, false);
	if (pthread_create(&pw->thread, NULL, watch_main, pw)) {
		free(pw);
		return PL_ENOMEM;
	}
	*out = pw;
	return PL_OK;
}

void page_watch_stop(struct page_watch *pw)
{
	if (!pw)
		return;
	atomic_store(&pw->stop, true);
	pthread_join(pw->thread, NULL);
	free(pw);
}
