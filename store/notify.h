/*
 * notify: mailbox change notifications for capmail-imapd (store/notify.c).
 *
 * Every change to what a mailbox shows (a delivery, a released held
 * grant, APPEND, COPY into it, a flag change, an EXPUNGE) sends
 * pg_notify(STORE_MAILBOX_NOTIFY, '<mailbox id>') inside its transaction;
 * PostgreSQL delivers it at COMMIT (and only then) to every connection
 * that LISTENs on the channel, at most once per transaction for the same
 * mailbox.
 *
 * A listener is one libpq connection of its own (never one of the pool's:
 * LISTEN lives as long as the connection, and the pool hands its
 * connections to any request). It is opened with a blocking connect, so
 * a daemon opens it on a thread; after that it is read from the loop
 * thread without ever blocking: poll store_listen_fd() for readability
 * and call store_listen_read(), which takes what the socket has
 * (PQconsumeInput) and hands over each notification's mailbox id.
 *
 * A notification says "look again", never what changed: the reader
 * re-reads the mailbox. None arrive while the connection is down, so a
 * reader that lost it must assume every mailbox may have changed once it
 * listens again.
 */
#ifndef CAPMAIL_STORE_NOTIFY_H
#define CAPMAIL_STORE_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

#define STORE_MAILBOX_NOTIFY "capmail_mailbox"	/* NOTIFY channel */

struct store_listen;

/* Connect to conninfo and LISTEN on STORE_MAILBOX_NOTIFY. Blocks (up to
 * the connect timeout): call it off the event loop. 0 with *l_r set, or
 * CM_EDBDOWN / CM_EDB / CM_ENOMEM with the reason in err (one line). */
int store_listen_open(const char *conninfo, struct store_listen **l_r,
    char *err, size_t errsz);
/* The socket to watch for readability (it stays the same while the
 * listener is open). */
int store_listen_fd(const struct store_listen *l);
/* Never blocks: read what has arrived and call fn(arg, mailbox id) once
 * for each notification (a payload that is not a mailbox id is skipped).
 * Returns the number of notifications, or CM_EDBDOWN when the connection
 * is lost (store_listen_close() it and open a new one; err says why). */
typedef void store_listen_fn(void *arg, int64_t mailbox_id);
int store_listen_read(struct store_listen *l, store_listen_fn *fn,
    void *arg, char *err, size_t errsz);
/* Close the connection (its socket too) and free *lp; NULL is fine. */
void store_listen_close(struct store_listen **lp);

#endif
