/*
 * Fuzz target for lib/authres's parsers of network input: the first byte
 * picks one, the rest is its input.
 *   0: a DMARC TXT record (authres_dmarc_parse): 0, CM_ENOTFOUND,
 *      CM_EPARSE or CM_EINVAL only; on 0, p is none, quarantine or
 *      reject (none when p_from_rua).
 *   1: a message's header (authres_from_domain): on success a non-empty
 *      lower-case domain without '@'; else an empty one.
 *   2: a DNS answer packet (authres_dns_txt, as SPF and DMARC read TXT
 *      answers): every TXT string handed over fits AUTHRES_TXT_MAX.
 *   3: a message (authres_dkim_pieces, what libopendkim is fed): the
 *      pieces are in order, inside the input, and what lies between them
 *      starts "DKIM-Signature"; with at most AUTHRES_DKIM_MAX_SIGS
 *      signatures the input comes whole, in one piece; fed its own
 *      output, it gives it back whole, counting at most that many.
 * Then the header is made with the input as every value: one field,
 * every CRLF but the last followed by a tab, no control character.
 */
#include "config.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "authres.h"
#include "authres-int.h"
#include "errors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
txt_seen(void *arg, const char *txt, size_t len)
{
	if (len > AUTHRES_TXT_MAX || txt[len] != '\0')
		abort();
	(*(int *)arg)++;
}

static void
check_header(const char *v)
{
	struct authres r = { .spf = AUTHRES_PASS, .dkim = AUTHRES_FAIL,
	    .dmarc = AUTHRES_NEUTRAL };
	struct buf b;
	const char *p, *nl;

	snprintf(r.spf_domain, sizeof r.spf_domain, "%s", v);
	snprintf(r.dkim_domain, sizeof r.dkim_domain, "%s", v);
	snprintf(r.from_domain, sizeof r.from_domain, "%s", v);
	buf_init(&b, AUTHRES_HEADER_MAX);
	if (authres_header(&r, v[0] ? v : "mx", &b) != 0)
		abort();
	p = buf_cstr(&b);
	for (size_t i = 0; i < b.len; i++) {
		unsigned char c = (unsigned char)p[i];
		if ((c < ' ' && c != '\t' && c != '\r' && c != '\n') ||
		    c == 0x7f)
			abort();
		if ((c == '\r') != (i + 1 < b.len && p[i + 1] == '\n'))
			abort();
		if (c == '\n' && (i == 0 || p[i - 1] != '\r'))
			abort();
	}
	while ((nl = strstr(p, "\r\n")) != NULL) {
		if (nl[2] != '\t' && nl[2] != '\0')
			abort();
		p = nl + 2;
	}
	buf_free(&b);
}

struct pieces {
	const char *msg, *end;	/* the input */
	const char *at;		/* where the last piece ended */
	char *out;		/* the pieces joined (as long as the input) */
	size_t outlen;
	int n;
};

static int
piece(void *arg, const char *p, size_t n)
{
	struct pieces *pc = arg;

	if (n == 0 || p < pc->at || p > pc->end || n > (size_t)(pc->end - p))
		abort();
	if (p > pc->at && strncasecmp(pc->at, "DKIM-Signature", 14) != 0)
		abort();
	memcpy(pc->out + pc->outlen, p, n);
	pc->outlen += n;
	pc->at = p + n;
	pc->n++;
	return 0;
}

static void
check_pieces(const char *in, size_t n)
{
	struct pieces pc = { in, in + n, in, malloc(n + 1), 0, 0 };
	struct pieces again;
	unsigned nsig, nsig2;

	if (pc.out == NULL)
		return;
	if (authres_dkim_pieces(in, n, piece, &pc, &nsig) != 0)
		abort();
	if (pc.at < pc.end && strncasecmp(pc.at, "DKIM-Signature", 14) != 0)
		abort();
	if (nsig <= AUTHRES_DKIM_MAX_SIGS && (pc.n != (n > 0) ||
	    pc.outlen != n))
		abort();
	again = (struct pieces){ pc.out, pc.out + pc.outlen, pc.out,
	    malloc(pc.outlen + 1), 0, 0 };
	if (again.out != NULL) {
		if (authres_dkim_pieces(pc.out, pc.outlen, piece, &again,
		    &nsig2) != 0 || again.outlen != pc.outlen ||
		    memcmp(again.out, pc.out, pc.outlen) != 0 ||
		    nsig2 != (nsig < AUTHRES_DKIM_MAX_SIGS ? nsig :
		    AUTHRES_DKIM_MAX_SIGS))
			abort();
		free(again.out);
	}
	free(pc.out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data + 1;
	size_t n = size - 1;
	char out[256], v[256];
	int rc;

	if (size == 0)
		return 0;
	switch (data[0] % 4) {
	case 0: {
		struct authres_dmarc d;

		rc = authres_dmarc_parse(in, n, &d);
		if (rc != 0 && rc != CM_ENOTFOUND && rc != CM_EPARSE &&
		    rc != CM_EINVAL)
			abort();
		if (rc == 0 && strcmp(d.p, "none") && strcmp(d.p, "reject") &&
		    strcmp(d.p, "quarantine"))
			abort();
		if (rc == 0 && d.p_from_rua && strcmp(d.p, "none"))
			abort();
		break;
	}
	case 1:
		rc = authres_from_domain(in, n, out, sizeof out);
		if (rc == 0) {
			if (out[0] == '\0' || strchr(out, '@'))
				abort();
			for (char *p = out; *p; p++)
				if (isupper((unsigned char)*p))
					abort();
		} else if (out[0] != '\0' || (rc != CM_ENOTFOUND &&
		    rc != CM_EPARSE && rc != CM_ETOOBIG))
			abort();
		break;
	case 2: {
		int count = 0;

		(void)authres_dns_txt((const unsigned char *)in, (int)n,
		    txt_seen, &count);
		break;
	}
	case 3:
		check_pieces(in, n);
		break;
	}
	memcpy(v, in, n < sizeof v - 1 ? n : sizeof v - 1);
	v[n < sizeof v - 1 ? n : sizeof v - 1] = '\0';
	check_header(v);
	return 0;
}
