/*
 * fuzz-imap-parser: feed arbitrary bytes to the IMAP command parser in
 * random-sized pieces (the first byte picks the piece size), with small
 * limits so the limit paths run too; then parse every complete command's
 * arguments as FETCH items, SEARCH keys and sequence sets, as the server
 * does, and render / match what parsed against a fixed multipart message
 * (with a message/rfc822 part). Nothing may crash, leak or read out of
 * bounds.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "imap-fetch.h"
#include "imap-parser.h"
#include "imap-search.h"
#include "imap-util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char MSG[] =
    "From: a@example.org\r\nSubject: Hello\r\n world\r\n"
    "Content-Type: multipart/mixed; boundary=X\r\n\r\n"
    "--X\r\nContent-Type: text/plain\r\n\r\npart one\r\n"
    "--X\r\nContent-Type: message/rfc822\r\n\r\n"
    "Subject: inner\r\n\r\ninner body\r\n--X--\r\n";

static struct store_msg *
message(void)
{
	static struct store_part parts[2];
	static struct store_msg m;
	const char *d = MSG, *p1h, *p1b, *p1e, *p2h, *p2b, *p2i, *p2e;

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
	m.data = (char *)MSG;
	m.len = m.size = sizeof(MSG) - 1;
	m.header_len = (size_t)(strstr(d, "\r\n\r\n") + 4 - d);
	m.envelope = m.bodystructure = m.body = "NIL";
	m.parts = parts;
	m.nparts = 2;
	return &m;
}

static void
use_args(const struct imap_arg *args, size_t n)
{
	struct imap_fetch f;
	struct imap_search_key *k;
	struct imap_seqset set;
	const char *err;

	if (n < 2)
		return;
	if (n > 2 && imap_fetch_parse(args + 2, 1, &f, &err) == 0) {
		struct buf out;
		buf_init(&out, 1 << 20);
		(void)imap_fetch_render(&f, 1, message(), 1, 1, &out);
		buf_free(&out);
		imap_fetch_free(&f);
	}
	if (imap_search_parse(args + 2, n - 2, &k, &err) == 0) {
		(void)imap_search_match(k, message(), 1, 3, 9, 1);
		imap_search_free(&k);
	}
	if (args[1].type == IMAP_ARG_ATOM &&
	    imap_seqset_parse(args[1].str, args[1].len, &set) == 0)
		imap_seqset_free(&set);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap_parser *p;
	size_t step, pos;

	if (size == 0)
		return 0;
	step = (size_t)(data[0] % 16) + 1;
	data++;
	size--;
	p = imap_parser_new(256, 1024);
	if (p == NULL)
		return 0;
	pos = 0;
	while (pos < size) {
		size_t len = size - pos < step ? size - pos : step, used = 0;
		enum imap_parse_result r = imap_parser_feed(p,
		    (const char *)data + pos, len, &used);

		if (used > len)
			__builtin_trap();
		pos += used;
		if (r == IMAP_PARSE_DONE) {
			size_t n;
			const struct imap_arg *a = imap_parser_args(p, &n);
			use_args(a, n);
			imap_parser_reset(p);
		} else if (r == IMAP_PARSE_ERROR) {
			(void)imap_parser_error(p);
			imap_parser_reset(p);
		} else if (r == IMAP_PARSE_FATAL) {
			break;
		} else if (r == IMAP_PARSE_MORE && used < len) {
			__builtin_trap();	/* MORE means all consumed */
		}
	}
	imap_parser_free(&p);
	return 0;
}
