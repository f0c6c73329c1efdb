/*
 * formtoken: the anti-forgery field of the confirm form (verify/
 * formtoken.c). The page shown by GET /v/TOKEN carries a hidden field
 *
 *     STAMP.MAC    STAMP: seconds since 1970 when the page was made
 *                  (decimal, no leading zero); MAC: HMAC-SHA256 under the
 *                  site's secret key of "capmail-verify-form" NUL TOKEN
 *                  NUL STAMP, cut to 128 bits, base32 (26 characters)
 *
 * and POST /v/TOKEN is refused unless the field is there, its MAC is
 * right for that very token, and the stamp is at most FORMTOKEN_MAX_AGE
 * old (and not from the future, beyond FORMTOKEN_SKEW). So a POST must
 * follow a GET of the page by the same link, recently; a field from one
 * link is worthless for another. The label keeps the MAC apart from the
 * capability tokens made under the same key (lib/captoken.c MACs 21 raw
 * bytes, never this text). No state is kept: nothing to clean up, and
 * any number of daemons share the key.
 *
 * Pure: no I/O, the time is the caller's.
 */
#ifndef CAPMAIL_VERIFY_FORMTOKEN_H
#define CAPMAIL_VERIFY_FORMTOKEN_H

#include <stddef.h>
#include <time.h>

#include "captoken.h"

#define FORMTOKEN_MAX_AGE 3600	/* s a page's form stays valid */
#define FORMTOKEN_SKEW 300	/* s a stamp may be ahead (other daemons) */
#define FORMTOKEN_MAC_LEN 16
#define FORMTOKEN_MAXLEN 64	/* field text, NUL included */

/* The field for token (its text, tlen bytes) at now into out. 0 or
 * CM_EIO (HMAC failed). */
int formtoken_make(const struct captoken_key *key, const char *token,
    size_t tlen, time_t now, char out[FORMTOKEN_MAXLEN]);
/* Check field f[0..flen) for token at now: 0, CM_EPARSE (not a field),
 * CM_EAUTH (wrong MAC: forged, or made for another token or key),
 * CM_EPERM (right MAC, but too old or from the future). */
int formtoken_check(const struct captoken_key *key, const char *token,
    size_t tlen, const char *f, size_t flen, time_t now);

#endif
