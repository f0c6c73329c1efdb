/*
 * smtp-data: see smtp-data.h. A five-state machine over the input:
 *
 *   BOL    at the beginning of a line (after CR LF)
 *   DOT    a "." at the beginning of a line, held back
 *   DOTCR  ".", CR at the beginning of a line: LF now ends the data
 *   TEXT   inside a line
 *   CR     a CR inside a line, held back until we know whether LF follows
 *
 * A held-back byte is emitted (or dropped, for the stuffed dot) when the
 * next byte shows what it was; the next byte is then looked at again in
 * the new state. Runs of plain text are appended in one call.
 */
#include <string.h>

#include "errors.h"
#include "smtp-data.h"

enum { S_BOL, S_DOT, S_DOTCR, S_TEXT, S_CR };

void
smtp_data_init(struct smtp_data *d, struct buf *out, size_t limit)
{
	memset(d, 0, sizeof *d);
	d->state = S_BOL;
	d->limit = limit;
	d->out = out;
}

static int
emit(struct smtp_data *d, const char *p, size_t n)
{
	int rc;

	if (d->overflow || n == 0)
		return 0;
	if (n > d->limit - d->len) {
		d->overflow = 1;
		return 0;
	}
	if ((rc = buf_add(d->out, p, n)) < 0) {
		if (rc != CM_ETOOBIG)
			return rc;
		d->overflow = 1;	/* the buffer's own maximum */
		return 0;
	}
	d->len += n;
	return 0;
}

int
smtp_data_feed(struct smtp_data *d, const char *p, size_t n,
    size_t *consumed_r)
{
	size_t i = 0;
	int rc = 0;

	*consumed_r = 0;
	if (d->done)
		return SMTP_DATA_END;
	while (i < n && rc == 0) {
		const char *cr;
		switch (d->state) {
		case S_BOL:
			if (p[i] == '.') {
				d->state = S_DOT;
				i++;
			} else
				d->state = S_TEXT;
			break;
		case S_DOT:
			if (p[i] == '\r') {
				d->state = S_DOTCR;
				i++;
			} else
				d->state = S_TEXT;	/* the dot is dropped */
			break;
		case S_DOTCR:
			if (p[i] == '\n') {
				d->done = 1;
				*consumed_r = i + 1;
				return SMTP_DATA_END;
			}
			rc = emit(d, "\r", 1);
			d->state = S_TEXT;
			break;
		case S_TEXT:
			cr = memchr(p + i, '\r', n - i);
			if (cr == NULL) {
				rc = emit(d, p + i, n - i);
				i = n;
			} else {
				rc = emit(d, p + i, (size_t)(cr - (p + i)));
				i = (size_t)(cr - p) + 1;
				d->state = S_CR;
			}
			break;
		case S_CR:
			if (p[i] == '\n') {
				rc = emit(d, "\r\n", 2);
				d->state = S_BOL;
				i++;
			} else {
				rc = emit(d, "\r", 1);
				d->state = S_TEXT;
			}
			break;
		}
	}
	*consumed_r = i;
	return rc < 0 ? rc : SMTP_DATA_MORE;
}

int
smtp_data_raw(struct smtp_data *d, const char *p, size_t n)
{
	return emit(d, p, n);
}
