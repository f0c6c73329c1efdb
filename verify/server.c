/*
 * server: capmail-verify's requests. See server.h.
 *
 * libmicrohttpd calls verify_handle() once when the headers are in (then
 * *req_cls is NULL), again for each piece of a body, and once more with
 * no data when the body is complete. Everything but a POST to /v/ is
 * answered on the first call; a POST's body goes through MHD's post
 * processor (application/x-www-form-urlencoded), capped at
 * VERIFY_BODY_MAX, and is answered on the last call.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <openssl/rand.h>

#include "buf.h"
#include "errors.h"
#include "formtoken.h"
#include "log.h"
#include "logpath.h"
#include "pages.h"
#include "outbound.h"	/* store_errmsg() */
#include "senders.h"
#include "server.h"

#define CSS_FROM_V "../verify.css"	/* from /v/TOKEN */
#define ADDR_MAX 64
/* raw bytes of the answer field kept: white space may shrink in
 * store_answer_normalize(); beyond this the answer is wrong */
#define ANSWER_FIELD_MAX (4 * STORE_ANSWER_MAX)

struct req {
	char id[9];			/* log id */
	char addr[ADDR_MAX];		/* client address */
	char rate_key[ADDR_MAX];	/* what the per-address limit counts:
					 * the address, an IPv6 one's /64 */
	struct MHD_PostProcessor *pp;
	char form[FORMTOKEN_MAXLEN];	/* the "form" field */
	size_t formlen;
	int form_bad;			/* over long, or given twice */
	char answer[ANSWER_FIELD_MAX];	/* the "answer" field */
	size_t answerlen;
	int answer_bad;			/* over long, twice, or a NUL */
	size_t body;			/* bytes of body seen */
};

static void
client_addr(struct MHD_Connection *c, char out[ADDR_MAX], char key[ADDR_MAX])
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

	ratelimit_addr(ci != NULL ? ci->client_addr : NULL, out, ADDR_MAX, key,
	    ADDR_MAX);
}

/* Queue body (a page) with status and the fixed headers, plus one extra
 * header when name is not NULL; log the request. */
static enum MHD_Result
respond(struct MHD_Connection *c, struct req *r, const char *method,
    const char *url, unsigned status, struct buf *body, const char *ctype,
    const char *name, const char *value)
{
	struct MHD_Response *resp;
	char lp[64], lm[24];
	enum MHD_Result ret;
	size_t len = 0;
	char *data = buf_take(body, &len);

	resp = data == NULL ? NULL : MHD_create_response_from_buffer(len,
	    data, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(data);
		log_error(r->id, "http out of memory");
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	MHD_add_response_header(resp, "Content-Security-Policy", VERIFY_CSP);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
	    "no-store");
	if (name != NULL)
		MHD_add_response_header(resp, name, value);
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	log_info(r->id, "http request method=%s path=%s status=%u address=%s",
	    log_safe(lm, sizeof lm, method, strlen(method)),
	    verify_log_path(lp, sizeof lp, url), status, r->addr);
	return ret;
}

static enum MHD_Result
respond_page(struct MHD_Connection *c, struct req *r, const char *method,
    const char *url, unsigned status, const char *title, const char *text,
    const char *name, const char *value)
{
	struct buf b;

	buf_init(&b, PAGE_MAX);
	if (page_message(&b, CSS_FROM_V, title, text) < 0) {
		buf_free(&b);
		return MHD_NO;
	}
	return respond(c, r, method, url, status, &b,
	    "text/html; charset=utf-8", name, value);
}

#define PAGE_INVALID "This link is not valid", \
	"Check that you copied the whole link from the mail, or open it " \
	"from the mail again."
#define PAGE_EXPIRED "This link has expired", \
	"The mail you sent was held for a limited time only, and that time " \
	"is over. Please send your message again; you will get a new link."
#define PAGE_USED "Already confirmed", \
	"This link was used already: your address is confirmed and the " \
	"held mail was delivered."
#define PAGE_FORM "This confirmation is not valid", \
	"The confirmation did not come from the page of this link, or the " \
	"page was open for too long. Open the link again and confirm there."
#define PAGE_BUSY "Too many requests", \
	"Please wait a minute, then try again."
#define PAGE_BIG "Request too large", \
	"The form sent was too large."
#define PAGE_DOWN "Please try again later", \
	"The service cannot reach its database at the moment; nothing was " \
	"changed. Please try again in a few minutes."

static enum MHD_Result
too_many(struct MHD_Connection *c, struct req *r, const char *method,
    const char *url, unsigned wait)
{
	char s[16];

	snprintf(s, sizeof s, "%u", wait);
	return respond_page(c, r, method, url, 429, PAGE_BUSY,
	    "Retry-After", s);
}

static enum MHD_Result
db_down(struct MHD_Connection *c, struct req *r, const char *method,
    const char *url, int rc, const char *err)
{
	log_warn(r->id, "http store error=%s detail=%s", cm_errname(rc), err);
	return respond_page(c, r, method, url, 503, PAGE_DOWN,
	    "Retry-After", "60");
}

/* GET, HEAD and POST /v/TOKEN after the body (if any) is in. */
static enum MHD_Result
do_token(struct verify_server *vs, struct MHD_Connection *c, struct req *r,
    const char *method, const char *url, int post)
{
	const char *tok = url + 3;
	size_t tlen = strlen(tok);
	unsigned char hash[CAPTOKEN_HASH_LEN];
	struct store_challenge_info info;
	struct store_conn *db;
	char err[256] = "", field[FORMTOKEN_MAXLEN], skey[300];
	time_t exp = 0, now = time(NULL);
	size_t released = 0;
	unsigned wait;
	struct buf b;
	int rc, wrong = 0;

	if ((wait = ratelimit_hit(vs->rl_ip, r->rate_key, now)) != 0)
		return too_many(c, r, method, url, wait);
	if (captoken_check(&vs->key, CAPTOKEN_KIND_VERIFY, tok, tlen, &exp,
	    hash) != 0)
		return respond_page(c, r, method, url, 404, PAGE_INVALID,
		    NULL, NULL);
	if (post && (r->form_bad || formtoken_check(&vs->key, tok, tlen,
	    r->form, r->formlen, now) != 0))
		return respond_page(c, r, method, url, 403, PAGE_FORM, NULL,
		    NULL);
	if (exp <= now)
		return respond_page(c, r, method, url, 410, PAGE_EXPIRED, NULL,
		    NULL);

	if ((db = store_conn_take(vs->db)) == NULL)
		return db_down(c, r, method, url, CM_ENOMEM, "out of memory");
	rc = store_challenge_info(db, hash, &info);
	if (rc == 0) {
		snprintf(skey, sizeof skey, "s:%s", info.sender);
		if ((wait = ratelimit_hit(vs->rl_sender, skey, now)) != 0)
			rc = 1;		/* answered below, after put */
		else if (post && !info.used && !info.expired &&
		    info.question != NULL) {
			/* a wrong guess changes nothing; the two limits above
			 * bound the guessing */
			rc = store_challenge_answer_check(db, hash,
			    r->answer_bad ? NULL : r->answer);
			if (rc == 0)
				wrong = 1;
			else if (rc == 1)
				rc = store_challenge_confirm(db, hash,
				    &released);
		} else if (post && !info.used && !info.expired)
			rc = store_challenge_confirm(db, hash, &released);
	}
	if (rc < 0)
		snprintf(err, sizeof err, "%s", store_errmsg(db));
	store_conn_give(vs->db, db);

	if (rc == 1) {
		store_challenge_info_clear(&info);
		return too_many(c, r, method, url, wait);
	}
	if (rc == CM_ENOTFOUND)
		return respond_page(c, r, method, url, 404, PAGE_INVALID,
		    NULL, NULL);
	if (rc == CM_EEXIST)		/* used between info and confirm */
		info.used = 1;
	else if (rc == CM_EPERM)
		info.expired = 1;
	else if (rc < 0) {
		if (rc != CM_EDBDOWN && rc != CM_EDB)
			log_error(r->id, "http store error=%s",
			    cm_errname(rc));
		store_challenge_info_clear(&info);
		return db_down(c, r, method, url, rc, err);
	}
	if (info.used) {
		store_challenge_info_clear(&info);
		return respond_page(c, r, method, url, post ? 410 : 200,
		    PAGE_USED, NULL, NULL);
	}
	if (info.expired) {
		store_challenge_info_clear(&info);
		return respond_page(c, r, method, url, 410, PAGE_EXPIRED, NULL,
		    NULL);
	}

	buf_init(&b, PAGE_MAX);
	if (wrong) {
		log_info(r->id, "verify wrong answer sender=%s recipient=%s",
		    info.sender, info.recipient);
		rc = formtoken_make(&vs->key, tok, tlen, now, field);
		if (rc == 0)
			rc = page_confirm(&b, CSS_FROM_V, info.sender,
			    info.recipient, info.held, field, info.question, 1);
	} else if (post) {
		log_info(r->id, "verify confirmed sender=%s recipient=%s "
		    "released=%zu", info.sender, info.recipient, released);
		rc = page_done(&b, CSS_FROM_V, info.sender, info.recipient,
		    released);
	} else {
		rc = formtoken_make(&vs->key, tok, tlen, now, field);
		if (rc == 0)
			rc = page_confirm(&b, CSS_FROM_V, info.sender,
			    info.recipient, info.held, field, info.question, 0);
	}
	store_challenge_info_clear(&info);
	if (rc < 0) {
		buf_free(&b);
		log_error(r->id, "http page error=%s", cm_errname(rc));
		return MHD_NO;
	}
	return respond(c, r, method, url, wrong ? 403 : 200, &b,
	    "text/html; charset=utf-8", NULL, NULL);
}

static enum MHD_Result
post_field(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *filename, const char *ctype, const char *enc,
    const char *data, uint64_t off, size_t size)
{
	struct req *r = cls;

	(void)kind, (void)filename, (void)ctype, (void)enc;
	if (strcmp(key, "answer") == 0) {
		if (off == 0 && r->answerlen > 0)
			r->answer_bad = 1;	/* given twice */
		if (off != r->answerlen ||
		    size > sizeof r->answer - 1 - r->answerlen ||
		    (size > 0 && memchr(data, '\0', size) != NULL)) {
			r->answer_bad = 1;
			return MHD_YES;
		}
		memcpy(r->answer + r->answerlen, data, size);
		r->answerlen += size;
		r->answer[r->answerlen] = '\0';
		return MHD_YES;
	}
	if (strcmp(key, "form") != 0)
		return MHD_YES;		/* other fields are ignored */
	if (off == 0 && r->formlen > 0)
		r->form_bad = 1;	/* given twice */
	if (off != r->formlen || size > sizeof r->form - 1 - r->formlen) {
		r->form_bad = 1;
		return MHD_YES;
	}
	memcpy(r->form + r->formlen, data, size);
	r->formlen += size;
	r->form[r->formlen] = '\0';
	return MHD_YES;
}

static struct req *
req_new(struct MHD_Connection *c)
{
	struct req *r = calloc(1, sizeof *r);
	unsigned char rnd[4];

	if (r == NULL)
		return NULL;
	if (RAND_bytes(rnd, sizeof rnd) != 1)
		memset(rnd, 0, sizeof rnd);
	for (size_t i = 0; i < sizeof rnd; i++)
		snprintf(r->id + 2 * i, 3, "%02x", rnd[i]);
	client_addr(c, r->addr, r->rate_key);
	return r;
}

enum MHD_Result
verify_handle(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_size, void **req_cls)
{
	struct verify_server *vs = cls;
	struct req *r = *req_cls;
	int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	int post = strcmp(method, "POST") == 0;
	int token = strncmp(url, "/v/", 3) == 0;

	(void)version;
	if (r == NULL) {
		if ((r = req_new(c)) == NULL)
			return MHD_NO;
		*req_cls = r;
		if (token && post) {
			const char *cl = MHD_lookup_connection_value(c,
			    MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);

			/* answered now, before the body: libmicrohttpd
			 * takes a response only before or after it */
			if (cl != NULL && (strlen(cl) > 9 ||
			    strtoul(cl, NULL, 10) > VERIFY_BODY_MAX))
				return respond_page(c, r, method, url, 413,
				    PAGE_BIG, NULL, NULL);
			/* NULL for another Content-Type: then no field */
			r->pp = MHD_create_post_processor(c, 1024, post_field,
			    r);
			return MHD_YES;
		}
		if (token && get)
			return do_token(vs, c, r, method, url, 0);
		if (token)
			return respond_page(c, r, method, url, 405,
			    "Method not allowed", "This link is opened with "
			    "GET and confirmed with POST.", "Allow",
			    "GET, HEAD, POST");
		if (strcmp(url, VERIFY_CSS_PATH) == 0 && get) {
			struct buf b;

			buf_init(&b, PAGE_MAX);
			if (buf_addstr(&b, page_css) < 0) {
				buf_free(&b);
				return MHD_NO;
			}
			return respond(c, r, method, url, 200, &b,
			    "text/css; charset=utf-8", NULL, NULL);
		}
		if (strcmp(url, VERIFY_CSS_PATH) == 0)
			return respond_page(c, r, method, url, 405,
			    "Method not allowed", "This is a stylesheet.",
			    "Allow", "GET, HEAD");
		return respond_page(c, r, method, url, 404, "Not found",
		    "There is nothing at this address.", NULL, NULL);
	}
	/* a POST to /v/: its body */
	if (*upload_size > 0) {
		if (*upload_size > VERIFY_BODY_MAX - r->body) {
			/* chunked, so not refused above: no response can be
			 * queued in the middle of a body, so close */
			char lp[VERIFY_LOG_PATH_MAX];

			log_info(r->id, "http request method=POST path=%s "
			    "status=closed address=%s reason=body-too-large",
			    verify_log_path(lp, sizeof lp, url), r->addr);
			return MHD_NO;
		}
		r->body += *upload_size;
		if (r->pp != NULL &&
		    MHD_post_process(r->pp, upload, *upload_size) != MHD_YES)
			r->form_bad = 1;
		*upload_size = 0;
		return MHD_YES;
	}
	return do_token(vs, c, r, method, url, 1);
}

void
verify_completed(void *cls, struct MHD_Connection *c, void **req_cls,
    enum MHD_RequestTerminationCode why)
{
	struct req *r = *req_cls;

	(void)cls, (void)c, (void)why;
	if (r == NULL)
		return;
	if (r->pp != NULL)
		MHD_destroy_post_processor(r->pp);
	free(r);
	*req_cls = NULL;
}
