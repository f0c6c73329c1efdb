/*
 * imap-sample.h: the sample message of the IMAP unit tests and of the
 * IMAP parser fuzz target: a multipart message with a message/rfc822
 * part, as a struct store_msg with its part offsets found by hand (so
 * that the FETCH and SEARCH code is tested against offsets that do not
 * come from msgsum). Include it in one .c file only.
 */
#ifndef CAPMAIL_TEST_IMAP_SAMPLE_H
#define CAPMAIL_TEST_IMAP_SAMPLE_H

#include <string.h>

#include "store-imap.h"

/* A multipart message with a message/rfc822 part, offsets by hand. */
static const char MSG[] =
    "From: a@example.org\r\n"			/* 0 */
    "Subject: Hello\r\n"
    " world\r\n"
    "To: b@example.org\r\n"
    "Content-Type: multipart/mixed; boundary=X\r\n"
    "\r\n"
    "--X\r\n"
    "Content-Type: text/plain\r\n"
    "\r\n"
    "part one\r\n"
    "--X\r\n"
    "Content-Type: message/rfc822\r\n"
    "\r\n"
    "Subject: inner\r\n"
    "\r\n"
    "inner body\r\n"
    "--X--\r\n";

static struct store_msg *
make_msg(void)
{
	static struct store_part parts[2];
	static struct store_msg m;
	const char *d = MSG;
	const char *p1h, *p1b, *p1e, *p2h, *p2b, *p2i, *p2e;

	p1h = strstr(d, "--X\r\n") + 5;
	p1b = strstr(p1h, "\r\n\r\n") + 4;
	p1e = strstr(p1b, "\r\n--X");
	p2h = p1e + 7;
	p2b = strstr(p2h, "\r\n\r\n") + 4;
	p2i = strstr(p2b, "\r\n\r\n") + 4;
	p2e = strstr(p2i, "\r\n--X--");
	memset(parts, 0, sizeof(parts));
	memcpy(parts[0].path, "1", 2);
	parts[0].hdr_off = (size_t)(p1h - d);
	parts[0].body_off = (size_t)(p1b - d);
	parts[0].end_off = (size_t)(p1e - d);
	memcpy(parts[1].path, "2", 2);
	parts[1].hdr_off = (size_t)(p2h - d);
	parts[1].body_off = (size_t)(p2b - d);
	parts[1].end_off = (size_t)(p2e - d);
	parts[1].inner_body_off = (size_t)(p2i - d);
	parts[1].is_message = 1;
	memset(&m, 0, sizeof(m));
	m.uid = 7;
	m.flags = "\\Seen $Work";
	m.internaldate = 837596665;
	m.date = 837596665 - 86400;
	m.data = (char *)MSG;
	m.len = m.size = sizeof(MSG) - 1;
	m.header_len = (size_t)(strstr(d, "\r\n\r\n") + 4 - d);
	m.envelope = "(NIL \"Hello world\" NIL NIL NIL NIL NIL NIL NIL NIL)";
	m.bodystructure = "(\"text\" \"plain\" NIL NIL NIL \"7bit\" 0 0)";
	m.body = m.bodystructure;
	m.parts = parts;
	m.nparts = 2;
	return &m;
}

#endif
