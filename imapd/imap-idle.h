/*
 * imap-idle: IDLE (RFC 2177, cmd-idle.c) and what wakes it
 * (imap-notify.c).
 *
 * "tag IDLE" is answered "+ idling"; then the session reads lines, not
 * commands: "DONE" (any case) ends it with "tag OK IDLE terminated",
 * anything else with "tag BAD Expected DONE". While idling, the selected
 * mailbox is polled - the same poll NOOP does (imap-session.c: EXISTS,
 * RECENT, EXPUNGE, FETCH FLAGS, FLAGS), with no tagged line - when
 *   - IDLE starts (a change between the last command's poll and now
 *     would otherwise wait for the next wake-up),
 *   - a notification for that mailbox arrives (imap_idle_wake),
 *   - the LISTEN connection comes back after a loss (imap_idle_wake_all:
 *     what changed in the gap was never notified),
 *   - imap_idle_poll seconds passed without a poll (a fallback, should a
 *     notification be lost).
 * A wake-up that comes while a poll runs makes one more poll after it.
 * An idle session holds no store connection: each poll is one short
 * store_run(). IDLE without a selected mailbox only waits for DONE.
 * imap_timeout still applies (only client input restarts it; RFC 2177
 * clients re-issue IDLE at least every 29 minutes).
 *
 * Idling sessions with a mailbox are kept in d->idle[], a hash by mailbox
 * id, so a notification costs a lookup, not a walk over every session.
 */
#ifndef CAPMAIL_IMAP_IDLE_H
#define CAPMAIL_IMAP_IDLE_H

#include <stddef.h>
#include <stdint.h>

struct imapd;
struct imap_session;

/* A line arrived while s idles (len bytes, no CRLF). */
void imap_idle_line(struct imap_session *s, const char *line, size_t len);
/* The session is going away: stop idling without a reply. */
void imap_idle_close(struct imap_session *s);
/* Poll every session idling in mailbox mailbox_id. */
void imap_idle_wake(struct imapd *d, int64_t mailbox_id);
/* Poll every idling session (the notifications may have missed some). */
void imap_idle_wake_all(struct imapd *d);

/* imap-notify.c: LISTEN for mailbox changes on a connection of its own
 * (store/notify.h), its socket watched by the loop; opened on the thread
 * pool, reopened with a growing delay after a loss. Never blocks the
 * loop. Returns 0 (the first connection is still being made) or
 * CM_ENOMEM. */
int imap_notify_start(struct imapd *d, const char *conninfo);

#endif
