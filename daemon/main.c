/* main.c — the pledged binary: dispatch to a subcommand. The only file that exits. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "scratch.h"
#include "store.h"

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
} commands[] = {
	{"serve", cmd_serve, "consume events from Kafka and serve projections over HTTP"},
	{"replay", cmd_replay, "rebuild projections from the event log online (or show a past point)"},
	{"dump", cmd_dump, "print event log entries as JSON lines"},
	{"verify", cmd_verify, "check checksums, and the projections against the log"},
	{"rejections", cmd_rejections, "list rejected messages with their reasons"},
	{"import", cmd_import, "append JSON-lines events straight to the log (no Kafka)"},
	{"backup", cmd_backup, "write a hot, compacted copy of the data dir"},
	{"publish", cmd_publish, "produce JSON-lines events to Kafka as msgpack"},
	{"forget", cmd_forget, "erase a supporter's personal data (publishes supporter.forgotten)"},
	{"compact", cmd_compact, "rewrite a stopped data dir so no free page keeps old bytes"},
	{"upgrade", cmd_upgrade, "bring a data dir of an older pledged to this format"},
};

static void print_usage(FILE *out)
{
	fputs("Usage: pledged COMMAND [OPTIONS]\n\n"
	      "pledged consumes pledge and comment events from Kafka into an LMDB event\n"
	      "log and serves campaign projections over HTTP.\n\nCommands:\n",
	      out);
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(out, "  %-11s %s\n", commands[i].name, commands[i].summary);
	fputs("\nRun 'pledged COMMAND --help' for a command's options.\n", out);
}

static void say(const char *s)
{
	/* write(2): the only output that is safe inside a signal handler. */
	ssize_t ignored = write(STDERR_FILENO, s, strlen(s));
	(void)ignored;
}

static const char damaged_advice[] =
	"; the data dir is damaged: run 'pledged verify' on a copy, and restore it from a "
	"backup (see docs/operations.md)\n";

/* LMDB found one of its own pages damaged: say so and exit instead of aborting. */
static void on_damaged_page(const char *what)
{
	say("pledged: LMDB found a damaged page (");
	say(what);
	say(")");
	say(damaged_advice);
	cli_scratch_remove();
	_exit(CLI_STORE);
}

/* A read of the memory-mapped file beyond its end: the file was cut short
 * under us, or a damaged page points past it. */
static void on_sigbus(int sig)
{
	(void)sig;
	say("pledged: the data file ends before a page it refers to");
	say(damaged_advice);
	cli_scratch_remove();
	_exit(CLI_STORE);
}

static uintptr_t lmdb_lo, lmdb_hi;
static struct sigaction before_segv, before_abrt;

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

/* A crash inside LMDB, or in a copy LMDB was making: it followed a
 * damaged page it trusted. Any other crash is a bug of pledged's and goes
 * on to what handled it before (the default: a core dump; under
 * AddressSanitizer, its report). */
static void on_crash(int sig, siginfo_t *info, void *context)
{
	(void)info;
	uintptr_t pc = crashed_at(context);
	if ((sig == SIGSEGV && pc >= lmdb_lo && pc < lmdb_hi) || store_copying()) {
		say(sig == SIGSEGV ? "pledged: LMDB crashed following a page of the data file"
				   : "pledged: LMDB's copy of the data file broke the heap");
		say(damaged_advice);
		cli_scratch_remove();
		_exit(CLI_STORE);
	}
	/* The fault happens again, or abort() raises again, there. */
	sigaction(sig, sig == SIGSEGV ? &before_segv : &before_abrt, NULL);
	if (sig == SIGABRT)
		raise(sig);
}

static void handle_damage(void)
{
	store_set_damage_handler(on_damaged_page);
	struct sigaction sa = {.sa_handler = on_sigbus};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
	(void)store_lmdb_code(&lmdb_lo, &lmdb_hi);
	struct sigaction crash = {.sa_sigaction = on_crash, .sa_flags = SA_SIGINFO};
	sigemptyset(&crash.sa_mask);
	sigaction(SIGSEGV, &crash, &before_segv);
	sigaction(SIGABRT, &crash, &before_abrt);
}

int main(int argc, char **argv)
{
	handle_damage();
	if (argc < 2) {
		print_usage(stderr);
		return CLI_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		print_usage(stdout);
		return CLI_OK;
	}
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		if (strcmp(argv[1], commands[i].name) == 0) {
			/* getopt names the program in its messages: "pledged dump: …". */
			char name[64];
			snprintf(name, sizeof name, "pledged %s", commands[i].name);
			argv[1] = name;
			return commands[i].run(argc - 1, argv + 1);
		}
	}
	fprintf(stderr, "pledged: unknown command '%s'\n\n", argv[1]);
	print_usage(stderr);
	return CLI_USAGE;
}
