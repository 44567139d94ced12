/*
 * cmd_serve.c — `pledged serve`: consume the topic into the data dir and
 * serve the projections over HTTP until SIGTERM, SIGINT or SIGHUP.
 *
 * It wires the pieces together and owns their order: configuration, the
 * data dir lock, the store, the HTTP server, the embedded broker when no
 * brokers are configured, then the consumer loop on this thread. Shutdown
 * runs the same list backwards after the loop has written its last batch.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "config.h"
#include "consumer.h"
#include "dlq.h"
#include "embedded_broker.h"
#include "evlog.h"
#include "http_server.h"
#include "log.h"
#include "metrics.h"
#include "members.h"
#include "page_watch.h"
#include "partitioner.h"
#include "pl_error.h"

static const char usage[] =
	"Usage: pledged serve [--brokers HOST:PORT[,...]] [--topic NAME] [--group ID]\n"
	"                     [--data DIR] [--listen HOST:PORT] [--admin-listen HOST:PORT]\n"
	"                     [--admin-token-file FILE] [--config FILE]\n"
	"                     [--kafka KEY=VALUE]... [--read-only] [--log-level LEVEL]\n"
	"\n"
	"Consume pledge and comment events from Kafka into the data dir (events,\n"
	"rejections, projections and offsets in one transaction per batch) and serve\n"
	"them over HTTP. Stops cleanly on SIGTERM, SIGINT or SIGHUP.\n"
	"\n"
	"Without --brokers (and no 'brokers' in the config file) an embedded broker\n"
	"is started for local use only: in memory, gone when serve stops, about\n"
	"5 MiB kept per partition. Its address is logged and written to\n"
	"DIR/broker.address, its topic to DIR/broker.topic, for 'pledged publish\n"
	"--data DIR' and kcat.\n"
	"\n"
	"  --brokers LIST        Kafka bootstrap servers\n"
	"  --topic NAME          topic to consume (default: pledges)\n"
	"  --dlq-topic NAME      also produce every rejection to this dead-letter topic,\n"
	"                        with the original key and value and headers saying why\n"
	"                        (default: none)\n"
	"  --group ID            consumer group (default: pledged); instances in one\n"
	"                        group split the partitions, each with its own --data,\n"
	"                        and each answers only for the campaigns of the\n"
	"                        partitions it holds (421 for the others)\n"
	"  --instance-id ID      static membership of the group (group.instance.id):\n"
	"                        a restart within the session timeout (10 s unless\n"
	"                        --kafka session.timeout.ms says otherwise) gets the\n"
	"                        same partitions back, without a rebalance\n"
	"  --advertise-url URL   this instance's public HTTP address (http://HOST:PORT):\n"
	"                        announced to the group on TOPIC.members, so that the\n"
	"                        others redirect (307) requests for its campaigns here\n"
	"  --partitioner NAME    how gateways map a campaign id (the message key) to a\n"
	"                        partition: consistent_random (librdkafka's default,\n"
	"                        the default) or murmur2_random (the Java client's)\n"
	"  --data DIR            data directory, created if missing (default: pledged-data)\n"
	"  --listen HOST:PORT    public HTTP: the page, the campaign API and streams\n"
	"                        (default: 127.0.0.1:8080; port 0 picks one)\n"
	"  --admin-listen HOST:PORT  operators' HTTP: /healthz, /readyz, /metrics and\n"
	"                        /v1/rejections (default: 127.0.0.1:8081; keep it off\n"
	"                        public networks)\n"
	"  --admin-token-file FILE  the operators' listener then answers only requests\n"
	"                        with 'Authorization: Bearer TOKEN' (the file's one line)\n"
	"  --config FILE         'key = value' lines with the settings above (brokers,\n"
	"                        topic, dlq_topic, partitioner, group, instance_id,\n"
	"                        advertise_url,\n"
	"                        data, listen,\n"
	"                        admin_listen,\n"
	"                        admin_token_file, log_level, read_only,\n"
	"                        batch_max, batch_ms, map_size, checkpoint_entries,\n"
	"                        earliest_event_time, max_clock_skew_s, ready_max_lag,\n"
	"                        cache_s_maxage, cache_stale_s,\n"
	"                        skip_lost_offsets, kafka.*);\n"
	"                        flags override the file\n"
	"  --kafka KEY=VALUE     any librdkafka property, e.g. security.protocol=SASL_SSL\n"
	"                        (in the file: kafka.KEY = VALUE)\n"
	"  --read-only           serve HTTP from an existing data dir, consume nothing\n"
	"  --check-config        check the settings, print them, and exit\n"
	"  --log-level LEVEL     error, warn, info (default) or debug\n"
	"  --batch-max N         messages per write transaction (default 20000)\n"
	"  --batch-ms N          longest wait to fill a batch in ms (default 50)\n"
	"  --map-size SIZE       initial LMDB map (e.g. 1G; default 64M); it doubles by\n"
	"                        itself when full\n"
	"  --checkpoint-entries N  changes to the rules' state kept in memory before\n"
	"                        they are written out (default 1000000; about 100 bytes\n"
	"                        of memory each, twice while one set is written)\n"
	"  --earliest-event-time TIME  events whose time ('at') is before it are refused\n"
	"                        out_of_range (Unix ms or UTC like 2000-01-01T00:00:00Z,\n"
	"                        the default)\n"
	"  --max-clock-skew-s N  and so are events timed more than N seconds after\n"
	"                        they arrive (default 86400)\n"
	"  --cache-s-maxage N    let shared caches (a CDN, an nginx proxy_cache) keep\n"
	"                        successful public JSON answers N seconds (default 0:\n"
	"                        Cache-Control no-cache); browsers still revalidate\n"
	"  --cache-stale-s N     and serve them up to N seconds stale while they\n"
	"                        revalidate (stale-while-revalidate; default 0)\n"
	"  --ready-max-lag N     /readyz answers 503 while more than N messages behind\n"
	"                        (default 10000)\n"
	"  --skip-lost-offsets   when Kafka deleted events before they were read, log the\n"
	"                        gap and go on instead of stalling that partition\n"
	"  -h, --help            show this help\n"
	"\n"
	"Exit status: 0 stopped by a signal, 1 a fatal Kafka or HTTP error, 2 usage,\n"
	"3 the data dir could not be used (or another serve holds it).\n";

#define EMBEDDED_PARTITIONS 4

/* Set by the signal handler, read by the loops: the one thing a handler may touch. */
static atomic_bool stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&stop_requested, true);
}

static void install_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	/* A terminal that went away stops it cleanly too, leaving the group at
	 * once; under nohup (ignored from the start) it changes nothing. */
	struct sigaction hup;
	if (sigaction(SIGHUP, NULL, &hup) == 0 && hup.sa_handler != SIG_IGN)
		sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static int parse_args(int argc, char **argv, struct serve_config *cfg, bool *check_only)
{
	static const struct option opts[] = {{"brokers", required_argument, NULL, 'b'},
					     {"topic", required_argument, NULL, 't'},
					     {"dlq-topic", required_argument, NULL, 'Q'},
					     {"partitioner", required_argument, NULL, 'P'},
					     {"group", required_argument, NULL, 'g'},
					     {"instance-id", required_argument, NULL, 'I'},
					     {"advertise-url", required_argument, NULL, 'U'},
					     {"data", required_argument, NULL, 'd'},
					     {"listen", required_argument, NULL, 'l'},
					     {"admin-listen", required_argument, NULL, 'A'},
					     {"admin-token-file", required_argument, NULL, 'F'},
					     {"config", required_argument, NULL, 'c'},
					     {"kafka", required_argument, NULL, 'k'},
					     {"read-only", no_argument, NULL, 'r'},
					     {"log-level", required_argument, NULL, 'L'},
					     {"batch-max", required_argument, NULL, 'B'},
					     {"batch-ms", required_argument, NULL, 'M'},
					     {"skip-lost-offsets", no_argument, NULL, 'S'},
					     {"check-config", no_argument, NULL, 'C'},
					     {"map-size", required_argument, NULL, 'm'},
					     {"checkpoint-entries", required_argument, NULL, 'E'},
					     {"earliest-event-time", required_argument, NULL, 'T'},
					     {"max-clock-skew-s", required_argument, NULL, 'K'},
					     {"ready-max-lag", required_argument, NULL, 'Y'},
					     {"cache-s-maxage", required_argument, NULL, 'x'},
					     {"cache-stale-s", required_argument, NULL, 'X'},
					     {"help", no_argument, NULL, 'h'},
					     {0}};
	char err[512];
	int c, idx;
	config_init(cfg);
	if (config_load_args(cfg, argc, argv, opts, err, sizeof err))
		return cli_usage_error("serve", "%s", err);
	while ((c = getopt_long(argc, argv, "h", opts, &idx)) != -1) {
		int rc = PL_OK;
		switch (c) {
		case 'c': break;
		case 'C': *check_only = true; break;
		case 'k': rc = config_set_pair(cfg, optarg, true, err, sizeof err); break;
		case 'r': rc = config_set(cfg, "read_only", "true", err, sizeof err); break;
		case 'S': rc = config_set(cfg, "skip_lost_offsets", "true", err, sizeof err); break;
		case 'h': fputs(usage, stdout); return -1;
		case '?': return cli_option_error("serve");
		default: rc = config_set(cfg, opts[idx].name, optarg, err, sizeof err); break;
		}
		if (rc) /* err names the setting, except a --kafka pair's */
			return cli_usage_error("serve", "%s%s", c == 'k' ? "--kafka: " : "", err);
	}
	if (optind < argc)
		return cli_usage_error("serve", "unexpected argument '%s'", argv[optind]);
	if (config_validate(cfg, err, sizeof err))
		return cli_usage_error("serve", "%s", err);
	if (config_load_token(cfg, err, sizeof err))
		return cli_usage_error("serve", "%s", err);
	return CLI_OK;
}

static void notify_http(void *arg, uint64_t seq)
{
	http_server_notify(arg, seq);
}

/* Both listeners; the commit notifications go to the public one (streams). */
struct listeners {
	struct http_server *public, *admin;
	char cache_control[96]; /* of the public listener's answers */
};

/* The operators' listener is small: one thread, a few connections, and
 * apart from the public one, so a flood there cannot starve health checks. */
#define ADMIN_THREADS 1
#define ADMIN_MAX_CONNECTIONS 64
/* The public listener's default cap (http_server.h), and the descriptors
 * serve keeps for everything but connections: LMDB, Kafka, the broker. */
#define PUBLIC_MAX_CONNECTIONS 4096
#define OTHER_FDS 128
/* Below this limit serve cannot open its event loops, LMDB and Kafka and
 * still take a connection: it says so rather than fail halfway. */
#define MIN_FDS 64

/*
 * Each connection holds a file descriptor. Raises the soft limit to the
 * hard one, and returns how many public connections fit in it beside the
 * operators' and the rest (PUBLIC_MAX_CONNECTIONS at most): past the
 * limit, accept() fails and connections wait in the kernel's queue. 0
 * when the limit is below MIN_FDS.
 */
static int public_connections(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return PUBLIC_MAX_CONNECTIONS;
	if (rl.rlim_cur < rl.rlim_max) {
		struct rlimit raised = {rl.rlim_max, rl.rlim_max};
		if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
			rl.rlim_cur = rl.rlim_max;
	}
	rlim_t need = PUBLIC_MAX_CONNECTIONS + ADMIN_MAX_CONNECTIONS + OTHER_FDS;
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
		return PUBLIC_MAX_CONNECTIONS;
	if (rl.rlim_cur < MIN_FDS) {
		log_error("http: the file limit (%llu descriptors) is too low to serve; raise it to "
			  "%d at least, %llu for every connection (ulimit -n, LimitNOFILE=)",
			  (unsigned long long)rl.rlim_cur, MIN_FDS, (unsigned long long)need);
		return 0;
	}
	rlim_t room = rl.rlim_cur > ADMIN_MAX_CONNECTIONS + OTHER_FDS + 16
			      ? rl.rlim_cur - ADMIN_MAX_CONNECTIONS - OTHER_FDS
			      : 16;
	log_warn("http: the file limit (%llu descriptors) allows %llu public connections, not %d; "
		 "raise it (ulimit -n, LimitNOFILE=) to %llu for them all",
		 (unsigned long long)rl.rlim_cur, (unsigned long long)room, PUBLIC_MAX_CONNECTIONS,
		 (unsigned long long)need);
	return (int)room;
}

static int start_http(const struct serve_config *cfg, struct store *st, struct metrics *m,
		      struct listeners *l)
{
	/* Browsers revalidate (max-age=0); shared caches in front may keep it. */
	if (cfg->cache_s_maxage)
		snprintf(l->cache_control, sizeof l->cache_control,
			 "public, max-age=0, s-maxage=%u, stale-while-revalidate=%u",
			 cfg->cache_s_maxage, cfg->cache_stale_s);
	int public_max = public_connections();
	if (!public_max)
		return PL_EINVAL;
	struct http_server_options pub = {.listen = cfg->listen, .listener = HTTP_PUBLIC,
					  .max_connections = public_max,
					  .ready_max_lag = cfg->ready_max_lag,
					  .cache_control = l->cache_control};
	struct http_server_options adm = {.listen = cfg->admin_listen, .listener = HTTP_ADMIN,
					  .token = cfg->admin_token, .threads = ADMIN_THREADS,
					  .max_connections = ADMIN_MAX_CONNECTIONS,
					  .ready_max_lag = cfg->ready_max_lag};
	int rc = http_server_start(&l->public, st, m, &pub);
	if (rc) {
		log_error("cannot serve HTTP on %s: %s; check --listen (the line above says why)",
			  cfg->listen, pl_strerror(rc));
		return rc;
	}
	rc = http_server_start(&l->admin, st, m, &adm);
	if (rc) {
		log_error("cannot serve the operators' HTTP on %s: %s; check --admin-listen (the "
			  "line above says why)", cfg->admin_listen, pl_strerror(rc));
		http_server_stop(l->public);
		l->public = NULL;
		return rc;
	}
	log_info("HTTP on %s (port %d)", cfg->listen, http_server_port(l->public));
	log_info("admin HTTP on %s (port %d)%s", cfg->admin_listen, http_server_port(l->admin),
		 cfg->admin_token[0] ? ", bearer token required" : "");
	return PL_OK;
}

static void stop_http(struct listeners *l)
{
	http_server_stop(l->admin);
	http_server_stop(l->public);
	*l = (struct listeners){0};
}

static void wait_for_signal(void)
{
	struct timespec tick = {0, 100 * 1000000L};
	while (!atomic_load(&stop_requested))
		nanosleep(&tick, NULL);
}

/* Starts the metrics where the data dir stands, not at zero. */
static void metrics_start(struct metrics *m, struct store *st)
{
	struct store_txn t;
	uint64_t seq = 0;
	metrics_init(m);
	if (store_read_begin(st, &t) == 0 && evlog_last_seq(&t, &seq) == 0)
		atomic_store(&m->last_seq, seq);
	store_abort(&t);
}

static int serve_read_only(const struct serve_config *cfg)
{
	struct store *st;
	struct metrics m;
	struct listeners hs = {0};
	int rc = cli_open_store("serve", cfg->data, CLI_READ, cfg->map_size, &st);
	if (rc)
		return rc;
	metrics_start(&m, st);
	metrics_set_state(&m, CONSUMER_READ_ONLY, "read-only: serving the data dir, not consuming");
	/* Said as it is, though this instance writes nothing: a read-only
	 * mount, or files it may not write, is what an operator's alert is
	 * for when it is to take over as the writer. */
	char data_file[4200];
	snprintf(data_file, sizeof data_file, "%s/data.mdb", cfg->data);
	atomic_store(&m.store_writable, access(data_file, W_OK) == 0);
	/* As a consuming serve's: damage found stops the reads that could follow it. */
	struct page_watch *pages = NULL;
	if (page_watch_start(&pages, st))
		log_warn("cannot start the check of LMDB's pages; serving without it");
	if (start_http(cfg, st, &m, &hs) == PL_OK) {
		log_info("read-only: serving %s, consuming nothing", cfg->data);
		wait_for_signal();
		stop_http(&hs);
	} else {
		rc = CLI_MISMATCH;
	}
	page_watch_stop(pages);
	metrics_deinit(&m);
	store_close(st);
	return rc;
}

static int serve_consuming(const struct serve_config *cfg)
{
	struct store *st = NULL;
	struct writer writer;
	struct metrics m;
	struct listeners hs = {0};
	struct embedded_broker *eb = NULL;
	struct consumer *consumer = NULL;
	struct dlq *dlq = NULL;
	struct members *members = NULL;
	struct page_watch *pages = NULL;
	struct slot_options sopt = {.checkpoint_entries = cfg->checkpoint_entries};
	char err[512];
	int lock_fd = -1;
	/* Two serves on one data dir would interleave their offsets: one writer. */
	int rc = cli_open_writer("serve", cfg->data, true, cfg->map_size, CLI_PAGES_BESIDE,
				  &sopt, &st, &writer, &lock_fd);
	if (rc)
		return rc;
	writer.window = (struct event_window){cfg->earliest_event_time,
					      (int64_t)cfg->max_clock_skew_s * 1000};
	metrics_start(&m, st);
	if (page_watch_start(&pages, st))
		log_warn("cannot start the check of LMDB's pages; serve goes on without");
	/* Before HTTP listens: until the first assignment it answers 503, not
	 * with whatever the data dir holds of any partition. */
	ownership_enforce(&m.owner, partitioner_named(cfg->partitioner));
	rc = CLI_MISMATCH;
	if (start_http(cfg, st, &m, &hs))
		goto cleanup;

	struct consumer_options copt = {
		.brokers = cfg->brokers,
		.topic = cfg->topic,
		.group = cfg->group,
		.instance_id = cfg->instance_id,
		.kafka = cfg->kafka,
		.kafka_count = cfg->kafka_count,
		.batch_max = cfg->batch_max,
		.batch_ms = (int)cfg->batch_ms,
		.skip_lost_offsets = cfg->skip_lost_offsets,
		.partitioner = partitioner_named(cfg->partitioner),
		.on_commit = notify_http,
		.on_commit_arg = hs.public,
	};
	if (!cfg->brokers[0]) {
		int ebrc = embedded_broker_start(&eb, cfg->topic, EMBEDDED_PARTITIONS, cfg->data, err,
						 sizeof err);
		if (ebrc == PL_EIO) { /* its address file: the data dir is not writable */
			log_error("%s; serve writes into the data dir, which must be writable", err);
			rc = CLI_STORE;
			goto cleanup;
		}
		if (ebrc) {
			log_error("%s", err);
			goto cleanup;
		}
		copt.brokers = embedded_broker_address(eb);
		copt.cluster_id = embedded_broker_incarnation(eb);
		log_warn("embedded broker for local use only, in memory (lost when serve stops, "
			 "about 5 MiB kept per partition): listening on %s, topic %s with %d "
			 "partitions; address written to %s/%s; publish with 'pledged publish --data "
			 "%s' or 'kcat -b %s -t %s -P'; use --brokers for a real Kafka cluster",
			 copt.brokers, cfg->topic, EMBEDDED_PARTITIONS, cfg->data,
			 EMBEDDED_BROKER_ADDRESS_FILE, cfg->data, copt.brokers, cfg->topic);
	}
	if (cfg->dlq_topic[0]) {
		struct dlq_options dopt = {.brokers = copt.brokers, .topic = cfg->dlq_topic,
					   .kafka = cfg->kafka, .kafka_count = cfg->kafka_count};
		if (dlq_start(&dlq, st, &writer, &m, &dopt, err, sizeof err)) {
			log_error("%s", err);
			goto cleanup;
		}
		copt.on_erasure = dlq_erasure;
		copt.on_erasure_arg = dlq;
	}
	if (consumer_new(&consumer, &writer, &m, &copt, err, sizeof err)) {
		log_error("%s", err);
		goto cleanup;
	}
	if (cfg->advertise_url[0]) {
		struct members_options mopt = {.brokers = copt.brokers, .topic = cfg->topic,
					       .group = cfg->group, .url = cfg->advertise_url,
					       .kafka = cfg->kafka,
					       .kafka_count = cfg->kafka_count};
		if (members_start(&members, &m, &mopt, err, sizeof err)) {
			log_error("%s", err);
			goto cleanup;
		}
	}
	log_info("consuming topic %s as group %s from %s into %s", cfg->topic, cfg->group,
		 copt.brokers, cfg->data);
	rc = consumer_run(consumer, &stop_requested) ? CLI_MISMATCH : CLI_OK;
	log_info("stopping: leaving the consumer group");
cleanup:
	consumer_free(consumer);
	members_stop(members);
	dlq_stop(dlq);
	metrics_set_state(&m, CONSUMER_STOPPED, "shutting down");
	stop_http(&hs);
	embedded_broker_stop(eb);
	metrics_deinit(&m);
	page_watch_stop(pages);
	/* A checkpoint now spares the next start replaying the log since the last. */
	int cp = writer_checkpoint(&writer);
	if (cp)
		log_warn("could not write a checkpoint on the way out (%s); the next start applies "
			 "the log since the last one, nothing is lost",
			 pl_strerror(cp));
	cli_close_writer(st, &writer, lock_fd);
	if (rc == CLI_OK)
		log_info("stopped cleanly");
	return rc;
}

/* librdkafka properties that can hold credentials (passwords, keys, PEM
 * blobs, JAAS and OAuth configs): their values are never printed. */
static bool may_be_secret(const char *key)
{
	static const char *const words[] = {"password", "secret", "key", "pem", "config", "token",
					    "jaas", "credential"};
	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
		if (strstr(key, words[i]))
			return true;
	return false;
}

/* What --check-config prints: the settings in effect, secrets left out. */
static void print_config(const struct serve_config *cfg)
{
	printf("configuration OK\nbrokers = %s\ntopic = %s\ndlq_topic = %s\npartitioner = %s\n"
	       "group = %s\ninstance_id = %s\nadvertise_url = %s\ndata = %s\nlisten = %s\n"
	       "admin_listen = %s\nadmin_token_file = %s\nlog_level = %s\nread_only = %s\nskip_lost_offsets = %s\nbatch_max = %u\nbatch_ms = %u\n"
	       "map_size = %zu\ncheckpoint_entries = %u\nearliest_event_time = %lld\n"
	       "max_clock_skew_s = %u\nready_max_lag = %u\ncache_s_maxage = %u\ncache_stale_s = %u\n",
	       cfg->brokers[0] ? cfg->brokers : "(embedded broker)", cfg->topic,
	       cfg->dlq_topic[0] ? cfg->dlq_topic : "(none)", cfg->partitioner, cfg->group,
	       cfg->instance_id[0] ? cfg->instance_id : "(none)",
	       cfg->advertise_url[0] ? cfg->advertise_url : "(none)", cfg->data,
	       cfg->listen, cfg->admin_listen,
	       cfg->admin_token_file[0] ? cfg->admin_token_file : "(none: no token)", cfg->log_level, cfg->read_only ? "true" : "false",
	       cfg->skip_lost_offsets ? "true" : "false", cfg->batch_max, cfg->batch_ms, cfg->map_size,
	       cfg->checkpoint_entries, (long long)cfg->earliest_event_time, cfg->max_clock_skew_s,
	       cfg->ready_max_lag, cfg->cache_s_maxage, cfg->cache_stale_s);
	for (size_t i = 0; i < cfg->kafka_count; i++)
		printf("kafka.%s = %s\n", cfg->kafka[i].key,
		       may_be_secret(cfg->kafka[i].key) ? "(hidden)" : cfg->kafka[i].value);
}

/* What librdkafka checks only as it makes a consumer, without starting one. */
static int check_kafka(const struct serve_config *cfg)
{
	struct consumer_options copt = {.brokers = cfg->brokers, .topic = cfg->topic,
					.group = cfg->group, .instance_id = cfg->instance_id,
					.kafka = cfg->kafka, .kafka_count = cfg->kafka_count};
	struct dlq_options dopt = {.topic = cfg->dlq_topic, .kafka = cfg->kafka,
				   .kafka_count = cfg->kafka_count};
	char err[700];
	if (cfg->read_only ||
	    (consumer_check(&copt, err, sizeof err) == 0 &&
	     (!cfg->dlq_topic[0] || dlq_check(&dopt, err, sizeof err) == 0)))
		return CLI_OK;
	return cli_usage_error("serve", "%s", err);
}

/* Refused it would break Docker secrets (0444 by default): said instead, so
 * that the token which opens /v1/rejections does not sit open unnoticed. */
static void warn_token_access(const struct serve_config *cfg)
{
	struct stat st;
	if (cfg->admin_token[0] && stat(cfg->admin_token_file, &st) == 0 && (st.st_mode & 077))
		log_warn("admin_token_file '%s' is open to other users (mode %04o): whoever reads "
			 "it may read the operators' listener; chmod 0400 it, or hand it over with "
			 "systemd's LoadCredential= (docs/operations.md)",
			 cfg->admin_token_file, (unsigned)(st.st_mode & 07777));
}

int cmd_serve(int argc, char **argv)
{
	struct serve_config cfg;
	bool check_only = false;
	int rc = parse_args(argc, argv, &cfg, &check_only);
	if (rc)
		return rc < 0 ? CLI_OK : rc;
	log_set_level((enum log_level)log_level_parse(cfg.log_level));
	warn_token_access(&cfg);
	if (check_only) {
		if ((rc = check_kafka(&cfg)))
			return rc;
		print_config(&cfg);
		return CLI_OK;
	}
	atomic_store(&stop_requested, false);
	install_signals();
	return cfg.read_only ? serve_read_only(&cfg) : serve_consuming(&cfg);
}
