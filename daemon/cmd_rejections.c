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
	"{\"seq\",\"reason\",\"detail\",\"topic\",\"partition\",\"offset\",\"key\",\"at\",\"raw\"}\n"
	"where raw is the message value in base64.\n"
	"\n"
	"  --data DIR     data directory (default: pledged-data)\n"
	"  --reason CODE  only this reason (e.g. bad_msgpack, not_a_backer)\n"
	"  --limit N      print at most N (default: all)\n"
	"  -h, --help     show this help\n";

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
		default: return cli_usage_error("rejections", "unknown option");
		}
	}
	if (optind < argc)
		return cli_usage_error("rejections", "unexpected argument '%s'", argv[optind]);

	struct store *st;
	struct store_txn t;
	int rc = cli_open_store("rejections", dir, false, &st);
	if (rc)
		return rc;
	if ((rc = store_read_begin(st, &t)) == 0) {
		MDB_cursor *cur = store_cursor(&t, STORE_DB_REJECTIONS);
		MDB_val k, v;
		int mrc = cur ? mdb_cursor_get(cur, &k, &v, MDB_LAST) : MDB_NOTFOUND;
		for (uint64_t n = 0; mrc == 0 && n < limit; mrc = mdb_cursor_get(cur, &k, &v, MDB_PREV)) {
			struct rejection_entry e;
			if ((rc = rejections_parse(&k, &v, &e)))
				break;
			if (only != PL_R_NONE && e.reason != only)
				continue;
			json_t *j = view_rejection(&e);
			if (!j) {
				rc = PL_ENOMEM;
				break;
			}
			json_dumpf(j, stdout, VIEW_DUMP_FLAGS);
			fputc('\n', stdout);
			json_decref(j);
			n++;
		}
		if (cur)
			mdb_cursor_close(cur);
		if (!rc && mrc && mrc != MDB_NOTFOUND)
			rc = store_error(mrc);
		store_abort(&t);
	}
	store_close(st);
	if (rc) {
		fprintf(stderr, "pledged rejections: %s\n", pl_strerror(rc));
		return CLI_STORE;
	}
	return CLI_OK;
}
