/*
 * challenge: the mail capmail sends an unknown sender whose mail it holds
 * (issue "sender verification"; store/senders.h keeps the record). Pure:
 * fed the facts, it writes into a buf; no I/O.
 *
 * challenge_wanted() says whether a held message may be answered at all:
 * never the null sender, never automated mail (RFC 3834 Auto-Submitted
 * other than "no"), never bulk or list mail (Precedence: bulk, list,
 * junk; List-Id, List-Unsubscribe). Whether the sender's address is
 * authenticated (SPF, aligned DKIM) is the caller's other condition:
 * a challenge to an address that did not send the mail is backscatter.
 *
 * The challenge itself (RFC 3834 section 3): From the recipient domain's
 * postmaster, To the sender, Auto-Submitted: auto-replied, In-Reply-To
 * and References the held message's Message-ID, a plain text body with
 * the link; it is sent with the null envelope sender.
 */
#ifndef CAPMAIL_CHALLENGE_H
#define CAPMAIL_CHALLENGE_H

#include <stddef.h>
#include <time.h>

#include "buf.h"

#define CHALLENGE_MSGID_MAX 998

/* What the held message's header says (the top-level header only). */
struct challenge_facts {
	unsigned automated:1;	/* Auto-Submitted other than "no" */
	unsigned bulk:1;	/* Precedence: bulk, list or junk */
	unsigned list:1;	/* List-Id or List-Unsubscribe */
	char message_id[CHALLENGE_MSGID_MAX + 1];	/* "<...>" or "" */
};

/* Read the header of msg[0..len) (up to its blank line). Never fails:
 * an unreadable header gives what could be read. */
void challenge_facts_read(const char *msg, size_t len,
    struct challenge_facts *f);

/* 1 when a message from sender ("" = <>) with those facts may be
 * answered with a challenge, else 0. */
int challenge_wanted(const char *sender, const struct challenge_facts *f);

struct challenge_msg {
	const char *hostname;	/* Message-ID's domain */
	const char *sender;	/* To: the address asked to confirm */
	const char *recipient;	/* the local address it wrote to */
	const char *url;	/* the link */
	const char *in_reply_to;	/* "<...>" or NULL / "" */
	const char *unique;	/* for Message-ID: letters and digits */
	time_t now;
	time_t expires;
};

/* The challenge message (CRLF lines) into out. 0, CM_EINVAL (an address
 * with CR, LF or NUL, a missing field) or the buf's errors. */
int challenge_compose(const struct challenge_msg *m, struct buf *out);

#endif
