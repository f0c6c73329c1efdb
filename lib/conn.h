/*
 * conn: a TCP connection on a libuv loop, with a bounded input buffer and a
 * write queue, for protocol sessions (SMTP, IMAP, HTTP). It knows nothing
 * about any protocol. A later TLS layer sits between the socket and c->in,
 * so sessions never see the difference.
 *
 * Life cycle: listener_start() accepts connections and calls h->accepted(c)
 * for each; the session stores itself in c->data. Whenever bytes arrive,
 * h->input(c) is called; the session consumes what it can from c->in
 * (conn_line(), then conn_consume()) and returns, leaving partial input in
 * place. While a session waits for the store it calls conn_pause(); bytes
 * still arrive into c->in (up to its maximum, then reading stops) but
 * input() is not called until conn_resume(), which calls input() again if
 * anything is buffered. input() must go on consuming until it gets
 * CONN_MORE or pauses. While more than CONN_WRITE_HIGH (conn.c) bytes of
 * output wait for a peer that does not read them, conn reads no input and
 * does not call input() either, until the queue drains. conn_close()
 * flushes queued writes (for at most the idle timeout, then they are
 * dropped), then closes; h->closed(c) is then called exactly once, after
 * which c is freed by conn.
 * A session must not touch c after closed() returns.
 *
 * A session that starts asynchronous work (store_run) takes a reference
 * with conn_hold() and drops it with conn_release() in the callback; while
 * references are held, closed() is deferred, so the callback may still use
 * c and c->data — it checks conn_closing(c) and then writes nothing.
 *
 * TLS (lib/tls.h): a listener started with LISTEN_TLS does the handshake
 * at accept (implicit TLS, RFC 8314) and calls h->accepted(c) only once it
 * is done; a session offering STARTTLS writes its "go ahead" reply and
 * then calls conn_starttls(c). Either way the session reads and writes
 * plaintext as before; conn_tls(c) tells whether TLS is up.
 *
 * Every connection gets an id (8 hex digits) for log lines, and the peer's
 * address as text. An idle timeout closes the connection with reason
 * "timeout" (h->timeout(c) is called first, if set, to send a goodbye).
 */
#ifndef CAPMAIL_CONN_H
#define CAPMAIL_CONN_H

#include <stddef.h>
#include <uv.h>

#include "buf.h"

struct conn;
struct tls_conn;

struct conn_handler {
	const char *proto;			/* "smtp", "imap": for logs */
	void (*accepted)(struct conn *c);	/* set c->data; send greeting */
	void (*input)(struct conn *c);		/* c->in has new bytes */
	void (*timeout)(struct conn *c);	/* optional: say goodbye */
	void (*closed)(struct conn *c);		/* free the session */
};

struct conn {
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_loop_t *loop;
	const struct conn_handler *h;
	void *data;			/* the session */
	void *ctx;			/* the listener's ctx (daemon state) */
	struct buf in;			/* received, not yet consumed */
	char id[9];
	char peer[64];			/* "127.0.0.1:40312" */
	char peer_ip[48];		/* "127.0.0.1" */
	char local[64];			/* "127.0.0.1:25" */
	unsigned timeout_ms;
	unsigned paused:1, closing:1, reading:1, eof:1, in_input:1;
	unsigned handles_open;		/* tcp + timer not yet closed */
	unsigned refs;			/* conn_hold() references */
	void *listener;
	size_t pending_writes;		/* bytes queued, not yet written */
	struct tls_conn *tls;		/* TLS started (lib/tls.c), or NULL */
	const char *close_reason;
};

/* "1.2.3.4:25", "[::1]:143" into a socket address (daemons that bind
 * without libuv: capmail-verify). 0 or a negative uv error code. */
int conn_parse_addr(const char *s, struct sockaddr_storage *ss);

/* Listen on "host:port" ("[::1]:143" for IPv6). ctx is copied to every
 * conn's ctx. in_max bounds c->in; timeout_ms is the idle timeout.
 * Returns 0 or a negative uv error code. */
int listener_start(uv_loop_t *loop, const char *addr,
    const struct conn_handler *h, void *ctx, size_t in_max,
    unsigned timeout_ms);
/* The same with flags: LISTEN_TLS for implicit TLS (tls_available() must
 * be true, else CM_EINVAL). */
#define LISTEN_TLS 1
int listener_start_flags(uv_loop_t *loop, const char *addr,
    const struct conn_handler *h, void *ctx, size_t in_max,
    unsigned timeout_ms, unsigned flags);

/* Queue bytes (copied). Returns 0, or CM_ECLOSED when closing. */
int conn_write(struct conn *c, const void *p, size_t n);
int conn_writestr(struct conn *c, const char *s);
int conn_printf(struct conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

enum { CONN_LINE = 1, CONN_MORE = 0 };
/* Find a complete line in c->in ending in CRLF (a bare LF or CR is not a
 * line end). On CONN_LINE, *line points into c->in and *len counts the
 * line without its CRLF; the caller must conn_consume(c, *len + 2) when
 * done with it. Returns CONN_MORE when no complete line is buffered, or
 * CM_ETOOBIG when the line (or the buffered part of it) is longer than
 * max bytes. */
int conn_line(struct conn *c, const char **line, size_t *len, size_t max);
/* The same for the bytes from c->in.data + off (off <= c->in.len): to
 * handle several buffered lines, then conn_consume() them all at once. */
int conn_line_at(struct conn *c, size_t off, const char **line, size_t *len,
    size_t max);
void conn_consume(struct conn *c, size_t n);

/* Start TLS on a plaintext connection (STARTTLS, RFC 3207 / RFC 3501):
 * call it after queueing the reply that tells the client to begin (that
 * reply goes out in plaintext). Everything still buffered in c->in is
 * thrown away: bytes the client sent before the handshake must never be
 * taken as commands after it (CVE-2011-0411). The session should stop
 * reading commands from c->in for this round. Returns 0, or a negative
 * CM_E* code (no certificate: CM_EINVAL; TLS already started). */
int conn_starttls(struct conn *c);
/* Is TLS established on c? Its protocol ("TLSv1.3") and cipher, or NULL. */
int conn_tls(const struct conn *c);
const char *conn_tls_protocol(const struct conn *c);
const char *conn_tls_cipher(const struct conn *c);
/* Is the peer on a loopback address (127.0.0.0/8, ::1)? */
int conn_peer_loopback(const struct conn *c);

/* For lib/tls.c only: queue bytes for the socket as they are, and make
 * room in c->in (*p, *room: where to append). */
int conn_write_raw(struct conn *c, const void *p, size_t n);
int conn_in_room(struct conn *c, char **p, size_t *room);

void conn_hold(struct conn *c);
void conn_release(struct conn *c);
int conn_closing(const struct conn *c);

void conn_pause(struct conn *c);
void conn_resume(struct conn *c);
/* Restart the idle timer (done on every read automatically). */
void conn_touch(struct conn *c);
void conn_set_timeout(struct conn *c, unsigned timeout_ms);
/* Flush, then close. reason is logged once ("quit", "timeout", ...); it
 * must be a static string. Safe to call more than once. */
void conn_close(struct conn *c, const char *reason);

#endif
