/*
 * test_config.c — the settings of `pledged serve`: every accepted form and
 * every refusal of the file parser and the validator, table-driven, plus the
 * example file in deploy/ (given as the first argument).
 */
#include "check.h"
#include "config.h"
#include "pl_error.h"

struct file_case {
	const char *name;
	const char *text;
	int want;             /* 0 or PL_EINVAL from parse, or validate when parse passes */
	const char *err_has;  /* part of the message, when refused */
};

static const struct file_case file_cases[] = {
	{"empty file", "", 0, NULL},
	{"comments and blank lines", "# a comment\n\n   \n\t# indented comment\n", 0, NULL},
	{"all keys", "brokers = a:1,b:2\ntopic = t.x_y-z\ngroup = g\ndata = /d\nlisten = 0.0.0.0:80\n"
		     "log_level = debug\nread_only = yes\nskip_lost_offsets = 0\nbatch_max = 10\nbatch_ms = 7\n",
	 0, NULL},
	{"dashes like flags", "log-level = warn\nbatch-max = 9\n", 0, NULL},
	{"CRLF and spaces", "topic=pledges  \r\n  group   =   g2\r\n", 0, NULL},
	{"kafka pass-through", "kafka.security.protocol = SASL_SSL\nkafka.sasl.username = u\n", 0, NULL},
	{"IPv6 listen", "listen = [::1]:8080\n", 0, NULL},
	{"map size in K", "map_size = 64K\n", 0, NULL},
	{"map size in m", "map_size = 512m\n", 0, NULL},
	{"map size in G", "map_size = 2G\n", 0, NULL},
	{"map size in bytes", "map_size = 1048576\n", 0, NULL},
	{"map size too small", "map_size = 4096\n", PL_EINVAL, "line 1: 'map_size' wants 0 or at least 64K"},
	{"map size unit", "map_size = 5T\n", PL_EINVAL, "wants a size"},
	{"map size huge", "map_size = 2000000G\n", PL_EINVAL, "wants a size"},
	{"listen on every address", "listen = :8080\n", 0, NULL},
	{"dead-letter topic", "dlq_topic = pledges.dead-letter\n", 0, NULL},
	{"Java's partitioner", "partitioner = murmur2_random\n", 0, NULL},
	{"advertised address", "advertise_url = https://pledged-2.internal:8443\n", 0, NULL},
	{"advertised address with a user", "advertise_url = http://u@h:1\n", PL_EINVAL,
	 "is not http://HOST[:PORT]"},
	{"advertised address with a quote", "advertise_url = http://h\"x:1\n", PL_EINVAL,
	 "is not http://HOST[:PORT]"},
	{"advertised host with an underscore", "advertise_url = http://pledged_2.internal:8080\n", 0,
	 NULL},
	{"advertised address with a path", "advertise_url = http://h:1/x\n", PL_EINVAL,
	 "advertise_url 'http://h:1/x' is not http://HOST[:PORT]"},
	{"advertised address without scheme", "advertise_url = h:8080\n", PL_EINVAL,
	 "is not http://HOST[:PORT]"},
	{"unknown partitioner", "partitioner = random\n", PL_EINVAL,
	 "partitioner must be consistent_random (librdkafka's default) or murmur2_random"},
	{"dead-letter topic is the topic", "topic = t\ndlq_topic = t\n", PL_EINVAL,
	 "dlq_topic must not be the topic consumed (t)"},
	{"bad dead-letter topic", "dlq_topic = no way\n", PL_EINVAL,
	 "dlq_topic 'no way' has a character Kafka does not allow"},
	{"admin listener", "admin_listen = 10.0.0.5:9100\nadmin-token-file = /run/token\n", 0, NULL},
	{"both on port 0", "listen = 127.0.0.1:0\nadmin_listen = 127.0.0.1:0\n", 0, NULL},
	{"admin listen without port", "admin_listen = localhost\n", PL_EINVAL,
	 "admin_listen 'localhost' is not HOST:PORT"},
	{"one address for both", "listen = 127.0.0.1:9000\nadmin_listen = 127.0.0.1:9000\n", PL_EINVAL,
	 "needs an address of its own"},
	/* Every address takes the port on each: the second bind would fail at start. */
	{"every address and loopback on one port", "listen = 0.0.0.0:9000\nadmin_listen = 127.0.0.1:9000\n",
	 PL_EINVAL, "listen (0.0.0.0:9000) and admin_listen (127.0.0.1:9000) take the same port"},
	{"IPv6's every address and loopback", "listen = [::]:9000\nadmin_listen = 127.0.0.1:09000\n",
	 PL_EINVAL, "take the same port"},
	{"every address, written two ways", "listen = :9000\nadmin_listen = *:9000\n", PL_EINVAL,
	 "take the same port"},
	{"one port on two addresses", "listen = 10.0.0.5:9000\nadmin_listen = 127.0.0.1:9000\n", 0, NULL},
	{"one port on two families", "listen = [::1]:9000\nadmin_listen = 127.0.0.1:9000\n", 0, NULL},

	{"unknown key", "topic = t\nfrobnicate = 1\n", PL_EINVAL, "line 2: unknown setting 'frobnicate'"},
	{"no equals sign", "topic\n", PL_EINVAL, "line 1: 'topic' is not key=value"},
	{"bad bool", "read_only = perhaps\n", PL_EINVAL, "wants true or false"},
	{"bad number", "batch_max = ten\n", PL_EINVAL, "wants a number"},
	{"negative number", "batch_ms = -5\n", PL_EINVAL, "wants a number"},
	{"empty kafka property", "kafka. = x\n", PL_EINVAL, "empty librdkafka property"},
	{"too long a line", NULL, PL_EINVAL, "line 1: too long"},

	{"bad topic", "topic = no spaces\n", PL_EINVAL, "character Kafka does not allow"},
	{"dot topic", "topic = ..\n", PL_EINVAL, "topic must not be empty"},
	{"empty group", "group =\n", PL_EINVAL, "group must not be empty"},
	{"listen without port", "listen = localhost\n", PL_EINVAL, "is not HOST:PORT"},
	{"listen port too big", "listen = 127.0.0.1:70000\n", PL_EINVAL, "is not HOST:PORT"},
	{"broker without host", "brokers = :9092\n", PL_EINVAL, "is not HOST:PORT"},
	{"brokers trailing comma", "brokers = a:1,\n", PL_EINVAL, "ends with a comma"},
	{"bad log level", "log_level = loud\n", PL_EINVAL, "is not one of"},
	{"batch_max zero", "batch_max = 0\n", PL_EINVAL, "line 1: 'batch_max' wants 1..100000, not '0'"},
	{"batch_ms too long", "batch_ms = 10001\n", PL_EINVAL, "line 1: 'batch_ms' wants 1..10000, not '10001'"},
	{"checkpoint_entries", "checkpoint_entries = 250000\n", 0, NULL},
	{"checkpoint-entries", "checkpoint-entries = 1000\n", 0, NULL},
	{"checkpoint_entries too few", "checkpoint_entries = 999\n", PL_EINVAL,
	 "'checkpoint_entries' wants 1000..100000000, not '999'"},
	{"checkpoint_entries too many", "checkpoint_entries = 100000001\n", PL_EINVAL,
	 "'checkpoint_entries' wants 1000..100000000, not '100000001'"},
	{"event window", "earliest_event_time = 2015-06-01T00:00:00Z\nmax_clock_skew_s = 0\n", 0, NULL},
	{"earliest_event_time not a time", "earliest_event_time = last year\n", PL_EINVAL,
	 "earliest_event_time wants Unix ms or a UTC time that exists, as YYYY-MM-DD[THH:MM[:SS]][Z], "
	 "not 'last year'"},
	{"earliest_event_time on a day that does not exist", "earliest_event_time = 2015-02-29\n",
	 PL_EINVAL, "not '2015-02-29'"},
	{"earliest_event_time after now", "earliest_event_time = 3000-01-01\n", PL_EINVAL,
	 "every event would be rejected out_of_range"},
	{"max_clock_skew_s too large", "max_clock_skew_s = 31536001\n", PL_EINVAL,
	 "'max_clock_skew_s' wants 0..31536000, not"},
	{"ready_max_lag", "ready_max_lag = 500\n", 0, NULL},
	{"ready_max_lag zero", "ready_max_lag = 0\n", PL_EINVAL, "line 1: 'ready_max_lag' wants at least 1, not '0'"},
	{"pledged owns the group", "kafka.group.id = other\n", PL_EINVAL, "set by pledged itself"},
	{"pledged owns offsets", "kafka.enable.auto.commit = true\n", PL_EINVAL, "offsets live in the data dir"},
	{"pledged never skips", "kafka.auto.offset.reset = latest\n", PL_EINVAL, "never skips data"},
	{"pledged never skips, as a topic's", "kafka.topic.auto.offset.reset = latest\n", PL_EINVAL,
	 "kafka.topic.auto.offset.reset is set by pledged itself"},
	{"aborted transactions", "kafka.isolation.level = read_uncommitted\n", PL_EINVAL,
	 "kafka.isolation.level is set by pledged itself (only messages of committed transactions"},
	/* What librdkafka refuses is refused when the settings are checked, not at start. */
	{"librdkafka's unknown property", "kafka.bogus.prop = 1\n", PL_EINVAL,
	 "kafka property bogus.prop: No such configuration property"},
	{"librdkafka's bad value", "kafka.session.timeout.ms = abc\n", PL_EINVAL,
	 "kafka property session.timeout.ms: Invalid value"},
	{"librdkafka's property", "kafka.session.timeout.ms = 6000\n", 0, NULL},
};

static void test_file_cases(void)
{
	static char long_line[2000];
	memset(long_line, 'x', sizeof long_line - 1);
	for (size_t i = 0; i < sizeof file_cases / sizeof file_cases[0]; i++) {
		const struct file_case *fc = &file_cases[i];
		const char *text = fc->text ? fc->text : long_line;
		struct serve_config c;
		char err[512] = "";
		config_init(&c);
		int rc = config_parse_text(&c, text, strlen(text), err, sizeof err);
		if (rc == 0)
			rc = config_validate(&c, err, sizeof err);
		if (rc != fc->want || (fc->err_has && !strstr(err, fc->err_has)))
			fprintf(stderr, "case '%s': got %d '%s'\n", fc->name, rc, err);
		CHECK_INT(rc, fc->want);
		if (fc->err_has)
			CHECK(strstr(err, fc->err_has) != NULL);
	}
}

static void test_values(void)
{
	struct serve_config c;
	char err[256];
	config_init(&c);
	/* The defaults `serve --help` lists. */
	CHECK_STR(c.topic, "pledges");
	CHECK_STR(c.group, "pledged");
	CHECK_STR(c.brokers, "");
	CHECK_INT(c.checkpoint_entries, 1000000);
	CHECK(c.earliest_event_time == INT64_C(946684800000)); /* 2000-01-01T00:00:00Z */
	CHECK_INT(c.max_clock_skew_s, 86400);
	CHECK_INT(config_validate(&c, err, sizeof err), 0);
	CHECK_INT(config_set(&c, "earliest-event-time", "2015-06-01T00:00:00Z", err, sizeof err), 0);
	CHECK(c.earliest_event_time == INT64_C(1433116800000));
	CHECK_INT(config_set(&c, "earliest_event_time", "1433116800001", err, sizeof err), 0);
	CHECK(c.earliest_event_time == INT64_C(1433116800001));

	const char *text = "topic = a\nkafka.x = 1\nread_only = true\n";
	CHECK_INT(config_parse_text(&c, text, strlen(text), err, sizeof err), 0);
	CHECK_STR(c.topic, "a");
	CHECK_STR(config_kafka_get(&c, "x"), "1");
	CHECK(c.read_only);
	CHECK(config_kafka_get(&c, "y") == NULL);
	/* Later settings win: how flags override the file. */
	CHECK_INT(config_set(&c, "topic", "b", err, sizeof err), 0);
	CHECK_INT(config_set_pair(&c, "x=2", true, err, sizeof err), 0);
	CHECK_STR(c.topic, "b");
	CHECK_STR(config_kafka_get(&c, "x"), "2");
	CHECK_INT(c.kafka_count, 1);
	/* Within a file a key is given once: a second is a mistake, not an override. */
	static const struct {
		const char *text, *err;
	} twice[] = {
		{"topic = a\nkafka.x = 1\ndlq-topic = d\n  topic=b\n",
		 "line 4: topic given again (first on line 1)"},
		{"dlq_topic = d\n\n# a comment\ndlq-topic = e\ngroup = g\ngroup = h\n",
		 "line 4: dlq-topic given again (first on line 1)"},
		{"kafka.x = 1\nkafka.x = 2\n", "line 2: kafka.x given again (first on line 1)"},
	};
	for (size_t i = 0; i < sizeof twice / sizeof twice[0]; i++) {
		config_init(&c);
		CHECK_INT(config_parse_text(&c, twice[i].text, strlen(twice[i].text), err, sizeof err),
			  PL_EINVAL);
		CHECK_STR(err, twice[i].err);
	}
	/* librdkafka's names are its own: these are two (it refuses one later). */
	text = "kafka.a-b = 1\nkafka.a_b = 2\n";
	CHECK_INT(config_parse_text(&c, text, strlen(text), err, sizeof err), 0);
	/* A byte-order mark is not read as part of the first key. */
	static const char with_bom[] = "\xEF\xBB\xBFtopic = bom\n";
	CHECK_INT(config_parse_text(&c, with_bom, sizeof with_bom - 1, err, sizeof err), 0);
	CHECK_STR(c.topic, "bom");
	/* A NUL byte would end the value early without a word: refused. */
	static const char with_nul[] = "topic = c\nbrokers = a:1\0x\n";
	CHECK_INT(config_parse_text(&c, with_nul, sizeof with_nul - 1, err, sizeof err), PL_EINVAL);
	CHECK_STR(err, "line 2: a NUL byte (is this a text file?)");

	/* The --kafka flag form: the kafka. prefix is implied. */
	CHECK_INT(config_set_pair(&c, "socket.timeout.ms=5000", true, err, sizeof err), 0);
	CHECK_STR(config_kafka_get(&c, "socket.timeout.ms"), "5000");
	CHECK_INT(config_set_pair(&c, "no-equals", true, err, sizeof err), PL_EINVAL);
	CHECK_INT(config_set(&c, "map-size", "3M", err, sizeof err), 0);
	CHECK_INT(c.map_size, 3 << 20);

	/* The partitioner and static membership; cooperative-sticky only where it works. */
	CHECK_STR(c.partitioner, "consistent_random");
	CHECK_INT(config_set(&c, "instance-id", "pledged-1", err, sizeof err), 0);
	CHECK_STR(c.instance_id, "pledged-1");
	CHECK_INT(config_set_pair(&c, "partition.assignment.strategy=cooperative-sticky", true, err,
				  sizeof err), 0);
	int want = rd_kafka_version() < 0x020300ff ? PL_EINVAL : 0;
	CHECK_INT(config_validate(&c, err, sizeof err), want);
	CHECK(!want || strstr(err, "librdkafka issue 4312") != NULL);
	CHECK_INT(config_set_pair(&c, "partition.assignment.strategy=range", true, err, sizeof err), 0);

	/* A pair at every length about its buffer's: taken whole or refused,
	 * never written past (ASan's builds tell). */
	char pair[1300];
	for (size_t len = 1180; len < sizeof pair; len++) {
		memset(pair, 'p', len);
		memcpy(pair, "a=", 2);
		pair[len] = '\0';
		int rc = config_set_pair(&c, pair, true, err, sizeof err);
		CHECK(rc == 0 || (rc == PL_EINVAL && strstr(err, "too long")));
	}
	char big[1100];
	memset(big, 'v', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	CHECK_INT(config_set(&c, "data", big, err, sizeof err), PL_EINVAL);
	CHECK(strstr(err, "too long") != NULL);
}

static void test_files(const char *example)
{
	struct serve_config c;
	char err[512];
	config_init(&c);
	CHECK_INT(config_load_file(&c, "/nonexistent/pledged.conf", err, sizeof err), PL_ENOTFOUND);
	CHECK(strstr(err, "cannot open config file") != NULL);
	/* A directory opens: its read fails, and the message says why. */
	CHECK_INT(config_load_file(&c, "/", err, sizeof err), PL_EIO);
	CHECK_STR(err, "cannot read config file '/': Is a directory");
	strcpy(c.admin_token_file, "/");
	CHECK_INT(config_load_token(&c, err, sizeof err), PL_EINVAL);
	CHECK_STR(err, "cannot read admin_token_file '/': Is a directory");
	config_init(&c);
	CHECK_INT(config_load_file(&c, example, err, sizeof err), 0);
	CHECK_INT(config_validate(&c, err, sizeof err), 0);
	CHECK_STR(c.data, "/var/lib/pledged");
	CHECK_STR(config_kafka_get(&c, "security.protocol"), "SASL_SSL");
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: test_config EXAMPLE.conf\n");
		return 2;
	}
	test_file_cases();
	test_values();
	test_files(argv[1]);
	return check_done();
}
