/*
 * smtp-session: see smtp-session.h.
 *
 * Events: conn calls smtp_accepted() (greeting), smtp_input() whenever
 * bytes are buffered and the session is not paused, smtp_timeout() and
 * smtp_closed(); the store calls rcpt_done() and deliver_done() on the
 * loop thread. smtp_input() consumes commands one line at a time, or body
 * bytes through the DATA decoder (smtp-data.c) in state BODY.
 *
 * Replies carry an enhanced status code (RFC 2034/3463), except the
 * greeting, the HELO/EHLO answers (RFC 2034 section 4: clients parse
 * EHLO keywords there) and 354 (class 3 has no enhanced code).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/rand.h>

#include "errors.h"
#include "log.h"
#include "smtp-data.h"
#include "smtp-parse.h"
#include "smtp-received.h"
#include "smtp-session.h"
#include "smtp-session-int.h"
#include "outbound.h"

static const char *const state_names[SMTP_NSTATES] = {
	"connected", "helo", "mail", "rcpt", "rcpt-lookup", "body",
	"bdat", "deliver", "auth", "auth-check", "quit"
};

/* ---- state, replies, transaction ---- */

void
smtp_set_state(struct smtp_session *s, enum smtp_state st)
{
	if (s->state == st)
		return;
	log_debug(s->c->id, "smtp state %s -> %s", state_names[s->state],
	    state_names[st]);
	s->state = st;
}

/* The state with no transaction: HELO once greeted, else CONNECTED. */
enum smtp_state
smtp_idle_state(const struct smtp_session *s)
{
	return (s->facts & SF_HELO) ? SMTP_HELO : SMTP_CONNECTED;
}

static void
smtp_close(struct smtp_session *s, const char *reason)
{
	smtp_set_state(s, SMTP_QUIT);
	conn_close(s->c, reason);
}

/* Send one reply line. Replies of class 4 and 5 count as errors; at
 * smtp_max_errors the session says 421 and closes. */
void
smtp_reply(struct smtp_session *s, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	if (conn_closing(s->c))
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof line - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		log_panic("smtp_reply: bad format");
	if ((size_t)n >= sizeof line - 2)
		n = (int)sizeof line - 3;	/* cut: still one line */
	line[n] = '\r';
	line[n + 1] = '\n';
	conn_write(s->c, line, (size_t)n + 2);
	if (line[0] == '4' || line[0] == '5') {
		if (++s->errors >= s->gw->max_errors) {
			conn_printf(s->c, "421 4.7.0 %s Error: too many "
			    "errors\r\n", s->gw->hostname);
			smtp_close(s, "too many errors");
		}
	}
}

void
smtp_tx_reset(struct smtp_session *s)
{
	struct smtp_tx *tx = &s->tx;

	free(tx->rcpts);
	free(tx->held);
	free(tx->ext);
	free(tx->extp);
	buf_free(&tx->msg);
	memset(tx, 0, sizeof *tx);
}

static int
tx_begin(struct smtp_session *s)
{
	unsigned char rnd[8];
	struct smtp_tx *tx = &s->tx;

	smtp_tx_reset(s);
	tx->rcpts = calloc(s->gw->max_recipients, sizeof *tx->rcpts);
	tx->held = calloc(s->gw->max_recipients, sizeof *tx->held);
	if (tx->rcpts == NULL || tx->held == NULL)
		return CM_ENOMEM;
	if (RAND_bytes(rnd, sizeof rnd) != 1)
		return CM_EIO;
	for (size_t i = 0; i < sizeof rnd; i++)
		snprintf(tx->id + 2 * i, 3, "%02X", rnd[i]);
	return 0;
}

static const char *
safe(char *out, size_t outsz, const char *s, size_t len)
{
	return log_safe(out, outsz, s, len);
}

/* ---- HELO / EHLO ---- */

static int
check_helo(struct smtp_session *s, const struct smtp_line *l)
{
	const char *why;

	if (smtp_check_helo(l->arg, l->arg_len, &why) < 0) {
		smtp_reply(s, "501 5.5.4 %s", why);
		return -1;
	}
	return 0;
}

static void
greet(struct smtp_session *s, const struct smtp_line *l, int ehlo)
{
	char tmp[300];

	/* RFC 5321 4.1.4: HELO/EHLO also ends any transaction */
	smtp_tx_reset(s);
	memcpy(s->helo, l->arg, l->arg_len);
	s->helo[l->arg_len] = '\0';
	s->facts |= SF_HELO;
	if (ehlo)
		s->facts |= SF_EHLO;
	else
		s->facts &= ~(unsigned)SF_EHLO;
	smtp_set_state(s, SMTP_HELO);
	log_info(s->c->id, "smtp helo name=%s ehlo=%d",
	    safe(tmp, sizeof tmp, l->arg, l->arg_len), ehlo);
}

static void
proceed_helo(struct smtp_session *s, const struct smtp_line *l)
{
	greet(s, l, 0);
	smtp_reply(s, "250 %s", s->gw->hostname);
}

static void
proceed_ehlo(struct smtp_session *s, const struct smtp_line *l)
{
	greet(s, l, 1);
	conn_printf(s->c, "250-%s\r\n"
	    "%s"
	    "250-PIPELINING\r\n"
	    "250-SIZE %zu\r\n"
	    "250-8BITMIME\r\n"
	    "250-ENHANCEDSTATUSCODES\r\n"
	    "250-CHUNKING\r\n"
	    "%s"
	    "250 SMTPUTF8\r\n", s->gw->hostname,
	    s->gw->tls && !(s->facts & SF_TLS) ? "250-STARTTLS\r\n" : "",
	    s->gw->max_message_size,
	    smtp_auth_allowed(s) ? "250-AUTH PLAIN LOGIN\r\n" : "");
}

/* ---- STARTTLS (RFC 3207) ---- */

static int
check_starttls(struct smtp_session *s, const struct smtp_line *l)
{
	if (l->arg_len > 0) {
		smtp_reply(s, "501 5.5.4 Syntax: STARTTLS");
		return -1;
	}
	if (s->facts & SF_TLS) {
		smtp_reply(s, "503 5.5.1 Error: TLS already active");
		return -1;
	}
	if (!s->gw->tls) {
		smtp_reply(s, "503 5.5.1 Error: TLS not available");
		return -1;
	}
	return 0;
}

/* The reply goes out in plaintext; then the handshake. Anything the
 * client sent behind STARTTLS is thrown away (conn_starttls), and the
 * session forgets what it knew, back to before EHLO (RFC 3207 4.2). */
static void
proceed_starttls(struct smtp_session *s, const struct smtp_line *l)
{
	int rc;

	smtp_reply(s, "220 2.0.0 Ready to start TLS");
	if ((rc = conn_starttls(s->c)) < 0) {
		log_error(s->c->id, "smtp starttls error=%s", cm_errname(rc));
		smtp_close(s, "tls error");
		return;
	}
	smtp_tx_reset(s);
	s->helo[0] = '\0';
	s->facts &= ~(unsigned)(SF_HELO | SF_EHLO | SF_SKIPLINE | SF_AUTH);
	s->auth_user[0] = '\0';
	s->facts |= SF_TLS | SF_TLSSTART;
	smtp_set_state(s, SMTP_CONNECTED);
}

/* ---- MAIL ---- */

static int
check_mail(struct smtp_session *s, const struct smtp_line *l)
{
	struct smtp_path *p = &s->path;
	const char *why;
	int rc, seen_size = 0, seen_body = 0, seen_utf8 = 0;

	if (s->submission && !(s->facts & SF_AUTH)) {
		smtp_reply(s, "530 5.7.0 Authentication required");
		return -1;
	}

	if ((rc = smtp_parse_path(l->arg, l->arg_len, SMTP_PATH_MAIL, p,
	    &why)) < 0) {
		if (strncmp(why, "Syntax", 6) == 0)
			smtp_reply(s, "501 5.5.4 %s", why);
		else
			smtp_reply(s, "501 5.1.7 Bad sender address: %s", why);
		return -1;
	}
	for (size_t i = 0; i < p->nparams; i++) {
		const struct smtp_param *pm = &p->params[i];
		unsigned long long size;
		if (smtp_param_is(pm, "SIZE") && !seen_size++) {
			if (smtp_parse_size(pm->val, pm->val_len, &size) ==
			    CM_EPARSE) {
				smtp_reply(s, "501 5.5.4 Bad SIZE= parameter");
				return -1;
			}
			/* too many digits to fit is too big as well */
			if (smtp_parse_size(pm->val, pm->val_len, &size) < 0 ||
			    size > s->gw->max_message_size) {
				smtp_reply(s, "552 5.3.4 Message size exceeds "
				    "fixed limit");
				return -1;
			}
		} else if (smtp_param_is(pm, "BODY") && !seen_body++) {
			struct smtp_line v = { pm->val, pm->val_len, NULL, 0 };
			if (pm->val == NULL || (!smtp_verb_is(&v, "7BIT") &&
			    !smtp_verb_is(&v, "8BITMIME"))) {
				smtp_reply(s, "501 5.5.4 Unsupported BODY= "
				    "value");
				return -1;
			}
		} else if (smtp_param_is(pm, "SMTPUTF8") && !seen_utf8++) {
			if (pm->val != NULL) {
				smtp_reply(s, "501 5.5.4 SMTPUTF8 takes no "
				    "value");
				return -1;
			}
		} else {
			char tmp[80];
			smtp_reply(s, "555 5.5.4 Unsupported or repeated "
			    "parameter %s", safe(tmp, sizeof tmp, pm->key,
			    pm->key_len));
			return -1;
		}
	}
	if (p->utf8 && !seen_utf8) {
		smtp_reply(s, "553 5.6.7 Non-ASCII address requires SMTPUTF8");
		return -1;
	}
	/* submission: only the user's own address (RFC 6409 6.1) */
	if (s->submission && strcasecmp(p->addr, s->auth_user) != 0) {
		char tmp[SMTP_ADDR_SIZE + 8];
		log_info(s->c->id, "smtp mail from=<%s> status=rejected "
		    "code=553 reason=not-owned", safe(tmp, sizeof tmp,
		    p->addr, strlen(p->addr)));
		smtp_reply(s, "553 5.7.1 Sender address rejected: not owned "
		    "by the authenticated user");
		return -1;
	}
	return 0;
}

static void
proceed_mail(struct smtp_session *s, const struct smtp_line *l)
{
	const struct smtp_path *p = &s->path;
	char tmp[SMTP_ADDR_SIZE + 8];

	if (tx_begin(s) < 0) {
		smtp_tx_reset(s);
		smtp_reply(s, "451 4.3.0 Error: out of resources");
		return;
	}
	memcpy(s->tx.from, p->addr, sizeof s->tx.from);
	for (size_t i = 0; i < p->nparams; i++) {
		if (smtp_param_is(&p->params[i], "SMTPUTF8"))
			s->tx.utf8 = 1;
		else if (smtp_param_is(&p->params[i], "SIZE"))
			smtp_parse_size(p->params[i].val, p->params[i].val_len,
			    &s->tx.size);
	}
	smtp_set_state(s, SMTP_MAIL);
	log_info(s->c->id, "smtp mail id=%s from=<%s> size=%llu utf8=%d",
	    s->tx.id, safe(tmp, sizeof tmp, p->addr, strlen(p->addr)),
	    s->tx.size, s->tx.utf8);
	smtp_reply(s, "250 2.1.0 Ok");
}

/* ---- RCPT ---- */

static int
check_rcpt(struct smtp_session *s, const struct smtp_line *l)
{
	struct smtp_path *p = &s->path;
	const char *why;

	if (smtp_parse_path(l->arg, l->arg_len, SMTP_PATH_RCPT, p, &why) < 0) {
		if (strncmp(why, "Syntax", 6) == 0)
			smtp_reply(s, "501 5.5.4 %s", why);
		else
			smtp_reply(s, "501 5.1.3 Bad recipient address: %s",
			    why);
		return -1;
	}
	if (p->nparams > 0) {
		char tmp[80];
		smtp_reply(s, "555 5.5.4 Unsupported parameter %s",
		    safe(tmp, sizeof tmp, p->params[0].key,
		    p->params[0].key_len));
		return -1;
	}
	if (s->tx.chunking) {
		smtp_reply(s, "503 5.5.1 Error: RCPT after BDAT");
		return -1;
	}
	if (p->utf8 && !s->tx.utf8) {
		smtp_reply(s, "553 5.6.7 Non-ASCII address requires SMTPUTF8");
		return -1;
	}
	/* duplicates count: each costs a lookup (Postfix counts them too) */
	if (s->tx.naccepted >= s->gw->max_recipients) {
		char tmp[SMTP_ADDR_SIZE + 8];
		log_info(s->c->id, "smtp rcpt to=<%s> status=rejected code=452 "
		    "reason=too-many-recipients", safe(tmp, sizeof tmp,
		    p->addr, strlen(p->addr)));
		smtp_reply(s, "452 4.5.3 Error: too many recipients");
		return -1;
	}
	return 0;
}

/* Thread pool: is the domain ours, and who is the user? */
static int
rcpt_work(struct store_conn *db, void *arg)
{
	struct smtp_session *s = arg;	/* only s->lookup is touched */
	struct smtp_lookup *q = &s->lookup;
	char addr[SMTP_ADDR_SIZE + 16], **names = NULL;
	size_t n = 0;
	int rc;

	if (!q->postmaster) {
		if ((rc = store_domain_is_local(db, q->domain)) < 0)
			return rc;
		if (rc == 0) {
			q->relay = 1;
			return 0;
		}
		if ((rc = store_user_lookup(db, q->addr, &q->id)) != 0 ||
		    !q->policy)
			return rc;
		return store_sender_check(db, q->id, q->from, &q->verdict);
	}
	/* RFC 5321 4.5.1: "postmaster" alone names this host's postmaster:
	 * postmaster@<hostname> if that user exists, else the first
	 * postmaster@<local domain> that does. */
	snprintf(addr, sizeof addr, "postmaster@%s", q->hostname);
	rc = store_user_lookup(db, addr, &q->id);
	if (rc != CM_ENOTFOUND)
		return rc;
	if ((rc = store_domain_list(db, &names, &n)) < 0)
		return rc;
	rc = CM_ENOTFOUND;
	for (size_t i = 0; i < n && rc == CM_ENOTFOUND; i++) {
		snprintf(addr, sizeof addr, "postmaster@%s", names[i]);
		rc = store_user_lookup(db, addr, &q->id);
	}
	store_strv_free(&names, n);
	return rc;
}

static void rcpt_done(void *arg, int rc);

static int
local_part_is(const char *addr, const char *name)
{
	const char *at = strrchr(addr, '@');
	size_t n = strlen(name);

	return at != NULL && (size_t)(at - addr) == n &&
	    strncasecmp(addr, name, n) == 0;
}

static void
proceed_rcpt(struct smtp_session *s, const struct smtp_line *l)
{
	struct smtp_lookup *q = &s->lookup;
	int rc;

	memset(q, 0, sizeof *q);
	memcpy(q->addr, s->path.addr, sizeof q->addr);
	snprintf(q->domain, sizeof q->domain, "%s", s->path.domain);
	q->hostname = s->gw->hostname;
	q->postmaster = s->path.postmaster;
	q->from = s->tx.from;
	/* Submission is the user's own mail. The postmaster and abuse
	 * mailboxes take mail from anyone (RFC 5321 4.5.1, RFC 2142): they
	 * are how a refused sender reaches the organisation. */
	q->policy = !s->submission && !q->postmaster &&
	    !local_part_is(q->addr, "postmaster") &&
	    !local_part_is(q->addr, "abuse");
	q->verdict = STORE_SENDER_ACCEPT;
	smtp_set_state(s, SMTP_RCPT_LOOKUP);
	conn_pause(s->c);
	conn_hold(s->c);
	s->gw->pending++;
	if ((rc = store_run(s->gw->store, s->gw->loop, rcpt_work, rcpt_done,
	    s)) < 0) {
		/* done() will not be called */
		rcpt_done(s, rc);
	}
}

void
gateway_maybe_stop(struct gateway *gw)
{
	if (gw->stopping && gw->pending == 0 && gw->nsessions == 0)
		uv_stop(gw->loop);
}

/* At most this long to flush the goodbye when stopping (a client that
 * reads nothing must not hold up the stop for a whole smtp_timeout). */
#define SHUTDOWN_FLUSH_MS 5000

static void
shut_down(struct smtp_session *s)
{
	if (conn_closing(s->c))
		return;
	if (s->c->timeout_ms == 0 || s->c->timeout_ms > SHUTDOWN_FLUSH_MS)
		conn_set_timeout(s->c, SHUTDOWN_FLUSH_MS);
	conn_printf(s->c, "421 4.3.2 %s Service shutting down\r\n",
	    s->gw->hostname);
	smtp_close(s, "shutdown");
}

/* A store request ended and its reply is written: drop the reference
 * (which frees s and c if the connection closed meanwhile) and read on. */
void
smtp_store_finished(struct smtp_session *s)
{
	struct gateway *gw = s->gw;
	struct conn *c = s->c;

	gw->pending--;
	if (conn_closing(c)) {
		conn_release(c);
		gateway_maybe_stop(gw);
		return;
	}
	if (gw->stopping)
		shut_down(s);
	conn_release(c);	/* c stays: its handles are open */
	conn_resume(c);
	gateway_maybe_stop(gw);
}

/* Submission: remember an external recipient for the outbound queue
 * (case-insensitive duplicates once). 0, CM_EINVAL (an address the queue
 * does not take) or CM_ENOMEM. */
static int
add_external(struct smtp_session *s, const char *addr, int *dup_r)
{
	struct smtp_tx *tx = &s->tx;
	size_t max = s->gw->max_recipients;

	*dup_r = 0;
	if (store_outbound_address_ok(addr) < 0)
		return CM_EINVAL;
	if (tx->ext == NULL) {
		tx->ext = calloc(max, sizeof *tx->ext);
		tx->extp = calloc(max, sizeof *tx->extp);
		if (tx->ext == NULL || tx->extp == NULL)
			return CM_ENOMEM;
	}
	for (size_t i = 0; i < tx->next; i++)
		if (strcasecmp(tx->ext[i], addr) == 0)
			*dup_r = 1;
	if (!*dup_r) {
		if (tx->nrcpts + tx->next == 0)
			memcpy(tx->first_rcpt, addr, sizeof tx->first_rcpt);
		memcpy(tx->ext[tx->next], addr, sizeof tx->ext[0]);
		tx->extp[tx->next] = tx->ext[tx->next];
		tx->next++;
	}
	tx->naccepted++;
	return 0;
}

static void
rcpt_done(void *arg, int rc)
{
	struct smtp_session *s = arg;
	struct smtp_lookup *q = &s->lookup;
	char tmp[SMTP_ADDR_SIZE + 8], tmp2[SMTP_MAX_DOMAIN + 8];
	const char *a = safe(tmp, sizeof tmp, q->addr, strlen(q->addr));
	int dup = 0, queue = 0, refused;

	if (conn_closing(s->c)) {
		smtp_store_finished(s);
		return;
	}
	s->tx.rcpt_tried = 1;
	if (rc == 0 && q->relay && s->submission && s->gw->relay) {
		if ((rc = add_external(s, q->addr, &dup)) == 0)
			queue = 1;
	}
	refused = rc == 0 && !q->relay &&
	    (q->verdict == STORE_SENDER_BLOCK ||
	    q->verdict == STORE_SENDER_REFUSE);
	if (rc == 0 && !q->relay && !refused) {
		for (size_t i = 0; i < s->tx.nrcpts; i++)
			if (s->tx.rcpts[i] == q->id)
				dup = 1;
		if (!dup) {
			if (s->tx.nrcpts == 0)
				memcpy(s->tx.first_rcpt, q->addr,
				    sizeof s->tx.first_rcpt);
			if (q->verdict == STORE_SENDER_HOLD) {
				if (s->tx.nheld == 0)
					memcpy(s->tx.first_held, q->addr,
					    sizeof s->tx.first_held);
				s->tx.held[s->tx.nrcpts] = 1;
				s->tx.nheld++;
			}
			s->tx.rcpts[s->tx.nrcpts++] = q->id;
		}
		s->tx.naccepted++;
	}
	smtp_set_state(s, s->tx.nrcpts + s->tx.next > 0 ? SMTP_RCPT :
	    SMTP_MAIL);
	if (queue) {
		log_info(s->c->id, "smtp rcpt to=<%s> status=ok relay=queue%s",
		    a, dup ? " duplicate=1" : "");
		smtp_reply(s, "250 2.1.5 Ok");
	} else if (rc == CM_EINVAL) {
		log_info(s->c->id, "smtp rcpt to=<%s> status=rejected code=553 "
		    "reason=address", a);
		smtp_reply(s, "553 5.1.3 <%s>: Recipient address not "
		    "deliverable from here", a);
	} else if (rc == 0 && q->relay && s->submission) {
		/* no relay_host: nothing would send it */
		log_info(s->c->id, "smtp rcpt to=<%s> status=rejected code=550 "
		    "reason=relay-not-configured", a);
		smtp_reply(s, "550 5.7.1 <%s>: relaying not configured", a);
	} else if (rc == 0 && q->relay) {
		log_info(s->c->id, "smtp rcpt to=<%s> status=rejected code=554 "
		    "reason=relay", a);
		smtp_reply(s, "554 5.7.1 <%s>: Relay access denied", a);
	} else if (rc == 0 && q->verdict == STORE_SENDER_BLOCK) {
		log_info(s->c->id, "smtp rcpt to=<%s> status=rejected code=550 "
		    "reason=sender-blocked", a);
		smtp_reply(s, "550 5.7.1 <%s>: Recipient does not accept mail "
		    "from this sender", a);
	} else if (rc == 0 && q->verdict == STORE_SENDER_REFUSE) {
		log_info(s->c->id, "smtp rcpt to=<%s> status=rejected code=550 "
		    "reason=sender-unknown", a);
		smtp_reply(s, "550 5.7.1 <%s>: Recipient accepts mail only from "
		    "senders they know; to reach them, write to <postmaster@%s>",
		    a, safe(tmp2, sizeof tmp2, q->domain, strlen(q->domain)));
	} else if (rc == 0) {
		log_info(s->c->id, "smtp rcpt to=<%s> status=ok%s%s", a,
		    q->verdict == STORE_SENDER_HOLD ? " held=1" : "",
		    dup ? " duplicate=1" : "");
		smtp_reply(s, "250 2.1.5 Ok");
	} else if (rc == CM_ENOTFOUND) {
		log_info(s->c->id, "smtp rcpt to=<%s> status=rejected code=550 "
		    "reason=unknown", a);
		smtp_reply(s, "550 5.1.1 <%s>: Recipient address rejected: "
		    "User unknown", a);
	} else {
		log_warn(s->c->id, "smtp rcpt to=<%s> status=deferred "
		    "code=451 error=%s", a, cm_errname(rc));
		smtp_reply(s, "451 4.3.0 <%s>: Temporary lookup failure, try "
		    "again later", a);
	}
	smtp_store_finished(s);
}

/* ---- DATA ---- */

static int
check_data(struct smtp_session *s, const struct smtp_line *l)
{
	if (l->arg_len > 0) {
		smtp_reply(s, "501 5.5.4 Syntax: DATA");
		return -1;
	}
	if (s->tx.chunking) {
		smtp_reply(s, "503 5.5.1 Error: DATA after BDAT");
		return -1;
	}
	if (s->state == SMTP_MAIL) {
		if (s->tx.rcpt_tried)
			smtp_reply(s, "554 5.5.1 Error: no valid recipients");
		else
			smtp_reply(s, "503 5.5.1 Error: need RCPT command");
		return -1;
	}
	return 0;
}

static void
proceed_data(struct smtp_session *s, const struct smtp_line *l)
{
	size_t limit = s->gw->max_message_size;

	buf_init(&s->tx.msg, limit + SMTP_TRACE_MAX);
	smtp_data_init(&s->tx.data, &s->tx.msg, limit);
	smtp_set_state(s, SMTP_BODY);
	smtp_reply(s, "354 End data with <CR><LF>.<CR><LF>");
}

static int
deliver_work(struct store_conn *db, void *arg)
{
	struct smtp_session *s = arg;	/* only s->deliv, s->verify */
	int rc;

	if ((rc = store_deliver(db, &s->deliv)) == 0)
		smtp_after_delivery(db, s);
	return rc;
}

static void
deliver_done(void *arg, int rc)
{
	struct smtp_session *s = arg;
	char tmp[SMTP_ADDR_SIZE + 8];

	if (rc == 0) {
		log_info(s->c->id, "smtp delivered id=%s message=%" PRId64
		    " size=%zu nrcpt=%zu queued=%zu outbound=%" PRId64
		    " from=<%s>", s->tx.id,
		    s->deliv.message_id_r, s->deliv.len, s->tx.nrcpts,
		    s->tx.next, s->deliv.outbound_id_r,
		    safe(tmp, sizeof tmp, s->tx.from, strlen(s->tx.from)));
		if (s->tx.nheld > 0 || s->verify.rc != 0)
			log_info(s->c->id, "smtp verify id=%s held=%zu "
			    "challenge=%s%s%s", s->tx.id, s->tx.nheld,
			    s->verify.challenged ? "sent" : "none",
			    s->verify.why != NULL ? " reason=" : "",
			    s->verify.why != NULL ? s->verify.why : "");
		if (s->verify.rc != 0)
			log_warn(s->c->id, "smtp verify id=%s error=%s",
			    s->tx.id, cm_errname(s->verify.rc));
		smtp_reply(s, "250 2.0.0 Ok: queued as %s", s->tx.id);
	} else {
		log_warn(s->c->id, "smtp deferred id=%s code=451 error=%s",
		    s->tx.id, cm_errname(rc));
		smtp_reply(s, "451 4.3.0 Error: temporary failure, try again "
		    "later");
	}
	smtp_tx_reset(s);
	if (s->state == SMTP_DELIVER)
		smtp_set_state(s, smtp_idle_state(s));
	smtp_store_finished(s);
}

/* Put a header field in front of the message, in place: the buffer's
 * maximum leaves SMTP_TRACE_MAX bytes for capmail's trace fields. */
static int
prepend(struct smtp_tx *tx, const struct buf *hdr)
{
	size_t body = tx->msg.len;
	int rc;

	if ((rc = buf_add(&tx->msg, hdr->data, hdr->len)) == 0) {
		memmove(tx->msg.data + hdr->len, tx->msg.data, body);
		memcpy(tx->msg.data, hdr->data, hdr->len);
	}
	return rc;
}

static int
prepend_received(struct smtp_session *s)
{
	struct smtp_tx *tx = &s->tx;
	struct smtp_received r = {
		.helo = s->helo,
		.ip = s->c->peer_ip,
		.hostname = s->gw->hostname,
		.proto = smtp_received_proto(s->facts & SF_EHLO,
		    s->facts & SF_TLS, s->facts & SF_AUTH, tx->utf8),
		.id = tx->id,
		.rcpt = tx->nrcpts + tx->next == 1 ? tx->first_rcpt : NULL,
		.when = time(NULL),
	};
	struct buf hdr;
	int rc;

	buf_init(&hdr, SMTP_RECEIVED_MAX);
	if ((rc = smtp_received(&hdr, &r)) == 0)
		rc = prepend(tx, &hdr);
	buf_free(&hdr);
	return rc;
}

/* Authentication-Results (RFC 8601), our hostname as authserv-id. */
static int
prepend_authres(struct smtp_session *s)
{
	struct buf hdr;
	int rc;

	buf_init(&hdr, AUTHRES_HEADER_MAX);
	if ((rc = authres_header(&s->auth, s->gw->hostname, &hdr)) == 0)
		rc = prepend(&s->tx, &hdr);
	buf_free(&hdr);
	return rc;
}

/* The trace fields go on top - Received, then Authentication-Results
 * below it - and the store request is made. The session is in state
 * DELIVER with a store reference held (message_end). */
static void
deliver_start(struct smtp_session *s)
{
	struct smtp_tx *tx = &s->tx;
	int rc;

	if ((s->auth_checked && (rc = prepend_authres(s)) < 0) ||
	    (rc = prepend_received(s)) < 0) {
		log_error(s->c->id, "smtp deferred id=%s error=%s", tx->id,
		    cm_errname(rc));
		smtp_reply(s, "451 4.3.0 Error: local error, try again later");
		smtp_tx_reset(s);
		smtp_set_state(s, smtp_idle_state(s));
		smtp_store_finished(s);
		return;
	}
	memset(&s->deliv, 0, sizeof s->deliv);
	s->deliv.data = tx->msg.data;
	s->deliv.len = tx->msg.len;
	s->deliv.mail_from = tx->from;
	s->deliv.grantor_auth = "none";
	if (s->auth_checked) {
		s->deliv.grantor_auth = authres_method(&s->auth);
		s->deliv.auth_results = s->auth_summary;
	}
	if (s->submission) {
		/* check_mail made sure from is the user's address */
		s->deliv.mail_from = s->auth_user;
		s->deliv.grantor_auth = "local-auth";
	}
	s->deliv.rcpts = tx->rcpts;
	s->deliv.nrcpts = tx->nrcpts;
	s->deliv.rcpt_held = tx->nheld > 0 ? tx->held : NULL;
	s->deliv.outbound_rcpts = tx->extp;
	s->deliv.noutbound = tx->next;
	s->deliv.outbound_owner = s->auth_id;
	s->deliv.mailbox = "INBOX";
	s->deliv.grant_state = "active";
	s->deliv.flags = "";
	if ((rc = store_run(s->gw->store, s->gw->loop, deliver_work,
	    deliver_done, s)) < 0)
		deliver_done(s, rc);
}

/* On a worker thread: only s->auth is written; what is read (the
 * message, HELO, MAIL FROM, the peer's address) does not change while
 * the session waits in DELIVER. */
static void
auth_work(uv_work_t *w)
{
	struct smtp_session *s = w->data;

	(void)authres_check(s->gw->authres, s->c->peer_ip, s->helo,
	    s->tx.from, s->tx.msg.data, s->tx.msg.len, &s->auth);
}

/* The check of s ended (or, the client gone, will not run): store the
 * message, or nothing. */
static void
auth_finish(struct smtp_session *s)
{
	char dom[3][80];

	if (conn_closing(s->c)) {
		/* the client is gone and will send it again: store nothing */
		log_info(s->c->id, "smtp lost id=%s reason=closed during "
		    "auth checks", s->tx.id);
		smtp_tx_reset(s);
		smtp_store_finished(s);
		return;
	}
	s->auth_checked = 1;
	if (authres_summary(&s->auth, s->auth_summary,
	    sizeof s->auth_summary) < 0)
		s->auth_summary[0] = '\0';	/* cannot be: 64 bytes fit */
	log_info(s->c->id, "smtp auth id=%s %s method=%s spf_domain=%s "
	    "dkim_domain=%s from_domain=%s", s->tx.id, s->auth_summary,
	    authres_method(&s->auth),
	    log_safe(dom[0], sizeof dom[0], s->auth.spf_domain,
	    strlen(s->auth.spf_domain)),
	    log_safe(dom[1], sizeof dom[1], s->auth.dkim_domain,
	    strlen(s->auth.dkim_domain)),
	    log_safe(dom[2], sizeof dom[2], s->auth.from_domain,
	    strlen(s->auth.from_domain)));
	deliver_start(s);
}

static void auth_done(uv_work_t *w, int status);

static int
auth_start(struct smtp_session *s)
{
	int rc;

	s->auth_work.data = s;
	if ((rc = uv_queue_work(s->gw->loop, &s->auth_work, auth_work,
	    auth_done)) == 0)
		s->gw->auth_running++;
	return rc;
}

/* Start waiting checks while fewer than GATEWAY_AUTH_MAX run: the pool's
 * other threads stay free for the store, whatever the senders' DNS does. */
static void
auth_dequeue(struct gateway *gw)
{
	while (gw->auth_running < GATEWAY_AUTH_MAX &&
	    gw->auth_wait_head != NULL) {
		struct smtp_session *s = gw->auth_wait_head;

		if ((gw->auth_wait_head = s->auth_next) == NULL)
			gw->auth_wait_tail = NULL;
		s->auth_next = NULL;
		if (conn_closing(s->c)) {
			auth_finish(s);
			continue;
		}
		if (auth_start(s) < 0) {
			log_warn(s->c->id, "smtp auth id=%s error=cannot queue "
			    "the checks", s->tx.id);
			deliver_start(s);
		}
	}
}

static void
auth_done(uv_work_t *w, int status)
{
	struct smtp_session *s = w->data;
	struct gateway *gw = s->gw;

	gw->auth_running--;
	auth_finish(s);
	auth_dequeue(gw);
}

/* The message is complete (DATA's end line, BDAT LAST): refuse it if it
 * passed the limit; else, from outside (smtp_listen), check SPF, DKIM and
 * DMARC on a worker thread (DNS), then hand it to the store. */
static void
message_end(struct smtp_session *s)
{
	struct smtp_tx *tx = &s->tx;

	if (tx->data.overflow) {
		log_info(s->c->id, "smtp rejected id=%s code=552 reason=size "
		    "limit=%zu", tx->id, s->gw->max_message_size);
		smtp_tx_reset(s);
		smtp_set_state(s, smtp_idle_state(s));
		smtp_reply(s, "552 5.3.4 Error: message too big");
		return;
	}
	memset(&s->auth, 0, sizeof s->auth);
	s->auth_checked = 0;
	s->auth_summary[0] = '\0';
	/* DELIVER covers the checks too: input paused, the session held,
	 * a stop waits for it (gw->pending) */
	smtp_set_state(s, SMTP_DELIVER);
	conn_pause(s->c);
	conn_hold(s->c);
	s->gw->pending++;
	if (!s->submission && s->gw->authres != NULL) {
		struct gateway *gw = s->gw;

		if (gw->auth_running >= GATEWAY_AUTH_MAX) {
			s->auth_next = NULL;
			if (gw->auth_wait_tail != NULL)
				gw->auth_wait_tail->auth_next = s;
			else
				gw->auth_wait_head = s;
			gw->auth_wait_tail = s;
			return;
		}
		if (auth_start(s) == 0)
			return;
		log_warn(s->c->id, "smtp auth id=%s error=cannot queue the "
		    "checks", tx->id);
	}
	deliver_start(s);
}

/* ---- BDAT (RFC 3030) ---- */

/* BDAT SP size [SP LAST]. A bad one cannot be skipped (its size is
 * unknown), so the session ends. */
static int
check_bdat(struct smtp_session *s, const struct smtp_line *l)
{
	const char *sp = memchr(l->arg, ' ', l->arg_len);
	size_t n = sp != NULL ? (size_t)(sp - l->arg) : l->arg_len;
	struct smtp_line last;

	if (smtp_parse_size(l->arg, n, &s->chunk_size) == 0) {
		s->chunk_size_last = 0;
		if (sp == NULL)
			return 0;
		last.verb = sp + 1;
		last.verb_len = l->arg_len - n - 1;
		if (smtp_verb_is(&last, "LAST")) {
			s->chunk_size_last = 1;
			return 0;
		}
	}
	smtp_reply(s, "501 5.5.4 Syntax: BDAT size [LAST]");
	if (!conn_closing(s->c)) {
		conn_printf(s->c, "421 4.5.0 %s Error: lost BDAT framing\r\n",
		    s->gw->hostname);
		smtp_close(s, "bad bdat");
	}
	return -1;
}

static void chunk_end(struct smtp_session *s);

/* The chunk is read in any case; out of sequence it is thrown away and
 * the error is the reply to it. */
static void
proceed_bdat(struct smtp_session *s, const struct smtp_line *l)
{
	struct smtp_tx *tx = &s->tx;

	s->chunk_error = NULL;
	if (s->state == SMTP_CONNECTED)
		s->chunk_error = "503 5.5.1 Error: send HELO/EHLO first";
	else if (s->state == SMTP_HELO)
		s->chunk_error = "503 5.5.1 Error: need MAIL command";
	else if (s->state == SMTP_MAIL)
		s->chunk_error = tx->rcpt_tried ?
		    "554 5.5.1 Error: no valid recipients" :
		    "503 5.5.1 Error: need RCPT command";
	else if (!tx->chunking) {
		tx->chunking = 1;
		buf_init(&tx->msg, s->gw->max_message_size + SMTP_TRACE_MAX);
		smtp_data_init(&tx->data, &tx->msg, s->gw->max_message_size);
	}
	s->chunk_left = s->chunk_size;
	smtp_set_state(s, SMTP_BDAT);
	if (s->chunk_left == 0)
		chunk_end(s);
}

static void
chunk_end(struct smtp_session *s)
{
	struct smtp_tx *tx = &s->tx;

	if (s->chunk_error != NULL) {
		const char *reply = s->chunk_error;
		s->chunk_error = NULL;
		smtp_set_state(s, tx->nrcpts + tx->next > 0 ? SMTP_RCPT :
		    tx->rcpts != NULL ? SMTP_MAIL : smtp_idle_state(s));
		smtp_reply(s, "%s", reply);
		return;
	}
	if (s->chunk_size_last) {
		message_end(s);
		return;
	}
	if (tx->data.overflow) {
		/* no point reading on: the transaction has failed */
		message_end(s);
		return;
	}
	smtp_set_state(s, SMTP_RCPT);
	smtp_reply(s, "250 2.0.0 Ok: %llu octets received", s->chunk_size);
}

static void
bdat_input(struct smtp_session *s)
{
	size_t n = s->c->in.len;
	int rc;

	if (n > s->chunk_left)
		n = (size_t)s->chunk_left;
	if (s->chunk_error == NULL &&
	    (rc = smtp_data_raw(&s->tx.data, s->c->in.data, n)) < 0) {
		log_error(s->c->id, "smtp bdat error=%s", cm_errname(rc));
		smtp_tx_reset(s);
		smtp_reply(s, "451 4.3.0 Error: out of memory");
		smtp_close(s, "out of memory");
		return;
	}
	conn_consume(s->c, n);
	s->chunk_left -= n;
	if (s->chunk_left == 0)
		chunk_end(s);
}

/* ---- the small commands ---- */

static int
check_noarg(struct smtp_session *s, const struct smtp_line *l)
{
	if (l->arg_len > 0) {
		char verb[SMTP_MAX_VERB + 1];
		for (size_t i = 0; i < l->verb_len; i++)
			verb[i] = (char)(l->verb[i] & ~0x20);	/* upper */
		verb[l->verb_len] = '\0';
		smtp_reply(s, "501 5.5.4 Syntax: %s", verb);
		return -1;
	}
	return 0;
}

static int
check_any(struct smtp_session *s, const struct smtp_line *l)
{
	return 0;
}

static int
check_vrfy(struct smtp_session *s, const struct smtp_line *l)
{
	if (l->arg_len == 0) {
		smtp_reply(s, "501 5.5.4 Syntax: VRFY address");
		return -1;
	}
	return 0;
}

static void
proceed_rset(struct smtp_session *s, const struct smtp_line *l)
{
	smtp_tx_reset(s);
	smtp_set_state(s, smtp_idle_state(s));
	smtp_reply(s, "250 2.0.0 Ok");
}

static void
proceed_noop(struct smtp_session *s, const struct smtp_line *l)
{
	smtp_reply(s, "250 2.0.0 Ok");
}

static void
proceed_quit(struct smtp_session *s, const struct smtp_line *l)
{
	smtp_reply(s, "221 2.0.0 Bye");
	smtp_close(s, "quit");
}

static void
proceed_vrfy(struct smtp_session *s, const struct smtp_line *l)
{
	smtp_reply(s, "252 2.5.2 Cannot VRFY user, but will accept message "
	    "and attempt delivery");
}

static void
proceed_expn(struct smtp_session *s, const struct smtp_line *l)
{
	smtp_reply(s, "502 5.5.1 Error: command not implemented");
}

static void
proceed_help(struct smtp_session *s, const struct smtp_line *l)
{
	smtp_reply(s, "214 2.0.0 Commands: EHLO HELO AUTH MAIL RCPT DATA "
	    "RSET NOOP QUIT VRFY HELP BDAT STARTTLS; see RFC 5321");
}

#define S_ALL (ST(SMTP_CONNECTED) | ST(SMTP_HELO) | ST(SMTP_MAIL) | \
    ST(SMTP_RCPT))

static const struct smtp_cmd commands[] = {
	{ "EHLO", S_ALL, NULL, check_helo, proceed_ehlo },
	{ "HELO", S_ALL, NULL, check_helo, proceed_helo },
	{ "STARTTLS", ST(SMTP_HELO) | ST(SMTP_MAIL) | ST(SMTP_RCPT), NULL,
	    check_starttls, proceed_starttls },
	{ "MAIL", ST(SMTP_HELO), "503 5.5.1 Error: nested MAIL command",
	    check_mail, proceed_mail },
	{ "RCPT", ST(SMTP_MAIL) | ST(SMTP_RCPT),
	    "503 5.5.1 Error: need MAIL command", check_rcpt, proceed_rcpt },
	{ "DATA", ST(SMTP_MAIL) | ST(SMTP_RCPT),
	    "503 5.5.1 Error: need MAIL command", check_data, proceed_data },
	{ "BDAT", S_ALL, NULL, check_bdat, proceed_bdat },
	{ "AUTH", ST(SMTP_HELO) | ST(SMTP_MAIL) | ST(SMTP_RCPT), NULL,
	    smtp_auth_check, smtp_auth_proceed },
	{ "RSET", S_ALL, NULL, check_noarg, proceed_rset },
	{ "NOOP", S_ALL, NULL, check_any, proceed_noop },
	{ "QUIT", S_ALL, NULL, check_noarg, proceed_quit },
	{ "VRFY", S_ALL, NULL, check_vrfy, proceed_vrfy },
	{ "EXPN", S_ALL, NULL, check_any, proceed_expn },
	{ "HELP", S_ALL, NULL, check_any, proceed_help },
};

static void
smtp_command(struct smtp_session *s, const char *line, size_t len)
{
	struct smtp_line l;
	const char *why;
	const struct smtp_cmd *cmd = NULL;

	if (smtp_parse_line(line, len, &l, &why) < 0) {
		smtp_reply(s, "500 5.5.2 Error: %s", why);
		return;
	}
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (smtp_verb_is(&l, commands[i].verb))
			cmd = &commands[i];
	if (cmd == NULL) {
		smtp_reply(s, "500 5.5.1 Error: command not recognized");
		return;
	}
	if (!(cmd->states & ST(s->state))) {
		if (s->state == SMTP_CONNECTED)
			smtp_reply(s, "503 5.5.1 Error: send HELO/EHLO first");
		else if (cmd->seq_reply != NULL)
			smtp_reply(s, "%s", cmd->seq_reply);
		else
			smtp_reply(s, "503 5.5.1 Error: bad sequence of commands");
		return;
	}
	if (cmd->check(s, &l) < 0)
		return;
	cmd->proceed(s, &l);
}

/* ---- conn events ---- */

/* Discard the rest of a too long line, up to and including its CRLF.
 * Returns 1 when the line ended, 0 when more input is needed. */
static int
skip_line(struct smtp_session *s)
{
	struct buf *in = &s->c->in;
	const char *crlf = memmem(in->data, in->len, "\r\n", 2);

	if (crlf != NULL) {
		conn_consume(s->c, (size_t)(crlf - in->data) + 2);
		s->facts &= ~(unsigned)SF_SKIPLINE;
		return 1;
	}
	/* keep a final CR: its LF may come in the next read */
	conn_consume(s->c, in->data[in->len - 1] == '\r' ? in->len - 1
	    : in->len);
	return 0;
}

static void
body_input(struct smtp_session *s)
{
	size_t used;
	int rc;

	rc = smtp_data_feed(&s->tx.data, s->c->in.data, s->c->in.len, &used);
	conn_consume(s->c, used);
	if (rc < 0) {
		log_error(s->c->id, "smtp data error=%s", cm_errname(rc));
		smtp_tx_reset(s);
		smtp_reply(s, "451 4.3.0 Error: out of memory");
		smtp_close(s, "out of memory");
		return;
	}
	if (rc == SMTP_DATA_END)
		message_end(s);
}

static void
smtp_input(struct conn *c)
{
	struct smtp_session *s = c->data;
	const char *line;
	size_t len, done = 0;	/* command bytes handled, not yet consumed */
	int rc;

	/* Command lines are consumed in one go, not one by one: consuming
	 * moves the rest of the buffer, and a buffer of pipelined small
	 * commands would cost quadratic time. */
	while (!c->paused && !conn_closing(c) && c->in.len > done) {
		if (s->state == SMTP_BODY || s->state == SMTP_BDAT ||
		    (s->facts & SF_SKIPLINE)) {
			conn_consume(c, done);
			done = 0;
		}
		if (s->state == SMTP_BODY) {
			body_input(s);
			continue;
		}
		if (s->state == SMTP_BDAT) {
			bdat_input(s);
			continue;
		}
		if (s->facts & SF_SKIPLINE) {
			if (!skip_line(s))
				break;
			continue;
		}
		rc = conn_line_at(c, done, &line, &len, s->gw->max_line);
		if (rc == CONN_MORE)
			break;
		if (rc < 0) {
			s->facts |= SF_SKIPLINE;
			if (s->state == SMTP_AUTH)
				smtp_auth_abort(s);
			smtp_reply(s, "500 5.5.2 Error: line too long");
			continue;
		}
		if (s->state == SMTP_AUTH)
			smtp_auth_line(s, line, len);
		else
			smtp_command(s, line, len);
		if (s->facts & SF_TLSSTART) {
			/* c->in is empty now: read nothing more in plaintext */
			s->facts &= ~(unsigned)SF_TLSSTART;
			done = 0;
			break;
		}
		done += len + 2;
	}
	conn_consume(c, done);
}

static void
accepted(struct conn *c, int submission)
{
	struct gateway *gw = c->ctx;
	struct smtp_session *s = calloc(1, sizeof *s);

	if (s == NULL) {
		conn_writestr(c, "421 4.3.0 Error: out of memory\r\n");
		conn_close(c, "out of memory");
		return;
	}
	s->c = c;
	s->gw = gw;
	s->state = SMTP_CONNECTED;
	if (conn_tls(c))
		s->facts |= SF_TLS;	/* implicit TLS (RFC 8314) */
	s->submission = submission ? 1 : 0;
	c->data = s;
	s->next = gw->sessions;
	if (s->next != NULL)
		s->next->prev = s;
	gw->sessions = s;
	gw->nsessions++;
	if (gw->stopping)
		shut_down(s);
	else if (gw->nsessions > gw->max_sessions) {
		/* every session holds buffers: their number is bounded too */
		log_warn(c->id, "smtp refused reason=too-many-sessions "
		    "limit=%u", gw->max_sessions);
		conn_printf(c, "421 4.7.0 %s Error: too many connections, "
		    "try again later\r\n", gw->hostname);
		smtp_close(s, "too many sessions");
	} else
		conn_printf(c, "220 %s ESMTP capmail\r\n", gw->hostname);
}

static void
smtp_accepted(struct conn *c)
{
	accepted(c, 0);
}

static void
submission_accepted(struct conn *c)
{
	accepted(c, 1);
}

static void
smtp_timeout(struct conn *c)
{
	struct smtp_session *s = c->data;

	if (s == NULL)
		return;
	conn_printf(c, "421 4.4.2 %s Error: timeout exceeded\r\n",
	    s->gw->hostname);
	smtp_set_state(s, SMTP_QUIT);
}

static void
smtp_closed(struct conn *c)
{
	struct smtp_session *s = c->data;

	struct gateway *gw;

	if (s == NULL)
		return;
	gw = s->gw;
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		gw->sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	gw->nsessions--;
	smtp_tx_reset(s);
	sasl_clear(&s->sasl);
	free(s);
	c->data = NULL;
	gateway_maybe_stop(gw);
}

const struct conn_handler smtp_handler = {
	.proto = "smtp",
	.accepted = smtp_accepted,
	.input = smtp_input,
	.timeout = smtp_timeout,
	.closed = smtp_closed,
};

const struct conn_handler smtp_submission_handler = {
	.proto = "submission",
	.accepted = submission_accepted,
	.input = smtp_input,
	.timeout = smtp_timeout,
	.closed = smtp_closed,
};

void
gateway_stop(struct gateway *gw)
{
	gw->stopping = 1;
	for (struct smtp_session *s = gw->sessions; s != NULL; s = s->next) {
		/* closing frees nothing now: the close callbacks come later */
		if (s->state != SMTP_RCPT_LOOKUP && s->state != SMTP_DELIVER &&
		    s->state != SMTP_AUTH_CHECK)
			shut_down(s);
	}
	gateway_maybe_stop(gw);
}
