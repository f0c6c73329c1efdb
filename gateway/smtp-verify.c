/*
 * smtp-verify.c: sender verification after a delivery is committed (on
 * the store's thread, inside deliver_work): submission teaches the
 * store who the user writes to, and held mail from an unknown sender
 * gets a challenge (lib/challenge.h, store/senders.h).
 *
 * The mail is committed before any of this runs, so nothing here can
 * lose it: a failure is recorded in s->verify for deliver_done to log.
 *
 * A challenge goes out only when all of these hold, so that it never
 * reaches an address that did not send the mail (backscatter) and never
 * answers a machine:
 *   - some recipient's grant is held (verify-unknown, unknown sender);
 *   - challenges are configured (secret_key_file, relay_host);
 *   - the address the challenge goes to, MAIL FROM, is authenticated: SPF
 *     passed for its domain (not merely for HELO's), or a DKIM signature
 *     verified whose d= is that domain's organisation (RFC 7489 relaxed
 *     alignment, here with MAIL FROM rather than From: since MAIL FROM is
 *     where the challenge goes);
 *   - challenge_wanted(): not <>, not automated, not bulk or list mail;
 *   - MAIL FROM is ASCII: capmail-outbound does not speak SMTPUTF8 (RFC
 *     6531) yet, so a challenge to an internationalised address could
 *     not be sent correctly; such mail stays held without one.
 * The store sends at most one challenge a sender address a day.
 */
#include "config.h"

#include <string.h>
#include <strings.h>
#include <time.h>

#include "authres.h"
#include "captoken.h"
#include "challenge.h"
#include "errors.h"
#include "outbound.h"
#include "senders.h"
#include "smtp-session-int.h"

static void
learn(struct store_conn *db, struct smtp_session *s)
{
	struct smtp_tx *tx = &s->tx;
	int rc;

	for (size_t i = 0; i < tx->next; i++) {
		rc = store_sender_learn(db, s->auth_id, tx->ext[i]);
		if (rc < 0 && s->verify.rc == 0)
			s->verify.rc = rc;
	}
}

/* Is MAIL FROM's address shown to be the sender's (see above)? */
static int
mail_from_authenticated(const struct smtp_session *s)
{
	const struct authres *r = &s->auth;
	const char *at = strrchr(s->tx.from, '@');

	if (!s->auth_checked || at == NULL || at[1] == '\0')
		return 0;
	if (r->spf == AUTHRES_PASS && !r->spf_helo &&
	    strcasecmp(r->spf_domain, at + 1) == 0)
		return 1;
	return r->dkim == AUTHRES_PASS && r->dkim_domain[0] != '\0' &&
	    authres_aligned(s->gw->authres, r->dkim_domain, at + 1, 0);
}

static void
challenge(struct store_conn *db, struct smtp_session *s)
{
	const struct gateway *gw = s->gw;
	struct smtp_tx *tx = &s->tx;
	struct challenge_facts facts;
	char token[CAPTOKEN_STRLEN + 1], url[1024];
	unsigned char hash[CAPTOKEN_HASH_LEN];
	struct challenge_msg m;
	struct buf msg;
	time_t now = time(NULL), expires = now + gw->held_max_age;
	int64_t rcpt = 0;
	size_t blen;
	int rc;

	if (tx->nheld == 0)
		return;
	s->verify.why = "not-configured";
	if (gw->challenge_key == NULL)
		return;
	s->verify.why = "sender-not-authenticated";
	if (!mail_from_authenticated(s))
		return;
	challenge_facts_read(s->deliv.data, s->deliv.len, &facts);
	s->verify.why = "automated-or-list";
	if (!challenge_wanted(tx->from, &facts))
		return;
	s->verify.why = "address-not-ascii";
	for (const char *p = tx->from; *p != '\0'; p++)
		if ((unsigned char)*p >= 0x80)
			return;
	for (size_t i = 0; i < tx->nrcpts && rcpt == 0; i++)
		if (tx->held[i])
			rcpt = tx->rcpts[i];
	blen = strlen(gw->verify_url_base);
	while (blen > 0 && gw->verify_url_base[blen - 1] == '/')
		blen--;
	if ((rc = captoken_make(gw->challenge_key, CAPTOKEN_KIND_VERIFY,
	    expires, token, hash)) < 0) {
		s->verify.rc = rc;
		return;
	}
	snprintf(url, sizeof url, "%.*s/v/%s", (int)blen, gw->verify_url_base,
	    token);
	memset(&m, 0, sizeof m);
	m.hostname = gw->hostname;
	m.sender = tx->from;
	m.recipient = tx->first_held;
	m.url = url;
	m.in_reply_to = facts.message_id;
	m.unique = tx->id;
	m.now = now;
	m.expires = expires;
	buf_init(&msg, 65536);
	if ((rc = challenge_compose(&m, &msg)) == 0)
		rc = store_challenge_create(db, tx->from, rcpt, hash, expires,
		    msg.data, msg.len);
	buf_free(&msg);
	explicit_bzero(token, sizeof token);
	if (rc < 0)
		s->verify.rc = rc;
	else
		s->verify.why = rc == 1 ? NULL : "sent-today";
	s->verify.challenged = rc == 1;
}

void
smtp_after_delivery(struct store_conn *db, struct smtp_session *s)
{
	memset(&s->verify, 0, sizeof s->verify);
	if (s->submission)
		learn(db, s);
	else
		challenge(db, s);
}
