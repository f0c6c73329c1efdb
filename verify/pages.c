/*
 * pages: capmail-verify's HTML. See pages.h.
 */
#include "config.h"

#include "html.h"
#include "pages.h"

const char page_css[] =
    "body{font:1rem/1.5 system-ui,sans-serif;max-width:36rem;"
    "margin:2rem auto;padding:0 1rem;color:#111;background:#fff}\n"
    "h1{font-size:1.4rem}\n"
    "button{font:inherit;padding:.5rem 1.2rem;border:2px solid #124;"
    "border-radius:.3rem;background:#124;color:#fff;cursor:pointer}\n"
    "button:focus{outline:3px solid #e80;outline-offset:2px}\n"
    "label{display:block;font-weight:bold;margin-bottom:.3rem}\n"
    "input[type=text]{font:inherit;box-sizing:border-box;width:100%;"
    "max-width:24rem;padding:.4rem;border:2px solid #444;"
    "border-radius:.3rem;margin-bottom:1rem}\n"
    "input:focus{outline:3px solid #e80;outline-offset:2px}\n"
    ".error{color:#a00;font-weight:bold}\n"
    ".small{color:#444;font-size:.9rem}\n";

#define TRY(x) do { if ((rc = (x)) < 0) return rc; } while (0)

static int
head(struct buf *b, const char *css, const char *title)
{
	int rc;

	TRY(buf_addstr(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
	    "<meta charset=\"utf-8\">\n"
	    "<meta name=\"viewport\" content=\"width=device-width, "
	    "initial-scale=1\">\n<title>"));
	TRY(html_escape_str(b, title));
	TRY(buf_addstr(b, "</title>\n<link rel=\"stylesheet\" href=\""));
	TRY(html_escape_str(b, css));
	TRY(buf_addstr(b, "\">\n</head>\n<body>\n<main>\n<h1>"));
	TRY(html_escape_str(b, title));
	TRY(buf_addstr(b, "</h1>\n"));
	return 0;
}

static int
foot(struct buf *b)
{
	return buf_addstr(b, "</main>\n</body>\n</html>\n");
}

/* "<p>TEXT</p>\n" with TEXT escaped */
static int
para(struct buf *b, const char *text)
{
	int rc;

	TRY(buf_addstr(b, "<p>"));
	TRY(html_escape_str(b, text));
	return buf_addstr(b, "</p>\n");
}

int
page_confirm(struct buf *b, const char *css, const char *sender,
    const char *recipient, size_t held, const char *field,
    const char *question, int wrong)
{
	int rc;

	TRY(head(b, css, wrong ? PAGE_WRONG_ANSWER :
	    "Confirm that you sent this mail"));
	TRY(buf_addstr(b, "<p>"));
	TRY(html_escape_str(b, sender));
	TRY(buf_addstr(b, " asks to reach "));
	TRY(html_escape_str(b, recipient));
	TRY(buf_addstr(b, ".</p>\n"));
	if (held == 1)
		TRY(buf_addstr(b, "<p>1 message is waiting.</p>\n"));
	else
		TRY(buf_printf(b, "<p>%zu messages are waiting.</p>\n", held));
	TRY(buf_addstr(b, "<p>"));
	TRY(html_escape_str(b, recipient));
	TRY(buf_addstr(b, " holds mail from new senders until they confirm "
	    "that the address is theirs. If you sent this mail, confirm "
	    "below; it is then delivered at once. If you did not, close "
	    "this page: nothing is delivered.</p>\n"
	    "<form method=\"post\">\n"
	    "<input type=\"hidden\" name=\"form\" value=\""));
	TRY(html_escape_str(b, field));
	TRY(buf_addstr(b, "\">\n"));
	if (question != NULL) {
		if (wrong)
			TRY(buf_addstr(b, "<p id=\"answer-error\" "
			    "class=\"error\">" PAGE_WRONG_ANSWER ".</p>\n"));
		TRY(buf_addstr(b, "<label for=\"answer\">"));
		TRY(html_escape_str(b, question));
		TRY(buf_addstr(b, "</label>\n<input type=\"text\" "
		    "id=\"answer\" name=\"answer\" required "
		    "autocomplete=\"off\""));
		if (wrong)
			TRY(buf_addstr(b, " aria-invalid=\"true\" "
			    "aria-describedby=\"answer-error\""));
		TRY(buf_addstr(b, ">\n"));
	}
	TRY(buf_addstr(b, "<button type=\"submit\">"
	    "Confirm: I sent this mail</button>\n</form>\n"));
	return foot(b);
}

int
page_done(struct buf *b, const char *css, const char *sender,
    const char *recipient, size_t released)
{
	int rc;

	TRY(head(b, css, "Thank you"));
	if (released == 1)
		TRY(buf_addstr(b, "<p>Thank you: 1 message was delivered to "));
	else
		TRY(buf_printf(b, "<p>Thank you: %zu messages were delivered "
		    "to ", released));
	TRY(html_escape_str(b, recipient));
	TRY(buf_addstr(b, ".</p>\n<p class=\"small\">"));
	TRY(html_escape_str(b, sender));
	TRY(buf_addstr(b, " is now a confirmed sender: later mail from "
	    "this address arrives directly.</p>\n"));
	return foot(b);
}

int
page_message(struct buf *b, const char *css, const char *title,
    const char *text)
{
	int rc;

	TRY(head(b, css, title));
	TRY(para(b, text));
	return foot(b);
}
