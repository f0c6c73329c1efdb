/*
 * imapstr: IMAP quoted strings and literals. See imapstr.h.
 */
#include "config.h"

#include <string.h>

#include "imapstr.h"

bool
imap_quoted_ok(const char *s, size_t len)
{
	if (len > IMAPSTR_MAX_QUOTED)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\0' || c == '\r' || c == '\n' || c >= 0x80)
			return false;
	}
	return true;
}

int
imap_astring_render(struct buf *out, const char *s, size_t len)
{
	int r;

	if (s == NULL)
		return buf_add(out, "NIL", 3);
	if (!imap_quoted_ok(s, len)) {
		if ((r = buf_printf(out, "{%zu}\r\n", len)) < 0)
			return r;
		return buf_add(out, s, len);
	}
	if ((r = buf_addc(out, '"')) < 0)
		return r;
	size_t start = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] != '"' && s[i] != '\\')
			continue;
		if ((r = buf_add(out, s + start, i - start)) < 0 ||
		    (r = buf_addc(out, '\\')) < 0)
			return r;
		start = i;	/* the special char goes out with the next run */
	}
	if ((r = buf_add(out, s + start, len - start)) < 0)
		return r;
	return buf_addc(out, '"');
}

int
imap_astring_render_cstr(struct buf *out, const char *s)
{
	return imap_astring_render(out, s, s == NULL ? 0 : strlen(s));
}
