/*
 * scratch.h — a scratch or half-written data dir (verify's and a dry run's
 * replay, a backup before its rename) that an interrupted command removes:
 * on SIGHUP, SIGINT, SIGPIPE or SIGTERM, and when a crash is answered as damage
 * (damage_exit.c).
 * Without it, Ctrl-C left pledged-verify-XXXXXX behind in /tmp, and a
 * backup's DEST.partial-XXXXXX that could pass for a data dir.
 */
#ifndef SCRATCH_H
#define SCRATCH_H

/* From now until cli_scratch_end(), an interrupt removes dir (its store's
 * files, then dir itself) and ends the command as the signal would. */
void cli_scratch_begin(const char *dir);

/* mkdtemp(template), then cli_scratch_begin() on it, with no moment
 * between the two when an interrupt would leave it, and its lock taken
 * until cli_scratch_end(): 0, or -1 with errno. */
int cli_scratch_make(char *template);

/* The command removed or kept dir itself: interrupts act as before. */
void cli_scratch_end(void);

/* Removes the dir cli_scratch_begin() named, if any. Async-signal-safe. */
void cli_scratch_remove(void);

/*
 * Removes what runs killed outright (kill -9, the OOM killer) left beside
 * template (".../pledged-verify-XXXXXX"): dirs of that name holding only a
 * store's files, older than a minute, whose lock (cli_scratch_make) and
 * store no process holds. Says so on stderr as "pledged CMD: removed
 * 'DIR', WHAT a killed run left".
 */
void cli_scratch_sweep(const char *cmd, const char *template, const char *what);

#endif
