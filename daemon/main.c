/* main.c — the pledged binary: dispatch to a subcommand. The only file that
 * exits, with damage_exit.c for a damaged data file's faults. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "damage_exit.h"

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

/*
 * rc, or CLI_MISMATCH when what cmd printed on stdout did not all reach it
 * (a full disk, a reader gone while SIGPIPE is ignored): a script must not
 * take the part it got for the whole.
 */
static int output_written(const char *cmd, int rc)
{
	errno = 0;
	if (fflush(stdout) == 0 && !ferror(stdout))
		return rc;
	fprintf(stderr, "pledged%s%s: cannot write the output%s%s\n", cmd ? " " : "", cmd ? cmd : "",
		errno ? ": " : "", errno ? strerror(errno) : "");
	return rc ? rc : CLI_MISMATCH;
}

/*
 * A closed standard descriptor would go to the next file opened, a lock
 * file or data.mdb, and messages meant for it would be written into that.
 * Each is held by /dev/null opened the other way, so that it still reads
 * or writes nothing (EBADF), as closed.
 */
static void hold_std_fds(void)
{
	for (int fd = STDIN_FILENO; fd <= STDERR_FILENO; fd++)
		if (fcntl(fd, F_GETFD) < 0)
			open("/dev/null", fd == STDIN_FILENO ? O_WRONLY : O_RDONLY); /* the lowest free: fd */
}

int main(int argc, char **argv)
{
	hold_std_fds();
	damage_exit_install();
	if (argc < 2) {
		print_usage(stderr);
		return CLI_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		print_usage(stdout);
		return output_written(NULL, CLI_OK);
	}
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		if (strcmp(argv[1], commands[i].name) == 0) {
			/* getopt names the program in its messages: "pledged dump: …". */
			char name[64];
			snprintf(name, sizeof name, "pledged %s", commands[i].name);
			argv[1] = name;
			return output_written(commands[i].name, commands[i].run(argc - 1, argv + 1));
		}
	}
	fprintf(stderr, "pledged: unknown command '%s'\n\n", argv[1]);
	print_usage(stderr);
	return CLI_USAGE;
}
