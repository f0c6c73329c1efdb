/*
 * test-smtp-parse: the gateway's pure parsers: command lines, MAIL/RCPT
 * paths and parameters with their limits, HELO names, the DATA decoder
 * (fed whole, one byte at a time and split at every position), and the
 * Received header. Exits non-zero on the first failed check.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "errors.h"
#include "smtp-data.h"
#include "smtp-parse.h"
#include "smtp-received.h"

static int failures;

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,	\
		    __LINE__, #cond);					\
		failures++;						\
	}								\
} while (0)

/* ---- command lines ---- */

static void
test_line(void)
{
	struct smtp_line l;
	const char *why;

	CHECK(smtp_parse_line("MAIL FROM:<a@b.c>", 17, &l, &why) == 0);
	CHECK(l.verb_len == 4 && smtp_verb_is(&l, "mail"));
	CHECK(l.arg_len == 12 && memcmp(l.arg, "FROM:<a@b.c>", 12) == 0);

	CHECK(smtp_parse_line("NOOP", 4, &l, &why) == 0);
	CHECK(smtp_verb_is(&l, "NOOP") && l.arg_len == 0);
	CHECK(!smtp_verb_is(&l, "NOO") && !smtp_verb_is(&l, "NOOPS"));

	CHECK(smtp_parse_line("rset   ", 7, &l, &why) == 0);
	CHECK(smtp_verb_is(&l, "RSET") && l.arg_len == 0);
	CHECK(smtp_parse_line("EHLO   x.y  ", 12, &l, &why) == 0);
	CHECK(l.arg_len == 3 && memcmp(l.arg, "x.y", 3) == 0);

	CHECK(smtp_parse_line("", 0, &l, &why) == CM_EPARSE);
	CHECK(smtp_parse_line(" NOOP", 5, &l, &why) == CM_EPARSE);
	CHECK(smtp_parse_line("NO\0OP", 5, &l, &why) == CM_EPARSE);
	CHECK(smtp_parse_line("NOOP\tx", 6, &l, &why) == CM_EPARSE);
	CHECK(smtp_parse_line("ABCDEFGHIJKLMNOPQ", 17, &l, &why) == CM_EPARSE);
	CHECK(smtp_parse_line("ABCDEFGHIJKLMNOP", 16, &l, &why) == 0);
}

/* ---- paths ---- */

static int
mail(const char *arg, struct smtp_path *p)
{
	const char *why;
	return smtp_parse_path(arg, strlen(arg), SMTP_PATH_MAIL, p, &why);
}

static int
rcpt(const char *arg, struct smtp_path *p)
{
	const char *why;
	return smtp_parse_path(arg, strlen(arg), SMTP_PATH_RCPT, p, &why);
}

static char *
repeat(char *out, char c, size_t n)
{
	memset(out, c, n);
	out[n] = '\0';
	return out;
}

static void
test_path_good(void)
{
	struct smtp_path p;

	CHECK(mail("FROM:<alice@Example.TEST>", &p) == 0);
	CHECK(strcmp(p.addr, "alice@example.test") == 0);
	CHECK(strcmp(p.domain, "example.test") == 0 && p.local_len == 5);
	CHECK(!p.null_path && !p.utf8 && p.nparams == 0);

	CHECK(mail("from:<Alice.B+tag@x.test>", &p) == 0);
	CHECK(strcmp(p.addr, "Alice.B+tag@x.test") == 0);

	CHECK(mail("FROM:<>", &p) == 0 && p.null_path && p.addr[0] == '\0');
	CHECK(mail("FROM: <a@b.c>", &p) == 0);	/* common client bug */
	CHECK(strcmp(p.addr, "a@b.c") == 0);

	/* source route accepted and ignored */
	CHECK(rcpt("TO:<@relay.x,@r2.y:bob@z.test>", &p) == 0);
	CHECK(strcmp(p.addr, "bob@z.test") == 0);

	/* quotes removed when not needed, kept (normalised) when needed */
	CHECK(rcpt("TO:<\"alice\"@x.test>", &p) == 0);
	CHECK(strcmp(p.addr, "alice@x.test") == 0);
	CHECK(rcpt("TO:<\"a b\"@x.test>", &p) == 0);
	CHECK(strcmp(p.addr, "\"a b\"@x.test") == 0);
	CHECK(rcpt("TO:<\"a\\\"b\\c\"@x.test>", &p) == 0);
	CHECK(strcmp(p.addr, "\"a\\\"bc\"@x.test") == 0);
	CHECK(rcpt("TO:<\"\"@x.test>", &p) == 0);
	CHECK(strcmp(p.addr, "\"\"@x.test") == 0);

	CHECK(rcpt("TO:<a@[127.0.0.1]>", &p) == 0 && p.literal);
	CHECK(strcmp(p.domain, "[127.0.0.1]") == 0);
	CHECK(rcpt("TO:<a@[IPv6:::1]>", &p) == 0 && p.literal);

	CHECK(rcpt("TO:<j\xc3\xb6rg@b\xc3\xbc.test>", &p) == 0 && p.utf8);
	CHECK(strcmp(p.addr, "j\xc3\xb6rg@b\xc3\xbc.test") == 0);

	CHECK(rcpt("TO:<Postmaster>", &p) == 0 && p.postmaster);
	CHECK(strcmp(p.addr, "postmaster") == 0 && p.domain[0] == '\0');
	CHECK(rcpt("TO:<postmaster@x.test>", &p) == 0 && !p.postmaster);

	CHECK(mail("FROM:<a@b.c> SIZE=100 BODY=8BITMIME  SMTPUTF8", &p) == 0);
	CHECK(p.nparams == 3);
	CHECK(smtp_param_is(&p.params[0], "size") && p.params[0].val_len == 3 &&
	    memcmp(p.params[0].val, "100", 3) == 0);
	CHECK(smtp_param_is(&p.params[1], "BODY"));
	CHECK(smtp_param_is(&p.params[2], "SMTPUTF8") &&
	    p.params[2].val == NULL);
	CHECK(mail("FROM:<> X-Y-1=a", &p) == 0 && p.nparams == 1 &&
	    p.null_path);
}

static void
test_path_bad(void)
{
	struct smtp_path p;
	static const char *const bad_mail[] = {
		"FROM:a@b.c", "FROM:<a@b.c", "FROM:<a@>", "FROM:<@b.c>",
		"FROM:<a..b@c.d>", "FROM:<.a@c.d>", "FROM:<a.@c.d>",
		"FROM:<a@-b.c>", "FROM:<a@b-.c>", "FROM:<a@b..c>",
		"FROM:<a b@c.d>", "FROM:<a@b.c> SIZE=", "FROM:<a@b.c>SIZE=1",
		"FROM:<a@b.c> =1", "FROM:<a@b.c> SIZE=1=2", "FROM:<postmaster>",
		"FROM:<\xc0\xaf@b.c>", "FROM:<a@\xed\xa0\x80.c>",
		"FROM:<\"a\x01\"@b.c>", "FROM:<\"a@b.c>", "FROM:<a@[]>",
		"FROM:<a@[1.2.3.4>", "FROM:<a@b.c>>", "FROM:<a@b.c> \x01",
		"FROM:<@x:a@b.c", "FROM:<@x,a@b.c>", "FROM:", "FROM",
		"TO:<a@b.c>", "FROM:<a\x00@b.c>", "FROM:<a@b_c.d>",
	};

	for (size_t i = 0; i < sizeof bad_mail / sizeof bad_mail[0]; i++) {
		int rc = mail(bad_mail[i], &p);
		if (rc != CM_EPARSE)
			fprintf(stderr, "bad MAIL accepted: %s\n", bad_mail[i]);
		CHECK(rc == CM_EPARSE);
	}
	CHECK(rcpt("TO:<>", &p) == CM_EPARSE);
	CHECK(rcpt("TO:<postmasterx>", &p) == CM_EPARSE);
	CHECK(rcpt("FROM:<a@b.c>", &p) == CM_EPARSE);
}

static void
test_path_limits(void)
{
	struct smtp_path p;
	char local[300], label[300], arg[2400], dom[1600];

	/* local part: 64 ok, 65 not */
	snprintf(arg, sizeof arg, "TO:<%s@x.test>", repeat(local, 'a', 64));
	CHECK(rcpt(arg, &p) == 0 && p.local_len == 64);
	snprintf(arg, sizeof arg, "TO:<%s@x.test>", repeat(local, 'a', 65));
	CHECK(rcpt(arg, &p) == CM_ETOOBIG);
	/* quoted: 64 octets including the quotes */
	snprintf(arg, sizeof arg, "TO:<\"%s\"@x.test>", repeat(local, 'a', 62));
	CHECK(rcpt(arg, &p) == 0);
	snprintf(arg, sizeof arg, "TO:<\"%s\"@x.test>", repeat(local, 'a', 63));
	CHECK(rcpt(arg, &p) == CM_ETOOBIG);

	/* label: 63 ok, 64 not */
	snprintf(arg, sizeof arg, "TO:<a@%s.test>", repeat(label, 'b', 63));
	CHECK(rcpt(arg, &p) == 0);
	snprintf(arg, sizeof arg, "TO:<a@%s.test>", repeat(label, 'b', 64));
	CHECK(rcpt(arg, &p) == CM_ETOOBIG);

	/* whole path: "<" + 64 + "@" + domain + ">" <= 256, so a domain of
	 * 189 fits and 190 does not (the domain itself is fine at 255) */
	repeat(label, 'c', 63);
	snprintf(dom, sizeof dom, "%s.%s.%s", label, label, label);	/* 191 */
	dom[189] = '\0';	/* ends in a letter: "...c.cc...c" */
	snprintf(arg, sizeof arg, "TO:<%s@%s>", repeat(local, 'a', 64), dom);
	CHECK(rcpt(arg, &p) == 0);
	snprintf(dom, sizeof dom, "%s.%s.%s", label, label, label);
	dom[190] = '\0';
	snprintf(arg, sizeof arg, "TO:<%s@%s>", repeat(local, 'a', 64), dom);
	CHECK(rcpt(arg, &p) == CM_ETOOBIG);

	/* domain over 255 */
	snprintf(dom, sizeof dom, "%s.%s.%s.%s.%s", label, label, label, label,
	    label);
	snprintf(arg, sizeof arg, "TO:<a@%s>", dom);
	CHECK(rcpt(arg, &p) == CM_ETOOBIG);

	/* parameters: 16 ok, 17 not */
	size_t n = (size_t)snprintf(arg, sizeof arg, "FROM:<a@b.c>");
	for (int i = 0; i < 16; i++)
		n += (size_t)snprintf(arg + n, sizeof arg - n, " X%d=1", i);
	CHECK(mail(arg, &p) == 0 && p.nparams == 16);
	snprintf(arg + n, sizeof arg - n, " X16=1");
	CHECK(mail(arg, &p) == CM_ETOOBIG);
}

static void
test_size_helo(void)
{
	unsigned long long v;
	const char *why;
	char big[400];

	CHECK(smtp_parse_size("0", 1, &v) == 0 && v == 0);
	CHECK(smtp_parse_size("52428800", 8, &v) == 0 && v == 52428800ull);
	CHECK(smtp_parse_size("18446744073709551615", 20, &v) == 0 &&
	    v == 18446744073709551615ull);
	CHECK(smtp_parse_size("18446744073709551616", 20, &v) == CM_ETOOBIG);
	CHECK(smtp_parse_size("123456789012345678901", 21, &v) == CM_EPARSE);
	CHECK(smtp_parse_size("", 0, &v) == CM_EPARSE);
	CHECK(smtp_parse_size(NULL, 0, &v) == CM_EPARSE);
	CHECK(smtp_parse_size("12a", 3, &v) == CM_EPARSE);
	CHECK(smtp_parse_size("-1", 2, &v) == CM_EPARSE);

	CHECK(smtp_check_helo("mail.example.com", 16, &why) == 0);
	CHECK(smtp_check_helo("win_host", 8, &why) == 0);
	CHECK(smtp_check_helo("[127.0.0.1]", 11, &why) == 0);
	CHECK(smtp_check_helo("[IPv6:::1]", 10, &why) == 0);
	CHECK(smtp_check_helo("", 0, &why) == CM_EPARSE);
	CHECK(smtp_check_helo("a b", 3, &why) == CM_EPARSE);
	CHECK(smtp_check_helo("a;b", 3, &why) == CM_EPARSE);
	CHECK(smtp_check_helo("a\nb", 3, &why) == CM_EPARSE);
	CHECK(smtp_check_helo("[1.2.3.4]x", 10, &why) == CM_EPARSE);
	CHECK(smtp_check_helo("a(b)", 4, &why) == CM_EPARSE);
	CHECK(smtp_check_helo(repeat(big, 'h', 255), 255, &why) == 0);
	CHECK(smtp_check_helo(repeat(big, 'h', 256), 256, &why) ==
	    CM_ETOOBIG);
}

/* ---- DATA decoder ---- */

struct data_case {
	const char *in;
	size_t inlen;
	size_t limit;
	int end;		/* expect SMTP_DATA_END */
	size_t consumed;	/* when end */
	const char *out;	/* expected message (NULL: not checked) */
	size_t outlen;
	int overflow;
};

#define S(x) x, sizeof(x) - 1

static const struct data_case data_cases[] = {
	{ S(".\r\n"), 100, 1, 3, S(""), 0 },
	{ S("hello\r\n.\r\n"), 100, 1, 10, S("hello\r\n"), 0 },
	{ S("..x\r\n.\r\n"), 100, 1, 8, S(".x\r\n"), 0 },
	{ S("a\r\n..\r\n.\r\n"), 100, 1, 10, S("a\r\n.\r\n"), 0 },
	{ S("a\r\n...\r\n.\r\n"), 100, 1, 11, S("a\r\n..\r\n"), 0 },
	/* SMTP smuggling: bare LF / bare CR never end the data */
	{ S("x\n.\nMAIL FROM:<a@b>\r\n"), 100, 0, 0, NULL, 0, 0 },
	{ S("x\n.\nMAIL FROM:<a@b>\r\n\r\n.\r\n"), 100, 1, 26,
	    S("x\n.\nMAIL FROM:<a@b>\r\n\r\n"), 0 },
	{ S("x\r.\r\nRSET\r\n.\r\n"), 100, 1, 14, S("x\r.\r\nRSET\r\n"), 0 },
	{ S("x\n.\r\nQUIT\r\n"), 100, 0, 0, NULL, 0, 0 },
	{ S("\r.\r\n.\r\n"), 100, 1, 7, S("\r.\r\n"), 0 },
	{ S(".\n.\r\n"), 100, 0, 0, NULL, 0, 0 },
	{ S(".\r.\r\n"), 100, 0, 0, NULL, 0, 0 },
	{ S(".\rx\r\n.\r\n"), 100, 1, 8, S("\rx\r\n"), 0 },
	{ S(".\r\r\n.\r\n"), 100, 1, 7, S("\r\r\n"), 0 },
	{ S("a\r\r\n.\r\n"), 100, 1, 7, S("a\r\r\n"), 0 },
	{ S("a\0b\r\n.\r\n"), 100, 1, 8, S("a\0b\r\n"), 0 },
	/* bytes after the end are left alone */
	{ S("a\r\n.\r\nQUIT\r\n"), 100, 1, 6, S("a\r\n"), 0 },
	/* the limit: exactly at it is fine, one more overflows */
	{ S("12345\r\n.\r\n"), 7, 1, 10, S("12345\r\n"), 0 },
	{ S("123456\r\n.\r\n"), 7, 1, 11, NULL, 0, 1 },
	{ S("..\r\n..\r\n.\r\n"), 6, 1, 11, S(".\r\n.\r\n"), 0 },
	{ S("1234567890\r\nmore\r\n.\r\nNOOP\r\n"), 4, 1, 21, NULL, 0, 1 },
};

/* Feed `c` in pieces of the sizes given by split(): 0 = all at once,
 * 1 = one byte at a time, k>1 = first k-1 bytes then the rest. */
static void
run_data_case(const struct data_case *c, size_t split, const char *what)
{
	struct buf out;
	struct smtp_data d;
	size_t off = 0, used;
	int rc = SMTP_DATA_MORE;

	buf_init(&out, c->limit + 16);
	smtp_data_init(&d, &out, c->limit);
	while (off < c->inlen && rc == SMTP_DATA_MORE) {
		size_t n = c->inlen - off;
		if (split == 1)
			n = 1;
		else if (split > 1 && off == 0 && split - 1 < n)
			n = split - 1;
		rc = smtp_data_feed(&d, c->in + off, n, &used);
		CHECK(used <= n);
		if (rc == SMTP_DATA_MORE)
			CHECK(used == n);
		off += used;
	}
	if (rc != (c->end ? SMTP_DATA_END : SMTP_DATA_MORE) ||
	    (c->end && off != c->consumed) || d.overflow != (unsigned)c->overflow ||
	    (c->out != NULL && (d.len != out.len || out.len != c->outlen ||
	    (out.len > 0 && memcmp(out.data, c->out, out.len) != 0)))) {
		fprintf(stderr, "data case %s split=%zu (%s) failed: rc=%d "
		    "off=%zu overflow=%d len=%zu\n", c->in, split, what, rc,
		    off, d.overflow, out.len);
		failures++;
	}
	buf_free(&out);
}

static void
test_data(void)
{
	for (size_t i = 0; i < sizeof data_cases / sizeof data_cases[0];
	    i++) {
		const struct data_case *c = &data_cases[i];
		run_data_case(c, 0, "whole");
		run_data_case(c, 1, "bytes");
		for (size_t k = 2; k <= c->inlen; k++)
			run_data_case(c, k, "split");
	}
}

/* An end seen is final: feeding more returns END and consumes nothing. */
static void
test_data_after_end(void)
{
	struct buf out;
	struct smtp_data d;
	size_t used;

	buf_init(&out, 100);
	smtp_data_init(&d, &out, 100);
	CHECK(smtp_data_feed(&d, ".\r\n", 3, &used) == SMTP_DATA_END);
	CHECK(used == 3 && d.done && out.len == 0);
	CHECK(smtp_data_feed(&d, "x", 1, &used) == SMTP_DATA_END && used == 0);
	buf_free(&out);
}

/* BDAT chunks: raw bytes, same limit, no dot handling. */
static void
test_data_raw(void)
{
	struct buf out;
	struct smtp_data d;

	buf_init(&out, 100);
	smtp_data_init(&d, &out, 10);
	CHECK(smtp_data_raw(&d, "..\r\n.\r\n", 7) == 0);
	CHECK(!d.overflow && !d.done && out.len == 7 &&
	    memcmp(out.data, "..\r\n.\r\n", 7) == 0);
	CHECK(smtp_data_raw(&d, "abc", 3) == 0 && !d.overflow && d.len == 10);
	CHECK(smtp_data_raw(&d, "", 0) == 0 && !d.overflow);
	CHECK(smtp_data_raw(&d, "d", 1) == 0 && d.overflow && d.len == 10);
	CHECK(smtp_data_raw(&d, "e", 1) == 0 && d.overflow && out.len == 10);
	buf_free(&out);
}

/* ---- Received ---- */

static int
lines_short(const char *s, size_t len)
{
	size_t col = 0;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\r' && i + 1 < len && s[i + 1] == '\n') {
			if (col >= 78)
				return 0;
			col = 0;
			i++;
		} else
			col += s[i] == '\t' ? 8 : 1;
	}
	return col == 0;
}

static void
test_received(void)
{
	struct buf b;
	struct smtp_received r = {
		.helo = "client.example.org",
		.ip = "192.0.2.1",
		.hostname = "mx.example.test",
		.proto = smtp_received_proto(1, 0, 0, 0),
		.id = "0123456789ABCDEF",
		.rcpt = "alice@example.test",
		.when = 1796324915,	/* Thu, 03 Dec 2026 19:08:35 +0000 */
	};
	const char *want =
	    "Received: from client.example.org ([192.0.2.1]) by "
	    "mx.example.test (capmail)\r\n"
	    "\twith ESMTP id 0123456789ABCDEF for "
	    "<alice@example.test>;\r\n"
	    "\tThu, 03 Dec 2026 19:08:35 +0000\r\n";

	buf_init(&b, 4096);
	CHECK(smtp_received(&b, &r) == 0);
	if (strcmp(b.data, want) != 0)
		fprintf(stderr, "got:\n%s\nwant:\n%s\n", b.data, want);
	CHECK(strcmp(b.data, want) == 0);
	CHECK(lines_short(b.data, b.len));

	buf_reset(&b);
	r.rcpt = NULL;
	r.ip = "::1";
	r.proto = smtp_received_proto(0, 0, 0, 0);
	CHECK(smtp_received(&b, &r) == 0);
	CHECK(strstr(b.data, "([IPv6:::1])") != NULL);
	CHECK(strstr(b.data, " for ") == NULL);
	CHECK(strstr(b.data, "with SMTP id 0123456789ABCDEF;") != NULL);
	CHECK(lines_short(b.data, b.len));

	/* long names still fold between words */
	buf_reset(&b);
	r.helo = "a-rather-long-client-host-name.subdomain.example.org";
	r.hostname = "a-rather-long-server-host-name.subdomain.example.test";
	r.rcpt = "someone.with.a.long.name@a-long-domain-name.example.test";
	CHECK(smtp_received(&b, &r) == 0);
	CHECK(lines_short(b.data, b.len));
	buf_free(&b);

	CHECK(strcmp(smtp_received_proto(1, 1, 0, 0), "ESMTPS") == 0);
	CHECK(strcmp(smtp_received_proto(1, 0, 1, 0), "ESMTPA") == 0);
	CHECK(strcmp(smtp_received_proto(1, 1, 1, 0), "ESMTPSA") == 0);
	CHECK(strcmp(smtp_received_proto(1, 0, 0, 1), "UTF8SMTP") == 0);
	CHECK(strcmp(smtp_received_proto(1, 1, 1, 1), "UTF8SMTPSA") == 0);
}

int
main(void)
{
	test_line();
	test_path_good();
	test_path_bad();
	test_path_limits();
	test_size_helo();
	test_data();
	test_data_after_end();
	test_data_raw();
	test_received();
	if (failures > 0) {
		fprintf(stderr, "%d check(s) failed\n", failures);
		return 1;
	}
	puts("test-smtp-parse: all checks passed");
	return 0;
}
