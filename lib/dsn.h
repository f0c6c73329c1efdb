/*
 * dsn: RFC 3464 delivery status notifications (bounces) for the outbound
 * sender. Pure: fed the facts, it writes the message into a buf; no I/O.
 *
 * The bounce is a multipart/report; report-type=delivery-status with
 * three parts: a short human text, the message/delivery-status (one
 * Reporting-MTA block, then per failed recipient Final-Recipient, Action:
 * failed, Status, Remote-MTA when known, Diagnostic-Code, Last-Attempt-
 * Date) and the original message's header as text/rfc822-headers (at
 * most DSN_HEADERS_MAX bytes, cut at a line end). It is sent from
 * MAILER-DAEMON@hostname with Auto-Submitted: auto-replied; it is
 * delivered with the null envelope sender, so it is never bounced again.
 * Text from the relay is made one line of printable ASCII.
 */
#ifndef CAPMAIL_DSN_H
#define CAPMAIL_DSN_H

#include <stddef.h>
#include <time.h>

#include "buf.h"

#define DSN_HEADERS_MAX 65536
#define DSN_DIAG_MAX 700

struct dsn_rcpt {
	const char *address;
	const char *status;	/* "5.1.1" (dsn_status) */
	const char *diagnostic;	/* the relay's reply ("550 5.1.1 ..."), or
				 * why it failed; may be "" */
};

struct dsn_report {
	const char *hostname;	/* Reporting-MTA, From's domain */
	const char *relay;	/* Remote-MTA; NULL or "" when none */
	const char *to;		/* the sender told (To:) */
	const char *original;	/* the message that failed */
	size_t original_len;
	time_t arrival;		/* when it was queued */
	time_t now;
	const char *unique;	/* makes Message-ID and boundary unique */
	const struct dsn_rcpt *rcpts;
	size_t nrcpts;
};

/* Append the bounce to out. 0 or CM_EINVAL / CM_ENOMEM / CM_ETOOBIG. */
int dsn_build(const struct dsn_report *r, struct buf *out);

/* The enhanced status code for an SMTP reply: the "X.Y.Z" at the start
 * of text when it is one of the reply's class, else "C.0.0" with C the
 * class of code (5 when code is not 4xx or 5xx). out gets at most 15
 * bytes and a NUL. */
void dsn_status(int code, const char *text, char out[16]);

#endif
