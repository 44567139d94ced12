/*
 * thread_signals.h — what the process's own threads (HTTP workers, the log
 * decoder) leave to the thread that handles signals.
 */
#ifndef THREAD_SIGNALS_H
#define THREAD_SIGNALS_H

#include <signal.h>

/*
 * Blocks, in the calling thread, every signal but the faults a thread's
 * own reads raise (SIGBUS on a data file cut short, SIGSEGV, SIGFPE,
 * SIGILL: blocked, they would kill the process without its handler), so
 * that the threads it creates next inherit that mask: SIGINT and SIGTERM
 * go to the caller's thread alone, and a write to a closed socket gives
 * EPIPE. *before gets the mask to restore with pthread_sigmask().
 */
void thread_signals_block(sigset_t *before);

#endif
