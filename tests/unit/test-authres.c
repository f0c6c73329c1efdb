/*
 * Unit tests for lib/authres: the Authentication-Results header and the
 * summary (exact bytes), the DMARC record parser, the pieces of a
 * message shown to the DKIM verifier (the topmost signatures), the From
 * domain, the
 * organisational domain and alignment (Debian's public suffix list),
 * dns_resolver's syntax, and a whole check against a resolver address
 * where nothing listens (every lookup fails at once: temperror, no hang).
 * The real DNS cases are in tests/integration/t_authres.py (dnsmasq).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "authres.h"
#include "buf.h"
#include "errors.h"

static int failures;

#define CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
	    #cond); failures++; } } while (0)

static void
check_header(const struct authres *r, const char *id, const char *want,
    size_t maxline, int line)
{
	struct buf b;

	buf_init(&b, AUTHRES_HEADER_MAX);
	if (authres_header(r, id, &b) != 0 || strcmp(buf_cstr(&b), want) != 0) {
		fprintf(stderr, "%s:%d: header\n got: %s\nwant: %s\n", __FILE__,
		    line, buf_cstr(&b), want);
		failures++;
	}
	/* one field: every CRLF but the last is followed by a tab, and no
	 * line is longer than maxline */
	const char *p = buf_cstr(&b), *nl;
	while ((nl = strstr(p, "\r\n")) != NULL) {
		CHECK((size_t)(nl - p) <= maxline);
		CHECK(nl[2] == '\t' || nl[2] == '\0');
		p = nl + 2;
	}
	buf_free(&b);
}

static void
test_header(void)
{
	struct authres r = { 0 };
	char s[64];

	r.spf = AUTHRES_PASS;
	strcpy(r.spf_domain, "spf-pass.test");
	r.dkim = AUTHRES_PASS;
	strcpy(r.dkim_domain, "dkim.test");
	r.dmarc = AUTHRES_PASS;
	strcpy(r.from_domain, "dkim.test");
	check_header(&r, "mx.example.test",
	    "Authentication-Results: mx.example.test;\r\n"
	    "\tspf=pass smtp.mailfrom=spf-pass.test;\r\n"
	    "\tdkim=pass header.d=dkim.test;\r\n"
	    "\tdmarc=pass header.from=dkim.test\r\n", 78, __LINE__);
	CHECK(authres_summary(&r, s, sizeof s) == 0);
	CHECK(strcmp(s, "spf=pass dkim=pass dmarc=pass") == 0);
	CHECK(authres_summary(&r, s, 10) == CM_ETOOBIG);

	/* nothing known: results without properties */
	memset(&r, 0, sizeof r);
	r.spf = AUTHRES_TEMPERROR;
	r.dmarc = AUTHRES_NONE;
	check_header(&r, "mx", "Authentication-Results: mx;\r\n"
	    "\tspf=temperror;\r\n\tdkim=none;\r\n\tdmarc=none\r\n", 78, __LINE__);
	CHECK(authres_summary(&r, s, sizeof s) == 0);
	CHECK(strcmp(s, "spf=temperror dkim=none dmarc=none") == 0);

	/* <>: HELO's identity; an address literal is quoted */
	memset(&r, 0, sizeof r);
	r.spf_helo = 1;
	strcpy(r.spf_domain, "[192.0.2.1]");
	r.dkim = AUTHRES_FAIL;
	strcpy(r.dkim_domain, "x.test");
	r.dmarc = AUTHRES_FAIL;
	strcpy(r.from_domain, "a\"b\\c\r\n.test");
	check_header(&r, "mx", "Authentication-Results: mx;\r\n"
	    "\tspf=none smtp.helo=\"[192.0.2.1]\";\r\n"
	    "\tdkim=fail header.d=x.test;\r\n"
	    "\tdmarc=fail header.from=\"a\\\"b\\\\c??.test\"\r\n", 78, __LINE__);

	/* a long value goes on a line of its own */
	memset(&r, 0, sizeof r);
	r.spf = AUTHRES_SOFTFAIL;
	memset(r.spf_domain, 'a', 60);
	strcpy(r.spf_domain + 60, ".test");
	r.dkim = AUTHRES_PERMERROR;
	r.dmarc = AUTHRES_TEMPERROR;
	char want[512];
	snprintf(want, sizeof want, "Authentication-Results: mx;\r\n"
	    "\tspf=softfail\r\n\tsmtp.mailfrom=%s;\r\n"
	    "\tdkim=permerror;\r\n\tdmarc=temperror\r\n", r.spf_domain);
	check_header(&r, "mx", want, 1 + 14 + 65 + 1, __LINE__);

	/* the buffer's limit: nothing appended */
	struct buf b;
	buf_init(&b, 20);
	CHECK(buf_addstr(&b, "X") == 0);
	CHECK(authres_header(&r, "mx", &b) == CM_ETOOBIG);
	CHECK(strcmp(buf_cstr(&b), "X") == 0);
	buf_free(&b);

	CHECK(strcmp(authres_result_name(AUTHRES_NEUTRAL), "neutral") == 0);
}

static void
test_authenticated(void)
{
	struct authres r = { 0 };

	CHECK(!authres_authenticated(&r));
	CHECK(strcmp(authres_method(&r), "none") == 0);
	r.spf = AUTHRES_PASS;		/* not aligned: not enough */
	CHECK(!authres_authenticated(&r));
	r.spf_aligned = 1;
	CHECK(authres_authenticated(&r));
	CHECK(strcmp(authres_method(&r), "spf") == 0);
	r.dkim = AUTHRES_PASS;
	CHECK(strcmp(authres_method(&r), "spf") == 0);
	r.dkim_aligned = 1;
	CHECK(strcmp(authres_method(&r), "dkim") == 0);
	r.spf = AUTHRES_FAIL;
	CHECK(authres_authenticated(&r));
	r.dkim = AUTHRES_FAIL;
	CHECK(!authres_authenticated(&r));
}

#define DMARC(s, d) authres_dmarc_parse(s, sizeof(s) - 1, d)

static void
test_dmarc(void)
{
	struct authres_dmarc d;

	CHECK(DMARC("v=DMARC1; p=reject", &d) == 0);
	CHECK(strcmp(d.p, "reject") == 0 && !d.adkim_strict && !d.aspf_strict);
	CHECK(DMARC("v=DMARC1;p=Quarantine;adkim=s;aspf=S;rua=mailto:a@b;", &d)
	    == 0);
	CHECK(strcmp(d.p, "quarantine") == 0 && d.adkim_strict &&
	    d.aspf_strict);
	CHECK(DMARC(" v = DMARC1 ;  p = none ; ; pct=50", &d) == 0);
	CHECK(strcmp(d.p, "none") == 0);
	CHECK(DMARC("v=DMARC1; p=reject; sp=none; rua=x", &d) == 0);
	CHECK(strcmp(d.p, "reject") == 0 && !d.p_from_rua);
	/* RFC 7489 section 6.6.3 step 6: no valid p= (or a bad sp=) and no
	 * valid rua= URI: the record is discarded */
	CHECK(DMARC("v=DMARC1", &d) == CM_EINVAL);
	CHECK(DMARC("v=DMARC1; p=bogus", &d) == CM_EINVAL);
	CHECK(DMARC("v=DMARC1; p=", &d) == CM_EINVAL);
	CHECK(DMARC("v=DMARC1; p=reject; sp=bogus", &d) == CM_EINVAL);
	CHECK(DMARC("v=DMARC1; adkim=s", &d) == CM_EINVAL);
	CHECK(DMARC("v=DMARC1; p=bogus; rua=", &d) == CM_EINVAL);
	CHECK(DMARC("v=DMARC1; p=bogus; rua=reports@x.test", &d) == CM_EINVAL);
	CHECK(DMARC("v=DMARC1; p=bogus; rua=mailto:", &d) == CM_EINVAL);
	CHECK(DMARC("v=DMARC1; p=bogus; rua=1x:a@b", &d) == CM_EINVAL);
	CHECK(DMARC("v=DMARC1; p=bogus; rua=mailto:a b@x.test", &d) ==
	    CM_EINVAL);
	CHECK(DMARC("v=DMARC1; p=bogus; rua=mailto:a%4@x.test", &d) ==
	    CM_EINVAL);
	CHECK(DMARC("v=DMARC1; p=bogus; rua=mailto:a@x.test!", &d) ==
	    CM_EINVAL);
	CHECK(DMARC("v=DMARC1; p=bogus; rua=mailto:a@x.test!10x", &d) ==
	    CM_EINVAL);
	/* ... and with one: as if p=none */
	CHECK(DMARC("v=DMARC1; rua=mailto:dmarc@x.test", &d) == 0);
	CHECK(strcmp(d.p, "none") == 0 && d.p_from_rua);
	CHECK(DMARC("v=DMARC1; p=bogus; adkim=s; rua=bad, mailto:a%40b@x.test!10m",
	    &d) == 0);
	CHECK(strcmp(d.p, "none") == 0 && d.p_from_rua && d.adkim_strict);
	CHECK(DMARC("v=DMARC1; p=reject; sp=x; rua=https://x.test/r?a=1", &d)
	    == 0);
	CHECK(strcmp(d.p, "none") == 0 && d.p_from_rua);
	CHECK(DMARC("v=DMARC1; p=none; rua=mailto:a@x.test!25", &d) == 0);
	CHECK(strcmp(d.p, "none") == 0 && !d.p_from_rua);
	/* not a DMARC record at all */
	CHECK(DMARC("v=spf1 -all", &d) == CM_ENOTFOUND);
	CHECK(DMARC("p=reject; v=DMARC1", &d) == CM_ENOTFOUND);
	CHECK(DMARC("v=dmarc1; p=reject", &d) == CM_ENOTFOUND);
	CHECK(DMARC("v=DMARC10", &d) == CM_ENOTFOUND);
	CHECK(DMARC("", &d) == CM_ENOTFOUND);
	CHECK(DMARC(";", &d) == CM_ENOTFOUND);
	CHECK(DMARC("hello", &d) == CM_ENOTFOUND);
	/* a DMARC record, malformed (RFC 8601's permerror) */
	CHECK(DMARC("v=DMARC1; adkim=x", &d) == CM_EPARSE);
	CHECK(DMARC("v=DMARC1; p=reject; aspf=", &d) == CM_EPARSE);
	CHECK(DMARC("v=DMARC1; p", &d) == CM_EPARSE);
	CHECK(DMARC("v=DMARC1; =x", &d) == CM_EPARSE);
}

struct pieces {
	struct buf out;
	int n, stop_at;
};

static int
piece(void *arg, const char *p, size_t n)
{
	struct pieces *pc = arg;

	if (n == 0 || buf_add(&pc->out, p, n) < 0)
		failures++;
	return ++pc->n == pc->stop_at ? 42 : 0;
}

/* authres_dkim_pieces(in) gives want (pieces joined), in npieces pieces,
 * having counted nsig signatures */
static void
check_pieces(const char *in, size_t inlen, const char *want, int npieces,
    unsigned nsig, int line)
{
	struct pieces pc = { .stop_at = -1 };
	unsigned got = 12345;

	buf_init(&pc.out, 1 << 20);
	if (authres_dkim_pieces(in, inlen, piece, &pc, &got) != 0 ||
	    pc.out.len != strlen(want) ||
	    memcmp(pc.out.data != NULL ? pc.out.data : "", want,
	    pc.out.len) != 0 || pc.n != npieces || got != nsig) {
		fprintf(stderr, "%s:%d: pieces (%d, %u signatures)\n got: %.*s\n"
		    "want: %s\n", __FILE__, line, pc.n, got, (int)pc.out.len,
		    pc.out.data != NULL ? pc.out.data : "", want);
		failures++;
	}
	buf_free(&pc.out);
}

#define PIECES(in, want, np, ns) \
	check_pieces(in, sizeof(in) - 1, want, np, ns, __LINE__)

static void
test_dkim_pieces(void)
{
	char in[4096], want[4096];
	size_t il = 0, wl = 0;
	struct pieces pc = { .stop_at = 1 };

	/* 12 signatures, folded, between other fields: the topmost 8 stay,
	 * the 4 below go; the body's lookalike line is the body's */
	il = (size_t)snprintf(in, sizeof in, "Received: x\r\n");
	wl = (size_t)snprintf(want, sizeof want, "%s", in);
	for (int i = 0; i < 12; i++) {
		char f[128];

		snprintf(f, sizeof f, "%s: v=1; s=s%d;\r\n\tb=%d\r\n %d\r\n",
		    i % 3 == 0 ? "DKIM-Signature" : i % 3 == 1 ?
		    "dkim-signature" : "DKIM-Signature \t", i, i, i);
		il += (size_t)snprintf(in + il, sizeof in - il, "%s", f);
		if (i < 8)
			wl += (size_t)snprintf(want + wl, sizeof want - wl,
			    "%s", f);
		if (i == 9) {
			il += (size_t)snprintf(in + il, sizeof in - il,
			    "X-Between: y\r\n");
			wl += (size_t)snprintf(want + wl, sizeof want - wl,
			    "X-Between: y\r\n");
		}
	}
	il += (size_t)snprintf(in + il, sizeof in - il,
	    "From: a@b.test\r\n\r\nDKIM-Signature: body\r\n");
	wl += (size_t)snprintf(want + wl, sizeof want - wl,
	    "From: a@b.test\r\n\r\nDKIM-Signature: body\r\n");
	/* Received..s7 | X-Between (after s8, s9 dropped) | From..body */
	check_pieces(in, il, want, 3, 12, __LINE__);

	/* LF-only lines, nine signatures: the ninth goes; a body line
	 * starting with a blank is not a fold of the empty line */
	PIECES("DKIM-Signature: 1\nDKIM-Signature: 2\nDKIM-Signature: 3\n"
	    "DKIM-Signature: 4\nDKIM-Signature: 5\nDKIM-Signature: 6\n"
	    "DKIM-Signature: 7\nDKIM-Signature: 8\nDKIM-Signature: 9\n"
	    " folded 9\nSubject: s\n\n body\n",
	    "DKIM-Signature: 1\nDKIM-Signature: 2\nDKIM-Signature: 3\n"
	    "DKIM-Signature: 4\nDKIM-Signature: 5\nDKIM-Signature: 6\n"
	    "DKIM-Signature: 7\nDKIM-Signature: 8\nSubject: s\n\n body\n",
	    2, 9);
	/* no empty line: all header; the last, ninth, signature is cut to
	 * msg's end, nothing after it */
	PIECES("DKIM-Signature:1\r\nDKIM-Signature:2\r\nDKIM-Signature:3\r\n"
	    "DKIM-Signature:4\r\nDKIM-Signature:5\r\nDKIM-Signature:6\r\n"
	    "DKIM-Signature:7\r\nDKIM-Signature:8\r\nX: y\r\n"
	    "DKIM-Signature:9\r\n\tno end",
	    "DKIM-Signature:1\r\nDKIM-Signature:2\r\nDKIM-Signature:3\r\n"
	    "DKIM-Signature:4\r\nDKIM-Signature:5\r\nDKIM-Signature:6\r\n"
	    "DKIM-Signature:7\r\nDKIM-Signature:8\r\nX: y\r\n", 1, 9);
	/* what is no DKIM-Signature field: a longer name, no colon, a
	 * continuation line; an empty line ends the header before more */
	PIECES("DKIM-Signatures: a\r\nDKIM-Signature b\r\nX: y\r\n"
	    " DKIM-Signature: c\r\n\r\nDKIM-Signature: d\r\n",
	    "DKIM-Signatures: a\r\nDKIM-Signature b\r\nX: y\r\n"
	    " DKIM-Signature: c\r\n\r\nDKIM-Signature: d\r\n", 1, 0);
	/* nothing, and only signatures to drop at the end */
	PIECES("", "", 0, 0);
	for (il = 0; il < 10 * 18; il += 18)
		memcpy(in + il, "DKIM-Signature: x\n", 18);
	in[il] = '\0';
	check_pieces(in, il, "DKIM-Signature: x\n"
	    "DKIM-Signature: x\nDKIM-Signature: x\nDKIM-Signature: x\n"
	    "DKIM-Signature: x\nDKIM-Signature: x\nDKIM-Signature: x\n"
	    "DKIM-Signature: x\n", 1, 10, __LINE__);
	/* fn's error stops it, and is returned */
	buf_init(&pc.out, 1 << 20);
	CHECK(authres_dkim_pieces(in, il, piece, &pc, NULL) == 42 &&
	    pc.n == 1 && pc.out.len == 8 * 18);
	buf_free(&pc.out);
}

#define FROM(s, o) authres_from_domain(s, sizeof(s) - 1, o, sizeof o)

static void
test_from(void)
{
	char o[64], small[4];

	CHECK(FROM("From: Alice <alice@Example.TEST>\r\nTo: b@c\r\n\r\nhi", o)
	    == 0 && strcmp(o, "example.test") == 0);
	CHECK(FROM("Subject: x\r\nfrom:\r\n a@b.test (c)\r\n\r\n", o) == 0 &&
	    strcmp(o, "b.test") == 0);
	CHECK(FROM("From: a@x.test, b@x.test\r\n\r\n", o) == 0 &&
	    strcmp(o, "x.test") == 0);
	CHECK(FROM("From: a@x.test, b@y.test\r\n\r\n", o) == CM_EPARSE &&
	    o[0] == '\0');
	CHECK(FROM("From: a@x.test\r\nFrom: b@x.test\r\n\r\n", o) ==
	    CM_EPARSE);
	CHECK(FROM("To: a@x.test\r\n\r\n", o) == CM_ENOTFOUND);
	CHECK(FROM("From: <<<\r\n\r\n", o) == CM_EPARSE);
	CHECK(FROM("", o) == CM_ENOTFOUND);
	CHECK(authres_from_domain("From: a@x.test\r\n\r\n", 18, small,
	    sizeof small) == CM_ETOOBIG && small[0] == '\0');
}

static void
test_domains(struct authres_ctx *ctx)
{
	char o[256];

	CHECK(authres_org_domain(ctx, "mail.Example.CO.UK", o, sizeof o) == 0 &&
	    strcmp(o, "example.co.uk") == 0);
	CHECK(authres_org_domain(ctx, "a.b.example.com.", o, sizeof o) == 0 &&
	    strcmp(o, "example.com") == 0);
	/* .test is no listed suffix: the default rule "*" applies */
	CHECK(authres_org_domain(ctx, "mx.dkim.test", o, sizeof o) == 0 &&
	    strcmp(o, "dkim.test") == 0);
	CHECK(authres_org_domain(ctx, "co.uk", o, sizeof o) == CM_EINVAL);
	CHECK(authres_org_domain(ctx, "", o, sizeof o) == CM_EINVAL);
	CHECK(authres_aligned(ctx, "mail.example.com", "Example.com", 0));
	CHECK(!authres_aligned(ctx, "mail.example.com", "example.com", 1));
	CHECK(authres_aligned(ctx, "EXAMPLE.com", "example.com", 1));
	CHECK(!authres_aligned(ctx, "example.com", "example.org", 0));
	/* two registrants under one public suffix are not aligned */
	CHECK(!authres_aligned(ctx, "a.co.uk", "b.co.uk", 0));
	CHECK(!authres_aligned(ctx, "co.uk", "co.uk.", 0));
	CHECK(!authres_aligned(ctx, "", "", 0));
}

static void
test_ctx(void)
{
	struct authres_ctx *ctx;
	char err[200];
	static const char *const bad[] = { "localhost:53", "127.0.0.1",
	    "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:", "127.0.0.1:5x",
	    "::1:53", "[::1]", "[::1]53", "[127.0.0.1]:53", ":53", "[]:53" };

	CHECK(authres_ctx_new("127.0.0.1:53", &ctx, err, sizeof err) == 0);
	authres_ctx_free(&ctx);
	CHECK(ctx == NULL);
	CHECK(authres_ctx_new("[::1]:5353", &ctx, err, sizeof err) == 0);
	authres_ctx_free(&ctx);
	CHECK(authres_ctx_new("", &ctx, err, sizeof err) == 0);
	authres_ctx_free(&ctx);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (authres_ctx_new(bad[i], &ctx, err, sizeof err) !=
		    CM_ECONFIG || ctx != NULL) {
			fprintf(stderr, "dns_resolver %s was taken\n", bad[i]);
			failures++;
		}
		authres_ctx_free(&ctx);
	}
}

/* A loopback UDP port nobody listens on: lookups are refused at once. */
static unsigned short
closed_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof sa;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
		abort();
	close(fd);
	return ntohs(sa.sin_port);
}

static void
test_check_no_dns(void)
{
	static const char msg[] = "From: a@spf-pass.test\r\n"
	    "DKIM-Signature: v=1; a=rsa-sha256; d=spf-pass.test; s=s; "
	    "c=relaxed/relaxed; h=from; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; "
	    "b=AAAA\r\n\r\nbody\r\n";
	struct authres_ctx *ctx;
	struct authres r;
	char res[40], err[200];

	snprintf(res, sizeof res, "127.0.0.1:%u", closed_port());
	CHECK(authres_ctx_new(res, &ctx, err, sizeof err) == 0);
	CHECK(authres_check(ctx, "127.0.0.1", "client.test", "a@spf-pass.test",
	    msg, sizeof msg - 1, &r) == 0);
	CHECK(r.spf == AUTHRES_TEMPERROR);
	CHECK(strcmp(r.spf_domain, "spf-pass.test") == 0 && !r.spf_helo);
	CHECK(r.dkim == AUTHRES_TEMPERROR);
	CHECK(strcmp(r.dkim_domain, "spf-pass.test") == 0);
	CHECK(r.dmarc == AUTHRES_TEMPERROR);
	CHECK(strcmp(r.from_domain, "spf-pass.test") == 0);
	CHECK(!authres_authenticated(&r));
	/* <> with an address literal HELO: nothing to ask for SPF */
	CHECK(authres_check(ctx, "::1", "[127.0.0.1]", "", "X: y\r\n\r\n", 8,
	    &r) == 0);
	CHECK(r.spf == AUTHRES_NONE && r.spf_helo &&
	    strcmp(r.spf_domain, "[127.0.0.1]") == 0);
	CHECK(r.dkim == AUTHRES_NONE && r.dmarc == AUTHRES_NONE &&
	    r.from_domain[0] == '\0');
	test_domains(ctx);
	authres_ctx_free(&ctx);
}

int
main(void)
{
	test_header();
	test_authenticated();
	test_dmarc();
	test_dkim_pieces();
	test_from();
	test_ctx();
	test_check_no_dns();
	if (failures) {
		fprintf(stderr, "test-authres: %d failures\n", failures);
		return 1;
	}
	printf("test-authres: ok\n");
	return 0;
}
