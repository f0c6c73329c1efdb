/*
 * buf: a growable, binary-safe byte buffer with a hard maximum fixed at
 * creation (after curl's dynbuf and Postfix's VSTRING).
 *
 * The bytes are always followed by one NUL that is not counted in len, so
 * b->data can be handed to string functions when the content is text.
 * Every append returns 0 or a negative CM_E* code (CM_ETOOBIG when the
 * maximum would be passed, CM_ENOMEM); on error the buffer is unchanged.
 * buf_take() hands the bytes to the caller (who frees them) and leaves the
 * buffer empty. A zeroed struct buf is not usable: call buf_init().
 */
#ifndef CAPMAIL_BUF_H
#define CAPMAIL_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data;	/* NULL until the first append; else len+1 bytes valid */
	size_t len;
	size_t cap;
	size_t max;	/* hard limit on len */
};

void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);		/* len = 0, memory kept */
int buf_add(struct buf *b, const void *p, size_t n);
int buf_addstr(struct buf *b, const char *s);
int buf_addc(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* Remove the first n bytes (n <= len). */
void buf_consume(struct buf *b, size_t n);
/* Hand over the bytes (NUL-terminated, *len_r set if not NULL); the buffer
 * is left empty. Returns a malloc'd empty string for an empty buffer. */
char *buf_take(struct buf *b, size_t *len_r);
/* The content as a C string ("" when empty). */
const char *buf_cstr(const struct buf *b);

#endif
