/*
 * test_pages.c — store_check_pages() on states LMDB makes that a stricter
 * walk would call damage: a large value made smaller in the transaction
 * that wrote it keeps its overflow pages (LMDB rewrites it in place), so
 * its first page counts more pages than the value needs. Damage proper is
 * tested on real data dirs by test_damage.sh.
 */
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

int main(void)
{
	test_value_shrunk_in_place();
	return check_done();
}
