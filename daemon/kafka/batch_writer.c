/* batch_writer.c — the consumer's write thread; see batch_writer.h. */
#include "batch_writer.h"

#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "clock.h"
#include "crash_point.h"
#include "log.h"
#include "pl_error.h"

/* A batch, or the state index's work after it, this long (ms) is logged:
 * consumption stands still meanwhile. */
#define SLOW_MS 1000

enum writer_state { IDLE, SUBMITTED, WRITTEN };

struct batch_writer {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t changed; /* any change of state or stopping, both ways */
	enum writer_state state;
	bool stopping;

	batch_write_fn write;
	batch_after_fn after;
	batch_idle_fn idle;
	struct writer *writer;
	const struct ingest_msg *msgs;
	size_t n;
	const char *cluster;
	int64_t now_ms;

	int rc;
	struct ingest_stats stats;
	double seconds;
	double after_seconds; /* the after work done since the last collect */
};

/* Waits, w->lock held, for a change of state or stopping, or ms at most (0: no limit). */
static void wait_change(struct batch_writer *w, int ms)
{
	if (!ms) {
		pthread_cond_wait(&w->changed, &w->lock);
		return;
	}
	struct timespec until = clock_realtime_after(ms);
	pthread_cond_timedwait(&w->changed, &w->lock, &until);
}

/* Until a batch comes: the idle work, a share at a time, then a wait. */
static void wait_for_batch(struct batch_writer *w)
{
	bool idle_done = !w->idle;
	while (w->state != SUBMITTED && !w->stopping) {
		if (idle_done) {
			wait_change(w, 0);
			continue;
		}
		pthread_mutex_unlock(&w->lock);
		int rc = w->idle(w->writer);
		pthread_mutex_lock(&w->lock);
		if (rc == 0)
			idle_done = true;
		else if (rc < 0 && w->state != SUBMITTED && !w->stopping)
			wait_change(w, 1000);
	}
}

static void *writer_main(void *arg)
{
	struct batch_writer *w = arg;
	pthread_setname_np(pthread_self(), "pl-writer");
	pthread_mutex_lock(&w->lock);
	for (;;) {
		wait_for_batch(w);
		if (w->state != SUBMITTED)
			break; /* stopping, and nothing handed over is left unwritten */
		/* Read under the lock: once written, the next batch may replace it. */
		size_t n = w->n;
		pthread_mutex_unlock(&w->lock);
		struct ingest_stats stats = {0}; /* write leaves it alone when it fails */
		int64_t t0 = clock_mono_ms();
		int rc = w->write(w->writer, w->msgs, n, w->cluster, w->now_ms, &stats);
		double seconds = (double)(clock_mono_ms() - t0) / 1000.0;
		CRASH_POINT(WRITER_DONE);
		pthread_mutex_lock(&w->lock);
		w->rc = rc;
		w->stats = stats;
		w->seconds = seconds;
		w->state = WRITTEN;
		pthread_cond_broadcast(&w->changed);
		pthread_mutex_unlock(&w->lock);
		/* A failure here is tried again after the next batch. */
		int64_t took_us = 0;
		if (rc == 0 && w->after) {
			int64_t t1 = clock_mono_us();
			w->after(w->writer);
			/* The next batch waits meanwhile: say so when it is long. */
			took_us = clock_mono_us() - t1;
			if (took_us >= SLOW_MS * 1000 || seconds * 1000 >= SLOW_MS)
				log_info("writer: a batch of %zu messages took %.0f ms, the state "
					 "index's work after it %lld ms",
					 n, seconds * 1000, (long long)(took_us / 1000));
		}
		pthread_mutex_lock(&w->lock);
		w->after_seconds += (double)took_us / 1e6;
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int batch_writer_start(struct batch_writer **out, batch_write_fn write, batch_after_fn after,
		       batch_idle_fn idle, struct writer *writer)
{
	struct batch_writer *w = calloc(1, sizeof *w);
	if (!w)
		return PL_ENOMEM;
	w->write = write;
	w->after = after;
	w->idle = idle;
	w->writer = writer;
	w->state = IDLE;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->changed, NULL);
	if (pthread_create(&w->thread, NULL, writer_main, w)) {
		pthread_cond_destroy(&w->changed);
		pthread_mutex_destroy(&w->lock);
		free(w);
		return PL_ENOMEM;
	}
	*out = w;
	return PL_OK;
}

void batch_writer_submit(struct batch_writer *w, const struct ingest_msg *msgs, size_t n,
			 const char *cluster, int64_t now_ms)
{
	pthread_mutex_lock(&w->lock);
	assert(w->state == IDLE);
	w->msgs = msgs;
	w->n = n;
	w->cluster = cluster;
	w->now_ms = now_ms;
	w->state = SUBMITTED;
	pthread_cond_broadcast(&w->changed);
	pthread_mutex_unlock(&w->lock);
}

bool batch_writer_done(struct batch_writer *w)
{
	pthread_mutex_lock(&w->lock);
	bool done = w->state == WRITTEN;
	pthread_mutex_unlock(&w->lock);
	return done;
}

int batch_writer_collect(struct batch_writer *w, struct ingest_stats *stats, double *seconds,
			 double *after_seconds)
{
	pthread_mutex_lock(&w->lock);
	assert(w->state != IDLE);
	while (w->state == SUBMITTED)
		pthread_cond_wait(&w->changed, &w->lock);
	int rc = w->rc;
	*stats = w->stats;
	*seconds = w->seconds;
	*after_seconds = w->after_seconds;
	w->after_seconds = 0;
	w->state = IDLE;
	pthread_mutex_unlock(&w->lock);
	return rc;
}

void batch_writer_stop(struct batch_writer *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	pthread_cond_broadcast(&w->changed);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL); /* after the batch in hand, if any, is written */
	pthread_cond_destroy(&w->changed);
	pthread_mutex_destroy(&w->lock);
	free(w);
}
