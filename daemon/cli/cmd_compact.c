/*
 * cmd_compact.c — `pledged compact`: rewrite a data dir so that no free page
 * keeps bytes that are no longer part of it (what an erasure overwrote,
 * what a rebuild emptied). LMDB reuses free pages but never clears them;
 * its compacting copy writes only the pages in use, and cli_copy() zeroes
 * in those what no record holds. The copy is written inside the
 * data dir, checked, then renamed over data.mdb: a crash leaves the old
 * file or the new one.
 *
 * Offline: it takes the writer and rebuild locks and refuses while any
 * other process has the data dir open.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "pl_error.h"
#include "rebuild.h"
#include "scratch.h"

static const char usage[] =
	"Usage: pledged compact [--data DIR]\n"
	"\n"
	"Rewrite the data dir compactly, so that no free page keeps old bytes: after\n"
	"'pledged forget', no byte of what was erased is left in any file of the\n"
	"data dir. Stop serve first (compact refuses while any process has the data\n"
	"dir open), and finish or drop a rebuild under way (pledged replay, or\n"
	"pledged replay --abort). The copy is written to DIR/compact.tmp, checked,\n"
	"then renamed over DIR/data.mdb; it needs free disk space for the data in\n"
	"use. Old backups still hold what they held: rotate them.\n"
	"\n"
	"  --data DIR   data directory (default: pledged-data)\n"
	"  -h, --help   show this help\n"
	"\n"
	"Exit status: 0 done, 1 the copy failed its check (the data dir is left as\n"
	"it was), 2 usage, 3 the data dir is in use or cannot be rewritten.\n";

static long long file_size(const char *dir, const char *name)
{
	char path[4300];
	struct stat sb;
	snprintf(path, sizeof path, "%s/%s", dir, name);
	return stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
}

/* Refuses a data dir with a rebuild under way: its slot would keep what it holds. */
static int check_no_rebuild(const char *dir, struct store *st)
{
	struct store_txn t;
	bool under_way = false;
	enum store_slot slot;
	uint64_t done;
	int rc = store_read_begin(st, &t);
	if (rc == 0) {
		rc = rebuild_status(&t, &under_way, &slot, &done);
		store_abort(&t);
	}
	if (rc) {
		fprintf(stderr, "pledged compact: cannot read data dir '%s': %s\n", dir,
			pl_strerror(rc));
		return CLI_STORE;
	}
	if (under_way) {
		fprintf(stderr, "pledged compact: a rebuild is under way in '%s' (slot %s, at %llu): "
				"finish it with 'pledged replay' or drop it with 'pledged replay "
				"--abort' first\n", dir, store_slot_name(slot), (unsigned long long)done);
		return CLI_STORE;
	}
	return CLI_OK;
}

/* Writes the compacted copy to tmp. A cli_exit. */
static int copy(const char *dir, const char *tmp)
{
	struct store *st;
	int rc = cli_open_store("compact", dir, CLI_REWRITE, 0, &st);
	if (rc)
		return rc;
	struct stat sb;
	if ((rc = check_no_rebuild(dir, st)) == 0 && lstat(tmp, &sb) == 0 && !S_ISDIR(sb.st_mode)) {
		fprintf(stderr, "pledged compact: '%s' is in the way (not a copy a compact left, "
				"which is a directory): move it away, then run compact again\n", tmp);
		rc = CLI_STORE;
	} else if (rc == 0) {
		store_remove_dir(tmp); /* left by a compact that was killed */
		cli_scratch_begin(tmp); /* interrupted from here on, it goes */
		/* LMDB's copy follows the pages as reads do: damaged, it writes astray. */
		struct store_page_damage bad;
		uint64_t free_before = cli_free_bytes(dir);
		int err = store_check_pages(st, &bad);
		if (err == 0)
			err = mkdir(tmp, 0700) ? pl_from_errno(errno) : cli_copy(st, tmp);
		if (err == PL_ENOSPACE) {
			char where[4200];
			snprintf(where, sizeof where, "data dir '%s'", dir);
			cli_say_no_room("compact", "the compacted copy", where, store_copy_size(st),
					free_before, "make room there, then run compact again; the "
					"data dir is unchanged");
			rc = CLI_STORE;
		} else if (err) {
			fprintf(stderr, "pledged compact: cannot write the copy to '%s': %s; the data "
					"dir is unchanged%s\n", tmp, pl_strerror(err),
				err == PL_ECORRUPT ? " (it is damaged: 'pledged verify' says where; "
						       "restore it from a backup)"
				: err == PL_EIO      ? " (with a sound disk, the data dir may be damaged: "
						       "run 'pledged verify')"
						     : "");
			rc = CLI_STORE;
		}
	}
	store_close(st);
	return rc;
}

/*
 * Gives the copy the owner, group and mode of the data.mdb it replaces: run
 * as root on a service's data dir (docs/operations.md), a copy of root's
 * own would leave serve unable to open its data dir.
 */
static bool keep_owner(const char *old, const char *copy_path)
{
	struct stat sb, cb;
	if (stat(old, &sb) || stat(copy_path, &cb))
		return false; /* errno says why */
	if ((sb.st_uid != cb.st_uid || sb.st_gid != cb.st_gid) &&
	    chown(copy_path, sb.st_uid, sb.st_gid))
		return false;
	return chmod(copy_path, sb.st_mode & 07777) == 0;
}

static int compact(const char *dir)
{
	char tmp[4200], from[4300], to[4300];
	snprintf(tmp, sizeof tmp, "%s/compact.tmp", dir);
	snprintf(from, sizeof from, "%s/data.mdb", tmp);
	snprintf(to, sizeof to, "%s/data.mdb", dir);
	int lock_fd;
	int rc = cli_check_alone("compact", dir);
	if (rc)
		return rc;
	/* Held until the copy has replaced data.mdb: whatever opens the data
	 * dir meanwhile would keep the old file. */
	int err = store_lock_dir(dir, true, &lock_fd);
	if (err == PL_EBUSY) {
		fprintf(stderr, "pledged compact: another pledged process has data dir '%s' open (a "
				"serve, verify, backup or replay); stop it first\n", dir);
		return CLI_STORE;
	}
	/* Its files can be opened by name in a directory this user may not
	 * list, but the lock is taken on the directory itself. */
	if (err == 0 && lock_fd < 0) {
		fprintf(stderr, "pledged compact: cannot lock data dir '%s': the directory is not "
				"readable by this user, and compact rewrites data.mdb only under its "
				"lock; allow reading it (chmod u+r) and run compact again\n", dir);
		return CLI_STORE;
	}
	rc = copy(dir, tmp); /* a dir it could not lock otherwise, it cannot open either, and says why */
	if (rc == 0)
		rc = cli_check_copy("compact", tmp);
	if (rc == 0 && !keep_owner(to, from)) {
		fprintf(stderr, "pledged compact: cannot give '%s' the owner and mode of '%s': %s; "
				"the data dir is unchanged\n", from, to, strerror(errno));
		rc = CLI_STORE;
	}
	err = rc ? PL_OK : store_rename_durably(from, to);
	if (err) {
		fprintf(stderr, "pledged compact: cannot rename '%s' to '%s': %s; the data dir is "
				"unchanged\n", from, to, pl_strerror(err));
		rc = CLI_STORE;
	}
	store_remove_dir(tmp);
	cli_scratch_end();
	if (rc == 0) {
		/* Its reader table described the old file; LMDB makes a new one. */
		snprintf(to, sizeof to, "%s/lock.mdb", dir);
		remove(to);
	}
	store_unlock_dir(lock_fd);
	return rc;
}

int cmd_compact(int argc, char **argv)
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
		default: return cli_option_error("compact");
		}
	}
	if (optind < argc)
		return cli_usage_error("compact", "unexpected argument '%s'", argv[optind]);
	int locks[2];
	int rc = cli_lock_both("compact", dir, locks);
	if (rc)
		return rc;
	long long before = file_size(dir, "data.mdb");
	rc = compact(dir);
	if (rc == 0)
		fprintf(stderr, "pledged compact: rewrote '%s' (checked): data.mdb %lld → %lld bytes\n",
			dir, before, file_size(dir, "data.mdb"));
	close(locks[1]);
	close(locks[0]);
	return rc;
}
