/*
 * Unit tests for lib/msgsum.c and lib/imapstr.c: exact ENVELOPE,
 * BODYSTRUCTURE and BODY strings and part offsets for messages written
 * here (expected values checked against Dovecot 2.3's answers for the same
 * messages, except where noted: we write type, subtype and encoding in
 * upper case, Dovecot as in the message), and robustness: every prefix of
 * a message, deep nesting, many parts, nested comments.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "errors.h"
#include "imapstr.h"
#include "msgsum.h"

static int failures, checks;

#define CHECK(cond) do { checks++; if (!(cond)) { \
	fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
	    #cond); failures++; } } while (0)

#define CHECK_STR(got, want) do { checks++; \
	if ((got) == NULL || strcmp((got), (want)) != 0) { \
	fprintf(stderr, "%s:%d: got  %s\n%s:%d: want %s\n", __FILE__, \
	    __LINE__, (got) ? (got) : "(null)", __FILE__, __LINE__, (want)); \
	failures++; } } while (0)

static struct msgsum *
parse(const char *msg)
{
	struct msgsum *s = NULL;
	int r = msgsum_parse(msg, strlen(msg), &s);

	CHECK(r == 0 && s != NULL);
	if (s == NULL) {
		fprintf(stderr, "msgsum_parse failed: %d\n", r);
		exit(1);
	}
	return s;
}

static const struct msgsum_part *
part(const struct msgsum *s, const char *path)
{
	for (size_t i = 0; i < s->nparts; i++)
		if (strcmp(s->parts[i].path, path) == 0)
			return &s->parts[i];
	fprintf(stderr, "no part %s\n", path);
	failures++;
	return NULL;
}

/* The part's MIME header and body are exactly these bytes of msg. */
static void
check_part(const char *msg, const struct msgsum *s, const char *path,
    enum msgsum_kind kind, const char *mime, const char *body)
{
	const struct msgsum_part *p = part(s, path);

	if (p == NULL)
		return;
	CHECK(p->kind == kind);
	CHECK(p->hdr_off <= p->body_off && p->body_off <= p->end_off &&
	    p->end_off <= strlen(msg));
	if (mime != NULL) {
		checks++;
		if (p->body_off - p->hdr_off != strlen(mime) ||
		    memcmp(msg + p->hdr_off, mime, strlen(mime)) != 0) {
			fprintf(stderr, "part %s MIME: got [%.*s] want [%s]\n",
			    path, (int)(p->body_off - p->hdr_off),
			    msg + p->hdr_off, mime);
			failures++;
		}
	}
	checks++;
	if (p->end_off - p->body_off != strlen(body) ||
	    memcmp(msg + p->body_off, body, strlen(body)) != 0) {
		fprintf(stderr, "part %s body: got [%.*s] want [%s]\n", path,
		    (int)(p->end_off - p->body_off), msg + p->body_off, body);
		failures++;
	}
}

static void
test_imapstr(void)
{
	struct buf b;

	buf_init(&b, 1024);
	CHECK(imap_astring_render(&b, NULL, 0) == 0);
	CHECK(imap_astring_render(&b, "", 0) == 0);
	CHECK(imap_astring_render_cstr(&b, "a \"q\" \\b") == 0);
	CHECK_STR(b.data, "NIL\"\"\"a \\\"q\\\" \\\\b\"");
	buf_reset(&b);
	CHECK(imap_astring_render(&b, "caf\xc3\xa9", 5) == 0);
	CHECK(imap_astring_render(&b, "a\r\nb", 4) == 0);
	CHECK(imap_astring_render(&b, "x\0y", 3) == 0);
	CHECK(b.len == 9 + 10 + 8 && memcmp(b.data,
	    "{5}\r\ncaf\xc3\xa9{4}\r\na\r\nb{3}\r\nx\0y", b.len) == 0);
	CHECK(imap_quoted_ok("plain", 5));
	CHECK(!imap_quoted_ok("\x80", 1));
	buf_free(&b);
	buf_init(&b, 4);
	CHECK(imap_astring_render_cstr(&b, "toolong") == CM_ETOOBIG);
	buf_free(&b);
}

static void
test_simple(void)
{
	static const char msg[] =
	    "Date: Fri, 07 Oct 1994 16:15:05 -0700 (PDT)\r\n"
	    "From: Nathaniel Borenstein <nsb@nsb.fv.com>\r\n"
	    "To: \"Ned \\\"Q\\\" Freed\" <ned@innosoft.com>, x@y.example\r\n"
	    "Subject: A simple\r\n"
	    "  example\r\n"
	    "Message-ID: <id1@host.example>\r\n"
	    "In-Reply-To: <id0@host.example>\r\n"
	    "\r\n"
	    "Hello.\r\n"
	    "Bye.\r\n";
	struct msgsum *s = parse(msg);

	CHECK_STR(s->envelope,
	    "(\"Fri, 07 Oct 1994 16:15:05 -0700 (PDT)\" \"A simple  example\" "
	    "((\"Nathaniel Borenstein\" NIL \"nsb\" \"nsb.fv.com\")) "
	    "((\"Nathaniel Borenstein\" NIL \"nsb\" \"nsb.fv.com\")) "
	    "((\"Nathaniel Borenstein\" NIL \"nsb\" \"nsb.fv.com\")) "
	    "((\"Ned \\\"Q\\\" Freed\" NIL \"ned\" \"innosoft.com\")"
	    "(NIL NIL \"x\" \"y.example\")) NIL NIL "
	    "\"<id0@host.example>\" \"<id1@host.example>\")");
	CHECK_STR(s->bodystructure, "(\"TEXT\" \"PLAIN\" (\"charset\" "
	    "\"us-ascii\") NIL NIL \"7BIT\" 14 2 NIL NIL NIL NIL)");
	CHECK_STR(s->body, "(\"TEXT\" \"PLAIN\" (\"charset\" \"us-ascii\") "
	    "NIL NIL \"7BIT\" 14 2)");
	CHECK_STR(s->subject, "A simple  example");
	CHECK(s->date == 781571705);	/* 1994-10-07 23:15:05 UTC */
	CHECK(s->header_len == strlen(msg) - 14);
	CHECK(s->nparts == 1);
	check_part(msg, s, "1", MSGSUM_LEAF, NULL, "Hello.\r\nBye.\r\n");
	CHECK(s->parts[0].hdr_off == 0);
	msgsum_free(&s);
	CHECK(s == NULL);
}

static const char mixed[] =
    "From: a@b.example\r\n"
    "Subject: attachment\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"XX\"\r\n"
    "\r\n"
    "preamble\r\n"
    "--XX\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Language: en-GB\r\n"
    "\r\n"
    "See attached.\r\n"
    "\r\n"
    "--XX\r\n"
    "Content-Type: application/pdf; name=\"a b.pdf\"\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "Content-Disposition: attachment;\r\n"
    "\tfilename*0=\"a \"; filename*1=\"b.pdf\"\r\n"
    "Content-ID: <c1@b.example>\r\n"
    "Content-Description: the file\r\n"
    "\r\n"
    "JVBERi0xLjQK\r\n"
    "--XX--\r\n"
    "epilogue\r\n";

static void
test_mixed(void)
{
	struct msgsum *s = parse(mixed);

	CHECK_STR(s->bodystructure,
	    "((\"TEXT\" \"PLAIN\" (\"charset\" \"utf-8\") NIL NIL \"7BIT\" 15 1 "
	    "NIL NIL (\"en-GB\") NIL)"
	    "(\"APPLICATION\" \"PDF\" (\"name\" \"a b.pdf\") \"<c1@b.example>\" "
	    "\"the file\" \"BASE64\" 12 NIL (\"ATTACHMENT\" (\"filename\" "
	    "\"a b.pdf\")) NIL NIL) \"MIXED\" (\"boundary\" \"XX\") NIL NIL NIL)");
	CHECK_STR(s->body,
	    "((\"TEXT\" \"PLAIN\" (\"charset\" \"utf-8\") NIL NIL \"7BIT\" 15 1)"
	    "(\"APPLICATION\" \"PDF\" (\"name\" \"a b.pdf\") \"<c1@b.example>\" "
	    "\"the file\" \"BASE64\" 12) \"MIXED\")");
	CHECK(s->nparts == 2);
	check_part(mixed, s, "1", MSGSUM_LEAF,
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Language: en-GB\r\n\r\n", "See attached.\r\n");
	check_part(mixed, s, "2", MSGSUM_LEAF, NULL, "JVBERi0xLjQK");
	CHECK(strncmp(mixed + s->header_len, "preamble", 8) == 0);
	msgsum_free(&s);
}

static void
test_nested(void)
{
	static const char msg[] =
	    "Content-Type: multipart/mixed; boundary=outer\r\n"
	    "\r\n"
	    "--outer\r\n"
	    "Content-Type: multipart/alternative; boundary=\"outer-alt\"\r\n"
	    "\r\n"
	    "--outer-alt\r\n"
	    "\r\n"
	    "plain\r\n"
	    "--outer-alt\r\n"
	    "Content-Type: text/html\r\n"
	    "\r\n"
	    "<p>html</p>\r\n"
	    "--outer-alt--\r\n"
	    "\r\n"
	    "--outer\r\n"
	    "Content-Type: image/png\r\n"
	    "\r\n"
	    "PNG\r\n"
	    "--outer--\r\n";
	struct msgsum *s = parse(msg);

	/* "--outer-alt" starts with "--outer": the longest boundary wins */
	CHECK_STR(s->body,
	    "(((\"TEXT\" \"PLAIN\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" "
	    "5 0)(\"TEXT\" \"HTML\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" "
	    "11 0) \"ALTERNATIVE\")(\"IMAGE\" \"PNG\" NIL NIL NIL \"7BIT\" 3) "
	    "\"MIXED\")");
	CHECK(s->nparts == 4);
	CHECK(strcmp(s->parts[0].path, "1") == 0 &&
	    strcmp(s->parts[1].path, "1.1") == 0 &&
	    strcmp(s->parts[2].path, "1.2") == 0 &&
	    strcmp(s->parts[3].path, "2") == 0);
	check_part(msg, s, "1", MSGSUM_MULTIPART, NULL,
	    "--outer-alt\r\n\r\nplain\r\n--outer-alt\r\n"
	    "Content-Type: text/html\r\n\r\n<p>html</p>\r\n--outer-alt--\r\n");
	check_part(msg, s, "1.1", MSGSUM_LEAF, "\r\n", "plain");
	check_part(msg, s, "1.2", MSGSUM_LEAF, "Content-Type: text/html\r\n\r\n",
	    "<p>html</p>");
	check_part(msg, s, "2", MSGSUM_LEAF, NULL, "PNG");
	msgsum_free(&s);
}

static void
test_rfc822(void)
{
	static const char msg[] =
	    "Subject: fwd\r\n"
	    "Content-Type: multipart/mixed; boundary=b1\r\n"
	    "\r\n"
	    "--b1\r\n"
	    "\r\n"
	    "see below\r\n"
	    "--b1\r\n"
	    "Content-Type: message/rfc822\r\n"
	    "\r\n"
	    "From: Inner <in@x.example>\r\n"
	    "Subject: inner\r\n"
	    "Content-Type: multipart/alternative; boundary=b2\r\n"
	    "\r\n"
	    "--b2\r\n"
	    "\r\n"
	    "one\r\n"
	    "--b2\r\n"
	    "Content-Type: text/html\r\n"
	    "\r\n"
	    "two\r\n"
	    "--b2--\r\n"
	    "--b1\r\n"
	    "Content-Type: message/rfc822\r\n"
	    "\r\n"
	    "Subject: simple\r\n"
	    "\r\n"
	    "three\r\n"
	    "--b1--\r\n";
	struct msgsum *s = parse(msg);

	CHECK_STR(s->body,
	    "((\"TEXT\" \"PLAIN\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 9 0)"
	    "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 155 "
	    "(NIL \"inner\" ((\"Inner\" NIL \"in\" \"x.example\")) "
	    "((\"Inner\" NIL \"in\" \"x.example\")) "
	    "((\"Inner\" NIL \"in\" \"x.example\")) NIL NIL NIL NIL NIL) "
	    "((\"TEXT\" \"PLAIN\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 3 0)"
	    "(\"TEXT\" \"HTML\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 3 0) "
	    "\"ALTERNATIVE\") 12)"
	    "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 24 "
	    "(NIL \"simple\" NIL NIL NIL NIL NIL NIL NIL NIL) "
	    "(\"TEXT\" \"PLAIN\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 5 0) "
	    "2) \"MIXED\")");
	CHECK(s->nparts == 6);
	check_part(msg, s, "1", MSGSUM_LEAF, "\r\n", "see below");
	check_part(msg, s, "2", MSGSUM_MESSAGE, "Content-Type: message/rfc822\r\n"
	    "\r\n", "From: Inner <in@x.example>\r\nSubject: inner\r\n"
	    "Content-Type: multipart/alternative; boundary=b2\r\n\r\n"
	    "--b2\r\n\r\none\r\n--b2\r\nContent-Type: text/html\r\n\r\n"
	    "two\r\n--b2--\r\n");	/* the close delimiter's own CRLF:
					 * "--b1" has none before it */
	check_part(msg, s, "2.1", MSGSUM_LEAF, "\r\n", "one");
	check_part(msg, s, "2.2", MSGSUM_LEAF, "Content-Type: text/html\r\n\r\n",
	    "two");
	check_part(msg, s, "3", MSGSUM_MESSAGE, NULL,
	    "Subject: simple\r\n\r\nthree");
	/* a non-multipart encapsulated message: its body is part 3.1 */
	check_part(msg, s, "3.1", MSGSUM_LEAF, "Subject: simple\r\n\r\n",
	    "three");
	const struct msgsum_part *p = part(s, "2");
	CHECK(p != NULL && strncmp(msg + p->inner_body_off, "--b2\r\n", 6) == 0);
	msgsum_free(&s);
}

static void
test_groups(void)
{
	static const char msg[] =
	    "From: \"Joe Q. Public\" <john.q.public@example.com>\r\n"
	    "To: Mary Smith <mary@x.test>, jdoe@example.org, Who? "
	    "<one@y.test>\r\n"
	    "Cc: <boss@nil.test>, \"Giant; \\\"Big\\\" Box\" <sysservices@example.net>\r\n"
	    "Bcc: A Group:Ed Jones <c@a.test>,joe@where.test,John "
	    "<jdoe@one.test>;, undisclosed-recipients:;\r\n"
	    "Reply-To:\r\n"
	    "Sender: local\r\n"
	    "\r\n";
	struct msgsum *s = parse(msg);

	CHECK_STR(s->envelope,
	    "(NIL NIL ((\"Joe Q. Public\" NIL \"john.q.public\" \"example.com\")) "
	    "((NIL NIL \"local\" \"MISSING_DOMAIN\")) "
	    "((\"Joe Q. Public\" NIL \"john.q.public\" \"example.com\")) "
	    "((\"Mary Smith\" NIL \"mary\" \"x.test\")(NIL NIL \"jdoe\" "
	    "\"example.org\")(\"Who?\" NIL \"one\" \"y.test\")) "
	    "((NIL NIL \"boss\" \"nil.test\")(\"Giant; \\\"Big\\\" Box\" NIL "
	    "\"sysservices\" \"example.net\")) "
	    "((NIL NIL \"A Group\" NIL)(\"Ed Jones\" NIL \"c\" \"a.test\")"
	    "(NIL NIL \"joe\" \"where.test\")(\"John\" NIL \"jdoe\" \"one.test\")"
	    "(NIL NIL NIL NIL)(NIL NIL \"undisclosed-recipients\" NIL)"
	    "(NIL NIL NIL NIL)) NIL NIL)");
	CHECK(s->nparts == 1 && s->header_len == strlen(msg));
	check_part(msg, s, "1", MSGSUM_LEAF, NULL, "");
	msgsum_free(&s);
}

static void
test_repeated_and_comments(void)
{
	static const char msg[] =
	    "Subject: first\r\n"
	    "From: mailer-daemon@mx.example (Mail Delivery System)\r\n"
	    "Content-Type: text/html\r\n"
	    "Subject: second\r\n"
	    "Content-Type: image/gif\r\n"
	    "To: Pete(A wonderful \\) chap) <pete(his account)@silly.test"
	    "(his host)>\r\n"
	    "\r\n";
	struct msgsum *s = parse(msg);

	/* ENVELOPE: the last Subject; BODYSTRUCTURE: the first Content-Type
	 * (both as Dovecot); a trailing comment names a lone mailbox */
	CHECK_STR(s->envelope, "(NIL \"second\" "
	    "((\"Mail Delivery System\" NIL \"mailer-daemon\" \"mx.example\")) "
	    "((\"Mail Delivery System\" NIL \"mailer-daemon\" \"mx.example\")) "
	    "((\"Mail Delivery System\" NIL \"mailer-daemon\" \"mx.example\")) "
	    "((\"Pete\" NIL \"pete\" \"silly.test\")) NIL NIL NIL NIL)");
	CHECK_STR(s->subject, "second");
	CHECK(strncmp(s->body, "(\"TEXT\" \"HTML\" ", 15) == 0);
	msgsum_free(&s);

	/* a second From is shown, not hidden; Content-* fields of a message
	 * without MIME-Version and Content-Type are ignored */
	s = parse("From: a@one.example\r\nContent-Transfer-Encoding: 8bit\r\n"
	    "From: B <b@two.example>\r\n\r\nx");
	CHECK_STR(s->envelope, "(NIL NIL "
	    "((NIL NIL \"a\" \"one.example\")(\"B\" NIL \"b\" \"two.example\")) "
	    "((NIL NIL \"a\" \"one.example\")(\"B\" NIL \"b\" \"two.example\")) "
	    "((NIL NIL \"a\" \"one.example\")(\"B\" NIL \"b\" \"two.example\")) "
	    "NIL NIL NIL NIL NIL)");
	CHECK_STR(s->body, "(\"TEXT\" \"PLAIN\" (\"charset\" \"us-ascii\") NIL NIL "
	    "\"7BIT\" 1 0)");
	msgsum_free(&s);
	s = parse("MIME-Version: 1.0\r\nContent-Transfer-Encoding: 8bit\r\n\r\nx");
	CHECK(strstr(s->body, "\"8BIT\"") != NULL);
	msgsum_free(&s);
}

static void
test_missing_headers(void)
{
	static const char msg[] = "X-Other: 1\r\n\r\nbody";
	struct msgsum *s = parse(msg);

	CHECK_STR(s->envelope, "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
	CHECK_STR(s->subject, "");
	CHECK(s->date == 0);
	CHECK(s->header_len == 14);
	msgsum_free(&s);

	s = parse("Date: not a date\r\n\r\n");
	CHECK(s->date == 0);
	CHECK_STR(s->envelope, "(\"not a date\" NIL NIL NIL NIL NIL NIL NIL NIL "
	    "NIL)");
	msgsum_free(&s);
}

/* RFC 2045 5.2: an invalid Content-Type (no subtype) means text/plain. */
static void
test_ctype_without_subtype(void)
{
	struct msgsum *s = parse("MIME-Version: 1.0\r\nContent-Type: text\r\n"
	    "\r\nbody\r\n");

	CHECK_STR(s->body, "(\"TEXT\" \"PLAIN\" (\"charset\" \"us-ascii\") NIL "
	    "NIL \"7BIT\" 6 1)");
	msgsum_free(&s);
	s = parse("MIME-Version: 1.0\r\nContent-Type: text plain; a=b\r\n"
	    "\r\nbody\r\n");
	CHECK_STR(s->body, "(\"TEXT\" \"PLAIN\" (\"charset\" \"us-ascii\") NIL "
	    "NIL \"7BIT\" 6 1)");
	msgsum_free(&s);
}

static void
test_8bit(void)
{
	static const char msg[] =
	    "Subject: caf\xc3\xa9 \"quoted\"\r\n"
	    "From: =?utf-8?q?J=C3=B6rg?= <j@x.example>\r\n"
	    "\r\n"
	    "x\r\n";
	struct msgsum *s = parse(msg);

	CHECK_STR(s->envelope, "(NIL {14}\r\ncaf\xc3\xa9 \"quoted\" "
	    "((\"=?utf-8?q?J=C3=B6rg?=\" NIL \"j\" \"x.example\")) "
	    "((\"=?utf-8?q?J=C3=B6rg?=\" NIL \"j\" \"x.example\")) "
	    "((\"=?utf-8?q?J=C3=B6rg?=\" NIL \"j\" \"x.example\")) "
	    "NIL NIL NIL NIL NIL)");
	CHECK_STR(s->subject, "caf\xc3\xa9 \"quoted\"");
	msgsum_free(&s);
}

static void
test_shapes(void)
{
	struct msgsum *s;

	/* no body at all */
	s = parse("Subject: x\r\n\r\n");
	CHECK(s->header_len == 14 && s->nparts == 1);
	CHECK(s->parts[0].body_off == 14 && s->parts[0].end_off == 14);
	CHECK_STR(s->body, "(\"TEXT\" \"PLAIN\" (\"charset\" \"us-ascii\") NIL NIL "
	    "\"7BIT\" 0 0)");
	msgsum_free(&s);

	/* no empty line: all header */
	s = parse("Subject: x\r\nFrom: a@b.example");
	CHECK(s->header_len == 29);
	CHECK(s->parts[0].body_off == 29 && s->parts[0].end_off == 29);
	CHECK_STR(s->subject, "x");
	msgsum_free(&s);

	/* starts with the empty line: no header */
	s = parse("\r\nbody\r\n");
	CHECK(s->header_len == 2 && s->parts[0].end_off == 8);
	CHECK_STR(s->envelope, "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
	msgsum_free(&s);

	/* empty message */
	s = parse("");
	CHECK(s->header_len == 0 && s->nparts == 1 && s->parts[0].end_off == 0);
	msgsum_free(&s);

	/* bare LF, no final newline, last part without close delimiter */
	static const char lf[] =
	    "Subject: lf\n"
	    "Content-Type: multipart/mixed; boundary=z\n"
	    "\n"
	    "--z\n"
	    "\n"
	    "a\n"
	    "b\n"
	    "--z\n"
	    "Content-Type: text/plain\n"
	    "\n"
	    "tail";
	s = parse(lf);
	CHECK(s->header_len == 55);
	CHECK(s->nparts == 2);
	check_part(lf, s, "1", MSGSUM_LEAF, "\n", "a\nb");
	check_part(lf, s, "2", MSGSUM_LEAF, "Content-Type: text/plain\n\n", "tail");
	CHECK_STR(s->body,
	    "((\"TEXT\" \"PLAIN\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 3 1)"
	    "(\"TEXT\" \"PLAIN\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 4 0) "
	    "\"MIXED\")");
	msgsum_free(&s);

	/* a multipart without delimiters: one empty text part (as Dovecot) */
	s = parse("Content-Type: multipart/mixed; boundary=q\r\n\r\nno parts\r\n");
	CHECK_STR(s->body, "((\"TEXT\" \"PLAIN\" (\"charset\" \"us-ascii\") NIL "
	    "NIL \"7BIT\" 0 0) \"MIXED\")");
	CHECK(s->nparts == 0);
	msgsum_free(&s);

	/* a boundary that ends in spaces counts with them; a lookalike line
	 * without them is body text */
	static const char sp[] =
	    "Content-Type: multipart/mixed; boundary=\"a:b?  \"\r\n\r\n"
	    "--a:b?  \r\n\r\none\r\n--a:b? \r\nstill one\r\n--a:b?  --\r\n";
	s = parse(sp);
	CHECK(s->nparts == 1);
	check_part(sp, s, "1", MSGSUM_LEAF, "\r\n",
	    "one\r\n--a:b? \r\nstill one");
	msgsum_free(&s);

	/* message/rfc822 that is no message: a delimiter inside its
	 * "header"; the CRLF before it still counts in part 2's body */
	static const char nomsg[] =
	    "Content-Type: multipart/mixed; boundary=m\r\n\r\n"
	    "--m\r\n\r\nx\r\n"
	    "--m\r\nContent-Type: message/rfc822\r\n\r\n"
	    "not a message\r\n"
	    "--m--\r\n";
	s = parse(nomsg);
	CHECK(s->nparts == 3);
	check_part(nomsg, s, "2", MSGSUM_MESSAGE, NULL, "not a message\r\n");
	check_part(nomsg, s, "2.1", MSGSUM_LEAF, "not a message", "");
	msgsum_free(&s);

	/* multipart/digest: parts default to message/rfc822 */
	s = parse("Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\n"
	    "Subject: in digest\r\n\r\nhi\r\n--d--\r\n");
	CHECK(s->nparts == 2 && s->parts[0].kind == MSGSUM_MESSAGE);
	CHECK(strcmp(s->parts[1].path, "1.1") == 0);
	msgsum_free(&s);
}

static void
check_invariants(const char *msg, size_t len, const struct msgsum *s)
{
	CHECK(s->header_len <= len);
	for (size_t i = 0; i < s->nparts; i++) {
		const struct msgsum_part *p = &s->parts[i];
		CHECK(p->hdr_off <= p->body_off && p->body_off <= p->end_off &&
		    p->end_off <= len);
	}
	CHECK(s->envelope[0] == '(' && s->bodystructure[0] == '(' &&
	    s->body[0] == '(');
}

static void
test_prefixes(void)
{
	size_t len = strlen(mixed);

	/* every prefix of a message parses and keeps the invariants */
	for (size_t n = 0; n <= len; n++) {
		struct msgsum *s = NULL;
		CHECK(msgsum_parse(mixed, n, &s) == 0);
		if (s == NULL)
			continue;
		check_invariants(mixed, n, s);
		msgsum_free(&s);
	}
}

static void
test_limits(void)
{
	struct buf b;
	struct msgsum *s = NULL;

	/* 200 nested multiparts: described down to MSGSUM_MAX_DEPTH */
	buf_init(&b, 1 << 24);
	for (int i = 0; i < 200; i++)
		CHECK(buf_printf(&b, "Content-Type: multipart/mixed; "
		    "boundary=b%03d\r\n\r\n--b%03d\r\n", i, i) == 0);
	CHECK(buf_addstr(&b, "\r\ninnermost\r\n") == 0);
	CHECK(msgsum_parse(b.data, b.len, &s) == 0);
	CHECK(s != NULL && s->nparts == MSGSUM_MAX_DEPTH);
	if (s != NULL && s->nparts != MSGSUM_MAX_DEPTH)
		fprintf(stderr, "nparts %zu\n", s->nparts);
	if (s != NULL) {
		check_invariants(b.data, b.len, s);
		CHECK(strstr(s->bodystructure, "\"APPLICATION\" \"OCTET-STREAM\"")
		    != NULL);
	}
	msgsum_free(&s);

	/* 200 nested message/rfc822 */
	buf_reset(&b);
	for (int i = 0; i < 200; i++)
		CHECK(buf_addstr(&b, "Content-Type: message/rfc822\r\n\r\n") == 0);
	CHECK(msgsum_parse(b.data, b.len, &s) == 0);
	CHECK(s != NULL && s->nparts <= MSGSUM_MAX_DEPTH + 1);
	msgsum_free(&s);

	/* 5000 parts: at most MSGSUM_MAX_PARTS */
	buf_reset(&b);
	CHECK(buf_addstr(&b, "Content-Type: multipart/mixed; boundary=p\r\n\r\n")
	    == 0);
	int r = 0;
	for (int i = 0; i < 5000 && r == 0; i++)
		r = buf_printf(&b, "--p\r\n\r\n%d\r\n", i);
	CHECK(r == 0);
	CHECK(buf_addstr(&b, "--p--\r\n") == 0);
	CHECK(msgsum_parse(b.data, b.len, &s) == 0);
	CHECK(s != NULL && s->nparts > 0 && s->nparts <= MSGSUM_MAX_PARTS);
	if (s != NULL)
		check_invariants(b.data, b.len, s);
	msgsum_free(&s);

	/* a million nested comments would overflow libetpan's stack */
	buf_reset(&b);
	char *parens = malloc(1000000);
	CHECK(parens != NULL);
	if (parens == NULL)
		return;
	memset(parens, '(', 1000000);
	CHECK(buf_addstr(&b, "From: a@b.example ") == 0);
	CHECK(buf_add(&b, parens, 1000000) == 0);
	CHECK(buf_addstr(&b, "\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000 ") == 0);
	CHECK(buf_add(&b, parens, 1000000) == 0);
	CHECK(buf_addstr(&b, "\r\n\r\n") == 0);
	free(parens);
	CHECK(msgsum_parse(b.data, b.len, &s) == 0);
	CHECK(s != NULL && s->date == 0);
	msgsum_free(&s);
	buf_free(&b);
}

int
main(void)
{
	test_imapstr();
	test_simple();
	test_mixed();
	test_nested();
	test_rfc822();
	test_groups();
	test_repeated_and_comments();
	test_missing_headers();
	test_ctype_without_subtype();
	test_8bit();
	test_shapes();
	test_prefixes();
	test_limits();
	printf("test-msgsum: %d passed, %d failed\n", checks - failures,
	    failures);
	return failures == 0 ? 0 : 1;
}
