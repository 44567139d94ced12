/* metrics.c — shared counters and health, and their Prometheus rendering. */
#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

static const double batch_bounds[METRICS_BATCH_BUCKETS - 1] = {1, 10, 100, 500, 1000, 5000, 10000};
static const double latency_bounds[METRICS_LATENCY_BUCKETS - 1] = {0.0005, 0.001, 0.0025, 0.005, 0.01,
								   0.025, 0.1, 0.5, 5};
static const int http_statuses[METRICS_HTTP_STATUSES - 1] = {200, 204, 304, 307, 400, 401, 404, 405, 413, 421, 501, 503};

void metrics_init(struct metrics *m)
{
	memset(m, 0, sizeof *m);
	pthread_mutex_init(&m->lock, NULL);
	ownership_init(&m->owner);
	cluster_init(&m->cluster);
	m->state = CONSUMER_STARTING;
	atomic_store(&m->store_writable, true);
	atomic_store(&m->dlq_backlog, -1);
}

void metrics_deinit(struct metrics *m)
{
	cluster_deinit(&m->cluster);
	ownership_deinit(&m->owner);
	pthread_mutex_destroy(&m->lock);
}

static void observe(struct histogram *h, const double *bounds, size_t nbounds, double v, double scale)
{
	size_t i = 0;
	while (i < nbounds && v > bounds[i])
		i++;
	atomic_fetch_add(&h->buckets[i], 1);
	atomic_fetch_add(&h->sum, (uint64_t)(v * scale));
}

void metrics_record_batch(struct metrics *m, const struct ingest_stats *stats, size_t n,
			  double seconds)
{
	for (int i = 0; i < PL_EVENT_TYPE_COUNT; i++)
		if (stats->applied[i])
			atomic_fetch_add(&m->applied[i], stats->applied[i]);
	for (int i = 0; i < PL_REASON_COUNT; i++)
		if (stats->rejected[i])
			atomic_fetch_add(&m->rejected[i], stats->rejected[i]);
	atomic_fetch_add(&m->duplicates, stats->duplicates);
	atomic_fetch_add(&m->erased_records, stats->erased_records);
	atomic_fetch_add(&m->batches, 1);
	metrics_raise_log_seq(m, stats->last_seq);
	atomic_store(&m->last_batch_ms, clock_wall_ms());
	observe(&m->batch_size, batch_bounds, METRICS_BATCH_BUCKETS - 1, (double)n, 1);
	observe(&m->commit_latency, latency_bounds, METRICS_LATENCY_BUCKETS - 1, seconds, 1e6);
}

void metrics_raise_log_seq(struct metrics *m, uint64_t seq)
{
	uint64_t cur = atomic_load(&m->last_seq);
	while (seq > cur && !atomic_compare_exchange_weak(&m->last_seq, &cur, seq))
		;
}

void metrics_add_index_work(struct metrics *m, double seconds)
{
	if (seconds > 0)
		atomic_fetch_add(&m->index_work_us, (uint64_t)(seconds * 1e6));
}

void metrics_set_upkeep(struct metrics *m, uint64_t busy_us, uint64_t wait_us)
{
	atomic_store(&m->upkeep_us, busy_us);
	atomic_store(&m->upkeep_wait_us, wait_us);
}

const char *metrics_state_name(enum consumer_state state)
{
	switch (state) {
	case CONSUMER_STARTING: return "starting";
	case CONSUMER_CONSUMING: return "consuming";
	case CONSUMER_STALLED: return "stalled";
	case CONSUMER_STOPPED: return "stopped";
	case CONSUMER_READ_ONLY: return "read_only";
	}
	return "unknown";
}

void metrics_set_state(struct metrics *m, enum consumer_state state, const char *detail)
{
	pthread_mutex_lock(&m->lock);
	m->state = state;
	snprintf(m->state_detail, sizeof m->state_detail, "%s", detail ? detail : "");
	pthread_mutex_unlock(&m->lock);
}

enum consumer_state metrics_get_state(struct metrics *m, char *detail, size_t size)
{
	pthread_mutex_lock(&m->lock);
	enum consumer_state s = m->state;
	if (detail)
		snprintf(detail, size, "%s", m->state_detail);
	pthread_mutex_unlock(&m->lock);
	return s;
}

void metrics_set_partition(struct metrics *m, const char *topic, int32_t partition,
			   int64_t next_offset, int64_t high_watermark)
{
	pthread_mutex_lock(&m->lock);
	size_t i = 0;
	while (i < m->partition_count && !(m->partitions[i].partition == partition &&
					   strcmp(m->partitions[i].topic, topic) == 0))
		i++;
	if (i == m->partition_count && i < METRICS_MAX_PARTITIONS) {
		m->partition_count++;
		snprintf(m->partitions[i].topic, sizeof m->partitions[i].topic, "%s", topic);
		m->partitions[i].partition = partition;
		m->partitions[i].high_watermark = -1;
	}
	if (i < m->partition_count) {
		m->partitions[i].next_offset = next_offset;
		if (high_watermark >= 0)
			m->partitions[i].high_watermark = high_watermark;
	}
	pthread_mutex_unlock(&m->lock);
}

void metrics_set_high_watermark(struct metrics *m, const char *topic, int32_t partition,
				int64_t high_watermark)
{
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->partition_count; i++)
		if (m->partitions[i].partition == partition && strcmp(m->partitions[i].topic, topic) == 0)
			m->partitions[i].high_watermark = high_watermark;
	pthread_mutex_unlock(&m->lock);
}

void metrics_clear_partitions(struct metrics *m)
{
	pthread_mutex_lock(&m->lock);
	m->partition_count = 0;
	pthread_mutex_unlock(&m->lock);
}

static int64_t partition_lag(const struct metrics_partition *p)
{
	if (p->high_watermark < 0)
		return -1;
	int64_t lag = p->high_watermark - p->next_offset;
	return lag < 0 ? 0 : lag;
}

int64_t metrics_total_lag(struct metrics *m)
{
	pthread_mutex_lock(&m->lock);
	/* No partitions (starting, read-only, all revoked): the lag is unknown. */
	int64_t total = m->partition_count ? 0 : -1;
	for (size_t i = 0; i < m->partition_count && total >= 0; i++) {
		int64_t lag = partition_lag(&m->partitions[i]);
		total = lag < 0 ? -1 : total + lag;
	}
	pthread_mutex_unlock(&m->lock);
	return total;
}

size_t metrics_partitions(struct metrics *m)
{
	pthread_mutex_lock(&m->lock);
	size_t n = m->partition_count;
	pthread_mutex_unlock(&m->lock);
	return n;
}

void metrics_count_http(struct metrics *m, int route, int status)
{
	int s = METRICS_HTTP_STATUSES - 1;
	for (int i = 0; i < METRICS_HTTP_STATUSES - 1; i++)
		if (http_statuses[i] == status)
			s = i;
	if (route < 0 || route >= METRICS_HTTP_ROUTES)
		return;
	pthread_mutex_lock(&m->lock);
	m->http_requests[route][s]++;
	pthread_mutex_unlock(&m->lock);
}

/* A growing output buffer; on allocation failure it stops growing and render returns NULL. */
struct out {
	char *buf;
	size_t len, cap;
	bool failed;
};

static void emit(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void emit(struct out *o, const char *fmt, ...)
{
	for (int attempt = 0; attempt < 2 && !o->failed; attempt++) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->failed = true;
			return;
		}
		if ((size_t)n < o->cap - o->len) {
			o->len += (size_t)n;
			return;
		}
		size_t cap = (o->cap + (size_t)n) * 2;
		char *p = realloc(o->buf, cap);
		if (!p) {
			o->failed = true;
			return;
		}
		o->buf = p;
		o->cap = cap;
	}
}

static void emit_histogram(struct out *o, const char *name, const char *help, struct histogram *h,
			   const double *bounds, size_t nbounds, double scale)
{
	emit(o, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	uint64_t cumulative = 0;
	for (size_t i = 0; i <= nbounds; i++) {
		cumulative += atomic_load(&h->buckets[i]);
		if (i < nbounds)
			emit(o, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i], (unsigned long long)cumulative);
		else
			emit(o, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cumulative);
	}
	emit(o, "%s_sum %.6f\n%s_count %llu\n", name, (double)atomic_load(&h->sum) / scale, name,
	     (unsigned long long)cumulative);
}

/* Prometheus label values escape backslash, quote and newline. */
static void emit_label_value(struct out *o, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			emit(o, "\\%c", *s);
		else if (*s == '\n')
			emit(o, "\\n");
		else
			emit(o, "%c", *s);
	}
}

char *metrics_render(struct metrics *m, const struct metrics_rebuild *rebuild,
		     const char *const *route_names, size_t routes, size_t *len)
{
	struct out o = {.cap = 8192};
	o.buf = malloc(o.cap);
	if (!o.buf)
		return NULL;

	emit(&o, "# HELP pledged_events_applied_total Events appended to the log and applied, by type.\n"
		 "# TYPE pledged_events_applied_total counter\n");
	for (int i = 0; i < PL_EVENT_TYPE_COUNT; i++)
		emit(&o, "pledged_events_applied_total{type=\"%s\"} %llu\n", pl_type_defs[i].name,
		     (unsigned long long)atomic_load(&m->applied[i]));
	emit(&o, "# HELP pledged_events_rejected_total Messages kept as rejections, by reason.\n"
		 "# TYPE pledged_events_rejected_total counter\n");
	for (int i = 1; i < PL_REASON_COUNT; i++)
		emit(&o, "pledged_events_rejected_total{reason=\"%s\"} %llu\n",
		     pl_reason_code((enum pl_reason)i), (unsigned long long)atomic_load(&m->rejected[i]));
	emit(&o, "# HELP pledged_events_duplicate_total Re-delivered events ignored by id.\n"
		 "# TYPE pledged_events_duplicate_total counter\n"
		 "pledged_events_duplicate_total %llu\n",
	     (unsigned long long)atomic_load(&m->duplicates));
	emit(&o, "# HELP pledged_erased_records_total Stored messages (log entries, rejections) "
		 "whose personal fields erasures overwrote.\n"
		 "# TYPE pledged_erased_records_total counter\npledged_erased_records_total %llu\n",
	     (unsigned long long)atomic_load(&m->erased_records));
	emit(&o, "# HELP pledged_log_sequence Sequence number of the newest log entry.\n"
		 "# TYPE pledged_log_sequence gauge\npledged_log_sequence %llu\n",
	     (unsigned long long)atomic_load(&m->last_seq));
	emit(&o, "# HELP pledged_rebuild_running 1 while a rebuild of the projections beside the "
		 "live ones is under way: begun by `pledged replay`, not yet swapped in or dropped "
		 "(a replay stopped or run with --no-swap leaves it 1, its sequence flat).\n"
		 "# TYPE pledged_rebuild_running gauge\npledged_rebuild_running %d\n"
		 "# HELP pledged_rebuild_sequence Log entries applied to the projections being "
		 "rebuilt; time left is (pledged_log_sequence - this) / rate(this).\n"
		 "# TYPE pledged_rebuild_sequence gauge\npledged_rebuild_sequence %llu\n",
	     rebuild->under_way, (unsigned long long)rebuild->done);
	emit_histogram(&o, "pledged_batch_size", "Messages per committed batch.", &m->batch_size,
		       batch_bounds, METRICS_BATCH_BUCKETS - 1, 1);
	emit_histogram(&o, "pledged_batch_commit_seconds", "Time to apply and commit one batch.",
		       &m->commit_latency, latency_bounds, METRICS_LATENCY_BUCKETS - 1, 1e6);
	emit(&o, "# HELP pledged_index_work_seconds_total Time the writer spent on the history's "
		 "moves between batches (the state index's checkpoints and merges are written "
		 "beside the batches, by a thread of their own); with "
		 "pledged_batch_commit_seconds_sum, the share of the time the writer is busy.\n"
		 "# TYPE pledged_index_work_seconds_total counter\n"
		 "pledged_index_work_seconds_total %.6f\n",
	     (double)atomic_load(&m->index_work_us) / 1e6);
	emit(&o, "# HELP pledged_index_upkeep_seconds_total Time the state index's upkeep thread "
		 "spent writing its checkpoints and merges, beside the batches.\n"
		 "# TYPE pledged_index_upkeep_seconds_total counter\n"
		 "pledged_index_upkeep_seconds_total %.6f\n"
		 "# HELP pledged_index_upkeep_wait_seconds_total Time batches waited for the upkeep "
		 "thread: its short turns, and while a checkpoint's worth of changes waited to be "
		 "written (counted in pledged_batch_commit_seconds too).\n"
		 "# TYPE pledged_index_upkeep_wait_seconds_total counter\n"
		 "pledged_index_upkeep_wait_seconds_total %.6f\n",
	     (double)atomic_load(&m->upkeep_us) / 1e6, (double)atomic_load(&m->upkeep_wait_us) / 1e6);

	pthread_mutex_lock(&m->lock);
	emit(&o, "# HELP pledged_consumer_state Consumer state (1 for the current one).\n"
		 "# TYPE pledged_consumer_state gauge\n");
	for (int s = CONSUMER_STARTING; s <= CONSUMER_READ_ONLY; s++)
		emit(&o, "pledged_consumer_state{state=\"%s\"} %d\n",
		     metrics_state_name((enum consumer_state)s), m->state == (enum consumer_state)s);
	emit(&o, "# HELP pledged_consumer_lag Messages on the broker not yet applied, by partition.\n"
		 "# TYPE pledged_consumer_lag gauge\n");
	for (size_t i = 0; i < m->partition_count; i++) {
		const struct metrics_partition *p = &m->partitions[i];
		if (partition_lag(p) < 0)
			continue;
		emit(&o, "pledged_consumer_lag{topic=\"");
		emit_label_value(&o, p->topic);
		emit(&o, "\",partition=\"%d\"} %lld\n", p->partition, (long long)partition_lag(p));
	}
	emit(&o, "# HELP pledged_http_requests_total HTTP requests answered, by route and status.\n"
		 "# TYPE pledged_http_requests_total counter\n");
	for (size_t r = 0; r < routes && r < METRICS_HTTP_ROUTES; r++)
		for (int s = 0; s < METRICS_HTTP_STATUSES; s++) {
			if (!m->http_requests[r][s])
				continue;
			emit(&o, "pledged_http_requests_total{route=\"%s\",status=\"", route_names[r]);
			if (s < METRICS_HTTP_STATUSES - 1)
				emit(&o, "%d", http_statuses[s]);
			else
				emit(&o, "other");
			emit(&o, "\"} %llu\n", (unsigned long long)m->http_requests[r][s]);
		}
	pthread_mutex_unlock(&m->lock);
	emit(&o, "# HELP pledged_http_output_queued_bytes Replies queued for slow clients, not yet "
		 "taken by the kernel.\n# TYPE pledged_http_output_queued_bytes gauge\n"
		 "pledged_http_output_queued_bytes %lld\n",
	     (long long)atomic_load(&m->http_output_queued));
	if (atomic_load(&m->dlq_backlog) >= 0)
		emit(&o, "# HELP pledged_dlq_backlog Rejections not yet acknowledged by the dead-letter "
			 "topic.\n# TYPE pledged_dlq_backlog gauge\npledged_dlq_backlog %lld\n"
			 "# HELP pledged_dlq_delivered_total Rejections delivered to the dead-letter topic.\n"
			 "# TYPE pledged_dlq_delivered_total counter\npledged_dlq_delivered_total %llu\n"
			 "# HELP pledged_dlq_failures_total Deliveries to the dead-letter topic that "
			 "failed (each is sent again).\n# TYPE pledged_dlq_failures_total counter\n"
			 "pledged_dlq_failures_total %llu\n",
		     (long long)atomic_load(&m->dlq_backlog),
		     (unsigned long long)atomic_load(&m->dlq_delivered),
		     (unsigned long long)atomic_load(&m->dlq_failures));
	emit(&o, "# HELP pledged_store_writable 1 while the data dir accepts writes.\n"
		 "# TYPE pledged_store_writable gauge\npledged_store_writable %d\n",
	     atomic_load(&m->store_writable) ? 1 : 0);
	emit(&o, "# HELP pledged_partitions_catching_up Partitions held whose campaigns wait (503 "
		 "catching_up) until this data dir has read as far as the consumer group had.\n"
		 "# TYPE pledged_partitions_catching_up gauge\npledged_partitions_catching_up %zu\n",
	     ownership_catching_up(&m->owner));
	emit(&o, "# HELP pledged_kafka_commits_unconfirmed_total Batches written before the "
		 "consumer group confirmed their offsets (the commit refused, failed or not answered "
		 "within a second): killed right after one, the next holder of its partitions may "
		 "answer older figures for a moment.\n"
		 "# TYPE pledged_kafka_commits_unconfirmed_total counter\n"
		 "pledged_kafka_commits_unconfirmed_total %llu\n",
	     (unsigned long long)atomic_load(&m->commits_unconfirmed));

	if (o.failed) {
		free(o.buf);
		return NULL;
	}
	*len = o.len;
	return o.buf;
}
