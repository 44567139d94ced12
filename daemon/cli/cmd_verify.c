/*
 * cmd_verify.c — `pledged verify`: recompute the projections from the log and
 * compare them byte for byte with the stored ones.
 */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "commands.h"
#include "pl_error.h"
#include "replay.h"

static const char usage[] =
	"Usage: pledged verify [--data DIR]\n"
	"\n"
	"Recompute every projection from the event log (in a transaction that is\n"
	"then thrown away) and compare it with the stored projections.\n"
	"\n"
	"  --data DIR   data directory (default: pledged-data)\n"
	"  -h, --help   show this help\n"
	"\n"
	"Exit status: 0 they match, 1 they differ (the first difference is printed),\n"
	"2 usage, 3 data dir unusable.\n";

struct verify_job {
	struct replay_result res;
	int differs;
	char diff[512];
};

static int verify_txn(struct store_txn *t, void *arg)
{
	struct verify_job *job = arg;
	struct replay_options all = {0};
	int rc = replay_into(t, PROJ_SCRATCH, &all, &job->res);
	if (rc == 0 && (job->res.outcome == REPLAY_OK || job->res.outcome == REPLAY_EMPTY)) {
		rc = proj_compare(t, job->diff, sizeof job->diff);
		if (rc > 0)
			job->differs = 1;
	}
	/* Never keep what verify computed. */
	return rc < 0 ? rc : 1;
}

int cmd_verify(int argc, char **argv)
{
	static const struct option opts[] = {{"data", required_argument, NULL, 'd'},
					     {"help", no_argument, NULL, 'h'},
					     {0}};
	const char *dir = "pledged-data";
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'h': fputs(usage, stdout); return CLI_OK;
		default: return cli_usage_error("verify", "unknown option");
		}
	}
	if (optind < argc)
		return cli_usage_error("verify", "unexpected argument '%s'", argv[optind]);

	struct store *st;
	int rc = cli_open_store("verify", dir, false, 0, &st);
	if (rc)
		return rc;
	struct verify_job job = {0};
	rc = store_run_write(st, verify_txn, &job);
	store_close(st);
	if (rc < 0) {
		fprintf(stderr, "pledged verify: %s\n", pl_strerror(rc));
		return CLI_STORE;
	}
	const struct replay_result *r = &job.res;
	if (r->outcome == REPLAY_INCONSISTENT || r->outcome == REPLAY_UNREADABLE) {
		printf("MISMATCH: %s: entry %llu: %s: %s\n", replay_outcome_text(r->outcome),
		       (unsigned long long)r->failed_seq, pl_reason_code(r->rejection.reason),
		       r->rejection.detail);
		return CLI_MISMATCH;
	}
	if (job.differs) {
		printf("MISMATCH: %s\n", job.diff);
		return CLI_MISMATCH;
	}
	printf("OK: projections match the log (%llu entries)\n", (unsigned long long)r->applied);
	return CLI_OK;
}
