/* store_dir.c — the data directory's locks: its own flock, and LMDB's
 * lock file, which must be one for every process; see store.h. */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pl_error.h"

/* The dirs this process holds the lock of, by file: a second lock of one
 * (an open of a scratch dir its maker holds) waits for no one. */
static pthread_mutex_t held_lock = PTHREAD_MUTEX_INITIALIZER;
static struct held_dir {
	dev_t dev;
	ino_t ino;
	int fd;
} held[64];
static size_t held_count;

static void note_held(int fd)
{
	struct stat sb;
	pthread_mutex_lock(&held_lock);
	if (held_count < sizeof held / sizeof held[0] && fstat(fd, &sb) == 0)
		held[held_count++] = (struct held_dir){sb.st_dev, sb.st_ino, fd};
	pthread_mutex_unlock(&held_lock);
}

static bool held_by_this_process(const struct stat *sb)
{
	bool found = false;
	pthread_mutex_lock(&held_lock);
	for (size_t i = 0; i < held_count && !found; i++)
		found = held[i].dev == sb->st_dev && held[i].ino == sb->st_ino;
	pthread_mutex_unlock(&held_lock);
	return found;
}

int store_lock_dir(const char *dir, bool exclusive, int *fd)
{
	*fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*fd < 0) /* not readable: nothing to share */
		return errno == EACCES ? PL_OK : pl_from_errno(errno);
	if (flock(*fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) == 0) {
		note_held(*fd);
		return PL_OK;
	}
	int rc = errno == EWOULDBLOCK ? PL_EBUSY : PL_EIO;
	close(*fd);
	*fd = -1;
	return rc;
}

int store_lock_dir_seen(const char *dir, const struct stat *seen, int *fd)
{
	struct stat sb;
	*fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (*fd < 0)
		return PL_EBUSY;
	if (fstat(*fd, &sb) != 0 || sb.st_dev != seen->st_dev || sb.st_ino != seen->st_ino ||
	    flock(*fd, LOCK_EX | LOCK_NB) != 0) {
		close(*fd);
		*fd = -1;
		return PL_EBUSY;
	}
	note_held(*fd);
	return PL_OK;
}

void store_unlock_dir(int fd)
{
	if (fd < 0)
		return;
	pthread_mutex_lock(&held_lock);
	for (size_t i = 0; i < held_count; i++)
		if (held[i].fd == fd) {
			held[i] = held[--held_count];
			break;
		}
	pthread_mutex_unlock(&held_lock);
	close(fd);
}

/* How long an open waits for the data dir's lock that another opener holds
 * exclusively while it makes lock.mdb, or for lock.mdb from it. */
#define OPEN_WAIT_MS 2000

int store_lock_dir_to_open(const char *dir, int *fd, bool *exclusive)
{
	char lock[4200];
	struct stat sb, dir_sb;
	snprintf(lock, sizeof lock, "%s/lock.mdb", dir);
	*exclusive = false;
	/* lock.mdb there; or not to be made here (a read-only dir: MDB_NOLOCK);
	 * or a dir this process holds already: shared, as ever. */
	bool making = stat(lock, &sb) != 0 && errno == ENOENT &&
		      faccessat(AT_FDCWD, dir, W_OK, AT_EACCESS) == 0 &&
		      stat(dir, &dir_sb) == 0 && !held_by_this_process(&dir_sb);
	*fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*fd < 0) /* not readable: nothing to share */
		return errno == EACCES ? PL_OK : pl_from_errno(errno);
	for (int waited = 0;; waited += 20) {
		bool made = !making || stat(lock, &sb) == 0;
		if (flock(*fd, (made ? LOCK_SH : LOCK_EX) | LOCK_NB) == 0) {
			*exclusive = !made;
			note_held(*fd);
			return PL_OK;
		}
		if (errno != EWOULDBLOCK || waited >= OPEN_WAIT_MS)
			break;
		usleep(20000);
	}
	/* Still no lock.mdb, and the dir is held: shared, by processes that
	 * have it open and use a lock.mdb removed since (or none: readers
	 * without write permission). Or exclusively, by `pledged compact`. */
	int rc = errno != EWOULDBLOCK ? PL_EIO
		 : making && stat(lock, &sb) != 0 && flock(*fd, LOCK_SH | LOCK_NB) == 0
			 ? PL_ELOCKGONE
			 : PL_EBUSY;
	close(*fd);
	*fd = -1;
	return rc;
}

int store_lock_dir_shared(int fd)
{
	/* Not atomic: another opener may take it exclusively in between, for
	 * the moment it opens; then this waits that moment. */
	return fd < 0 || flock(fd, LOCK_SH) == 0 ? PL_OK : PL_EIO;
}

int store_dir_in_use(const char *dir, long *pid)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/lock.mdb", dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : pl_from_errno(errno);
	/* F_GETLK only asks: this process holds no lock on it yet to lose. */
	struct flock lk = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
	int rc = fcntl(fd, F_GETLK, &lk);
	close(fd);
	if (rc)
		return PL_EIO;
	*pid = lk.l_type == F_UNLCK ? 0 : (long)lk.l_pid;
	return lk.l_type != F_UNLCK;
}
