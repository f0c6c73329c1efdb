/*
 * html: escaping text for HTML. See html.h.
 */
#include "config.h"

#include <string.h>

#include "html.h"

#define REPLACEMENT "\xef\xbf\xbd"	/* U+FFFD in UTF-8 */

/* Length of the well-formed UTF-8 sequence at s[0..n) (RFC 3629 table),
 * 0 when it is not one. */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t need, i;
	unsigned char lo = 0x80, hi = 0xbf;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		need = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		need = 3;
		if (c == 0xe0)
			lo = 0xa0;	/* no overlong forms */
		else if (c == 0xed)
			hi = 0x9f;	/* no surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;	/* nothing above U+10FFFF */
	} else
		return 0;
	if (n < need)
		return 0;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < need; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return need;
}

int
html_escape(struct buf *b, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run = 0;
	int rc;

	while (i < len) {
		const char *rep = NULL;
		unsigned char c = p[i];
		size_t n = 1;

		switch (c) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		default:
			if (c < 0x20 || c == 0x7f)
				rep = REPLACEMENT;
			else if (c >= 0x80) {
				n = utf8_len(p + i, len - i);
				if (n == 0) {
					rep = REPLACEMENT;
					n = 1;
				} else if (n == 2 && c == 0xc2 &&
				    p[i + 1] < 0xa0)
					rep = REPLACEMENT; /* C1 control */
			}
		}
		if (rep == NULL) {
			i += n;
			run += n;
			continue;
		}
		/* flush the plain run before this character */
		if (run > 0 && (rc = buf_add(b, s + i - run, run)) < 0)
			return rc;
		run = 0;
		if ((rc = buf_addstr(b, rep)) < 0)
			return rc;
		i += n;
	}
	if (run > 0 && (rc = buf_add(b, s + i - run, run)) < 0)
		return rc;
	return 0;
}

int
html_escape_str(struct buf *b, const char *s)
{
	return html_escape(b, s, strlen(s));
}
