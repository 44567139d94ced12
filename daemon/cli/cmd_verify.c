/*
 * cmd_verify.c — `pledged verify`: check every table for damaged pages,
 * every log entry and rejection against its checksum, and the live
 * projections against a replay of the log, on one snapshot, while serve
 * goes on (verify.h).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "commands.h"
#include "pl_error.h"
#include "scratch.h"
#include "verify.h"

static const char usage[] =
	"Usage: pledged verify [--data DIR] [--scratch DIR]\n"
	"\n"
	"Check one snapshot of the data dir, without stopping serve: LMDB's pages and\n"
	"every table's rows for damage, every log entry and rejection against its\n"
	"checksum, then the live projections against a replay of the log into a\n"
	"scratch data dir (what readers see byte for byte, and the state the rules\n"
	"keep entry for entry).\n"
	"\n"
	"  --data DIR      data directory (default: pledged-data)\n"
	"  --scratch DIR   where to make the scratch data dir, removed afterwards\n"
	"                  (default: $TMPDIR or /tmp); it needs about as much room as\n"
	"                  the data dir's projections\n"
	"  -h, --help      show this help\n"
	"\n"
	"Exit status: 0 all match, 1 a difference, a damaged entry or a damaged table\n"
	"(the first is printed), 2 usage, 3 data dir unusable.\n";

int cmd_verify(int argc, char **argv)
{
	static const struct option opts[] = {{"data", required_argument, NULL, 'd'},
					     {"scratch", required_argument, NULL, 's'},
					     {"help", no_argument, NULL, 'h'},
					     {0}};
	const char *dir = "pledged-data", *scratch_parent = getenv("TMPDIR");
	if (scratch_parent && !*scratch_parent)
		scratch_parent = NULL; /* TMPDIR set empty: unset, not a --scratch '' */
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 's': scratch_parent = optarg; break;
		case 'h': fputs(usage, stdout); return CLI_OK;
		default: return cli_option_error("verify");
		}
	}
	if (optind < argc)
		return cli_usage_error("verify", "unexpected argument '%s'", argv[optind]);
	if (scratch_parent && !*scratch_parent)
		return cli_usage_error("verify", "--scratch wants a directory, not ''");

	char scratch[4200];
	snprintf(scratch, sizeof scratch, "%s/pledged-verify-XXXXXX", scratch_parent ? scratch_parent : "/tmp");
	struct store *st;
	int rc = cli_open_store("verify", dir, CLI_READ, 0, &st);
	if (rc)
		return rc;
	cli_scratch_sweep("verify", scratch, "a scratch dir");
	if (cli_scratch_make(scratch)) {
		fprintf(stderr, "pledged verify: cannot make a scratch directory in %s: %m (give "
				"--scratch DIR, a directory this user may write with room for the "
				"projections)\n",
			scratch_parent ? scratch_parent : "/tmp");
		store_close(st);
		return CLI_STORE;
	}
	struct verify_report rep;
	struct slot_options sopt = {0};
	rc = verify_run(st, scratch, &sopt, &rep);
	cli_scratch_end();
	store_close(st);
	if (rc)
		return cli_scratch_store_error("verify", rc, scratch_parent, "--scratch DIR");
	if (rep.page_damaged) {
		printf("DAMAGED: %s: page %llu " STORE_PAGE_DAMAGE "; the next write could overwrite "
		       "pages in use: stop serve and imports, and restore the data dir from a backup\n",
		       rep.damaged_page.where, (unsigned long long)rep.damaged_page.page);
		return CLI_MISMATCH;
	}
	if (rep.table_damaged) {
		printf("DAMAGED: LMDB's pages of table '%s': a large value's pages do not match it (the "
		       "next write that deletes it would fail), or a seek misses a row; restore the "
		       "data dir from a backup\n",
		       store_db_name(rep.damaged_table));
		return CLI_MISMATCH;
	}
	const struct replay_result *r = &rep.replay.result;
	if (r->outcome == REPLAY_DAMAGED) {
		printf("DAMAGED: log entry %llu does not match its checksum, or is missing or out of "
		       "its place (LMDB's pages lost or moved it)\n",
		       (unsigned long long)r->failed_seq);
		return CLI_MISMATCH;
	}
	if (r->outcome != REPLAY_OK) {
		printf("MISMATCH: %s: entry %llu: %s: %s\n", replay_outcome_text(r->outcome),
		       (unsigned long long)r->failed_seq, pl_reason_code(r->rejection.reason),
		       r->rejection.detail);
		return CLI_MISMATCH;
	}
	if (rep.free_pages_damaged) {
		printf("DAMAGED: LMDB's list of free pages, which the next write reads: restore the "
		       "data dir from a backup (readers still work)\n");
		return CLI_MISMATCH;
	}
	if (rep.bad_rejection) {
		printf("DAMAGED: rejection %llu does not match its checksum\n",
		       (unsigned long long)rep.bad_rejection);
		return CLI_MISMATCH;
	}
	if (rep.differs) {
		printf("MISMATCH: %s\n", rep.diff);
		return CLI_MISMATCH;
	}
	printf("OK: projections match the log (%llu entries, checksums intact)\n",
	       (unsigned long long)r->applied);
	return CLI_OK;
}
