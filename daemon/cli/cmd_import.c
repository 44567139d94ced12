/*
 * cmd_import.c — `pledged import`: JSON-lines events straight into the log,
 * through the same ingest path as Kafka messages but without a broker.
 * For demos, tests and recovery from an export; gateways use Kafka.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "clock.h"
#include "commands.h"
#include "event_codec.h"
#include "ingest.h"
#include "kept_rejections.h"
#include "pl_error.h"

static const char usage[] =
	"Usage: pledged import [--data DIR] [--batch N] < events.jsonl\n"
	"\n"
	"Read events as JSON lines on stdin (the form 'pledged publish' takes, and\n"
	"refuses the same way), encode each as msgpack and apply it through the\n"
	"normal ingest path: it is validated, deduplicated by id, appended to the\n"
	"log or kept as a rejection. Lines may end in CRLF; a UTF-8 byte order mark\n"
	"before the first is ignored.\n"
	"Entries get topic \"import\", partition -1 and the line number as offset.\n"
	"No line is kept twice, in one import or in a rerun: events are known by their\n"
	"id, and lines kept as rejections by their bytes (both count as duplicates).\n"
	"Rejected lines of 16 KiB or more are kept cut short, and kept again; a line\n"
	"longer than 1 MiB, which no event is, is reported and skipped.\n"
	"\n"
	"  --data DIR   data directory, created if missing (default: pledged-data);\n"
	"               not while a serve consumes into it (publish through Kafka then)\n"
	"  --batch N    events per write transaction (default 1000)\n"
	"  -h, --help   show this help\n"
	"\n"
	"Exit status: 0 all lines read, 1 some lines were not JSON objects (they are\n"
	"reported and skipped) or stdin could not be read to its end (the lines\n"
	"before are imported), 2 usage, 3 data dir unusable.\n";

#define IMPORT_TOPIC "import"

struct pending {
	struct ingest_msg *msgs;
	msgpack_sbuffer *bufs;
	size_t n, cap;
};

/* Writes the pending lines in one batch. When the batch fails, none of
 * its lines is written: *unwritten is then its first line. */
static int flush(struct writer *w, struct pending *p, struct ingest_stats *total,
		 uint64_t *unwritten)
{
	struct ingest_stats stats;
	if (p->n == 0)
		return PL_OK;
	int rc = ingest_batch(w, p->msgs, p->n, "", clock_wall_ms(), &stats);
	if (rc == 0)
		ingest_stats_add(total, &stats);
	else
		*unwritten = (uint64_t)p->msgs[0].src.offset;
	if (rc == 0)
		rc = writer_maintain(w, 1);
	for (size_t i = 0; i < p->n; i++)
		msgpack_sbuffer_clear(&p->bufs[i]);
	p->n = 0;
	return rc;
}

int cmd_import(int argc, char **argv)
{
	static const struct option opts[] = {{"data", required_argument, NULL, 'd'},
					     {"batch", required_argument, NULL, 'b'},
					     {"help", no_argument, NULL, 'h'},
					     {0}};
	const char *dir = "pledged-data";
	uint64_t batch = 1000;
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'b':
			if (!cli_parse_u64(optarg, &batch) || batch == 0 || batch > 100000)
				return cli_usage_error("import", "--batch wants 1..100000, not '%s'", optarg);
			break;
		case 'h': fputs(usage, stdout); return CLI_OK;
		default: return cli_option_error("import");
		}
	}
	if (optind < argc)
		return cli_usage_error("import", "unexpected argument '%s'", argv[optind]);
	if (!cli_stdin_open("import"))
		return CLI_MISMATCH;

	struct store *st;
	struct writer w;
	struct slot_options sopt = {0};
	int lock_fd;
	int rc = cli_open_writer("import", dir, true, 0, CLI_PAGES_FIRST, &sopt, &st, &w,
				  &lock_fd);
	if (rc)
		return rc;
	struct kept_rejections kept;
	int kept_rc = kept_rejections_load(&kept, st, IMPORT_TOPIC);
	if (kept_rc)
		fprintf(stderr, "pledged import: cannot read the rejections kept so far (%s; "
				"'pledged verify' says more): a line rejected before may be kept "
				"again\n",
			pl_strerror(kept_rc));
	w.kept = &kept;
	struct pending p = {.cap = batch};
	p.msgs = calloc(batch, sizeof *p.msgs);
	p.bufs = calloc(batch, sizeof *p.bufs);
	/* Where the log stands if nothing is appended. */
	struct ingest_stats total = {.last_seq = w.live.applied_seq};
	char *line = malloc(CLI_LINE_MAX + 1);
	ssize_t len;
	bool whole;
	uint64_t lineno = 0, bad_lines = 0, unwritten = 0;
	if (!p.msgs || !p.bufs || !line)
		rc = PL_ENOMEM;
	for (size_t i = 0; rc == 0 && i < batch; i++)
		msgpack_sbuffer_init(&p.bufs[i]);
	while (rc == 0 && (len = cli_read_line(line, &whole)) >= 0) {
		lineno++;
		if (!whole) {
			cli_skip_long_line("import", lineno);
			bad_lines++;
			continue;
		}
		size_t json_len = (size_t)len;
		const char *json = cli_line_json(line, &json_len, lineno);
		if (json_len == 0)
			continue;
		char err[160];
		msgpack_sbuffer *buf = &p.bufs[p.n];
		if (pl_json_to_msgpack(json, json_len, buf, err, sizeof err)) {
			fprintf(stderr, "pledged import: line %llu skipped: %s\n",
				(unsigned long long)lineno, err);
			msgpack_sbuffer_clear(buf);
			bad_lines++;
			continue;
		}
		p.msgs[p.n++] = (struct ingest_msg){
			.src = {IMPORT_TOPIC, strlen(IMPORT_TOPIC), -1, (int64_t)lineno},
			.value = buf->data,
			.value_len = buf->size,
		};
		if (p.n == p.cap)
			rc = flush(&w, &p, &total, &unwritten);
	}
	bool unread = rc == 0 && !cli_stdin_read_whole("import", lineno);
	if (rc == 0)
		rc = flush(&w, &p, &total, &unwritten);
	if (rc == 0)
		rc = writer_checkpoint(&w);
	free(line);
	for (size_t i = 0; p.bufs && i < batch; i++)
		msgpack_sbuffer_destroy(&p.bufs[i]);
	free(p.bufs);
	free(p.msgs);
	kept_rejections_free(&kept);
	cli_close_writer(st, &w, lock_fd);
	if (rc) {
		fprintf(stderr, "pledged import: stopped at line %llu: %s", (unsigned long long)lineno,
			pl_strerror(rc));
		if (unwritten == lineno)
			fprintf(stderr, "; line %llu was not written", (unsigned long long)lineno);
		else if (unwritten)
			fprintf(stderr, "; lines %llu to %llu were not written",
				(unsigned long long)unwritten, (unsigned long long)lineno);
		if (unwritten > 1)
			fprintf(stderr, ", the lines before were");
		fprintf(stderr, "%s\n",
			rc == PL_ECHECKSUM || rc == PL_ECORRUPT
				? " (the data dir is damaged: 'pledged verify' says where; restore "
				  "it from a backup)"
				: "");
		return CLI_STORE;
	}
	uint64_t applied = 0, rejected = 0;
	for (int i = 0; i < PL_EVENT_TYPE_COUNT; i++)
		applied += total.applied[i];
	for (int i = 0; i < PL_REASON_COUNT; i++)
		rejected += total.rejected[i];
	fprintf(stderr, "pledged import: %llu applied, %llu rejected, %llu duplicates, log at %llu\n",
		(unsigned long long)applied, (unsigned long long)rejected,
		(unsigned long long)total.duplicates, (unsigned long long)total.last_seq);
	return bad_lines || unread ? CLI_MISMATCH : CLI_OK;
}
