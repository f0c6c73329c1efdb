/*
 * tls: server-side TLS for conn (lib/conn.c), with OpenSSL memory BIOs
 * between the libuv stream and c->in, so the event loop never blocks on
 * TLS and sessions never see the difference: they read plaintext lines
 * from c->in and write plaintext with conn_write().
 *
 * One SSL_CTX is current at a time (tls_init() builds it from the config
 * before privileges are dropped; tls_reload(), on SIGHUP, builds a new one
 * for new sessions; sessions already open keep theirs, SSL_CTX being
 * reference counted). The private key is refused when its file is group-
 * or world-readable.
 *
 * The tls_conn_* functions are conn.c's side of the layer: ciphertext read
 * from the socket is fed into the SSL object's read BIO (bounded: conn
 * stops reading the socket while TLS_BACKLOG_MAX bytes wait there),
 * decrypted into c->in as far as its maximum allows, and whatever OpenSSL
 * writes into the write BIO goes out through conn's write queue at once,
 * so the write backpressure of conn applies to ciphertext.
 */
#ifndef CAPMAIL_TLS_H
#define CAPMAIL_TLS_H

#include <stddef.h>

struct cfg;
struct conn;

/* Ciphertext waiting to be decrypted, above which conn reads no more from
 * the socket until the session consumed input. */
#define TLS_BACKLOG_MAX (64 * 1024)

/* Read tls_cert_file, tls_key_file, tls_min_version and tls_ciphers from
 * cfg and build the context. No certificate configured: TLS stays off and
 * 0 is returned. On error returns a negative CM_E* code with the reason in
 * err (errsz bytes). */
int tls_init(const struct cfg *cfg, char *err, size_t errsz);
/* Is a certificate loaded (can STARTTLS be offered)? */
int tls_available(void);
/* Load the certificate and key again (SIGHUP). On failure the old context
 * stays and an error is logged. Returns 0 or a negative CM_E* code. */
int tls_reload(void);
/* Free the current context (at exit). */
void tls_cleanup(void);

/* ---- conn.c's side ---- */

/* Attach a server TLS session to c (c->tls). implicit: the listener is
 * implicit TLS, and h->accepted(c) is called when the handshake is done.
 * Returns 0 or a negative CM_E* code. */
int tls_conn_new(struct conn *c, int implicit);
void tls_conn_free(struct conn *c);
/* The buffer the next socket read goes to. */
void tls_conn_rbuf(struct conn *c, char **p, size_t *n);
/* n bytes of ciphertext were read into the buffer. */
void tls_conn_feed(struct conn *c, size_t n);
/* Bytes of ciphertext waiting for decryption. */
size_t tls_conn_backlog(const struct conn *c);
/* Is anything left that a pump could turn into plaintext? */
int tls_conn_more(const struct conn *c);
/* Go on with the handshake, then decrypt into c->in while it has room.
 * Sets c->eof on the peer's close_notify. On a TLS error logs it once,
 * closes c and returns CM_EIO. */
int tls_conn_pump(struct conn *c);
/* Encrypt and queue plaintext (kept until the handshake is done if it is
 * not yet). Returns 0 or a negative CM_E* code. */
int tls_conn_write(struct conn *c, const void *p, size_t n);
/* Send close_notify (before conn closes). */
void tls_conn_shutdown(struct conn *c);
/* The negotiated protocol ("TLSv1.3") and cipher, or NULL. */
const char *tls_conn_protocol(const struct conn *c);
const char *tls_conn_cipher(const struct conn *c);
int tls_conn_established(const struct conn *c);

#endif
