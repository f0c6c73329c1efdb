/*
 * maildate: the RFC 5322 date-time capmail writes into the mail it makes
 * (bounces, challenges, held-mail summaries): "Fri, 04 Dec 2026 05:46:00
 * +0000", always UTC, English names whatever the locale.
 */
#ifndef CAPMAIL_MAILDATE_H
#define CAPMAIL_MAILDATE_H

#include <time.h>

#include "buf.h"

/* Append t's date-time to b. 0, CM_EINVAL (t out of gmtime's range) or
 * the buf's errors. */
int maildate_add(struct buf *b, time_t t);

#endif
