/*
 * http_owner.c — answering only for the campaigns this instance holds: in a
 * consumer group, the figures of a campaign whose partition another
 * instance holds stopped when it left (ownership.h).
 */
#include <event2/http.h>

#include "http_internal.h"
#include "http_reply.h"

bool http_owns(const struct http_request *r, const char *id, size_t len)
{
	int32_t partition;
	return ownership_of(&r->w->hs->m->owner, id, len, &partition) == OWNERSHIP_OWNED;
}

/*
 * Answers for a campaign of a partition another instance of the group
 * holds (421: its figures here stopped when the partition left), or
 * before any partition is assigned (503). True when it answered.
 */
bool http_reply_if_not_owned(struct http_request *r)
{
	int32_t partition;
	enum ownership_answer a = ownership_of(&r->w->hs->m->owner, r->id, r->id_len, &partition);
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
	if (a == OWNERSHIP_WAITING) {
		evhttp_add_header(h, "Retry-After", "1");
		http_reply_error(r, 503, "no partitions assigned to this instance yet; retry shortly");
	} else if (a == OWNERSHIP_NOT_OWNED) {
		evhttp_add_header(h, "Cache-Control", "no-store");
		http_reply_error(r, 421, "not_owned: this campaign's partition (%d) is held by another "
					 "instance of the consumer group; X-Pledged-Partitions says which "
					 "this one holds",
				 (int)partition);
	}
	return a != OWNERSHIP_OWNED;
}
