/* damage_exit.h — a damaged data file ends the process with exit 3 and
 * advice, never with a signal. */
#ifndef PLEDGED_DAMAGE_EXIT_H
#define PLEDGED_DAMAGE_EXIT_H

/*
 * Installs the handlers: LMDB's assertions on a page, a read past the end of
 * the mapped file (SIGBUS), and a crash (SIGSEGV, SIGABRT) whose nearest
 * frame of pledged's or LMDB's code is LMDB's: LMDB trusts every page it
 * reads, so a damaged one can send it, or a libc routine it called, astray.
 * Any other crash is a bug of pledged's and goes on to what handled it
 * before (a core dump; under AddressSanitizer, its report).
 */
void damage_exit_install(void);

#endif
