/* log_decoder.c — decoding the log on a second thread; see log_decoder.h. */
#include "log_decoder.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "pl_error.h"
#include "thread_signals.h"

/* Blocks in the ring, and entries and bytes in a block: about 1,000 entries
 * decoded ahead at most, a few MB. */
enum { BLOCKS = 8, BLOCK_ENTRIES = 128, BLOCK_BYTES = 64 * 1024 };

struct block {
	size_t n;
	struct evlog_entry e[BLOCK_ENTRIES];
	struct decoded d[BLOCK_ENTRIES];
	uint8_t *bytes; /* the entries' topics and payloads, copied */
	size_t used, cap;
};

struct log_decoder {
	struct store_txn *caller_t; /* what the thread's own transaction must see */
	struct store_txn t;         /* the thread's own */
	uint64_t from_seq;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t changed; /* any change of the fields below, both ways */
	/* The ring, in order from `taken`: the block the caller holds (when
	 * held), the blocks decoded and not yet taken, the one being filled. */
	struct block blocks[BLOCKS];
	size_t taken; /* the caller's block, or the next it will take */
	bool held;
	size_t ready;
	bool started; /* the thread has its transaction, or start_rc says why not */
	int start_rc;
	bool done; /* the walk ended: walk_rc, bad_seq */
	bool stop; /* the caller wants no more */
	int walk_rc;
	uint64_t bad_seq;
	size_t fill; /* the thread's block */
};

/* Hands the filled block over and waits for a free one: false when stopped. */
static bool publish(struct log_decoder *dec)
{
	pthread_mutex_lock(&dec->lock);
	dec->ready++;
	pthread_cond_broadcast(&dec->changed);
	while (!dec->stop && dec->ready + dec->held + 1 > BLOCKS)
		pthread_cond_wait(&dec->changed, &dec->lock);
	bool go_on = !dec->stop;
	pthread_mutex_unlock(&dec->lock);
	dec->fill = (dec->fill + 1) % BLOCKS;
	struct block *b = &dec->blocks[dec->fill];
	b->n = 0;
	b->used = 0;
	return go_on;
}

static int add_entry(const struct evlog_entry *e, void *arg)
{
	struct log_decoder *dec = arg;
	struct block *b = &dec->blocks[dec->fill];
	size_t len = e->src.topic_len + e->raw_len;
	if (b->n == BLOCK_ENTRIES || (b->n && b->used + len > b->cap))
		if (!publish(dec))
			return 1;
	b = &dec->blocks[dec->fill];
	if (len > b->cap) { /* an empty block: nothing points into its bytes yet */
		uint8_t *bigger = realloc(b->bytes, len);
		if (!bigger)
			return PL_ENOMEM;
		b->bytes = bigger;
		b->cap = len;
	}
	uint8_t *copy = b->bytes + b->used;
	memcpy(copy, e->src.topic, e->src.topic_len);
	memcpy(copy + e->src.topic_len, e->raw, e->raw_len);
	b->used += len;
	struct evlog_entry *out = &b->e[b->n];
	*out = *e;
	out->src.topic = (const char *)copy;
	out->raw = copy + e->src.topic_len;
	decode_event(&b->d[b->n], out->raw, out->raw_len, NULL, 0);
	b->n++;
	return 0;
}

/* Begins the thread's transaction, on the thread that will end it; the
 * caller, holding its own, waits for this, so it must not wait itself. */
static int begin(struct log_decoder *dec)
{
	int rc = store_read_begin_now(dec->caller_t->st, &dec->t);
	if (rc == 0 && !store_same_snapshot(&dec->t, dec->caller_t)) {
		store_abort(&dec->t);
		rc = PL_EBUSY;
	}
	pthread_mutex_lock(&dec->lock);
	dec->started = true;
	dec->start_rc = rc;
	pthread_cond_broadcast(&dec->changed);
	pthread_mutex_unlock(&dec->lock);
	return rc;
}

static void *decode_log(void *arg)
{
	struct log_decoder *dec = arg;
	pthread_setname_np(pthread_self(), "pl-log-decode");
	if (begin(dec))
		return NULL;
	uint64_t bad_seq = 0;
	int rc = evlog_each(&dec->t, dec->from_seq, add_entry, dec, &bad_seq);
	store_abort(&dec->t);
	pthread_mutex_lock(&dec->lock);
	if (dec->blocks[dec->fill].n)
		dec->ready++;
	dec->done = true;
	dec->walk_rc = rc < 0 ? rc : 0;
	dec->bad_seq = bad_seq;
	pthread_cond_broadcast(&dec->changed);
	pthread_mutex_unlock(&dec->lock);
	return NULL;
}

static void free_decoder(struct log_decoder *dec)
{
	for (int i = 0; i < BLOCKS; i++)
		free(dec->blocks[i].bytes);
	pthread_cond_destroy(&dec->changed);
	pthread_mutex_destroy(&dec->lock);
	free(dec);
}

int log_decoder_start(struct log_decoder **out, struct store_txn *t, uint64_t from_seq)
{
	struct log_decoder *dec = calloc(1, sizeof *dec);
	if (!dec)
		return PL_ENOMEM;
	pthread_mutex_init(&dec->lock, NULL);
	pthread_cond_init(&dec->changed, NULL);
	dec->caller_t = t;
	dec->from_seq = from_seq;
	int rc = PL_OK;
	for (int i = 0; i < BLOCKS && rc == 0; i++) {
		dec->blocks[i].bytes = malloc(BLOCK_BYTES);
		dec->blocks[i].cap = BLOCK_BYTES;
		if (!dec->blocks[i].bytes)
			rc = PL_ENOMEM;
	}
	/* SIGINT's and SIGTERM's handlers run on the caller's thread, one at a
	 * time, not here while the caller goes on. */
	sigset_t before;
	thread_signals_block(&before);
	if (rc == 0 && pthread_create(&dec->thread, NULL, decode_log, dec))
		rc = PL_ENOMEM;
	pthread_sigmask(SIG_SETMASK, &before, NULL);
	if (rc == 0) {
		pthread_mutex_lock(&dec->lock);
		while (!dec->started)
			pthread_cond_wait(&dec->changed, &dec->lock);
		rc = dec->start_rc;
		pthread_mutex_unlock(&dec->lock);
		if (rc)
			pthread_join(dec->thread, NULL);
	}
	if (rc) {
		free_decoder(dec);
		return rc;
	}
	*out = dec;
	return PL_OK;
}

bool log_decoder_next(struct log_decoder *dec, struct log_block *out)
{
	pthread_mutex_lock(&dec->lock);
	if (dec->held) {
		dec->held = false;
		dec->taken = (dec->taken + 1) % BLOCKS;
		pthread_cond_broadcast(&dec->changed);
	}
	while (!dec->ready && !dec->done)
		pthread_cond_wait(&dec->changed, &dec->lock);
	bool got = dec->ready > 0;
	if (got) {
		dec->ready--;
		dec->held = true;
	}
	pthread_mutex_unlock(&dec->lock);
	if (got) {
		const struct block *b = &dec->blocks[dec->taken];
		*out = (struct log_block){b->n, b->e, b->d};
	}
	return got;
}

int log_decoder_finish(struct log_decoder *dec, uint64_t *bad_seq)
{
	pthread_mutex_lock(&dec->lock);
	dec->stop = true;
	pthread_cond_broadcast(&dec->changed);
	pthread_mutex_unlock(&dec->lock);
	pthread_join(dec->thread, NULL);
	int rc = dec->walk_rc;
	if (rc && bad_seq)
		*bad_seq = dec->bad_seq;
	free_decoder(dec);
	return rc;
}
