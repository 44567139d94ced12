/*
 * cmd_replay.c — `pledged replay`: rebuild the projections from the log
 * online and swap them in (rebuild.h); or show the difference first, drop a
 * rebuild, or show the campaigns as they stood at a point (a dry run into a
 * scratch data dir, replay.h).
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "scratch.h"
#include "commands.h"
#include "pl_error.h"
#include "proj_read.h"
#include "rebuild.h"
#include "replay.h"
#include "time_text.h"
#include "views.h"

static const char usage[] =
	"Usage: pledged replay [--data DIR] [--no-swap | --diff | --abort] [--txn-ms MS]\n"
	"                      [--max-rate N | --at-once N]\n"
	"       pledged replay [--data DIR] --dry-run [--until-seq N | --until-time TIME]\n"
	"\n"
	"Rebuild every projection from the event log, online: the slot readers do\n"
	"not see is filled in write transactions of at most --txn-ms milliseconds, so\n"
	"a running serve goes on ingesting between them and HTTP keeps serving the\n"
	"live projections. Once the rebuild has caught up with the log it replaces\n"
	"them in one transaction (a swap). Ctrl-C stops it; run it again to go on.\n"
	"Progress goes to stderr.\n"
	"\n"
	"  --data DIR         data directory (default: pledged-data)\n"
	"  --no-swap          rebuild and catch up, then print what the swap would\n"
	"                     change (one JSON line per campaign) and stop, ready\n"
	"  --diff             print what the swap of the rebuild under way would change\n"
	"  --abort            drop the rebuild under way\n"
	"  --txn-ms MS        longest write transaction of the rebuild (default 20)\n"
	"  --max-rate N       rebuild about N log entries per second on average (a tenth\n"
	"                     of a second's worth at a time; the last stretch to the swap\n"
	"                     is not held back), leaving the rest\n"
	"                     of the disk and CPU to serve (default: no limit)\n"
	"  --at-once N        from nothing, read and decide at most the log's first N\n"
	"                     entries at once, about 400 bytes of memory each while it\n"
	"                     runs, and apply the rest entry by entry (default 2097152;\n"
	"                     0: all entry by entry, in little memory)\n"
	"  --dry-run          write nothing: replay the log into a scratch data dir and\n"
	"                     print the campaigns it gives as JSON lines\n"
	"  --until-seq N      with --dry-run: log entries 1..N only\n"
	"  --until-time TIME  with --dry-run: events whose time is at or before TIME,\n"
	"                     given as Unix milliseconds or UTC like 2020-01-15T12:00:00Z\n"
	"  -h, --help         show this help\n"
	"\n"
	"The live projections always reflect the whole log: a point in time is\n"
	"only ever shown (--dry-run), never written.\n"
	"\n"
	"Exit status: 0 done, 1 a log entry did not apply, or no rebuild is under way\n"
	"for --diff or --abort, 2 usage, 3 data dir unusable (a damaged log entry\n"
	"included) or another rebuild is running, 128 + the signal's number (130\n"
	"Ctrl-C) stopped by SIGINT, SIGTERM or SIGHUP before it swapped or caught up\n"
	"(run it again to go on).\n";

enum mode { REBUILD, NO_SWAP, DIFF, ABORT, DRY_RUN };

static atomic_bool stop_requested;
static atomic_int stopped_by; /* the signal that asked it to stop */

static void on_signal(int sig)
{
	atomic_store(&stopped_by, sig);
	atomic_store(&stop_requested, true);
}

/* A progress line on stderr: redrawn in place on a terminal, one a second otherwise. */
static void show_progress(const struct rebuild_progress *p, void *arg)
{
	static int64_t last_line;
	bool *tty = arg;
	int64_t now = (int64_t)time(NULL);
	if (!*tty && now == last_line)
		return;
	last_line = now;
	double pct = p->head ? 100.0 * (double)p->done / (double)p->head : 100.0;
	double left = p->rate > 0 && p->head > p->done ? (double)(p->head - p->done) / p->rate : 0;
	fprintf(stderr, "%spledged replay: %llu of %llu entries (%.0f%%), %.0f entries/s, %.0f s left%s",
		*tty ? "\r" : "", (unsigned long long)p->done, (unsigned long long)p->head, pct,
		p->rate, left, *tty ? "   " : "\n");
}

static json_t *totals_json(const struct proj_totals *t)
{
	return json_pack("{s:I,s:I,s:I,s:I,s:s}", "raised", (json_int_t)t->raised, "pledges",
			 (json_int_t)t->pledges, "supporters", (json_int_t)t->supporters, "comments",
			 (json_int_t)t->comments, "status", t->closed_at == PROJ_NONE ? "open" : "closed");
}

static int print_change(const struct rebuild_change *c, void *arg)
{
	int *count = arg;
	(*count)++;
	return cli_print_json(json_pack("{s:s%,s:o,s:o}", "id", c->id.ptr, (size_t)c->id.len,
					"live", c->in_live ? totals_json(&c->live) : json_null(),
					"rebuilt", c->in_rebuilt ? totals_json(&c->rebuilt) : json_null()));
}

/* A rebuild that stopped short compares only the part of the log it holds. */
static void warn_if_behind(struct store *st)
{
	struct store_txn t;
	bool under_way;
	enum store_slot slot;
	uint64_t done = 0, head = 0;
	if (store_read_begin(st, &t))
		return;
	if (rebuild_status(&t, &under_way, &slot, &done) == 0 && under_way &&
	    evlog_last_seq(&t, &head) == 0 && done < head)
		fprintf(stderr, "pledged replay: the rebuild stands at entry %llu of %llu, so these "
				"are the differences so far%s; 'pledged replay --no-swap' catches up "
				"first\n",
			(unsigned long long)done, (unsigned long long)head,
			done ? "" : " (it holds no campaign yet: what a fill stopped short wrote, "
				    "the next rebuild starts over)");
	store_abort(&t);
}

static int print_diff(struct store *st)
{
	int count = 0;
	int rc = rebuild_diff(st, print_change, &count);
	if (rc == PL_ENOTFOUND) {
		fprintf(stderr, "pledged replay: no rebuild is under way; run 'pledged replay --no-swap'\n");
		return CLI_MISMATCH;
	}
	if (rc) {
		fprintf(stderr, "pledged replay: %s\n", pl_strerror(rc));
		return CLI_STORE;
	}
	fprintf(stderr, "pledged replay: a swap would change %d campaign%s\n", count,
		count == 1 ? "" : "s");
	warn_if_behind(st);
	return CLI_OK;
}

/* How a rebuild is paced and how much of the log it takes at once (--at-once). */
struct pace {
	int txn_ms;
	uint64_t max_rate;
	bool at_once_set;
	uint64_t at_once;
};

static int rebuild(struct store *st, enum mode mode, const struct pace *pace)
{
	bool tty = isatty(STDERR_FILENO);
	struct rebuild_options opt = {.txn_ms = pace->txn_ms, .max_rate = pace->max_rate,
				      .in_log_order = pace->at_once_set && pace->at_once == 0,
				      .bulk.entries = pace->at_once,
				      .swap = mode == REBUILD,
				      .stop = &stop_requested, .progress = show_progress,
				      .progress_arg = &tty};
	struct rebuild_report rep;
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	struct sigaction hup; /* left ignored under nohup */
	if (sigaction(SIGHUP, NULL, &hup) == 0 && hup.sa_handler != SIG_IGN)
		sigaction(SIGHUP, &sa, NULL);
	int rc = rebuild_run(st, &opt, &rep);
	if (tty)
		fputc('\n', stderr);
	if (rc && rep.swapped) {
		fprintf(stderr, "pledged replay: swapped in at entry %llu, but emptying the old "
				"slot failed: %s; readers see the new projections ('pledged verify' "
				"says whether the data dir is sound)\n",
			(unsigned long long)rep.head, pl_strerror(rc));
		return CLI_STORE;
	}
	if (rc) {
		fprintf(stderr, "pledged replay: %s; the live projections are unchanged\n",
			rc == PL_EBUSY ? "another process swapped the projections, or took this "
					 "rebuild on, meanwhile"
				       : pl_strerror(rc));
		return CLI_STORE;
	}
	if (rep.result.outcome != REPLAY_OK) {
		int status = cli_print_replay_failure("replay", &rep.result);
		fprintf(stderr, "pledged replay: the live projections are unchanged; 'pledged replay "
				"--abort' drops this rebuild\n");
		return status;
	}
	fprintf(stderr, "pledged replay: %s slot %s: %llu entries in %.1f s, longest transaction "
			"%lld ms",
		rep.resumed ? "went on rebuilding" : "rebuilt", store_slot_name(rep.slot),
		(unsigned long long)rep.applied, rep.seconds, (long long)rep.longest_txn_ms);
	if (rep.bulk)
		fprintf(stderr, " (%llu of them filled at once)", (unsigned long long)rep.at_once);
	if (rep.swapped)
		fprintf(stderr, "; swapped in at entry %llu: readers see it now\n",
			(unsigned long long)rep.head);
	else if (rep.caught_up)
		fprintf(stderr, "; caught up with entry %llu, not swapped\n",
			(unsigned long long)rep.head);
	if (mode == NO_SWAP && rep.caught_up)
		return print_diff(st);
	if (rep.swapped || rep.caught_up)
		return CLI_OK;
	/* Only a signal stops it short: said as a shell says a process it
	 * stopped, so that a script cannot take it for a swap. */
	fprintf(stderr, "; stopped at entry %llu of %llu: run 'pledged replay' again to go on\n",
		(unsigned long long)rep.done, (unsigned long long)rep.head);
	return 128 + atomic_load(&stopped_by);
}

static int print_campaign(const struct proj_campaign *c, const void *key, size_t key_len,
			  void *arg)
{
	(void)key;
	(void)key_len;
	(void)arg;
	return cli_print_json(view_campaign(c));
}

static int dry_run(struct store *st, const struct replay_options *opt)
{
	char scratch_dir[4200];
	const char *tmp = getenv("TMPDIR");
	if (tmp && !*tmp)
		tmp = NULL; /* set empty: unset, not the root directory */
	snprintf(scratch_dir, sizeof scratch_dir, "%s/pledged-replay-XXXXXX", tmp ? tmp : "/tmp");
	cli_scratch_sweep("replay", scratch_dir, "a scratch dir");
	if (cli_scratch_make(scratch_dir)) {
		fprintf(stderr, "pledged replay: cannot make a scratch directory in %s: %m (set "
				"TMPDIR to a directory this user may write with room for the "
				"projections)\n",
			tmp ? tmp : "/tmp");
		return CLI_STORE;
	}
	struct store *scratch = NULL;
	struct store_options sopt = {.create = true, .no_sync = true};
	struct store_txn src, t;
	struct slot replayed = {0};
	struct replay_report rep = {0};
	int rc = store_read_begin(st, &src);
	if (rc == 0)
		rc = store_open(&scratch, scratch_dir, &sopt);
	if (rc == 0)
		rc = replay_scratch(&src, scratch, opt, &replayed, &rep);
	if (rc == 0 && rep.result.outcome == REPLAY_OK && (rc = store_read_begin(scratch, &t)) == 0) {
		rc = proj_campaign_each(&t, STORE_SLOT_A, print_campaign, NULL);
		store_abort(&t);
	}
	slot_close(&replayed);
	store_abort(&src);
	if (scratch)
		store_close(scratch);
	store_remove_dir(scratch_dir);
	cli_scratch_end();
	if (rc)
		return cli_scratch_store_error("replay", rc, tmp, "TMPDIR");
	if (rep.result.outcome != REPLAY_OK) {
		return cli_print_replay_failure("replay", &rep.result);
	}
	fprintf(stderr, "pledged replay: dry run: %llu entries (last %llu)",
		(unsigned long long)rep.result.applied, (unsigned long long)rep.last_seq);
	if (rep.skipped_time || rep.skipped_dependent)
		fprintf(stderr, ", left out %llu later events and %llu that depend on them",
			(unsigned long long)rep.skipped_time, (unsigned long long)rep.skipped_dependent);
	fprintf(stderr, "; nothing was written\n");
	return CLI_OK;
}

int cmd_replay(int argc, char **argv)
{
	static const struct option opts[] = {{"data", required_argument, NULL, 'd'},
					     {"until-seq", required_argument, NULL, 's'},
					     {"until-time", required_argument, NULL, 't'},
					     {"dry-run", no_argument, NULL, 'n'},
					     {"no-swap", no_argument, NULL, 'N'},
					     {"diff", no_argument, NULL, 'D'},
					     {"abort", no_argument, NULL, 'A'},
					     {"txn-ms", required_argument, NULL, 'T'},
					     {"max-rate", required_argument, NULL, 'R'},
					     {"at-once", required_argument, NULL, 'O'},
					     {"help", no_argument, NULL, 'h'},
					     {0}};
	const char *dir = "pledged-data";
	struct replay_options ropt = {0};
	enum mode mode = REBUILD;
	int modes = 0;
	uint64_t txn_ms = 0;
	struct pace pace = {0};
	int c;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 's':
			if (!cli_parse_u64(optarg, &ropt.until_seq) || ropt.until_seq == 0)
				return cli_usage_error("replay", "--until-seq wants a sequence number >= 1, not '%s'", optarg);
			break;
		case 't':
			if (!time_text_parse(optarg, &ropt.until_time))
				return cli_usage_error("replay", "--until-time wants " TIME_TEXT_FORMS ", not '%s'", optarg);
			ropt.has_until_time = true;
			break;
		case 'n': mode = DRY_RUN; modes++; break;
		case 'N': mode = NO_SWAP; modes++; break;
		case 'D': mode = DIFF; modes++; break;
		case 'A': mode = ABORT; modes++; break;
		case 'T':
			if (!cli_parse_u64(optarg, &txn_ms) || txn_ms < 1 || txn_ms > 60000)
				return cli_usage_error("replay", "--txn-ms wants 1..60000, not '%s'", optarg);
			break;
		case 'R':
			if (!cli_parse_u64(optarg, &pace.max_rate) || pace.max_rate < 1 ||
			    pace.max_rate > 1000000000)
				return cli_usage_error("replay", "--max-rate wants 1..1000000000 entries per second, not '%s'", optarg);
			break;
		case 'O':
			if (!cli_parse_u64(optarg, &pace.at_once) || pace.at_once > UINT32_MAX)
				return cli_usage_error("replay", "--at-once wants 0..%u log entries, not '%s'",
						       UINT32_MAX, optarg);
			pace.at_once_set = true;
			break;
		case 'h': fputs(usage, stdout); return CLI_OK;
		default: return cli_option_error("replay");
		}
	}
	if (optind < argc)
		return cli_usage_error("replay", "unexpected argument '%s'", argv[optind]);
	if (modes > 1)
		return cli_usage_error("replay", "--dry-run, --no-swap, --diff and --abort exclude each other");
	if ((txn_ms || pace.max_rate || pace.at_once_set) && mode != REBUILD && mode != NO_SWAP)
		return cli_usage_error("replay", "--txn-ms, --max-rate and --at-once shape a rebuild; they "
						 "do not go with --dry-run, --diff or --abort");
	if (pace.max_rate && pace.at_once_set)
		return cli_usage_error("replay", "--max-rate rebuilds entry by entry: it does not go with "
						 "--at-once");
	pace.txn_ms = (int)txn_ms;
	if (ropt.until_seq && ropt.has_until_time)
		return cli_usage_error("replay", "give --until-seq or --until-time, not both");
	if ((ropt.until_seq || ropt.has_until_time) && mode != DRY_RUN)
		return cli_usage_error("replay", "--until-seq and --until-time only go with --dry-run: the "
						 "live projections always reflect the whole log");

	struct store *st;
	int lock_fd = -1;
	int rc = cli_open_store("replay", dir, mode == DRY_RUN || mode == DIFF ? CLI_READ : CLI_WRITE, 0, &st);
	if (rc)
		return rc;
	if (mode == DRY_RUN)
		rc = dry_run(st, &ropt);
	else if (mode == DIFF)
		rc = print_diff(st);
	else if ((rc = cli_lock("replay", dir, CLI_LOCK_REBUILD, false, &lock_fd)) == CLI_OK) {
		/* A rebuild writes: the pages are walked first. */
		if ((rc = cli_check_pages("replay", st)) != CLI_OK) {
			/* nothing written */
		} else if (mode == ABORT) {
			struct slot_options sopt = {0};
			int err = rebuild_abort(st, &sopt);
			if (err == PL_ENOTFOUND)
				fprintf(stderr, "pledged replay: no rebuild is under way\n");
			else if (err)
				fprintf(stderr, "pledged replay: %s\n", pl_strerror(err));
			else
				fprintf(stderr, "pledged replay: dropped the rebuild under way\n");
			rc = err == 0 ? CLI_OK : err == PL_ENOTFOUND ? CLI_MISMATCH : CLI_STORE;
		} else {
			rc = rebuild(st, mode, &pace);
		}
		close(lock_fd);
	}
	store_close(st);
	return rc;
}
