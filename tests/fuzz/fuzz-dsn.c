/*
 * Fuzz target for lib/dsn: the relay's reply (network input) goes
 * through dsn_status() and into a bounce with dsn_build(), together with
 * an original message. The input is split at its first NUL byte: reply
 * text before, message after. Whatever the bytes, the status is "C.x.y"
 * of at most 15 bytes and every line of the bounce ends in CRLF, with no
 * bare CR; never a crash or an out-of-bounds read.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dsn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t rlen = nul != NULL ? (size_t)(nul - data) : size;
	size_t mlen = nul != NULL ? size - rlen - 1 : 0;
	char *reply = malloc(rlen + 1);
	char *msg = malloc(mlen > 0 ? mlen : 1);
	char st[16];
	struct dsn_rcpt rc;
	struct dsn_report r;
	struct buf b;

	if (reply == NULL || msg == NULL)
		abort();
	memcpy(reply, data, rlen);
	reply[rlen] = '\0';
	if (mlen > 0)
		memcpy(msg, nul + 1, mlen);
	dsn_status(550, reply, st);
	if (strlen(st) > 15 || st[0] != '5' || st[1] != '.')
		abort();
	dsn_status(451, reply, st);
	if (st[0] != '4')
		abort();
	rc.address = "x@remote.test";
	rc.status = st;
	rc.diagnostic = reply;
	memset(&r, 0, sizeof r);
	r.hostname = "mx.example.test";
	r.to = "a@example.test";
	r.original = msg;
	r.original_len = mlen;
	r.unique = "1";
	r.rcpts = &rc;
	r.nrcpts = 1;
	buf_init(&b, 1 << 24);
	if (dsn_build(&r, &b) != 0)
		abort();
	for (size_t i = 0; i < b.len; i++) {
		if (b.data[i] == '\n' && (i == 0 || b.data[i - 1] != '\r'))
			abort();
		if (b.data[i] == '\r' && (i + 1 >= b.len || b.data[i + 1] != '\n'))
			abort();
	}
	buf_free(&b);
	free(reply);
	free(msg);
	return 0;
}
