/* cmd_dump.c — `pledged dump`: print log entries as JSON lines. */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "commands.h"
#include "pl_error.h"
#include "views.h"

static const char usage[] =
	"Usage: pledged dump [--data DIR] [--from SEQ] [--limit N]\n"
	"\n"
	"Print event log entries, oldest first, one JSON object per line:\n"
	"{\"seq\",\"topic\",\"partition\",\"offset\",\"appended_at\",\"erased\",\"event\":{…}}\n"
	"erased is true when an erasure (supporter.forgotten) overwrote the entry's\n"
	"personal fields.\n"
	"\n"
	"  --data DIR   data directory (default: pledged-data)\n"
	"  --from SEQ   start at this sequence number (default 1)\n"
	"  --limit N    print at most N entries (default: all)\n"
	"  -h, --help   show this help\n"
	"\n"
	"Exit status: 0 printed, 1 the output could not all be written (a full disk),\n"
	"2 usage, 3 data dir unusable or an entry damaged (the entries before it are\n"
	"printed).\n";

struct listing {
	uint64_t from_seq;
	uint64_t left;
};

static int print_entry(const struct evlog_entry *e, void *arg)
{
	struct listing *l = arg;
	if (l->left-- == 0)
		return 1;
	return cli_print_json(view_log_entry(e));
}

static int print_log(struct store_txn *t, void *arg)
{
	struct listing *l = arg;
	uint64_t bad = 0;
	int rc = evlog_each(t, l->from_seq, print_entry, l, &bad);
	if (rc == PL_ECHECKSUM || rc == PL_ECORRUPT)
		fprintf(stderr, "pledged dump: log entry %llu is damaged (%s); run 'pledged verify'\n",
			(unsigned long long)bad, pl_strerror(rc));
	return rc;
}

int cmd_dump(int argc, char **argv)
{
	static const struct option opts[] = {{"data", required_argument, NULL, 'd'},
					     {"from", required_argument, NULL, 'f'},
					     {"limit", required_argument, NULL, 'l'},
					     {"help", no_argument, NULL, 'h'},
					     {0}};
	const char *dir = "pledged-data";
	uint64_t from_seq = 1, limit = UINT64_MAX;
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'f':
			if (!cli_parse_u64(optarg, &from_seq))
				return cli_usage_error("dump", "--from wants a sequence number, not '%s'", optarg);
			break;
		case 'l':
			if (!cli_parse_u64(optarg, &limit))
				return cli_usage_error("dump", "--limit wants a count, not '%s'", optarg);
			break;
		case 'h': fputs(usage, stdout); return CLI_OK;
		default: return cli_option_error("dump");
		}
	}
	if (optind < argc)
		return cli_usage_error("dump", "unexpected argument '%s'", argv[optind]);

	struct listing l = {from_seq, limit};
	return cli_read("dump", dir, print_log, &l);
}
