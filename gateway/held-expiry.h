/*
 * held-expiry.h: the gateway's periodic deletion of held mail older than
 * held_max_age (held-expiry.c).
 */
#ifndef CAPMAIL_HELD_EXPIRY_H
#define CAPMAIL_HELD_EXPIRY_H

#include "smtp-session.h"

/* Start the timer (after the store is up): a run at once, then hourly.
 * Each run counts in gw->pending while it lasts. */
void held_expiry_start(struct gateway *gw);
/* Stop and close the timer (on the way out, before the loop's end). */
void held_expiry_stop(void);

#endif
