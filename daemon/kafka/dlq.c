/* dlq.c — rejections forwarded to the dead-letter topic; see dlq.h. */
#include "dlq.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include "log.h"
#include "pl_error.h"
#include "rejections.h"

/* How long the thread waits for acknowledgements between reads of the store. */
#define POLL_MS 100
/* After a failed delivery, before everything from it is sent again. */
#define RETRY_MS 1000
#define STOP_FLUSH_MS 5000

enum flight { PENDING, DELIVERED, FAILED };

struct dlq {
	struct store *st;
	struct writer *w;
	struct metrics *m;
	struct dlq_options opt; /* to make the producer again */
	char topic[256];
	rd_kafka_t *rk; /* changed only under hold_lock */
	pthread_t thread;
	_Atomic bool stop;

	/* The rejections in librdkafka's hands, in sequence order: a ring. */
	uint64_t seqs[DLQ_WINDOW];
	uint8_t state[DLQ_WINDOW];
	size_t head, count, pending;
	uint64_t produced;  /* the newest sequence handed to librdkafka */
	uint64_t delivered; /* every rejection up to this one was acknowledged */
	bool failed;        /* a delivery failed: send again from delivered once all is back */
	bool purged;        /* taken back for an erasure: those sent again once all is back */
	char last_error[256];

	/* Held while an erasure is written (dlq_erasure): nothing is handed
	 * to librdkafka. The thread produces only under the lock, so once
	 * held is set, nothing read before the erasure reaches the queue. */
	pthread_mutex_t hold_lock;
	bool held;
};

static void delivery_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
	(void)rk;
	struct dlq *d = opaque;
	size_t slot = (size_t)(uintptr_t)msg->_private;
	d->pending--;
	if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		d->state[slot] = DELIVERED;
		return;
	}
	if (msg->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE ||
	    msg->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT) {
		/* Taken back for an erasure: sent again, as the store holds it,
		 * once all is back. One in flight may have arrived already (then
		 * twice: at least once). */
		d->state[slot] = FAILED;
		d->purged = true;
		return;
	}
	d->state[slot] = FAILED;
	atomic_fetch_add(&d->m->dlq_failures, 1);
	if (!d->failed)
		log_warn("dlq: rejection %" PRIu64 " not delivered to %s: %s; sending again from "
			 "there in a second (ingest goes on)",
			 d->seqs[slot], d->topic, rd_kafka_err2str(msg->err));
	d->failed = true;
}

/* Moves the mark over the acknowledged prefix and hands it to the writer. */
static void advance(struct dlq *d)
{
	while (d->count && d->state[d->head] == DELIVERED) {
		d->delivered = d->seqs[d->head];
		d->head = (d->head + 1) % DLQ_WINDOW;
		d->count--;
		atomic_fetch_add(&d->m->dlq_delivered, 1);
	}
	atomic_store(&d->w->forwarded, d->delivered);
}

static int header_num(rd_kafka_headers_t *h, const char *name, int64_t v)
{
	char buf[24];
	int n = snprintf(buf, sizeof buf, "%" PRId64, v);
	return rd_kafka_header_add(h, name, -1, buf, n) ? -1 : 0;
}

/* The headers that say why: reason, detail, where it came from, and what it was. */
static rd_kafka_headers_t *headers_of(const struct rejection_entry *e)
{
	rd_kafka_headers_t *h = rd_kafka_headers_new(8);
	const char *code = pl_reason_code(e->reason);
	bool bad = rd_kafka_header_add(h, "pledged.reason", -1, code, -1) ||
		   rd_kafka_header_add(h, "pledged.detail", -1, e->detail, (ssize_t)e->detail_len) ||
		   rd_kafka_header_add(h, "pledged.topic", -1, e->src.topic,
				       (ssize_t)e->src.topic_len) ||
		   header_num(h, "pledged.partition", e->src.partition) ||
		   header_num(h, "pledged.offset", e->src.offset) ||
		   header_num(h, "pledged.rejection", (int64_t)e->seq);
	if (!bad && e->event_id.len)
		bad = rd_kafka_header_add(h, "pledged.event_id", -1, e->event_id.ptr,
					  (ssize_t)e->event_id.len);
	if (!bad && e->event_type >= 0 && e->event_type < PL_EVENT_TYPE_COUNT)
		bad = rd_kafka_header_add(h, "pledged.event_type", -1,
					  pl_type_defs[e->event_type].name, -1);
	/* Erased before it was sent: the value is empty on purpose. */
	if (!bad && e->erased)
		bad = rd_kafka_header_add(h, "pledged.erased", -1, "true", -1);
	if (bad) {
		rd_kafka_headers_destroy(h);
		return NULL;
	}
	return h;
}

/* Hands e to librdkafka in ring slot `slot`: 0, 1 when its queue is full, or an error. */
static int produce_at(struct dlq *d, size_t slot, const struct rejection_entry *e)
{
	rd_kafka_headers_t *h = headers_of(e);
	if (!h)
		return PL_ENOMEM;
	rd_kafka_resp_err_t err = rd_kafka_producev(
		d->rk, RD_KAFKA_V_TOPIC(d->topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		RD_KAFKA_V_KEY(e->has_key ? e->key : NULL, e->has_key ? e->key_len : 0),
		RD_KAFKA_V_VALUE((void *)e->raw, e->raw_len), RD_KAFKA_V_HEADERS(h),
		RD_KAFKA_V_OPAQUE((void *)(uintptr_t)slot), RD_KAFKA_V_END);
	if (err) {
		rd_kafka_headers_destroy(h); /* librdkafka took them only on success */
		if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
			return 1;
		snprintf(d->last_error, sizeof d->last_error, "%s", rd_kafka_err2str(err));
		d->failed = true; /* tried again after a pause, not at every poll */
		return PL_EKAFKA;
	}
	d->seqs[slot] = e->seq;
	d->state[slot] = PENDING;
	d->pending++;
	return 0;
}

/* Produces one rejection; > 0 stops the walk (window or librdkafka's queue full). */
static int produce_one(const struct rejection_entry *e, void *arg)
{
	struct dlq *d = arg;
	if (d->count == DLQ_WINDOW)
		return 1;
	int rc = produce_at(d, (d->head + d->count) % DLQ_WINDOW, e);
	if (rc == 0) {
		d->count++;
		d->produced = e->seq;
	}
	return rc;
}

/*
 * Sets the backlog gauge from the newest rejection kept and, when produce,
 * hands librdkafka those after the newest one produced, up to the window.
 * The gauge moves even while nothing is produced (a delivery failed, and
 * others may stay pending for up to message.timeout.ms).
 */
static void fill(struct dlq *d, bool produce)
{
	struct store_txn t;
	uint64_t newest = 0;
	int rc = store_read_begin(d->st, &t);
	if (rc == 0)
		rc = rejections_last_seq(&t, &newest);
	if (rc == 0 && produce && newest > d->produced && d->count < DLQ_WINDOW)
		rc = rejections_each_after(&t, d->produced, produce_one, d);
	store_abort(&t);
	if (rc < 0)
		log_error("dlq: cannot forward the rejections after %" PRIu64 ": %s%s%s", d->produced,
			  pl_strerror(rc), d->last_error[0] ? ": " : "", d->last_error);
	atomic_store(&d->m->dlq_backlog, (int64_t)(newest > d->delivered ? newest - d->delivered : 0));
}

static int64_t monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The ring slot of rejection seq, which is in it. */
static size_t slot_of(const struct dlq *d, uint64_t seq)
{
	return (d->head + (size_t)(seq - d->seqs[d->head])) % DLQ_WINDOW;
}

/* What a walk of the ring does with each rejection in it, and its slot. */
typedef int (*ring_fn)(struct dlq *d, size_t slot, const struct rejection_entry *e);

struct ring_walk {
	struct dlq *d;
	ring_fn fn;
	int stopped; /* what fn returned to stop the walk */
};

static int ring_entry(const struct rejection_entry *e, void *arg)
{
	struct ring_walk *w = arg;
	if (e->seq > w->d->produced)
		return 1;
	w->stopped = w->fn(w->d, slot_of(w->d, e->seq), e);
	return w->stopped;
}

/* fn for each rejection in the ring, as the store holds it now, until fn
 * returns nonzero: that, 0, or the store's error. */
static int walk_ring(struct dlq *d, ring_fn fn)
{
	struct ring_walk w = {d, fn, 0};
	struct store_txn t;
	int rc = store_read_begin(d->st, &t);
	if (rc == 0)
		rc = rejections_each_after(&t, d->delivered, ring_entry, &w);
	store_abort(&t);
	return rc ? rc : w.stopped;
}

/* Hands e again to librdkafka in its slot, when the purge took it back:
 * 0, 1 when its queue is full, or an error. */
static int produce_purged(struct dlq *d, size_t slot, const struct rejection_entry *e)
{
	return d->state[slot] == FAILED ? produce_at(d, slot, e) : 0;
}

/* Sends again what the purge took back, in its slots; false when not all of it went. */
static bool send_purged_again(struct dlq *d)
{
	return walk_ring(d, produce_purged) == 0;
}

static rd_kafka_t *producer_new(struct dlq *d, const struct dlq_options *opt, char *err,
				size_t err_size);

/*
 * After a fatal error (the idempotent producer lost its sequence with the
 * broker) librdkafka refuses every message for good, and asks for a new
 * producer: made here, with nothing pending. false when it could not be
 * made.
 */
static bool renew_if_fatal(struct dlq *d)
{
	char why[512], err[512];
	rd_kafka_resp_err_t fatal = rd_kafka_fatal_error(d->rk, why, sizeof why);
	if (!fatal)
		return true;
	rd_kafka_t *rk = producer_new(d, &d->opt, err, sizeof err);
	if (!rk) {
		log_error("dlq: the producer stopped for good (%s) and a new one cannot be made: "
			  "%s; trying again in a second",
			  why, err);
		return false;
	}
	log_warn("dlq: the producer stopped for good (%s); sending again after rejection %" PRIu64
		 " with a new one",
		 why, d->delivered);
	pthread_mutex_lock(&d->hold_lock);
	rd_kafka_t *old = d->rk;
	d->rk = rk;
	pthread_mutex_unlock(&d->hold_lock);
	rd_kafka_destroy(old);
	return true;
}

static void *dlq_main(void *arg)
{
	struct dlq *d = arg;
	pthread_setname_np(pthread_self(), "pl-dlq");
	int64_t retry_at = 0;
	while (!atomic_load(&d->stop)) {
		pthread_mutex_lock(&d->hold_lock);
		fill(d, !d->held && !d->failed && !d->purged);
		pthread_mutex_unlock(&d->hold_lock);
		rd_kafka_poll(d->rk, POLL_MS);
		advance(d);
		pthread_mutex_lock(&d->hold_lock);
		if (!d->held && d->purged && !d->failed && d->pending == 0) {
			/* What the purge took back, again, as the store holds it now. */
			d->purged = false;
			if (!send_purged_again(d))
				d->failed = true; /* then all after the acknowledged prefix */
		}
		pthread_mutex_unlock(&d->hold_lock);
		if (d->failed && d->pending == 0) {
			/* Everything is back: after a pause, again after the acknowledged prefix. */
			int64_t now = monotonic_ms();
			if (!retry_at) {
				retry_at = now + RETRY_MS;
			} else if (now >= retry_at && !renew_if_fatal(d)) {
				retry_at = now + RETRY_MS;
			} else if (now >= retry_at) {
				d->head = d->count = 0;
				d->produced = d->delivered;
				d->failed = d->purged = false;
				retry_at = 0;
			}
		}
	}
	rd_kafka_flush(d->rk, STOP_FLUSH_MS);
	advance(d);
	return NULL;
}

/* The producer's settings, for brokers: opt's pass-through ones and ours. */
static rd_kafka_conf_t *producer_conf(const struct dlq_options *opt, const char *brokers,
				      char *err, size_t err_size)
{
	char window[16];
	snprintf(window, sizeof window, "%d", DLQ_WINDOW);
	rd_kafka_conf_t *conf = kafka_conf_new(opt->kafka, opt->kafka_count, err, err_size);
	if (!conf)
		return NULL;
	/* Every rejection acknowledged by all in-sync replicas, in order, once
	 * per send (librdkafka retries within a send). */
	if (kafka_conf_set(conf, "bootstrap.servers", brokers, err, err_size) ||
	    kafka_conf_set(conf, "acks", "all", err, err_size) ||
	    kafka_conf_set(conf, "enable.idempotence", "true", err, err_size) ||
	    kafka_conf_set(conf, "queue.buffering.max.messages", window, err, err_size) ||
	    kafka_conf_set(conf, "queue.buffering.max.kbytes", "65536", err, err_size)) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	return conf;
}

int dlq_check(const struct dlq_options *opt, char *err, size_t err_size)
{
	rd_kafka_conf_t *conf = producer_conf(opt, "", err, err_size);
	return conf ? kafka_conf_try(conf, RD_KAFKA_PRODUCER, "dead-letter producer", err, err_size)
		    : PL_EINVAL;
}

static rd_kafka_t *producer_new(struct dlq *d, const struct dlq_options *opt, char *err,
				size_t err_size)
{
	rd_kafka_conf_t *conf = producer_conf(opt, opt->brokers, err, err_size);
	if (!conf)
		return NULL;
	rd_kafka_conf_set_opaque(conf, d);
	rd_kafka_conf_set_dr_msg_cb(conf, delivery_cb);
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, err_size);
	if (!rk)
		rd_kafka_conf_destroy(conf);
	return rk;
}

/* Where forwarding starts: the stored mark, else the newest rejection now. */
static int load_mark(struct dlq *d)
{
	struct store_txn t;
	uint64_t mark = 0, newest = 0;
	bool known = false;
	int rc = store_read_begin(d->st, &t);
	if (rc == 0)
		rc = rejections_forwarded_get(&t, &mark, &known);
	if (rc == 0)
		rc = rejections_last_seq(&t, &newest);
	store_abort(&t);
	if (rc)
		return rc;
	if (!known) {
		mark = newest;
		log_info("dlq: first start on this data dir: forwarding the rejections after the %" PRIu64
			 " kept so far ('pledged rejections' lists those)",
			 newest);
	}
	d->produced = d->delivered = mark;
	atomic_store(&d->w->forwarded, mark);
	d->w->forward_stored = known ? mark : UINT64_MAX; /* stored with the next batch */
	d->w->forward_on = true;
	atomic_store(&d->m->dlq_backlog, (int64_t)(newest - mark));
	return PL_OK;
}

int dlq_start(struct dlq **out, struct store *st, struct writer *w, struct metrics *m,
	      const struct dlq_options *opt, char *err, size_t err_size)
{
	*out = NULL;
	struct dlq *d = calloc(1, sizeof *d);
	if (!d) {
		snprintf(err, err_size, "dlq: out of memory");
		return PL_ENOMEM;
	}
	*d = (struct dlq){.st = st, .w = w, .m = m, .opt = *opt};
	pthread_mutex_init(&d->hold_lock, NULL);
	snprintf(d->topic, sizeof d->topic, "%s", opt->topic);
	int rc = load_mark(d);
	if (rc) {
		snprintf(err, err_size, "dlq: cannot read where forwarding stopped: %s", pl_strerror(rc));
		free(d);
		return rc;
	}
	char why[512];
	d->rk = producer_new(d, opt, why, sizeof why);
	if (!d->rk) {
		snprintf(err, err_size, "dlq: cannot make a producer for %s: %s", opt->topic, why);
		w->forward_on = false;
		free(d);
		return PL_EINVAL;
	}
	if (pthread_create(&d->thread, NULL, dlq_main, d)) {
		snprintf(err, err_size, "dlq: cannot start its thread");
		rd_kafka_destroy(d->rk);
		w->forward_on = false;
		free(d);
		return PL_ENOMEM;
	}
	log_info("dlq: forwarding every rejection to topic %s, after rejection %" PRIu64, d->topic,
		 d->delivered);
	*out = d;
	return PL_OK;
}

void dlq_erasure(void *dlq, bool begins)
{
	struct dlq *d = dlq;
	pthread_mutex_lock(&d->hold_lock);
	d->held = begins;
	/* Taken back, to be sent again from the store once released: what
	 * waits, and what is in flight, which librdkafka would send again
	 * after the erasure if its request failed. */
	if (begins)
		rd_kafka_purge(d->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	pthread_mutex_unlock(&d->hold_lock);
}

void dlq_stop(struct dlq *d)
{
	if (!d)
		return;
	atomic_store(&d->stop, true);
	pthread_join(d->thread, NULL);
	if (d->count)
		log_warn("dlq: %zu rejections not acknowledged yet; sent again at the next start",
			 d->count);
	rd_kafka_destroy(d->rk);
	pthread_mutex_destroy(&d->hold_lock);
	free(d);
}
