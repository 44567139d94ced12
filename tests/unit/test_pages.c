/*
 * test_pages.c — store_check_pages() on states LMDB makes that a stricter
 * walk would call damage: a large value made smaller in the transaction
 * that wrote it keeps its overflow pages (LMDB rewrites it in place), so
 * its first page counts more pages than the value needs. And the walk
 * beside a writer: it gives way to a growth of the map rather than hold it
 * up. Damage proper is tested on real data dirs by test_damage.sh.
 */
#include <pthread.h>
#include <unistd.h>

#include "check.h"
#include "fixture.h"

static const char key[] = "test.large";

/* A 12,000-byte value (three pages), then 5,000 bytes under the same key. */
static int shrink_txn(struct store_txn *t, void *arg)
{
	static char bytes[12000];
	(void)arg;
	memset(bytes, 'x', sizeof bytes);
	store_put(t, STORE_DB_META, key, sizeof key - 1, bytes, sizeof bytes, 0);
	store_put(t, STORE_DB_META, key, sizeof key - 1, bytes, 5000, 0);
	return t->err;
}

static void test_value_shrunk_in_place(void)
{
	char dir[256];
	struct store *st = fixture_store(dir, sizeof dir, 0);
	struct store_page_damage bad;
	CHECK_INT(store_check_pages(st, &bad), PL_OK);
	CHECK_INT(store_run_write(st, shrink_txn, NULL), PL_OK);
	CHECK_INT(store_check_pages(st, &bad), PL_OK);
	CHECK_INT((int)bad.page, 0);
	fixture_close(st);
	fixture_remove(dir);
}

/* Some thousands of pages, so that a walk takes a while. */
static int fill_txn(struct store_txn *t, void *arg)
{
	static char bytes[1000];
	int *round = arg;
	for (int i = 0; i < 2000; i++) {
		char k[32];
		int n = snprintf(k, sizeof k, "test.fill.%d.%d", *round, i);
		memset(bytes, 'a' + i % 26, sizeof bytes);
		store_put(t, STORE_DB_META, k, (size_t)n, bytes, sizeof bytes, 0);
	}
	return t->err;
}

struct walker {
	struct store *st;
	atomic_bool stop;
	atomic_int walks;
	int gave_way, other;
};

static void *walk_again_and_again(void *arg)
{
	struct walker *w = arg;
	struct store_page_damage bad;
	while (!atomic_load(&w->stop)) {
		int rc = store_check_pages_until(w->st, &bad, &w->stop);
		if (rc == PL_OK)
			w->walks++;
		else if (rc == PL_EBUSY)
			w->gave_way += !atomic_load(&w->stop);
		else
			w->other++;
	}
	return NULL;
}

/* serve's walk at start (page_watch.c) holds a read transaction, which a
 * growth of the map must wait for: the walk gives its snapshot up as soon
 * as one waits, and the growth goes ahead rather than wait out the walk. */
static void test_walk_gives_way_to_growth(void)
{
	char dir[256];
	struct store *st = fixture_store(dir, sizeof dir, 0);
	for (int round = 0; round < 10; round++)
		CHECK_INT(store_run_write(st, fill_txn, &round), PL_OK);
	struct walker w = {.st = st};
	atomic_init(&w.stop, false);
	pthread_t thread;
	CHECK_INT(pthread_create(&thread, NULL, walk_again_and_again, &w), 0);
	for (int i = 0; i < 10000 && atomic_load(&w.walks) == 0; i++)
		usleep(1000);
	CHECK(atomic_load(&w.walks) > 0);
	for (int i = 0; i < 8; i++) {
		usleep(20000);
		CHECK_INT(store_grow(st), PL_OK);
	}
	/* And the walk goes on to its end once none waits. */
	int walks = atomic_load(&w.walks);
	for (int i = 0; i < 1000 && atomic_load(&w.walks) == walks; i++)
		usleep(10000);
	CHECK(atomic_load(&w.walks) > walks);
	atomic_store(&w.stop, true);
	pthread_join(thread, NULL);
	CHECK_INT(w.other, 0);
	/* Nearly every growth meets a walk under way, which gives way to it. */
	CHECK(w.gave_way >= 4);
	fixture_close(st);
	fixture_remove(dir);
}

int main(void)
{
	test_value_shrunk_in_place();
	test_walk_gives_way_to_growth();
	return check_done();
}
