/*
 * Fuzz target for store/held-summary.c: the input is the header of a
 * held message (network input). Whatever the bytes, the summary is a
 * valid 8bit text/plain message: no NUL, every line ends in CRLF (no bare
 * CR or LF), no line over 998 bytes, and its body is valid UTF-8; never a
 * crash or an out-of-bounds read.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "held.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 1 if [p, p+n) is valid UTF-8 (no overlongs, no surrogates). */
static int
utf8_ok(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned c = p[i];
		size_t l = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 :
		    c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;

		if (l == 0 || i + l > n)
			return 0;
		for (size_t k = 1; k < l; k++)
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
		i += l;
	}
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *hdr = malloc(size + 1);
	struct held_summary_in in;
	struct buf b;
	const char *body;
	size_t line = 0;

	if (hdr == NULL)
		abort();
	memcpy(hdr, data, size);
	hdr[size] = '\0';
	memset(&in, 0, sizeof in);
	in.header = hdr;
	in.header_len = size;
	in.size = size;
	in.mail_from = "a@far.example";
	in.rcpt = "hana@held.test";
	in.now = 1748858400;
	in.held_grant = 1;
	buf_init(&b, 1 << 20);
	if (held_summary_compose(&in, &b) != 0)
		abort();
	/* the verbatim Authentication-Results fields come first and are the
	 * gateway's own: the checks start at our From */
	body = strstr(b.data, "From: Held mail <");
	if (body == NULL)
		abort();
	for (const char *p = body; p < b.data + b.len; p++) {
		if (*p == '\0' || (*p == '\r' && p[1] != '\n') ||
		    (*p == '\n' && (p == b.data || p[-1] != '\r')))
			abort();
		line = *p == '\n' ? 0 : line + 1;
		if (line > 998)
			abort();
	}
	if (b.len < 2 || memcmp(b.data + b.len - 2, "\r\n", 2) != 0)
		abort();
	body = strstr(body, "\r\n\r\n");
	if (body == NULL || !utf8_ok((const unsigned char *)body,
	    (size_t)(b.data + b.len - body)))
		abort();
	buf_free(&b);
	free(hdr);
	return 0;
}
