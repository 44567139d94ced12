/*
 * cli.h — what every subcommand shares: exit codes, opening the data dir
 * with a message an operator can act on, and parsing numbers and times.
 */
#ifndef CLI_H
#define CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "store.h"
#include "writer.h"

enum cli_exit {
	CLI_OK = 0,
	CLI_MISMATCH = 1, /* the command ran and found a difference or failure */
	CLI_USAGE = 2,    /* bad flags or arguments */
	CLI_STORE = 3,    /* the data dir could not be used */
};

/* What a command does with a data dir. Readers open it read-only, so that
 * they work on a read-only mount or snapshot. */
/* CLI_REWRITE: write, the caller holding the data dir's lock exclusively
 * (store_lock_dir: compact). */
enum cli_access { CLI_READ, CLI_WRITE, CLI_CREATE, CLI_REWRITE };

/* Opens dir for a command (map_size 0: the default initial map); prints why
 * not on stderr. Returns a cli_exit. */
int cli_open_store(const char *cmd, const char *dir, enum cli_access access, size_t map_size,
		   struct store **out);

/* The locks of a data dir: one writer (serve, import, upgrade), one rebuild. */
enum cli_lock { CLI_LOCK_WRITER, CLI_LOCK_REBUILD };

/*
 * Takes lock of dir (creating dir when create): held until *fd is closed,
 * and by the kernel only as long as the process lives, so a kill -9 never
 * leaves one behind. Prints why not; returns a cli_exit.
 */
int cli_lock(const char *cmd, const char *dir, enum cli_lock lock, bool create, int *fd);

/*
 * A compacted copy of st into the empty directory dir (store_copy), with
 * nothing in it of bytes no record holds (store_scrub_copy): what backup
 * and compact write, after an erasure too. 0 or store_copy's errors.
 */
int cli_copy(struct store *st, const char *dir);

/* Both locks of dir, for a command nothing may write beside (compact,
 * upgrade): the writer's in fds[0], the rebuild's in fds[1], neither held
 * on failure. Returns a cli_exit. */
int cli_lock_both(const char *cmd, const char *dir, int fds[2]);

/* The id of the process that last took lock of dir (it may have ended
 * since), or 0 when its lock file names none. */
long cli_lock_taker(const char *dir, enum cli_lock lock);

/*
 * Walks every LMDB page of st (store_check_pages) before a command writes:
 * a write through a damaged page spreads the damage (LMDB frees the page
 * number a header names). Prints what is wrong; returns a cli_exit.
 */
int cli_check_pages(const char *cmd, struct store *st);

/* When a writer's command walks LMDB's pages (cli_check_pages). */
enum cli_pages {
	CLI_PAGES_FIRST,  /* before it opens the writer, which may write already */
	CLI_PAGES_BESIDE, /* serve: on a thread beside ingestion (page_watch.h) */
};

/*
 * Opens dir for writing its log and live slot: takes the writer lock, opens
 * the store, walks its pages if CLI_PAGES_FIRST and opens the writer
 * (bringing the live slot up to the log). Prints why not; returns a
 * cli_exit. cli_close_writer() undoes it.
 */
int cli_open_writer(const char *cmd, const char *dir, bool create, size_t map_size,
		    enum cli_pages pages, const struct slot_options *opt, struct store **st,
		    struct writer *w, int *lock_fd);
void cli_close_writer(struct store *st, struct writer *w, int lock_fd);

/*
 * Opens the copy of a data dir at dir (store_copy()) and checks every log
 * entry and rejection against its checksum; prints what is wrong. A
 * cli_exit.
 */
int cli_check_copy(const char *cmd, const char *dir);

/* The bytes this user may still write on the file system of path, or
 * UINT64_MAX when it cannot be read. */
uint64_t cli_free_bytes(const char *path);

/*
 * Says that what (a copy of the data dir: store_copy()) found no room on the
 * file system of where, and what to do (next); with how much it needs
 * (store_copy_size(), 0 when not known) and how much was free before it
 * began (cli_free_bytes()), or, when that was enough, what else runs out.
 */
void cli_say_no_room(const char *cmd, const char *what, const char *where, uint64_t need,
		     uint64_t free_before, const char *next);

/*
 * Reports rc, a store error of a command that replays into a scratch data
 * dir made in parent (NULL: /tmp), naming where when it is out of space
 * and what moves it (moved_by); returns CLI_STORE.
 */
int cli_scratch_store_error(const char *cmd, int rc, const char *parent, const char *moved_by);

/*
 * Prints the outcome of replaying the log into a slot when it is not
 * REPLAY_OK; returns the exit status: CLI_STORE for a damaged entry,
 * CLI_MISMATCH for one that does not apply.
 */
int cli_print_replay_failure(const char *cmd, const struct replay_result *res);

/*
 * Whether stdin can be read, for the commands that read it: not when it is
 * closed, or open for writing only (main.c holds a closed one so). When
 * not, says so as "pledged CMD: ..." on stderr.
 */
bool cli_stdin_open(const char *cmd);

/* The directory path is in (".", "/", or what comes before its last slash)
 * into parent; the name of path within it. */
const char *cli_path_split(const char *path, char *parent, size_t size);

/* Refuses, saying so, a data dir another process has open (its LMDB
 * environment: a serve, verify, backup, or any LMDB tool): for what
 * rewrites it whole. A cli_exit. */
int cli_check_alone(const char *cmd, const char *dir);

/* The longest JSON line import and publish read: no event is that long
 * (16 KiB of msgpack, each byte at most six of JSON's), while an input with
 * no line ends (/dev/zero) would otherwise fill the memory. */
#define CLI_LINE_MAX (1024 * 1024)

/*
 * Reads the next line of stdin without its "\n" into line (room for
 * CLI_LINE_MAX bytes and a NUL): its length, or -1 at the end of input (or
 * a read error: cli_stdin_read_whole). Of a longer line, its first
 * CLI_LINE_MAX bytes with *whole false: cli_skip_long_line() reads past
 * the rest.
 */
ssize_t cli_read_line(char *line, bool *whole);
/*
 * The JSON of line lineno of len bytes, read by cli_read_line(): without
 * the "\r" of a CRLF line end or trailing blanks (a line of blanks is
 * empty, as the callers skip empty ones), nor on line 1 the UTF-8 byte order mark
 * that some editors write at the start of a file (RFC 8259 lets a reader
 * ignore it; left, it would cost the first line, often a campaign.opened
 * that every later line needs). Returns where it starts; *len becomes its
 * length.
 */
const char *cli_line_json(const char *line, size_t *len, uint64_t lineno);
/* Says that line lineno is too long to be an event and reads past it. */
void cli_skip_long_line(const char *cmd, uint64_t lineno);

/*
 * After a cli_read_line() loop over stdin, which a read error ends as the
 * end of input does: whether stdin was read to its end. When not, says so,
 * with the last line read, as "pledged CMD: ..." on stderr.
 */
bool cli_stdin_read_whole(const char *cmd, uint64_t lines);

/* Parses a whole unsigned decimal number. */
bool cli_parse_u64(const char *s, uint64_t *out);

/* Prints "pledged CMD: message" and the usage hint on stderr; returns CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A bad option: getopt said which and why; adds where to look. Returns CLI_USAGE. */
int cli_option_error(const char *cmd);

/* Prints j on stdout as one compact JSON line and drops the reference.
 * Returns 0, or PL_ENOMEM when j is NULL (its builder ran out of memory). */
int cli_print_json(json_t *j);

/*
 * Opens dir, runs fn in a read-only transaction, closes. Errors are printed
 * for the operator. Returns a cli_exit.
 */
int cli_read(const char *cmd, const char *dir, int (*fn)(struct store_txn *t, void *arg),
	     void *arg);

#endif
