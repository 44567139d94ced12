/*
 * http_router.c — from method and path to a handler. The path is matched by
 * http_route.c; an id longer than any campaign id can be is answered 404
 * here: it cannot exist. Unknown paths, and routes of the other listener,
 * are 404 whatever the method; known paths with a method other than GET or
 * HEAD are 405. On a listener with a token, a request without it is 401
 * before anything else. While more than max_output_bytes of replies wait
 * for slow clients, the clients that have left a reply unread for a second
 * are let go first; if that is not room enough, requests are 503 at once
 * (health and readiness still answered: their answers are small). In a consumer group, a campaign of a
 * partition this instance does not hold is 421 (ownership.h). A CONNECT
 * is 405 before any path: its target is a host. A request whose end a
 * proxy could place elsewhere than evhttp did (its body's length given
 * twice, or not plainly) is 400 and ends its connection: where the next
 * request starts is not known. A request whose Host is missing (HTTP/1.1),
 * repeated or names no host is 400 too, its connection kept (RFC 9112 3.2).
 * Once the data dir is found damaged, what would read it is 503.
 */
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <event2/http.h>
#include <event2/http_struct.h>
#include <event2/keyvalq_struct.h>

#include "http_internal.h"
#include "http_reply.h"
#include "pl_error.h"

static void (*const handlers[HTTP_ROUTE_COUNT])(struct http_request *) = {
	[HTTP_ROUTE_CAMPAIGNS] = http_api_campaigns,
	[HTTP_ROUTE_CAMPAIGN] = http_api_campaign,
	[HTTP_ROUTE_COMMENTS] = http_api_comments,
	[HTTP_ROUTE_STREAM] = http_stream_open,
	[HTTP_ROUTE_HISTORY] = http_api_history,
	[HTTP_ROUTE_TOTALS] = http_api_totals,
	[HTTP_ROUTE_REJECTIONS] = http_api_rejections,
	[HTTP_ROUTE_HEALTHZ] = http_ops_healthz,
	[HTTP_ROUTE_READYZ] = http_ops_readyz,
	[HTTP_ROUTE_METRICS] = http_ops_metrics,
	[HTTP_ROUTE_PAGE] = http_page_campaign,
	[HTTP_ROUTE_ASSET] = http_asset_serve,
	[HTTP_ROUTE_CLUSTER] = http_cluster,
};

/*
 * Why a proxy in front could read the request's end elsewhere than evhttp
 * did, or NULL: a header name with white space before its colon (RFC 9112
 * 5.1), Content-Length not plain digits, given twice, or beside
 * Transfer-Encoding (6.1, 6.3), or Transfer-Encoding in HTTP/1.0 (6.1);
 * or a Transfer-Encoding other than one
 * "chunked", which evhttp takes for a request without a body while a proxy
 * may read one (then *status is 501, as 6.1 asks for a coding not known).
 */
static const char *framing_unclear(struct evhttp_request *req, int *status)
{
	int lengths = 0, encodings = 0;
	struct evkeyval *h;
	*status = 400;
	TAILQ_FOREACH(h, evhttp_request_get_input_headers(req), next) {
		if (strpbrk(h->key, " \t"))
			return "white space in a header name";
		bool length = strcasecmp(h->key, "Content-Length") == 0;
		if (length && (!*h->value || h->value[strspn(h->value, "0123456789")]))
			return "Content-Length is not a number";
		lengths += length;
		bool encoding = strcasecmp(h->key, "Transfer-Encoding") == 0;
		if (encoding && strcasecmp(h->value, "chunked") != 0) {
			*status = 501;
			return "Transfer-Encoding other than chunked";
		}
		encodings += encoding;
	}
	if (lengths + encodings > 1)
		return "the body's length is given twice (Content-Length or Transfer-Encoding "
		       "repeated, or both)";
	/* An HTTP/1.0 hop in front knows no chunks (RFC 9112 6.1: faulty framing). */
	if (encodings && (req->major == 0 || (req->major == 1 && req->minor == 0)))
		return "Transfer-Encoding in an HTTP/1.0 request";
	return NULL;
}

/*
 * Why req's Host is refused, or NULL: RFC 9112 3.2 has a server answer 400
 * to an HTTP/1.1 request without one, and to any with two or with a value
 * that is not uri-host [":" port] (checked by its characters: white space,
 * '@', '/' and controls are never part of one). evhttp checks none of it.
 */
static const char *host_unclear(struct evhttp_request *req)
{
	int hosts = 0;
	struct evkeyval *h;
	TAILQ_FOREACH(h, evhttp_request_get_input_headers(req), next) {
		if (strcasecmp(h->key, "Host") != 0)
			continue;
		if (h->value[strspn(h->value, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					      "0123456789-._~!$&'()*+,;=%:[]")])
			return "Host is not a host name";
		hosts++;
	}
	if (hosts > 1)
		return "Host given twice";
	if (!hosts && req->major == 1 && req->minor >= 1)
		return "an HTTP/1.1 request needs a Host header";
	return NULL;
}

void http_router_dispatch(struct evhttp_request *req, void *worker)
{
	struct http_request r = {.req = req, .w = worker, .route = HTTP_ROUTE_UNKNOWN};
	const struct http_server *hs = r.w->hs;
	ownership_view(&hs->m->owner, &r.owner);
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	/* First: every answer to a HEAD, errors too, goes without its body. */
	r.head = cmd == EVHTTP_REQ_HEAD;
	/* Matched first, so that every answer, a refusal too, is counted under
	 * the route the path names (a CONNECT's target is a host: no route). */
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	struct http_target t;
	r.query = uri ? evhttp_uri_get_query(uri) : NULL;
	http_route_match(cmd == EVHTTP_REQ_CONNECT || !uri ? NULL : evhttp_uri_get_path(uri),
			 r.query, &t);
	r.route = (http_route_listeners[t.route] & (int)hs->opt.listener) ? t.route
									     : HTTP_ROUTE_UNKNOWN;
	int unclear_status;
	const char *unclear = framing_unclear(req, &unclear_status);
	if (unclear) {
		http_conn_close_after(req);
		http_reply_error(&r, unclear_status, "%s", unclear);
		return;
	}
	/* No route takes a body, and evhttp reads a chunk's size loosely
	 * (strtoll: "0x5", "+5"): after a chunked one the connection ends, so
	 * that a hop in front that reads the sizes otherwise cannot make what
	 * follows a request of its own. */
	if (evhttp_find_header(evhttp_request_get_input_headers(req), "Transfer-Encoding"))
		http_conn_close_after(req);
	if ((unclear = host_unclear(req))) {
		http_reply_error(&r, 400, "%s", unclear);
		return;
	}
	if (!http_auth_allows(hs, req)) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
				  "Bearer realm=\"pledged admin\"");
		http_reply_error(&r, 401, "this listener needs the operators' token: "
					  "Authorization: Bearer TOKEN");
		return;
	}
	if (cmd == EVHTTP_REQ_CONNECT) {
		http_reply_method(&r);
		return;
	}
	if (r.route == HTTP_ROUTE_UNKNOWN) {
		http_reply_error(&r, 404, "no such path");
		return;
	}
	if (r.route != HTTP_ROUTE_HEALTHZ && r.route != HTTP_ROUTE_READYZ &&
	    (size_t)atomic_load(&r.w->hs->output_queued) > hs->opt.max_output_bytes) {
		http_conn_shed_slow(r.w);
		if ((size_t)atomic_load(&r.w->hs->output_queued) > hs->opt.max_output_bytes) {
			evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "1");
			http_reply_error(&r, 503,
					 "too many answers waiting for slow clients; retry shortly");
			return;
		}
	}

	if (cmd == EVHTTP_REQ_OPTIONS && hs->opt.listener == HTTP_PUBLIC) {
		http_reply_preflight(&r);
		return;
	}
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		http_reply_method(&r);
		return;
	}

	if (t.id_rc == PL_EINVAL) {
		http_reply_error(&r, 400, t.id_in_query ? "bad percent-encoding in the id parameter"
							: "bad percent-encoding in path");
		return;
	}
	if (t.id_rc) {
		http_reply_error(&r, 404, r.route == HTTP_ROUTE_ASSET ? "no such asset"
								  : "no such campaign");
		return;
	}
	bool reads_store = r.route != HTTP_ROUTE_ASSET && r.route != HTTP_ROUTE_CLUSTER &&
			   r.route != HTTP_ROUTE_HEALTHZ && r.route != HTTP_ROUTE_READYZ &&
			   r.route != HTTP_ROUTE_METRICS;
	if (reads_store && http_store_damaged(hs)) {
		http_reply_error(&r, 503, "%s", HTTP_DAMAGED_DETAIL);
		return;
	}
	memcpy(r.id, t.id, t.id_len + 1);
	r.id_len = t.id_len;
	r.id_in_query = t.id_in_query;
	bool campaign = r.route == HTTP_ROUTE_CAMPAIGN || r.route == HTTP_ROUTE_COMMENTS ||
			r.route == HTTP_ROUTE_STREAM || r.route == HTTP_ROUTE_HISTORY ||
			(r.route == HTTP_ROUTE_PAGE && r.id_len);
	if (campaign && http_reply_if_not_owned(&r))
		return;
	bool listing = r.route == HTTP_ROUTE_CAMPAIGNS || r.route == HTTP_ROUTE_TOTALS ||
		       (r.route == HTTP_ROUTE_PAGE && !r.id_len);
	if (listing && http_reply_if_waiting(&r))
		return;
	handlers[r.route](&r);
}
