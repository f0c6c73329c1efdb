/*
 * html: escaping text for HTML. See html.h.
 */
#include "config.h"

#include <string.h>

#include "html.h"
#include "utf8.h"

#define REPLACEMENT "\xef\xbf\xbd"	/* U+FFFD in UTF-8 */

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
				n = utf8_seq(p + i, len - i);
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
