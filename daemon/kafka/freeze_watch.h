/* freeze_watch.h — notices when this process did not run for longer than
 * the consumer group's session timeout (stopped by a signal, a suspended
 * machine):
 * the group has given its partitions to another instance by then, and
 * librdkafka says so only once it has run again and asked. */
#ifndef FREEZE_WATCH_H
#define FREEZE_WATCH_H

#include <stdint.h>

#include "ownership.h"

struct freeze_watch;

/*
 * Starts a thread that gives o a sign of life every 100 ms
 * (ownership_expect_alive, ownership_alive) and logs a freeze longer than
 * session_ms. 0, or PL_ENOMEM when the thread cannot start.
 */
int freeze_watch_start(struct freeze_watch **out, struct ownership *o, int64_t session_ms);
/* Stops the thread and frees fw (NULL is fine). */
void freeze_watch_stop(struct freeze_watch *fw);

#endif
