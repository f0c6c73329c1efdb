/*
 * test-imap-parser: the IMAP command parser, fed whole and one byte at a
 * time: atoms, NIL, quoted strings, literals ({n} with the "+ OK" point,
 * {n+}), nested lists, bracketed FETCH atoms, and the errors and limits
 * (line length, literal size by subtraction, nesting, bad syntax).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap-parser.h"

static int failures;

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, \
		    __LINE__, #cond); \
		failures++; \
	} \
} while (0)

struct run {
	enum imap_parse_result last;
	int literals;		/* IMAP_PARSE_LITERAL answers seen */
	size_t consumed;
};

/* Feed in pieces of `step` bytes; stop at DONE/ERROR/FATAL. Every MORE
 * must have consumed the whole piece. */
static struct run
feed(struct imap_parser *p, const char *s, size_t len, size_t step)
{
	struct run r = { IMAP_PARSE_MORE, 0, 0 };

	while (r.consumed < len) {
		size_t n = len - r.consumed < step ? len - r.consumed : step;
		size_t used = 0;
		r.last = imap_parser_feed(p, s + r.consumed, n, &used);
		CHECK(used <= n);
		r.consumed += used;
		if (r.last == IMAP_PARSE_LITERAL) {
			r.literals++;
			continue;
		}
		if (r.last != IMAP_PARSE_MORE)
			break;
		CHECK(used == n);
		if (used == 0)
			break;		/* no progress: fail, do not spin */
	}
	return r;
}

static void
test_simple(size_t step)
{
	struct imap_parser *p = imap_parser_new(1000, 1000);
	const char *line = "a1 LOGIN \"us\\\"er\" NIL\r\n";
	const struct imap_arg *a;
	struct run r;
	size_t n;

	r = feed(p, line, strlen(line), step);
	CHECK(r.last == IMAP_PARSE_DONE);
	CHECK(r.consumed == strlen(line));
	a = imap_parser_args(p, &n);
	CHECK(n == 4);
	CHECK(a[0].type == IMAP_ARG_ATOM && strcmp(a[0].str, "a1") == 0);
	CHECK(imap_arg_is(&a[1], "login"));
	CHECK(a[2].type == IMAP_ARG_STRING && strcmp(a[2].str, "us\"er") == 0);
	CHECK(a[3].type == IMAP_ARG_NIL);
	CHECK(strcmp(imap_parser_tag(p), "a1") == 0);
	imap_parser_free(&p);
	CHECK(p == NULL);
}

static void
test_literals(size_t step)
{
	struct imap_parser *p = imap_parser_new(1000, 100);
	const char *line = "t APPEND {5}\r\nIN\0OX {3+}\r\na\r\n\r\n";
	size_t len = 31;
	const struct imap_arg *a;
	struct run r;
	size_t n;

	r = feed(p, line, len, step);
	CHECK(r.last == IMAP_PARSE_DONE);
	CHECK(r.consumed == len);
	CHECK(r.literals == 1);		/* only the synchronising one */
	a = imap_parser_args(p, &n);
	CHECK(n == 4);
	CHECK(a[2].type == IMAP_ARG_LITERAL && a[2].len == 5 &&
	    memcmp(a[2].str, "IN\0OX", 5) == 0);
	CHECK(a[3].type == IMAP_ARG_LITERAL && a[3].len == 3 &&
	    memcmp(a[3].str, "a\r\n", 3) == 0);
	imap_parser_free(&p);
}

/* The "+ OK" point: the parser stops right after the literal's CRLF. */
static void
test_literal_continuation(void)
{
	struct imap_parser *p = imap_parser_new(1000, 100);
	const char *line = "t LOGIN {4}\r\nuser pass\r\n";
	size_t used;

	CHECK(imap_parser_feed(p, line, strlen(line), &used) ==
	    IMAP_PARSE_LITERAL);
	CHECK(used == 13);
	CHECK(imap_parser_literal_size(p) == 4);
	CHECK(imap_parser_feed(p, line + used, strlen(line) - used, &used) ==
	    IMAP_PARSE_DONE);
	imap_parser_free(&p);
}

static void
test_lists(size_t step)
{
	struct imap_parser *p = imap_parser_new(1000, 1000);
	const char *line = "x FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From To)]"
	    "<0.10> (a (b \"c\")) ())\r\n";
	const struct imap_arg *a;
	struct run r;
	size_t n;

	r = feed(p, line, strlen(line), step);
	CHECK(r.last == IMAP_PARSE_DONE);
	a = imap_parser_args(p, &n);
	CHECK(n == 4);
	CHECK(strcmp(a[2].str, "1:*") == 0);
	CHECK(a[3].type == IMAP_ARG_LIST && a[3].count == 4);
	if (a[3].count == 4) {
		const struct imap_arg *l = a[3].list;
		CHECK(strcmp(l[0].str, "FLAGS") == 0);
		CHECK(strcmp(l[1].str,
		    "BODY.PEEK[HEADER.FIELDS (From To)]<0.10>") == 0);
		CHECK(l[2].type == IMAP_ARG_LIST && l[2].count == 2);
		CHECK(l[2].list[1].type == IMAP_ARG_LIST &&
		    l[2].list[1].count == 2);
		CHECK(l[2].list[1].list[1].type == IMAP_ARG_STRING);
		CHECK(l[3].type == IMAP_ARG_LIST && l[3].count == 0);
	}
	imap_parser_free(&p);
}

static void
expect_error(const char *line, size_t max_line, size_t max_lit,
    enum imap_parse_result want, const char *tag)
{
	struct imap_parser *p = imap_parser_new(max_line, max_lit);
	for (size_t step = 1; step <= 2; step++) {
		struct run r = feed(p, line, strlen(line), step);
		CHECK(r.last == want);
		if (r.last != want)
			fprintf(stderr, "  line: %s (step %zu) got %d\n", line,
			    step, (int)r.last);
		if (tag != NULL) {
			CHECK(imap_parser_tag(p) != NULL &&
			    strcmp(imap_parser_tag(p), tag) == 0);
		}
		CHECK(imap_parser_error(p)[0] != '\0');
		imap_parser_reset(p);
	}
	imap_parser_free(&p);
}

static void
test_errors(void)
{
	/* bad syntax: reported after the whole line was skipped */
	expect_error("a1 NOOP )\r\n", 100, 100, IMAP_PARSE_ERROR, "a1");
	expect_error("a1 LIST (x\r\n", 100, 100, IMAP_PARSE_ERROR, "a1");
	expect_error("a1 LOGIN \"x\r\n", 100, 100, IMAP_PARSE_ERROR, "a1");
	expect_error("a1 X \"a\\b\"\r\n", 100, 100, IMAP_PARSE_ERROR, "a1");
	expect_error("a1 X {1x}\r\n", 100, 100, IMAP_PARSE_ERROR, "a1");
	expect_error("a1 X {}\r\n", 100, 100, IMAP_PARSE_ERROR, "a1");
	expect_error("a1 X BODY[a\nb]\r\n", 100, 100, IMAP_PARSE_ERROR, "a1");
	expect_error("a1 X a\rb\r\n", 100, 100, IMAP_PARSE_ERROR, "a1");
	expect_error("a1 X \x80\r\n", 100, 100, IMAP_PARSE_ERROR, "a1");
	/* line limit: 20 bytes outside literals */
	expect_error("a1 NOOP aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n", 20, 100,
	    IMAP_PARSE_ERROR, "a1");
	/* literal limits: a synchronising one is refused at once, a
	 * non-synchronising one is fatal */
	expect_error("a1 APPEND x {101}\r\n", 100, 100, IMAP_PARSE_ERROR, "a1");
	expect_error("a1 APPEND x {101+}\r\n", 100, 100, IMAP_PARSE_FATAL,
	    "a1");
	/* the sum of literals counts, checked by subtraction */
	expect_error("a1 X {60+}\r\n"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    " {41}\r\n", 100, 100, IMAP_PARSE_ERROR, "a1");
	expect_error("a1 X {99999999999999999999999}\r\n", 100, 100,
	    IMAP_PARSE_ERROR, "a1");
	expect_error("a1 X {18446744073709551615}\r\n", 100, 100,
	    IMAP_PARSE_ERROR, "a1");
	/* nesting */
	expect_error("a1 X ((((((((((((((((((((x))))))))))))))))))))\r\n",
	    1000, 100, IMAP_PARSE_ERROR, "a1");
}

/* A literal exactly at the limit is accepted; after an error the parser
 * parses the next line normally. */
static void
test_limits_and_recovery(void)
{
	struct imap_parser *p = imap_parser_new(30, 10);
	const char *ok = "a {10}\r\n0123456789\r\n";
	const char *bad = "b NOOP xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n";
	struct run r;
	size_t n;

	r = feed(p, ok, strlen(ok), 1);
	CHECK(r.last == IMAP_PARSE_DONE && r.literals == 1);
	imap_parser_reset(p);
	r = feed(p, bad, strlen(bad), 3);
	CHECK(r.last == IMAP_PARSE_ERROR);
	CHECK(r.consumed == strlen(bad));
	imap_parser_reset(p);
	r = feed(p, "c NOOP\r\n", 8, 1);
	CHECK(r.last == IMAP_PARSE_DONE);
	imap_parser_args(p, &n);
	CHECK(n == 2);
	imap_parser_reset(p);
	/* an empty line is a command with no arguments */
	r = feed(p, "\r\n", 2, 1);
	CHECK(r.last == IMAP_PARSE_DONE);
	imap_parser_args(p, &n);
	CHECK(n == 0);
	/* the literal limit can be changed between commands */
	imap_parser_reset(p);
	imap_parser_set_max_literal(p, 5);
	r = feed(p, ok, strlen(ok), 1);
	CHECK(r.last == IMAP_PARSE_ERROR);
	imap_parser_reset(p);
	imap_parser_set_max_literal(p, 10);
	r = feed(p, ok, strlen(ok), 1);
	CHECK(r.last == IMAP_PARSE_DONE);
	/* a leading '[' is plain atom text; an unmatched one ends at CRLF */
	imap_parser_reset(p);
	r = feed(p, "d SEARCH SUBJECT [PATCH x\r\n", 27, 1);
	CHECK(r.last == IMAP_PARSE_DONE);
	{
		const struct imap_arg *a = imap_parser_args(p, &n);
		CHECK(n == 5 && strcmp(a[3].str, "[PATCH") == 0);
	}
	imap_parser_reset(p);
	r = feed(p, "e FETCH 1 BODY[\r\n", 18, 1);
	CHECK(r.last == IMAP_PARSE_DONE);
	{
		const struct imap_arg *a = imap_parser_args(p, &n);
		CHECK(n == 4 && strcmp(a[3].str, "BODY[") == 0);
	}
	imap_parser_free(&p);
}

/* Two commands in one buffer: the parser stops after the first. */
static void
test_pipelining(void)
{
	struct imap_parser *p = imap_parser_new(100, 100);
	const char *two = "a NOOP\r\nb NOOP\r\n";
	size_t used;

	CHECK(imap_parser_feed(p, two, strlen(two), &used) == IMAP_PARSE_DONE);
	CHECK(used == 8);
	imap_parser_reset(p);
	CHECK(imap_parser_feed(p, two + 8, 8, &used) == IMAP_PARSE_DONE);
	CHECK(strcmp(imap_parser_tag(p), "b") == 0);
	imap_parser_free(&p);
}

int
main(void)
{
	for (size_t step = 1; step <= 7; step++) {
		test_simple(step);
		test_literals(step);
		test_lists(step);
	}
	test_simple(1000);
	test_literal_continuation();
	test_errors();
	test_limits_and_recovery();
	test_pipelining();
	if (failures > 0) {
		fprintf(stderr, "%d failures\n", failures);
		return 1;
	}
	puts("test-imap-parser: ok");
	return 0;
}
