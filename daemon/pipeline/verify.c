/* verify.c — the live slot against a replay of the log; see verify.h. */
#include "verify.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "bytes.h"
#include "pl_error.h"
#include "rejections.h"

struct digest {
	XXH3_state_t *state;
	uint64_t entries;
	size_t value_size;
};

static int digest_entry(const struct fp *f, const void *value, void *arg)
{
	struct digest *d = arg;
	XXH3_64bits_update(d->state, f->b, FP_SIZE);
	XXH3_64bits_update(d->state, value, d->value_size);
	d->entries++;
	return 0;
}

/* A digest of every entry of one kind of a slot's index, in fingerprint order. */
static int digest_kind(struct slot *s, struct store_txn *t, int kind, uint64_t *hash,
		       uint64_t *entries)
{
	struct digest d = {XXH3_createState(), 0, s->ix.kinds[kind].def.value_size};
	if (!d.state)
		return PL_ENOMEM;
	XXH3_64bits_reset(d.state);
	int rc = index_each(&s->ix, t, kind, digest_entry, &d);
	*hash = XXH3_64bits_digest(d.state);
	*entries = d.entries;
	XXH3_freeState(d.state);
	return rc;
}

/* Compares the rules' state of the live slot (brought up to the snapshot) with the replay's. */
static int compare_state(struct slot *live, struct store_txn *lt, struct slot *replay,
			 struct store_txn *rt, struct verify_report *rep)
{
	for (int kind = 0; kind < SLOT_KINDS; kind++) {
		uint64_t a, b, na, nb;
		int rc = digest_kind(live, lt, kind, &a, &na);
		if (rc == 0)
			rc = digest_kind(replay, rt, kind, &b, &nb);
		if (rc)
			return rc;
		if (a != b || na != nb) {
			snprintf(rep->diff, sizeof rep->diff,
				 "state of %s: %llu entries stored, %llu produced by the log, and their "
				 "values differ",
				 live->ix.kinds[kind].def.name, (unsigned long long)na,
				 (unsigned long long)nb);
			rep->differs = 1;
			return PL_OK;
		}
	}
	return PL_OK;
}

int verify_run(struct store *st, const char *scratch_dir, const struct slot_options *opt,
	       struct verify_report *rep)
{
	struct store_txn src, rt;
	struct store *scratch = NULL;
	struct slot replayed = {0}, live = {0};
	struct replay_options ropt = {.slot = *opt};
	struct store_options sopt = {.create = true, .no_sync = true};
	enum store_slot which;
	uint64_t gen;
	memset(rep, 0, sizeof *rep);

	/* First: the checks after it read through the pages it walks. */
	int rc = store_check_pages(st, &rep->damaged_page);
	if (rc) {
		rep->page_damaged = rc == PL_ECORRUPT;
		store_remove_dir(scratch_dir);
		return rep->page_damaged ? PL_OK : rc;
	}
	rc = store_read_begin(st, &src);
	if (rc == 0)
		rc = evlog_last_seq(&src, &rep->snapshot_seq);
	if (rc == 0)
		rc = rejections_check(&src, &rep->bad_rejection);
	if (rc == 0 && (rc = store_check_free_pages(&src)) == PL_ECORRUPT) {
		rep->free_pages_damaged = true;
		rc = 0;
	}
	/* Entries a walk finds but a seek (a refund's pledge, a resume) would
	 * miss, named by their number, before the tables are named. */
	if (rc == 0 && (rc = evlog_check_seeks(&src, &rep->replay.result.failed_seq))) {
		if (rc == PL_ECORRUPT || rc == PL_ECHECKSUM) {
			rep->replay.result.outcome = REPLAY_DAMAGED;
			rc = 0;
		}
		goto out;
	}
	if (rc == 0 && rep->bad_rejection)
		goto out;
	if (rc == 0 && (rc = store_check_values(&src, &rep->damaged_table)) == PL_ECORRUPT) {
		rep->table_damaged = true;
		rc = 0;
		goto out;
	}
	if (rc == 0)
		rc = proj_live(&src, &which, &gen);
	if (rc == 0)
		rc = store_open(&scratch, scratch_dir, &sopt);
	if (rc == 0)
		rc = replay_scratch(&src, scratch, &ropt, &replayed, &rep->replay);
	if (rc || rep->replay.result.outcome != REPLAY_OK)
		goto out;

	/* What readers see: the live slot's tables against the replay's. */
	if ((rc = store_read_begin(scratch, &rt)))
		goto out;
	rc = proj_compare(&src, which, &rt, STORE_SLOT_A, rep->diff, sizeof rep->diff);
	if (rc > 0) {
		rep->differs = 1;
		rc = 0;
	}
	/* What the rules keep: the live slot's index brought up to the snapshot. */
	if (rc == 0 && !rep->differs)
		rc = slot_open(&live, st, which, opt, &src);
	if (rc == 0 && !rep->differs) {
		struct replay_result res;
		slot_set_log(&live, &src);
		rc = slot_catch_up(&live, rep->snapshot_seq, &res);
		if (rc == 0 && res.outcome != REPLAY_OK) {
			snprintf(rep->diff, sizeof rep->diff,
				 "the live slot's state does not apply the log: entry %llu: %s",
				 (unsigned long long)res.failed_seq, replay_outcome_text(res.outcome));
			rep->differs = 1;
		}
		if (rc == 0 && !rep->differs)
			rc = compare_state(&live, &src, &replayed, &rt, rep);
		slot_close(&live);
	}
	store_abort(&rt);
out:
	slot_close(&replayed);
	store_abort(&src);
	/* Made by store_open even when it failed: remove what it left. */
	store_close(scratch);
	store_remove_dir(scratch_dir);
	return rc < 0 ? rc : PL_OK;
}

int verify_checksums(struct store *st, uint64_t *entries, uint64_t *bad_entry,
		     uint64_t *bad_rejection)
{
	struct store_txn t;
	*entries = *bad_entry = *bad_rejection = 0;
	int rc = store_read_begin(st, &t);
	if (rc == 0) {
		/* A compacting copy keeps a branch key that sends seeks astray: seek them too. */
		rc = evlog_check_seeks(&t, bad_entry);
		if (rc == PL_ECHECKSUM || rc == PL_ECORRUPT)
			rc = 0;
		else
			*bad_entry = 0;
		/* The log is dense: the sound entries are those before the first bad one. */
		if (rc == 0 && *bad_entry)
			*entries = *bad_entry - 1;
		else if (rc == 0)
			rc = evlog_last_seq(&t, entries);
	}
	if (rc == 0)
		rc = rejections_check(&t, bad_rejection);
	store_abort(&t);
	return rc;
}
