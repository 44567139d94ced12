/* cli.c — helpers shared by the subcommands; see cli.h. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pl_error.h"
#include "views.h"

int cli_open_store(const char *cmd, const char *dir, bool create, size_t map_size,
		   struct store **out)
{
	struct store_options opt = {.create = create, .initial_map_size = map_size};
	int rc = store_open(out, dir, &opt);
	if (rc == 0)
		return CLI_OK;
	const char *advice = "";
	switch (rc) {
	case PL_ENOTFOUND:
		advice = "no pledged data here; check --data, or run 'pledged serve' to create it";
		break;
	case PL_EFOREIGN:
		advice = "this directory holds something other than pledged data; refusing to touch it";
		break;
	case PL_ECORRUPT:
		advice = "the LMDB file is damaged; restore the data dir from a backup";
		break;
	default:
		advice = "check the directory's permissions and free space";
	}
	fprintf(stderr, "pledged %s: cannot open data dir '%s': %s (%s)\n", cmd, dir,
		pl_strerror(rc), advice);
	return CLI_STORE;
}

bool cli_parse_u64(const char *s, uint64_t *out)
{
	char *end;
	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

bool cli_parse_time(const char *s, int64_t *ms)
{
	uint64_t n;
	if (cli_parse_u64(s, &n)) {
		if (n > INT64_MAX)
			return false;
		*ms = (int64_t)n;
		return true;
	}
	struct tm tm = {0};
	const char *formats[] = {"%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d"};
	for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
		memset(&tm, 0, sizeof tm);
		const char *end = strptime(s, formats[i], &tm);
		if (end && (*end == '\0' || (end[0] == 'Z' && end[1] == '\0'))) {
			*ms = (int64_t)timegm(&tm) * 1000;
			return true;
		}
	}
	return false;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "pledged %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'pledged %s --help'.\n", cmd);
	return CLI_USAGE;
}

int cli_print_json(json_t *j)
{
	if (!j)
		return PL_ENOMEM;
	json_dumpf(j, stdout, VIEW_DUMP_FLAGS);
	fputc('\n', stdout);
	json_decref(j);
	return PL_OK;
}

int cli_read(const char *cmd, const char *dir, int (*fn)(struct store_txn *t, void *arg),
	     void *arg)
{
	struct store *st;
	struct store_txn t;
	int rc = cli_open_store(cmd, dir, false, 0, &st);
	if (rc)
		return rc;
	if ((rc = store_read_begin(st, &t)) == 0) {
		rc = fn(&t, arg);
		store_abort(&t);
	}
	store_close(st);
	if (rc) {
		fprintf(stderr, "pledged %s: %s\n", cmd, pl_strerror(rc));
		return CLI_STORE;
	}
	return CLI_OK;
}
