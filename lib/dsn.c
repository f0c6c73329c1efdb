/*
 * dsn: RFC 3464 bounces. See dsn.h.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "dsn.h"
#include "errors.h"
#include "maildate.h"

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* 1-3 digits at s: their count, 0 when none or more than max. */
static size_t digits(const char *s, size_t max)
{
	size_t n = 0;

	while (is_digit(s[n]))
		n++;
	return n > max ? 0 : n;
}

void dsn_status(int code, const char *text, char out[16])
{
	char cls = code >= 400 && code < 500 ? '4' : '5';
	const char *p = text != NULL ? text : "";
	size_t a, b;

	/* "X.Y.Z" then a space or the end; Y at most 3, Z at most 3 digits */
	if ((p[0] == '4' || p[0] == '5') && p[0] == cls && p[1] == '.' &&
	    (a = digits(p + 2, 3)) > 0 && p[2 + a] == '.' &&
	    (b = digits(p + 3 + a, 3)) > 0 &&
	    (p[3 + a + b] == ' ' || p[3 + a + b] == '\0')) {
		memcpy(out, p, 3 + a + b);
		out[3 + a + b] = '\0';
		return;
	}
	out[0] = cls;
	memcpy(out + 1, ".0.0", 5);
}

/* s as one line of printable ASCII, at most max bytes. */
static int add_line(struct buf *b, const char *s, size_t max)
{
	int rc = 0;
	size_t n = 0;

	for (; s != NULL && *s != '\0' && n < max && rc == 0; s++, n++) {
		unsigned char c = (unsigned char)*s;

		if (c == '\r' || c == '\n' || c == '\t')
			c = ' ';
		else if (c < 0x20 || c >= 0x7f)
			c = '?';
		rc = buf_addc(b, (char)c);
	}
	return rc;
}

/* A header-field-safe token: the address (no spaces or controls, checked
 * by the queue) or "unknown". */
static int add_addr(struct buf *b, const char *a)
{
	return add_line(b, a != NULL && *a != '\0' ? a : "unknown", 254);
}

/* The original's header block, up to its blank line, cut at a line end
 * within DSN_HEADERS_MAX; always ends with CRLF (or is empty). */
static int add_headers(struct buf *b, const char *m, size_t len)
{
	size_t end = 0, i = 0;

	while (i < len) {
		const char *nl = memchr(m + i, '\n', len - i);
		size_t next = nl != NULL ? (size_t)(nl - m) + 1 : len;
		size_t linelen = next - i;

		/* a blank line ends the header */
		if ((linelen == 2 && m[i] == '\r') || linelen == 1)
			break;
		if (nl == NULL || next > DSN_HEADERS_MAX)
			break;
		end = next;
		i = next;
	}
	for (i = 0; i < end; i++) {
		int rc;

		/* lines end in CRLF, whatever the original had */
		if (m[i] == '\n' && (i == 0 || m[i - 1] != '\r'))
			rc = buf_add(b, "\r\n", 2);
		else if (m[i] == '\r' && (i + 1 >= end || m[i + 1] != '\n'))
			rc = buf_addc(b, ' ');
		else
			rc = buf_addc(b, m[i]);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int dsn_build(const struct dsn_report *r, struct buf *out)
{
	char boundary[128];
	size_t i;
	int rc = 0;

	if (r->hostname == NULL || r->to == NULL || r->unique == NULL ||
	    r->rcpts == NULL || r->nrcpts == 0 ||
	    (r->original == NULL && r->original_len > 0))
		return CM_EINVAL;
	snprintf(boundary, sizeof boundary, "%.40s/%.60s",
	    r->unique, r->hostname);
	for (i = 0; boundary[i] != '\0'; i++)
		if (strchr("\"\\ \t\r\n", boundary[i]) != NULL ||
		    (unsigned char)boundary[i] >= 0x7f ||
		    (unsigned char)boundary[i] < 0x20)
			boundary[i] = '-';

#define ADD(...) do { if (rc == 0) rc = buf_printf(out, __VA_ARGS__); } while (0)
#define LINE(s, max) do { if (rc == 0) rc = add_line(out, (s), (max)); } while (0)
	ADD("From: Mail Delivery System <MAILER-DAEMON@");
	LINE(r->hostname, 253);
	ADD(">\r\nTo: <");
	if (rc == 0)
		rc = add_addr(out, r->to);
	ADD(">\r\nSubject: Undelivered Mail Returned to Sender\r\nDate: ");
	if (rc == 0)
		rc = maildate_add(out, r->now);
	ADD("\r\nMessage-ID: <dsn.");
	LINE(r->unique, 60);
	ADD("@");
	LINE(r->hostname, 253);
	ADD(">\r\nAuto-Submitted: auto-replied\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/report; report-type=delivery-status;\r\n"
	    "\tboundary=\"%s\"\r\n"
	    "\r\n"
	    "This is a MIME-encapsulated message.\r\n"
	    "\r\n"
	    "--%s\r\n"
	    "Content-Description: Notification\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n"
	    "\r\n"
	    "This is the mail system at host ", boundary, boundary);
	LINE(r->hostname, 253);
	ADD(".\r\n\r\n"
	    "Your message could not be delivered to one or more recipients.\r\n"
	    "It is attached below with the reason.\r\n\r\n");
	for (i = 0; i < r->nrcpts; i++) {
		ADD("<");
		if (rc == 0)
			rc = add_addr(out, r->rcpts[i].address);
		ADD(">: ");
		LINE(r->rcpts[i].diagnostic, DSN_DIAG_MAX);
		ADD("\r\n");
	}
	ADD("\r\n--%s\r\n"
	    "Content-Description: Delivery report\r\n"
	    "Content-Type: message/delivery-status\r\n"
	    "\r\n"
	    "Reporting-MTA: dns; ", boundary);
	LINE(r->hostname, 253);
	ADD("\r\nArrival-Date: ");
	if (rc == 0)
		rc = maildate_add(out, r->arrival);
	ADD("\r\n");
	for (i = 0; i < r->nrcpts; i++) {
		ADD("\r\nFinal-Recipient: rfc822; ");
		if (rc == 0)
			rc = add_addr(out, r->rcpts[i].address);
		ADD("\r\nAction: failed\r\nStatus: ");
		LINE(r->rcpts[i].status != NULL ? r->rcpts[i].status :
		    "5.0.0", 15);
		if (r->relay != NULL && *r->relay != '\0') {
			ADD("\r\nRemote-MTA: dns; ");
			LINE(r->relay, 253);
		}
		if (r->rcpts[i].diagnostic != NULL &&
		    *r->rcpts[i].diagnostic != '\0') {
			ADD("\r\nDiagnostic-Code: smtp; ");
			LINE(r->rcpts[i].diagnostic, DSN_DIAG_MAX);
		}
		ADD("\r\nLast-Attempt-Date: ");
		if (rc == 0)
			rc = maildate_add(out, r->now);
		ADD("\r\n");
	}
	ADD("\r\n--%s\r\n"
	    "Content-Description: Undelivered message headers\r\n"
	    "Content-Type: text/rfc822-headers\r\n"
	    "\r\n", boundary);
	if (rc == 0)
		rc = add_headers(out, r->original != NULL ? r->original : "",
		    r->original_len);
	ADD("\r\n--%s--\r\n", boundary);
#undef ADD
#undef LINE
	return rc;
}
