/*
 * verify.h — checks one consistent snapshot of a data dir against its own
 * log, without stopping whoever writes it: every page of LMDB's trees,
 * LMDB's list of free pages and every table's large values against their
 * pages (store.h), every log
 * entry and rejection against its checksum, then the live slot against a
 * replay of the log into a scratch data dir (replay.h): what readers see
 * byte for byte, and the rules' state entry for entry.
 */
#ifndef VERIFY_H
#define VERIFY_H

#include "replay.h"

struct verify_report {
	struct replay_report replay; /* the log's replay: damaged or inconsistent entries */
	uint64_t snapshot_seq;       /* the log position checked */
	uint64_t bad_rejection;      /* a rejection whose checksum fails, or 0 */
	bool page_damaged;           /* an LMDB page: damaged_page (store_check_pages) */
	struct store_page_damage damaged_page;
	bool free_pages_damaged;     /* LMDB's list of free pages (the next write's) */
	bool table_damaged;          /* LMDB's pages of damaged_table (store_check_values) */
	enum store_db damaged_table;
	int differs;                 /* 1: the live slot differs from the replay */
	char diff[512];
};

/*
 * Verifies st, replaying into a fresh data dir made in scratch_dir (an
 * empty directory, or none yet; it is removed afterwards). Returns 0 with the findings in
 * *rep (all clear when rep->replay.result.outcome is REPLAY_OK,
 * bad_rejection is 0, page_damaged, free_pages_damaged and table_damaged
 * are false and differs is 0), or a store error. A damaged page or table
 * stops it there: what follows would read the damage.
 */
int verify_run(struct store *st, const char *scratch_dir, const struct slot_options *opt,
	       struct verify_report *rep);

/*
 * Checks only every log entry and rejection, against its checksum, its
 * place and a seek for it (a backup's quick check): *entries gets the
 * sound entries, *bad_entry and *bad_rejection the first that fails, or
 * 0. 0 or a store error.
 */
int verify_checksums(struct store *st, uint64_t *entries, uint64_t *bad_entry,
		     uint64_t *bad_rejection);

#endif
