/*
 * fuzz-smtp: the gateway's parsers (gateway/smtp-parse.c, smtp-data.c,
 * and lib/sasl.c for AUTH).
 *
 * The first byte picks the target:
 *   0: command line split, then MAIL and RCPT path parsing, HELO check
 *      and SIZE parsing of the rest of the input as one line;
 *   1: the DATA decoder, fed the rest of the input whole and again one
 *      byte at a time, under a small limit; both runs must agree exactly
 *      (consumed bytes, end seen, overflow, and the output unless it
 *      overflowed), and the output never holds more than the limit.
 *   2, 3: SASL (lib/sasl.c, SMTP AUTH): the rest is split at LF; the
 *      first line is the AUTH argument ("PLAIN" or "LOGIN", a space and
 *      an initial response), each further line one client response, fed
 *      while the exchange continues. Credentials out are NUL-free and
 *      within their limits; base64 that decodes encodes back to exactly
 *      the same text (the decoder is strict).
 * Any disagreement aborts, so the fuzzer reports it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "errors.h"
#include "sasl.h"
#include "smtp-data.h"
#include "smtp-parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_line(const char *p, size_t n)
{
	struct smtp_line l;
	struct smtp_path path;
	unsigned long long v;
	const char *why;

	if (smtp_parse_line(p, n, &l, &why) == 0) {
		if (l.arg + l.arg_len > p + n || l.verb_len == 0)
			abort();
		smtp_verb_is(&l, "MAIL");
	}
	for (int k = 0; k < 2; k++) {
		if (smtp_parse_path(p, n, k ? SMTP_PATH_RCPT : SMTP_PATH_MAIL,
		    &path, &why) == 0) {
			size_t len = strlen(path.addr);
			if (len >= sizeof path.addr || path.nparams >
			    SMTP_MAX_PARAMS || path.local_len > len)
				abort();
			if (!path.null_path && !path.postmaster &&
			    (path.addr[path.local_len] != '@' ||
			    strlen(path.domain) > SMTP_MAX_DOMAIN))
				abort();
			for (size_t i = 0; i < path.nparams; i++)
				if (path.params[i].key_len == 0)
					abort();
		}
	}
	smtp_check_helo(p, n, &why);
	smtp_parse_size(p, n, &v);
}

static void
fuzz_data(const char *p, size_t n)
{
	const size_t limit = 64;
	struct buf a, b;
	struct smtp_data da, db;
	size_t used_a, used_b = 0, u;
	int ra, rb = SMTP_DATA_MORE;

	buf_init(&a, limit);
	buf_init(&b, limit);
	smtp_data_init(&da, &a, limit);
	smtp_data_init(&db, &b, limit);
	ra = smtp_data_feed(&da, p, n, &used_a);
	while (used_b < n && rb == SMTP_DATA_MORE) {
		rb = smtp_data_feed(&db, p + used_b, 1, &u);
		used_b += u;
	}
	if (ra < 0 || rb < 0)
		abort();
	if (ra != rb || used_a != used_b || da.overflow != db.overflow ||
	    a.len > limit || b.len > limit || da.len != a.len)
		abort();
	/* after an overflow the output is partial and thrown away */
	if (!da.overflow && (a.len != b.len ||
	    (a.len > 0 && memcmp(a.data, b.data, a.len) != 0)))
		abort();
	if (ra == SMTP_DATA_END && (used_a < 3 ||
	    memcmp(p + used_a - 3, ".\r\n", 3) != 0))
		abort();
	buf_free(&a);
	buf_free(&b);
}

static void
b64_roundtrip(const char *p, size_t n)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned char *dec = malloc(n / 4 * 3 + 1);
	char *enc;
	long m;
	size_t o = 0;

	if (dec == NULL)
		return;
	m = sasl_base64_decode(p, n, dec);
	if (m < 0) {
		if (m != CM_EPARSE)
			abort();
		free(dec);
		return;
	}
	if ((size_t)m > n / 4 * 3 || (enc = malloc(n + 1)) == NULL)
		abort();
	for (long i = 0; i < m; i += 3) {
		unsigned v = (unsigned)dec[i] << 16;
		if (i + 1 < m)
			v |= (unsigned)dec[i + 1] << 8;
		if (i + 2 < m)
			v |= dec[i + 2];
		enc[o++] = tab[v >> 18];
		enc[o++] = tab[(v >> 12) & 63];
		enc[o++] = i + 1 < m ? tab[(v >> 6) & 63] : '=';
		enc[o++] = i + 2 < m ? tab[v & 63] : '=';
	}
	if (o != n || memcmp(enc, p, n) != 0)
		abort();
	free(enc);
	free(dec);
}

static void
fuzz_sasl(const char *p, size_t n)
{
	struct sasl x;
	const char *end = p + n, *nl, *sp;
	size_t len;
	int rc;

	nl = memchr(p, '\n', n);
	len = nl != NULL ? (size_t)(nl - p) : n;
	b64_roundtrip(p, len);
	sp = memchr(p, ' ', len);
	rc = sasl_start(&x, p, sp != NULL ? (size_t)(sp - p) : len,
	    sp != NULL ? sp + 1 : NULL, sp != NULL ? len - (size_t)(sp - p) - 1
	    : 0, sp != NULL);
	p = nl != NULL ? nl + 1 : end;
	while (rc == SASL_CONTINUE && p < end) {
		if (x.challenge == NULL)
			abort();
		nl = memchr(p, '\n', (size_t)(end - p));
		len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		rc = sasl_step(&x, p, len);
		p = nl != NULL ? nl + 1 : end;
	}
	if (rc == SASL_DONE && (x.user[0] == '\0' ||
	    strlen(x.user) > SASL_USER_MAX || strlen(x.pass) > SASL_PASS_MAX))
		abort();
	if (rc < 0 && rc != CM_ENOTFOUND && rc != CM_EPARSE &&
	    rc != CM_EINVAL && rc != CM_EPERM)
		abort();
	sasl_clear(&x);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] & 2)
		fuzz_sasl((const char *)data + 1, size - 1);
	else if (data[0] & 1)
		fuzz_data((const char *)data + 1, size - 1);
	else
		fuzz_line((const char *)data + 1, size - 1);
	return 0;
}
