/*
 * Unit tests for store/held-summary.c: the exact bytes of a summary for
 * a given held message header (ASCII, encoded-word, 8-bit and invalid
 * subjects; the gateway's results shown, the message's own
 * Authentication-Results fields never;
 * folding of long subjects). Pure: no database.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "errors.h"
#include "held.h"

static int failures;

#define CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
	    #cond); failures++; } } while (0)

static char *
compose_ar(const char *hdr, const char *from, const char *ar)
{
	struct held_summary_in in = {
		.header = hdr, .header_len = strlen(hdr), .size = 1234,
		.mail_from = from, .rcpt = "hana@held.test",
		.now = 1748858400,	/* Mon, 2 Jun 2025 10:00:00 +0000 */
		.held_grant = 42, .auth_results = ar,
	};
	struct buf b;

	buf_init(&b, 64 * 1024);
	if (held_summary_compose(&in, &b) != 0) {
		buf_free(&b);
		return NULL;
	}
	return buf_take(&b, NULL);
}

static char *
compose(const char *hdr, const char *from)
{
	return compose_ar(hdr, from, NULL);
}

#define TAIL \
	"Move this message to INBOX to receive the held message and trust\r\n" \
	"the sender. Delete it, or move it to Junk or Trash, to refuse the" \
	" sender.\r\n"

static void
test_exact(void)
{
	char *s = compose_ar("Authentication-Results: mx.held.test;\r\n"
	    "\tspf=pass smtp.mailfrom=a@far.example\r\n"
	    "Received: from far.example by mx.held.test\r\n"
	    "Authentication-Results: mx.held.test; dkim=none\r\n"
	    "From: =?UTF-8?Q?J=C3=B6rg?= <a@far.example>\r\n"
	    "Authentication-Results: forged; spf=pass\r\n"
	    "Subject: Hello there\r\n"
	    "Date: Mon, 2 Jun 2025 10:00:00 +0200\r\n"
	    "\r\n", "a@far.example", "spf=pass dkim=none dmarc=none");
	const char *want =
	    "From: Held mail <MAILER-DAEMON@held.test>\r\n"
	    "To: <hana@held.test>\r\n"
	    "Subject: Held: Hello there\r\n"
	    "Date: Mon, 02 Jun 2025 10:00:00 +0000\r\n"
	    "Message-ID: <held.42@held.test>\r\n"
	    "Auto-Submitted: auto-generated\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n"
	    "\r\n"
	    "A message from a sender you have not accepted yet waits for"
	    " you.\r\n"
	    "It is held: nothing of its content is shown here.\r\n"
	    "\r\n"
	    "From:     J\xc3\xb6rg <a@far.example>\r\n"
	    "Sender:   <a@far.example>\r\n"
	    "Subject:  Hello there\r\n"
	    "Date:     Mon, 2 Jun 2025 10:00:00 +0200\r\n"
	    "Size:     1234 bytes\r\n"
	    "Checked:  spf=pass dkim=none dmarc=none\r\n"
	    "\r\n" TAIL;

	CHECK(s != NULL && strcmp(s, want) == 0);
	if (s != NULL && strcmp(s, want) != 0)
		fprintf(stderr, "got:\n%s\n", s);
	free(s);
}

/* The Subject field of a composed summary, NUL-terminated (malloc'd). */
static char *
subject_of(const char *hdr)
{
	char *s = compose(hdr, ""), *p, *e, *out = NULL;

	if (s == NULL)
		return NULL;
	p = strstr(s, "\r\nSubject: ");
	e = p != NULL ? strstr(p + 2, "\r\nDate: ") : NULL;
	if (e != NULL) {
		out = strndup(p + 2, (size_t)(e - p - 2));
	}
	free(s);
	return out;
}

static void
test_subjects(void)
{
	char *s;

	/* encoded words stay as they are */
	s = subject_of("Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?= x\r\n\r\n");
	CHECK(s != NULL && strcmp(s,
	    "Subject: Held: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?= x") == 0);
	free(s);
	/* 8-bit UTF-8: B encoded */
	s = subject_of("Subject: Gr\xc3\xbc\xc3\x9f" "e\r\n\r\n");
	CHECK(s != NULL && strcmp(s,
	    "Subject: Held: =?UTF-8?B?R3LDvMOfZQ==?=") == 0);
	free(s);
	/* invalid bytes become '?' before encoding: "a?b" */
	s = subject_of("Subject: a\xff" "b\r\n\r\n");
	CHECK(s != NULL && strcmp(s, "Subject: Held: =?UTF-8?B?YT9i?=") == 0);
	free(s);
	/* none, or empty */
	s = subject_of("From: x@y\r\n\r\n");
	CHECK(s != NULL && strcmp(s, "Subject: Held: (no subject)") == 0);
	free(s);
	s = subject_of("Subject:   \r\n\r\n");
	CHECK(s != NULL && strcmp(s, "Subject: Held: (no subject)") == 0);
	free(s);
	/* folded at a blank once past 76 columns; unfolding gives it back */
	s = subject_of("Subject: aaaaaaaaaa bbbbbbbbbb cccccccccc dddddddddd"
	    " eeeeeeeeee ffffffffff\r\n gggggggggg\r\n\r\n");
	CHECK(s != NULL && strcmp(s, "Subject: Held: aaaaaaaaaa bbbbbbbbbb"
	    " cccccccccc dddddddddd eeeeeeeeee\r\n ffffffffff gggggggggg") == 0);
	free(s);
	/* long 8-bit text: encoded words of at most 45 bytes, each on a
	 * line, never splitting a character (2-byte "\xc3\xa9" x 30) */
	{
		char h[128] = "Subject: ";
		size_t n = strlen(h);

		for (int i = 0; i < 30; i++) {
			h[n++] = '\xc3';
			h[n++] = '\xa9';
		}
		memcpy(h + n, "\r\n\r\n", 5);
		s = subject_of(h);
		CHECK(s != NULL && strcmp(s, "Subject: Held:"
		    " =?UTF-8?B?w6nDqcOpw6nDqcOpw6nDqcOpw6nDqcOpw6nDqcOpw6nDqcOpw6nDqcOpw6k=?=\r\n"
		    " =?UTF-8?B?w6nDqcOpw6nDqcOpw6nDqQ==?=") == 0);
		free(s);
	}
}

static void
test_body_values(void)
{
	/* a control byte and a line end in a value never break a body line;
	 * the held message's body is never read (only the header is given) */
	char *s = compose("From: a\x01" "b <a@b>\r\n\r\nSECRET\r\n", "");

	CHECK(s != NULL && strstr(s, "\r\nFrom:     a b <a@b>\r\n") != NULL);
	CHECK(s != NULL && strstr(s, "Sender:   <>\r\n") != NULL);
	CHECK(s != NULL && strstr(s, "SECRET") == NULL);
	CHECK(s != NULL && strstr(s, "Checked:  (not checked)\r\n") != NULL);
	free(s);
	/* the gateway's results are one clean line too */
	s = compose_ar("Subject: x\r\n\r\n", "", "spf=pass\x01" "dkim=none");
	CHECK(s != NULL && strstr(s, "\r\nChecked:  spf=pass dkim=none\r\n") !=
	    NULL);
	free(s);
}

int
main(void)
{
	test_exact();
	test_subjects();
	test_body_values();
	if (failures > 0) {
		fprintf(stderr, "test-held-summary: %d failures\n", failures);
		return 1;
	}
	printf("test-held-summary: ok\n");
	return 0;
}
