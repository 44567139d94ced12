/*
 * test_batch_writer.c — the consumer's write thread: a batch runs on another
 * thread with the messages and cluster it was given, done() says when it is
 * written, collect() waits and hands back the write's result and stats, an
 * error comes back as it was, the after work runs after each written batch
 * (not a failed one) and its time comes back with a later collect, the
 * idle work runs while no batch comes until none is left (again a second
 * after a failure, and again after the next batch), and stop() lets a
 * write in progress finish. The thread is named pl-writer.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include "../check.h"
#include "batch_writer.h"
#include "pl_error.h"

/* The write step under test: waits until released, then reports. */
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_open = PTHREAD_COND_INITIALIZER;
static bool released;
static atomic_int calls;
static pthread_t writer_thread;
static const struct ingest_msg *seen_msgs;
static char seen_cluster[64];
static char seen_thread_name[16];
static int result;

static void release(void)
{
	pthread_mutex_lock(&gate_lock);
	released = true;
	pthread_cond_broadcast(&gate_open);
	pthread_mutex_unlock(&gate_lock);
}

static int gated_write(struct writer *wr, const struct ingest_msg *msgs, size_t n,
		       const char *cluster, int64_t now_ms, struct ingest_stats *stats)
{
	(void)wr;
	writer_thread = pthread_self();
	pthread_getname_np(writer_thread, seen_thread_name, sizeof seen_thread_name);
	seen_msgs = msgs;
	snprintf(seen_cluster, sizeof seen_cluster, "%s", cluster);
	pthread_mutex_lock(&gate_lock);
	while (!released)
		pthread_cond_wait(&gate_open, &gate_lock);
	released = false;
	pthread_mutex_unlock(&gate_lock);
	*stats = (struct ingest_stats){.duplicates = n, .last_seq = (uint64_t)now_ms};
	stats->applied[PL_EV_PLEDGE_CREATED] = msgs[0].value_len;
	atomic_fetch_add(&calls, 1);
	return result;
}

/* Releases the write 50 ms later, from another thread. */
static void *release_later(void *arg)
{
	(void)arg;
	nanosleep(&(struct timespec){.tv_nsec = 50 * 1000 * 1000}, NULL);
	release();
	return NULL;
}

static void test_batch_runs_on_its_own_thread(struct batch_writer *w)
{
	struct ingest_msg msgs[3] = {{.value_len = 7}};
	struct ingest_stats stats;
	double seconds = -1, after_seconds = -1;
	result = PL_OK;
	batch_writer_submit(w, msgs, 3, "cluster", 42);
	CHECK(!batch_writer_done(w)); /* it waits for release() */
	release();
	for (int i = 0; i < 1000000 && !batch_writer_done(w); i++)
		sched_yield();
	CHECK(batch_writer_done(w));
	CHECK_INT(batch_writer_collect(w, &stats, &seconds, &after_seconds), PL_OK);
	CHECK(!pthread_equal(writer_thread, pthread_self()));
	CHECK_STR(seen_thread_name, "pl-writer"); /* as top -H and perf show it */
	CHECK(seen_msgs == msgs);
	CHECK_STR(seen_cluster, "cluster");
	CHECK_INT(stats.duplicates, 3);
	CHECK_INT(stats.last_seq, 42);
	CHECK_INT(stats.applied[PL_EV_PLEDGE_CREATED], 7);
	CHECK(seconds >= 0);
	CHECK(after_seconds == 0); /* no after work */
	CHECK(!batch_writer_done(w)); /* collected: idle again */
}

static void test_collect_waits_and_returns_errors(struct batch_writer *w)
{
	struct ingest_msg msgs[1] = {{.value_len = 1}};
	struct ingest_stats stats;
	double seconds, after_seconds;
	pthread_t releaser;
	result = PL_ENOSPACE;
	int before = atomic_load(&calls);
	batch_writer_submit(w, msgs, 1, "", 1);
	pthread_create(&releaser, NULL, release_later, NULL);
	CHECK_INT(batch_writer_collect(w, &stats, &seconds, &after_seconds), PL_ENOSPACE);
	CHECK_INT(atomic_load(&calls), before + 1); /* collect() waited for the write */
	pthread_join(releaser, NULL);

	/* The writer goes on after a failure. */
	result = PL_OK;
	batch_writer_submit(w, msgs, 1, "", 2);
	release();
	CHECK_INT(batch_writer_collect(w, &stats, &seconds, &after_seconds), PL_OK);
	CHECK_INT(stats.last_seq, 2);
	CHECK_INT(atomic_load(&calls), before + 2);
}

/* The after work: 30 ms each time, counted. */
static atomic_int after_calls;
static int slow_after(struct writer *wr)
{
	(void)wr;
	nanosleep(&(struct timespec){.tv_nsec = 30 * 1000 * 1000}, NULL);
	atomic_fetch_add(&after_calls, 1);
	return PL_OK;
}

/* After each written batch, not a failed one; its time comes back with a collect. */
static void test_after_work_and_its_time(void)
{
	struct batch_writer *w = NULL;
	struct ingest_msg msgs[1] = {{.value_len = 1}};
	struct ingest_stats stats;
	double seconds, first, second, third;
	CHECK_INT(batch_writer_start(&w, gated_write, slow_after, NULL, NULL), PL_OK);
	result = PL_OK;
	batch_writer_submit(w, msgs, 1, "", 1);
	release();
	CHECK_INT(batch_writer_collect(w, &stats, &seconds, &first), PL_OK);
	/* The next batch is taken only once the first one's after work is done. */
	result = PL_ENOSPACE;
	batch_writer_submit(w, msgs, 1, "", 2);
	release();
	CHECK_INT(batch_writer_collect(w, &stats, &seconds, &second), PL_ENOSPACE);
	CHECK_INT(atomic_load(&after_calls), 1);
	CHECK(first + second >= 0.025); /* by one of the two: it took at least its 30 ms */
	result = PL_OK;
	batch_writer_submit(w, msgs, 1, "", 3);
	release();
	CHECK_INT(batch_writer_collect(w, &stats, &seconds, &third), PL_OK);
	batch_writer_stop(w); /* after the third one's after work */
	CHECK_INT(atomic_load(&after_calls), 2);
}

/* The idle work: shares left (idle_left), one failure on the way. */
static atomic_int idle_calls, idle_left, idle_fail_at;
static int idle_share(struct writer *wr)
{
	(void)wr;
	int call = atomic_fetch_add(&idle_calls, 1) + 1;
	if (call == atomic_load(&idle_fail_at))
		return PL_ENOSPACE;
	if (atomic_load(&idle_left) == 0)
		return 0;
	atomic_fetch_sub(&idle_left, 1);
	return 1;
}

static bool wait_for(atomic_int *v, int want)
{
	for (int i = 0; i < 300 && atomic_load(v) != want; i++)
		nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
	return atomic_load(v) == want;
}

/* While no batch comes, the idle work until it says none is left; after a
 * failure, again a second later; after the next batch, looked at again. */
static void test_idle_work(void)
{
	struct batch_writer *w = NULL;
	struct ingest_msg msgs[1] = {{.value_len = 1}};
	struct ingest_stats stats;
	double seconds, after_seconds;
	atomic_store(&idle_left, 5);
	atomic_store(&idle_fail_at, 3);
	CHECK_INT(batch_writer_start(&w, gated_write, NULL, idle_share, NULL), PL_OK);
	/* Calls 1, 2 share; 3 fails; a second later 4, 5, 6 share, 7 finds none. */
	CHECK(wait_for(&idle_left, 3)); /* the pause after the failure */
	CHECK(wait_for(&idle_calls, 7));
	CHECK_INT(atomic_load(&idle_left), 0);
	nanosleep(&(struct timespec){.tv_nsec = 100 * 1000 * 1000}, NULL);
	CHECK_INT(atomic_load(&idle_calls), 7); /* none left: it waits */
	/* A batch is taken while idle, and the idle work looked at after it. */
	atomic_store(&idle_left, 1);
	result = PL_OK;
	batch_writer_submit(w, msgs, 1, "", 5);
	release();
	CHECK_INT(batch_writer_collect(w, &stats, &seconds, &after_seconds), PL_OK);
	CHECK_INT(stats.last_seq, 5);
	CHECK(wait_for(&idle_calls, 9));
	CHECK_INT(atomic_load(&idle_left), 0);
	batch_writer_stop(w);
}

/* stop() while a batch is being written: the write finishes, then the thread ends. */
static void test_stop_during_a_write(void)
{
	struct batch_writer *w = NULL;
	struct ingest_msg msgs[1] = {{.value_len = 1}};
	pthread_t releaser;
	CHECK_INT(batch_writer_start(&w, gated_write, NULL, NULL, NULL), PL_OK);
	int before = atomic_load(&calls);
	result = PL_OK;
	batch_writer_submit(w, msgs, 1, "", 3);
	pthread_create(&releaser, NULL, release_later, NULL);
	batch_writer_stop(w);
	CHECK_INT(atomic_load(&calls), before + 1);
	pthread_join(releaser, NULL);
}

int main(void)
{
	struct batch_writer *w = NULL;
	CHECK_INT(batch_writer_start(&w, gated_write, NULL, NULL, NULL), PL_OK);
	test_batch_runs_on_its_own_thread(w);
	test_collect_waits_and_returns_errors(w);
	batch_writer_stop(w);
	test_after_work_and_its_time();
	test_idle_work();
	test_stop_during_a_write();
	batch_writer_stop(NULL);
	return check_done();
}
