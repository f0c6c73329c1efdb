/*
 * libcapstore: the only code in capmail that speaks SQL.
 *
 * Two layers:
 *
 *  1. Request-shaped synchronous operations on a struct store_conn (one
 *     libpq connection): store_deliver(), store_user_lookup(), ... Each
 *     takes its inputs and fills its outputs (names ending in _r); each is
 *     one transaction. They are called from capmailctl directly, and by
 *     the daemons only through layer 2.
 *
 *  2. store_run(): runs a work function on libuv's thread pool with a
 *     connection taken from the store's pool, then calls done() on the
 *     loop thread. The event loop never waits on the database. Because
 *     every operation is a request in and a result out, the pool can later
 *     move behind a process boundary (a store daemon holding the
 *     credentials) without changing callers.
 *
 * Errors: 0 on success, CM_ENOTFOUND, CM_EEXIST, CM_EAUTH, CM_EINVAL,
 * CM_EDBDOWN (the server cannot be reached: callers answer "try again
 * later", e.g. SMTP 451 4.3.0), CM_EDB (any other database failure).
 * A connection found broken is reset on next use, so the daemons recover
 * by themselves once PostgreSQL is back.
 *
 * Strings returned in _r structs are malloc'd and owned by the caller; each
 * result type has a _free function that takes a pointer to the pointer and
 * clears it.
 */
#ifndef CAPMAIL_STORE_H
#define CAPMAIL_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <uv.h>

#include "buf.h"
#include "errors.h"

struct store;
struct store_conn;

/* ---- pool and async runner (store.c) ---- */

/* conninfo is a libpq connection string. No connection is made yet. */
struct store *store_new(const char *conninfo, int max_conns);
void store_free(struct store **stp);

typedef int store_work_fn(struct store_conn *db, void *arg);
typedef void store_done_fn(void *arg, int rc);
/* Run work(db, arg) on a thread-pool thread, then done(arg, rc) on the
 * loop thread, rc being work's return (or CM_EDBDOWN when no connection
 * could be made). work must touch only arg and db. */
int store_run(struct store *st, uv_loop_t *loop, store_work_fn *work,
    store_done_fn *done, void *arg);

/* For threads of their own, with no loop (capmail-verify's handlers):
 * take one of the store's connections, waiting while all max_conns are
 * busy, and give it back when done (then a transaction left open is
 * rolled back, as after store_run's work). It connects on first use and
 * again after a failure; a store call on it then fails CM_EDBDOWN when
 * the database cannot be reached. NULL only when out of memory. */
struct store_conn *store_conn_take(struct store *st);
void store_conn_give(struct store *st, struct store_conn *db);

/* Synchronous use (capmailctl, tests): connect now. */
struct store_conn *store_connect(const char *conninfo, char *err,
    size_t errsz);
void store_disconnect(struct store_conn **dbp);

/* ---- schema (migrate.c) ---- */
/* Apply every migration newer than the database's version, each in its
 * own transaction. *applied_r counts those applied. */
int store_migrate(struct store_conn *db, int *applied_r);
int store_schema_version(struct store_conn *db, int *version_r);

/* ---- domains and principals (principals.c) ---- */
#define STORE_ADDRESS_MAX 254	/* bytes */
#define STORE_PASSWORD_MAX 1024	/* bytes */
/* Check that in looks like an address (one '@', non-empty local part and
 * domain, no spaces, control bytes or <>,"\\) and copy it lower-cased
 * (ASCII) into out. 0 or CM_EINVAL. */
int store_address_normalize(const char *in, char *out, size_t outsz);
int store_domain_add(struct store_conn *db, const char *name);
/* 1 if name (lower case) is a local domain, 0 if not, <0 on error. */
int store_domain_is_local(struct store_conn *db, const char *name);
/* Fill *names_r with a malloc'd array of malloc'd names. */
int store_domain_list(struct store_conn *db, char ***names_r, size_t *n_r);
/* Create a user (domain must exist) with an INBOX, Sent, Drafts, Trash
 * and Junk (special-use flags set). password is hashed with yescrypt. */
int store_user_add(struct store_conn *db, const char *address,
    const char *password);
int store_user_passwd(struct store_conn *db, const char *address,
    const char *password);
int store_user_list(struct store_conn *db, char ***addresses_r, size_t *n_r);
/* Principal id of a local user (address compared case-insensitively). */
int store_user_lookup(struct store_conn *db, const char *address,
    int64_t *id_r);
/* Check a password (yescrypt, $6$, $2y$ ... via crypt_r). CM_EAUTH on
 * a wrong password or unknown user; slow by design: run it off the loop. */
int store_login(struct store_conn *db, const char *address,
    const char *password, int64_t *id_r);
void store_strv_free(char ***vp, size_t n);

/* Imported password hashes (Dovecot passwd-file style): in is
 * "{SHA512-CRYPT}$6$...", "{SHA256-CRYPT}$5$...", "{BLF-CRYPT}$2y$...",
 * "{CRYPT}..." or a bare crypt(3) hash. Checks that the hash fits its
 * prefix and that crypt_r() can verify it, and copies it without the
 * prefix into out. CM_EINVAL with *why_r saying why (other schemes such
 * as {PLAIN} or {MD5} are refused). Pure: no database. */
#define STORE_HASH_MAX 512
int store_hash_import(const char *in, char *out, size_t outsz,
    const char **why_r);
/* Create a user like store_user_add(), with an imported hash. */
int store_user_add_hash(struct store_conn *db, const char *address,
    const char *hash);
/* Replace an existing user's hash with an imported one (CM_ENOTFOUND). */
int store_user_set_hash(struct store_conn *db, const char *address,
    const char *hash);

/* ---- ingest (deliver.c) ---- */
struct store_delivery {
	const char *data;	/* the whole message, trace headers included */
	size_t len;
	const char *mail_from;	/* envelope sender; "" for <> */
	const char *grantor_auth; /* "none", "spf", "dkim", "local-auth" */
	const char *auth_results; /* optional: "spf=pass dkim=none dmarc=fail"
				   * (lib/authres.h), on every grant */
	const int64_t *rcpts;	/* grantee principal ids, no duplicates */
	size_t nrcpts;
	const char *mailbox;	/* mailbox the grants land in: "INBOX" */
	const char *grant_state; /* "active" or "held" */
	/* optional, nrcpts entries: 1 = that recipient's grant is held
	 * (whatever grant_state says). A held grant gets no mailbox entry
	 * and no uid (uids_r 0) until it is released (store/senders.h). */
	const unsigned char *rcpt_held;
	time_t internaldate;	/* 0: now */
	const char *flags;	/* IMAP flags for the entries, "" or
				 * "\\Seen \\Draft" (APPEND) */
	int64_t message_id_r;	/* out */
	uint32_t *uids_r;	/* out, optional: nrcpts entries */
	uint32_t uidvalidity_r;	/* out: of the (last) mailbox */
	/* External recipients, queued for capmail-outbound in the same
	 * transaction (store/outbound.h); nrcpts may be 0 when there are
	 * some. outbound_owner: the local user told of a permanent failure
	 * (0 = none, e.g. for a null sender). */
	const char *const *outbound_rcpts;
	size_t noutbound;
	int64_t outbound_owner;
	int64_t outbound_id_r;	/* out: the queue item, 0 when none */
	/* store/held.c only: nonzero, the (one) grant is the summary of
	 * this held grant (grants.summary_of) */
	int64_t summary_of;
};
/* Store the message once (segments as content-addressed objects, MIME
 * leaf bodies of at least store_segment_min bytes as their own objects),
 * its summary, one grant plus one mailbox entry per recipient, and the
 * outbound queue item for outbound_rcpts, all in one transaction. Returns
 * only after COMMIT succeeded. */
int store_deliver(struct store_conn *db, struct store_delivery *d);
extern size_t store_segment_min;	/* default 2048 */

/* ---- grants (grants.c) ---- */
struct store_grant_info {
	int64_t id;
	int64_t message_id;
	char *grantor_address;
	char *grantor_auth;
	char *auth_results;	/* NULL when none was recorded */
	char *subject;
	char *state;
	time_t created;
	size_t size;
};
int store_grant_list(struct store_conn *db, const char *address,
    struct store_grant_info **grants_r, size_t *n_r);
void store_grant_list_free(struct store_grant_info **gp, size_t n);

/* ---- mailboxes and entries, for IMAP (mailbox.c, entries.c) ---- */
/* Defined in store/store-imap.h, owned by the IMAP work. */

#endif
