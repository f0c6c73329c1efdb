/*
 * The outbound queue (store/outbound.c, schema
 * store/sql/006-outbound.sql):
 * mail that capmail itself sends to other hosts (bounces, challenges,
 * notices, external recipients of authenticated submission), delivered by
 * capmail-outbound to the configured relay host.
 *
 * An item is a stored message (referred to by id: its bytes are never
 * copied), an envelope sender ("" = the null sender <>), an owner (the
 * local user told of a permanent failure by a bounce in INBOX; 0 = none)
 * and one row per recipient with its own state (queued, sent, failed),
 * attempt count and last error, so that after a partial failure only the
 * recipients still queued are tried again. The item has a state too
 * (queued while any recipient is; then sent when all were sent, else
 * failed), its attempt count and next_attempt.
 *
 * Enqueueing, for a caller that stores a message:
 *   - through store_deliver(): set struct store_delivery's outbound_rcpts
 *     / noutbound / outbound_owner; the message is stored, granted to the
 *     local recipients (nrcpts may then be 0) and queued for the others in
 *     the one transaction of the delivery. This is what submission uses.
 *   - store_outbound_enqueue(): inside a transaction the store already has
 *     open on db (store code only: store_begin() is in store-int.h).
 * Both send pg_notify('capmail_outbound', id) (delivered at COMMIT), which
 * wakes capmail-outbound.
 *
 * The sender: store_outbound_claim() takes due items (SELECT ... FOR
 * UPDATE SKIP LOCKED, in a short transaction) and moves their next_attempt
 * forward by a lease, so two senders never take the same item and an item
 * whose sender died becomes due again when the lease ends.
 * store_outbound_message() reads the message's bytes; after the SMTP
 * transaction store_outbound_finish() records each recipient's outcome,
 * the item's next attempt, and delivers a bounce (when the caller made
 * one) in the same transaction.
 */
#ifndef CAPMAIL_STORE_OUTBOUND_H
#define CAPMAIL_STORE_OUTBOUND_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "buf.h"
#include "store.h"

#define STORE_OUTBOUND_NOTIFY "capmail_outbound"	/* NOTIFY channel */

/* The connection's last database error, one line, for logs (declared in
 * store-int.h for the store itself). */
const char *store_errmsg(const struct store_conn *db);

/* Check an envelope address for the queue: 1..STORE_ADDRESS_MAX bytes,
 * printable ASCII or UTF-8, no space, no control byte, no <>. 0 or
 * CM_EINVAL. (mail_from may also be "".) */
int store_outbound_address_ok(const char *addr);

/* Queue message_id for rcpts (nrcpts >= 1, no duplicates) with envelope
 * sender mail_from ("" = <>) and bounce owner (principal id, 0 = none).
 * Must run inside a transaction open on db (CM_EINVAL otherwise); does not
 * commit. *id_r (optional) gets the item's id. */
int store_outbound_enqueue(struct store_conn *db, int64_t message_id,
    const char *mail_from, int64_t owner, const char *const *rcpts,
    size_t nrcpts, int64_t *id_r);

/* A claimed item. rcpt_ids/rcpts hold only its recipients still queued. */
struct store_outbound_item {
	int64_t id;
	int64_t message_id;
	int64_t owner;		/* 0: none */
	char *mail_from;	/* "" = <> */
	int attempts;		/* delivery attempts before this one */
	time_t created;
	size_t nrcpts;
	int64_t *rcpt_ids;
	char **rcpts;
};
/* Claim up to max due items (state queued, next_attempt <= now), oldest
 * due first, moving their next_attempt to now + lease_seconds. *items_r
 * is malloc'd (NULL when none); free with store_outbound_items_free. */
int store_outbound_claim(struct store_conn *db, int lease_seconds,
    size_t max, struct store_outbound_item **items_r, size_t *n_r);
void store_outbound_items_free(struct store_outbound_item **itp, size_t n);

/* The message's bytes (its segments in order) into out (cleared first). */
int store_outbound_message(struct store_conn *db, int64_t message_id,
    struct buf *out);

enum store_outbound_outcome {
	STORE_OUTBOUND_SENT,	/* accepted by the relay */
	STORE_OUTBOUND_RETRY,	/* temporary failure: try again */
	STORE_OUTBOUND_FAILED	/* permanent failure */
};
struct store_outbound_result {
	int64_t rcpt_id;
	enum store_outbound_outcome outcome;
	const char *error;	/* the relay's reply or why; NULL or "" */
};
/* One transaction: each recipient's outcome (its attempts + 1, last_error),
 * the item's attempts + 1 and next_attempt (used while any recipient stays
 * queued), the item's state, and, when bounce is not NULL, the delivery of
 * the bounce (store_deliver's work without its own transaction; its
 * message_id_r is filled). */
int store_outbound_finish(struct store_conn *db, int64_t item_id,
    const struct store_outbound_result *res, size_t n, time_t next_attempt,
    struct store_delivery *bounce);

/* Seconds until the next queued item is due (0 when one is due now) in
 * *secs_r, or -1 when nothing is queued. */
int store_outbound_next_due(struct store_conn *db, long *secs_r);

/* LISTEN on STORE_OUTBOUND_NOTIFY (again after a lost connection). */
int store_outbound_listen(struct store_conn *db);
/* Wait at most timeout_ms for a notification on db or for wakefd (>= 0)
 * to become readable (a daemon's stop). 1 when a notification came (all
 * pending ones are consumed), 0 on timeout or wakefd, CM_EDBDOWN when the
 * connection was lost (store_outbound_listen() again). Blocks: call it
 * from a worker thread, never from an event loop. */
int store_outbound_wait(struct store_conn *db, int wakefd, int timeout_ms);

/* ---- administration (capmailctl queue) ---- */
struct store_outbound_rcpt_info {
	char *address;
	char *state;
	int attempts;
	char *last_error;
};
struct store_outbound_info {
	int64_t id;
	int64_t message_id;
	char *mail_from;
	char *owner;		/* address, "" when none */
	char *state;
	int attempts;
	time_t created;
	time_t next_attempt;
	size_t size;
	size_t nrcpts;
	struct store_outbound_rcpt_info *rcpts;
};
/* Items, oldest first; all of them, or only those still queued. */
int store_outbound_list(struct store_conn *db, int queued_only,
    struct store_outbound_info **items_r, size_t *n_r);
void store_outbound_list_free(struct store_outbound_info **ip, size_t n);
/* Make every queued item (id 0) or one item due now, and notify the
 * sender. Returns the number of items made due, or a negative error. */
int store_outbound_flush(struct store_conn *db, int64_t id);
/* Delete an item (any state) and, when nothing else refers to it, its
 * message. 0, CM_ENOTFOUND or an error. */
int store_outbound_delete(struct store_conn *db, int64_t id);

/* Delete items finished (sent or failed) more than keep_seconds ago, and
 * their messages when nothing else refers to them. Returns the number of
 * items deleted, or a negative error. */
int store_outbound_purge(struct store_conn *db, long keep_seconds);

/* Retry schedule: the delay before attempt number attempts + 1, after
 * `attempts` failed ones (>= 1): retry_min times 1, 5, 15, 30, 60, 120,
 * 240 ..., at most retry_max seconds. */
long store_outbound_delay(int attempts, long retry_min, long retry_max);

#endif
