/*
 * smtp-received: the Received trace header the gateway prepends to every
 * message (RFC 5321 4.4), built by a pure function:
 *
 *   Received: from HELO ([IP]) by HOSTNAME (capmail) with ESMTP id MSGID
 *   	for <rcpt>; Thu, 03 Dec 2026 19:08:35 +0000
 *
 * There is no reverse DNS lookup, so the TCP-info is the bare address
 * literal. "for <rcpt>" is added only with exactly one recipient (never
 * disclose the other recipients). The header is folded (CRLF TAB) between
 * words so that no line reaches 78 columns (a TAB counted as 8), unless a
 * single word is longer; it ends with CRLF. The caller passes a HELO that
 * smtp_check_helo() accepted, so no header can be injected through it.
 */
#ifndef CAPMAIL_SMTP_RECEIVED_H
#define CAPMAIL_SMTP_RECEIVED_H

#include <time.h>

#include "buf.h"

struct smtp_received {
	const char *helo;
	const char *ip;		/* "192.0.2.1", "::1" */
	const char *hostname;
	const char *proto;	/* from smtp_received_proto() */
	const char *id;
	const char *rcpt;	/* NULL unless exactly one recipient */
	time_t when;
};

/* The "with" keyword (RFC 3848, RFC 6531): SMTP, ESMTP, ESMTPS, ESMTPA,
 * ESMTPSA, UTF8SMTP, UTF8SMTPS, UTF8SMTPA, UTF8SMTPSA. */
const char *smtp_received_proto(int ehlo, int tls, int auth, int utf8);

/* Append the header to out. Returns 0 or CM_ENOMEM / CM_ETOOBIG. */
int smtp_received(struct buf *out, const struct smtp_received *r);

#endif
