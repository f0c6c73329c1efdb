/*
 * server: capmail-verify's HTTP handling on libmicrohttpd (verify/
 * server.c). Routes:
 *
 *   GET|HEAD /v/TOKEN   the confirm page (never changes anything)
 *   POST /v/TOKEN       confirm (form field "form", formtoken.h; "answer"
 *                       when the recipient set a question)
 *   GET|HEAD /verify.css  the one stylesheet
 *   anything else       404; other methods on these paths 405 with Allow
 *
 * Outcomes of /v/TOKEN, in the order they are checked:
 *
 *   429  the client address (then, once known, the sender address) went
 *        over its requests a minute (Retry-After: seconds)
 *   404  "This link is not valid": not a token or a wrong check (forged,
 *        altered, cut): no database lookup; or no such challenge
 *   403  POST without a valid, recent form field for this link: nothing
 *        changes (checked before the database too)
 *   410  the link has expired (its own expiry, or the database's)
 *   403  POST, and the recipient has a question (store_challenge_info's
 *        question): no answer, or not an accepted one
 *        (store_challenge_answer_check): the form again with
 *        PAGE_WRONG_ANSWER, nothing changes; counted by both limits
 *   200 (GET) / 410 (POST)  already confirmed: GET shows the state of the
 *        resource, which is still there and confirmed, so 200; a POST asks
 *        for a one-time action that is gone for good, so 410 Gone
 *   200  GET: the page; POST: confirmed, held grants released into INBOX
 *   503  the database is unreachable (Retry-After)
 *
 * Every response: Content-Type with charset, the strict CSP
 * (VERIFY_CSP), X-Content-Type-Options: nosniff, Referrer-Policy:
 * no-referrer, Cache-Control: no-store. Each request is logged once:
 * method, path with the token cut to VERIFY_LOG_TOKEN characters, status,
 * client address. A whole token is never logged.
 */
#ifndef CAPMAIL_VERIFY_SERVER_H
#define CAPMAIL_VERIFY_SERVER_H

#include <stddef.h>
#include <microhttpd.h>

#include "captoken.h"
#include "logpath.h"
#include "ratelimit.h"
#include "store.h"

#define VERIFY_CSP "default-src 'none'; style-src 'self'; " \
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

#define VERIFY_BODY_MAX 4096	/* POST body bytes */

struct verify_server {
	struct captoken_key key;
	struct store *db;		/* store_conn_take() per request */
	struct ratelimit *rl_ip;	/* per client address */
	struct ratelimit *rl_sender;	/* per sender address */
};

/* libmicrohttpd callbacks; cls is the struct verify_server. */
enum MHD_Result verify_handle(void *cls, struct MHD_Connection *c,
    const char *url, const char *method, const char *version,
    const char *upload, size_t *upload_size, void **req_cls);
void verify_completed(void *cls, struct MHD_Connection *c,
    void **req_cls, enum MHD_RequestTerminationCode why);

#endif
