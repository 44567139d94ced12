/*
 * cmd_backup.c — `pledged backup`: a hot, compacted copy of a data dir,
 * taken while serve keeps consuming and serving.
 */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "commands.h"
#include "pl_error.h"

static const char usage[] =
	"Usage: pledged backup [--data DIR] --to DEST\n"
	"\n"
	"Write a consistent, compacted copy of the data dir into DEST (created if\n"
	"missing; it must not already hold data). It is LMDB's hot copy: one\n"
	"snapshot, taken without stopping 'serve'. DEST is itself a data dir:\n"
	"restore by pointing --data at it (or moving it into place while serve is\n"
	"stopped); 'pledged verify --data DEST' checks it.\n"
	"\n"
	"  --data DIR   data directory (default: pledged-data)\n"
	"  --to DEST    where to write the copy\n"
	"  -h, --help   show this help\n";

int cmd_backup(int argc, char **argv)
{
	static const struct option opts[] = {{"data", required_argument, NULL, 'd'},
					     {"to", required_argument, NULL, 't'},
					     {"help", no_argument, NULL, 'h'},
					     {0}};
	const char *dir = "pledged-data", *dest = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 't': dest = optarg; break;
		case 'h': fputs(usage, stdout); return CLI_OK;
		default: return cli_usage_error("backup", "unknown option");
		}
	}
	if (optind < argc)
		return cli_usage_error("backup", "unexpected argument '%s'", argv[optind]);
	if (!dest)
		return cli_usage_error("backup", "--to DEST is required");

	struct store *st;
	int rc = cli_open_store("backup", dir, false, 0, &st);
	if (rc)
		return rc;
	rc = store_backup(st, dest);
	store_close(st);
	if (rc == PL_EEXIST) {
		fprintf(stderr, "pledged backup: '%s' already holds a data file; choose an empty directory\n", dest);
		return CLI_USAGE;
	}
	if (rc) {
		fprintf(stderr, "pledged backup: cannot write '%s': %s\n", dest, pl_strerror(rc));
		return CLI_STORE;
	}
	fprintf(stderr, "pledged backup: copied '%s' to '%s'\n", dir, dest);
	return CLI_OK;
}
