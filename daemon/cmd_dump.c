/* cmd_dump.c — `pledged dump`: print log entries as JSON lines. */
#include <getopt.h>
#include <stdio.h>

#include "bytes.h"
#include "cli.h"
#include "commands.h"
#include "pl_error.h"
#include "views.h"

static const char usage[] =
	"Usage: pledged dump [--data DIR] [--from SEQ] [--limit N]\n"
	"\n"
	"Print event log entries, oldest first, one JSON object per line:\n"
	"{\"seq\",\"topic\",\"partition\",\"offset\",\"appended_at\",\"event\":{…}}\n"
	"\n"
	"  --data DIR   data directory (default: pledged-data)\n"
	"  --from SEQ   start at this sequence number (default 1)\n"
	"  --limit N    print at most N entries (default: all)\n"
	"  -h, --help   show this help\n";

int cmd_dump(int argc, char **argv)
{
	static const struct option opts[] = {{"data", required_argument, NULL, 'd'},
					     {"from", required_argument, NULL, 'f'},
					     {"limit", required_argument, NULL, 'l'},
					     {"help", no_argument, NULL, 'h'},
					     {0}};
	const char *dir = "pledged-data";
	uint64_t from = 1, limit = UINT64_MAX;
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'f':
			if (!cli_parse_u64(optarg, &from))
				return cli_usage_error("dump", "--from wants a sequence number, not '%s'", optarg);
			break;
		case 'l':
			if (!cli_parse_u64(optarg, &limit))
				return cli_usage_error("dump", "--limit wants a count, not '%s'", optarg);
			break;
		case 'h': fputs(usage, stdout); return CLI_OK;
		default: return cli_usage_error("dump", "unknown option");
		}
	}
	if (optind < argc)
		return cli_usage_error("dump", "unexpected argument '%s'", argv[optind]);

	struct store *st;
	struct store_txn t;
	int rc = cli_open_store("dump", dir, false, &st);
	if (rc)
		return rc;
	if ((rc = store_read_begin(st, &t)) == 0) {
		MDB_cursor *cur = store_cursor(&t, STORE_DB_LOG);
		uint8_t start[8];
		bytes_put_be64(start, from);
		MDB_val k = {sizeof start, start}, v;
		int mrc = cur ? mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE) : MDB_NOTFOUND;
		for (uint64_t n = 0; mrc == 0 && n < limit; n++, mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			struct evlog_entry e;
			if ((rc = evlog_parse(&k, &v, &e)))
				break;
			json_t *j = view_log_entry(&e);
			if (!j) {
				rc = PL_ENOMEM;
				break;
			}
			json_dumpf(j, stdout, VIEW_DUMP_FLAGS);
			fputc('\n', stdout);
			json_decref(j);
		}
		if (cur)
			mdb_cursor_close(cur);
		if (!rc && mrc && mrc != MDB_NOTFOUND)
			rc = store_error(mrc);
		store_abort(&t);
	}
	store_close(st);
	if (rc) {
		fprintf(stderr, "pledged dump: %s\n", pl_strerror(rc));
		return CLI_STORE;
	}
	return CLI_OK;
}
