/* config.c — parse and validate the settings of `pledged serve`; see config.h. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "clock.h"
#include "time_text.h"
#include "log.h"
#include "members.h"
#include "partitioner.h"
#include "pl_error.h"
#include "writer.h"

#define CONFIG_MAX_FILE_BYTES (1 << 20)

void config_init(struct serve_config *c)
{
	memset(c, 0, sizeof *c);
	strcpy(c->topic, "pledges");
	strcpy(c->group, "pledged");
	strcpy(c->partitioner, PARTITIONER_DEFAULT);
	strcpy(c->data, "pledged-data");
	strcpy(c->listen, "127.0.0.1:8080");
	strcpy(c->admin_listen, "127.0.0.1:8081");
	strcpy(c->log_level, "info");
	c->batch_max = 20000;
	c->checkpoint_entries = 1000000;
	c->batch_ms = 50;
	c->earliest_event_time = EVENT_WINDOW_EARLIEST_MS;
	c->max_clock_skew_s = EVENT_WINDOW_SKEW_MS / 1000;
	c->ready_max_lag = 10000;
}

static int fail(char *err, size_t err_size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Writes the message to err and returns PL_EINVAL, so callers can return it. */
static int fail(char *err, size_t err_size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
	return PL_EINVAL;
}

static int copy_value(char *dst, size_t cap, const char *key, const char *value, char *err,
		      size_t err_size)
{
	if (strlen(value) >= cap)
		return fail(err, err_size, "value of '%s' is too long", key);
	strcpy(dst, value);
	return PL_OK;
}

static int parse_bool(const char *key, const char *value, bool *out, char *err, size_t err_size)
{
	if (!strcmp(value, "true") || !strcmp(value, "yes") || !strcmp(value, "1")) {
		*out = true;
		return PL_OK;
	}
	if (!strcmp(value, "false") || !strcmp(value, "no") || !strcmp(value, "0")) {
		*out = false;
		return PL_OK;
	}
	return fail(err, err_size, "'%s' wants true or false, not '%s'", key, value);
}

static int parse_unsigned(const char *key, const char *value, unsigned *out, char *err,
			  size_t err_size)
{
	char *end;
	if (!isdigit((unsigned char)value[0]))
		return fail(err, err_size, "'%s' wants a number, not '%s'", key, value);
	errno = 0;
	unsigned long v = strtoul(value, &end, 10);
	if (errno || *end || v > 1000000000UL)
		return fail(err, err_size, "'%s' wants a number, not '%s'", key, value);
	*out = (unsigned)v;
	return PL_OK;
}

/* A number within min..max (max UINT_MAX: "at least min"), refused where it is read. */
static int parse_in_range(const char *key, const char *value, unsigned min, unsigned max,
			  unsigned *out, char *err, size_t err_size)
{
	unsigned v = 0;
	int rc = parse_unsigned(key, value, &v, err, err_size);
	if (rc)
		return rc;
	if (v < min || v > max)
		return max == UINT_MAX
			       ? fail(err, err_size, "'%s' wants at least %u, not '%s'", key, min, value)
			       : fail(err, err_size, "'%s' wants %u..%u, not '%s'", key, min, max, value);
	*out = v;
	return PL_OK;
}

/* A byte count with an optional K, M or G suffix (powers of 1024). */
static int parse_size(const char *key, const char *value, size_t *out, char *err, size_t err_size)
{
	char *end;
	if (!isdigit((unsigned char)value[0]))
		return fail(err, err_size, "'%s' wants a size like 65536, 64M or 1G, not '%s'", key, value);
	errno = 0;
	unsigned long long v = strtoull(value, &end, 10);
	unsigned shift = 0;
	if (*end == 'K' || *end == 'k')
		shift = 10;
	else if (*end == 'M' || *end == 'm')
		shift = 20;
	else if (*end == 'G' || *end == 'g')
		shift = 30;
	if (shift)
		end++;
	if (errno || *end || v > (UINT64_C(1) << 40) >> shift)
		return fail(err, err_size, "'%s' wants a size like 65536, 64M or 1G, not '%s'", key, value);
	*out = (size_t)(v << shift);
	return PL_OK;
}

/* LMDB's initial map: 0 for the store's default, else at least 64K (it grows by itself). */
static int parse_map_size(const char *key, const char *value, size_t *out, char *err,
			  size_t err_size)
{
	size_t v = 0;
	int rc = parse_size(key, value, &v, err, err_size);
	if (rc)
		return rc;
	if (v && v < 65536)
		return fail(err, err_size, "'%s' wants 0 or at least 64K (it grows by itself), not '%s'",
			    key, value);
	*out = v;
	return PL_OK;
}

static int set_kafka(struct serve_config *c, const char *prop, const char *value, char *err,
		     size_t err_size)
{
	if (prop[0] == '\0')
		return fail(err, err_size, "empty librdkafka property name");
	size_t i = 0;
	while (i < c->kafka_count && strcmp(c->kafka[i].key, prop) != 0)
		i++;
	if (i == CONFIG_MAX_KAFKA)
		return fail(err, err_size, "too many kafka.* properties (at most 64)");
	if (strlen(prop) >= sizeof c->kafka[i].key || strlen(value) >= sizeof c->kafka[i].value)
		return fail(err, err_size, "kafka.%s: name or value too long", prop);
	strcpy(c->kafka[i].key, prop);
	strcpy(c->kafka[i].value, value);
	if (i == c->kafka_count)
		c->kafka_count++;
	return PL_OK;
}

/* Compares config keys treating '-' and '_' alike, as flags use '-'. */
static bool key_is(const char *key, const char *name)
{
	for (; *key && *name; key++, name++) {
		char a = *key == '-' ? '_' : *key;
		if (a != *name)
			return false;
	}
	return *key == *name;
}

int config_set(struct serve_config *c, const char *key, const char *value, char *err,
	       size_t err_size)
{
	if (strncmp(key, "kafka.", 6) == 0)
		return set_kafka(c, key + 6, value, err, err_size);
	if (key_is(key, "brokers"))
		return copy_value(c->brokers, sizeof c->brokers, key, value, err, err_size);
	if (key_is(key, "topic"))
		return copy_value(c->topic, sizeof c->topic, key, value, err, err_size);
	if (key_is(key, "dlq_topic"))
		return copy_value(c->dlq_topic, sizeof c->dlq_topic, key, value, err, err_size);
	if (key_is(key, "partitioner"))
		return copy_value(c->partitioner, sizeof c->partitioner, key, value, err, err_size);
	if (key_is(key, "advertise_url"))
		return copy_value(c->advertise_url, sizeof c->advertise_url, key, value, err, err_size);
	if (key_is(key, "instance_id"))
		return copy_value(c->instance_id, sizeof c->instance_id, key, value, err, err_size);
	if (key_is(key, "group"))
		return copy_value(c->group, sizeof c->group, key, value, err, err_size);
	if (key_is(key, "data"))
		return copy_value(c->data, sizeof c->data, key, value, err, err_size);
	if (key_is(key, "listen"))
		return copy_value(c->listen, sizeof c->listen, key, value, err, err_size);
	if (key_is(key, "admin_listen"))
		return copy_value(c->admin_listen, sizeof c->admin_listen, key, value, err, err_size);
	if (key_is(key, "admin_token_file"))
		return copy_value(c->admin_token_file, sizeof c->admin_token_file, key, value, err,
				  err_size);
	if (key_is(key, "log_level"))
		return copy_value(c->log_level, sizeof c->log_level, key, value, err, err_size);
	if (key_is(key, "read_only"))
		return parse_bool(key, value, &c->read_only, err, err_size);
	if (key_is(key, "skip_lost_offsets"))
		return parse_bool(key, value, &c->skip_lost_offsets, err, err_size);
	if (key_is(key, "batch_max"))
		return parse_in_range(key, value, 1, 100000, &c->batch_max, err, err_size);
	if (key_is(key, "batch_ms"))
		return parse_in_range(key, value, 1, 10000, &c->batch_ms, err, err_size);
	if (key_is(key, "map_size"))
		return parse_map_size(key, value, &c->map_size, err, err_size);
	if (key_is(key, "checkpoint_entries"))
		return parse_in_range(key, value, 1000, 100000000, &c->checkpoint_entries, err,
				      err_size);
	if (key_is(key, "earliest_event_time"))
		return time_text_parse(value, &c->earliest_event_time)
			       ? PL_OK
			       : fail(err, err_size, "%s wants " TIME_TEXT_FORMS ", not '%s'",
				      key, value);
	if (key_is(key, "max_clock_skew_s")) /* at most a year */
		return parse_in_range(key, value, 0, 31536000, &c->max_clock_skew_s, err, err_size);
	if (key_is(key, "ready_max_lag"))
		return parse_in_range(key, value, 1, UINT_MAX, &c->ready_max_lag, err, err_size);
	if (key_is(key, "cache_s_maxage"))
		return parse_unsigned(key, value, &c->cache_s_maxage, err, err_size);
	if (key_is(key, "cache_stale_s"))
		return parse_unsigned(key, value, &c->cache_stale_s, err, err_size);
	return fail(err, err_size, "unknown setting '%s'", key);
}

/* Trims spaces and tabs at both ends of s[0..*len) in place; returns the new start. */
static char *trim(char *s, size_t *len)
{
	while (*len && (*s == ' ' || *s == '\t')) {
		s++;
		(*len)--;
	}
	while (*len && (s[*len - 1] == ' ' || s[*len - 1] == '\t' || s[*len - 1] == '\r'))
		(*len)--;
	s[*len] = '\0';
	return s;
}

int config_set_pair(struct serve_config *c, const char *pair, bool kafka_prefix_implied, char *err,
		    size_t err_size)
{
	const char *eq = strchr(pair, '=');
	if (!eq)
		return fail(err, err_size, "'%s' is not key=value", pair);
	char buf[1200];
	size_t klen = (size_t)(eq - pair), vlen = strlen(eq + 1);
	if (klen + 8 + vlen + 1 > sizeof buf) /* the value and its NUL after the key's room */
		return fail(err, err_size, "'%.40s…' is too long", pair);
	char *key = buf, *value = buf + klen + 8;
	memcpy(key, pair, klen);
	memcpy(value, eq + 1, vlen + 1);
	key = trim(key, &klen);
	value = trim(value, &vlen);
	if (kafka_prefix_implied && strncmp(key, "kafka.", 6) != 0)
		return set_kafka(c, key, value, err, err_size);
	return config_set(c, key, value, err, err_size);
}

/* A key as a file's line gives it, for finding one given twice. */
struct key_line {
	const char *key; /* into the file's text, not NUL-terminated */
	size_t len;
	unsigned line;
};

/* The order of keys as config_set tells them apart ('-' is '_' but in kafka.*), then lines. */
static int cmp_key_line(const void *a, const void *b)
{
	const struct key_line *x = a, *y = b;
	bool kafka = x->len >= 6 && memcmp(x->key, "kafka.", 6) == 0;
	for (size_t i = 0; i < x->len && i < y->len; i++) {
		char cx = x->key[i], cy = y->key[i];
		if (!kafka) {
			cx = cx == '-' ? '_' : cx;
			cy = cy == '-' ? '_' : cy;
		}
		if (cx != cy)
			return (unsigned char)cx < (unsigned char)cy ? -1 : 1;
	}
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return (x->line > y->line) - (x->line < y->line);
}

/*
 * The line (the file's first such) that gives again a key given before,
 * NULL when none does; *first gets the line that gave it first.
 */
static const struct key_line *repeated_key(struct key_line *keys, size_t n, unsigned *first)
{
	if (n < 2)
		return NULL; /* and keys may be NULL */
	qsort(keys, n, sizeof *keys, cmp_key_line);
	const struct key_line *again = NULL;
	for (size_t i = 1; i < n; i++) {
		struct key_line a = keys[i - 1], b = keys[i];
		a.line = b.line = 0;
		if (cmp_key_line(&a, &b) == 0 && (!again || keys[i].line < again->line)) {
			again = &keys[i];
			*first = keys[i - 1].line;
		}
	}
	return again;
}

/* The key of a line "key = value", trimmed; false when it has no '='. */
static bool key_of(const char *s, size_t len, struct key_line *k)
{
	const char *eq = memchr(s, '=', len);
	if (!eq)
		return false;
	size_t klen = (size_t)(eq - s);
	while (klen && (s[klen - 1] == ' ' || s[klen - 1] == '\t'))
		klen--;
	k->key = s;
	k->len = klen;
	return true;
}

int config_parse_text(struct serve_config *c, const char *text, size_t len, char *err,
		      size_t err_size)
{
	size_t pos = 0;
	unsigned lineno = 0;
	struct key_line *keys = NULL;
	size_t nkeys = 0, keys_cap = 0;
	int rc = PL_OK;
	/* A byte-order mark, as some editors write one, is no part of the first key. */
	if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
		pos = 3;
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t line_len = nl ? (size_t)(nl - (text + pos)) : len - pos;
		char line[1200];
		lineno++;
		if (line_len >= sizeof line) {
			snprintf(err, err_size, "line %u: too long", lineno);
			rc = PL_EINVAL;
			break;
		}
		if (memchr(text + pos, '\0', line_len)) {
			snprintf(err, err_size, "line %u: a NUL byte (is this a text file?)", lineno);
			rc = PL_EINVAL;
			break;
		}
		memcpy(line, text + pos, line_len);
		size_t l = line_len;
		char *s = trim(line, &l);
		const char *in_text = text + pos + (size_t)(s - line);
		pos += line_len + 1;
		if (l == 0 || s[0] == '#')
			continue;
		char why[300];
		if (config_set_pair(c, s, false, why, sizeof why)) {
			snprintf(err, err_size, "line %u: %s", lineno, why);
			rc = PL_EINVAL;
			break;
		}
		if (nkeys == keys_cap) {
			keys_cap = keys_cap ? 2 * keys_cap : 32;
			struct key_line *grown = realloc(keys, keys_cap * sizeof *keys);
			if (!grown) {
				rc = PL_ENOMEM;
				snprintf(err, err_size, "out of memory");
				break;
			}
			keys = grown;
		}
		if (key_of(in_text, l, &keys[nkeys])) /* set_pair took it: it has one */
			keys[nkeys++].line = lineno;
	}
	unsigned first = 0;
	const struct key_line *again = rc ? NULL : repeated_key(keys, nkeys, &first);
	if (again) {
		snprintf(err, err_size, "line %u: %.*s given again (first on line %u)", again->line,
			 (int)(again->len < 80 ? again->len : 80), again->key, first);
		rc = PL_EINVAL;
	}
	free(keys);
	return rc;
}

int config_load_file(struct serve_config *c, const char *path, char *err, size_t err_size)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, err_size, "cannot open config file '%s': %s", path, strerror(errno));
		return errno == ENOENT ? PL_ENOTFOUND : PL_EIO;
	}
	char *text = malloc(CONFIG_MAX_FILE_BYTES);
	int rc = PL_ENOMEM;
	if (!text)
		goto cleanup;
	size_t len = fread(text, 1, CONFIG_MAX_FILE_BYTES, f);
	rc = PL_EIO;
	if (ferror(f)) { /* a directory opens, and only its read fails */
		snprintf(err, err_size, "cannot read config file '%s': %s", path, strerror(errno));
		goto cleanup;
	}
	if (len == CONFIG_MAX_FILE_BYTES) {
		snprintf(err, err_size, "config file '%s' is over 1 MiB: is it the right file?", path);
		goto cleanup;
	}
	char why[400];
	rc = config_parse_text(c, text, len, why, sizeof why);
	if (rc)
		snprintf(err, err_size, "%s: %s", path, why);
cleanup:
	free(text);
	fclose(f);
	return rc;
}

int config_load_args(struct serve_config *c, int argc, char **argv, const struct option *opts,
		     char *err, size_t err_size)
{
	int opt, rc = PL_OK;
	opterr = 0; /* the caller's own pass reports bad options */
	while (rc == PL_OK && (opt = getopt_long(argc, argv, "h", opts, NULL)) != -1)
		if (opt == 'c')
			rc = config_load_file(c, optarg, err, err_size);
	opterr = 1;
	optind = 0;
	return rc;
}

static bool valid_port(const char *s)
{
	char *end;
	if (!isdigit((unsigned char)*s))
		return false;
	errno = 0;
	unsigned long port = strtoul(s, &end, 10);
	return !errno && *end == '\0' && port <= 65535;
}

/* HOST:PORT (IPv6 in brackets allowed); an empty host only where allowed. */
static bool valid_host_port(const char *s, size_t len, bool empty_host_ok)
{
	char buf[300];
	if (len == 0 || len >= sizeof buf)
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	char *colon = strrchr(buf, ':');
	if (!colon || (colon == buf && !empty_host_ok))
		return false;
	for (const char *p = buf; p < colon; p++)
		if (isspace((unsigned char)*p))
			return false;
	return valid_port(colon + 1);
}

/* A listen address's host, brackets off, "" for every address ("*", 0.0.0.0, ::). */
static void listen_host(const char *address, char *host, size_t host_size)
{
	size_t len = (size_t)(strrchr(address, ':') - address);
	if (len >= 2 && address[0] == '[' && address[len - 1] == ']') {
		address++;
		len -= 2;
	}
	snprintf(host, host_size, "%.*s", (int)len, address);
	if (!strcmp(host, "*") || !strcmp(host, "0.0.0.0") || !strcmp(host, "::"))
		host[0] = '\0';
}

/*
 * Whether two valid listen addresses take the same port (0 picks one of its
 * own): on the same host, or where one is every address, which takes the
 * port on each (and IPv6's on IPv4's as well).
 */
static bool same_port_taken(const char *a, const char *b)
{
	unsigned long pa = strtoul(strrchr(a, ':') + 1, NULL, 10);
	if (pa == 0 || pa != strtoul(strrchr(b, ':') + 1, NULL, 10))
		return false;
	char ha[300], hb[300];
	listen_host(a, ha, sizeof ha);
	listen_host(b, hb, sizeof hb);
	return !ha[0] || !hb[0] || !strcmp(ha, hb);
}

/* Properties pledged sets itself: overriding them would break exactly-once. */
static const struct {
	const char *key, *instead;
} owned_kafka_keys[] = {
	{"group.id", "use group"},
	{"bootstrap.servers", "use brokers"},
	{"metadata.broker.list", "use brokers"},
	{"enable.auto.commit", "offsets live in the data dir"},
	{"enable.auto.offset.store", "offsets live in the data dir"},
	{"auto.offset.reset", "pledged never skips data on its own"},
	{"enable.partition.eof", "pledged does not use it"},
	/* read_uncommitted (the Java client's default) would take in what a
	 * transactional gateway aborted: an aborted pledge counted. */
	{"isolation.level", "only messages of committed transactions are events"},
};

/* Kafka's own rule for topic names. */
static int check_topic(const char *key, const char *topic, char *err, size_t err_size)
{
	if (topic[0] == '\0' || strcmp(topic, ".") == 0 || strcmp(topic, "..") == 0)
		return fail(err, err_size, "%s must not be empty, '.' or '..'", key);
	for (const char *p = topic; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-')
			return fail(err, err_size, "%s '%s' has a character Kafka does not allow%s", key,
				    topic, " (letters, digits, '.', '_', '-')");
	return PL_OK;
}

int config_validate(const struct serve_config *c, char *err, size_t err_size)
{
	if (check_topic("topic", c->topic, err, err_size))
		return PL_EINVAL;
	if (c->dlq_topic[0] && check_topic("dlq_topic", c->dlq_topic, err, err_size))
		return PL_EINVAL;
	if (strcmp(c->dlq_topic, c->topic) == 0)
		return fail(err, err_size, "dlq_topic must not be the topic consumed (%s)", c->topic);
	if (!partitioner_named(c->partitioner))
		return fail(err, err_size, "partitioner must be consistent_random (librdkafka's "
					   "default) or murmur2_random (the Java client's), not '%s'",
			    c->partitioner);
	if (c->group[0] == '\0')
		return fail(err, err_size, "group must not be empty");
	/* As the other instances will judge it when they hear it. */
	if (c->advertise_url[0] && !members_url_plain(c->advertise_url))
		return fail(err, err_size, "advertise_url '%s' is not http://HOST[:PORT] or "
					   "https://HOST[:PORT] (no path, no trailing '/')",
			    c->advertise_url);
	const char *strategy = config_kafka_get(c, "partition.assignment.strategy");
	/* librdkafka issue 4312, fixed in 2.3.0: closing during a rebalance aborts. */
	if (strategy && strstr(strategy, "cooperative-sticky") && rd_kafka_version() < 0x020300ff)
		return fail(err, err_size, "kafka.partition.assignment.strategy = cooperative-sticky "
					   "crashes librdkafka %s when a consumer stops during a "
					   "rebalance (librdkafka issue 4312, fixed in 2.3.0); use the "
					   "default (range,roundrobin) or a newer librdkafka",
			    rd_kafka_version_str());
	if (c->data[0] == '\0')
		return fail(err, err_size, "data must not be empty");
	if (!valid_host_port(c->listen, strlen(c->listen), true))
		return fail(err, err_size, "listen '%s' is not HOST:PORT", c->listen);
	if (!valid_host_port(c->admin_listen, strlen(c->admin_listen), true))
		return fail(err, err_size, "admin_listen '%s' is not HOST:PORT", c->admin_listen);
	if (same_port_taken(c->listen, c->admin_listen))
		return fail(err, err_size, "listen (%s) and admin_listen (%s) take the same port: the "
			    "operators' listener needs an address of its own", c->listen,
			    c->admin_listen);
	for (const char *b = c->brokers; *b;) {
		const char *comma = strchr(b, ',');
		size_t len = comma ? (size_t)(comma - b) : strlen(b);
		if (!valid_host_port(b, len, false))
			return fail(err, err_size, "brokers '%s' is not HOST:PORT[,HOST:PORT…]",
				    c->brokers);
		b += len + (comma ? 1 : 0);
		if (comma && *b == '\0')
			return fail(err, err_size, "brokers '%s' ends with a comma", c->brokers);
	}
	if (log_level_parse(c->log_level) < 0)
		return fail(err, err_size, "log_level '%s' is not one of %s", c->log_level,
			    "error, warn, info, debug");
	if (c->cache_stale_s && !c->cache_s_maxage)
		return fail(err, err_size, "cache_stale_s needs cache_s_maxage: without it shared "
					   "caches keep nothing to serve stale");
	if (c->earliest_event_time > clock_wall_ms() + (int64_t)c->max_clock_skew_s * 1000)
		return fail(err, err_size, "earliest_event_time is later than now (and "
					   "max_clock_skew_s): every event would be rejected out_of_range");
	for (size_t i = 0; i < c->kafka_count; i++) {
		/* librdkafka reads topic.NAME as the topic-level NAME (auto.offset.reset) */
		const char *name = c->kafka[i].key;
		if (strncmp(name, "topic.", 6) == 0)
			name += 6;
		for (size_t j = 0; j < sizeof owned_kafka_keys / sizeof owned_kafka_keys[0]; j++)
			if (strcmp(name, owned_kafka_keys[j].key) == 0)
				return fail(err, err_size, "kafka.%s is set by pledged itself (%s)",
					    c->kafka[i].key, owned_kafka_keys[j].instead);
	}
	/* librdkafka judges its own names and values: here, not at start. */
	rd_kafka_conf_t *conf = kafka_conf_new(c->kafka, c->kafka_count, err, err_size);
	if (!conf)
		return PL_EINVAL;
	rd_kafka_conf_destroy(conf);
	return PL_OK;
}

int config_load_token(struct serve_config *c, char *err, size_t err_size)
{
	c->admin_token[0] = '\0';
	if (!c->admin_token_file[0])
		return PL_OK;
	FILE *f = fopen(c->admin_token_file, "r");
	if (!f) {
		snprintf(err, err_size, "cannot open admin_token_file '%s': %s", c->admin_token_file,
			 strerror(errno));
		return errno == ENOENT ? PL_ENOTFOUND : PL_EIO;
	}
	char buf[CONFIG_TOKEN_MAX + 3];
	size_t len = fread(buf, 1, sizeof buf - 1, f);
	int read_errno = ferror(f) ? errno : 0;
	fclose(f);
	if (read_errno) /* a directory opens, and only its read fails */
		return fail(err, err_size, "cannot read admin_token_file '%s': %s", c->admin_token_file,
			    strerror(read_errno));
	buf[len] = '\0';
	if (len && buf[len - 1] == '\n')
		buf[--len] = '\0';
	if (len && buf[len - 1] == '\r')
		buf[--len] = '\0';
	if (len < CONFIG_TOKEN_MIN || len > CONFIG_TOKEN_MAX)
		return fail(err, err_size, "admin_token_file '%s': the token wants %d..%d characters "
			    "(e.g. openssl rand -hex 32)", c->admin_token_file, CONFIG_TOKEN_MIN,
			    CONFIG_TOKEN_MAX);
	for (size_t i = 0; i < len; i++)
		if (buf[i] <= ' ' || buf[i] > '~')
			return fail(err, err_size, "admin_token_file '%s': the token is one line of "
				    "visible ASCII characters, no spaces", c->admin_token_file);
	memcpy(c->admin_token, buf, len + 1);
	return PL_OK;
}

const char *config_kafka_get(const struct serve_config *c, const char *key)
{
	for (size_t i = 0; i < c->kafka_count; i++)
		if (strcmp(c->kafka[i].key, key) == 0)
			return c->kafka[i].value;
	return NULL;
}
