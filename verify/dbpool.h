/*
 * dbpool: a small set of blocking store connections for capmail-verify's
 * handler threads (verify/dbpool.c). capmail-verify has no libuv loop:
 * libmicrohttpd's worker threads run the handlers, and a handler that
 * needs the database takes a connection here, makes its synchronous
 * store_* calls and gives it back. The set has as many connections as
 * there are worker threads, so a taker waits only in the short moment a
 * connection is handed over. Connections are made on first use and
 * again after a failure (store.c resets broken ones by itself).
 */
#ifndef CAPMAIL_VERIFY_DBPOOL_H
#define CAPMAIL_VERIFY_DBPOOL_H

#include "store.h"

struct dbpool;

struct dbpool *dbpool_new(const char *conninfo, int n);
void dbpool_free(struct dbpool **pp);
/* A connection (waiting for a free one), or NULL when the database
 * cannot be reached (err says why). Give it back with dbpool_put(),
 * also when NULL. */
struct store_conn *dbpool_get(struct dbpool *p, char *err, size_t errsz);
void dbpool_put(struct dbpool *p, struct store_conn *db);

#endif
