/*
 * Unit tests for verify/: HTML escaping, the confirm form's anti-forgery
 * field, the log path cut, the rate limiter and the pages' text.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "captoken.h"
#include "errors.h"
#include "formtoken.h"
#include "html.h"
#include "log.h"
#include "logpath.h"
#include "pages.h"
#include "ratelimit.h"
#include "senders.h"

static int failures;

#define CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
	    #cond); failures++; } } while (0)

/* escape in[0..n) and compare with want */
static int
esc_is(const char *in, size_t n, const char *want)
{
	struct buf b;
	int ok;

	buf_init(&b, 1024);
	ok = html_escape(&b, in, n) == 0 && strcmp(buf_cstr(&b), want) == 0;
	if (!ok)
		fprintf(stderr, "escape gave \"%s\", want \"%s\"\n",
		    buf_cstr(&b), want);
	buf_free(&b);
	return ok;
}
#define ESC(lit, want) esc_is(lit, sizeof lit - 1, want)
#define FFFD "\xef\xbf\xbd"

static void
test_html(void)
{
	struct buf b;

	CHECK(ESC("", ""));
	CHECK(ESC("plain a@b.example", "plain a@b.example"));
	CHECK(ESC("<script>alert('x')</script>",
	    "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
	CHECK(ESC("a&b \"q\"", "a&amp;b &quot;q&quot;"));
	CHECK(ESC("&amp;", "&amp;amp;"));	/* never trusted as escaped */
	CHECK(ESC("x\" onmouseover=\"y", "x&quot; onmouseover=&quot;y"));
	/* controls: NUL inside, tab, CR LF, ESC, DEL */
	CHECK(ESC("a\0b", "a" FFFD "b"));
	CHECK(ESC("\t\r\n\x1b\x7f", FFFD FFFD FFFD FFFD FFFD));
	/* well-formed UTF-8 passes: é, €, U+10FFFF, 😀 */
	CHECK(ESC("caf\xc3\xa9 \xe2\x82\xac \xf4\x8f\xbf\xbf \xf0\x9f\x98\x80",
	    "caf\xc3\xa9 \xe2\x82\xac \xf4\x8f\xbf\xbf \xf0\x9f\x98\x80"));
	/* C1 control U+0085 (NEL) */
	CHECK(ESC("a\xc2\x85z", "a" FFFD "z"));
	CHECK(ESC("\xc2\xa0", "\xc2\xa0"));	/* U+00A0 is fine */
	/* ill-formed: overlong '<' (C0 BC), overlong 3-byte, surrogate,
	 * above U+10FFFF, lone continuation, truncated at the end */
	CHECK(ESC("\xc0\xbc", FFFD FFFD));
	CHECK(ESC("\xe0\x80\xbc", FFFD FFFD FFFD));
	CHECK(ESC("\xed\xa0\x80", FFFD FFFD FFFD));
	CHECK(ESC("\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD));
	CHECK(ESC("\x80", FFFD));
	CHECK(ESC("ok\xe2\x82", "ok" FFFD FFFD));
	CHECK(ESC("\xff\xfe", FFFD FFFD));
	/* a full buffer is an error, not a cut */
	buf_init(&b, 8);
	CHECK(html_escape_str(&b, "<<<") == CM_ETOOBIG);
	buf_free(&b);
}

static void
test_formtoken(void)
{
	static const char k1[] = "unit-key-0123456789abcdefghijklmnopq";
	static const char k2[] = "unit-key-0123456789abcdefghijklmnopQ";
	struct captoken_key key, other;
	char tok[CAPTOKEN_STRLEN + 1], tok2[CAPTOKEN_STRLEN + 1];
	char f[FORMTOKEN_MAXLEN], g[FORMTOKEN_MAXLEN];
	unsigned char h[CAPTOKEN_HASH_LEN];
	const time_t now = 1700000000;
	size_t fl;

	CHECK(captoken_key_set(&key, k1, sizeof k1 - 1) == 0);
	CHECK(captoken_key_set(&other, k2, sizeof k2 - 1) == 0);
	CHECK(captoken_make(&key, CAPTOKEN_KIND_VERIFY, now + 86400, tok,
	    h) == 0);
	CHECK(captoken_make(&key, CAPTOKEN_KIND_VERIFY, now + 86400, tok2,
	    h) == 0);
	CHECK(formtoken_make(&key, tok, CAPTOKEN_STRLEN, now, f) == 0);
	fl = strlen(f);
	/* "1700000000." and 26 base32 characters */
	CHECK(fl == 11 + 26 && strncmp(f, "1700000000.", 11) == 0);
	for (size_t i = 11; i < fl; i++)
		CHECK((f[i] >= 'a' && f[i] <= 'z') || (f[i] >= '2' &&
		    f[i] <= '7'));
	/* the same inputs, the same field: no state */
	CHECK(formtoken_make(&key, tok, CAPTOKEN_STRLEN, now, g) == 0);
	CHECK(strcmp(f, g) == 0);

	CHECK(formtoken_check(&key, tok, CAPTOKEN_STRLEN, f, fl, now) == 0);
	CHECK(formtoken_check(&key, tok, CAPTOKEN_STRLEN, f, fl,
	    now + FORMTOKEN_MAX_AGE) == 0);
	/* too old, from the future */
	CHECK(formtoken_check(&key, tok, CAPTOKEN_STRLEN, f, fl,
	    now + FORMTOKEN_MAX_AGE + 1) == CM_EPERM);
	CHECK(formtoken_check(&key, tok, CAPTOKEN_STRLEN, f, fl,
	    now - FORMTOKEN_SKEW) == 0);
	CHECK(formtoken_check(&key, tok, CAPTOKEN_STRLEN, f, fl,
	    now - FORMTOKEN_SKEW - 1) == CM_EPERM);
	/* another token, another key */
	CHECK(formtoken_check(&key, tok2, CAPTOKEN_STRLEN, f, fl, now) ==
	    CM_EAUTH);
	CHECK(formtoken_check(&other, tok, CAPTOKEN_STRLEN, f, fl, now) ==
	    CM_EAUTH);
	/* a changed stamp (a later page) with the old MAC */
	memcpy(g, f, sizeof g);
	g[9] = '1';
	CHECK(formtoken_check(&key, tok, CAPTOKEN_STRLEN, g, fl, now) ==
	    CM_EAUTH);
	/* every single character changed is refused */
	for (size_t i = 0; i < fl; i++) {
		memcpy(g, f, sizeof g);
		g[i] = g[i] == 'a' ? 'b' : (g[i] == '1' ? '2' : 'a');
		CHECK(formtoken_check(&key, tok, CAPTOKEN_STRLEN, g, fl,
		    now) != 0);
	}
	/* syntax */
	CHECK(formtoken_check(&key, tok, CAPTOKEN_STRLEN, "", 0, now) ==
	    CM_EPARSE);
	CHECK(formtoken_check(&key, tok, CAPTOKEN_STRLEN, f, fl - 1, now) ==
	    CM_EPARSE);
	CHECK(formtoken_check(&key, tok, CAPTOKEN_STRLEN, f, 11, now) ==
	    CM_EPARSE);
	CHECK(formtoken_check(&key, tok, CAPTOKEN_STRLEN, f + 10, fl - 10,
	    now) == CM_EPARSE);		/* no stamp */
	snprintf(g, sizeof g, "0%s", f);
	CHECK(formtoken_check(&key, tok, CAPTOKEN_STRLEN, g, fl + 1, now) ==
	    CM_EPARSE);			/* leading zero */
	snprintf(g, sizeof g, "%sA", f);
	CHECK(formtoken_check(&key, tok, CAPTOKEN_STRLEN, g, fl + 1, now) ==
	    CM_EPARSE);
	memcpy(g, f, sizeof g);
	g[fl - 1] = 'A';		/* upper case is not the alphabet */
	CHECK(formtoken_check(&key, tok, CAPTOKEN_STRLEN, g, fl, now) ==
	    CM_EPARSE);
	CHECK(formtoken_check(&key, tok, CAPTOKEN_STRLEN,
	    "1234567890123.aaaaaaaaaaaaaaaaaaaaaaaaaa", 40, now) == CM_EPARSE);
	captoken_key_wipe(&key);
	captoken_key_wipe(&other);
}

static void
test_logpath(void)
{
	char out[VERIFY_LOG_PATH_MAX];
	char tok[CAPTOKEN_STRLEN + 4];

	memset(tok, 'a', CAPTOKEN_STRLEN);
	tok[CAPTOKEN_STRLEN] = '\0';
	char path[80];
	snprintf(path, sizeof path, "/v/%s", tok);
	CHECK(strcmp(verify_log_path(out, sizeof out, path),
	    "/v/aaaaaaaa...") == 0);
	CHECK(strcmp(verify_log_path(out, sizeof out, "/v/abc"),
	    "/v/abc") == 0);
	CHECK(strcmp(verify_log_path(out, sizeof out, "/v/abcdefgh"),
	    "/v/abcdefgh") == 0);
	CHECK(strcmp(verify_log_path(out, sizeof out, "/v/"), "/v/") == 0);
	CHECK(strcmp(verify_log_path(out, sizeof out, "/verify.css"),
	    "/verify.css") == 0);
	snprintf(path, sizeof path, "/x/%s", tok);
	CHECK(strcmp(verify_log_path(out, sizeof out, path),
	    "/x/aaaaaaaa...") == 0);
	CHECK(strcmp(verify_log_path(out, sizeof out, "/v/a\nb\x1b"),
	    "/v/a?b?") == 0);
}

static void
test_ratelimit_addr(void)
{
	struct sockaddr_in s4 = { .sin_family = AF_INET };
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };
	char out[64], key[64];

	inet_pton(AF_INET, "192.0.2.7", &s4.sin_addr);
	ratelimit_addr((struct sockaddr *)&s4, out, sizeof out, key, sizeof key);
	CHECK(strcmp(out, "192.0.2.7") == 0 && strcmp(key, "192.0.2.7") == 0);
	inet_pton(AF_INET6, "2001:db8:1:2:aaaa:bbbb:cccc:dddd", &s6.sin6_addr);
	ratelimit_addr((struct sockaddr *)&s6, out, sizeof out, key, sizeof key);
	CHECK(strcmp(out, "2001:db8:1:2:aaaa:bbbb:cccc:dddd") == 0);
	CHECK(strcmp(key, "2001:db8:1:2::/64") == 0);
	/* another address of the same /64 counts as the same client */
	inet_pton(AF_INET6, "2001:db8:1:2::1", &s6.sin6_addr);
	ratelimit_addr((struct sockaddr *)&s6, out, sizeof out, key, sizeof key);
	CHECK(strcmp(key, "2001:db8:1:2::/64") == 0);
	inet_pton(AF_INET6, "2001:db8:1:3::1", &s6.sin6_addr);
	ratelimit_addr((struct sockaddr *)&s6, out, sizeof out, key, sizeof key);
	CHECK(strcmp(key, "2001:db8:1:3::/64") == 0);
	inet_pton(AF_INET6, "::ffff:198.51.100.9", &s6.sin6_addr);
	ratelimit_addr((struct sockaddr *)&s6, out, sizeof out, key, sizeof key);
	CHECK(strcmp(out, "198.51.100.9") == 0 &&
	    strcmp(key, "198.51.100.9") == 0);
	inet_pton(AF_INET6, "::1", &s6.sin6_addr);
	ratelimit_addr((struct sockaddr *)&s6, out, sizeof out, key, sizeof key);
	CHECK(strcmp(out, "::1") == 0 && strcmp(key, "::/64") == 0);
	ratelimit_addr(NULL, out, sizeof out, key, sizeof key);
	CHECK(strcmp(out, "?") == 0 && strcmp(key, "?") == 0);
}

static void
test_ratelimit(void)
{
	struct ratelimit *rl = ratelimit_new(3), *none = ratelimit_new(0);
	char key[32];

	CHECK(rl != NULL && none != NULL);
	CHECK(ratelimit_hit(rl, "1.2.3.4", 1000) == 0);
	CHECK(ratelimit_hit(rl, "1.2.3.4", 1010) == 0);
	CHECK(ratelimit_hit(rl, "1.2.3.4", 1020) == 0);
	CHECK(ratelimit_hit(rl, "1.2.3.4", 1020) == 40);
	CHECK(ratelimit_hit(rl, "1.2.3.4", 1059) == 1);
	CHECK(ratelimit_hit(rl, "5.6.7.8", 1059) == 0);	/* its own count */
	CHECK(ratelimit_hit(rl, "1.2.3.4", 1060) == 0);	/* a new window */
	/* a flood of keys is bounded and leaves the table usable */
	for (int i = 0; i < 3 * RATELIMIT_SLOTS; i++) {
		snprintf(key, sizeof key, "k%d", i);
		(void)ratelimit_hit(rl, key, 2000);
	}
	CHECK(ratelimit_hit(rl, "fresh", 2000) == 0);
	for (int i = 0; i < 100; i++)
		CHECK(ratelimit_hit(none, "x", 1000) == 0);
	ratelimit_free(&rl);
	ratelimit_free(&none);
	CHECK(rl == NULL);
}

static void
test_pages(void)
{
	struct buf b;
	const char *s;

	buf_init(&b, PAGE_MAX);
	CHECK(page_confirm(&b, "../verify.css", "x<y>@evil.example",
	    "bob@example.test", 3, "17.abc", NULL, 0) == 0);
	s = buf_cstr(&b);
	CHECK(strncmp(s, "<!DOCTYPE html>\n<html lang=\"en\">\n", 33) == 0);
	CHECK(strstr(s, "<title>Confirm that you sent this mail</title>")
	    != NULL);
	CHECK(strstr(s, "<p>x&lt;y&gt;@evil.example asks to reach "
	    "bob@example.test.</p>") != NULL);
	CHECK(strstr(s, "<p>3 messages are waiting.</p>") != NULL);
	CHECK(strstr(s, "<form method=\"post\">") != NULL);
	CHECK(strstr(s, "name=\"form\" value=\"17.abc\"") != NULL);
	CHECK(strstr(s, "<button type=\"submit\">Confirm: I sent this mail"
	    "</button>") != NULL);
	CHECK(strstr(s, "<script") == NULL && strstr(s, "style=") == NULL);
	CHECK(strstr(s, "href=\"../verify.css\"") != NULL);
	CHECK(strstr(s, "<label") == NULL && strstr(s, "answer") == NULL);
	buf_reset(&b);
	/* the recipient's question: the label of the answer input, escaped */
	CHECK(page_confirm(&b, "../verify.css", "a@b", "c@d", 1, "17.abc",
	    "Our <b>&\"dog\"?", 0) == 0);
	s = buf_cstr(&b);
	CHECK(strstr(s, "<input type=\"hidden\" name=\"form\" "
	    "value=\"17.abc\">\n<label for=\"answer\">Our &lt;b&gt;&amp;"
	    "&quot;dog&quot;?</label>\n<input type=\"text\" id=\"answer\" "
	    "name=\"answer\" required autocomplete=\"off\">\n"
	    "<button type=\"submit\">") != NULL);
	CHECK(strstr(s, "<title>Confirm that you sent this mail</title>")
	    != NULL);
	CHECK(strstr(s, "not right") == NULL);
	buf_reset(&b);
	/* after a wrong answer: said in the title, heading and at the input */
	CHECK(page_confirm(&b, "../verify.css", "a@b", "c@d", 1, "18.abc",
	    "Q?", 1) == 0);
	s = buf_cstr(&b);
	CHECK(strstr(s, "<title>That answer is not right; try again</title>")
	    != NULL);
	CHECK(strstr(s, "<h1>That answer is not right; try again</h1>")
	    != NULL);
	CHECK(strstr(s, "value=\"18.abc\">\n<p id=\"answer-error\" "
	    "class=\"error\">That answer is not right; try again.</p>\n"
	    "<label for=\"answer\">Q?</label>\n<input type=\"text\" "
	    "id=\"answer\" name=\"answer\" required autocomplete=\"off\" "
	    "aria-invalid=\"true\" aria-describedby=\"answer-error\">\n")
	    != NULL);
	buf_reset(&b);
	CHECK(page_confirm(&b, "../verify.css", "a@b", "c@d", 1, "f", NULL,
	    0) == 0);
	CHECK(strstr(buf_cstr(&b), "<p>1 message is waiting.</p>") != NULL);
	buf_reset(&b);
	CHECK(page_done(&b, "../verify.css", "a@b", "c&d@e", 2) == 0);
	CHECK(strstr(buf_cstr(&b), "<p>Thank you: 2 messages were delivered "
	    "to c&amp;d@e.</p>") != NULL);
	buf_reset(&b);
	CHECK(page_done(&b, "../verify.css", "a@b", "c@d", 1) == 0);
	CHECK(strstr(buf_cstr(&b), "<p>Thank you: 1 message was delivered "
	    "to c@d.</p>") != NULL);
	buf_reset(&b);
	CHECK(page_message(&b, "/verify.css", "T<", "x\"") == 0);
	CHECK(strstr(buf_cstr(&b), "<title>T&lt;</title>") != NULL);
	CHECK(strstr(buf_cstr(&b), "<h1>T&lt;</h1>\n<p>x&quot;</p>") != NULL);
	buf_free(&b);
}

/* store_answer_normalize(): how a given answer meets an accepted one */
static void
test_answers(void)
{
	char out[STORE_ANSWER_MAX + 1], big[STORE_ANSWER_MAX + 2];
	char q[STORE_QUESTION_MAX + 1], bigq[STORE_QUESTION_MAX + 3];

	CHECK(store_answer_normalize("  Rex ", out, sizeof out) == 0);
	CHECK(strcmp(out, "rex") == 0);
	CHECK(store_answer_normalize("\tNEW \r\n  york\t", out,
	    sizeof out) == 0);
	CHECK(strcmp(out, "new york") == 0);
	CHECK(store_answer_normalize("MiXeD-Case 42", out, sizeof out) == 0);
	CHECK(strcmp(out, "mixed-case 42") == 0);
	/* only ASCII is folded: other letters stay as they are */
	CHECK(store_answer_normalize("\xc3\x89" "COLE", out, sizeof out) == 0);
	CHECK(strcmp(out, "\xc3\x89" "cole") == 0);
	CHECK(store_answer_normalize("", out, sizeof out) == CM_EINVAL);
	CHECK(store_answer_normalize(" \t\r\n ", out, sizeof out) ==
	    CM_EINVAL);
	CHECK(store_answer_normalize("a\x01b", out, sizeof out) == CM_EINVAL);
	CHECK(store_answer_normalize("a\x7f", out, sizeof out) == CM_EINVAL);
	CHECK(store_answer_normalize("\xc3(", out, sizeof out) == CM_EINVAL);
	CHECK(store_answer_normalize("\xed\xa0\x80", out, sizeof out) ==
	    CM_EINVAL);		/* a surrogate */
	CHECK(store_answer_normalize(NULL, out, sizeof out) == CM_EINVAL);
	/* exactly STORE_ANSWER_MAX fits, one more does not; outer white
	 * space does not count */
	memset(big, 'A', STORE_ANSWER_MAX);
	big[STORE_ANSWER_MAX] = '\0';
	CHECK(store_answer_normalize(big, out, sizeof out) == 0);
	CHECK(strlen(out) == STORE_ANSWER_MAX && out[0] == 'a');
	big[STORE_ANSWER_MAX] = 'a';
	big[STORE_ANSWER_MAX + 1] = '\0';
	CHECK(store_answer_normalize(big, out, sizeof out) == CM_ETOOBIG);
	CHECK(store_answer_normalize("ab ", out, 3) == 0);
	CHECK(strcmp(out, "ab") == 0);
	CHECK(store_answer_normalize("a b", out, 3) == CM_ETOOBIG);

	CHECK(store_question_normalize("  What is <b>&\"?  ", q, sizeof q)
	    == 0);
	CHECK(strcmp(q, "What is <b>&\"?") == 0);
	CHECK(store_question_normalize("   ", q, sizeof q) == CM_EINVAL);
	CHECK(store_question_normalize("a\tb", q, sizeof q) == CM_EINVAL);
	CHECK(store_question_normalize("\xff?", q, sizeof q) == CM_EINVAL);
	memset(bigq, 'q', STORE_QUESTION_MAX);
	bigq[STORE_QUESTION_MAX] = '\0';
	CHECK(store_question_normalize(bigq, q, sizeof q) == 0);
	bigq[STORE_QUESTION_MAX] = 'q';
	bigq[STORE_QUESTION_MAX + 1] = '\0';
	CHECK(store_question_normalize(bigq, q, sizeof q) == CM_ETOOBIG);
}

int
main(void)
{
	log_open("test-verify");
	test_html();
	test_formtoken();
	test_answers();
	test_logpath();
	test_ratelimit();
	test_ratelimit_addr();
	test_pages();
	if (failures > 0) {
		fprintf(stderr, "test-verify: %d checks failed\n", failures);
		return 1;
	}
	return 0;
}
