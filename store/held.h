/*
 * held.h: the recipient's view of held mail (store/held.c,
 * store/held-summary.c, schema store/sql/011-held-summaries.sql).
 *
 * Mail from an unknown sender is stored with a held grant and no mailbox
 * entry (store/senders.h). For each held grant the recipient gets a short
 * summary message in a mailbox named "Held" (created on demand): an
 * ordinary stored message (so FETCH, SEARCH and BODYSTRUCTURE need no
 * special case) with an active grant whose summary_of names the held
 * grant. It tells who sent what, when, how large, and the authentication
 * results, and never carries the held message's content.
 *
 * What the recipient does with a summary (imapd/cmd-copy.c decides which
 * IMAP command means what; the store does it):
 *   release  the sender becomes verified for the recipient, and every
 *            held grant from that sender to the recipient is released
 *            into INBOX (as store_held_release does); their summaries go
 *   block    the sender is blocked for the recipient, and every held
 *            grant from that sender to the recipient is deleted with its
 *            summary (messages and objects collected when nothing else
 *            refers to them, as store_held_expire does)
 * Held mail from the null sender has no address to trust or refuse: only
 * that one held grant is released or deleted.
 */
#ifndef CAPMAIL_STORE_HELD_H
#define CAPMAIL_STORE_HELD_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"
#include "store.h"

#define STORE_HELD_MAILBOX "Held"

/* ---- composing a summary (held-summary.c; pure, no database) ---- */

struct held_summary_in {
	const char *header;	/* the held message's top-level header */
	size_t header_len;	/* including the blank line, if any */
	size_t size;		/* the whole held message, bytes */
	const char *mail_from;	/* envelope sender, "" = <> */
	const char *rcpt;	/* recipient address "user@domain" */
	time_t now;		/* the summary's Date */
	int64_t held_grant;	/* for the summary's Message-ID */
	const char *auth_results;	/* the gateway's SPF/DKIM/DMARC
					 * summary (grants.auth_results), or
					 * NULL when not checked */
};

/* Append the summary message (RFC 5322, CRLF line ends) to out:
 *
 *   From: Held mail <MAILER-DAEMON@rcpt-domain>
 *   To: <rcpt>
 *   Subject: Held: <original subject>   ASCII kept as is (encoded words
 *                                 stay encoded), folded at blanks; 8-bit
 *                                 or control bytes: the UTF-8 text
 *                                 (invalid bytes as '?') as RFC 2047
 *                                 B encoded words
 *   Date, Message-ID <held.ID@rcpt-domain>, Auto-Submitted: auto-generated,
 *   MIME-Version, Content-Type: text/plain; charset=utf-8, 8bit
 *
 * and a body with the original From (encoded words decoded), envelope
 * sender, Subject, Date, size and the gateway's authentication results
 * ("Checked:", from auth_results: never from the message's own
 * Authentication-Results fields, which a sender can forge), each value made
 * one UTF-8 line of at most HELD_VALUE_MAX bytes, and what moving or
 * deleting the summary does. Nothing after the held message's header is
 * read. 0, or CM_ENOMEM / CM_ETOOBIG (out's limit). */
#define HELD_VALUE_MAX 400
int held_summary_compose(const struct held_summary_in *in, struct buf *out);

/* ---- in the store (held.c) ---- */

/* Inside store_deliver's transaction: the summary of held grant
 * held_grant (to rcpt) of the message d->data, as a message with an
 * active grant in rcpt's Held mailbox (created when missing). */
int store_held_summary_put_tx(struct store_conn *db,
    const struct store_delivery *d, size_t header_len, int64_t rcpt,
    int64_t held_grant);

/* Inside a transaction: remove the summaries of the held grants held_ids
 * (bigint[] text "{1,2}"): their entries (highestmodseq bumped and
 * pg_notify('capmail_mailbox', id) for each mailbox, so IMAP sessions see
 * EXPUNGE), their grants, and their messages when nothing else refers to
 * them. Release (store/challenges.c), blocking and expiry call it. */
int store_held_summaries_remove_tx(struct store_conn *db,
    const char *held_ids);

/* Inside a transaction: release held grants into their grantees' INBOX
 * (new uids, pg_notify), with their summaries removed: those from sender
 * (NULL: any) to rcpt (0: anyone) among ids (bigint[] text; NULL: any).
 * Returns the number released. */
int store_held_release_tx(struct store_conn *db, const char *sender,
    int64_t rcpt, const char *ids);

enum store_held_action {
	STORE_HELD_RELEASE,	/* into INBOX, sender verified */
	STORE_HELD_BLOCK,	/* deleted, sender blocked */
};

/* Act on the summaries among uids (ascending, distinct) in user's mailbox
 * mailbox_id, in one transaction. Entries that are not summaries are left
 * alone and come back in *rest_r (malloc'd, *nrest_r; may be NULL) for
 * the caller to copy or move as usual. With STORE_HELD_RELEASE, src_r/
 * dst_r (malloc'd, *n_r) pair each summary's uid with the INBOX uid its
 * held message got, *uidvalidity_r is INBOX's. CM_EPERM (nothing done)
 * when one of uids is not visible any more. */
int store_held_act(struct store_conn *db, int64_t user, int64_t mailbox_id,
    const uint32_t *uids, size_t nuids, enum store_held_action action,
    uint32_t *uidvalidity_r, uint32_t **src_r, uint32_t **dst_r,
    size_t *n_r, uint32_t **rest_r, size_t *nrest_r);

/* Inside a transaction: the summary grants sgrants ("{1,2}", bigint[]
 * text) of user were removed from their mailbox (EXPUNGE, MOVE): block
 * their senders (STORE_HELD_BLOCK). store_entries_expunge and
 * store_entries_move call it, so expunging a summary, however the client
 * does it, refuses the sender. Returns the number of held grants
 * deleted. */
int store_held_block_tx(struct store_conn *db, int64_t user,
    const char *sgrants);

#endif
