/*
 * cmd_backup.c — `pledged backup`: a hot, compacted copy of a data dir,
 * taken while serve keeps consuming and serving. The copy is written under
 * a temporary name beside DEST (inside it, when DEST is an empty directory
 * already), synced, opened and checked (every log entry and rejection
 * against its checksum), and only then moved to DEST: a backup that failed
 * leaves nothing that looks like a data dir.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "pl_error.h"
#include "scratch.h"

static const char usage[] =
	"Usage: pledged backup [--data DIR] --to DEST\n"
	"\n"
	"Write a consistent, compacted copy of the data dir to DEST, which must not\n"
	"exist or be an empty directory (a mount point, say). It is LMDB's hot copy:\n"
	"one snapshot, taken without stopping 'serve'. The copy is written under a\n"
	"temporary name beside DEST (inside it, when it is a directory already),\n"
	"synced to disk and checked, then moved to DEST, so DEST holds a complete\n"
	"copy or none. DEST is itself a data dir: restore by pointing --data at it\n"
	"(or moving it into place while serve is stopped); 'pledged verify --data\n"
	"DEST' checks it in full.\n"
	"\n"
	"  --data DIR   data directory (default: pledged-data)\n"
	"  --to DEST    where to write the copy\n"
	"  -h, --help   show this help\n"
	"\n"
	"Exit status: 0 done, 1 the copy failed its check, 2 usage (DEST inside the\n"
	"data dir, or already holding something: choose another), 3 the data dir or\n"
	"DEST unusable (full disk, permissions).\n";

/* Whether dest (which need not exist yet) lies in dir or is dir: a copy there
 * would be taken for part of the data dir and copied into every later backup.
 * An existing dest is followed wherever it leads (a link into the data dir). */
static bool inside(const char *dir, const char *dest)
{
	char real_dir[PATH_MAX], parent[PATH_MAX], real[PATH_MAX];
	snprintf(parent, sizeof parent, "%s", dest);
	if (!realpath(dir, real_dir) ||
	    (!realpath(dest, real) && !realpath(dirname(parent), real)))
		return false;
	size_t n = strlen(real_dir);
	return strncmp(real, real_dir, n) == 0 && (real[n] == '\0' || real[n] == '/');
}

/*
 * What dir holds: -1 with errno when it cannot be read, 0 nothing, 1
 * something (then the name of a backup's partial copy in it that the sweep
 * spared, if any, into partial; else "").
 */
static int dir_holds(const char *dir, char *partial, size_t size)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	struct dirent *e;
	int holds = 0;
	partial[0] = '\0';
	while ((e = readdir(d)) && !partial[0]) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		holds = 1;
		if (strncmp(e->d_name, ".partial-", 9) == 0)
			snprintf(partial, size, "%s", e->d_name);
	}
	closedir(d);
	return holds;
}

#define PARTIAL_SUFFIX ".partial-XXXXXX"

/* How much of a name a partial copy beside it keeps: all that leaves room
 * for PARTIAL_SUFFIX in a file name. */
static int partial_base_len(const char *base)
{
	return (int)strnlen(base, NAME_MAX - (sizeof PARTIAL_SUFFIX - 1));
}

/* Names the partial copies beside dest (dest.partial-*) that the sweep
 * spared: another backup's under way, or one it may not remove yet. Such a
 * copy can pass for a data dir, and is none. */
static void mention_partials(const char *dest)
{
	char parent[4096];
	const char *base = cli_path_split(dest, parent, sizeof parent);
	char prefix[300];
	int n = snprintf(prefix, sizeof prefix, "%.*s.partial-", partial_base_len(base), base);
	DIR *d = opendir(parent);
	if (!d || n < 0 || (size_t)n >= sizeof prefix) {
		if (d)
			closedir(d);
		return;
	}
	struct dirent *e;
	while ((e = readdir(d)))
		if (strncmp(e->d_name, prefix, (size_t)n) == 0)
			fprintf(stderr, "pledged backup: '%s/%s' is the partial copy of another backup "
					"(under way, or not removable yet); it is not a data dir\n",
				parent, e->d_name);
	closedir(d);
}

/* Copies the data dir into tmp, checks the copy and renames it to dest, or
 * moves its files into dest when dest is an empty directory already (into):
 * 0, or the exit status with a message said (tmp is then the caller's to
 * remove). */
static int copy_checked(const char *dir, const char *tmp, const char *dest, bool into)
{
	struct store *st;
	int rc = cli_open_store("backup", dir, CLI_READ, 0, &st);
	if (rc)
		return rc;
	/* LMDB's copy follows the pages as reads do: damaged, it writes astray. */
	struct store_page_damage bad;
	uint64_t free_before = cli_free_bytes(tmp);
	int err = store_check_pages(st, &bad);
	if (err == 0)
		err = cli_copy(st, tmp);
	uint64_t need = err == PL_ENOSPACE ? store_copy_size(st) : 0;
	store_close(st);
	if (err == PL_ENOSPACE) {
		char where[4200];
		snprintf(where, sizeof where, "--to '%s'", dest);
		cli_say_no_room("backup", "the copy", where, need, free_before,
				"make room there or choose another --to; nothing was kept");
		return CLI_STORE;
	}
	if (err) {
		fprintf(stderr, "pledged backup: cannot write the copy to '%s': %s; nothing was kept%s\n",
			tmp, pl_strerror(err),
			err == PL_ECORRUPT ? " (the data dir is damaged: 'pledged verify' says where; "
					     "restore it from a backup)"
			: err == PL_EIO    ? " (with a sound disk, the data dir may be damaged: run "
					     "'pledged verify')"
					   : "");
		return CLI_STORE;
	}
	if ((rc = cli_check_copy("backup", tmp)))
		return rc;
	if ((err = into ? store_move_into(tmp, dest) : store_rename_durably(tmp, dest))) {
		if (err == PL_EEXIST) {
			fprintf(stderr, "pledged backup: '%s' got a copy of a data dir while this one "
					"was made (another backup at the same time?); it is left as it "
					"is, and nothing was kept of this copy\n",
				dest);
			return CLI_STORE;
		}
		fprintf(stderr, "pledged backup: cannot move '%s' to '%s': %s; nothing was kept\n",
			tmp, dest, pl_strerror(err));
		return CLI_STORE;
	}
	return CLI_OK;
}

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
		default: return cli_option_error("backup");
		}
	}
	if (optind < argc)
		return cli_usage_error("backup", "unexpected argument '%s'", argv[optind]);
	if (!dest || !*dest)
		return cli_usage_error("backup", "--to DEST is required");
	/* "copy/" names the directory "copy": its partial copy goes beside it, not inside. */
	char dest_name[4096];
	size_t dest_len = strlen(dest);
	while (dest_len > 1 && dest[dest_len - 1] == '/')
		dest_len--;
	if (dest_len >= sizeof dest_name)
		return cli_usage_error("backup", "--to is too long");
	memcpy(dest_name, dest, dest_len);
	dest_name[dest_len] = '\0';
	dest = dest_name;
	if (inside(dir, dest))
		return cli_usage_error("backup", "--to '%s' lies inside the data dir '%s'; put the "
						 "copy elsewhere", dest, dir);
	/* An empty directory (a mount point, perhaps) is kept, and the copy made inside it. */
	struct stat sb;
	char partial[256] = "";
	bool into = stat(dest, &sb) == 0;
	/* rename() would fail on it with ENOTDIR, which says nothing useful. */
	if (!into && lstat(dest, &sb) == 0) {
		fprintf(stderr, "pledged backup: '%s' is a symbolic link to nothing (an unmounted "
				"disk?); make what it names, or choose another --to\n",
			dest);
		return CLI_USAGE;
	}
	char tmp[4200];
	if (into) {
		snprintf(tmp, sizeof tmp, "%s/" PARTIAL_SUFFIX, dest);
	} else {
		/* Beside dest, named after it: cut, as a name can be a long one. */
		const char *base = strrchr(dest, '/');
		base = base ? base + 1 : dest;
		snprintf(tmp, sizeof tmp, "%.*s%.*s" PARTIAL_SUFFIX, (int)(base - dest), dest,
			 partial_base_len(base), base);
	}
	cli_scratch_sweep("backup", tmp, "a partial copy");
	int holds = into && S_ISDIR(sb.st_mode) ? dir_holds(dest, partial, sizeof partial) : 1;
	if (holds < 0) {
		fprintf(stderr, "pledged backup: cannot read '%s': %s\n", dest, strerror(errno));
		return CLI_STORE;
	}
	if (into && partial[0]) {
		fprintf(stderr, "pledged backup: '%s' holds '%s', the partial copy of another backup "
				"(under way, or not removable yet); run the backup again once it has "
				"gone, or remove it\n",
			dest, partial);
		return CLI_USAGE;
	}
	if (into && holds) {
		fprintf(stderr, "pledged backup: '%s' exists and is %s; choose another --to\n", dest,
			S_ISDIR(sb.st_mode) ? "not an empty directory" : "not a directory");
		return CLI_USAGE;
	}

	if (!into)
		mention_partials(dest);
	if (cli_scratch_make(tmp)) {
		fprintf(stderr, "pledged backup: cannot make '%s': %s\n", tmp, strerror(errno));
		return CLI_STORE;
	}
	int rc = copy_checked(dir, tmp, dest, into);
	if (rc || into)
		store_remove_dir(tmp); /* into: what the move left there */
	cli_scratch_end();
	if (rc)
		return rc;
	fprintf(stderr, "pledged backup: copied '%s' to '%s' (checked)\n", dir, dest);
	return CLI_OK;
}
