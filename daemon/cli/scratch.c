/* scratch.c — removing a scratch data dir when interrupted; see scratch.h. */
#include "scratch.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "store.h"

/* What store_remove_dir() removes, as paths made beforehand: a signal
 * handler may not format them. */
static char paths[STORE_DIR_FILE_COUNT][4200];
static char dir_path[4200];
/* Lock-free atomics, safe in a handler: a signal may be handled on two
 * threads at once (`timeout` sends its signal to the process, then to its
 * group), and the one that does not remove the dir must not end the
 * process before the other has. */
static atomic_int armed, removing;
static atomic_int handled; /* our handlers are in place (before[] holds the old ones) */
/* The made dir's own lock (store_lock_dir, shared), held until its end:
 * what tells a sweep (scratch_sweep.c) that its maker still runs. */
static int held_fd = -1;

void cli_scratch_remove(void)
{
	int idle = 0;
	if (!atomic_load(&armed))
		return;
	if (!atomic_compare_exchange_strong(&removing, &idle, 1)) {
		while (atomic_load(&armed))
			; /* another thread removes it: a few system calls */
		return;
	}
	for (size_t i = 0; i < STORE_DIR_FILE_COUNT; i++)
		unlink(paths[i]);
	rmdir(dir_path);
	atomic_store(&armed, 0);
}

static void on_interrupt(int sig)
{
	cli_scratch_remove();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* What interrupts a command: a terminal's Ctrl-C, a job runner's stop, a
 * terminal that went away (an SSH session dropped), and a reader that did
 * (`pledged replay --dry-run | head`). */
static const int interrupts[] = {SIGHUP, SIGINT, SIGPIPE, SIGTERM};
#define INTERRUPTS (sizeof interrupts / sizeof interrupts[0])

static void interrupt_set(sigset_t *set)
{
	sigemptyset(set);
	for (size_t i = 0; i < INTERRUPTS; i++)
		sigaddset(set, interrupts[i]);
}

/* The handlers before cli_scratch_begin(), given back at its end. */
static struct sigaction before[INTERRUPTS];

/* Each signal waits while the handler of another runs: the first removes
 * the dir whole before the process ends. One ignored at start (nohup's
 * SIGHUP, a background job's SIGINT) stays ignored. */
static void handle_all(void)
{
	struct sigaction sa = {.sa_handler = on_interrupt};
	interrupt_set(&sa.sa_mask);
	for (size_t i = 0; i < INTERRUPTS; i++) {
		sigaction(interrupts[i], NULL, &before[i]);
		if (before[i].sa_handler != SIG_IGN)
			sigaction(interrupts[i], &sa, NULL);
	}
}

static void restore_all(void)
{
	for (size_t i = 0; i < INTERRUPTS; i++)
		sigaction(interrupts[i], &before[i], NULL);
}

void cli_scratch_begin(const char *dir)
{
	snprintf(dir_path, sizeof dir_path, "%s", dir);
	for (size_t i = 0; i < STORE_DIR_FILE_COUNT; i++)
		snprintf(paths[i], sizeof paths[i], "%s/%s", dir, store_dir_files[i]);
	atomic_store(&removing, 0);
	atomic_store(&armed, 1);
	if (!atomic_exchange(&handled, 1))
		handle_all();
}

int cli_scratch_make(char *template)
{
	sigset_t blocked, before;
	interrupt_set(&blocked);
	pthread_sigmask(SIG_BLOCK, &blocked, &before);
	char *dir = mkdtemp(template);
	int made_errno = errno;
	if (dir) {
		cli_scratch_begin(dir);
		/* Not taken, only LEFT_AFTER_S (scratch_sweep.c) keeps a sweep off it. */
		store_lock_dir(dir, false, &held_fd);
	}
	pthread_sigmask(SIG_SETMASK, &before, NULL); /* one that came meanwhile acts now */
	errno = made_errno;
	return dir ? 0 : -1;
}

void cli_scratch_end(void)
{
	store_unlock_dir(held_fd);
	held_fd = -1;
	atomic_store(&armed, 0);
	if (atomic_exchange(&handled, 0))
		restore_all();
}
