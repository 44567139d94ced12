/* cli.c — helpers shared by the subcommands; see cli.h. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "embedded_broker.h"
#include "log.h"
#include "pl_error.h"
#include "verify.h"
#include "views.h"

/* Says why dir could not be opened as a data dir (a store error rc). */
static int open_failed(const char *cmd, const char *dir, enum cli_access access, int rc)
{
	const char *advice = "";
	switch (rc) {
	case PL_ENOTFOUND:
		advice = "no pledged data here; check --data, or run 'pledged serve' to create it";
		break;
	case PL_EFOREIGN:
		advice = "it is not a directory, holds something other than pledged data, or one "
			 "of its files (data.mdb, lock.mdb, pledged.dir, creating) is not a regular "
			 "file (a symbolic link, a directory: never opened through one); refusing to "
			 "touch it";
		break;
	case PL_ECORRUPT:
		advice = "the LMDB file is damaged, empty, missing beside its lock.mdb or "
			 "pledged.dir, or shorter than its own metadata says (cut short by a failed "
			 "copy, a full disk or a deletion); restore the data dir from a backup";
		break;
	case PL_EUPGRADE:
		advice = "it was written by an older pledged, or an upgrade was interrupted; run "
			 "'pledged upgrade --data DIR' (serve must be stopped)";
		break;
	case PL_ENEWER:
		advice = "it was written by a newer pledged; run that version";
		break;
	case PL_EBUSY:
		advice = "'pledged compact' is rewriting it; run this again once compact has "
			 "finished";
		break;
	case PL_ELOCKGONE:
		advice = "LMDB's lock file was removed, cut short or overwritten under that process, "
			 "or it reads without one (no write permission), and a second or damaged lock "
			 "file would let two processes write at once and damage the data dir: stop the "
			 "pledged processes using it (serve, import, replay), then run this again (the "
			 "first alone makes lock.mdb afresh; data.mdb is not at fault); never remove "
			 "lock.mdb by hand";
		break;
	case PL_ENOFILES:
		advice = "raise the limit of open files (ulimit -n; LimitNOFILE= under systemd)";
		break;
	case PL_EROFS:
		advice = "this command writes the data dir; on a read-only mount, run those that only "
			 "read it: verify, dump, rejections, replay --dry-run, backup, serve --read-only";
		break;
	case PL_EACCESS:
		advice = access == CLI_READ ? "this command reads the data dir and its files: run it as "
					      "a user who may read them"
					    : "this command writes the data dir: run it as the user "
					      "that owns the files";
		break;
	default:
		advice = "check the directory's permissions and free space";
	}
	fprintf(stderr, "pledged %s: cannot open data dir '%s': %s (%s)\n", cmd, dir,
		pl_strerror(rc), advice);
	return CLI_STORE;
}

int cli_open_store(const char *cmd, const char *dir, enum cli_access access, size_t map_size,
		   struct store **out)
{
	struct store_options opt = {.create = access == CLI_CREATE, .read_only = access == CLI_READ,
				    .dir_locked = access == CLI_REWRITE, .initial_map_size = map_size};
	if (!dir[0])
		return cli_usage_error(cmd, "--data must not be empty");
	int rc = store_open(out, dir, &opt);
	return rc ? open_failed(cmd, dir, access, rc) : CLI_OK;
}

/* Whether dir holds a store, or a damaged one that store_open() will name:
 * only there may a command that does not create one leave its lock files.
 * PL_OK, PL_ENOTFOUND, or PL_EACCESS when dir may not be looked into. */
static int check_store_files(const char *dir)
{
	char path[4200];
	struct stat sb;
	for (size_t i = 0; i < STORE_DIR_FILE_COUNT; i++) {
		if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, store_dir_files[i]) >= sizeof path)
			return PL_ENOTFOUND;
		if (stat(path, &sb) == 0)
			return PL_OK;
		if (errno == EACCES)
			return PL_EACCESS;
	}
	return PL_ENOTFOUND;
}

const char *cli_path_split(const char *path, char *parent, size_t size)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		snprintf(parent, size, ".");
	else if (slash == path)
		snprintf(parent, size, "/");
	else
		snprintf(parent, size, "%.*s", (int)(slash - path), path);
	return slash ? slash + 1 : path;
}

int cli_check_alone(const char *cmd, const char *dir)
{
	long pid;
	int rc = store_dir_in_use(dir, &pid);
	if (rc == 1)
		fprintf(stderr, "pledged %s: process %ld has data dir '%s' open (a serve "
				"--read-only, verify or backup?); stop it first\n", cmd, pid, dir);
	else if (rc)
		fprintf(stderr, "pledged %s: cannot read the lock file of '%s': %s\n", cmd, dir,
			pl_strerror(rc));
	return rc ? CLI_STORE : CLI_OK;
}

static const char *const lock_files[] = {"writer.lock", "rebuild.lock"};

/* The process id the lock file fd names, or 0. */
static long lock_pid(int fd)
{
	char text[24];
	ssize_t n = pread(fd, text, sizeof text - 1, 0);
	if (n <= 0)
		return 0;
	text[n] = '\0';
	char *end;
	long pid = strtol(text, &end, 10);
	return pid > 0 && end != text && (*end == '\n' || *end == '\0') ? pid : 0;
}

/* ", by process N" when the lock file fd names the process that took it; else "". */
static void lock_holder(int fd, char *out, size_t size)
{
	long pid = lock_pid(fd);
	out[0] = '\0';
	if (pid)
		snprintf(out, size, ", by process %ld", pid);
}

long cli_lock_taker(const char *dir, enum cli_lock lock)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/%s", dir, lock_files[lock]);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return 0;
	struct stat sb;
	long pid = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) ? lock_pid(fd) : 0;
	close(fd);
	return pid;
}

int cli_lock(const char *cmd, const char *dir, enum cli_lock lock, bool create, int *fd_out)
{
	char path[4200];
	if (!dir[0])
		return cli_usage_error(cmd, "--data must not be empty");
	/* Cut short, the path would name another lock file than serve's. */
	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, lock_files[lock]) >= sizeof path)
		return cli_usage_error(cmd, "--data is too long");
	if (create && mkdir(dir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "pledged %s: cannot create data dir '%s': %s\n", cmd, dir,
			strerror(errno));
		return CLI_STORE;
	}
	struct stat sb, dir_sb;
	bool dir_known = stat(dir, &dir_sb) == 0;
	if (dir_known && !S_ISDIR(dir_sb.st_mode))
		return open_failed(cmd, dir, CLI_WRITE, PL_EFOREIGN); /* a file, as store_open() says */
	int rc = create ? PL_OK : check_store_files(dir);
	if (rc)
		return open_failed(cmd, dir, CLI_WRITE, rc);
	/* Not through a link, nor into a pipe or device: the holder's id is written into it. */
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);
	if (fd < 0) {
		fprintf(stderr, "pledged %s: cannot open %s: %s%s\n", cmd, path, strerror(errno),
			errno == ELOOP ? " (it is a symbolic link: remove it)" : "");
		return CLI_STORE;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		fprintf(stderr, "pledged %s: %s is not a regular file; remove it\n", cmd, path);
		close(fd);
		return CLI_STORE;
	}
	/* Root running upgrade or replay on a service's data dir
	 * (docs/operations.md): a lock file of root's own, which the service
	 * may not open for writing, would keep serve from starting there. */
	if (geteuid() == 0 && dir_known && sb.st_uid != dir_sb.st_uid &&
	    fchown(fd, dir_sb.st_uid, dir_sb.st_gid) != 0)
		log_warn("cannot give %s the owner of its data dir: %s", path, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		char holder[64];
		lock_holder(fd, holder, sizeof holder);
		/* compact and upgrade work on this data dir or none: only a writer
		 * of events may go elsewhere. */
		bool writes_events = strcmp(cmd, "serve") == 0 || strcmp(cmd, "import") == 0;
		if (lock == CLI_LOCK_WRITER)
			fprintf(stderr,
				"pledged %s: data dir '%s' is in use by another pledged serve, import "
				"or upgrade (%s is locked%s); stop it first%s\n",
				cmd, dir, path, holder,
				writes_events ? ", or give this one its own --data (while serve runs, "
						"feed it through Kafka with pledged publish)"
					      : "");
		else
			fprintf(stderr,
				"pledged %s: a rebuild is already running on data dir '%s' (%s is "
				"locked%s); wait for it, or stop it with Ctrl-C\n",
				cmd, dir, path, holder);
		close(fd);
		return CLI_STORE;
	}
	/* Who holds it, for the refusals of the others. */
	char pid[24];
	int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n)
		log_warn("cannot write this process's id into %s: %s", path, strerror(errno));
	/* No serve runs here now: the broker files one left when killed name
	 * no broker, though its process id may be another's by now. */
	if (lock == CLI_LOCK_WRITER)
		embedded_broker_forget(dir);
	*fd_out = fd;
	return CLI_OK;
}

int cli_copy(struct store *st, const char *dir)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/data.mdb", dir);
	int rc = store_copy(st, dir);
	return rc ? rc : store_scrub_copy(path);
}

int cli_lock_both(const char *cmd, const char *dir, int fds[2])
{
	int rc = cli_lock(cmd, dir, CLI_LOCK_WRITER, false, &fds[0]);
	if (rc == CLI_OK && (rc = cli_lock(cmd, dir, CLI_LOCK_REBUILD, false, &fds[1])))
		close(fds[0]);
	return rc;
}

int cli_check_copy(const char *cmd, const char *dir)
{
	struct store *copy;
	uint64_t entries, bad_entry, bad_rejection;
	int rc = cli_open_store(cmd, dir, CLI_READ, 0, &copy);
	if (rc)
		return rc;
	rc = verify_checksums(copy, &entries, &bad_entry, &bad_rejection);
	store_close(copy);
	if (rc) {
		fprintf(stderr, "pledged %s: cannot read the copy back: %s\n", cmd, pl_strerror(rc));
		return CLI_STORE;
	}
	if (bad_entry || bad_rejection) {
		fprintf(stderr, "pledged %s: the copy's %s %llu %s; the data dir itself may be "
				"damaged: run 'pledged verify'\n",
			cmd, bad_entry ? "log entry" : "rejection",
			(unsigned long long)(bad_entry ? bad_entry : bad_rejection),
			bad_entry ? "does not match its checksum, or is missing or out of its place"
				  : "does not match its checksum");
		return CLI_MISMATCH;
	}
	return CLI_OK;
}

uint64_t cli_free_bytes(const char *path)
{
	struct statvfs vfs;
	return statvfs(path, &vfs) ? UINT64_MAX : (uint64_t)vfs.f_bavail * vfs.f_frsize;
}

void cli_say_no_room(const char *cmd, const char *what, const char *where, uint64_t need,
		     uint64_t free_before, const char *next)
{
	fprintf(stderr, "pledged %s: no room for %s on the file system of %s", cmd, what, where);
	if (need && free_before < need)
		fprintf(stderr, ": it needs %llu KiB, and %llu KiB was free",
			(unsigned long long)((need + 1023) / 1024),
			(unsigned long long)(free_before / 1024));
	else if (need && free_before != UINT64_MAX)
		fprintf(stderr, ": its %llu KiB were free, enough for the %llu KiB it needs, so its "
				"inodes ran out (df -i) or this user's disk quota",
			(unsigned long long)(free_before / 1024),
			(unsigned long long)((need + 1023) / 1024));
	fprintf(stderr, "; %s\n", next);
}

int cli_scratch_store_error(const char *cmd, int rc, const char *parent, const char *moved_by)
{
	if (rc == PL_ENOSPACE)
		fprintf(stderr, "pledged %s: %s in the scratch data dir it replays into, in %s (%s "
				"moves it)\n",
			cmd, pl_strerror(rc), parent ? parent : "/tmp", moved_by);
	else
		fprintf(stderr, "pledged %s: %s\n", cmd, pl_strerror(rc));
	return CLI_STORE;
}

int cli_print_replay_failure(const char *cmd, const struct replay_result *res)
{
	fprintf(stderr, "pledged %s: %s", cmd, replay_outcome_text(res->outcome));
	if (res->failed_seq) /* 0: the damage was met before any entry (a seek, a table) */
		fprintf(stderr, ": entry %llu", (unsigned long long)res->failed_seq);
	if (res->outcome == REPLAY_INCONSISTENT || res->outcome == REPLAY_UNREADABLE)
		fprintf(stderr, ": %s: %s", pl_reason_code(res->rejection.reason),
			res->rejection.detail);
	fprintf(stderr, "; run 'pledged verify', and restore from a backup if the log is damaged\n");
	return res->outcome == REPLAY_DAMAGED ? CLI_STORE : CLI_MISMATCH;
}

int cli_check_pages(const char *cmd, struct store *st)
{
	struct store_page_damage bad;
	int rc = store_check_pages(st, &bad);
	if (rc == PL_ECORRUPT)
		fprintf(stderr, "pledged %s: the data dir is damaged: %s: page %llu "
				STORE_PAGE_DAMAGE "; nothing was written: restore the data dir from a "
				"backup\n",
			cmd, bad.where, (unsigned long long)bad.page);
	else if (rc)
		fprintf(stderr, "pledged %s: cannot read the data dir's pages: %s; nothing was "
				"written\n", cmd, pl_strerror(rc));
	return rc ? CLI_STORE : CLI_OK;
}

int cli_open_writer(const char *cmd, const char *dir, bool create, size_t map_size,
		    enum cli_pages pages, const struct slot_options *opt, struct store **st,
		    struct writer *w, int *lock_fd)
{
	struct replay_result res;
	int rc = cli_lock(cmd, dir, CLI_LOCK_WRITER, create, lock_fd);
	if (rc)
		return rc;
	if ((rc = cli_open_store(cmd, dir, create ? CLI_CREATE : CLI_WRITE, map_size, st))) {
		close(*lock_fd);
		return rc;
	}
	if (pages == CLI_PAGES_FIRST && (rc = cli_check_pages(cmd, *st))) {
		store_close(*st);
		close(*lock_fd);
		return rc;
	}
	rc = writer_open(w, *st, opt, &res);
	if (rc == 0)
		return CLI_OK;
	if (rc == PL_ECORRUPT && res.outcome != REPLAY_OK)
		cli_print_replay_failure(cmd, &res);
	else
		fprintf(stderr, "pledged %s: cannot open the live projections: %s%s\n", cmd,
			pl_strerror(rc),
			rc == PL_ECORRUPT || rc == PL_ECHECKSUM
				? "; the data dir is damaged: run 'pledged verify' on a copy to name "
				  "where, and restore the data dir from a backup"
				: "");
	store_close(*st);
	close(*lock_fd);
	return CLI_STORE;
}

void cli_close_writer(struct store *st, struct writer *w, int lock_fd)
{
	writer_close(w);
	store_close(st);
	close(lock_fd);
}

bool cli_stdin_open(const char *cmd)
{
	int flags = fcntl(STDIN_FILENO, F_GETFL);
	if (flags >= 0 && (flags & O_ACCMODE) != O_WRONLY)
		return true;
	fprintf(stderr, "pledged %s: cannot read stdin: %s\n", cmd,
		strerror(flags < 0 ? errno : EBADF));
	return false;
}

ssize_t cli_read_line(char *line, bool *whole)
{
	size_t len = 0;
	int c = EOF;
	flockfile(stdin);
	while (len < CLI_LINE_MAX && (c = getc_unlocked(stdin)) != EOF && c != '\n')
		line[len++] = (char)c;
	if (len == CLI_LINE_MAX && (c = getc_unlocked(stdin)) != EOF && c != '\n')
		ungetc(c, stdin);
	funlockfile(stdin);
	line[len] = '\0';
	*whole = !(len == CLI_LINE_MAX && c != EOF && c != '\n');
	return c == EOF && len == 0 ? -1 : (ssize_t)len;
}

const char *cli_line_json(const char *line, size_t *len, uint64_t lineno)
{
	while (*len > 0 && (line[*len - 1] == '\r' || line[*len - 1] == ' ' || line[*len - 1] == '\t'))
		(*len)--;
	if (lineno == 1 && *len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
		*len -= 3;
		return line + 3;
	}
	return line;
}

void cli_skip_long_line(const char *cmd, uint64_t lineno)
{
	/* Said first: an input with no line end goes on for ever. */
	fprintf(stderr, "pledged %s: line %llu skipped: longer than %d MiB, which no event is\n",
		cmd, (unsigned long long)lineno, CLI_LINE_MAX >> 20);
	int c;
	flockfile(stdin);
	while ((c = getc_unlocked(stdin)) != EOF && c != '\n')
		;
	funlockfile(stdin);
}

bool cli_stdin_read_whole(const char *cmd, uint64_t lines)
{
	if (!ferror(stdin))
		return true;
	fprintf(stderr, "pledged %s: cannot read stdin after line %llu: %s\n", cmd,
		(unsigned long long)lines, strerror(errno));
	return false;
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

int cli_option_error(const char *cmd)
{
	fprintf(stderr, "Try 'pledged %s --help'.\n", cmd);
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
	int rc = cli_open_store(cmd, dir, CLI_READ, 0, &st);
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
