/*
 * smtp-session: one SMTP server session (RFC 5321) on a struct conn.
 *
 * The session is an explicit state machine (enum smtp_state below; the
 * only place the state changes is smtp_set_state() in smtp-session.c,
 * which logs "old -> new" at debug level), plus a bitmask of facts that
 * hold for the session whatever its state (EHLO used, TLS, authenticated).
 * Commands come from one table whose entries split checking (sequence and
 * syntax; on failure the check replies and nothing else changes) from
 * proceeding (OpenSMTPD smtp_session.c style).
 *
 * Recipients are checked at RCPT and the message stored after DATA through
 * store_run(); while the store works the session is in a waiting state
 * with its input paused, so pipelined commands are answered in order. A
 * message is acknowledged (250) only after store_deliver() committed it;
 * a store failure answers 451 4.3.0 and forgets the transaction.
 *
 * Extensions: PIPELINING, SIZE, 8BITMIME, ENHANCEDSTATUSCODES, SMTPUTF8,
 * CHUNKING (BDAT), STARTTLS (RFC 3207: offered when a certificate is
 * loaded and TLS is not up yet; after it the session forgets everything,
 * as before EHLO, and nothing the client pipelined behind STARTTLS is
 * read), AUTH PLAIN and LOGIN (RFC 4954, smtp-auth.c).
 *
 * struct gateway is the daemon's state, shared by every session (the
 * listener's ctx); main.c fills it in.
 */
#ifndef CAPMAIL_SMTP_SESSION_H
#define CAPMAIL_SMTP_SESSION_H

#include <stddef.h>
#include <uv.h>

#include "conn.h"
#include "store.h"

/* Room for the Received header in the message buffer, beyond the limit. */
#define SMTP_RECEIVED_MAX 2048
/* ... and for all of capmail's trace headers: Received and
 * Authentication-Results (lib/authres.h AUTHRES_HEADER_MAX). */
#define SMTP_TRACE_MAX (SMTP_RECEIVED_MAX + 2048)

struct smtp_session;

struct gateway {
	uv_loop_t *loop;
	struct store *store;
	const char *hostname;
	size_t max_message_size;	/* smtp_max_message_size */
	size_t max_recipients;		/* smtp_max_recipients */
	unsigned max_errors;		/* smtp_max_errors */
	unsigned max_sessions;		/* smtp_max_sessions */
	size_t max_line;		/* smtp_max_line */
	int tls;			/* a certificate is loaded */
	int auth_plaintext_loopback;	/* auth_plaintext_loopback */
	struct authlimit *authlimit;	/* failed AUTH throttling */
	struct authres_ctx *authres;	/* SPF/DKIM/DMARC; NULL with
					 * auth_checks = no */
	int relay;			/* relay_host set: submission queues
					 * external recipients */
	/* sender verification: held mail is challenged only with a key and
	 * a relay_host to send the challenge through */
	struct captoken_key *challenge_key;	/* NULL: no challenges */
	const char *verify_url_base;
	long held_max_age;		/* held_max_age: the link's life */
	unsigned pending;		/* store requests in flight */
	/* SPF/DKIM/DMARC checks on libuv's pool: at most GATEWAY_AUTH_MAX
	 * at once, the others wait in line (see main.c: the pool has a
	 * thread for each of them besides the store's) */
	unsigned auth_running;
	struct smtp_session *auth_wait_head, *auth_wait_tail;
	int stopping;			/* stop when nothing is left */
	struct smtp_session *sessions;	/* every open session */
	unsigned nsessions;
};

struct authlimit;
struct captoken_key;
struct authres_ctx;

/* smtp_handler serves smtp_listen (the MX: no relaying, AUTH changes
 * nothing but the Received header); smtp_submission_handler serves
 * submission_listen (RFC 6409: AUTH required before MAIL, the sender
 * must be the user's own address, grants record 'local-auth', external
 * recipients are queued with the message when relay_host is set). */
extern const struct conn_handler smtp_handler;
extern const struct conn_handler smtp_submission_handler;

/* The gateway was asked to stop: every session says "421 4.3.2" and
 * closes - a session waiting for the store first gives its answer, so a
 * committed message is still acknowledged - and new connections get 421.
 * The loop is stopped when no session and no store request is left. */
void gateway_stop(struct gateway *gw);

/* Auth checks run at once (each may wait seconds on DNS). */
#define GATEWAY_AUTH_MAX 4
/* A piece of store work counted in gw->pending ended: when stopping and
 * nothing is left, end the loop. */
void gateway_maybe_stop(struct gateway *gw);

#endif
