/*
 * conn: TCP connections on a libuv loop for protocol sessions. See conn.h.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "conn.h"
#include "errors.h"
#include "log.h"
#include "tls.h"

#define CONN_READ_CHUNK 65536
/* Replies queued and not yet taken by the peer, above which no more input
 * is read or handed to the session: a client that pipelines commands and
 * never reads the answers must not make us queue them without limit. */
#define CONN_WRITE_HIGH (256 * 1024)

struct listener {
	uv_tcp_t tcp;
	const struct conn_handler *h;
	void *ctx;
	size_t in_max;
	unsigned timeout_ms;
	unsigned flags;		/* LISTEN_TLS */
	char addr[64];
};

struct write_req {
	uv_write_t req;
	struct conn *c;
	size_t len;
	char data[];
};

static void conn_dispatch(struct conn *c);
static void conn_maybe_free(struct conn *c);

/* "1.2.3.4:25", "[::1]:143" -> sockaddr. */
int
conn_parse_addr(const char *s, struct sockaddr_storage *ss)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	const char *hs = s, *he;
	char *end;
	long port;

	if (colon == NULL)
		return UV_EINVAL;
	he = colon;
	if (*hs == '[') {
		hs++;
		if (he == hs || he[-1] != ']')
			return UV_EINVAL;
		he--;
	}
	if ((size_t)(he - hs) >= sizeof host || he == hs)
		return UV_EINVAL;
	memcpy(host, hs, (size_t)(he - hs));
	host[he - hs] = '\0';
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || colon[1] == '\0' || port < 0 || port > 65535)
		return UV_EINVAL;
	if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss) == 0)
		return 0;
	return uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss);
}

static void
addr_text(const struct sockaddr_storage *ss, char *ip, size_t ipsz,
    char *full, size_t fullsz)
{
	int port = 0;

	ip[0] = '\0';
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
		uv_ip4_name(a, ip, ipsz);
		port = ntohs(a->sin_port);
		snprintf(full, fullsz, "%s:%d", ip, port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
		uv_ip6_name(a, ip, ipsz);
		port = ntohs(a->sin6_port);
		snprintf(full, fullsz, "[%s]:%d", ip, port);
	} else {
		snprintf(full, fullsz, "unknown");
	}
}

static void
on_handle_closed(uv_handle_t *h)
{
	struct conn *c = h->data;

	c->handles_open--;
	conn_maybe_free(c);
}

static void
conn_maybe_free(struct conn *c)
{
	if (c->handles_open > 0 || c->refs > 0)
		return;
	if (c->h->closed != NULL)
		c->h->closed(c);
	tls_conn_free(c);
	buf_free(&c->in);
	free(c);
}

/* Close both handles now (writes flushed or abandoned). */
static void
conn_shut(struct conn *c)
{
	if (c->handles_open != 2 || uv_is_closing((uv_handle_t *)&c->tcp))
		return;
	log_info(c->id, "%s disconnected address=%s reason=%s", c->h->proto,
	    c->peer, c->close_reason != NULL ? c->close_reason : "unknown");
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->timer, on_handle_closed);
	uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
}

static void
on_timeout(uv_timer_t *t)
{
	struct conn *c = t->data;

	if (c->closing) {
		/* conn_close()'s flush did not end in time: the peer reads
		 * nothing. Abandon the queued writes. */
		log_debug(c->id, "%s flush timeout pending=%zu", c->h->proto,
		    c->pending_writes);
		conn_shut(c);
		return;
	}
	if (c->h->timeout != NULL)
		c->h->timeout(c);
	conn_close(c, "timeout");
}

int
conn_in_room(struct conn *c, char **p_r, size_t *room_r)
{
	size_t room = c->in.max - c->in.len;

	*p_r = NULL;
	*room_r = 0;
	if (room > CONN_READ_CHUNK)
		room = CONN_READ_CHUNK;
	/* Read straight into the input buffer: grow it first. */
	if (room == 0)
		return 0;
	if (buf_add(&c->in, "", 0) < 0)
		return CM_ENOMEM;
	if (c->in.cap < c->in.len + room + 1) {
		size_t want = c->in.len + room + 1;
		char *p = realloc(c->in.data, want);
		if (p == NULL)
			return CM_ENOMEM;
		c->in.data = p;
		c->in.cap = want;
	}
	*p_r = c->in.data + c->in.len;
	*room_r = room;
	return 0;
}

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	struct conn *c = h->data;
	char *p;
	size_t room;

	(void)suggested;
	if (c->tls != NULL) {
		/* ciphertext goes to its own buffer, then the read BIO */
		tls_conn_rbuf(c, &p, &room);
	} else if (conn_in_room(c, &p, &room) < 0 || room == 0) {
		p = NULL;
		room = 0;
	}
	b->base = p;
	b->len = room;
}

/* Is there room to read more from the socket? */
static int
read_room(const struct conn *c)
{
	if (c->tls != NULL)
		return tls_conn_backlog(c) < TLS_BACKLOG_MAX;
	return c->in.len < c->in.max;
}

static void
stop_reading(struct conn *c)
{
	if (c->reading) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = 0;
	}
}

static void start_reading(struct conn *c);

static void
on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	struct conn *c = s->data;

	(void)b;
	if (nread == UV_ENOBUFS) {
		/* input buffer full: the session must consume first */
		stop_reading(c);
		conn_dispatch(c);
		return;
	}
	if (nread < 0) {
		stop_reading(c);
		c->eof = 1;
		if (nread != UV_EOF)
			log_debug(c->id, "%s read error=%s", c->h->proto,
			    uv_strerror((int)nread));
		conn_dispatch(c);
		return;
	}
	if (nread == 0)
		return;
	if (c->tls != NULL) {
		tls_conn_feed(c, (size_t)nread);
	} else {
		c->in.len += (size_t)nread;
		c->in.data[c->in.len] = '\0';
	}
	if (c->closing)
		return;
	conn_touch(c);
	if (!read_room(c))
		stop_reading(c);
	conn_dispatch(c);
}

static void
start_reading(struct conn *c)
{
	if (c->reading || c->closing || c->eof)
		return;
	if (!read_room(c))
		return;
	if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
		c->reading = 1;
}

static void
conn_dispatch(struct conn *c)
{
	if (c->closing || c->in_input)
		return;
	if (c->pending_writes >= CONN_WRITE_HIGH) {
		/* the peer is not reading: neither do we, until on_written()
		 * sees the queue drain */
		stop_reading(c);
		return;
	}
	for (;;) {
		size_t before;

		/* TLS: go on with the handshake, decrypt into c->in */
		if (c->tls != NULL && tls_conn_pump(c) < 0)
			return;
		if (c->closing)
			return;
		if (c->paused || c->in.len == 0)
			break;
		before = c->in.len;
		c->in_input = 1;
		c->h->input(c);
		c->in_input = 0;
		if (c->closing)
			return;
		/* plaintext still held by TLS, and room made for it */
		if (c->tls == NULL || c->in.len >= before ||
		    !tls_conn_more(c))
			break;
		if (c->pending_writes >= CONN_WRITE_HIGH) {
			stop_reading(c);
			return;
		}
	}
	if (c->eof && !c->paused) {
		conn_close(c, "disconnected");
		return;
	}
	if (c->in.len >= c->in.max && !c->paused && c->in.len > 0) {
		/* full, and the session could not use it: a protocol
		 * violation the session failed to catch */
		conn_close(c, "input overflow");
		return;
	}
	start_reading(c);
}

static void
on_connection(uv_stream_t *server, int status)
{
	struct listener *l = server->data;
	struct sockaddr_storage ss;
	int sslen = sizeof ss;
	unsigned char rnd[4];
	struct conn *c;

	if (status < 0) {
		log_warn(NULL, "%s accept error=%s", l->h->proto,
		    uv_strerror(status));
		return;
	}
	if ((c = calloc(1, sizeof *c)) == NULL) {
		log_error(NULL, "%s accept error=out of memory", l->h->proto);
		return;
	}
	c->loop = server->loop;
	c->h = l->h;
	c->ctx = l->ctx;
	c->listener = l;
	c->timeout_ms = l->timeout_ms;
	buf_init(&c->in, l->in_max);
	uv_tcp_init(c->loop, &c->tcp);
	c->tcp.data = c;
	c->handles_open = 1;
	if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
		static const struct conn_handler unopened = { .proto = "-" };
		c->h = &unopened;	/* no session to tell */
		c->closing = 1;
		uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
		return;
	}
	uv_timer_init(c->loop, &c->timer);
	c->timer.data = c;
	c->handles_open = 2;
	if (RAND_bytes(rnd, sizeof rnd) != 1)
		memset(rnd, 0, sizeof rnd);
	snprintf(c->id, sizeof c->id, "%02X%02X%02X%02X", rnd[0], rnd[1],
	    rnd[2], rnd[3]);
	memset(&ss, 0, sizeof ss);
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sslen) == 0)
		addr_text(&ss, c->peer_ip, sizeof c->peer_ip, c->peer,
		    sizeof c->peer);
	sslen = sizeof ss;
	memset(&ss, 0, sizeof ss);
	if (uv_tcp_getsockname(&c->tcp, (struct sockaddr *)&ss, &sslen) == 0) {
		char ip[48];
		addr_text(&ss, ip, sizeof ip, c->local, sizeof c->local);
	}
	uv_tcp_nodelay(&c->tcp, 1);
	log_info(c->id, "%s connected address=%s local=%s%s", c->h->proto,
	    c->peer, c->local, (l->flags & LISTEN_TLS) ? " tls=implicit" : "");
	conn_touch(c);
	if (l->flags & LISTEN_TLS) {
		/* the session starts once the handshake is done */
		if (tls_conn_new(c, 1) < 0) {
			log_error(c->id, "%s tls setup failed", c->h->proto);
			conn_close(c, "tls error");
			return;
		}
	} else
		c->h->accepted(c);
	start_reading(c);
}

int
listener_start(uv_loop_t *loop, const char *addr,
    const struct conn_handler *h, void *ctx, size_t in_max,
    unsigned timeout_ms)
{
	return listener_start_flags(loop, addr, h, ctx, in_max, timeout_ms,
	    0);
}

int
listener_start_flags(uv_loop_t *loop, const char *addr,
    const struct conn_handler *h, void *ctx, size_t in_max,
    unsigned timeout_ms, unsigned flags)
{
	struct sockaddr_storage ss;
	struct listener *l;
	int rc;

	if ((flags & LISTEN_TLS) && !tls_available())
		return UV_EINVAL;
	memset(&ss, 0, sizeof ss);
	if ((rc = conn_parse_addr(addr, &ss)) < 0)
		return rc;
	if ((l = calloc(1, sizeof *l)) == NULL)
		return UV_ENOMEM;
	l->h = h;
	l->ctx = ctx;
	l->in_max = in_max;
	l->timeout_ms = timeout_ms;
	l->flags = flags;
	snprintf(l->addr, sizeof l->addr, "%s", addr);
	uv_tcp_init(loop, &l->tcp);
	l->tcp.data = l;
	if ((rc = uv_tcp_bind(&l->tcp, (struct sockaddr *)&ss, 0)) < 0 ||
	    (rc = uv_listen((uv_stream_t *)&l->tcp, 128, on_connection)) < 0) {
		uv_close((uv_handle_t *)&l->tcp, (uv_close_cb)free);
		return rc;
	}
	log_info(NULL, "%s listening address=%s%s", h->proto, addr,
	    (flags & LISTEN_TLS) ? " tls=implicit" : "");
	return 0;
}

static void
on_written(uv_write_t *req, int status)
{
	struct write_req *w = (struct write_req *)req;
	struct conn *c = w->c;
	int was_full = c->pending_writes >= CONN_WRITE_HIGH;

	c->pending_writes -= w->len;
	free(w);
	if (status < 0 && !c->closing) {
		log_debug(c->id, "%s write error=%s", c->h->proto,
		    uv_strerror(status));
		c->closing = 1;
		c->close_reason = "write error";
		stop_reading(c);
	}
	if (c->closing && c->pending_writes == 0)
		conn_shut(c);
	else if (was_full && c->pending_writes < CONN_WRITE_HIGH)
		conn_dispatch(c);	/* input was held back: go on */
	conn_release(c);
}

int
conn_write(struct conn *c, const void *p, size_t n)
{
	if (c->closing)
		return CM_ECLOSED;
	if (n == 0)
		return 0;
	if (c->tls != NULL)
		return tls_conn_write(c, p, n);
	return conn_write_raw(c, p, n);
}

int
conn_write_raw(struct conn *c, const void *p, size_t n)
{
	struct write_req *w;
	uv_buf_t b;

	if (c->closing)
		return CM_ECLOSED;
	if (n == 0)
		return 0;
	if ((w = malloc(sizeof *w + n)) == NULL)
		return CM_ENOMEM;
	memcpy(w->data, p, n);
	w->c = c;
	w->len = n;
	b = uv_buf_init(w->data, (unsigned)n);
	if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_written) < 0) {
		free(w);
		conn_close(c, "write error");
		return CM_ECLOSED;
	}
	c->pending_writes += n;
	conn_hold(c);
	return 0;
}

int
conn_writestr(struct conn *c, const char *s)
{
	return conn_write(c, s, strlen(s));
}

int
conn_printf(struct conn *c, const char *fmt, ...)
{
	struct buf b;
	va_list ap;
	int rc;

	buf_init(&b, 1 << 20);
	va_start(ap, fmt);
	rc = buf_vprintf(&b, fmt, ap);
	va_end(ap);
	if (rc == 0)
		rc = conn_write(c, b.data, b.len);
	buf_free(&b);
	return rc;
}

int
conn_line(struct conn *c, const char **line, size_t *len, size_t max)
{
	return conn_line_at(c, 0, line, len, max);
}

int
conn_line_at(struct conn *c, size_t off, const char **line, size_t *len,
    size_t max)
{
	size_t scan = c->in.len - off;
	const char *d = c->in.data;

	if (scan == 0)
		return CONN_MORE;
	d += off;

	if (scan > max + 2)
		scan = max + 2;
	for (size_t i = 0; i + 1 < scan; i++) {
		if (d[i] == '\r' && d[i + 1] == '\n') {
			if (i > max)
				return CM_ETOOBIG;
			*line = d;
			*len = i;
			return CONN_LINE;
		}
	}
	if (c->in.len - off > max + 1)
		return CM_ETOOBIG;
	return CONN_MORE;
}

void
conn_consume(struct conn *c, size_t n)
{
	buf_consume(&c->in, n);
}

void
conn_hold(struct conn *c)
{
	c->refs++;
}

void
conn_release(struct conn *c)
{
	if (c->refs == 0)
		log_panic("conn_release: no reference held");
	c->refs--;
	conn_maybe_free(c);
}

int
conn_closing(const struct conn *c)
{
	return c->closing;
}

void
conn_pause(struct conn *c)
{
	c->paused = 1;
}

void
conn_resume(struct conn *c)
{
	if (!c->paused)
		return;
	c->paused = 0;
	conn_dispatch(c);
}

void
conn_touch(struct conn *c)
{
	if (c->timeout_ms > 0 && !c->closing)
		uv_timer_start(&c->timer, on_timeout, c->timeout_ms, 0);
}

void
conn_set_timeout(struct conn *c, unsigned timeout_ms)
{
	c->timeout_ms = timeout_ms;
	conn_touch(c);
}

void
conn_close(struct conn *c, const char *reason)
{
	if (c->closing)
		return;
	/* close_notify (ignored when the handshake did not finish) */
	if (c->tls != NULL)
		tls_conn_shutdown(c);
	if (c->closing)
		return;
	c->closing = 1;
	c->close_reason = reason;
	stop_reading(c);
	if (c->pending_writes == 0)
		conn_shut(c);
	else if (c->timeout_ms > 0)
		/* the flush gets one idle timeout, then on_timeout() ends it */
		uv_timer_start(&c->timer, on_timeout, c->timeout_ms, 0);
}

int
conn_starttls(struct conn *c)
{
	int rc;

	if (c->closing)
		return CM_ECLOSED;
	if ((rc = tls_conn_new(c, 0)) < 0)
		return rc;
	/* CVE-2011-0411: nothing sent in plaintext counts after this */
	if (c->in.len > 0)
		log_info(c->id, "%s starttls discarded=%zu bytes of pipelined "
		    "plaintext", c->h->proto, c->in.len);
	buf_reset(&c->in);
	log_debug(c->id, "%s starttls", c->h->proto);
	return 0;
}

int
conn_tls(const struct conn *c)
{
	return tls_conn_established(c);
}

const char *
conn_tls_protocol(const struct conn *c)
{
	return tls_conn_protocol(c);
}

const char *
conn_tls_cipher(const struct conn *c)
{
	return tls_conn_cipher(c);
}

int
conn_peer_loopback(const struct conn *c)
{
	const char *ip = c->peer_ip;

	if (strncmp(ip, "::ffff:", 7) == 0)
		ip += 7;
	return strncmp(ip, "127.", 4) == 0 || strcmp(ip, "::1") == 0;
}
