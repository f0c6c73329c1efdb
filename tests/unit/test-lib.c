/*
 * Unit tests for lib/: buf, cfg, log_safe, conn_line's CRLF rules, sasl,
 * authlimit, dsn (bounces), challenge (mail to unknown senders).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <fcntl.h>

#include "authlimit.h"
#include "bodytext.h"
#include "buf.h"
#include "captoken.h"
#include "cfg.h"
#include "challenge.h"
#include "conn.h"
#include "dsn.h"
#include "errors.h"
#include "hdrdecode.h"
#include "log.h"
#include "sasl.h"
#include "utf8.h"

static int failures;

#define CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
	    #cond); failures++; } } while (0)

static void
test_buf(void)
{
	struct buf b;

	buf_init(&b, 10);
	CHECK(strcmp(buf_cstr(&b), "") == 0);
	CHECK(buf_add(&b, "hello", 5) == 0);
	CHECK(buf_add(&b, "world", 5) == 0);
	CHECK(b.len == 10 && memcmp(b.data, "helloworld", 10) == 0);
	CHECK(b.data[10] == '\0');
	CHECK(buf_addc(&b, 'x') == CM_ETOOBIG);	/* hard limit */
	CHECK(b.len == 10);			/* unchanged on error */
	buf_consume(&b, 5);
	CHECK(b.len == 5 && strcmp(b.data, "world") == 0);
	CHECK(buf_printf(&b, "%d", 12345) == 0);
	CHECK(strcmp(b.data, "world12345") == 0);
	CHECK(buf_printf(&b, "%d", 1) == CM_ETOOBIG);
	size_t len;
	char *p = buf_take(&b, &len);
	CHECK(len == 10 && strcmp(p, "world12345") == 0);
	CHECK(b.len == 0 && b.data == NULL);
	free(p);
	/* binary-safe */
	CHECK(buf_add(&b, "a\0b", 3) == 0 && b.len == 3 && b.data[1] == 0);
	buf_free(&b);
}

static void
test_log_safe(void)
{
	char out[8];

	CHECK(strcmp(log_safe(out, sizeof out, "ab\r\nc", 5), "ab??c") == 0);
	CHECK(strcmp(log_safe(out, sizeof out, "abcdefghij", 10),
	    "abcd...") == 0);
	CHECK(strcmp(log_safe(out, sizeof out, "abcdefg", 7), "abcdefg") == 0);
}

static void
test_cfg(void)
{
	char err[256], path[] = "/tmp/capmail-test-cfg-XXXXXX";
	struct cfg *c;
	FILE *f;
	int fd;

	c = cfg_load(NULL, err, sizeof err);
	CHECK(c != NULL);
	CHECK(strcmp(cfg_str(c, "smtp_listen"), "127.0.0.1:2525") == 0);
	CHECK(cfg_int(c, "smtp_max_recipients") == 100);
	cfg_free(&c);
	CHECK(c == NULL);

	fd = mkstemp(path);
	CHECK(fd >= 0);
	f = fdopen(fd, "w");
	fputs("# comment\n\n  hostname = mx.example.test  # trailing\n"
	    "smtp_max_recipients=5\n", f);
	fclose(f);
	c = cfg_load(path, err, sizeof err);
	CHECK(c != NULL);
	if (c != NULL) {
		CHECK(strcmp(cfg_str(c, "hostname"), "mx.example.test") == 0);
		CHECK(cfg_int(c, "smtp_max_recipients") == 5);
		cfg_free(&c);
	}

	f = fopen(path, "w");
	fputs("hostname = a\nno_such_thing = 1\n", f);
	fclose(f);
	c = cfg_load(path, err, sizeof err);
	CHECK(c == NULL);
	CHECK(strstr(err, ":2: unknown parameter 'no_such_thing'") != NULL);

	f = fopen(path, "w");
	fputs("smtp_max_recipients = 0\n", f);
	fclose(f);
	c = cfg_load(path, err, sizeof err);
	CHECK(c == NULL);
	CHECK(strstr(err, ":1: smtp_max_recipients: bad value '0'") != NULL);

	/* a message PostgreSQL could not take as one value is refused */
	f = fopen(path, "w");
	fputs("smtp_max_message_size = 1073741824\n", f);
	fclose(f);
	c = cfg_load(path, err, sizeof err);
	CHECK(c == NULL);
	f = fopen(path, "w");
	fputs("imap_max_literal = 2147483648\n", f);
	fclose(f);
	c = cfg_load(path, err, sizeof err);
	CHECK(c == NULL);
	f = fopen(path, "w");
	fputs("smtp_max_message_size = 1000000000\n", f);
	fclose(f);
	c = cfg_load(path, err, sizeof err);
	CHECK(c != NULL && cfg_int(c, "smtp_max_message_size") == 1000000000);
	cfg_free(&c);

	f = fopen(path, "w");
	fputs("smtp_max_recipients = 12abc\n", f);
	fclose(f);
	c = cfg_load(path, err, sizeof err);
	CHECK(c == NULL);

	f = fopen(path, "w");
	fputs("log_level = loud\n", f);
	fclose(f);
	c = cfg_load(path, err, sizeof err);
	CHECK(c == NULL);
	CHECK(strstr(err, "log_level: bad value 'loud' (one of "
	    "debug|info|warn|error)") != NULL);
	unlink(path);
}

/* conn_line only looks at c->in: drive it with a bare struct conn. */
static void
test_conn_line(void)
{
	struct conn c;
	const char *line;
	size_t len;

	memset(&c, 0, sizeof c);
	buf_init(&c.in, 64);
	buf_addstr(&c.in, "HELO a\nb\rc");
	CHECK(conn_line(&c, &line, &len, 20) == CONN_MORE); /* no CRLF */
	buf_addstr(&c.in, "\r\nNEXT");
	CHECK(conn_line(&c, &line, &len, 20) == CONN_LINE);
	CHECK(len == 10 && memcmp(line, "HELO a\nb\rc", 10) == 0);
	conn_consume(&c, len + 2);
	CHECK(conn_line(&c, &line, &len, 20) == CONN_MORE);
	buf_reset(&c.in);
	/* exactly max bytes, CR buffered, LF not yet: still waiting */
	buf_addstr(&c.in, "0123456789\r");
	CHECK(conn_line(&c, &line, &len, 10) == CONN_MORE);
	buf_addstr(&c.in, "\n");
	CHECK(conn_line(&c, &line, &len, 10) == CONN_LINE && len == 10);
	buf_reset(&c.in);
	buf_addstr(&c.in, "01234567890\r\n");
	CHECK(conn_line(&c, &line, &len, 10) == CM_ETOOBIG);
	buf_reset(&c.in);
	buf_addstr(&c.in, "012345678901");	/* no CRLF, past max+1 */
	CHECK(conn_line(&c, &line, &len, 10) == CM_ETOOBIG);
	/* one byte at a time */
	buf_reset(&c.in);
	const char *msg = "NOOP\r\n";
	for (size_t i = 0; i < strlen(msg); i++) {
		CHECK(conn_line(&c, &line, &len, 10) == CONN_MORE);
		buf_addc(&c.in, msg[i]);
	}
	CHECK(conn_line(&c, &line, &len, 10) == CONN_LINE && len == 4);
	/* several lines from an offset, consumed together afterwards */
	buf_reset(&c.in);
	buf_addstr(&c.in, "NOOP\r\nRSET\r\n0123456789AB");
	CHECK(conn_line_at(&c, 0, &line, &len, 10) == CONN_LINE && len == 4 &&
	    memcmp(line, "NOOP", 4) == 0);
	CHECK(conn_line_at(&c, 6, &line, &len, 10) == CONN_LINE && len == 4 &&
	    memcmp(line, "RSET", 4) == 0);
	CHECK(conn_line_at(&c, 12, &line, &len, 10) == CM_ETOOBIG);
	CHECK(conn_line_at(&c, 13, &line, &len, 10) == CONN_MORE);
	CHECK(conn_line_at(&c, c.in.len, &line, &len, 10) == CONN_MORE);
	buf_free(&c.in);
	memset(&c, 0, sizeof c);	/* empty, never allocated */
	CHECK(conn_line_at(&c, 0, &line, &len, 10) == CONN_MORE);
}

static void
test_hdrdecode(void)
{
	static const char q[] = " =?UTF-8?Q?h=C3=A9llo?= world";
	static const char b[] = " =?ISO-8859-1?B?SGVsbG8gV29ybGQg6Q==?= <a@b>";
	static const char two[] = "=?utf-8?q?a?= =?utf-8?q?b?=";
	char *r;

	r = hdr_decode_utf8(q, strlen(q));
	CHECK(r != NULL && strcmp(r, "h\xc3\xa9llo world") == 0);
	free(r);
	r = hdr_decode_utf8(b, strlen(b));
	CHECK(r != NULL && strcmp(r, "Hello World \xc3\xa9 <a@b>") == 0);
	free(r);
	/* adjacent encoded words join without the space (RFC 2047 6.2) */
	r = hdr_decode_utf8(two, strlen(two));
	CHECK(r != NULL && strcmp(r, "ab") == 0);
	free(r);
	/* nothing encoded: NULL, use the raw value */
	CHECK(hdr_decode_utf8("plain subject", 13) == NULL);
	/* only the first len bytes count */
	r = hdr_decode_utf8(q, 23);
	CHECK(r != NULL && strcmp(r, "h\xc3\xa9llo") == 0);
	free(r);
	/* a NUL inside: not decoded */
	CHECK(hdr_decode_utf8("=?utf-8?q?a\0?=", 15) == NULL);
}

static void
test_hdr_next(void)
{
	static const char h[] = "From: a@b\r\nSubject: one\r\n two\r\n"
	    "no colon here\r\nX-Empty:\r\nTo : c@d\r\n\r\nBody: not a field\r\n";
	struct hdr_iter it = { h, sizeof(h) - 1, 0 };
	const char *n, *v;
	size_t nl, vl, ul;
	char *u;

	CHECK(hdr_next(&it, &n, &nl, &v, &vl) == 1);
	CHECK(nl == 4 && memcmp(n, "From", 4) == 0);
	CHECK(vl == 4 && memcmp(v, " a@b", 4) == 0);
	CHECK(hdr_next(&it, &n, &nl, &v, &vl) == 1);
	CHECK(nl == 7 && memcmp(n, "Subject", 7) == 0);
	CHECK(vl == 10 && memcmp(v, " one\r\n two", 10) == 0);
	u = hdr_unfold(v, vl, &ul);
	CHECK(u != NULL && ul == 8 && strcmp(u, " one two") == 0);
	free(u);
	CHECK(hdr_next(&it, &n, &nl, &v, &vl) == 1);	/* line without ':' skipped */
	CHECK(nl == 7 && memcmp(n, "X-Empty", 7) == 0 && vl == 0);
	CHECK(hdr_next(&it, &n, &nl, &v, &vl) == 1);
	CHECK(nl == 2 && memcmp(n, "To", 2) == 0);	/* blanks before ':' */
	CHECK(hdr_next(&it, &n, &nl, &v, &vl) == 0);	/* the empty line ends it */
	/* a block without the empty line, last field without CRLF */
	struct hdr_iter it2 = { "A: 1\nB: 2", 9, 0 };
	CHECK(hdr_next(&it2, &n, &nl, &v, &vl) == 1 && vl == 2);
	CHECK(hdr_next(&it2, &n, &nl, &v, &vl) == 1 && nl == 1 && *n == 'B' &&
	    vl == 2 && memcmp(v, " 2", 2) == 0);
	CHECK(hdr_next(&it2, &n, &nl, &v, &vl) == 0);
}

/* bodytext_utf8 on (header, body); want NULL or the exact text. */
static void
bodytext_is(const char *hdr, const char *body, const char *want)
{
	size_t len = 0;
	char *t = bodytext_utf8(hdr, strlen(hdr), body, strlen(body), &len);

	if (want == NULL) {
		CHECK(t == NULL);
	} else {
		CHECK(t != NULL && len == strlen(want) && strcmp(t, want) == 0);
		if (t == NULL || strcmp(t, want) != 0)
			fprintf(stderr, "  header %s\n  got %s\n", hdr,
			    t != NULL ? t : "(null)");
	}
	free(t);
}

static void
test_bodytext(void)
{
	/* base64, UTF-8 */
	bodytext_is("Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n",
	    "Y2Fmw6kgY3LDqG1l\r\n", "caf\xc3\xa9 cr\xc3\xa8me");
	/* quoted-printable, Latin-1 to UTF-8, soft line break */
	bodytext_is("Content-Type: text/plain; charset=iso-8859-1\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n",
	    "caf=E9 cr=\r\n=E8me\r\n", "caf\xc3\xa9 cr\xc3\xa8me\r\n");
	/* 8bit Latin-1: charset conversion only */
	bodytext_is("Content-Type: text/plain; charset=\"ISO-8859-1\"\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n\r\n", "caf\xe9\r\n",
	    "caf\xc3\xa9\r\n");
	/* nothing to decode: NULL, the raw bytes are the text */
	bodytext_is("Content-Type: text/plain; charset=utf-8\r\n\r\n",
	    "caf\xc3\xa9\r\n", NULL);
	bodytext_is("Subject: x\r\n\r\n", "plain\r\n", NULL);
	/* not text */
	bodytext_is("Content-Type: application/octet-stream\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n", "Y2Fmw6k=\r\n",
	    NULL);
	/* no Content-Type is text/plain (RFC 2045 5.2) */
	bodytext_is("Content-Transfer-Encoding: base64\r\n\r\n",
	    "aGVsbG8=\r\n", "hello");
	/* an unknown charset: not decoded, search the raw bytes */
	bodytext_is("Content-Type: text/plain; charset=x-no-such\r\n\r\n",
	    "abc\r\n", NULL);
}

/* SASL PLAIN and LOGIN: whole lines in (conn splits the lines). */
static void
test_sasl(void)
{
	struct sasl x;
	unsigned char out[16];
	/* "\0alice@example.test\0pw" and friends */
	const char *good = "AGFsaWNlQGV4YW1wbGUudGVzdABwdw==";

	CHECK(sasl_base64_decode("aGVsbG8=", 8, out) == 5 &&
	    memcmp(out, "hello", 5) == 0);
	CHECK(sasl_base64_decode("aGVsbA==", 8, out) == 4);
	CHECK(sasl_base64_decode("", 0, out) == 0);
	CHECK(sasl_base64_decode("aGVsbG8", 7, out) == CM_EPARSE);
	CHECK(sasl_base64_decode("aGV=bG8=", 8, out) == CM_EPARSE);
	CHECK(sasl_base64_decode("aGVsbG9=", 8, out) == CM_EPARSE);
	CHECK(sasl_base64_decode("aGVs bG8", 8, out) == CM_EPARSE);
	CHECK(sasl_base64_decode("====", 4, out) == CM_EPARSE);

	CHECK(sasl_start(&x, "PLAIN", 5, good, strlen(good), 1) == SASL_DONE);
	CHECK(strcmp(x.user, "alice@example.test") == 0 &&
	    strcmp(x.pass, "pw") == 0);
	sasl_clear(&x);
	CHECK(x.pass[0] == '\0' && x.user[0] == '\0');
	CHECK(sasl_start(&x, "plain", 5, NULL, 0, 0) == SASL_CONTINUE &&
	    strcmp(x.challenge, "") == 0);
	CHECK(sasl_step(&x, good, strlen(good)) == SASL_DONE);
	CHECK(sasl_start(&x, "PLAIN", 5, NULL, 0, 0) == SASL_CONTINUE);
	CHECK(sasl_step(&x, "*", 1) == SASL_CANCELLED);
	CHECK(sasl_start(&x, "PLAIN", 5, "=", 1, 1) == CM_EINVAL);
	CHECK(sasl_start(&x, "PLAIN", 5, "!!!!", 4, 1) == CM_EPARSE);
	/* authzid = authcid is fine, another one is not */
	CHECK(sasl_start(&x, "PLAIN", 5, "YQBhAHB3", 8, 1) == SASL_DONE &&
	    strcmp(x.user, "a") == 0);		/* "a\0a\0pw" */
	CHECK(sasl_start(&x, "PLAIN", 5, "YgBhAHB3", 8, 1) == CM_EPERM);
	/* "\0\0pw": no user; "\0a": one NUL only; "\0a\0p\0w": NUL in pw */
	CHECK(sasl_start(&x, "PLAIN", 5, "AABwdw==", 8, 1) == CM_EINVAL);
	CHECK(sasl_start(&x, "PLAIN", 5, "AGE=", 4, 1) == CM_EINVAL);
	CHECK(sasl_start(&x, "PLAIN", 5, "AGEAcAB3", 8, 1) == CM_EINVAL);
	CHECK(sasl_start(&x, "CRAM-MD5", 8, NULL, 0, 0) == CM_ENOTFOUND);
	CHECK(sasl_start(&x, "PLAINX", 6, NULL, 0, 0) == CM_ENOTFOUND);

	CHECK(sasl_start(&x, "LOGIN", 5, NULL, 0, 0) == SASL_CONTINUE &&
	    strcmp(x.challenge, "VXNlcm5hbWU6") == 0);
	CHECK(sasl_step(&x, "YWxpY2U=", 8) == SASL_CONTINUE &&
	    strcmp(x.challenge, "UGFzc3dvcmQ6") == 0);
	CHECK(sasl_step(&x, "cHc=", 4) == SASL_DONE &&
	    strcmp(x.user, "alice") == 0 && strcmp(x.pass, "pw") == 0);
	CHECK(sasl_start(&x, "LOGIN", 5, "YWxpY2U=", 8, 1) == SASL_CONTINUE);
	CHECK(sasl_step(&x, "*", 1) == SASL_CANCELLED);
	CHECK(sasl_start(&x, "LOGIN", 5, "=", 1, 1) == CM_EINVAL);
	sasl_clear(&x);
}

/* Failed-login throttling, with the clock passed in. */
static void
test_authlimit(void)
{
	struct authlimit_conf ac = {
		.fail_limit = 3, .lockout_limit = 5, .window_s = 60,
		.delay_ms = 1000, .lockout_s = 600, .max_entries = 4,
	};
	struct authlimit *al = authlimit_new(&ac);
	unsigned ms;
	uint64_t t = 1000;

	CHECK(al != NULL);
	if (al == NULL)
		return;
	CHECK(authlimit_check(al, "10.0.0.1", "bob", t, &ms) == AUTHLIMIT_OK);
	for (int i = 0; i < 3; i++)
		authlimit_failed(al, "10.0.0.1", "bob", t);
	/* both the address and the account reached the delay */
	CHECK(authlimit_check(al, "10.0.0.1", "bob", t, &ms) ==
	    AUTHLIMIT_DELAY && ms == 1000);
	CHECK(authlimit_check(al, "10.0.0.2", "BOB", t, &ms) ==
	    AUTHLIMIT_DELAY);		/* account, any case */
	CHECK(authlimit_check(al, "10.0.0.2", "alice", t, &ms) ==
	    AUTHLIMIT_OK);
	CHECK(authlimit_check(al, "10.0.0.1", "alice", t, &ms) ==
	    AUTHLIMIT_DELAY);		/* address */
	authlimit_failed(al, "10.0.0.1", "bob", t);
	authlimit_failed(al, "10.0.0.1", "bob", t);
	CHECK(authlimit_check(al, "10.0.0.1", "bob", t, &ms) ==
	    AUTHLIMIT_REFUSE);
	CHECK(authlimit_check(al, "10.0.0.1", "alice", t, &ms) ==
	    AUTHLIMIT_REFUSE);
	/* the account is only delayed elsewhere, never refused */
	for (int i = 0; i < 20; i++)
		authlimit_failed(al, "10.0.0.3", "bob", t);
	CHECK(authlimit_check(al, "10.0.0.2", "bob", t, &ms) ==
	    AUTHLIMIT_DELAY);
	/* success clears the account, not the address */
	authlimit_succeeded(al, "10.0.0.2", "bob", t);
	CHECK(authlimit_check(al, "10.0.0.2", "bob", t, &ms) == AUTHLIMIT_OK);
	CHECK(authlimit_check(al, "10.0.0.1", "bob", t, &ms) ==
	    AUTHLIMIT_REFUSE);
	/* the window ends for the unlocked; the lockout ends later */
	t += 61 * 1000;
	CHECK(authlimit_check(al, "10.0.0.1", "carol", t, &ms) ==
	    AUTHLIMIT_REFUSE);
	t += 600 * 1000;
	CHECK(authlimit_check(al, "10.0.0.1", "carol", t, &ms) ==
	    AUTHLIMIT_OK);
	/* the table stays bounded: many addresses, 4 slots */
	for (int i = 0; i < 100; i++) {
		char a[32];
		snprintf(a, sizeof a, "192.0.2.%d", i);
		authlimit_failed(al, a, "x", t);
	}
	CHECK(authlimit_count(al) <= 4);
	authlimit_free(&al);
	CHECK(al == NULL);
}

static void
test_dsn(void)
{
	static const char orig[] =
	    "From: a@example.test\r\nSubject: hi\nX-Bare: cr\rhere\r\n"
	    "\r\nbody is not included\r\n";
	struct dsn_rcpt rc[2] = {
		{ "x@remote.test", "5.1.1", "550 5.1.1 <x@remote.test>:\r\n no" },
		{ "y@remote.test", "4.4.7", "" },
	};
	struct dsn_report r = {
		.hostname = "mx.example.test", .relay = "relay.example.test",
		.to = "a@example.test", .original = orig,
		.original_len = sizeof orig - 1, .arrival = 86400,
		.now = 86400 * 2, .unique = "7.1", .rcpts = rc, .nrcpts = 2,
	};
	char st[16];
	struct buf b;

	dsn_status(550, "5.1.1 <x>: no", st);
	CHECK(strcmp(st, "5.1.1") == 0);
	dsn_status(550, "5.7.123 x", st);
	CHECK(strcmp(st, "5.7.123") == 0);
	dsn_status(451, "4.3.0", st);
	CHECK(strcmp(st, "4.3.0") == 0);
	dsn_status(550, "4.3.0 class differs", st);
	CHECK(strcmp(st, "5.0.0") == 0);
	dsn_status(554, "5.1.1234 too long", st);
	CHECK(strcmp(st, "5.0.0") == 0);
	dsn_status(554, "5.1.1x", st);
	CHECK(strcmp(st, "5.0.0") == 0);
	dsn_status(421, "", st);
	CHECK(strcmp(st, "4.0.0") == 0);
	dsn_status(0, NULL, st);
	CHECK(strcmp(st, "5.0.0") == 0);

	buf_init(&b, 1 << 20);
	CHECK(dsn_build(&r, &b) == 0);
	CHECK(strstr(b.data, "From: Mail Delivery System "
	    "<MAILER-DAEMON@mx.example.test>\r\nTo: <a@example.test>\r\n") ==
	    b.data);
	CHECK(strstr(b.data, "\r\nAuto-Submitted: auto-replied\r\n") != NULL);
	CHECK(strstr(b.data, "\r\nContent-Type: multipart/report; "
	    "report-type=delivery-status;\r\n\tboundary=\"7.1/mx.example.test\"\r\n")
	    != NULL);
	CHECK(strstr(b.data, "\r\nDate: Sat, 03 Jan 1970 00:00:00 +0000\r\n")
	    != NULL);
	CHECK(strstr(b.data, "\r\nArrival-Date: Fri, 02 Jan 1970 00:00:00 +0000"
	    "\r\n") != NULL);
	CHECK(strstr(b.data, "\r\nFinal-Recipient: rfc822; x@remote.test\r\n"
	    "Action: failed\r\nStatus: 5.1.1\r\n"
	    "Remote-MTA: dns; relay.example.test\r\n"
	    "Diagnostic-Code: smtp; 550 5.1.1 <x@remote.test>:   no\r\n")
	    != NULL);
	CHECK(strstr(b.data, "\r\nFinal-Recipient: rfc822; y@remote.test\r\n"
	    "Action: failed\r\nStatus: 4.4.7\r\n"
	    "Remote-MTA: dns; relay.example.test\r\nLast-Attempt-Date: ")
	    != NULL);
	/* the header only, every line ending in CRLF */
	CHECK(strstr(b.data, "Content-Type: text/rfc822-headers\r\n\r\n"
	    "From: a@example.test\r\nSubject: hi\r\nX-Bare: cr here\r\n"
	    "\r\n--7.1/mx.example.test--\r\n") != NULL);
	CHECK(strstr(b.data, "body is not included") == NULL);
	for (size_t i = 0; i < b.len; i++)
		if (b.data[i] == '\n')
			CHECK(i > 0 && b.data[i - 1] == '\r');
	/* nothing to report */
	r.nrcpts = 0;
	CHECK(dsn_build(&r, &b) == CM_EINVAL);
	buf_free(&b);
}

/* Capability tokens: round trip, every one-character change refused,
 * another key or kind refused, strict base32, the key file's mode. */
static void
test_captoken(void)
{
	static const char k1[] = "0123456789abcdef0123456789abcdef";
	static const char k2[] = "0123456789abcdef0123456789abcdeF";
	struct captoken_key key, other;
	unsigned char h1[CAPTOKEN_HASH_LEN], h2[CAPTOKEN_HASH_LEN];
	unsigned char raw[8];
	char tok[CAPTOKEN_STRLEN + 1], tok2[CAPTOKEN_STRLEN + 1], enc[16];
	char path[] = "/tmp/captoken-test-XXXXXX", err[256];
	time_t e = 0;
	int fd;

	CHECK(captoken_key_set(&key, k1, 31) == CM_EINVAL);
	CHECK(captoken_key_set(&key, k1, 32) == 0);
	CHECK(captoken_key_set(&other, k2, 32) == 0);
	CHECK(captoken_make(&key, CAPTOKEN_KIND_VERIFY, 1900000000, tok, h1)
	    == 0);
	CHECK(strlen(tok) == CAPTOKEN_STRLEN);
	CHECK(strspn(tok, "abcdefghijklmnopqrstuvwxyz234567") ==
	    CAPTOKEN_STRLEN);
	CHECK(captoken_check(&key, CAPTOKEN_KIND_VERIFY, tok, CAPTOKEN_STRLEN,
	    &e, h2) == 0);
	CHECK(e == 1900000000 && memcmp(h1, h2, sizeof h1) == 0);
	/* two tokens differ */
	CHECK(captoken_make(&key, CAPTOKEN_KIND_VERIFY, 1900000000, tok2, h2)
	    == 0);
	CHECK(strcmp(tok, tok2) != 0 && memcmp(h1, h2, sizeof h1) != 0);
	/* each character changed: refused (CM_EAUTH, or CM_EPARSE for the
	 * last one whose low bits must be zero) */
	for (size_t i = 0; i < CAPTOKEN_STRLEN; i++) {
		memcpy(tok2, tok, sizeof tok);
		tok2[i] = tok2[i] == 'a' ? 'b' : 'a';
		int rc = captoken_check(&key, CAPTOKEN_KIND_VERIFY, tok2,
		    CAPTOKEN_STRLEN, &e, h2);
		CHECK(rc == CM_EAUTH || rc == CM_EPARSE);
	}
	CHECK(captoken_check(&other, CAPTOKEN_KIND_VERIFY, tok,
	    CAPTOKEN_STRLEN, &e, h2) == CM_EAUTH);
	CHECK(captoken_check(&key, 'c', tok, CAPTOKEN_STRLEN, &e, h2) ==
	    CM_EAUTH);
	CHECK(captoken_check(&key, CAPTOKEN_KIND_VERIFY, tok,
	    CAPTOKEN_STRLEN - 1, &e, h2) == CM_EPARSE);
	memcpy(tok2, tok, sizeof tok);
	tok2[3] = (char)(tok2[3] - 'a' + 'A');
	if (tok[3] >= 'a' && tok[3] <= 'z')
		CHECK(captoken_check(&key, CAPTOKEN_KIND_VERIFY, tok2,
		    CAPTOKEN_STRLEN, &e, h2) == CM_EPARSE);
	/* base32: RFC 4648 test vectors (lower case, no padding) */
	CHECK(captoken_b32_encode((const unsigned char *)"foobar", 6, enc)
	    == 10 && strcmp(enc, "mzxw6ytboi") == 0);
	CHECK(captoken_b32_decode("mzxw6ytboi", 10, raw, sizeof raw) == 6 &&
	    memcmp(raw, "foobar", 6) == 0);
	CHECK(captoken_b32_decode("mzxw6ytboj", 10, raw, sizeof raw) ==
	    CM_EPARSE);	/* non-zero pad bits */
	CHECK(captoken_b32_decode("my", 2, raw, sizeof raw) == 1);
	CHECK(captoken_b32_decode("m", 1, raw, sizeof raw) == CM_EPARSE);
	CHECK(captoken_b32_decode("my=", 3, raw, sizeof raw) == CM_EPARSE);
	/* the key file */
	fd = mkstemp(path);
	CHECK(fd >= 0);
	if (fd >= 0) {
		CHECK(write(fd, k1, 32) == 32);
		close(fd);
		CHECK(chmod(path, 0640) == 0);
		CHECK(captoken_key_load(path, &other, err, sizeof err) ==
		    CM_ECONFIG);
		CHECK(strstr(err, "chmod 600") != NULL);
		CHECK(chmod(path, 0600) == 0);
		CHECK(captoken_key_load(path, &other, err, sizeof err) == 0);
		CHECK(other.len == 32 && memcmp(other.k, k1, 32) == 0);
		CHECK(truncate(path, 16) == 0);
		CHECK(captoken_key_load(path, &other, err, sizeof err) ==
		    CM_ECONFIG);
		unlink(path);
	}
	CHECK(captoken_key_load("/nonexistent/key", &other, err, sizeof err)
	    == CM_ECONFIG);
	captoken_key_wipe(&key);
}

static void
test_challenge(void)
{
	struct challenge_facts f;
	struct buf b;
	const char *m;

#define FACTS(s) challenge_facts_read((s), strlen(s), &f)
	FACTS("From: a@b\r\nMessage-ID:\r\n <x1@y>\r\nSubject: hi\r\n\r\n"
	    "Auto-Submitted: auto-replied\r\n");
	CHECK(!f.automated && !f.bulk && !f.list);	/* that was the body */
	CHECK(strcmp(f.message_id, "<x1@y>") == 0);
	CHECK(challenge_wanted("a@b.example", &f) == 1);
	CHECK(challenge_wanted("", &f) == 0);		/* <> */
	CHECK(challenge_wanted("MAILER-DAEMON@b.example", &f) == 0);
	CHECK(challenge_wanted("owner-list@b.example", &f) == 0);
	CHECK(challenge_wanted("list-request@b.example", &f) == 0);
	CHECK(challenge_wanted("requester@b.example", &f) == 1);
	FACTS("auto-submitted: No (a person)\nSubject: x\n\n");
	CHECK(!f.automated);
	FACTS("Auto-Submitted: auto-generated\r\n\r\n");
	CHECK(f.automated && challenge_wanted("a@b.example", &f) == 0);
	FACTS("Auto-Submitted:\r\n\r\n");	/* odd: not "no" */
	CHECK(f.automated);
	FACTS("Precedence:  BULK\r\n\r\n");
	CHECK(f.bulk && !f.automated);
	FACTS("Precedence: first-class\r\n\r\n");
	CHECK(!f.bulk);
	FACTS("X: y\r\nList-Unsubscribe: <mailto:u@l>\r\n\r\n");
	CHECK(f.list);
	FACTS("List-Id : <l.example>\r\n\r\n");		/* obsolete "Name :" */
	CHECK(f.list);
	FACTS("Message-ID: <a b@c>\r\n\r\n");		/* not a msg-id */
	CHECK(f.message_id[0] == '\0');
	FACTS("no colon here\r\nPrecedence: junk");	/* no blank line */
	CHECK(f.bulk);
#undef FACTS

	struct challenge_msg c = {
		.hostname = "mx.example.test", .sender = "eve@far.example",
		.recipient = "bob@example.test",
		.url = "https://verify.example.test/v/abc",
		.in_reply_to = "<x1@y>", .unique = "42",
		.now = 86400, .expires = 86400 * 15,
	};
	buf_init(&b, 65536);
	CHECK(challenge_compose(&c, &b) == 0);
	m = buf_cstr(&b);
	const char *want = "From: Mail verification <postmaster@example.test>\r\n"
	    "To: <eve@far.example>\r\n"
	    "Subject: Auto: please confirm your message to bob@example.test\r\n"
	    "Date: Fri, 02 Jan 1970 00:00:00 +0000\r\n"
	    "Message-ID: <challenge.42@mx.example.test>\r\n"
	    "In-Reply-To: <x1@y>\r\nReferences: <x1@y>\r\n"
	    "Auto-Submitted: auto-replied\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n"
	    "Content-Transfer-Encoding: 7bit\r\n\r\n";
	CHECK(strncmp(m, want, strlen(want)) == 0);
	CHECK(strstr(m, "\r\n  https://verify.example.test/v/abc\r\n") != NULL);
	CHECK(strstr(m, "works until Fri, 16 Jan 1970 00:00:00 +0000;") != NULL);
	for (size_t i = 0; i < b.len; i++)	/* CRLF only */
		if (m[i] == '\n')
			CHECK(i > 0 && m[i - 1] == '\r');
	buf_reset(&b);
	c.sender = "eve@far.example\r\nBcc: x@y";	/* header injection */
	CHECK(challenge_compose(&c, &b) == CM_EINVAL && b.len == 0);
	c.sender = "jörg@far.example";
	CHECK(challenge_compose(&c, &b) == 0);
	CHECK(strstr(buf_cstr(&b), "charset=utf-8\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n") != NULL);
	/* a held message's Message-ID may be up to 998 long: one that does
	 * not fit "In-Reply-To: " in 998 characters is left out, 985 fits */
	{
		static char id[CHALLENGE_MSGID_MAX + 1];
		size_t len, longest;

		for (size_t n = 985; n <= 986; n++) {
			memset(id, 'a', n);
			id[0] = '<';
			memcpy(id + n - 3, "@y>", 4);
			c.in_reply_to = id;
			buf_reset(&b);
			CHECK(challenge_compose(&c, &b) == 0);
			m = buf_cstr(&b);
			longest = 0;
			for (const char *l = m; *l != '\0'; l += len + 2) {
				const char *e = strstr(l, "\r\n");

				len = e != NULL ? (size_t)(e - l) : strlen(l);
				if (len > longest)
					longest = len;
				if (e == NULL)
					break;
			}
			CHECK(longest == (n == 985 ? 998 : 75));
			CHECK((strstr(m, "\r\nIn-Reply-To: <aa") != NULL) ==
			    (n == 985));
			CHECK((strstr(m, "\r\nReferences: <aa") != NULL) ==
			    (n == 985));
		}
	}
	buf_free(&b);
}

static void
test_utf8(void)
{
	static const struct {
		const char *s;
		size_t n, want;
	} seqs[] = {
		{ "a", 1, 1 }, { "\xc3\xa9", 2, 2 }, { "\xe2\x82\xac", 3, 3 },
		{ "\xf0\x9f\x98\x80", 4, 4 }, { "\xf4\x8f\xbf\xbf", 4, 4 },
		{ "\xc3", 1, 0 },			/* cut short */
		{ "\xc0\xaf", 2, 0 }, { "\xc1\xbf", 2, 0 },	/* overlong */
		{ "\xe0\x80\xaf", 3, 0 }, { "\xf0\x80\x80\xaf", 4, 0 },
		{ "\xed\xa0\x80", 3, 0 }, { "\xed\xbf\xbf", 3, 0 }, /* surrogates */
		{ "\xed\x9f\xbf", 3, 3 },		/* U+D7FF */
		{ "\xf4\x90\x80\x80", 4, 0 },		/* above U+10FFFF */
		{ "\xf5\x80\x80\x80", 4, 0 }, { "\xff", 1, 0 },
		{ "\x80", 1, 0 },			/* a lone continuation */
		{ "\xe2\x28\xa1", 3, 0 },		/* not a continuation */
	};

	for (size_t i = 0; i < sizeof seqs / sizeof seqs[0]; i++)
		CHECK(utf8_seq((const unsigned char *)seqs[i].s, seqs[i].n) ==
		    seqs[i].want);
	CHECK(utf8_valid(""));
	CHECK(utf8_valid("plain j\xc3\xb6rg \xe2\x82\xac"));
	CHECK(!utf8_valid("cut \xe2\x82"));
	CHECK(!utf8_valid("\xed\xa0\x80"));
}

int
main(void)
{
	log_open("test-lib");
	test_buf();
	test_log_safe();
	test_cfg();
	test_conn_line();
	test_hdrdecode();
	test_hdr_next();
	test_bodytext();
	test_sasl();
	test_authlimit();
	test_dsn();
	test_captoken();
	test_challenge();
	test_utf8();
	if (failures > 0) {
		fprintf(stderr, "test-lib: %d checks failed\n", failures);
		return 1;
	}
	printf("test-lib: all checks passed\n");
	return 0;
}
