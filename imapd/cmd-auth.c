/*
 * cmd-auth: LOGIN and AUTHENTICATE PLAIN (RFC 4616), with SASL-IR
 * (RFC 4959). The password check (store_login: crypt, slow by design) runs
 * on the store's thread pool. After IMAP_MAX_AUTH_FAILURES failures the
 * session is closed. Passwords are wiped from memory after use.
 *
 * STARTTLS (RFC 3501 6.2.1): the OK goes out in plaintext, then the
 * handshake; whatever the client pipelined behind the command is thrown
 * away. Until TLS is up LOGIN and AUTHENTICATE are refused with
 * NO [PRIVACYREQUIRED] (CAPABILITY says LOGINDISABLED), unless the peer
 * is on loopback and auth_plaintext_loopback is set.
 *
 * Before the check lib/authlimit decides (per client address and per
 * account, see authlimit.h): check now, check after a delay (a timer on
 * the loop; the session waits as for a store job), or refuse at once with
 * "NO [UNAVAILABLE]" while the address is locked out.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "authlimit.h"
#include "errors.h"
#include "imap-commands.h"
#include "imap-util.h"
#include "log.h"

struct login_job {
	struct imap_job j;
	char user[256];
	char pass[1024];
	int64_t id;
};

static void
login_free(struct imap_job *j)
{
	struct login_job *l = (struct login_job *)j;

	explicit_bzero(l->pass, sizeof(l->pass));
	free(l);
}

static int
login_work(struct store_conn *db, struct imap_job *j)
{
	struct login_job *l = (struct login_job *)j;

	return store_login(db, l->user, l->pass, &l->id);
}

static void
login_reply(struct imap_session *s, struct imap_job *j, int rc)
{
	struct login_job *l = (struct login_job *)j;
	char safe[128];

	log_safe(safe, sizeof(safe), l->user, strlen(l->user));
	if (rc == 0)
		authlimit_succeeded(s->d->authlimit, s->c->peer_ip, l->user,
		    uv_now(s->d->loop));
	else if (rc == CM_EAUTH)
		authlimit_failed(s->d->authlimit, s->c->peer_ip, l->user,
		    uv_now(s->d->loop));
	if (rc == 0) {
		s->user_id = l->id;
		memcpy(s->user, l->user, sizeof(s->user));
		imap_session_set_state(s, IMAP_STATE_AUTH);
		log_info(s->c->id, "imap login user=%s", safe);
		imap_job_tagged(j, "OK [CAPABILITY %s] Logged in",
		    IMAP_CAPABILITIES);
		return;
	}
	if (rc == CM_EAUTH) {
		log_info(s->c->id, "imap login failed user=%s", safe);
		if (++s->auth_failures >= IMAP_MAX_AUTH_FAILURES) {
			imap_send(s, "* BYE Too many authentication failures");
			imap_session_set_state(s, IMAP_STATE_LOGOUT);
		}
		imap_job_tagged(j, "NO [AUTHENTICATIONFAILED] Authentication"
		    " failed");
		return;
	}
	log_warn(s->c->id, "imap login error user=%s error=%s", safe,
	    cm_strerror(rc));
	imap_job_store_error(j, rc, "LOGIN");
}

/* The delay is over: check now (or, if the client left meanwhile, let
 * the job machinery end the command without checking). */
static void
login_delayed(void *arg)
{
	struct login_job *l = arg;
	struct imap_session *s = l->j.s;
	struct conn *c = s->c;

	if (conn_closing(c) || s->d->stopping) {
		explicit_bzero(l->pass, sizeof(l->pass));
		l->j.work = NULL;
		imap_job_tagged(&l->j, "NO [UNAVAILABLE] Temporary"
		    " authentication failure, try again later");
		l->j.reply = NULL;
	}
	imap_job_start(s, &l->j);
	conn_release(c);	/* the delay's reference */
}

static void
start_login(struct imap_session *s, const char *tag, const char *user,
    size_t ulen, const char *pass, size_t plen)
{
	struct login_job *l;
	char safe[128];
	unsigned ms;

	if (ulen == 0 || ulen >= sizeof(l->user) || plen >= sizeof(l->pass) ||
	    memchr(user, '\0', ulen) != NULL ||
	    memchr(pass, '\0', plen) != NULL) {
		imap_send(s, "%s NO [AUTHENTICATIONFAILED] Authentication"
		    " failed", tag);
		return;
	}
	if ((l = calloc(1, sizeof(*l))) == NULL) {
		imap_send(s, "%s NO Out of memory", tag);
		return;
	}
	imap_job_init(&l->j, s, tag, 1);
	l->j.work = login_work;
	l->j.reply = login_reply;
	l->j.free = login_free;
	l->j.refresh = 0;
	memcpy(l->user, user, ulen);
	memcpy(l->pass, pass, plen);
	switch (authlimit_check(s->d->authlimit, s->c->peer_ip, l->user,
	    uv_now(s->d->loop), &ms)) {
	case AUTHLIMIT_REFUSE:
		log_safe(safe, sizeof(safe), l->user, strlen(l->user));
		log_info(s->c->id, "imap login refused reason=lockout user=%s",
		    safe);
		login_free(&l->j);
		imap_send(s, "%s NO [UNAVAILABLE] Temporary authentication"
		    " failure, try again later", tag);
		return;
	case AUTHLIMIT_DELAY:
		/* wait as for a job: no input is read meanwhile */
		s->job = &l->j;
		conn_pause(s->c);
		conn_hold(s->c);
		log_info(s->c->id, "imap login delay=%ums", ms);
		if (authlimit_wait(s->d->loop, ms, login_delayed, l) == 0)
			return;
		s->job = NULL;
		conn_release(s->c);
		break;
	case AUTHLIMIT_OK:
		break;
	}
	imap_job_start(s, &l->j);
}

void
cmd_starttls(struct imap_session *s, const struct imap_cmd *cmd)
{
	int rc;

	if (cmd->nargs != 0) {
		imap_cmd_reply(s, cmd, "BAD STARTTLS takes no arguments");
		return;
	}
	if (conn_tls(s->c)) {
		imap_cmd_reply(s, cmd, "BAD TLS is already active");
		return;
	}
	if (!s->d->tls) {
		imap_cmd_reply(s, cmd, "BAD STARTTLS is not available");
		return;
	}
	imap_cmd_reply(s, cmd, "OK Begin TLS negotiation now");
	if ((rc = conn_starttls(s->c)) < 0) {
		log_error(s->c->id, "imap starttls error=%s", cm_errname(rc));
		conn_close(s->c, "tls error");
	}
}

static int
login_refused(struct imap_session *s, const struct imap_cmd *cmd)
{
	if (imap_login_allowed(s))
		return 0;
	log_info(s->c->id, "imap %s refused reason=no-tls", cmd->name);
	imap_cmd_reply(s, cmd, "NO [PRIVACYREQUIRED] Plaintext authentication"
	    " disallowed: use STARTTLS first");
	return 1;
}

void
cmd_login(struct imap_session *s, const struct imap_cmd *cmd)
{
	const char *u, *p;
	size_t ul, pl;

	if (login_refused(s, cmd))
		return;

	if (cmd->nargs != 2 || !imap_arg_astring(&cmd->args[0], &u, &ul) ||
	    !imap_arg_astring(&cmd->args[1], &p, &pl)) {
		imap_cmd_reply(s, cmd, "BAD LOGIN takes a user and a password");
		return;
	}
	start_login(s, cmd->tag, u, ul, p, pl);
}

/* PLAIN: [authzid] NUL authcid NUL passwd, base64. */
static void
plain(struct imap_session *s, const char *tag, const char *b64, size_t len)
{
	unsigned char *dec;
	long n;
	const char *authz, *authc, *pass;
	size_t zl, cl, pl;

	if ((dec = malloc(len / 4 * 3 + 4)) == NULL) {
		imap_send(s, "%s NO Out of memory", tag);
		return;
	}
	n = imap_base64_decode(b64, len, dec);
	if (n < 0) {
		imap_send(s, "%s BAD Invalid base64", tag);
		free(dec);
		return;
	}
	dec[n] = '\0';
	authz = (const char *)dec;
	zl = strlen(authz);
	if ((long)zl + 1 >= n) {
		imap_send(s, "%s BAD Invalid PLAIN response", tag);
		goto out;
	}
	authc = authz + zl + 1;
	cl = strlen(authc);
	if ((long)(zl + cl + 2) > n) {
		imap_send(s, "%s BAD Invalid PLAIN response", tag);
		goto out;
	}
	pass = authc + cl + 1;
	pl = (size_t)n - zl - cl - 2;
	if (zl > 0 && strcasecmp(authz, authc) != 0) {
		imap_send(s, "%s NO [AUTHORIZATIONFAILED] Cannot act as"
		    " another user", tag);
		goto out;
	}
	start_login(s, tag, authc, cl, pass, pl);
out:
	explicit_bzero(dec, (size_t)n);
	free(dec);
}

void
cmd_authenticate(struct imap_session *s, const struct imap_cmd *cmd)
{
	const char *mech, *ir;
	size_t irl, tl;

	if (cmd->nargs < 1 || cmd->nargs > 2 ||
	    !imap_arg_atom(&cmd->args[0], &mech)) {
		imap_cmd_reply(s, cmd, "BAD AUTHENTICATE takes a mechanism");
		return;
	}
	if (login_refused(s, cmd))
		return;
	if (strcasecmp(mech, "PLAIN") != 0) {
		imap_cmd_reply(s, cmd, "NO [CANNOT] Unsupported mechanism");
		return;
	}
	if (cmd->nargs == 2) {
		if (!imap_arg_astring(&cmd->args[1], &ir, &irl)) {
			imap_cmd_reply(s, cmd, "BAD Invalid initial response");
			return;
		}
		if (irl == 1 && ir[0] == '=')
			irl = 0;
		plain(s, cmd->tag, ir, irl);
		return;
	}
	tl = strlen(cmd->tag);
	if (tl >= sizeof(s->auth_tag)) {
		imap_cmd_reply(s, cmd, "BAD Tag too long");
		return;
	}
	memcpy(s->auth_tag, cmd->tag, tl + 1);
	s->auth_cont = 1;
	imap_send(s, "+ ");
}

void
imap_auth_continue(struct imap_session *s, const char *line, size_t len)
{
	if (len == 1 && line[0] == '*') {
		imap_send(s, "%s BAD Authentication cancelled", s->auth_tag);
		return;
	}
	plain(s, s->auth_tag, line, len);
}
