/*
 * bodytext: decoded text of a MIME leaf, for searching. See bodytext.h.
 */
#include "config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libetpan/libetpan.h>

#include "bodytext.h"
#include "hdrdecode.h"

/* Values longer than this are not given to libetpan (it recurses on
 * comments). */
#define FIELD_MAX 4096

/* The unfolded value of the first field called name, or NULL. */
static char *
field(const char *hdr, size_t hlen, const char *name)
{
	struct hdr_iter it = { hdr, hlen, 0 };
	const char *n, *v;
	size_t nl, vl, len;

	while (hdr_next(&it, &n, &nl, &v, &vl)) {
		if (nl != strlen(name) || strncasecmp(n, name, nl) != 0)
			continue;
		/* libetpan's value parsers take no leading blanks */
		while (vl > 0 && (*v == ' ' || *v == '\t')) {
			v++;
			vl--;
		}
		return vl <= FIELD_MAX ? hdr_unfold(v, vl, &len) : NULL;
	}
	return NULL;
}

/* The transfer encoding (MAILMIME_MECHANISM_*), 7BIT when absent. */
static int
encoding_of(const char *hdr, size_t hlen)
{
	struct mailmime_mechanism *m = NULL;
	char *v = field(hdr, hlen, "Content-Transfer-Encoding");
	size_t idx = 0;
	int enc = MAILMIME_MECHANISM_7BIT;

	if (v != NULL && mailmime_encoding_parse(v, strlen(v), &idx, &m) ==
	    MAILIMF_NO_ERROR) {
		enc = m->enc_type;
		mailmime_mechanism_free(m);
	}
	free(v);
	return enc;
}

/* Whether the part is text, and its charset (malloc'd, NULL for the
 * default us-ascii). */
static bool
text_charset(const char *hdr, size_t hlen, char **charset_r)
{
	struct mailmime_content *ct = NULL;
	char *v = field(hdr, hlen, "Content-Type");
	size_t idx = 0;
	bool text = true;	/* RFC 2045 5.2: no Content-Type is text */

	*charset_r = NULL;
	if (v != NULL && strchr(v, '/') != NULL &&
	    mailmime_content_parse(v, strlen(v), &idx, &ct) ==
	    MAILIMF_NO_ERROR) {
		struct mailmime_type *t = ct->ct_type;
		text = t->tp_type == MAILMIME_TYPE_DISCRETE_TYPE &&
		    t->tp_data.tp_discrete_type->dt_type ==
		    MAILMIME_DISCRETE_TYPE_TEXT;
		const char *cs = mailmime_content_charset_get(ct);
		if (cs != NULL && (*charset_r = strdup(cs)) == NULL)
			text = false;
		mailmime_content_free(ct);
	}
	free(v);
	return text;
}

static bool
is_utf8_compatible(const char *cs)
{
	return cs == NULL || strcasecmp(cs, "us-ascii") == 0 ||
	    strcasecmp(cs, "utf-8") == 0 || strcasecmp(cs, "utf8") == 0;
}

char *
bodytext_utf8(const char *hdr, size_t hlen, const char *body, size_t blen,
    size_t *len_r)
{
	char *charset = NULL, *dec = NULL, *conv = NULL, *out = NULL;
	size_t declen = 0, convlen = 0, idx = 0;
	const char *text;
	size_t textlen;
	int enc;
	bool transfer;

	if (blen > BODYTEXT_MAX || !text_charset(hdr, hlen, &charset))
		goto done;
	enc = encoding_of(hdr, hlen);
	transfer = enc == MAILMIME_MECHANISM_BASE64 ||
	    enc == MAILMIME_MECHANISM_QUOTED_PRINTABLE;
	if (!transfer && is_utf8_compatible(charset))
		goto done;		/* the raw bytes are the text */
	text = body;
	textlen = blen;
	if (transfer) {
		if (mailmime_part_parse(body, blen, &idx, enc, &dec,
		    &declen) != MAILIMF_NO_ERROR)
			goto done;
		text = dec;
		textlen = declen;
	}
	if (!is_utf8_compatible(charset)) {
		if (charconv_buffer("utf-8", charset, text, textlen, &conv,
		    &convlen) != MAIL_CHARCONV_NO_ERROR)
			goto done;
		text = conv;
		textlen = convlen;
	}
	if ((out = malloc(textlen + 1)) != NULL) {
		memcpy(out, text, textlen);
		out[textlen] = '\0';
		*len_r = textlen;
	}
done:
	if (dec != NULL)
		mmap_string_unref(dec);
	if (conv != NULL)
		charconv_buffer_free(conv);
	free(charset);
	return out;
}
