/*
 * challenge.c: whether to challenge a held message's sender, and the
 * challenge message (see challenge.h).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "challenge.h"
#include "errors.h"
#include "hdrdecode.h"
#include "maildate.h"

static int is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* The first word of a field value ("no (comment)" -> "no"), lower case. */
static void first_word(const char *v, size_t n, char *out, size_t outsz)
{
	size_t i = 0, o = 0;

	while (i < n && (is_wsp(v[i]) || v[i] == '\r' || v[i] == '\n'))
		i++;
	for (; i < n && o + 1 < outsz; i++) {
		char c = v[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-'))
			break;
		out[o++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
	}
	out[o] = '\0';
}

/* The msg-id of a Message-ID value: from '<' to '>', no CR, LF or
 * spaces inside (RFC 5322 3.6.4), else "". */
static void msg_id(const char *v, size_t n, char *out, size_t outsz)
{
	const char *lt = memchr(v, '<', n), *gt;
	size_t len;

	out[0] = '\0';
	if (lt == NULL)
		return;
	gt = memchr(lt, '>', n - (size_t)(lt - v));
	if (gt == NULL)
		return;
	len = (size_t)(gt - lt) + 1;
	if (len < 3 || len >= outsz)
		return;
	for (const char *p = lt; p <= gt; p++)
		if (*p == '\r' || *p == '\n' || is_wsp(*p) || *p == '\0' ||
		    (unsigned char)*p >= 0x7f)
			return;
	memcpy(out, lt, len);
	out[len] = '\0';
}

static int name_is(const char *name, size_t n, const char *want)
{
	return strlen(want) == n && strncasecmp(name, want, n) == 0;
}

static void field(const char *name, size_t nlen, const char *v, size_t vlen,
    struct challenge_facts *f)
{
	char w[16];

	if (name_is(name, nlen, "Auto-Submitted")) {
		first_word(v, vlen, w, sizeof w);
		/* anything but "no", an empty or odd value too */
		if (strcmp(w, "no") != 0)
			f->automated = 1;
	} else if (name_is(name, nlen, "Precedence")) {
		first_word(v, vlen, w, sizeof w);
		if (strcmp(w, "bulk") == 0 || strcmp(w, "list") == 0 ||
		    strcmp(w, "junk") == 0)
			f->bulk = 1;
	} else if (name_is(name, nlen, "List-Id") ||
	    name_is(name, nlen, "List-Unsubscribe") ||
	    name_is(name, nlen, "List-Post")) {
		f->list = 1;
	} else if (name_is(name, nlen, "Message-ID") &&
	    f->message_id[0] == '\0') {
		msg_id(v, vlen, f->message_id, sizeof f->message_id);
	}
}

void challenge_facts_read(const char *msg, size_t len,
    struct challenge_facts *f)
{
	struct hdr_iter it = { msg, len, 0 };
	const char *name, *val;
	size_t nlen, vlen;

	memset(f, 0, sizeof *f);
	while (hdr_next(&it, &name, &nlen, &val, &vlen))
		field(name, nlen, val, vlen, f);
}

int challenge_wanted(const char *sender, const struct challenge_facts *f)
{
	const char *at;
	size_t local;

	if (sender == NULL || sender[0] == '\0')
		return 0;
	/* the mailer-daemon and list robots (RFC 3834 2: do not answer) */
	at = strrchr(sender, '@');
	local = at != NULL ? (size_t)(at - sender) : strlen(sender);
	if ((local == 13 && strncasecmp(sender, "MAILER-DAEMON", 13) == 0) ||
	    strncasecmp(sender, "owner-", 6) == 0 ||
	    (local > 8 && strncasecmp(sender + local - 8, "-request", 8) == 0))
		return 0;
	return !f->automated && !f->bulk && !f->list;
}

/* No CR, LF or other controls: the text goes into header fields. */
static int header_safe(const char *s)
{
	if (s == NULL || s[0] == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

static int is_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return 0;
	return 1;
}

/* The longest msg-id that fits "In-Reply-To: " on one line of at most
 * 998 characters (RFC 5322 2.1.1): a longer one is left out, as the
 * held message may carry one up to CHALLENGE_MSGID_MAX long, and a relay
 * may refuse a longer line (RFC 5321 4.5.3.1.6). */
#define REF_MAX (998 - sizeof "In-Reply-To: " + 1)

int challenge_compose(const struct challenge_msg *m, struct buf *out)
{
	const char *dom;
	int rc = 0, utf8;

	if (!header_safe(m->hostname) || !header_safe(m->sender) ||
	    !header_safe(m->recipient) || !header_safe(m->url) ||
	    !header_safe(m->unique) ||
	    (m->in_reply_to != NULL && m->in_reply_to[0] != '\0' &&
	    !header_safe(m->in_reply_to)))
		return CM_EINVAL;
	if ((dom = strrchr(m->recipient, '@')) == NULL || dom[1] == '\0')
		return CM_EINVAL;
	dom++;
	/* addresses may be UTF-8 (SMTPUTF8): then the body is 8bit */
	utf8 = !is_ascii(m->sender) || !is_ascii(m->recipient);

#define ADD(...) do { if (rc == 0) rc = buf_printf(out, __VA_ARGS__); } while (0)
	ADD("From: Mail verification <postmaster@%s>\r\n"
	    "To: <%s>\r\n"
	    "Subject: Auto: please confirm your message to %s\r\n"
	    "Date: ", dom, m->sender, m->recipient);
	if (rc == 0)
		rc = maildate_add(out, m->now);
	ADD("\r\nMessage-ID: <challenge.%s@%s>\r\n", m->unique, m->hostname);
	if (m->in_reply_to != NULL && m->in_reply_to[0] != '\0' &&
	    strlen(m->in_reply_to) <= REF_MAX)
		ADD("In-Reply-To: %s\r\nReferences: %s\r\n", m->in_reply_to,
		    m->in_reply_to);
	ADD("Auto-Submitted: auto-replied\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=%s\r\n"
	    "Content-Transfer-Encoding: %s\r\n"
	    "\r\n"
	    "Hello,\r\n"
	    "\r\n"
	    "You sent mail to <%s>. Before it is delivered, please confirm\r\n"
	    "that you sent it, by opening this link and pressing the button\r\n"
	    "on the page:\r\n"
	    "\r\n"
	    "  %s\r\n"
	    "\r\n"
	    "You need to do this once: later mail from <%s> is delivered\r\n"
	    "at once. The link works until ",
	    utf8 ? "utf-8" : "us-ascii", utf8 ? "8bit" : "7bit",
	    m->recipient, m->url, m->sender);
	if (rc == 0)
		rc = maildate_add(out, m->expires);
	ADD("; mail that\r\n"
	    "is not confirmed by then is deleted unread.\r\n"
	    "\r\n"
	    "If you did not send mail to <%s>, someone used your address:\r\n"
	    "ignore this message and nothing will be delivered.\r\n"
	    "\r\n"
	    "-- \r\n"
	    "The mail system at %s\r\n", m->recipient, m->hostname);
#undef ADD
	return rc;
}
