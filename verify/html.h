/*
 * html: text into HTML (verify/html.c). Everything capmail-verify shows
 * that did not come from its own constant strings goes through
 * html_escape(): the five characters that mean something in markup or in
 * a quoted attribute become references, control characters and bytes
 * that are not well-formed UTF-8 become U+FFFD, so no input can open a
 * tag, close an attribute or smuggle a byte a browser would read
 * differently. Pure: no I/O.
 */
#ifndef CAPMAIL_VERIFY_HTML_H
#define CAPMAIL_VERIFY_HTML_H

#include <stddef.h>

#include "buf.h"

/* Append s[0..len) escaped to b: & < > " ' as &amp; &lt; &gt; &quot;
 * &#39;; C0 controls (tab and newline included), DEL, C1 controls and
 * ill-formed UTF-8 (overlong forms, surrogates, beyond U+10FFFF,
 * truncated sequences) as U+FFFD, one per bad byte. 0 or the buf error
 * (the buffer then holds part of the text: discard it). */
int html_escape(struct buf *b, const char *s, size_t len);
int html_escape_str(struct buf *b, const char *s);

#endif
