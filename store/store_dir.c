/* store_dir.c — the data directory's locks: its own flock, and LMDB's
 * lock file, which must be one for every process; see store.h. */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pl_error.h"

int store_lock_dir(const char *dir, bool exclusive, int *fd)
{
	*fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*fd < 0)
		return errno == EACCES ? PL_OK : PL_EIO; /* not readable: nothing to share */
	if (flock(*fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) == 0)
		return PL_OK;
	int rc = errno == EWOULDBLOCK ? PL_EBUSY : PL_EIO;
	close(*fd);
	*fd = -1;
	return rc;
}

void store_unlock_dir(int fd)
{
	if (fd >= 0)
		close(fd);
}

/* How long an opener waits for lock.mdb from another opener that holds the
 * data dir and is about to make it. */
#define LOCK_FILE_WAIT_MS 2000

/* A flock as /proc lists it ("1: FLOCK ADVISORY READ PID MAJ:MIN:INODE 0
 * EOF", in /proc/locks and after "lock:" in /proc/self/fdinfo/FD): its
 * pid and file, or false for a line that is not one. */
static bool parse_flock(const char *line, long *pid, char *file, size_t file_size)
{
	char kind[16], fmt[48];
	snprintf(fmt, sizeof fmt, "%%*d: %%15s %%*s %%*s %%ld %%%zus", file_size - 1);
	return sscanf(line, fmt, kind, pid, file) == 3 && strcmp(kind, "FLOCK") == 0;
}

/* Whether a process other than this one holds a flock on the directory
 * whose own flock this process holds through dir_fd. Both sides are read
 * from /proc as it lists them (pids as its pid namespace sees them, the
 * device as the kernel names it), so they compare; without /proc, none. */
static bool dir_held_by_another(int dir_fd)
{
	char path[64], line[256], file[64] = "", theirs[64];
	long self = -1, pid;
	snprintf(path, sizeof path, "/proc/self/fdinfo/%d", dir_fd);
	FILE *f = fopen(path, "re");
	while (f && self < 0 && fgets(line, sizeof line, f))
		if (strncmp(line, "lock:", 5) != 0 || !parse_flock(line + 5, &self, file, sizeof file))
			self = -1;
	if (f)
		fclose(f);
	if (self < 0 || !(f = fopen("/proc/locks", "re")))
		return false;
	bool held = false;
	while (!held && fgets(line, sizeof line, f))
		held = parse_flock(line, &pid, theirs, sizeof theirs) && strcmp(theirs, file) == 0 &&
		       pid != self;
	fclose(f);
	return held;
}

int store_check_lock_file(const char *dir, int dir_fd)
{
	char lock[4200];
	struct stat sb;
	snprintf(lock, sizeof lock, "%s/lock.mdb", dir);
	if (dir_fd < 0 || stat(lock, &sb) == 0 || errno != ENOENT ||
	    faccessat(AT_FDCWD, dir, W_OK, AT_EACCESS) != 0)
		return PL_OK; /* there; or not to be made here (a read-only dir: MDB_NOLOCK) */
	for (int waited = 0; dir_held_by_another(dir_fd); waited += 20) {
		if (stat(lock, &sb) == 0)
			return PL_OK;
		if (waited >= LOCK_FILE_WAIT_MS)
			return PL_ELOCKGONE;
		usleep(20000);
	}
	return PL_OK;
}

int store_dir_in_use(const char *dir, long *pid)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/lock.mdb", dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : PL_EIO;
	/* F_GETLK only asks: this process holds no lock on it yet to lose. */
	struct flock lk = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
	int rc = fcntl(fd, F_GETLK, &lk);
	close(fd);
	if (rc)
		return PL_EIO;
	*pid = lk.l_type == F_UNLCK ? 0 : (long)lk.l_pid;
	return lk.l_type != F_UNLCK;
}
