/* damage_exit.c — a damaged data file's faults become exit 3 with advice. */
#include "damage_exit.h"

#include <execinfo.h>
#include <link.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

#include "cli.h"
#include "scratch.h"
#include "store.h"

static void say(const char *s)
{
	/* write(2): the only output that is safe inside a signal handler. */
	ssize_t ignored = write(STDERR_FILENO, s, strlen(s));
	(void)ignored;
}

static const char damaged_advice[] =
	"; the data dir is damaged: run 'pledged verify' on a copy, and restore it from a "
	"backup (see docs/operations.md)\n";

static void exit_damaged(const char *what)
{
	say(what);
	say(damaged_advice);
	cli_scratch_remove();
	_exit(CLI_STORE);
}

/* LMDB found one of its own pages damaged: say so and exit instead of aborting. */
static void on_damaged_page(const char *what)
{
	say("pledged: LMDB found a damaged page (");
	say(what);
	exit_damaged(")");
}

/* A read of the memory-mapped file beyond its end: the file was cut short
 * under us, or a damaged page points past it. */
static void on_sigbus(int sig)
{
	(void)sig;
	exit_damaged("pledged: the data file ends before a page it refers to");
}

/* Where LMDB's machine code and the program's own lie, [lo, hi). */
static uintptr_t lmdb_lo, lmdb_hi, program_lo, program_hi;
static struct sigaction before_segv, before_abrt;

static int find_program_code(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	(void)arg;
	if (info->dlpi_name[0] != '\0')
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
			program_lo = info->dlpi_addr + ph->p_vaddr;
			program_hi = program_lo + ph->p_memsz;
			return 1;
		}
	}
	return 0;
}

/* The instruction a crash signal interrupted. */
static uintptr_t crashed_at(const void *context)
{
	const ucontext_t *uc = context;
#if defined(__x86_64__)
	return (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
	return (uintptr_t)uc->uc_mcontext.pc;
#else
	(void)uc;
	return 0;
#endif
}

enum owner { OWNER_NONE, OWNER_LMDB, OWNER_PLEDGED };

static enum owner owner_of(uintptr_t pc)
{
	if (pc >= lmdb_lo && pc < lmdb_hi)
		return OWNER_LMDB;
	if (pc >= program_lo && pc < program_hi)
		return OWNER_PLEDGED;
	return OWNER_NONE;
}

/* Whether LMDB's code is nearest the fault: the faulting instruction is
 * LMDB's, or a library's (libc's memcpy) that LMDB called. Between the two
 * may stand one frame of the program's: a sanitizer's interceptor linked
 * into it (clang's AddressSanitizer), or a comparison LMDB called with a
 * damaged page's bytes. The frames come from the unwinder, which crosses
 * the signal frame and reports the faulting instruction itself first. */
static bool crashed_in_lmdb(uintptr_t pc)
{
	enum owner o = owner_of(pc);
	if (o != OWNER_NONE)
		return o == OWNER_LMDB;
	void *frames[48];
	int n = backtrace(frames, 48), i = 0;
	while (i < n && (uintptr_t)frames[i] != pc)
		i++;
	for (i++; i < n; i++) {
		/* A return address: the call is the instruction before it. */
		o = owner_of((uintptr_t)frames[i] - 1);
		if (o == OWNER_LMDB)
			return true;
		if (o == OWNER_PLEDGED)
			return i + 1 < n && owner_of((uintptr_t)frames[i + 1] - 1) == OWNER_LMDB;
	}
	return false;
}

static void on_crash(int sig, siginfo_t *info, void *context)
{
	(void)info;
	if (store_copying())
		exit_damaged(sig == SIGSEGV ? "pledged: LMDB's copy of the data file crashed"
					    : "pledged: LMDB's copy of the data file broke the heap");
	if (crashed_in_lmdb(crashed_at(context)))
		exit_damaged(sig == SIGSEGV ? "pledged: LMDB crashed following a page of the data file"
					    : "pledged: LMDB aborted following a page of the data file");
	/* The fault happens again, or abort() raises again, there. */
	sigaction(sig, sig == SIGSEGV ? &before_segv : &before_abrt, NULL);
	if (sig == SIGABRT)
		raise(sig);
}

void damage_exit_install(void)
{
	store_set_damage_handler(on_damaged_page);
	struct sigaction sa = {.sa_handler = on_sigbus};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
	/* With LMDB linked into the program, its crashes cannot be told from
	 * pledged's: only a copy's are caught then. */
	if (store_lmdb_code(&lmdb_lo, &lmdb_hi))
		dl_iterate_phdr(find_program_code, NULL);
	/* The unwinder loads itself at its first use, which allocates: not in a
	 * signal handler. */
	void *warm[2];
	(void)backtrace(warm, 2);
	struct sigaction crash = {.sa_sigaction = on_crash, .sa_flags = SA_SIGINFO};
	sigemptyset(&crash.sa_mask);
	sigaction(SIGSEGV, &crash, &before_segv);
	sigaction(SIGABRT, &crash, &before_abrt);
}
