/* embedded_broker.c — librdkafka's mock cluster as a local broker; see embedded_broker.h. */
#include "embedded_broker.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "kafka_conf.h"
#include "pl_error.h"
#include "thread_signals.h"

struct embedded_broker {
	rd_kafka_t *rk; /* the mock cluster needs a handle to live in */
	rd_kafka_mock_cluster_t *mcluster;
	char address[128];
	char incarnation[64];
	char path[1100];       /* the address file, once written */
	char topic_path[1100]; /* the topic file, once written */
};

/* Writes line into data_dir/name (its path into path), whole or not at all. */
static int write_file(const char *data_dir, const char *name, const char *line, char *path,
		      size_t path_size, char *err, size_t err_size)
{
	char tmp[1200];
	snprintf(path, path_size, "%s/%s", data_dir, name);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	/* Made anew, not opened through what was there: a link left at tmp
	 * by whoever may write the data dir would have serve, run as root,
	 * write the file it names. */
	unlink(tmp);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (fd >= 0 && !f)
		close(fd);
	bool written = f && fprintf(f, "%s\n", line) >= 0;
	if (f && fclose(f) != 0)
		written = false;
	if (!written) {
		snprintf(err, err_size, "cannot write %s: %s", tmp, strerror(errno));
		path[0] = '\0';
		return PL_EIO;
	}
	/* A rename, so that publish never reads half a line. */
	if (rename(tmp, path) != 0) {
		snprintf(err, err_size, "cannot rename %s: %s", tmp, strerror(errno));
		unlink(tmp);
		path[0] = '\0';
		return PL_EIO;
	}
	return PL_OK;
}

int embedded_broker_start(struct embedded_broker **out, const char *topic, int partitions,
			  const char *data_dir, char *err, size_t err_size)
{
	struct embedded_broker *eb = calloc(1, sizeof *eb);
	if (!eb)
		return PL_ENOMEM;
	int rc = PL_EKAFKA;
	char why[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	/* Its handle never connects anywhere: it only hosts the mock cluster. */
	if (kafka_conf_set(conf, "log_level", "3", err, err_size)) {
		rd_kafka_conf_destroy(conf);
		goto cleanup;
	}
	eb->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
	if (!eb->rk) {
		rd_kafka_conf_destroy(conf);
		snprintf(err, err_size, "cannot create the embedded broker: %s", why);
		goto cleanup;
	}
	/* Its thread inherits this one's mask, as librdkafka's own threads
	 * do not: a SIGTERM handled there broke its poll(), the broker thread
	 * ended, and serve then hung for ever stopping it. */
	sigset_t before;
	thread_signals_block(&before);
	eb->mcluster = rd_kafka_mock_cluster_new(eb->rk, 1);
	pthread_sigmask(SIG_SETMASK, &before, NULL);
	if (!eb->mcluster) {
		snprintf(err, err_size, "cannot start the embedded broker (no free local port?)");
		goto cleanup;
	}
	rd_kafka_resp_err_t kerr = rd_kafka_mock_topic_create(eb->mcluster, topic, partitions, 1);
	if (kerr) {
		snprintf(err, err_size, "embedded broker: cannot create topic %s: %s", topic,
			 rd_kafka_err2str(kerr));
		goto cleanup;
	}
	snprintf(eb->address, sizeof eb->address, "%s",
		 rd_kafka_mock_cluster_bootstraps(eb->mcluster));
	uint64_t r[2];
	if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
		snprintf(err, err_size, "no randomness for the broker incarnation: %s",
			 strerror(errno));
		rc = PL_EKAFKA; /* the broker cannot start; PL_EIO is for the data dir */
		goto cleanup;
	}
	snprintf(eb->incarnation, sizeof eb->incarnation, "embedded-%016" PRIx64 "%016" PRIx64,
		 r[0], r[1]);
	/* The topic first: the address says serve is ready. */
	rc = write_file(data_dir, EMBEDDED_BROKER_TOPIC_FILE, topic, eb->topic_path,
			sizeof eb->topic_path, err, err_size);
	if (rc == 0)
		rc = write_file(data_dir, EMBEDDED_BROKER_ADDRESS_FILE, eb->address, eb->path,
				sizeof eb->path, err, err_size);
	if (rc)
		goto cleanup;
	*out = eb;
	return PL_OK;
cleanup:
	embedded_broker_stop(eb);
	return rc;
}

const char *embedded_broker_address(const struct embedded_broker *eb)
{
	return eb->address;
}

const char *embedded_broker_incarnation(const struct embedded_broker *eb)
{
	return eb->incarnation;
}

void embedded_broker_stop(struct embedded_broker *eb)
{
	if (!eb)
		return;
	if (eb->path[0])
		unlink(eb->path);
	if (eb->topic_path[0])
		unlink(eb->topic_path);
	if (eb->mcluster)
		rd_kafka_mock_cluster_destroy(eb->mcluster);
	if (eb->rk)
		rd_kafka_destroy(eb->rk);
	free(eb);
}

void embedded_broker_forget(const char *data_dir)
{
	static const char *const names[] = {EMBEDDED_BROKER_ADDRESS_FILE, EMBEDDED_BROKER_TOPIC_FILE};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		char path[1200];
		snprintf(path, sizeof path, "%s/%s", data_dir, names[i]);
		unlink(path);
	}
}

/* Reads the first line of data_dir/name into buf: PL_EINVAL when empty or longer than buf. */
static int read_line(const char *data_dir, const char *name, char *buf, size_t size)
{
	char path[1200];
	snprintf(path, sizeof path, "%s/%s", data_dir, name);
	FILE *f = fopen(path, "r");
	if (!f)
		return errno == ENOENT ? PL_ENOTFOUND : PL_EIO;
	int rc = fgets(buf, (int)size, f) ? PL_OK : PL_EINVAL;
	bool whole = rc == 0 && (strchr(buf, '\n') || feof(f));
	fclose(f);
	if (rc == 0) {
		buf[strcspn(buf, "\r\n")] = '\0';
		if (buf[0] == '\0' || !whole)
			rc = PL_EINVAL;
	}
	return rc;
}

int embedded_broker_read_address(const char *data_dir, char *buf, size_t size)
{
	return read_line(data_dir, EMBEDDED_BROKER_ADDRESS_FILE, buf, size);
}

int embedded_broker_read_topic(const char *data_dir, char *buf, size_t size)
{
	return read_line(data_dir, EMBEDDED_BROKER_TOPIC_FILE, buf, size);
}
