/*
 * tls: server-side TLS over memory BIOs for conn. See tls.h.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "buf.h"
#include "cfg.h"
#include "conn.h"
#include "errors.h"
#include "log.h"
#include "tls.h"

/* One socket read: a TLS record is at most 16 KB plus its overhead. */
#define TLS_READ_CHUNK (17 * 1024)
/* Plaintext a session may write before the handshake is done (a goodbye
 * on timeout): not more. */
#define TLS_EARLY_MAX 4096

struct tls_conn {
	SSL *ssl;
	BIO *rbio;		/* socket -> SSL (we write, SSL reads) */
	BIO *wbio;		/* SSL -> socket (SSL writes, we read) */
	struct buf early;	/* plaintext written before the handshake */
	unsigned implicit:1, done:1, failed:1, shut:1;
	char rbuf[TLS_READ_CHUNK];
};

static SSL_CTX *current;
static char *cert_path, *key_path, *min_version, *ciphers;

/* The first queued OpenSSL error as text (the queue is emptied). */
static const char *
ssl_errtext(char *out, size_t outsz)
{
	unsigned long e = ERR_get_error();

	if (e == 0)
		snprintf(out, outsz, "unknown");
	else
		ERR_error_string_n(e, out, outsz);
	ERR_clear_error();
	return out;
}

static char *
name_text(const X509_NAME *n, char *out, size_t outsz)
{
	if (X509_NAME_oneline(n, out, (int)outsz) == NULL)
		snprintf(out, outsz, "?");
	return out;
}

static void
log_cert(SSL_CTX *ctx, const char *what)
{
	X509 *x = SSL_CTX_get0_certificate(ctx);
	char subj[256], serial[128] = "?";
	BIGNUM *bn;

	if (x == NULL)
		return;
	if ((bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL)) !=
	    NULL) {
		char *hex = BN_bn2hex(bn);
		if (hex != NULL) {
			snprintf(serial, sizeof serial, "%s", hex);
			OPENSSL_free(hex);
		}
		BN_free(bn);
	}
	log_info(NULL, "tls %s certificate=%s subject=%s serial=%s", what,
	    cert_path, name_text(X509_get_subject_name(x), subj, sizeof subj),
	    serial);
}

/* Read the private key, refusing a file others may read. */
static EVP_PKEY *
read_key(const char *path, char *err, size_t errsz)
{
	struct stat st;
	EVP_PKEY *k;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errsz, "tls_key_file %s: %s", path,
		    strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &st) < 0) {
		snprintf(err, errsz, "tls_key_file %s: %s", path,
		    strerror(errno));
		fclose(f);
		return NULL;
	}
	if (st.st_mode & (S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH)) {
		snprintf(err, errsz, "tls_key_file %s: mode %04o lets group "
		    "or others read it; chmod 600 it", path,
		    (unsigned)(st.st_mode & 07777));
		fclose(f);
		return NULL;
	}
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (k == NULL) {
		char e[256];
		snprintf(err, errsz, "tls_key_file %s: %s", path,
		    ssl_errtext(e, sizeof e));
	}
	return k;
}

static SSL_CTX *
ctx_build(char *err, size_t errsz)
{
	SSL_CTX *ctx;
	EVP_PKEY *key;
	char e[256];
	int minv = strcmp(min_version, "TLSv1.3") == 0 ? TLS1_3_VERSION :
	    TLS1_2_VERSION;

	ERR_clear_error();
	if ((key = read_key(key_path, err, errsz)) == NULL)
		return NULL;
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		snprintf(err, errsz, "SSL_CTX_new: %s", ssl_errtext(e,
		    sizeof e));
		EVP_PKEY_free(key);
		return NULL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_TICKET);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_set_min_proto_version(ctx, minv) != 1) {
		snprintf(err, errsz, "tls_min_version %s: %s", min_version,
		    ssl_errtext(e, sizeof e));
		goto fail;
	}
	if (SSL_CTX_set_cipher_list(ctx, ciphers) != 1) {
		snprintf(err, errsz, "tls_ciphers '%s': %s", ciphers,
		    ssl_errtext(e, sizeof e));
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_path) != 1) {
		snprintf(err, errsz, "tls_cert_file %s: %s", cert_path,
		    ssl_errtext(e, sizeof e));
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey(ctx, key) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errsz, "tls_key_file %s does not match "
		    "tls_cert_file %s: %s", key_path, cert_path,
		    ssl_errtext(e, sizeof e));
		goto fail;
	}
	EVP_PKEY_free(key);
	return ctx;
fail:
	EVP_PKEY_free(key);
	SSL_CTX_free(ctx);
	return NULL;
}

int
tls_init(const struct cfg *cfg, char *err, size_t errsz)
{
	const char *cert = cfg_str(cfg, "tls_cert_file");
	const char *key = cfg_str(cfg, "tls_key_file");

	tls_cleanup();
	if (*cert == '\0' && *key == '\0')
		return 0;
	if (*cert == '\0' || *key == '\0') {
		snprintf(err, errsz, "tls_cert_file and tls_key_file go "
		    "together: set both or neither");
		return CM_ECONFIG;
	}
	if ((cert_path = strdup(cert)) == NULL ||
	    (key_path = strdup(key)) == NULL ||
	    (min_version = strdup(cfg_str(cfg, "tls_min_version"))) == NULL ||
	    (ciphers = strdup(cfg_str(cfg, "tls_ciphers"))) == NULL) {
		tls_cleanup();
		snprintf(err, errsz, "out of memory");
		return CM_ENOMEM;
	}
	if ((current = ctx_build(err, errsz)) == NULL) {
		tls_cleanup();
		return CM_ECONFIG;
	}
	log_cert(current, "loaded");
	return 0;
}

int
tls_available(void)
{
	return current != NULL;
}

int
tls_reload(void)
{
	char err[512];
	SSL_CTX *ctx;

	if (current == NULL) {
		log_info(NULL, "tls reload: no certificate configured");
		return 0;
	}
	if ((ctx = ctx_build(err, sizeof err)) == NULL) {
		log_error(NULL, "tls reload failed, keeping the old "
		    "certificate: %s", err);
		return CM_ECONFIG;
	}
	/* sessions holding the old context keep it until they end */
	SSL_CTX_free(current);
	current = ctx;
	log_cert(current, "reloaded");
	return 0;
}

void
tls_cleanup(void)
{
	SSL_CTX_free(current);
	current = NULL;
	free(cert_path);
	free(key_path);
	free(min_version);
	free(ciphers);
	cert_path = key_path = min_version = ciphers = NULL;
}

/* ---- one connection ---- */

int
tls_conn_new(struct conn *c, int implicit)
{
	struct tls_conn *t;

	if (current == NULL)
		return CM_EINVAL;
	if (c->tls != NULL)
		return CM_EINVAL;
	if ((t = calloc(1, sizeof *t)) == NULL)
		return CM_ENOMEM;
	buf_init(&t->early, TLS_EARLY_MAX);
	t->implicit = implicit ? 1 : 0;
	if ((t->ssl = SSL_new(current)) == NULL ||
	    (t->rbio = BIO_new(BIO_s_mem())) == NULL ||
	    (t->wbio = BIO_new(BIO_s_mem())) == NULL) {
		BIO_free(t->rbio);
		BIO_free(t->wbio);
		SSL_free(t->ssl);
		free(t);
		ERR_clear_error();
		return CM_ENOMEM;
	}
	/* an empty read BIO means "try again", not end of file */
	BIO_set_mem_eof_return(t->rbio, -1);
	BIO_set_mem_eof_return(t->wbio, -1);
	SSL_set_bio(t->ssl, t->rbio, t->wbio);	/* SSL owns them now */
	SSL_set_accept_state(t->ssl);
	c->tls = t;
	return 0;
}

void
tls_conn_free(struct conn *c)
{
	struct tls_conn *t = c->tls;

	if (t == NULL)
		return;
	SSL_free(t->ssl);
	buf_free(&t->early);
	free(t);
	c->tls = NULL;
}

void
tls_conn_rbuf(struct conn *c, char **p, size_t *n)
{
	*p = c->tls->rbuf;
	*n = sizeof c->tls->rbuf;
}

void
tls_conn_feed(struct conn *c, size_t n)
{
	struct tls_conn *t = c->tls;

	/* a memory BIO takes everything (it grows); conn bounds what waits
	 * there with tls_conn_backlog() */
	if (n > 0 && BIO_write(t->rbio, t->rbuf, (int)n) != (int)n)
		t->failed = 1;
}

size_t
tls_conn_backlog(const struct conn *c)
{
	return c->tls != NULL ? BIO_ctrl_pending(c->tls->rbio) : 0;
}

int
tls_conn_more(const struct conn *c)
{
	const struct tls_conn *t = c->tls;

	return t != NULL && !t->failed && (BIO_ctrl_pending(t->rbio) > 0 ||
	    SSL_pending(t->ssl) > 0);
}

/* Queue what OpenSSL wrote for the socket. */
static int
flush_out(struct conn *c)
{
	struct tls_conn *t = c->tls;
	char chunk[16384];
	int n, rc;

	while (BIO_ctrl_pending(t->wbio) > 0) {
		if ((n = BIO_read(t->wbio, chunk, sizeof chunk)) <= 0)
			break;
		if ((rc = conn_write_raw(c, chunk, (size_t)n)) < 0)
			return rc;
	}
	return 0;
}

static int
tls_fail(struct conn *c, const char *what, int sslerr)
{
	struct tls_conn *t = c->tls;
	char e[256];

	if (sslerr == SSL_ERROR_SSL)
		ssl_errtext(e, sizeof e);
	else {
		snprintf(e, sizeof e, "ssl error %d", sslerr);
		ERR_clear_error();
	}
	t->failed = 1;
	log_info(c->id, "%s tls %s failed error=%s", c->h->proto, what, e);
	(void)flush_out(c);	/* the alert, if OpenSSL made one */
	conn_close(c, "tls error");
	return CM_EIO;
}

static int
handshake(struct conn *c)
{
	struct tls_conn *t = c->tls;
	int r, e;

	ERR_clear_error();
	r = SSL_do_handshake(t->ssl);
	if (r != 1) {
		e = SSL_get_error(t->ssl, r);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			if (flush_out(c) < 0)
				return CM_ECLOSED;
			return 0;
		}
		return tls_fail(c, "handshake", e);
	}
	if (flush_out(c) < 0)
		return CM_ECLOSED;
	t->done = 1;
	log_info(c->id, "%s tls established protocol=%s cipher=%s",
	    c->h->proto, SSL_get_version(t->ssl), SSL_get_cipher_name(t->ssl));
	if (t->early.len > 0) {
		struct buf early = t->early;
		buf_init(&t->early, TLS_EARLY_MAX);
		r = tls_conn_write(c, early.data, early.len);
		buf_free(&early);
		if (r < 0)
			return r;
	}
	if (t->implicit && !c->closing)
		c->h->accepted(c);
	return 0;
}

int
tls_conn_pump(struct conn *c)
{
	struct tls_conn *t = c->tls;
	char *p;
	size_t room;
	int n, e, rc;

	if (t->failed) {
		if (!c->closing) {
			log_info(c->id, "%s tls failed error=buffer",
			    c->h->proto);
			conn_close(c, "tls error");
		}
		return CM_EIO;
	}
	if (!t->done) {
		if ((rc = handshake(c)) < 0)
			return rc;
		if (!t->done || c->closing)
			return 0;
	}
	while (!c->eof && conn_in_room(c, &p, &room) == 0 && room > 0) {
		ERR_clear_error();
		n = SSL_read(t->ssl, p, room > INT32_MAX ? INT32_MAX :
		    (int)room);
		if (n > 0) {
			c->in.len += (size_t)n;
			c->in.data[c->in.len] = '\0';
			continue;
		}
		e = SSL_get_error(t->ssl, n);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
			break;
		if (e == SSL_ERROR_ZERO_RETURN) {
			/* close_notify: the peer sends no more */
			c->eof = 1;
			break;
		}
		return tls_fail(c, "read", e);
	}
	if (flush_out(c) < 0)
		return CM_ECLOSED;
	return 0;
}

int
tls_conn_write(struct conn *c, const void *p, size_t n)
{
	struct tls_conn *t = c->tls;
	const char *s = p;
	int w, e;

	if (t->failed || t->shut)
		return CM_ECLOSED;
	if (!t->done)
		return buf_add(&t->early, p, n);
	while (n > 0) {
		int chunk = n > 65536 ? 65536 : (int)n;
		ERR_clear_error();
		w = SSL_write(t->ssl, s, chunk);
		if (w <= 0) {
			e = SSL_get_error(t->ssl, w);
			tls_fail(c, "write", e);
			return CM_ECLOSED;
		}
		s += w;
		n -= (size_t)w;
		/* queue each piece: the memory BIO holds one at a time */
		if (flush_out(c) < 0)
			return CM_ECLOSED;
	}
	return 0;
}

void
tls_conn_shutdown(struct conn *c)
{
	struct tls_conn *t = c->tls;

	if (t == NULL || !t->done || t->failed || t->shut)
		return;
	t->shut = 1;
	ERR_clear_error();
	(void)SSL_shutdown(t->ssl);
	ERR_clear_error();
	(void)flush_out(c);
}

int
tls_conn_established(const struct conn *c)
{
	return c->tls != NULL && c->tls->done && !c->tls->failed;
}

const char *
tls_conn_protocol(const struct conn *c)
{
	return tls_conn_established(c) ? SSL_get_version(c->tls->ssl) : NULL;
}

const char *
tls_conn_cipher(const struct conn *c)
{
	return tls_conn_established(c) ? SSL_get_cipher_name(c->tls->ssl) :
	    NULL;
}
