/* thread_signals.c — signals the process's threads leave alone; see thread_signals.h. */
#include "thread_signals.h"

#include <pthread.h>

void thread_signals_block(sigset_t *before)
{
	sigset_t all;
	sigfillset(&all);
	sigdelset(&all, SIGBUS);
	sigdelset(&all, SIGSEGV);
	sigdelset(&all, SIGFPE);
	sigdelset(&all, SIGILL);
	pthread_sigmask(SIG_SETMASK, &all, before);
}
