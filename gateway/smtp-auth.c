/*
 * smtp-auth: the AUTH command (RFC 4954) with the mechanisms PLAIN and
 * LOGIN (lib/sasl.c decodes them).
 *
 *   AUTH mech [initial-response]  ->  334 challenge / client line ...
 *   -> the password check -> 235 2.7.0, 535 5.7.8, or 454 4.7.0
 *
 * Sequence: after EHLO/HELO, outside a mail transaction (503 5.5.1
 * otherwise), once per session (503 after success), and only where
 * smtp_auth_allowed() holds (538 5.7.11 otherwise: plaintext passwords
 * only over TLS, or on loopback when auth_plaintext_loopback = yes).
 * "*" cancels (501 5.7.0); a response that is not base64 is 501 5.5.2.
 *
 * The password is checked by store_login() on the store's thread pool
 * (crypt is slow by design). Before that, lib/authlimit decides: check
 * now, wait first (a timer on the loop, input paused), or refuse at once
 * with 454 4.7.0 (the client address is locked out). The session holds its
 * connection through the wait and the check like any store request.
 * The credentials live in s->sasl, which is wiped whatever the outcome.
 */
#include <string.h>
#include <strings.h>

#include "authlimit.h"
#include "errors.h"
#include "log.h"
#include "sasl.h"
#include "smtp-session-int.h"

static int
is_loopback(const char *ip)
{
	return strncmp(ip, "127.", 4) == 0 || strcmp(ip, "::1") == 0 ||
	    strncmp(ip, "::ffff:127.", 11) == 0;
}

int
smtp_auth_allowed(const struct smtp_session *s)
{
	if (s->facts & SF_TLS)
		return 1;
	return s->gw->auth_plaintext_loopback && is_loopback(s->c->peer_ip);
}

int
smtp_auth_check(struct smtp_session *s, const struct smtp_line *l)
{
	if (s->state != SMTP_HELO) {
		smtp_reply(s, "503 5.5.1 Error: MAIL transaction in progress");
		return -1;
	}
	if (s->facts & SF_AUTH) {
		smtp_reply(s, "503 5.5.1 Error: already authenticated");
		return -1;
	}
	if (!smtp_auth_allowed(s)) {
		smtp_reply(s, "538 5.7.11 Encryption required for requested "
		    "authentication mechanism");
		return -1;
	}
	if (l->arg_len == 0) {
		smtp_reply(s, "501 5.5.4 Syntax: AUTH mechanism");
		return -1;
	}
	return 0;
}

static void
auth_over(struct smtp_session *s)
{
	sasl_clear(&s->sasl);
	smtp_set_state(s, smtp_idle_state(s));
}

void
smtp_auth_abort(struct smtp_session *s)
{
	auth_over(s);
}

static const char *
mech_name(const struct smtp_session *s)
{
	return s->sasl.mech == SASL_LOGIN ? "LOGIN" : "PLAIN";
}

static int
login_work(struct store_conn *db, void *arg)
{
	struct smtp_session *s = arg;	/* only s->sasl, s->auth_id */

	return store_login(db, s->sasl.user, s->sasl.pass, &s->auth_id);
}

static void
login_done(void *arg, int rc)
{
	struct smtp_session *s = arg;
	struct gateway *gw = s->gw;
	char user[SASL_USER_MAX * 4 + 1];
	uint64_t now = uv_now(gw->loop);

	log_safe(user, sizeof user, s->sasl.user, strlen(s->sasl.user));
	if (rc == 0) {
		authlimit_succeeded(gw->authlimit, s->c->peer_ip, s->sasl.user,
		    now);
		s->facts |= SF_AUTH;
		/* as stored: lower case */
		for (size_t i = 0; i < sizeof s->auth_user; i++) {
			char ch = s->sasl.user[i];
			s->auth_user[i] = ch >= 'A' && ch <= 'Z' ?
			    (char)(ch - 'A' + 'a') : ch;
		}
		log_info(s->c->id, "smtp auth status=ok mech=%s user=%s",
		    mech_name(s), user);
		auth_over(s);
		smtp_reply(s, "235 2.7.0 Authentication successful");
	} else if (rc == CM_EAUTH) {
		authlimit_failed(gw->authlimit, s->c->peer_ip, s->sasl.user,
		    now);
		log_info(s->c->id, "smtp auth status=failed code=535 mech=%s "
		    "user=%s", mech_name(s), user);
		auth_over(s);
		smtp_reply(s, "535 5.7.8 Authentication credentials invalid");
	} else {
		log_warn(s->c->id, "smtp auth status=deferred code=454 "
		    "mech=%s user=%s error=%s", mech_name(s), user,
		    cm_errname(rc));
		auth_over(s);
		smtp_reply(s, "454 4.7.0 Temporary authentication failure");
	}
	smtp_store_finished(s);
}

static void
check_now(struct smtp_session *s)
{
	int rc;

	if ((rc = store_run(s->gw->store, s->gw->loop, login_work, login_done,
	    s)) < 0)
		login_done(s, rc);	/* done() will not be called */
}

static void
delay_over(void *arg)
{
	struct smtp_session *s = arg;

	if (conn_closing(s->c) || s->gw->stopping) {
		auth_over(s);
		smtp_reply(s, "454 4.7.0 Temporary authentication failure");
		smtp_store_finished(s);
		return;
	}
	check_now(s);
}

/* The credentials are in s->sasl: ask authlimit, then check. */
static void
credentials(struct smtp_session *s)
{
	struct gateway *gw = s->gw;
	char user[SASL_USER_MAX * 4 + 1];
	unsigned ms;

	switch (authlimit_check(gw->authlimit, s->c->peer_ip, s->sasl.user,
	    uv_now(gw->loop), &ms)) {
	case AUTHLIMIT_REFUSE:
		log_safe(user, sizeof user, s->sasl.user, strlen(s->sasl.user));
		log_info(s->c->id, "smtp auth status=refused code=454 "
		    "reason=lockout user=%s", user);
		auth_over(s);
		smtp_reply(s, "454 4.7.0 Temporary authentication failure");
		return;
	case AUTHLIMIT_DELAY:
	case AUTHLIMIT_OK:
		break;
	}
	smtp_set_state(s, SMTP_AUTH_CHECK);
	conn_pause(s->c);
	conn_hold(s->c);
	gw->pending++;
	if (ms > 0) {
		log_info(s->c->id, "smtp auth delay=%ums", ms);
		if (authlimit_wait(gw->loop, ms, delay_over, s) == 0)
			return;
	}
	check_now(s);
}

/* One answer of lib/sasl. */
static void
sasl_answer(struct smtp_session *s, int rc)
{
	switch (rc) {
	case SASL_DONE:
		credentials(s);
		return;
	case SASL_CONTINUE:
		smtp_set_state(s, SMTP_AUTH);
		smtp_reply(s, "334 %s", s->sasl.challenge);
		return;
	case SASL_CANCELLED:
		auth_over(s);
		smtp_reply(s, "501 5.7.0 Authentication aborted");
		return;
	case CM_ENOTFOUND:
		auth_over(s);
		smtp_reply(s, "504 5.5.4 Unrecognized authentication type");
		return;
	case CM_EPARSE:
		auth_over(s);
		smtp_reply(s, "501 5.5.2 Cannot decode response");
		return;
	case CM_EPERM:
		auth_over(s);
		log_info(s->c->id, "smtp auth status=failed code=535 "
		    "reason=authzid");
		smtp_reply(s, "535 5.7.8 Authentication credentials invalid");
		return;
	default:
		auth_over(s);
		smtp_reply(s, "501 5.5.2 Invalid authentication response");
		return;
	}
}

void
smtp_auth_proceed(struct smtp_session *s, const struct smtp_line *l)
{
	const char *sp = memchr(l->arg, ' ', l->arg_len);
	size_t mlen = sp != NULL ? (size_t)(sp - l->arg) : l->arg_len;
	const char *ir = sp != NULL ? sp + 1 : NULL;
	size_t irlen = sp != NULL ? l->arg_len - mlen - 1 : 0;

	sasl_answer(s, sasl_start(&s->sasl, l->arg, mlen, ir, irlen,
	    sp != NULL));
}

void
smtp_auth_line(struct smtp_session *s, const char *line, size_t len)
{
	sasl_answer(s, sasl_step(&s->sasl, line, len));
}
