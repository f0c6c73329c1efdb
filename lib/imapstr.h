/*
 * imapstr: render a value as an IMAP string (RFC 3501 section 4.3), for
 * msgsum's ENVELOPE/BODYSTRUCTURE and for the IMAP server's responses.
 *
 * imap_astring_render() appends to `out`:
 *   NIL                    when s is NULL;
 *   "..."                  a quoted string, with \ and " escaped, when the
 *                          value has no CR, LF, NUL or 8-bit byte and is
 *                          at most IMAPSTR_MAX_QUOTED bytes long;
 *   {n}\r\n<n bytes>       a synchronizing literal otherwise (the server
 *                          sends literals without waiting, so this is the
 *                          form for server responses).
 * The result is always a complete IMAP string token (never an atom, so an
 * empty value is ""). Returns 0 or the CM_E* code of the failed append; on
 * error `out` may hold a partial token, so callers discard the buffer.
 *
 * imap_quoted_ok() tells whether a value can be sent quoted.
 */
#ifndef CAPMAIL_IMAPSTR_H
#define CAPMAIL_IMAPSTR_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

#define IMAPSTR_MAX_QUOTED 4096

bool imap_quoted_ok(const char *s, size_t len);
int imap_astring_render(struct buf *out, const char *s, size_t len);
/* The same for a NUL-terminated string (NULL gives NIL). */
int imap_astring_render_cstr(struct buf *out, const char *s);

#endif
