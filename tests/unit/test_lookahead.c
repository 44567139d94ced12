/*
 * test_lookahead.c — walking the log with lookahead_log(), on its second
 * thread (a long walk) and on the caller's own: every entry once, in order,
 * with its own decoding (long comments among them, which fill the
 * decoder's blocks by bytes before their count); a stop by the callback; a damaged entry reported
 * after every entry before it; and a walk whose transaction is older than
 * the last commit, which no second thread can see as it does.
 */
#include <dirent.h>
#include <time.h>

#include "check.h"
#include "fixture.h"
#include "lookahead.h"

enum { ENTRIES = 10000, DAMAGED = 6000 };

/* Threads of this process now (the decoder is one more while it runs). */
static int threads(void)
{
	DIR *d = opendir("/proc/self/task");
	int n = 0;
	for (struct dirent *e; d && (e = readdir(d));)
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

/*
 * Waits (up to 2 s) for the threads to be n again, and says whether they
 * are: a thread joined may still be listed for a moment.
 */
static bool threads_back_to(int n)
{
	for (int i = 0; i < 2000 && threads() != n; i++)
		nanosleep(&(struct timespec){0, 1000000}, NULL);
	return threads() == n;
}

/* The threads of this test between walks. */
static int before;

struct walk {
	uint64_t next;   /* the seq expected next */
	uint64_t stop_at; /* fn stops (returns 7) at this one; 0: never */
	size_t seen;
	int threads; /* at the first entry */
	bool bad;    /* an entry out of order, or not its own event */
};

static int on_entry(const struct evlog_entry *e, const struct decoded *d, void *arg)
{
	struct walk *w = arg;
	if (!w->seen)
		w->threads = threads();
	w->seen++;
	/* Entry i is the event "ev-i" (the campaign's opening is ev-1). */
	char id[32];
	snprintf(id, sizeof id, "ev-%llu", (unsigned long long)e->seq);
	struct pl_str got = d->rc == 0 ? pl_event_str(&d->ev, PL_F_ID) : (struct pl_str){"", 0};
	if (e->seq != w->next || got.len != strlen(id) || memcmp(got.ptr, id, got.len))
		w->bad = true;
	w->next = e->seq + 1;
	return e->seq == w->stop_at ? 7 : 0;
}

/* Walks st's log from from_seq in a read transaction begun now. */
static int walk(struct store *st, uint64_t from_seq, struct walk *w, uint64_t *bad_seq)
{
	CHECK(threads_back_to(before));
	struct store_txn t;
	CHECK_INT(store_read_begin(st, &t), 0);
	w->next = from_seq;
	int rc = lookahead_log(&fixture_writer(st)->live, &t, from_seq, on_entry, w, bad_seq);
	store_abort(&t);
	return rc;
}

static void fill(struct store *st)
{
	static char json[4400], text[3901];
	memset(text, 'x', sizeof text - 1);
	snprintf(json, sizeof json,
		 "{\"v\":1,\"type\":\"campaign.opened\",\"id\":\"ev-1\",\"at\":1578132000000,"
		 "\"campaign\":\"la\",\"title\":\"t\",\"owner\":\"o\",\"currency\":\"GBP\"}");
	CHECK_INT(fixture_ingest(st, json), PL_R_NONE);
	for (int i = 2; i <= ENTRIES; i++) {
		if (i >= 200 && i < 3000 && i % 4 == 0) /* by s1, a backer by then */
			snprintf(json, sizeof json,
				 "{\"v\":1,\"type\":\"comment.posted\",\"id\":\"ev-%d\",\"at\":1578132000001,"
				 "\"campaign\":\"la\",\"comment\":\"c-%d\",\"supporter\":\"s1\",\"text\":\"%s\"}",
				 i, i, text);
		else
			snprintf(json, sizeof json,
				 "{\"v\":1,\"type\":\"pledge.created\",\"id\":\"ev-%d\",\"at\":1578132000001,"
				 "\"campaign\":\"la\",\"pledge\":\"p-%d\",\"supporter\":\"s%d\",\"amount\":5,"
				 "\"currency\":\"GBP\"}",
				 i, i, i % 97);
		if (fixture_ingest(st, json) != PL_R_NONE)
			CHECK(!"an event was refused");
	}
}

/* Flips the last byte of the log entry at seq: its checksum no longer matches. */
static void damage(struct store *st, uint64_t seq)
{
	struct store_txn t;
	uint8_t key[8], copy[4096];
	MDB_val v;
	for (int i = 0; i < 8; i++)
		key[i] = (uint8_t)(seq >> (56 - 8 * i));
	CHECK_INT(store_write_begin(st, &t), 0);
	CHECK_INT(store_get(&t, STORE_DB_LOG, key, sizeof key, &v), 0);
	CHECK(v.mv_size <= sizeof copy);
	memcpy(copy, v.mv_data, v.mv_size);
	copy[v.mv_size - 1] ^= 0x55;
	store_put(&t, STORE_DB_LOG, key, sizeof key, copy, v.mv_size, 0);
	CHECK_INT(store_commit(&t), 0);
}

int main(void)
{
	char dir[256];
	struct store *st = fixture_store(dir, sizeof dir, 0);
	fill(st);
	before = threads();

	/* The whole log: on the second thread. */
	struct walk w = {0};
	uint64_t bad_seq = 42;
	CHECK_INT(walk(st, 1, &w, &bad_seq), 0);
	CHECK_INT(w.seen, ENTRIES);
	CHECK(!w.bad);
	CHECK_INT(w.threads, before + 1);
	CHECK_INT(bad_seq, 42);
	CHECK(threads_back_to(before)); /* and it is gone */

	/* The last few: on the caller's. */
	w = (struct walk){0};
	CHECK_INT(walk(st, ENTRIES - 99, &w, &bad_seq), 0);
	CHECK_INT(w.seen, 100);
	CHECK(!w.bad);
	CHECK_INT(w.threads, before);

	/* The callback stops the walk, which returns its value. */
	w = (struct walk){.stop_at = 5000};
	CHECK_INT(walk(st, 1, &w, &bad_seq), 7);
	CHECK_INT(w.seen, 5000);
	CHECK(!w.bad);

	/* A transaction older than the last commit: the walk sees what it sees. */
	struct store_txn old;
	CHECK(threads_back_to(before));
	CHECK_INT(store_read_begin(st, &old), 0);
	CHECK_INT(fixture_ingest(st, "{\"v\":1,\"type\":\"pledge.created\",\"id\":\"ev-10001\","
				     "\"at\":1578132000002,\"campaign\":\"la\",\"pledge\":\"p-x\","
				     "\"supporter\":\"s\",\"amount\":5,\"currency\":\"GBP\"}"),
		  PL_R_NONE);
	w = (struct walk){.next = 1};
	CHECK_INT(lookahead_log(&fixture_writer(st)->live, &old, 1, on_entry, &w, &bad_seq), 0);
	store_abort(&old);
	CHECK_INT(w.seen, ENTRIES);
	CHECK(!w.bad);
	CHECK_INT(w.threads, before);

	/* A damaged entry: every one before it, then its error and position. */
	damage(st, DAMAGED);
	w = (struct walk){0};
	CHECK_INT(walk(st, 1, &w, &bad_seq), PL_ECHECKSUM);
	CHECK_INT(bad_seq, DAMAGED);
	CHECK_INT(w.seen, DAMAGED - 1);
	CHECK(!w.bad);
	CHECK_INT(w.threads, before + 1);
	/* Stopped before it, the walk knows nothing of it. */
	bad_seq = 42;
	w = (struct walk){.stop_at = 3000};
	CHECK_INT(walk(st, 1, &w, &bad_seq), 7);
	CHECK_INT(bad_seq, 42);
	CHECK_INT(w.seen, 3000);

	fixture_close(st);
	fixture_remove(dir);
	return check_done();
}
