/*
 * crash_point.h — named places in the write path where a test can make the
 * process die at once, as a kill -9 or a power cut there would (SQLite's
 * fault.c idea). Random kills seldom land in the narrow windows between
 * two steps; these land there every time.
 *
 * Compiled in only by builds configured with -Dcrash_points=true
 * (tests/run.sh configures its build so); in every other build
 * CRASH_POINT() is nothing. In a build that has them, the environment
 * variable PLEDGED_CRASH_AT=NAME[:N] makes the process _exit() with status
 * CRASH_POINT_EXIT, without any cleanup, the Nth time (default 1) it passes
 * the point NAME. tests/kafka/crash_points.sh crashes serve at each point.
 */
#ifndef CRASH_POINT_H
#define CRASH_POINT_H

/* X(ENUM, "name", "the state the process dies in") */
#define CRASH_POINTS(X)                                                                    \
	X(STORE_GROWN, "store.grown",                                                     \
	  "the map was doubled; the transaction that needed room not yet run again")      \
	X(CONSUMER_ASSIGNED, "consumer.assigned",                                         \
	  "partitions assigned at their stored offsets; nothing fetched yet")             \
	X(INGEST_APPLIED, "ingest.applied",                                               \
	  "every message of a batch decoded, judged, appended or rejected; the "          \
	  "projections' cached totals not yet written")                                   \
	X(INGEST_FLUSHED, "ingest.flushed",                                               \
	  "the batch's projection changes written; its offsets not yet")                  \
	X(INGEST_OFFSETS, "ingest.offsets",                                               \
	  "the batch's offsets written; the transaction not yet committed")               \
	X(STORE_COMMITTED, "store.committed",                                             \
	  "a write transaction committed; whoever wrote it not yet told")                 \
	X(UPKEEP_WRITTEN, "upkeep.written",                                               \
	  "a checkpoint's or merge's runs written beside the batches and committed; "     \
	  "the transaction that makes lookups read them not yet")                         \
	X(WRITER_DONE, "writer.done",                                                     \
	  "the writer thread has a batch's result; the consumer not yet told")            \
	X(CONSUMER_KAFKA_COMMITTED, "consumer.kafka_committed",                           \
	  "the consumer group told how far the next batch goes; the batch not yet "       \
	  "handed to the writer")                                                         \
	X(CONSUMER_COLLECTED, "consumer.collected",                                       \
	  "the consumer knows a batch is written; metrics and streams not yet told")      \
	X(CONSUMER_REVOKED, "consumer.revoked",                                           \
	  "partitions revoked and everything in hand written; not yet unassigned")

enum crash_point {
#define CRASH_POINT_ENUM(e, name, state) CRASH_##e,
	CRASH_POINTS(CRASH_POINT_ENUM)
#undef CRASH_POINT_ENUM
	CRASH_POINT_COUNT
};

/* The exit status of a process that died at a crash point. */
#define CRASH_POINT_EXIT 99

#ifdef PLEDGED_CRASH_POINTS
/* Dies here if PLEDGED_CRASH_AT names this point and this is the Nth pass. */
void crash_point(enum crash_point p);
#define CRASH_POINT(name) crash_point(CRASH_##name)
#else
#define CRASH_POINT(name) ((void)0)
#endif

#endif
