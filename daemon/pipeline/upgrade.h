/*
 * upgrade.h — a data dir of format 1 to 6 brought to format 7, in place.
 *
 * Format 2 gave every log entry and rejection a checksum (and rejections
 * their event id and type), moved the projections into slots with the
 * rules' state in the state index, and so changed every table but the
 * offsets. Format 3 added each campaign's history, the platform totals
 * and, in the state index, who backs what across campaigns. Format 4 packs
 * history rows tighter and writes them behind (proj_staged.h). Format 5 keeps
 * a campaign's history rows as duplicates of one key and writes new comments
 * behind too; format 6 stages them by log position. Format 7 moves staged
 * rows over several transactions, with a mark of how far a move got
 * (proj_staged.h), and puts the rows of campaigns a move brings few of in
 * runs (proj_history_runs.h): from format 6, whose moves were one
 * transaction each, the upgrade only changes the format's number. From format 5 it moves the
 * staged comments into the comments table, in one transaction. From format 1
 * the upgrade rewrites the log and the rejections a share per transaction
 * and drops the old projection tables; from formats 1 to 4 it then rebuilds
 * the projections from the log (rebuild.h). While it runs the data dir is
 * marked as being upgraded, which every other command refuses; interrupted,
 * it goes on where it stopped when run again. Nobody may write the data dir
 * meanwhile (the CLI takes both locks).
 */
#ifndef UPGRADE_H
#define UPGRADE_H

#include "rebuild.h"

struct upgrade_report {
	int from_format;        /* STORE_FORMAT when there was nothing to do */
	uint64_t log_entries;   /* rewritten by this run */
	uint64_t rejections;    /* rewritten by this run */
	bool rebuilt;           /* the projections were rebuilt (else kept) */
	struct rebuild_report rebuild;
};

/*
 * Upgrades st (opened with old_format). progress, when not NULL, is told of
 * each step. 0 with *rep, PL_ECORRUPT when the rebuild finds a log entry
 * that does not apply (see rep->rebuild.result) or LMDB's pages are
 * damaged (the data dir is then left unfinished, not of the new format),
 * or a store error.
 */
int upgrade_run(struct store *st, void (*progress)(const char *step, void *arg), void *arg,
		struct upgrade_report *rep);

#endif
