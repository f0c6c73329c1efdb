/*
 * held-summary.c: the text of a held message's summary (see held.h).
 * Pure: reads only the held message's header, writes into a buf.
 *
 * Header values of the held message come from the network. Everything
 * taken from them is made safe before it is written: the subject field
 * is either kept as printable ASCII (its encoded words stay valid) or
 * re-encoded as RFC 2047 encoded words of UTF-8; body lines are UTF-8 with
 * invalid bytes as '?', control bytes as blanks, no line end inside, and
 * at most HELD_VALUE_MAX bytes (cut at a character boundary), so the
 * summary is valid 8bit text/plain whatever arrived.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "errors.h"
#include "hdrdecode.h"
#include "held.h"
#include "maildate.h"
#include "utf8.h"

#define SUBJECT_MAX 900		/* bytes of original subject kept */
#define FOLD_AT 76		/* fold subject lines past this column */
#define EW_CHUNK 45		/* bytes per B encoded word: 60 base64 chars,
				 * 72 with =?UTF-8?B? ?= (RFC 2047: <= 75) */

/* s (n bytes) as one clean UTF-8 line into a malloc'd string: invalid
 * bytes '?', controls ' ', leading/trailing blanks dropped, at most max
 * bytes (cut before a character). NULL when out of memory. */
static char *
clean_line(const char *s, size_t n, size_t max)
{
	char *out = malloc(max + 1);
	size_t o = 0, i = 0;

	if (out == NULL)
		return NULL;
	while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' ||
	    s[i] == '\n'))
		i++;
	while (i < n) {
		const unsigned char *u = (const unsigned char *)s + i;
		size_t l = utf8_seq(u, n - i);

		if (l == 0) {
			if (o + 1 > max)
				break;
			out[o++] = '?';
			i++;
			continue;
		}
		if (o + l > max)
			break;
		if (l == 1 && (u[0] < 0x20 || u[0] == 0x7f))
			out[o++] = ' ';
		else
			memcpy(out + o, u, l), o += l;
		i += l;
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
	return out;
}

/* A header value for the body: unfolded, encoded words decoded. */
static char *
body_value(const char *v, size_t vlen)
{
	size_t ulen;
	char *u = hdr_unfold(v, vlen, &ulen), *d, *out;

	if (u == NULL)
		return NULL;
	d = hdr_decode_utf8(u, ulen);
	out = d != NULL ? clean_line(d, strlen(d), HELD_VALUE_MAX) :
	    clean_line(u, ulen, HELD_VALUE_MAX);
	free(d);
	free(u);
	return out;
}

static int
is_name(const char *n, size_t nlen, const char *want)
{
	return nlen == strlen(want) && strncasecmp(n, want, nlen) == 0;
}

/* Printable ASCII (and blanks) only, and no word longer than a line may
 * be: such a subject is kept as it is, folded at its blanks. */
static int
subject_plain(const char *s, size_t n)
{
	size_t word = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == ' ' || c == '\t') {
			word = 0;
			continue;
		}
		if (c < 0x20 || c > 0x7e || ++word > 900)
			return 0;
	}
	return 1;
}

static int
add_subject_plain(struct buf *out, const char *s, size_t n)
{
	size_t col = strlen("Subject: Held: ");
	int rc = buf_addstr(out, "Subject: Held: ");

	/* fold before a blank once the line is long: unfolding (removing
	 * the CRLF) gives back the same text */
	for (size_t i = 0; i < n && rc == 0;) {
		size_t k = i + 1;

		while (k < n && s[k] != ' ' && s[k] != '\t')
			k++;
		if ((s[i] == ' ' || s[i] == '\t') && col + (k - i) > FOLD_AT &&
		    col > 1) {
			rc = buf_add(out, "\r\n", 2);
			col = 0;
		}
		if (rc == 0)
			rc = buf_add(out, s + i, k - i);
		col += k - i;
		i = k;
	}
	return rc == 0 ? buf_add(out, "\r\n", 2) : rc;
}

static int
add_base64(struct buf *out, const unsigned char *p, size_t n)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i += 3) {
		unsigned v = (unsigned)p[i] << 16;
		char q[4];

		if (i + 1 < n)
			v |= (unsigned)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		q[0] = b64[(v >> 18) & 63];
		q[1] = b64[(v >> 12) & 63];
		q[2] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		q[3] = i + 2 < n ? b64[v & 63] : '=';
		rc = buf_add(out, q, 4);
	}
	return rc;
}

/* "Held: " then the text (clean UTF-8) as B encoded words, one a line,
 * each cut at a character boundary. */
static int
add_subject_encoded(struct buf *out, const char *t)
{
	size_t n = strlen(t), i = 0;
	int rc = buf_addstr(out, "Subject: Held:");

	while (i < n && rc == 0) {
		size_t k = i;

		while (k < n) {
			size_t l = utf8_seq((const unsigned char *)t + k,
			    n - k);
			if (l == 0)
				l = 1;	/* cannot happen: t is clean */
			if (k + l - i > EW_CHUNK)
				break;
			k += l;
		}
		rc = buf_addstr(out, i == 0 ? " =?UTF-8?B?" :
		    "\r\n =?UTF-8?B?");
		if (rc == 0)
			rc = add_base64(out, (const unsigned char *)t + i,
			    k - i);
		if (rc == 0)
			rc = buf_addstr(out, "?=");
		i = k;
	}
	return rc == 0 ? buf_add(out, "\r\n", 2) : rc;
}

static int
add_subject(struct buf *out, const char *v, size_t vlen)
{
	size_t ulen, start = 0;
	char *u, *t;
	int rc;

	if (v == NULL)
		return buf_addstr(out, "Subject: Held: (no subject)\r\n");
	if ((u = hdr_unfold(v, vlen, &ulen)) == NULL)
		return CM_ENOMEM;
	while (start < ulen && (u[start] == ' ' || u[start] == '\t'))
		start++;
	while (ulen > start && (u[ulen - 1] == ' ' || u[ulen - 1] == '\t'))
		ulen--;
	if (ulen - start > SUBJECT_MAX)
		ulen = start + SUBJECT_MAX;
	if (ulen == start) {
		rc = buf_addstr(out, "Subject: Held: (no subject)\r\n");
	} else if (subject_plain(u + start, ulen - start)) {
		rc = add_subject_plain(out, u + start, ulen - start);
	} else if ((t = clean_line(u + start, ulen - start, SUBJECT_MAX)) ==
	    NULL) {
		rc = CM_ENOMEM;
	} else {
		rc = add_subject_encoded(out, t);
		free(t);
	}
	free(u);
	return rc;
}

static int
add_date(struct buf *out, const char *name, time_t t)
{
	int rc = buf_addstr(out, name);

	if (rc == 0)
		rc = maildate_add(out, t);
	return rc == 0 ? buf_addstr(out, "\r\n") : rc;
}

/* One body line "label value" with the value made safe. */
static int
add_line(struct buf *out, const char *label, const char *v, size_t vlen)
{
	char *c;
	int rc;

	if (v == NULL)
		return buf_printf(out, "%s(none)\r\n", label);
	if ((c = body_value(v, vlen)) == NULL)
		return CM_ENOMEM;
	rc = buf_printf(out, "%s%s\r\n", label, c);
	free(c);
	return rc;
}

int
held_summary_compose(const struct held_summary_in *in, struct buf *out)
{
	struct hdr_iter it = { in->header, in->header_len, 0 };
	const char *name, *val, *from = NULL, *subj = NULL, *date = NULL;
	size_t nlen, vlen, fromlen = 0, subjlen = 0, datelen = 0;
	int rc = 0;
	const char *domain = strrchr(in->rcpt, '@');
	char *env;

	domain = domain != NULL && domain[1] != '\0' ? domain + 1 :
	    "localhost";
	while (hdr_next(&it, &name, &nlen, &val, &vlen)) {
		if (is_name(name, nlen, "From") && from == NULL)
			from = val, fromlen = vlen;
		else if (is_name(name, nlen, "Subject") && subj == NULL)
			subj = val, subjlen = vlen;
		else if (is_name(name, nlen, "Date") && date == NULL)
			date = val, datelen = vlen;
	}

	rc = buf_printf(out, "From: Held mail <MAILER-DAEMON@%s>\r\n"
	    "To: <%s>\r\n", domain, in->rcpt);
	if (rc == 0)
		rc = add_subject(out, subj, subjlen);
	if (rc == 0)
		rc = add_date(out, "Date: ", in->now);
	if (rc == 0)
		rc = buf_printf(out, "Message-ID: <held.%lld@%s>\r\n"
		    "Auto-Submitted: auto-generated\r\n"
		    "MIME-Version: 1.0\r\n"
		    "Content-Type: text/plain; charset=utf-8\r\n"
		    "Content-Transfer-Encoding: 8bit\r\n"
		    "\r\n"
		    "A message from a sender you have not accepted yet waits"
		    " for you.\r\n"
		    "It is held: nothing of its content is shown here.\r\n"
		    "\r\n", (long long)in->held_grant, domain);
	if (rc == 0)
		rc = add_line(out, "From:     ", from, fromlen);
	if (rc == 0) {
		if ((env = clean_line(in->mail_from, strlen(in->mail_from),
		    HELD_VALUE_MAX)) == NULL)
			return CM_ENOMEM;
		rc = buf_printf(out, "Sender:   <%s>\r\n", env);
		free(env);
	}
	if (rc == 0)
		rc = add_line(out, "Subject:  ", subj, subjlen);
	if (rc == 0)
		rc = add_line(out, "Date:     ", date, datelen);
	if (rc == 0)
		rc = buf_printf(out, "Size:     %zu bytes\r\n", in->size);
	/* what the gateway found (grants.auth_results), never a header
	 * field of the message: those the sender can write too */
	if (rc == 0 && in->auth_results != NULL && in->auth_results[0] != '\0')
		rc = add_line(out, "Checked:  ", in->auth_results,
		    strlen(in->auth_results));
	else if (rc == 0)
		rc = buf_addstr(out, "Checked:  (not checked)\r\n");
	if (rc == 0)
		rc = buf_addstr(out, "\r\n"
		    "Move this message to INBOX to receive the held message"
		    " and trust\r\n"
		    "the sender. Delete it, or move it to Junk or Trash, to"
		    " refuse the sender.\r\n");
	return rc;
}
