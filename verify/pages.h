/*
 * pages: the HTML capmail-verify sends (verify/pages.c). Small, plain,
 * accessible pages: <html lang="en">, a <title>, one <h1>, text, and on
 * the confirm page one form with a button (and, when the recipient set a
 * question, a text input with its <label for>); no script, no inline
 * style (the one stylesheet is VERIFY_CSS_PATH, served by the daemon, so
 * the Content-Security-Policy can forbid everything else). Every value
 * that is not one of these constant strings is escaped (html.h).
 *
 * Each function appends a whole page to b: 0 or a buf error. css is the
 * stylesheet's href as seen from the page (relative, so that the pages
 * work under a proxy's path prefix: "../verify.css" from /v/TOKEN).
 * Pure: no I/O.
 */
#ifndef CAPMAIL_VERIFY_PAGES_H
#define CAPMAIL_VERIFY_PAGES_H

#include <stddef.h>

#include "buf.h"

#define VERIFY_CSS_PATH "/verify.css"
#define PAGE_MAX (64 * 1024)	/* a page is far smaller */

extern const char page_css[];

#define PAGE_WRONG_ANSWER "That answer is not right; try again"

/* The form: "SENDER asks to reach RECIPIENT.", how many messages wait,
 * and the confirm form posting field (formtoken.h) back to the page's
 * own URL. question not NULL: the recipient's question as the label of
 * a text input named "answer" (<label for>); wrong: the page after a
 * wrong answer (title and heading PAGE_WRONG_ANSWER, the same line next
 * to the input, which is aria-invalid and described by it). */
int page_confirm(struct buf *b, const char *css, const char *sender,
    const char *recipient, size_t held, const char *field,
    const char *question, int wrong);
/* After a confirmation: "Thank you: N messages were delivered to
 * RECIPIENT." */
int page_done(struct buf *b, const char *css, const char *sender,
    const char *recipient, size_t released);
/* Any other outcome: a heading and one paragraph (both escaped). */
int page_message(struct buf *b, const char *css, const char *title,
    const char *text);

#endif
