/*
 * test_disk_full.c — a full disk stops ingestion without losing or doubling
 * anything, reads keep working, and ingestion resumes once there is space.
 *
 * Mounts a 384 KiB tmpfs (needs root; skipped with 77 elsewhere), feeds the
 * demo stream in batches until a batch fails for lack of space, checks the
 * store is intact, grows the tmpfs and feeds the rest, starting again from
 * the failed batch as the consumer does. The final figures must be exact.
 */
#include <errno.h>
#include <sys/mount.h>

#include "check.h"
#include "fixture.h"

enum { BATCH = 50 };

struct stream {
	char **lines;
	size_t count;
};

static struct stream read_lines(const char *path)
{
	struct stream s = {0};
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	if (!f)
		abort();
	while ((len = getline(&line, &cap, f)) > 0) {
		s.lines = realloc(s.lines, (s.count + 1) * sizeof *s.lines);
		s.lines[s.count++] = strndup(line, (size_t)len);
	}
	free(line);
	fclose(f);
	return s;
}

/* Ingests lines [from, from+BATCH) as one batch at their line offsets. */
static int feed(struct store *st, const struct stream *s, size_t from)
{
	msgpack_sbuffer bufs[BATCH];
	struct ingest_msg msgs[BATCH];
	struct ingest_stats stats;
	char err[160];
	size_t n = 0;
	for (; n < BATCH && from + n < s->count; n++) {
		msgpack_sbuffer_init(&bufs[n]);
		pl_json_to_msgpack(s->lines[from + n], strlen(s->lines[from + n]), &bufs[n], err, sizeof err);
		msgs[n] = (struct ingest_msg){.src = {"demo", 4, 0, (int64_t)(from + n)},
					      .value = bufs[n].data, .value_len = bufs[n].size};
	}
	int rc = ingest_batch(fixture_writer(st), msgs, n, "", 1700000000000, &stats);
	for (size_t i = 0; i < n; i++)
		msgpack_sbuffer_destroy(&bufs[i]);
	return rc;
}

/* Where consumption would resume: the stored next offset. */
static int64_t resume_offset(struct store *st)
{
	struct store_txn t;
	struct evlog_offset off = {0};
	store_read_begin(st, &t);
	int rc = evlog_offset_get(&t, "demo", 0, &off);
	store_abort(&t);
	return rc == 0 ? off.next : 0;
}

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	char dir[256];
	fixture_tmpdir(dir, sizeof dir);
	if (mount("tmpfs", dir, "tmpfs", 0, "size=384k") != 0) {
		fprintf(stderr, "cannot mount a tmpfs (%s): skipped\n", strerror(errno));
		remove(dir);
		return 77;
	}
	struct stream s = read_lines(argv[1]);
	struct store *st;
	struct store_options opt = {.create = true, .initial_map_size = 256 * 1024};
	CHECK_INT(store_open(&st, dir, &opt), 0);

	int rc = 0;
	size_t at = 0;
	while (at < s.count && (rc = feed(st, &s, at)) == 0)
		at += BATCH;
	CHECK_INT(rc, PL_ENOSPACE);
	CHECK(at > 0 && at < s.count);
	CHECK_INT(resume_offset(st), (int64_t)at); /* the failed batch left nothing */

	struct store_txn t;
	struct proj_campaign c;
	CHECK_INT(store_read_begin(st, &t), 0); /* reads still work */
	uint64_t seq;
	CHECK_INT(evlog_last_seq(&t, &seq), 0);
	CHECK(seq > 0 && seq <= at);
	store_abort(&t);
	CHECK_INT(feed(st, &s, at), PL_ENOSPACE); /* still full: still refused, still nothing */

	CHECK_INT(mount("tmpfs", dir, "tmpfs", MS_REMOUNT, "size=64m"), 0);
	for (at = (size_t)resume_offset(st); at < s.count; at += BATCH)
		CHECK_INT(feed(st, &s, at), 0);
	CHECK_INT(fixture_campaign(st, "jess-phillips-for-labour-leader", &c), 0);
	CHECK_INT(c.totals.raised, 5804100);
	CHECK_INT(c.totals.supporters, 1975);
	CHECK_INT(c.totals.comments, 10);
	CHECK_INT(c.days, 19);
	fixture_close(st);

	umount(dir);
	remove(dir);
	for (size_t i = 0; i < s.count; i++)
		free(s.lines[i]);
	free(s.lines);
	return check_done();
}
