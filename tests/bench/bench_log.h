/*
 * bench_log.h — a data dir's log filled with the bench's event stream
 * (bench_events.h) through the real ingest path, at serve's settings.
 */
#ifndef BENCH_LOG_H
#define BENCH_LOG_H

#include <stdint.h>

#include "store.h"

/* Ingests events messages of the stream (100 campaigns, seed 42) into st;
 * returns the log's last sequence. Exits the program, naming who, on failure. */
uint64_t bench_fill_log(struct store *st, uint64_t events, const char *who);

#endif
