/* cmd_rejections.c — `pledged rejections`: list refused messages, newest first. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "pl_error.h"
#include "views.h"

static const char usage[] =
	"Usage: pledged rejections [--data DIR] [--reason CODE] [--limit N]\n"
	"\n"
	"Print rejected messages, newest first, one JSON object per line:\n"
	"{\"seq\",\"reason\",\"detail\",\"event_id\",\"event_type\",\"topic\",\"partition\",\n"
	" \"offset\",\"key\",\"at\",\"raw\",\"erased\"}\n"
	"where raw is the message value in base64, and event_id and event_type are\n"
	"null when the message could not be read that far. erased is true when an\n"
	"erasure (supporter.forgotten) dropped the raw bytes of a message naming the\n"
	"supporter.\n"
	"\n"
	"  --data DIR     data directory (default: pledged-data)\n"
	"  --reason CODE  only this reason (e.g. bad_msgpack, not_a_backer)\n"
	"  --limit N      print at most N (default: all)\n"
	"  -h, --help     show this help\n"
	"\n"
	"Exit status: 0 printed, 1 the output could not all be written (a full disk),\n"
	"2 usage (an unknown reason too), 3 data dir unusable or a rejection damaged.\n";

struct listing {
	enum pl_reason only;
	uint64_t left;
	uint64_t last_seen; /* the sequence of the last rejection read: 0 before the first */
};

static int print_rejection(const struct rejection_entry *e, void *arg)
{
	struct listing *l = arg;
	if (l->left == 0)
		return 1;
	l->last_seen = e->seq;
	if (l->only != PL_R_NONE && e->reason != l->only)
		return 0;
	l->left--;
	int rc = cli_print_json(view_rejection(e));
	return rc ? rc : l->left == 0; /* the last asked for: read no further */
}

static int print_rejections(struct store_txn *t, void *arg)
{
	struct listing *l = arg;
	int rc = rejections_each(t, 0, print_rejection, l);
	if (rc == PL_ECHECKSUM || rc == PL_ECORRUPT) {
		/* Sequences have no gaps: the damaged one is the next older. */
		if (l->last_seen)
			fprintf(stderr, "pledged rejections: rejection %llu is damaged (%s); the newer "
					"ones were read; run 'pledged verify'\n",
				(unsigned long long)l->last_seen - 1, pl_strerror(rc));
		else
			fprintf(stderr, "pledged rejections: the newest rejection is damaged (%s); run "
					"'pledged verify'\n",
				pl_strerror(rc));
	}
	return rc;
}

int cmd_rejections(int argc, char **argv)
{
	static const struct option opts[] = {{"data", required_argument, NULL, 'd'},
					     {"reason", required_argument, NULL, 'r'},
					     {"limit", required_argument, NULL, 'l'},
					     {"help", no_argument, NULL, 'h'},
					     {0}};
	const char *dir = "pledged-data";
	uint64_t limit = UINT64_MAX;
	enum pl_reason only = PL_R_NONE;
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'r':
			only = pl_reason_from_code(optarg, strlen(optarg));
			if (only == PL_R_NONE)
				return cli_usage_error("rejections", "unknown reason '%s'", optarg);
			break;
		case 'l':
			if (!cli_parse_u64(optarg, &limit))
				return cli_usage_error("rejections", "--limit wants a count, not '%s'", optarg);
			break;
		case 'h': fputs(usage, stdout); return CLI_OK;
		default: return cli_option_error("rejections");
		}
	}
	if (optind < argc)
		return cli_usage_error("rejections", "unexpected argument '%s'", argv[optind]);

	struct listing l = {only, limit, 0};
	return cli_read("rejections", dir, print_rejections, &l);
}
