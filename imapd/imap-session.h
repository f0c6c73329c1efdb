/*
 * imap-session: one IMAP connection's state machine (RFC 3501 3:
 * not authenticated -> authenticated <-> selected -> logout) and the
 * machinery every command uses:
 *
 *  - input: bytes from conn go to the pure parser (imap-parser.h); a
 *    complete command goes to imap_command_dispatch() (imap-commands.c);
 *    the parser's arguments stay valid until the command finishes.
 *  - jobs: a command that needs the database fills a struct imap_job and
 *    calls imap_job_start(). The session pauses its input and holds the
 *    conn; work() runs on the store's thread pool (it may touch only the
 *    job and db), then reply() runs on the loop and writes the untagged
 *    responses; then, when the job asked for it, the selected mailbox is
 *    polled (in the same worker call) and the changes are announced (EXISTS,
 *    EXPUNGE when allowed, FETCH FLAGS, FLAGS for new keywords), and the
 *    tagged line goes out. work() may set j->again to be run once more
 *    after reply() (FETCH in batches); the poll waits for the last
 *    round. Output that work() renders into j->out is written before
 *    reply() runs.
 *  - the selected mailbox's view: uid and flags per sequence number, as
 *    this client knows them. It changes only where the client is told.
 *  - \Recent (RFC 3501 2.3.2): a per-message mark in the view, never
 *    stored. SELECT and every poll after it learn which of the uids the
 *    session has just seen are recent for it (store_mailbox_recent(),
 *    claiming them when the mailbox is selected read-write, so exactly one
 *    session gets each message; EXAMINE only looks). FLAGS lists \Recent
 *    for those messages, SEARCH RECENT/NEW/OLD use it, and the poll sends
 *    "* n RECENT" when the count grows.
 *
 *  - IDLE (imap-idle.h): while s->idle is set, input is read as lines
 *    for imap_idle_line() ("DONE"), not as commands; the polls are jobs
 *    with an empty tag.
 *
 * imap_session_set_state() is the only place the state changes; it logs
 * old -> new.
 */
#ifndef CAPMAIL_IMAP_SESSION_H
#define CAPMAIL_IMAP_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "conn.h"
#include "imap-parser.h"
#include "imapd.h"
#include "store-imap.h"

enum imap_state {
	IMAP_STATE_NOAUTH,
	IMAP_STATE_AUTH,
	IMAP_STATE_SELECTED,
	IMAP_STATE_LOGOUT,
};

struct imap_view_msg {
	uint32_t uid;
	char *flags;			/* as stored: never \Recent */
	int recent;			/* \Recent in this session */
};

struct imap_session {
	struct conn *c;
	struct imapd *d;
	struct imap_session *prev, *next;	/* d->sessions */
	enum imap_state state;
	struct imap_parser *parser;
	struct imap_job *job;		/* in flight, or NULL */
	int bad_commands;
	int auth_failures;
	int auth_cont;			/* waiting for an AUTHENTICATE line */
	char auth_tag[64];
	struct imap_idle *idle;		/* IDLE in progress (imap-idle.h) */

	int64_t user_id;
	char user[256];

	/* selected mailbox */
	int64_t mbox_id;
	char *mbox_name;
	int readonly;
	uint32_t uidvalidity;
	struct imap_view_msg *msgs;
	size_t nmsgs, capmsgs;
	size_t nrecent;			/* msgs with recent set */
	uint32_t recent_known;		/* recency of uids below is known */
	char *keywords;			/* " $A $B": in the last FLAGS sent */
	int keywords_changed;		/* send FLAGS again */
};

#define IMAP_SYSTEM_FLAGS "\\Answered \\Flagged \\Deleted \\Seen \\Draft"
#define IMAP_MAX_KEYWORDS_LEN 16384

struct imap_job;
typedef int imap_work_fn(struct store_conn *db, struct imap_job *j);
typedef void imap_reply_fn(struct imap_session *s, struct imap_job *j,
    int rc);

struct imap_job {
	struct imap_session *s;
	char tag[64];
	imap_work_fn *work;		/* may be NULL (poll only) */
	imap_reply_fn *reply;		/* writes untagged output and sets
					 * j->tagged */
	void (*free)(struct imap_job *j);	/* frees the whole job */
	int64_t user_id, mbox_id;
	int refresh;			/* poll the selected mailbox after */
	int allow_expunge;		/* EXPUNGE responses allowed */
	int again;			/* set by work: run again */
	int recent_claim;		/* read-write: claim \Recent */
	uint32_t recent_known;		/* the session's recent_known */
	uint32_t recent_first, recent_bound;	/* learned: [first, bound)
						 * recent; bound 0: nothing */
	struct buf out;			/* work's rendered responses */
	char tagged[4096];		/* "OK FETCH completed" */

	/* the poll's result */
	struct store_entry *view;
	size_t nview;
	uint32_t view_uidnext;
	int view_rc;
};

/* conn_handler callbacks (main.c registers them). */
extern const struct conn_handler imap_conn_handler;

void imap_session_set_state(struct imap_session *s, enum imap_state st);
/* May the session LOGIN / AUTHENTICATE: TLS is up, or the peer is on
 * loopback and auth_plaintext_loopback allows plaintext? */
int imap_login_allowed(const struct imap_session *s);
/* The CAPABILITY list for s in its state (buf of IMAP_CAPABILITIES_MAX). */
const char *imap_capabilities(const struct imap_session *s, char *buf,
    size_t bufsz);
/* Forget the selected mailbox (state goes to AUTH). */
void imap_session_unselect(struct imap_session *s);

/* Prepare j (zeroes the common part; out gets a bound of max_out bytes)
 * for session s and command tag. An empty tag makes a poll that sends
 * no tagged line (IDLE). */
void imap_job_init(struct imap_job *j, struct imap_session *s,
    const char *tag, size_t max_out);
/* Start it. On failure (store_run refused) the tagged NO is sent and
 * j->free() called. */
void imap_job_start(struct imap_session *s, struct imap_job *j);
/* Set the tagged text ("OK ...", "NO ...", "BAD ..."). */
void imap_job_tagged(struct imap_job *j, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Map a store error to a tagged NO for j. */
void imap_job_store_error(struct imap_job *j, int rc, const char *what);

/* Write a whole response line (CRLF added). */
void imap_send(struct imap_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Resolve a sequence set (or a UID set when uid) against the view:
 * *seqs_r / *uids_r (malloc'd, *n_r each; NULL when n is 0) in ascending
 * order. Returns 0; CM_EPARSE for bad syntax; CM_EINVAL for a sequence
 * number beyond the mailbox. */
int imap_session_resolve(struct imap_session *s, const char *set,
    size_t len, int uid, uint32_t **seqs_r, uint32_t **uids_r,
    size_t *n_r);

/* Replace the view's flags for uid (by binary search). */
void imap_session_set_flags(struct imap_session *s, uint32_t uid,
    const char *flags);
/* Is uid \Recent in this session (0 when not in the view)? */
int imap_session_recent(const struct imap_session *s, uint32_t uid);

/* Worker side (in work()): learn which uids of the entries e (n, by uid;
 * uidnext from the same listing) are recent for j's session, claiming
 * them when j->recent_claim. Sets j->recent_first/recent_bound; skips
 * the store when nothing past j->recent_known was seen. */
int imap_job_learn_recent(struct store_conn *db, struct imap_job *j,
    const struct store_entry *e, size_t n, uint32_t uidnext);
/* Loop side: mark what j learned in the view (call after the view holds
 * the entries). */
void imap_session_apply_recent(struct imap_session *s,
    const struct imap_job *j);

/* Server shutdown: every session is told "* BYE" and closed (a command in
 * flight is not answered: PostgreSQL commits or rolls it back whole), new
 * connections are greeted with BYE. uv_stop() is called on d->loop once
 * the last session has gone. */
void imapd_shutdown(struct imapd *d);

#endif
