/*
 * cmd_replay.c — `pledged replay`: rebuild projections from the log, whole
 * or up to a point in the log or in time; or, with --dry-run, only show the
 * campaigns such a rebuild would give.
 */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "commands.h"
#include "pl_error.h"
#include "replay.h"
#include "views.h"

static const char usage[] =
	"Usage: pledged replay [--data DIR] [--until-seq N | --until-time TIME] [--dry-run]\n"
	"\n"
	"Rebuild every projection from the event log, in one transaction: readers\n"
	"see the old projections until the rebuilt ones are complete. A running\n"
	"serve waits for the rebuild before its next batch.\n"
	"\n"
	"With --until-*, the projections are rebuilt from part of the log only, so\n"
	"they show the campaigns as they stood then; run 'pledged replay' without it\n"
	"to bring them back to the whole log (verify reports the difference until\n"
	"then). With --dry-run nothing is written: the campaigns the rebuild would\n"
	"give are printed as JSON lines (a point-in-time audit).\n"
	"\n"
	"  --data DIR         data directory (default: pledged-data)\n"
	"  --until-seq N      replay log entries 1..N only\n"
	"  --until-time TIME  replay events whose time is at or before TIME, given as\n"
	"                     Unix milliseconds or UTC like 2020-01-15T12:00:00Z\n"
	"  --dry-run          print the campaigns instead of writing the projections\n"
	"  -h, --help         show this help\n"
	"\n"
	"Exit status: 0 done, 1 a log entry did not apply, 2 usage, 3 data dir unusable.\n";

struct replay_job {
	struct replay_options opt;
	bool dry_run;
	struct replay_result res;
};

static int print_campaign(const struct proj_campaign *c, void *arg)
{
	(void)arg;
	return cli_print_json(view_campaign(c));
}

/* Positive return: done, abort the transaction on purpose. */
#define JOB_DONE_ABORT 1

static int replay_txn(struct store_txn *t, void *arg)
{
	struct replay_job *job = arg;
	enum proj_set set = job->dry_run ? PROJ_SCRATCH : PROJ_LIVE;
	int rc = replay_into(t, set, &job->opt, &job->res);
	if (rc)
		return rc;
	if (job->res.outcome == REPLAY_INCONSISTENT || job->res.outcome == REPLAY_UNREADABLE)
		return JOB_DONE_ABORT;
	if (job->dry_run) {
		rc = proj_campaign_each(t, PROJ_SCRATCH, print_campaign, NULL);
		return rc ? rc : JOB_DONE_ABORT;
	}
	return t->err;
}

int cmd_replay(int argc, char **argv)
{
	static const struct option opts[] = {{"data", required_argument, NULL, 'd'},
					     {"until-seq", required_argument, NULL, 's'},
					     {"until-time", required_argument, NULL, 't'},
					     {"dry-run", no_argument, NULL, 'n'},
					     {"help", no_argument, NULL, 'h'},
					     {0}};
	const char *dir = "pledged-data";
	struct replay_job job = {0};
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 's':
			if (!cli_parse_u64(optarg, &job.opt.until_seq) || job.opt.until_seq == 0)
				return cli_usage_error("replay", "--until-seq wants a sequence number >= 1, not '%s'", optarg);
			break;
		case 't':
			if (!cli_parse_time(optarg, &job.opt.until_time))
				return cli_usage_error("replay", "--until-time wants Unix ms or YYYY-MM-DDTHH:MM:SSZ, not '%s'", optarg);
			job.opt.has_until_time = true;
			break;
		case 'n': job.dry_run = true; break;
		case 'h': fputs(usage, stdout); return CLI_OK;
		default: return cli_usage_error("replay", "unknown option");
		}
	}
	if (optind < argc)
		return cli_usage_error("replay", "unexpected argument '%s'", argv[optind]);

	struct store *st;
	int rc = cli_open_store("replay", dir, false, 0, &st);
	if (rc)
		return rc;
	rc = store_run_write(st, replay_txn, &job);
	store_close(st);
	if (rc < 0) {
		fprintf(stderr, "pledged replay: %s; nothing was changed\n", pl_strerror(rc));
		return CLI_STORE;
	}
	const struct replay_result *r = &job.res;
	if (r->outcome == REPLAY_INCONSISTENT || r->outcome == REPLAY_UNREADABLE) {
		fprintf(stderr, "pledged replay: %s: entry %llu: %s: %s; nothing was changed\n",
			replay_outcome_text(r->outcome), (unsigned long long)r->failed_seq,
			pl_reason_code(r->rejection.reason), r->rejection.detail);
		return CLI_MISMATCH;
	}
	bool partial = job.opt.until_seq || job.opt.has_until_time;
	fprintf(stderr, "pledged replay: %s %llu entries (last %llu)", replay_outcome_text(r->outcome),
		(unsigned long long)r->applied, (unsigned long long)r->last_seq);
	if (r->skipped_time || r->skipped_dependent)
		fprintf(stderr, ", left out %llu later events and %llu that depend on them",
			(unsigned long long)r->skipped_time, (unsigned long long)r->skipped_dependent);
	if (job.dry_run)
		fprintf(stderr, "; dry run, nothing was changed\n");
	else if (partial)
		fprintf(stderr, "; the projections now stop at that point: run 'pledged replay' "
				"to bring them back to the whole log\n");
	else
		fprintf(stderr, "; projections rebuilt\n");
	return CLI_OK;
}
