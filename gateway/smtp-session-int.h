/*
 * smtp-session-int.h: the session's insides, shared by the files that
 * implement its commands (smtp-session.c, smtp-auth.c). Nothing outside
 * gateway/ includes it.
 */
#ifndef CAPMAIL_SMTP_SESSION_INT_H
#define CAPMAIL_SMTP_SESSION_INT_H

#include <stdint.h>

#include "authres.h"
#include "buf.h"
#include "sasl.h"
#include "conn.h"
#include "smtp-data.h"
#include "smtp-parse.h"
#include "smtp-session.h"
#include "senders.h"
#include "store.h"

enum smtp_state {
	SMTP_CONNECTED,		/* greeting sent, no HELO/EHLO yet */
	SMTP_HELO,		/* HELO/EHLO seen, no transaction */
	SMTP_MAIL,		/* MAIL accepted, no recipient yet */
	SMTP_RCPT,		/* at least one recipient accepted */
	SMTP_RCPT_LOOKUP,	/* the store checks a recipient */
	SMTP_BODY,		/* reading the DATA body */
	SMTP_BDAT,		/* reading (or discarding) a BDAT chunk */
	SMTP_DELIVER,		/* the store commits the message */
	SMTP_AUTH,		/* AUTH: waiting for a SASL response line */
	SMTP_AUTH_CHECK,	/* AUTH: the delay or the password check */
	SMTP_QUIT,		/* closing: input is ignored */
	SMTP_NSTATES
};

#define ST(x) (1u << (x))

enum smtp_fact {
	SF_HELO = 1 << 0,	/* HELO or EHLO accepted */
	SF_EHLO = 1 << 1,	/* ... and it was EHLO */
	SF_TLS = 1 << 2,	/* TLS: STARTTLS given, or implicit TLS */
	SF_AUTH = 1 << 3,	/* AUTH succeeded: auth_user, auth_id */
	SF_SKIPLINE = 1 << 4,	/* discarding the rest of a too long line */
	SF_TLSSTART = 1 << 5,	/* STARTTLS just answered: c->in was reset */
};

struct smtp_tx {
	char id[17];			/* our message id, 16 hex digits */
	char from[SMTP_ADDR_SIZE];	/* "" for <> */
	unsigned utf8:1;		/* SMTPUTF8 */
	unsigned rcpt_tried:1;		/* a RCPT was answered */
	unsigned chunking:1;		/* BDAT used: no DATA, no RCPT */
	unsigned long long size;	/* SIZE=, 0 if not given */
	int64_t *rcpts;			/* max_recipients slots */
	unsigned char *held;		/* max_recipients slots: 1 = that
					 * recipient's grant is held */
	size_t nrcpts;
	size_t nheld;
	size_t naccepted;		/* RCPTs answered 250, duplicates
					 * too: what the limit counts */
	char first_rcpt[SMTP_ADDR_SIZE];
	char first_held[SMTP_ADDR_SIZE];	/* named in the challenge */
	/* submission: external recipients, queued with the message */
	char (*ext)[SMTP_ADDR_SIZE];	/* max_recipients slots, lazily */
	const char **extp;		/* pointers into ext, for the store */
	size_t next;
	struct buf msg;			/* Received + message */
	struct smtp_data data;
};

struct smtp_lookup {
	char addr[SMTP_ADDR_SIZE];
	char domain[SMTP_MAX_DOMAIN + 1];
	const char *hostname;
	const char *from;		/* MAIL FROM, "" for <> */
	unsigned postmaster:1;
	unsigned policy:1;		/* apply the sender policy */
	unsigned relay:1;		/* out: domain not local */
	int64_t id;			/* out */
	enum store_sender_verdict verdict;	/* out, when policy */
};

struct smtp_session {
	struct conn *c;
	struct gateway *gw;
	enum smtp_state state;
	unsigned facts;
	unsigned errors;
	char helo[SMTP_MAX_DOMAIN + 1];
	struct smtp_tx tx;
	struct smtp_path path;		/* MAIL/RCPT parsed by the check */
	struct smtp_session *next, *prev;	/* gw->sessions */
	struct smtp_lookup lookup;	/* RCPT request to the store */
	struct store_delivery deliv;	/* DATA request to the store */
	struct {			/* out of smtp_after_delivery */
		int rc;			/* the first error, or 0 */
		unsigned challenged:1;	/* a challenge was queued */
		const char *why;	/* held and not challenged: why */
	} verify;
	/* the BDAT chunk being read */
	unsigned long long chunk_left;
	unsigned chunk_size_last:1;	/* BDAT ... LAST */
	const char *chunk_error;	/* reply after discarding the chunk */
	unsigned long long chunk_size;
	/* AUTH (smtp-auth.c) */
	unsigned submission:1;		/* accepted on submission_listen */
	struct sasl sasl;		/* the exchange; wiped after it */
	int64_t auth_id;		/* out of the password check */
	char auth_user[SASL_USER_MAX + 1];	/* once SF_AUTH */
	/* SPF/DKIM/DMARC of the last message (smtp_listen only; zero, all
	 * "none", on submission or with auth_checks = no): computed on a
	 * worker thread between the end of DATA and the store request, kept
	 * after delivery for the sender verification that follows it */
	struct authres auth;
	unsigned auth_checked:1;	/* auth holds a real check's result */
	char auth_summary[64];		/* authres_summary(), for the grants */
	uv_work_t auth_work;
	struct smtp_session *auth_next;	/* waiting for a check slot */
};

struct smtp_cmd {
	const char *verb;
	unsigned states;	/* states where the command is in sequence */
	const char *seq_reply;	/* reply when it is not */
	/* Check syntax (and finer sequence rules); on failure reply and
	 * return -1, changing nothing else. */
	int (*check)(struct smtp_session *s, const struct smtp_line *l);
	void (*proceed)(struct smtp_session *s, const struct smtp_line *l);
};

void smtp_set_state(struct smtp_session *s, enum smtp_state st);
/* The state with no transaction: HELO once greeted, else CONNECTED. */
enum smtp_state smtp_idle_state(const struct smtp_session *s);
/* Send one reply line (CRLF added); class 4 and 5 count as errors. */
void smtp_reply(struct smtp_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void smtp_tx_reset(struct smtp_session *s);
/* A store request ended and its reply is written: drop the reference
 * and read on (see smtp-session.c). */
void smtp_store_finished(struct smtp_session *s);

/* ---- after a delivery (smtp-verify.c) ---- */
/* On the store's thread, once the message is committed: learn the
 * submission's recipients, or challenge the sender of held mail. Results
 * and errors go to s->verify. */
void smtp_after_delivery(struct store_conn *db, struct smtp_session *s);

/* ---- AUTH (smtp-auth.c) ---- */
/* AUTH may be offered and used: the connection is TLS, or plaintext auth
 * is allowed on loopback (auth_plaintext_loopback) and the peer is
 * loopback. */
int smtp_auth_allowed(const struct smtp_session *s);
int smtp_auth_check(struct smtp_session *s, const struct smtp_line *l);
void smtp_auth_proceed(struct smtp_session *s, const struct smtp_line *l);
/* A client line while in state SMTP_AUTH. */
void smtp_auth_line(struct smtp_session *s, const char *line, size_t len);
/* The exchange ends without an answer of its own (a too long line). */
void smtp_auth_abort(struct smtp_session *s);

#endif
