/*
 * test-imap-proto: the pure protocol helpers of capmail-imapd: sequence
 * sets (overflow, "*"), dates, flags, string rendering, base64, LIST
 * wildcards, FETCH item parsing and section cutting (HEADER, HEADER.FIELDS
 * [.NOT], TEXT, MIME, part numbers, message/rfc822 parts, partial),
 * SEARCH key parsing and matching, and the DONE that ends IDLE.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "imap-fetch.h"
#include "imap-parser.h"
#include "imap-search.h"
#include "imap-util.h"
#include "imap-sample.h"

static int failures;

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, \
		    __LINE__, #cond); \
		failures++; \
	} \
} while (0)

static void
test_seqset(void)
{
	struct imap_seqset s;

	CHECK(imap_seqset_parse("1:3,7,9:*", 9, &s) == 0);
	CHECK(s.n == 3);
	CHECK(imap_seqset_contains(&s, 2, 20));
	CHECK(!imap_seqset_contains(&s, 5, 20));
	CHECK(imap_seqset_contains(&s, 20, 20));
	CHECK(!imap_seqset_contains(&s, 8, 20));
	imap_seqset_free(&s);
	/* "*:4" is "4:*" */
	CHECK(imap_seqset_parse("*:4", 3, &s) == 0);
	CHECK(imap_seqset_contains(&s, 5, 6) && !imap_seqset_contains(&s, 3, 6));
	imap_seqset_free(&s);
	CHECK(imap_seqset_parse("4294967294", 10, &s) == 0);
	imap_seqset_free(&s);
	CHECK(imap_seqset_parse("4294967295", 10, &s) == CM_EPARSE);
	CHECK(imap_seqset_parse("99999999999", 11, &s) == CM_EPARSE);
	CHECK(imap_seqset_parse("0", 1, &s) == CM_EPARSE);
	CHECK(imap_seqset_parse("1,", 2, &s) == CM_EPARSE);
	CHECK(imap_seqset_parse("1::2", 4, &s) == CM_EPARSE);
	CHECK(imap_seqset_parse("", 0, &s) == CM_EPARSE);
	CHECK(imap_seqset_parse("a", 1, &s) == CM_EPARSE);
	CHECK(imap_seqset_parse("01", 2, &s) == CM_EPARSE);
}

static void
test_dates(void)
{
	time_t t;
	char out[32];

	CHECK(imap_datetime_parse("17-Jul-1996 02:44:25 -0700", 26, &t) == 0);
	CHECK(t == 837596665);
	imap_datetime_format(t, out);
	CHECK(strcmp(out, "17-Jul-1996 09:44:25 +0000") == 0);
	CHECK(imap_datetime_parse(" 7-Jul-1996 02:44:25 +0000", 26, &t) == 0);
	CHECK(imap_datetime_parse("17-Jux-1996 02:44:25 -0700", 26, &t) < 0);
	CHECK(imap_datetime_parse("17-Jul-1996 02:44:25", 20, &t) < 0);
	CHECK(imap_datetime_parse("17-Jul-1996 25:44:25 -0700", 26, &t) < 0);
	CHECK(imap_date_parse("1-Feb-1994", 10, &t) == 0 && t == 760060800);
	CHECK(imap_date_parse("01-feb-1994", 11, &t) == 0 && t == 760060800);
	CHECK(imap_date_parse("1-Feb-94", 8, &t) < 0);
}

static void
test_strings(void)
{
	struct buf b;
	unsigned char dec[64];

	buf_init(&b, 1000);
	CHECK(imap_append_string(&b, "a\"b\\c", 5) == 0);
	CHECK(strcmp(b.data, "\"a\\\"b\\\\c\"") == 0);
	buf_reset(&b);
	CHECK(imap_append_string(&b, "a\r\nb", 4) == 0);
	CHECK(strcmp(b.data, "{4}\r\na\r\nb") == 0);
	buf_reset(&b);
	CHECK(imap_append_astring(&b, "INBOX", 5) == 0);
	CHECK(strcmp(b.data, "INBOX") == 0);
	buf_reset(&b);
	CHECK(imap_append_astring(&b, "My Box", 6) == 0);
	CHECK(strcmp(b.data, "\"My Box\"") == 0);
	buf_reset(&b);
	CHECK(imap_append_astring(&b, "nil", 3) == 0);
	CHECK(strcmp(b.data, "\"nil\"") == 0);
	buf_reset(&b);
	CHECK(imap_append_nstring(&b, NULL, 0) == 0);
	CHECK(strcmp(b.data, "NIL") == 0);
	buf_free(&b);

	CHECK(imap_base64_decode("AHVzZXIAcGFzcw==", 16, dec) == 10);
	CHECK(memcmp(dec, "\0user\0pass", 10) == 0);
	CHECK(imap_base64_decode("AHVzZXIAcGFzcw=", 15, dec) < 0);
	CHECK(imap_base64_decode("AH=zZXIA", 8, dec) < 0);
	CHECK(imap_base64_decode("", 0, dec) == 0);

	CHECK(imap_flag_valid("\\Seen") && imap_flag_valid("\\seen"));
	CHECK(imap_flag_valid("$Forwarded"));
	CHECK(!imap_flag_valid("\\Recent") && !imap_flag_valid("\\Foo"));
	CHECK(!imap_flag_valid("a(b") && !imap_flag_valid(""));
}

static void
test_list_match(void)
{
	CHECK(imap_list_match("*", "a/b/c"));
	CHECK(imap_list_match("%", "INBOX"));
	CHECK(!imap_list_match("%", "a/b"));
	CHECK(imap_list_match("a/%", "a/b"));
	CHECK(!imap_list_match("a/%", "a/b/c"));
	CHECK(imap_list_match("a*c", "a/b/c"));
	CHECK(!imap_list_match("a%c", "a/b/c"));
	CHECK(imap_list_match("INBOX", "INBOX"));
	CHECK(!imap_list_match("Sent", "Sent/x"));
}

/* RFC 2177: the line is exactly DONE; ABNF literals are case-insensitive. */
static void
test_idle_done(void)
{
	CHECK(imap_idle_done("DONE", 4));
	CHECK(imap_idle_done("done", 4));
	CHECK(imap_idle_done("DoNe", 4));
	CHECK(!imap_idle_done("DONE ", 5));
	CHECK(!imap_idle_done(" DONE", 5));
	CHECK(!imap_idle_done("DON", 3));
	CHECK(!imap_idle_done("DONEX", 5));
	CHECK(!imap_idle_done("a1 DONE", 7));
	CHECK(!imap_idle_done("", 0));
	/* the length counts, not a NUL: "DO\0E" and "DONE\0" are not DONE */
	CHECK(!imap_idle_done("DO\0E", 4));
	CHECK(!imap_idle_done("DONE\0", 5));
	/* only ASCII case folding: a Latin-1 or UTF-8 look-alike is not */
	CHECK(!imap_idle_done("DON\xc9", 4));
}

/* Parse one command line with the real parser. */
static struct imap_parser *
parse(const char *line, const struct imap_arg **args, size_t *n)
{
	struct imap_parser *p = imap_parser_new(10000, 10000);
	size_t used;

	if (imap_parser_feed(p, line, strlen(line), &used) != IMAP_PARSE_DONE)
		fprintf(stderr, "unparsable test line: %s\n", line);
	*args = imap_parser_args(p, n);
	return p;
}


/* Render FETCH items for the test message (\Recent in the session when
 * recent), compare with want. */
static void
fetch_recent_is(const char *items, int recent, const char *want)
{
	char line[1024];
	const struct imap_arg *a;
	struct imap_fetch f;
	struct imap_parser *p;
	struct buf out;
	const char *err;
	size_t n;

	snprintf(line, sizeof(line), "t FETCH 1 %s\r\n", items);
	p = parse(line, &a, &n);
	CHECK(n == 4);
	if (imap_fetch_parse(&a[3], 1, &f, &err) != 0) {
		fprintf(stderr, "fetch parse failed: %s: %s\n", items, err);
		failures++;
		imap_parser_free(&p);
		return;
	}
	buf_init(&out, 1 << 20);
	CHECK(imap_fetch_render(&f, 3, make_msg(), 0, recent, &out) == 0);
	if (out.data == NULL || strcmp(out.data, want) != 0) {
		fprintf(stderr, "FETCH %s\n got: %s\nwant: %s\n", items,
		    out.data != NULL ? out.data : "(null)", want);
		failures++;
	}
	buf_free(&out);
	imap_fetch_free(&f);
	imap_parser_free(&p);
}

static void
fetch_is(const char *items, const char *want)
{
	fetch_recent_is(items, 0, want);
}

static void
fetch_bad(const char *items)
{
	char line[1024];
	const struct imap_arg *a;
	struct imap_fetch f;
	struct imap_parser *p;
	const char *err;
	size_t n;

	snprintf(line, sizeof(line), "t FETCH 1 %s\r\n", items);
	p = parse(line, &a, &n);
	CHECK(n == 4 && imap_fetch_parse(&a[3], 1, &f, &err) == CM_EPARSE);
	imap_parser_free(&p);
}

static void
test_fetch(void)
{
	fetch_is("(UID FLAGS)", "* 3 FETCH (UID 7 FLAGS (\\Seen $Work))\r\n");
	/* \Recent is the session's, added after the stored flags */
	fetch_recent_is("(UID FLAGS)", 1,
	    "* 3 FETCH (UID 7 FLAGS (\\Seen $Work \\Recent))\r\n");
	fetch_recent_is("UID", 1, "* 3 FETCH (UID 7)\r\n");
	CHECK(strcmp(imap_flags_recent("", 1), "\\Recent") == 0);
	CHECK(strcmp(imap_flags_recent("\\Seen", 1), " \\Recent") == 0);
	CHECK(strcmp(imap_flags_recent("\\Seen", 0), "") == 0);
	CHECK(strcmp(imap_flags_recent("", 0), "") == 0);
	fetch_is("FAST", "* 3 FETCH (FLAGS (\\Seen $Work) INTERNALDATE"
	    " \"17-Jul-1996 09:44:25 +0000\" RFC822.SIZE 226)\r\n");
	fetch_is("BODY[HEADER.FIELDS (subject TO)]",
	    "* 3 FETCH (BODY[HEADER.FIELDS (subject TO)] {45}\r\n"
	    "Subject: Hello\r\n world\r\nTo: b@example.org\r\n\r\n)\r\n");
	fetch_is("BODY.PEEK[HEADER.FIELDS.NOT (Subject To Content-Type)]",
	    "* 3 FETCH (BODY[HEADER.FIELDS.NOT (Subject To Content-Type)]"
	    " {23}\r\nFrom: a@example.org\r\n\r\n)\r\n");
	fetch_is("BODY[1]", "* 3 FETCH (BODY[1] {8}\r\npart one)\r\n");
	fetch_is("BODY[1.MIME]", "* 3 FETCH (BODY[1.MIME] {28}\r\n"
	    "Content-Type: text/plain\r\n\r\n)\r\n");
	fetch_is("BODY[2.HEADER]", "* 3 FETCH (BODY[2.HEADER] {18}\r\n"
	    "Subject: inner\r\n\r\n)\r\n");
	fetch_is("BODY[2.TEXT]", "* 3 FETCH (BODY[2.TEXT] {10}\r\n"
	    "inner body)\r\n");
	fetch_is("BODY[2]", "* 3 FETCH (BODY[2] {28}\r\n"
	    "Subject: inner\r\n\r\ninner body)\r\n");
	fetch_is("BODY[1.HEADER]", "* 3 FETCH (BODY[1.HEADER] NIL)\r\n");
	fetch_is("BODY[3]", "* 3 FETCH (BODY[3] NIL)\r\n");
	fetch_is("BODY[]<6.4>", "* 3 FETCH (BODY[]<6> {4}\r\na@ex)\r\n");
	fetch_is("BODY[1]<100.4>", "* 3 FETCH (BODY[1]<100> {0}\r\n)\r\n");
	fetch_is("RFC822.HEADER", "* 3 FETCH (RFC822.HEADER {109}\r\n"
	    "From: a@example.org\r\nSubject: Hello\r\n world\r\n"
	    "To: b@example.org\r\n"
	    "Content-Type: multipart/mixed; boundary=X\r\n\r\n)\r\n");
	fetch_is("(ENVELOPE BODY)", "* 3 FETCH (ENVELOPE (NIL \"Hello world\""
	    " NIL NIL NIL NIL NIL NIL NIL NIL) BODY (\"text\" \"plain\" NIL"
	    " NIL NIL \"7bit\" 0 0))\r\n");
	fetch_bad("(FAST)");		/* macros only alone */
	fetch_bad("BODY[0]");
	fetch_bad("BODY[MIME]");
	fetch_bad("BODY[1.]");
	fetch_bad("BODY[HEADER.FIELDS]");
	fetch_bad("BODY[HEADER.FIELDS ()]");
	fetch_bad("BODY[TEXT]<1.0>");
	fetch_bad("BODY[TEXT]<1>");
	fetch_bad("BODY[]x");
	fetch_bad("RFC822.FOO");
	fetch_bad("()");
	{
		const struct imap_arg *a;
		struct imap_fetch f;
		const char *err;
		size_t n;
		struct imap_parser *p = parse("t FETCH 1 (BODY.PEEK[] "
		    "RFC822.HEADER)\r\n", &a, &n);
		CHECK(imap_fetch_parse(&a[3], 1, &f, &err) == 0);
		CHECK(f.need_data && !f.sets_seen);
		imap_fetch_free(&f);
		imap_parser_free(&p);
		p = parse("t FETCH 1 (RFC822.TEXT)\r\n", &a, &n);
		CHECK(imap_fetch_parse(&a[3], 1, &f, &err) == 0);
		CHECK(f.sets_seen);
		imap_fetch_free(&f);
		imap_parser_free(&p);
	}
}

/* Match keys against the test message as sequence number seq, \Recent
 * when recent, with flags instead of its own when not NULL. */
static int
search_match(const char *keys, uint32_t seq, int recent, const char *flags)
{
	char line[1024];
	const struct imap_arg *a;
	struct imap_search_key *k;
	struct imap_parser *p;
	struct store_msg *m;
	const char *err;
	size_t n;
	int r;

	snprintf(line, sizeof(line), "t SEARCH %s\r\n", keys);
	p = parse(line, &a, &n);
	if (imap_search_parse(a + 2, n - 2, &k, &err) != 0) {
		CHECK(err != NULL && err[0] != '\0');
		imap_parser_free(&p);
		return -1;
	}
	m = make_msg();
	if (flags != NULL)
		m->flags = (char *)flags;
	r = imap_search_match(k, m, seq, 10, 20, recent);
	imap_search_free(&k);
	imap_parser_free(&p);
	return r;
}

/* SEARCH on header fields with RFC 2047 encoded words. */
static int
search_encoded(const char *keys)
{
	static const char msg[] =
	    "From: =?ISO-8859-1?Q?J=FCrgen?= <j@example.org>\r\n"
	    "Subject: =?UTF-8?B?w6l0w6kgMjAyNg==?=\r\n"
	    "\r\nbody\r\n";
	char line[256];
	const struct imap_arg *a;
	struct imap_search_key *k;
	struct imap_parser *p;
	struct store_msg m;
	const char *err;
	size_t n;
	int r;

	memset(&m, 0, sizeof(m));
	m.uid = 1;
	m.flags = "";
	m.data = (char *)msg;
	m.len = m.size = sizeof(msg) - 1;
	m.header_len = (size_t)(strstr(msg, "\r\n\r\n") + 4 - msg);
	snprintf(line, sizeof(line), "t SEARCH CHARSET UTF-8 %s\r\n", keys);
	p = parse(line, &a, &n);
	if (imap_search_parse(a + 2, n - 2, &k, &err) != 0) {
		imap_parser_free(&p);
		return -1;
	}
	r = imap_search_match(k, &m, 1, 1, 1, 0);
	imap_search_free(&k);
	imap_parser_free(&p);
	return r;
}

static int
search_is(const char *keys, uint32_t seq)
{
	return search_match(keys, seq, 0, NULL);
}

static void
test_search(void)
{
	CHECK(search_is("ALL", 1) == 1);
	CHECK(search_is("SEEN", 1) == 1);
	CHECK(search_is("UNSEEN", 1) == 0);
	CHECK(search_is("KEYWORD $work", 1) == 1);
	CHECK(search_is("UNKEYWORD $Work", 1) == 0);
	CHECK(search_is("FROM EXAMPLE.ORG", 1) == 1);
	CHECK(search_is("SUBJECT \"hello world\"", 1) == 1);	/* unfolded */
	CHECK(search_is("SUBJECT inner", 1) == 0);	/* not top-level */
	CHECK(search_is("CC b", 1) == 0);
	CHECK(search_encoded("FROM \"J\xc3\xbcrgen\"") == 1);
	CHECK(search_encoded("FROM j@example.org") == 1);
	CHECK(search_encoded("SUBJECT \"\xc3\xa9t\xc3\xa9 2026\"") == 1);
	CHECK(search_encoded("SUBJECT w6l0") == 1);	/* raw still matches */
	CHECK(search_encoded("SUBJECT \"\xc3\xa9t\xc3\xa9 2027\"") == 0);
	CHECK(search_is("HEADER Content-Type mixed", 1) == 1);
	CHECK(search_is("HEADER X-None \"\"", 1) == 0);
	CHECK(search_is("HEADER To \"\"", 1) == 1);
	CHECK(search_is("BODY \"INNER BODY\"", 1) == 1);
	CHECK(search_is("BODY Hello", 1) == 0);
	CHECK(search_is("TEXT Hello", 1) == 1);
	CHECK(search_is("LARGER 225", 1) == 1);
	CHECK(search_is("LARGER 226", 1) == 0);
	CHECK(search_is("SMALLER 227", 1) == 1);
	CHECK(search_is("ON 17-Jul-1996", 1) == 1);
	CHECK(search_is("BEFORE 17-Jul-1996", 1) == 0);
	CHECK(search_is("SINCE 17-Jul-1996", 1) == 1);
	CHECK(search_is("SENTON 16-Jul-1996", 1) == 1);
	CHECK(search_is("SENTBEFORE 17-Jul-1996", 1) == 1);
	CHECK(search_is("SENTSINCE 17-Jul-1996", 1) == 0);
	CHECK(search_is("2:4", 3) == 1);
	CHECK(search_is("2:4", 5) == 0);
	CHECK(search_is("9:*", 10) == 1);
	CHECK(search_is("UID 7", 1) == 1);
	CHECK(search_is("UID 8:*", 1) == 0);
	CHECK(search_is("NOT SEEN", 1) == 0);
	CHECK(search_is("OR UNSEEN FLAGGED", 1) == 0);
	CHECK(search_is("OR UNSEEN (SEEN FROM a)", 1) == 1);
	CHECK(search_is("(SEEN (NOT DELETED) UID 1:*)", 1) == 1);
	CHECK(search_is("CHARSET UTF-8 ALL", 1) == 1);
	CHECK(search_is("RECENT", 1) == 0);
	CHECK(search_is("OLD", 1) == 1);
	CHECK(search_is("NEW", 1) == 0);
	CHECK(search_match("RECENT", 1, 1, NULL) == 1);
	CHECK(search_match("OLD", 1, 1, NULL) == 0);
	CHECK(search_match("NOT RECENT", 1, 1, NULL) == 0);
	CHECK(search_match("NEW", 1, 1, NULL) == 0);	/* \Seen */
	CHECK(search_match("NEW", 1, 1, "$Work") == 1);
	CHECK(search_match("NEW", 1, 0, "$Work") == 0);
	CHECK(search_match("OR NEW SEEN", 1, 0, "") == 0);
	CHECK(search_match("(RECENT UNSEEN)", 1, 1, "\\Flagged") == 1);
	/* errors */
	CHECK(search_is("FROM", 1) == -1);
	CHECK(search_is("OR SEEN", 1) == -1);
	CHECK(search_is("BOGUS", 1) == -1);
	CHECK(search_is("SINCE 1994", 1) == -1);
	CHECK(search_is("LARGER x", 1) == -1);
	CHECK(search_is("()", 1) == -1);
	CHECK(search_is("CHARSET KOI8-R ALL", 1) == -1);
	{
		/* deep NOT chains are refused, not recursed into */
		char line[2000] = "";
		size_t len = 0;
		for (int i = 0; i < 100; i++) {
			memcpy(line + len, "NOT ", 4);
			len += 4;
		}
		memcpy(line + len, "ALL", 4);
		CHECK(search_is(line, 1) == -1);
	}
}

int
main(void)
{
	test_seqset();
	test_dates();
	test_strings();
	test_list_match();
	test_idle_done();
	test_fetch();
	test_search();
	if (failures > 0) {
		fprintf(stderr, "%d failures\n", failures);
		return 1;
	}
	puts("test-imap-proto: ok");
	return 0;
}
