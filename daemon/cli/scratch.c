/* scratch.c — removing a scratch data dir when interrupted; see scratch.h. */
#include "scratch.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "store.h"

/* What store_remove_dir() removes, as paths made beforehand: a signal
 * handler may not format them. */
static char paths[STORE_DIR_FILE_COUNT][4200];
static char dir_path[4200];
static volatile sig_atomic_t armed;

void cli_scratch_remove(void)
{
	if (!armed)
		return;
	armed = 0;
	for (size_t i = 0; i < STORE_DIR_FILE_COUNT; i++)
		unlink(paths[i]);
	rmdir(dir_path);
}

static void on_interrupt(int sig)
{
	cli_scratch_remove();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void handle(int sig, void (*fn)(int))
{
	struct sigaction sa = {.sa_handler = fn};
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}

void cli_scratch_begin(const char *dir)
{
	snprintf(dir_path, sizeof dir_path, "%s", dir);
	for (size_t i = 0; i < STORE_DIR_FILE_COUNT; i++)
		snprintf(paths[i], sizeof paths[i], "%s/%s", dir, store_dir_files[i]);
	armed = 1;
	handle(SIGINT, on_interrupt);
	handle(SIGTERM, on_interrupt);
}

int cli_scratch_make(char *template)
{
	sigset_t interrupts, before;
	sigemptyset(&interrupts);
	sigaddset(&interrupts, SIGINT);
	sigaddset(&interrupts, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &interrupts, &before);
	char *dir = mkdtemp(template);
	int made_errno = errno;
	if (dir)
		cli_scratch_begin(dir);
	pthread_sigmask(SIG_SETMASK, &before, NULL); /* one that came meanwhile acts now */
	errno = made_errno;
	return dir ? 0 : -1;
}

void cli_scratch_end(void)
{
	armed = 0;
	handle(SIGINT, SIG_DFL);
	handle(SIGTERM, SIG_DFL);
}
