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
 * Then the header is made with the input as every value: one field,
 * every CRLF but the last followed by a tab, no control character.
 */
#include "config.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data + 1;
	size_t n = size - 1;
	char out[256], v[256];
	int rc;

	if (size == 0)
		return 0;
	switch (data[0] % 3) {
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
	}
	memcpy(v, in, n < sizeof v - 1 ? n : sizeof v - 1);
	v[n < sizeof v - 1 ? n : sizeof v - 1] = '\0';
	check_header(v);
	return 0;
}
