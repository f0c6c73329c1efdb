/*
 * store-int.h: what the store's own .c files share (store.c defines it;
 * principals.c, deliver.c, grants.c, migrate.c and the IMAP engineer's
 * mailbox*.c / entries*.c / message-read*.c use it). Not for daemons:
 * they see only store.h and store-imap.h.
 *
 * A struct store_conn wraps one libpq connection. It is used by one
 * thread at a time. Every query goes through store_query()/store_exec(),
 * which:
 *   - (re)connects first when the connection is missing or found broken
 *     (PQstatus != CONNECTION_OK); when the server cannot be reached the
 *     call returns CM_EDBDOWN;
 *   - maps a failure to a CM_E* code (store_map_error()) and keeps the
 *     server's message in db->errmsg (store_errmsg()):
 *         23505 unique_violation               -> CM_EEXIST
 *         connection lost, SQLSTATE class 08,
 *         57P01..57P03 (shutdown, cannot connect now) -> CM_EDBDOWN
 *         anything else                         -> CM_EDB
 *     and marks the connection broken on CM_EDBDOWN so the next use
 *     resets it.
 *
 * SQL text is constant; values always go as parameters. Text parameters
 * are NUL-terminated strings (NULL = SQL NULL). For bytea use
 * store_query() with a length and format 1 (binary) for that parameter;
 * ask for binary results (binary_result = 1) to read bytea back without
 * decoding (then every column of the result is binary: cast integers to
 * text in SQL or read them with store_col_i64() only on text results).
 *
 * Transactions: store_begin(), then queries, then store_commit(); on any
 * error call store_rollback() (harmless when no transaction is open, and
 * on a broken connection). Use these rather than "BEGIN" by hand: inside
 * a transaction a lost connection makes every query fail with CM_EDBDOWN
 * until store_rollback(), instead of reconnecting and going on outside
 * the transaction. A connection handed back to the pool inside a
 * transaction is rolled back there, so a forgotten rollback cannot leak.
 */
#ifndef CAPMAIL_STORE_INT_H
#define CAPMAIL_STORE_INT_H

#include <stdint.h>
#include <libpq-fe.h>

#include "store.h"

struct store_conn {
	PGconn *pg;		/* NULL until connected */
	char *conninfo;		/* owned; used to reconnect */
	int broken;		/* reset before the next query */
	int in_tx;		/* between store_begin() and commit/rollback:
				 * a lost connection is then not silently
				 * replaced (the transaction is gone) */
	uint64_t last_used;	/* uv_hrtime() of the last use, for pings */
	char errmsg[256];	/* last database error, one line */
};

/* The connection, connecting/resetting first if needed; NULL when the
 * server cannot be reached (db->errmsg says why). Prefer store_query(). */
PGconn *store_pg(struct store_conn *db);
/* 0 when the connection is usable (after connecting or resetting it if
 * needed; one idle for over a second is pinged first), else CM_EDBDOWN
 * (also when it was lost inside a transaction: store_rollback() first). */
int store_ensure(struct store_conn *db);

/* Run one statement. n parameters: vals[i] (NULL = SQL NULL), lens[i]
 * (only read for binary parameters; lens may be NULL when none is
 * binary), fmts[i] (0 text, 1 binary; fmts may be NULL = all text).
 * On success returns 0 and, if res_r is not NULL, hands the result
 * (PGRES_TUPLES_OK or PGRES_COMMAND_OK) to the caller, who PQclear()s it.
 * On failure returns a CM_E* code (see above) and sets *res_r = NULL. */
int store_query(struct store_conn *db, const char *sql, int n,
    const char *const *vals, const int *lens, const int *fmts,
    int binary_result, PGresult **res_r);
/* Text parameters, text result. */
int store_exec(struct store_conn *db, const char *sql, int n,
    const char *const *vals, PGresult **res_r);
/* Text parameters; only the number of rows returned counts (SELECT 1 ...,
 * UPDATE/DELETE ... RETURNING): that number, or a negative error. */
int store_exec_rows(struct store_conn *db, const char *sql, int n,
    const char *const *vals);

int store_begin(struct store_conn *db);		/* BEGIN */
int store_commit(struct store_conn *db);	/* COMMIT; 0 only if it
						 * really committed */
void store_rollback(struct store_conn *db);	/* ROLLBACK, errors ignored */

/* Map a failed result (res may be NULL) to CM_EEXIST / CM_EDBDOWN /
 * CM_EDB, record the message in db->errmsg and mark the connection broken
 * on CM_EDBDOWN. */
int store_map_error(struct store_conn *db, const PGresult *res);
/* The last database error for messages ("" when none). */
const char *store_errmsg(const struct store_conn *db);

/* Result helpers (text results). store_col_i64: 0, or CM_EDB when the
 * value is NULL or not an integer. store_col_strdup: malloc'd copy ("" for
 * NULL), NULL when out of memory. */
int store_col_i64(const PGresult *res, int row, int col, int64_t *v_r);
char *store_col_strdup(const PGresult *res, int row, int col);

/* Format v as a decimal text parameter into out (STORE_I64_STRLEN
 * bytes); returns out. */
#define STORE_I64_STRLEN 24
const char *store_i64_str(char out[STORE_I64_STRLEN], int64_t v);

/* Schema migrations embedded at build time (store/sql-migrations.c,
 * generated by store/sql-embed.sh from store/sql/NNN-*.sql), ascending. */
struct store_migration {
	int version;
	const char *name;	/* "001-initial.sql" */
	const char *sql;	/* may hold several statements */
};
extern const struct store_migration store_migrations[];
extern const size_t store_nmigrations;

/* store_deliver()'s work inside a transaction the caller opened (and
 * commits or rolls back): for deliveries that go with other writes. */
int store_deliver_tx(struct store_conn *db, struct store_delivery *d);

/* Inside a transaction: create user's mailbox name (no parents) unless
 * it exists, under the user's mailbox lock (principals row FOR UPDATE) as
 * store_mailbox_create does. For mailboxes made on demand ("Held"). */
int store_mailbox_ensure_tx(struct store_conn *db, int64_t user,
    const char *name);

/* Timestamps: select them as extract(epoch FROM col)::bigint and read
 * them with store_col_i64(); pass them as to_timestamp($n::bigint) with
 * store_i64_str(). */

/* Inside a transaction: delete the messages msg_ids (bigint[] text) that
 * no grant or outbound item refers to, their segments, and the objects no
 * other message uses (deliver.c). */
int store_messages_collect_tx(struct store_conn *db, const char *msg_ids);

#endif
