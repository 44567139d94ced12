/*
 * cmd_upgrade.c — `pledged upgrade`: bring a data dir written by an older
 * pledged to this one's format, in place (upgrade.h).
 */
#include <getopt.h>
#include <stdio.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "pl_error.h"
#include "upgrade.h"

static const char usage[] =
	"Usage: pledged upgrade [--data DIR]\n"
	"\n"
	"Bring a data dir written by an older pledged (format 1 to 6) to this one's\n"
	"format (7), in place. From format 6 only the format's number changes.\n"
	"From format 5 the staged comments move into the comments table. From\n"
	"formats 1 to 4 the projections are rebuilt from the log (with the\n"
	"history and platform totals format 3 added, written behind as format 4\n"
	"does, each campaign's history under one key and new comments staged as\n"
	"formats 5 to 7 keep them); from format 1 the log entries and rejections\n"
	"are first rewritten with checksums. Stop serve first: it refuses while any\n"
	"process has the data dir open (a serve --read-only, verify, backup, or an\n"
	"LMDB tool), naming it.\n"
	"Take a backup first ('pledged backup' of the old version). Interrupted, it\n"
	"goes on where it stopped when run again; until it has finished, every\n"
	"other command refuses the data dir.\n"
	"\n"
	"  --data DIR   data directory (default: pledged-data)\n"
	"  -h, --help   show this help\n"
	"\n"
	"Exit status: 0 done (or nothing to do), 1 a log entry does not apply, 2 usage,\n"
	"3 data dir damaged, unusable or in use.\n";

static void show_step(const char *step, void *arg)
{
	(void)arg;
	fprintf(stderr, "pledged upgrade: %s\n", step);
}

int cmd_upgrade(int argc, char **argv)
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
		default: return cli_option_error("upgrade");
		}
	}
	if (optind < argc)
		return cli_usage_error("upgrade", "unexpected argument '%s'", argv[optind]);

	int locks[2];
	int rc = cli_lock_both("upgrade", dir, locks);
	if (rc)
		return rc;
	/* Its transactions would wait behind another's for good, or rewrite
	 * tables under a reader. */
	if ((rc = cli_check_alone("upgrade", dir)))
		goto out;
	struct store *st;
	struct store_options opt = {.old_format = true};
	int err = store_open(&st, dir, &opt);
	if (err) {
		rc = cli_open_store("upgrade", dir, CLI_WRITE, 0, &st); /* says why, in words */
		if (rc == CLI_OK) {
			store_close(st);
			rc = CLI_STORE;
		}
		goto out;
	}
	struct upgrade_report rep;
	err = upgrade_run(st, show_step, NULL, &rep);
	store_close(st);
	if (err == PL_ECORRUPT && rep.rebuild.result.outcome != REPLAY_OK) {
		rc = cli_print_replay_failure("upgrade", &rep.rebuild.result);
	} else if (err == PL_ECORRUPT) {
		fprintf(stderr, "pledged upgrade: the data dir is damaged (%s: LMDB's pages lead "
				"nowhere sound); restore it from the backup made before the upgrade\n",
			pl_strerror(err));
		rc = CLI_STORE;
	} else if (err) {
		fprintf(stderr, "pledged upgrade: %s; run it again to go on\n", pl_strerror(err));
		rc = CLI_STORE;
	} else if (rep.from_format == STORE_FORMAT) {
		fprintf(stderr, "pledged upgrade: '%s' is of format %d already; nothing to do\n", dir,
			STORE_FORMAT);
	} else {
		fprintf(stderr, "pledged upgrade: '%s' is of format %d now (%llu log entries and %llu "
				"rejections rewritten, projections %s)\n",
			dir, STORE_FORMAT, (unsigned long long)rep.log_entries,
			(unsigned long long)rep.rejections, rep.rebuilt ? "rebuilt" : "kept");
	}
out:
	close(locks[1]);
	close(locks[0]);
	return rc;
}
