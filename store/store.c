/*
 * store.c: connections, the connection pool and the async runner.
 *
 * A struct store holds a conninfo and up to max_conns libpq connections.
 * store_run() takes a free slot (an idle connection, or a new one made in
 * the worker thread) and runs work(db, arg) on libuv's thread pool; when
 * every slot is busy the request waits in a FIFO on the loop side, so no
 * pool thread ever blocks waiting for a connection. done(arg, rc) runs on
 * the loop thread after the connection is back in the pool. All
 * store_run() calls on one store must come from one loop thread (a
 * daemon has one loop); store_free() only after every done() has run.
 *
 * Before each use a connection that is missing or broken is (re)made; one
 * idle for more than STORE_PING_NS is pinged with an empty query first,
 * so a PostgreSQL restart costs no failed request. When the server
 * cannot be reached the work is not called and done() gets CM_EDBDOWN.
 *
 * The helpers declared in store-int.h (queries, transactions, error
 * mapping, result parsing) live here too.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <uv.h>

#include "store-int.h"

#define STORE_PING_NS (1000ull * 1000 * 1000)	/* 1 s */
#define STORE_CONNECT_TIMEOUT "10"		/* s, unless conninfo says */

struct store_req {
	uv_work_t work;
	struct store *st;
	uv_loop_t *loop;
	store_work_fn *fn;
	store_done_fn *done;
	void *arg;
	struct store_conn *db;
	int rc;
	struct store_req *next;		/* pending FIFO */
};

struct store {
	char *conninfo;
	int max_conns;
	uv_mutex_t lock;		/* idle[], nidle, nbusy */
	uv_cond_t freed;		/* a slot was given back */
	struct store_conn **idle;
	int nidle;
	int nbusy;			/* slots handed to requests */
	struct store_req *pend_head, *pend_tail;	/* loop thread only */
};

/* ---- one connection ---- */

static void notice_ignore(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

static void set_errmsg(struct store_conn *db, const char *msg)
{
	size_t i = 0;

	if (msg == NULL)
		msg = "";
	/* one line, printable */
	for (; msg[i] != '\0' && i + 1 < sizeof db->errmsg; i++) {
		unsigned char c = (unsigned char)msg[i];
		if (c == '\n' || c == '\r')
			break;
		db->errmsg[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	db->errmsg[i] = '\0';
}

static struct store_conn *conn_new(const char *conninfo)
{
	struct store_conn *db = calloc(1, sizeof *db);

	if (db == NULL)
		return NULL;
	db->conninfo = strdup(conninfo);
	if (db->conninfo == NULL) {
		free(db);
		return NULL;
	}
	return db;
}

static void conn_close(struct store_conn *db)
{
	if (db->pg != NULL)
		PQfinish(db->pg);
	db->pg = NULL;
}

static int conn_open(struct store_conn *db)
{
	/* Later keywords override earlier ones, and the expanded conninfo
	 * overrides the defaults placed before it. */
	const char *keys[] = { "connect_timeout", "fallback_application_name",
		"dbname", NULL };
	const char *vals[] = { STORE_CONNECT_TIMEOUT, "capmail",
		db->conninfo, NULL };

	conn_close(db);
	db->pg = PQconnectdbParams(keys, vals, 1);
	if (db->pg == NULL) {
		set_errmsg(db, "out of memory");
		return CM_EDBDOWN;
	}
	if (PQstatus(db->pg) != CONNECTION_OK) {
		set_errmsg(db, PQerrorMessage(db->pg));
		conn_close(db);
		return CM_EDBDOWN;
	}
	PQsetNoticeProcessor(db->pg, notice_ignore, NULL);
	db->broken = 0;
	db->last_used = uv_hrtime();
	return 0;
}

int store_ensure(struct store_conn *db)
{
	if (db->pg != NULL && !db->broken &&
	    PQstatus(db->pg) == CONNECTION_OK) {
		if (uv_hrtime() - db->last_used < STORE_PING_NS)
			return 0;
		PGresult *r = PQexec(db->pg, "");
		int ok = r != NULL && PQresultStatus(r) == PGRES_EMPTY_QUERY;
		PQclear(r);
		if (ok) {
			db->last_used = uv_hrtime();
			return 0;
		}
		db->broken = 1;
	}
	if (db->in_tx) {
		/* The transaction died with the connection: the caller must
		 * see that, not carry on outside a transaction. */
		if (db->pg != NULL)
			set_errmsg(db, "connection lost inside a transaction");
		return CM_EDBDOWN;
	}
	return conn_open(db);
}

PGconn *store_pg(struct store_conn *db)
{
	return store_ensure(db) == 0 ? db->pg : NULL;
}

struct store_conn *store_connect(const char *conninfo, char *err,
    size_t errsz)
{
	struct store_conn *db = conn_new(conninfo);

	if (db == NULL) {
		if (errsz > 0)
			snprintf(err, errsz, "out of memory");
		return NULL;
	}
	if (conn_open(db) != 0) {
		if (errsz > 0)
			snprintf(err, errsz, "%s", db->errmsg);
		store_disconnect(&db);
		return NULL;
	}
	return db;
}

void store_disconnect(struct store_conn **dbp)
{
	struct store_conn *db = *dbp;

	if (db == NULL)
		return;
	conn_close(db);
	free(db->conninfo);
	free(db);
	*dbp = NULL;
}

const char *store_errmsg(const struct store_conn *db)
{
	return db->errmsg;
}

/* ---- queries ---- */

int store_map_error(struct store_conn *db, const PGresult *res)
{
	const char *state = NULL;
	const char *msg = NULL;

	if (res != NULL) {
		state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		msg = PQresultErrorMessage(res);
	}
	if ((msg == NULL || *msg == '\0') && db->pg != NULL)
		msg = PQerrorMessage(db->pg);
	set_errmsg(db, msg != NULL && *msg != '\0' ? msg : "database error");

	if (db->pg == NULL || PQstatus(db->pg) != CONNECTION_OK ||
	    (state != NULL && (strncmp(state, "08", 2) == 0 ||
	    strcmp(state, "57P01") == 0 || strcmp(state, "57P02") == 0 ||
	    strcmp(state, "57P03") == 0))) {
		db->broken = 1;
		return CM_EDBDOWN;
	}
	if (state != NULL && strcmp(state, "23505") == 0)
		return CM_EEXIST;
	if (state != NULL && strcmp(state, "23514") == 0 && res != NULL) {
		/* CHECK constraints named *_limit are hard limits (e.g.
		 * mailbox_entries_flags_limit); others are plain errors */
		const char *con = PQresultErrorField(res,
		    PG_DIAG_CONSTRAINT_NAME);
		size_t n = con != NULL ? strlen(con) : 0;

		if (n > 6 && strcmp(con + n - 6, "_limit") == 0)
			return CM_ETOOBIG;
	}
	return CM_EDB;
}

int store_query(struct store_conn *db, const char *sql, int n,
    const char *const *vals, const int *lens, const int *fmts,
    int binary_result, PGresult **res_r)
{
	PGresult *res;
	int rc;

	if (res_r != NULL)
		*res_r = NULL;
	rc = store_ensure(db);
	if (rc != 0)
		return rc;
	res = PQexecParams(db->pg, sql, n, NULL, vals, lens, fmts,
	    binary_result ? 1 : 0);
	if (res == NULL)
		return store_map_error(db, NULL);
	switch (PQresultStatus(res)) {
	case PGRES_TUPLES_OK:
	case PGRES_COMMAND_OK:
		db->last_used = uv_hrtime();
		if (res_r != NULL)
			*res_r = res;
		else
			PQclear(res);
		return 0;
	default:
		rc = store_map_error(db, res);
		PQclear(res);
		return rc;
	}
}

int store_exec(struct store_conn *db, const char *sql, int n,
    const char *const *vals, PGresult **res_r)
{
	return store_query(db, sql, n, vals, NULL, NULL, 0, res_r);
}

int store_exec_rows(struct store_conn *db, const char *sql, int n,
    const char *const *vals)
{
	PGresult *res;
	int rc = store_query(db, sql, n, vals, NULL, NULL, 0, &res);

	if (rc < 0)
		return rc;
	rc = PQntuples(res);
	PQclear(res);
	return rc;
}

int store_begin(struct store_conn *db)
{
	int rc;

	db->in_tx = 0;
	rc = store_exec(db, "BEGIN", 0, NULL, NULL);
	if (rc == 0)
		db->in_tx = 1;
	return rc;
}

int store_commit(struct store_conn *db)
{
	PGresult *res = NULL;
	int rc = store_exec(db, "COMMIT", 0, NULL, &res);

	db->in_tx = 0;
	/* COMMIT of a failed transaction "succeeds" as ROLLBACK. */
	if (rc == 0 && strcmp(PQcmdStatus(res), "COMMIT") != 0) {
		set_errmsg(db, "transaction rolled back");
		rc = CM_EDB;
	}
	PQclear(res);
	return rc;
}

void store_rollback(struct store_conn *db)
{
	PGresult *res;

	db->in_tx = 0;
	if (db->pg == NULL || db->broken ||
	    PQstatus(db->pg) != CONNECTION_OK)
		return;
	if (PQtransactionStatus(db->pg) == PQTRANS_IDLE)
		return;
	res = PQexec(db->pg, "ROLLBACK");
	if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK)
		db->broken = 1;
	PQclear(res);
}

int store_col_i64(const PGresult *res, int row, int col, int64_t *v_r)
{
	const char *s;
	char *end;
	long long v;

	if (row >= PQntuples(res) || col >= PQnfields(res) ||
	    PQgetisnull(res, row, col))
		return CM_EDB;
	s = PQgetvalue(res, row, col);
	if (*s == '\0')
		return CM_EDB;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return CM_EDB;
	*v_r = (int64_t)v;
	return 0;
}

char *store_col_strdup(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return strdup("");
	return strdup(PQgetvalue(res, row, col));
}

const char *store_i64_str(char out[STORE_I64_STRLEN], int64_t v)
{
	snprintf(out, STORE_I64_STRLEN, "%" PRId64, v);
	return out;
}

void store_strv_free(char ***vp, size_t n)
{
	char **v = *vp;

	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
	*vp = NULL;
}

/* ---- pool ---- */

struct store *store_new(const char *conninfo, int max_conns)
{
	struct store *st = calloc(1, sizeof *st);

	if (st == NULL)
		return NULL;
	if (max_conns < 1)
		max_conns = 1;
	st->max_conns = max_conns;
	st->conninfo = strdup(conninfo);
	st->idle = calloc((size_t)max_conns, sizeof *st->idle);
	if (st->conninfo == NULL || st->idle == NULL ||
	    uv_mutex_init(&st->lock) != 0) {
		free(st->conninfo);
		free(st->idle);
		free(st);
		return NULL;
	}
	if (uv_cond_init(&st->freed) != 0) {
		uv_mutex_destroy(&st->lock);
		free(st->conninfo);
		free(st->idle);
		free(st);
		return NULL;
	}
	return st;
}

void store_free(struct store **stp)
{
	struct store *st = *stp;

	if (st == NULL)
		return;
	for (int i = 0; i < st->nidle; i++)
		store_disconnect(&st->idle[i]);
	uv_cond_destroy(&st->freed);
	uv_mutex_destroy(&st->lock);
	free(st->idle);
	free(st->conninfo);
	free(st);
	*stp = NULL;
}

/* Never hand a connection back inside a transaction. */
static void settle(struct store_conn *db)
{
	if (!db->broken && db->pg != NULL) {
		switch (PQtransactionStatus(db->pg)) {
		case PQTRANS_IDLE:
			break;
		case PQTRANS_INTRANS:
		case PQTRANS_INERROR:
			store_rollback(db);
			break;
		default:
			db->broken = 1;
			break;
		}
	}
	db->in_tx = 0;
}

static void work_cb(uv_work_t *w)
{
	struct store_req *r = w->data;

	if (r->db == NULL)
		r->db = conn_new(r->st->conninfo);
	if (r->db == NULL) {
		r->rc = CM_ENOMEM;
		return;
	}
	if (store_ensure(r->db) != 0) {
		r->rc = CM_EDBDOWN;
		return;
	}
	r->rc = r->fn(r->db, r->arg);
	settle(r->db);
}

static void release(struct store *st, struct store_conn *db)
{
	uv_mutex_lock(&st->lock);
	if (db != NULL) {
		if (st->nidle < st->max_conns)
			st->idle[st->nidle++] = db;
		else
			store_disconnect(&db);
	}
	st->nbusy--;
	uv_cond_signal(&st->freed);
	uv_mutex_unlock(&st->lock);
}

static void after_cb(uv_work_t *w, int status);

struct store_conn *store_conn_take(struct store *st)
{
	struct store_conn *db;

	uv_mutex_lock(&st->lock);
	while (st->nbusy >= st->max_conns)
		uv_cond_wait(&st->freed, &st->lock);
	st->nbusy++;
	db = st->nidle > 0 ? st->idle[--st->nidle] : NULL;
	uv_mutex_unlock(&st->lock);
	if (db == NULL && (db = conn_new(st->conninfo)) == NULL)
		release(st, NULL);
	return db;
}

void store_conn_give(struct store *st, struct store_conn *db)
{
	if (db != NULL)
		settle(db);
	release(st, db);
}

/* Take a slot for r if one is free: 1 taken, 0 all busy. */
static int take_slot(struct store *st, struct store_req *r)
{
	int ok = 0;

	uv_mutex_lock(&st->lock);
	if (st->nbusy < st->max_conns) {
		st->nbusy++;
		r->db = st->nidle > 0 ? st->idle[--st->nidle] : NULL;
		ok = 1;
	}
	uv_mutex_unlock(&st->lock);
	return ok;
}

static int start(struct store_req *r)
{
	r->work.data = r;
	if (uv_queue_work(r->loop, &r->work, work_cb, after_cb) != 0) {
		release(r->st, r->db);
		r->db = NULL;
		return CM_EIO;
	}
	return 0;
}

/* Start waiting requests while slots are free (loop thread). */
static void dispatch(struct store *st)
{
	while (st->pend_head != NULL) {
		struct store_req *r = st->pend_head;

		if (!take_slot(st, r))
			return;
		st->pend_head = r->next;
		if (st->pend_head == NULL)
			st->pend_tail = NULL;
		r->next = NULL;
		if (start(r) != 0) {
			/* store_run() already returned 0: report here. */
			r->done(r->arg, CM_EIO);
			free(r);
		}
	}
}

static void after_cb(uv_work_t *w, int status)
{
	struct store_req *r = w->data;
	struct store *st = r->st;
	int rc = status == 0 ? r->rc : CM_EIO;

	release(st, r->db);
	dispatch(st);
	r->done(r->arg, rc);
	free(r);
}

int store_run(struct store *st, uv_loop_t *loop, store_work_fn *work,
    store_done_fn *done, void *arg)
{
	struct store_req *r = calloc(1, sizeof *r);
	int rc;

	if (r == NULL)
		return CM_ENOMEM;
	r->st = st;
	r->loop = loop;
	r->fn = work;
	r->done = done;
	r->arg = arg;
	if (st->pend_head != NULL || !take_slot(st, r)) {
		if (st->pend_tail != NULL)
			st->pend_tail->next = r;
		else
			st->pend_head = r;
		st->pend_tail = r;
		return 0;
	}
	rc = start(r);
	if (rc != 0)
		free(r);
	return rc;
}
