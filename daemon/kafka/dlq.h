/*
 * dlq.h — every rejection also produced to a dead-letter topic (setting
 * dlq_topic), so gateways learn what was refused the Kafka way.
 *
 * The rejections table is the queue: a thread of its own reads the
 * rejections after the last one delivered, produces each with the original
 * key and value and headers saying why, and moves the mark as the broker
 * acknowledges them; the writer stores the mark with its next batch. So
 * delivery is at least once (after a crash, what was sent since the stored
 * mark is sent again), never holds up ingest (the thread only reads the
 * store), and while the topic is unavailable the backlog is the rejections
 * after the mark, shown in /metrics, with at most DLQ_WINDOW of them in
 * librdkafka's queue. An erasure takes back what that queue holds, to be
 * read again from the store as the erasure left it (dlq_erasure).
 */
#ifndef DLQ_H
#define DLQ_H

#include <stdbool.h>
#include <stddef.h>

#include "kafka_conf.h"
#include "metrics.h"
#include "store.h"
#include "writer.h"

/* Rejections in librdkafka's hands at a time. */
#define DLQ_WINDOW 10000

struct dlq_options {
	const char *brokers;
	const char *topic;              /* the dead-letter topic */
	const struct kafka_prop *kafka; /* pass-through properties (security) */
	size_t kafka_count;
};

struct dlq;

/* Whether librdkafka takes opt's settings for the dead-letter producer
 * (serve --check-config): 0, or PL_EINVAL with why in err. Connects to
 * nothing. */
int dlq_check(const struct dlq_options *opt, char *err, size_t err_size);

/*
 * Starts forwarding the rejections of st after the stored mark (after the
 * newest one when no dead-letter topic was ever set on this data dir). w
 * must be the data dir's writer, m the metrics, and opt's strings and
 * settings as they are (a producer is made again from them after a fatal
 * error); all outlive the forwarder.
 * Returns 0 or an error with a message in err.
 */
int dlq_start(struct dlq **out, struct store *st, struct writer *w, struct metrics *m,
	      const struct dlq_options *opt, char *err, size_t err_size);

/*
 * An erasure is about to be written (begins), or its write ended, committed
 * or not (!begins); dlq is a struct dlq. In between nothing is handed to
 * librdkafka, and what it holds, queued or in flight, is taken back at
 * once: those copies may hold bytes the erasure empties, and the topic may
 * come back (or a failed request be sent again) the moment the erasure
 * commits. They are read from the store again once it ends; one that was
 * in flight may then arrive twice. For consumer_options.on_erasure: called
 * on the consumer's thread.
 */
void dlq_erasure(void *dlq, bool begins);

/* Gives what is in flight up to a few seconds to be acknowledged, then stops. NULL is fine. */
void dlq_stop(struct dlq *d);

#endif
