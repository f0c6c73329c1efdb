/*
 * imapd.h: the daemon's shared state (one per process), reached from
 * every session through conn->ctx.
 */
#ifndef CAPMAIL_IMAPD_H
#define CAPMAIL_IMAPD_H

#include <stddef.h>
#include <uv.h>

struct store;
struct imap_session;
struct authlimit;
struct imap_idle;
struct imap_notify;

/* d->idle[]: idling sessions by mailbox id (imap-idle.h) */
#define IMAPD_IDLE_BUCKETS 512

struct imapd {
	uv_loop_t *loop;
	struct store *store;
	struct imap_session *sessions;	/* every open session */
	int stopping;			/* shutting down: greet with BYE */
	size_t max_line;	/* imap_max_line */
	size_t max_literal;	/* imap_max_literal */
	int tls;		/* a certificate is loaded: STARTTLS */
	int plaintext_loopback;	/* auth_plaintext_loopback */
	char hostname[256];
	struct authlimit *authlimit;	/* failed login throttling */
	unsigned idle_poll_ms;	/* imap_idle_poll */
	struct imap_idle *idle[IMAPD_IDLE_BUCKETS];	/* cmd-idle.c */
	struct imap_notify *notify;	/* imap-notify.c */
};

/* After login. Before it, imap_capabilities() (imap-session.c) says what
 * the session may do: STARTTLS while TLS is available and not up,
 * LOGINDISABLED instead of AUTH=PLAIN while logging in is not allowed
 * (no TLS, and not loopback with auth_plaintext_loopback). */
#define IMAP_CAPABILITIES "IMAP4rev1 LITERAL+ SASL-IR AUTH=PLAIN UIDPLUS" \
	" ID NAMESPACE UNSELECT CHILDREN IDLE"
#define IMAP_CAPABILITIES_MAX 256

/* Bad commands before a session is dropped, failed logins likewise. */
#define IMAP_MAX_BAD_COMMANDS 20
#define IMAP_MAX_AUTH_FAILURES 3
/* Literals before login (a password, a user name): an unauthenticated
 * client cannot make the server hold imap_max_literal bytes. */
#define IMAP_MAX_LITERAL_NOAUTH 8192
/* AUTHENTICATE continuation line (base64 of user NUL user NUL password). */
#define IMAP_MAX_AUTH_LINE 8192
/* A line while idling: "DONE", or a mistake answered BAD. */
#define IMAP_MAX_IDLE_LINE 1024

#endif
