/*
 * sender: capmail-outbound's worker thread. It delivers the outbound
 * queue (store/outbound.h) to the relay host, one item at a time:
 *
 *   claim one due item (a lease of 10 x outbound_timeout + 60 s), read
 *   its message, run the SMTP transaction (outbound/relay.c), then record
 *   each recipient's outcome: sent; deferred (4xx, no connection: retried
 *   after store_outbound_delay(), 1, 5, 15, 30 ... x outbound_retry_min,
 *   at most outbound_retry_max, until outbound_max_age has passed, then
 *   failed with status 4.4.7); failed (5xx). Failed recipients of an item
 *   with a sender and an owner give one bounce (lib/dsn.c, RFC 3464) in
 *   the owner's INBOX, stored in the transaction that records the
 *   failure; a null-sender item is never bounced.
 *
 * Once an hour it deletes the items finished more than outbound_keep
 * seconds ago (store_outbound_purge), with their messages when nothing
 * else refers to them.
 *
 * When nothing is due it sleeps until the next item is due, at most
 * outbound_poll seconds, waking at once on a NOTIFY capmail_outbound (a
 * new item, capmailctl queue flush) and on sender_stop(). Everything it
 * does blocks (libpq, libetpan): that is why it is a thread of its own,
 * never an event loop's.
 */
#ifndef CAPMAIL_OUTBOUND_SENDER_H
#define CAPMAIL_OUTBOUND_SENDER_H

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include <uv.h>

#include "relay.h"

struct sender {
	/* configuration, set before sender_start() */
	const char *conninfo;
	const char *hostname;		/* Reporting-MTA of bounces */
	const char *relay_spec;		/* "" = none: mail waits */
	char relay_host[RELAY_HOST_MAX];
	uint16_t relay_port;
	long retry_min, retry_max, max_age, poll, timeout, keep;

	/* state */
	uv_thread_t thread;
	int wake[2];			/* pipe: sender_stop() writes */
	atomic_int stop;
};

/* Start the thread. 0 or a CM_E* code. */
int sender_start(struct sender *s);
/* Ask the thread to stop (it finishes the SMTP transaction it is in) and
 * wait for it. */
void sender_stop(struct sender *s);

#endif
