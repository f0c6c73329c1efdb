/*
 * smtp-received: see smtp-received.h.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "errors.h"
#include "smtp-received.h"

#define FOLD_COLUMNS 77		/* lines stay below 78 columns */
#define TAB_WIDTH 8

const char *
smtp_received_proto(int ehlo, int tls, int auth, int utf8)
{
	static const char *const esmtp[4] = {
		"ESMTP", "ESMTPS", "ESMTPA", "ESMTPSA" };
	static const char *const utf8smtp[4] = {
		"UTF8SMTP", "UTF8SMTPS", "UTF8SMTPA", "UTF8SMTPSA" };
	int i = (tls ? 1 : 0) + (auth ? 2 : 0);

	if (utf8)
		return utf8smtp[i];
	if (!ehlo)
		return "SMTP";
	return esmtp[i];
}

struct folder {
	struct buf *out;
	size_t col;
	int rc;
};

/* Append one word (which may end with ';'), preceded by a space or, when
 * the line would grow too long, by a fold. */
static void
word(struct folder *f, const char *w, size_t n)
{
	int rc;

	if (f->rc < 0)
		return;
	if (f->col + 1 + n > FOLD_COLUMNS) {
		rc = buf_add(f->out, "\r\n\t", 3);
		f->col = TAB_WIDTH;
	} else {
		rc = buf_addc(f->out, ' ');
		f->col++;
	}
	if (rc == 0)
		rc = buf_add(f->out, w, n);
	f->col += n;
	f->rc = rc;
}

static void
words(struct folder *f, const char *w)
{
	word(f, w, strlen(w));
}

int
smtp_received(struct buf *out, const struct smtp_received *r)
{
	struct folder f = { out, 0, 0 };
	char tmp[600], date[64];
	struct tm tm;
	int n;

	f.rc = buf_addstr(out, "Received:");
	f.col = strlen("Received:");
	words(&f, "from");
	words(&f, r->helo);
	n = snprintf(tmp, sizeof tmp, "([%s%s])",
	    strchr(r->ip, ':') != NULL ? "IPv6:" : "", r->ip);
	if (n < 0 || (size_t)n >= sizeof tmp)
		return CM_ETOOBIG;
	words(&f, tmp);
	words(&f, "by");
	words(&f, r->hostname);
	words(&f, "(capmail)");
	words(&f, "with");
	words(&f, r->proto);
	words(&f, "id");
	if (r->rcpt != NULL) {
		words(&f, r->id);
		words(&f, "for");
		n = snprintf(tmp, sizeof tmp, "<%s>;", r->rcpt);
	} else
		n = snprintf(tmp, sizeof tmp, "%s;", r->id);
	if (n < 0 || (size_t)n >= sizeof tmp)
		return CM_ETOOBIG;
	words(&f, tmp);
	if (gmtime_r(&r->when, &tm) == NULL ||
	    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000",
	    &tm) == 0)
		return CM_EINVAL;
	words(&f, date);
	if (f.rc == 0)
		f.rc = buf_add(out, "\r\n", 2);
	return f.rc;
}
