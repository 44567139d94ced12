/*
 * config.h — the settings of `pledged serve`, from a config file and flags.
 *
 * A plain struct filled by a pure parser (no I/O but config_load_file) and
 * checked by a validator, so every rule can be unit-tested. The file is
 * `key = value` lines; `#` starts a comment line; keys are the long flag
 * names with '_' or '-' (brokers, topic, dlq_topic, partitioner, group, instance_id,
 * advertise_url, data,
 * listen, admin_listen,
 * admin_token_file, log_level, read_only, batch_max, batch_ms,
 * skip_lost_offsets, map_size,
 * checkpoint_entries, earliest_event_time, max_clock_skew_s, ready_max_lag,
 * cache_s_maxage, cache_stale_s).
 * Any key starting with "kafka." is handed to
 * librdkafka as is, minus the prefix, so that a secured cluster (SASL,
 * TLS) needs no code here. A file gives a key once (a second is refused
 * as a mistake); flags, set later, override the file.
 */
#ifndef CONFIG_H
#define CONFIG_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kafka_conf.h"

#define CONFIG_MAX_KAFKA 64
/* Bearer tokens: 16..1024 visible ASCII characters, no spaces. */
#define CONFIG_TOKEN_MIN 16
#define CONFIG_TOKEN_MAX 1024

struct serve_config {
	char brokers[1024]; /* "HOST:PORT[,…]"; "" starts the embedded broker */
	char topic[250];
	char dlq_topic[250]; /* "" means no dead-letter topic */
	char partitioner[32]; /* the gateways': consistent_random or murmur2_random */
	char group[256];
	char instance_id[256]; /* static group membership (group.instance.id); "" none */
	char advertise_url[256]; /* this instance's public address for the group; "" none */
	char data[1024];
	char listen[256];       /* public: page, campaign API, streams */
	char admin_listen[256]; /* operators: health, metrics, rejections */
	char admin_token_file[1024]; /* "" means no token */
	char admin_token[CONFIG_TOKEN_MAX + 1]; /* read from admin_token_file by config_load_token */
	char log_level[16];
	bool read_only;         /* serve HTTP from the data dir, consume nothing */
	bool skip_lost_offsets; /* continue after data deleted by retention (logged) */
	unsigned batch_max;     /* messages per write transaction */
	unsigned batch_ms;      /* longest wait to fill a batch */
	size_t map_size;        /* initial LMDB map in bytes; 0: the store's default */
	unsigned checkpoint_entries; /* rules' state kept in memory between checkpoints */
	int64_t earliest_event_time; /* Unix ms: events from before are refused */
	unsigned max_clock_skew_s;   /* events from after arrival + this are refused */
	unsigned ready_max_lag;      /* /readyz: most messages behind while ready */
	unsigned cache_s_maxage;     /* shared caches may keep public answers this long */
	unsigned cache_stale_s;      /* and serve them stale this long while revalidating */
	struct kafka_prop kafka[CONFIG_MAX_KAFKA];
	size_t kafka_count;
};

/* Fills c with the defaults that `serve --help` lists. */
void config_init(struct serve_config *c);

/*
 * Sets one key (see the file header) to value. Returns 0, or PL_EINVAL with
 * a message in err (err_size bytes) for an unknown key, a bad value or one
 * too long to keep.
 */
int config_set(struct serve_config *c, const char *key, const char *value, char *err,
	       size_t err_size);

/*
 * Sets "key=value" (the form of --kafka and of the file lines without the
 * spaces). A key without "kafka." is taken as a librdkafka property when
 * kafka_prefix_implied is true. Returns 0 or PL_EINVAL with err.
 */
int config_set_pair(struct serve_config *c, const char *pair, bool kafka_prefix_implied, char *err,
		    size_t err_size);

/*
 * Parses the text of a config file (len bytes, need not end in NUL) into c.
 * Returns 0 or PL_EINVAL with "line N: why" in err.
 */
int config_parse_text(struct serve_config *c, const char *text, size_t len, char *err,
		      size_t err_size);

/* Reads the file at path and parses it. PL_ENOTFOUND/PL_EIO/PL_EINVAL with err. */
int config_load_file(struct serve_config *c, const char *path, char *err, size_t err_size);

/*
 * Loads the file of each --config in argv (getopt code 'c' among opts) as
 * getopt_long() reads them: abbreviated (--conf), as --config=FILE, and not
 * when it is another option's value. Run before the flags are taken, so
 * that they override the file; getopt starts afresh after it. Returns 0 or
 * an error with err.
 */
int config_load_args(struct serve_config *c, int argc, char **argv, const struct option *opts,
		     char *err, size_t err_size);

/*
 * Checks the whole configuration: names, addresses, ranges, and that no
 * kafka.* property overrides one pledged must own for exactly-once
 * consumption. Returns 0 or PL_EINVAL with err.
 */
int config_validate(const struct serve_config *c, char *err, size_t err_size);

/*
 * Reads the admin listener's token from admin_token_file, when one is set,
 * into admin_token (one line; a final newline is not part of it). Returns
 * 0, or PL_ENOTFOUND/PL_EIO/PL_EINVAL with err.
 */
int config_load_token(struct serve_config *c, char *err, size_t err_size);

/* The value of a pass-through property, or NULL when it is not set. */
const char *config_kafka_get(const struct serve_config *c, const char *key);

#endif
