/*
 * kill_at_meta.c — an LD_PRELOAD library: the process dies by SIGKILL right
 * after LMDB's KILL_AT_META-th write of a meta page, with that commit in the
 * file but before LMDB tells lock.mdb its transaction id. That is where a
 * kill -9 lands while the meta page's synchronous write waits for the disk.
 */
/* pwrite itself, not the pwrite64 that large-file builds name it to. */
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

/* LMDB writes the changed tail of a meta page, in the file's first two pages. */
static int is_meta_write(size_t len, off_t off)
{
	return off < 8192 && len < 512;
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
	static ssize_t (*real)(int, const void *, size_t, off_t);
	static int meta_writes;
	if (!real)
		real = (ssize_t (*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
	ssize_t rc = real(fd, buf, len, off);
	const char *at = getenv("KILL_AT_META");
	if (at && is_meta_write(len, off) && ++meta_writes == atoi(at))
		raise(SIGKILL);
	return rc;
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off_t off) __attribute__((alias("pwrite")));
