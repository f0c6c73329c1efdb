/*
 * outbound.c: the outbound queue. See outbound.h; the tables are in
 * store/sql/006-outbound.sql.
 *
 * Claiming: one short transaction selects due items FOR UPDATE SKIP
 * LOCKED (so concurrent senders each get other items) and moves their
 * next_attempt forward by the lease; the SMTP transaction then runs
 * without any database lock held. A sender that dies leaves its items
 * due again when the lease ends: delivery is at least once, as SMTP's.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "outbound.h"
#include "store-int.h"

#define OUTBOUND_ERROR_MAX 500		/* bytes of last_error kept */

int store_outbound_address_ok(const char *addr)
{
	size_t n = strlen(addr);

	if (n == 0 || n > STORE_ADDRESS_MAX)
		return CM_EINVAL;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)addr[i];

		if (c <= 0x20 || c == 0x7f || c == '<' || c == '>')
			return CM_EINVAL;
	}
	return 0;
}

/* The queued rows as one text array parameter "{"a","b"}". */
static int text_array(const char *const *v, size_t n, struct buf *b)
{
	int rc = buf_addc(b, '{');

	for (size_t i = 0; i < n && rc == 0; i++) {
		rc = buf_addstr(b, i > 0 ? ",\"" : "\"");
		for (const char *p = v[i]; *p != '\0' && rc == 0; p++) {
			if (*p == '"' || *p == '\\')
				rc = buf_addc(b, '\\');
			if (rc == 0)
				rc = buf_addc(b, *p);
		}
		if (rc == 0)
			rc = buf_addc(b, '"');
	}
	if (rc == 0)
		rc = buf_addc(b, '}');
	return rc;
}

int store_outbound_enqueue(struct store_conn *db, int64_t message_id,
    const char *mail_from, int64_t owner, const char *const *rcpts,
    size_t nrcpts, int64_t *id_r)
{
	char mbuf[STORE_I64_STRLEN], obuf[STORE_I64_STRLEN];
	const char *v[4];
	struct buf arr;
	PGresult *res = NULL;
	int64_t id;
	int rc;

	if (!db->in_tx || nrcpts == 0 || rcpts == NULL || mail_from == NULL)
		return CM_EINVAL;
	if (*mail_from != '\0' && store_outbound_address_ok(mail_from) != 0)
		return CM_EINVAL;
	for (size_t i = 0; i < nrcpts; i++)
		if (rcpts[i] == NULL || store_outbound_address_ok(rcpts[i]) != 0)
			return CM_EINVAL;

	v[0] = store_i64_str(mbuf, message_id);
	v[1] = mail_from;
	v[2] = owner > 0 ? store_i64_str(obuf, owner) : NULL;
	rc = store_exec(db, "INSERT INTO outbound (message_id, mail_from, owner)"
	    " VALUES ($1::bigint, $2, $3::bigint) RETURNING id", 3, v, &res);
	if (rc == 0)
		rc = store_col_i64(res, 0, 0, &id);
	PQclear(res);
	if (rc != 0)
		return rc;

	buf_init(&arr, SIZE_MAX / 2);
	rc = text_array(rcpts, nrcpts, &arr);
	if (rc == 0) {
		v[0] = store_i64_str(mbuf, id);
		v[1] = arr.data;
		rc = store_exec(db, "INSERT INTO outbound_rcpts"
		    " (outbound_id, address)"
		    " SELECT $1::bigint, unnest($2::text[])", 2, v, NULL);
	}
	buf_free(&arr);
	if (rc == 0)
		rc = store_exec(db, "SELECT pg_notify('" STORE_OUTBOUND_NOTIFY
		    "', $1)", 1, v, NULL);
	if (rc == 0 && id_r != NULL)
		*id_r = id;
	return rc;
}

static void item_clear(struct store_outbound_item *it)
{
	free(it->mail_from);
	store_strv_free(&it->rcpts, it->nrcpts);
	free(it->rcpt_ids);
	memset(it, 0, sizeof *it);
}

void store_outbound_items_free(struct store_outbound_item **itp, size_t n)
{
	struct store_outbound_item *it = *itp;

	if (it == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		item_clear(&it[i]);
	free(it);
	*itp = NULL;
}

static int item_rcpts(struct store_conn *db, struct store_outbound_item *it)
{
	char ibuf[STORE_I64_STRLEN];
	const char *v[1];
	PGresult *res = NULL;
	int rc, n;

	v[0] = store_i64_str(ibuf, it->id);
	rc = store_exec(db, "SELECT id, address FROM outbound_rcpts"
	    " WHERE outbound_id = $1::bigint AND state = 'queued'"
	    " ORDER BY id", 1, v, &res);
	if (rc != 0)
		return rc;
	n = PQntuples(res);
	it->rcpt_ids = calloc((size_t)n + 1, sizeof *it->rcpt_ids);
	it->rcpts = calloc((size_t)n + 1, sizeof *it->rcpts);
	if (it->rcpt_ids == NULL || it->rcpts == NULL) {
		rc = CM_ENOMEM;
		goto out;
	}
	for (int i = 0; i < n; i++) {
		if (store_col_i64(res, i, 0, &it->rcpt_ids[i]) != 0) {
			rc = CM_EDB;
			goto out;
		}
		if ((it->rcpts[i] = store_col_strdup(res, i, 1)) == NULL) {
			rc = CM_ENOMEM;
			goto out;
		}
		it->nrcpts = (size_t)i + 1;
	}
out:
	PQclear(res);
	return rc;
}

int store_outbound_claim(struct store_conn *db, int lease_seconds,
    size_t max, struct store_outbound_item **items_r, size_t *n_r)
{
	char lbuf[STORE_I64_STRLEN], mbuf[STORE_I64_STRLEN];
	const char *v[2];
	struct store_outbound_item *items = NULL;
	PGresult *res = NULL;
	int rc, n = 0;
	size_t got = 0;

	*items_r = NULL;
	*n_r = 0;
	if (max == 0 || lease_seconds < 1)
		return CM_EINVAL;
	rc = store_begin(db);
	if (rc != 0)
		return rc;
	v[0] = store_i64_str(lbuf, lease_seconds);
	v[1] = store_i64_str(mbuf, (int64_t)max);
	rc = store_exec(db, "UPDATE outbound o"
	    " SET next_attempt = now() + make_interval(secs => $1::int)"
	    " FROM (SELECT id FROM outbound"
	    "   WHERE state = 'queued' AND next_attempt <= now()"
	    "   ORDER BY next_attempt, id LIMIT $2::bigint"
	    "   FOR UPDATE SKIP LOCKED) due"
	    " WHERE o.id = due.id"
	    " RETURNING o.id, o.message_id, coalesce(o.owner, 0), o.mail_from,"
	    " o.attempts, extract(epoch FROM o.created)::bigint",
	    2, v, &res);
	if (rc != 0)
		goto out;
	n = PQntuples(res);
	if (n > 0 && (items = calloc((size_t)n, sizeof *items)) == NULL) {
		rc = CM_ENOMEM;
		goto out;
	}
	for (int i = 0; i < n; i++) {
		struct store_outbound_item *it = &items[got];
		int64_t att, created;

		if (store_col_i64(res, i, 0, &it->id) != 0 ||
		    store_col_i64(res, i, 1, &it->message_id) != 0 ||
		    store_col_i64(res, i, 2, &it->owner) != 0 ||
		    store_col_i64(res, i, 4, &att) != 0 ||
		    store_col_i64(res, i, 5, &created) != 0) {
			rc = CM_EDB;
			goto out;
		}
		it->attempts = (int)att;
		it->created = (time_t)created;
		if ((it->mail_from = store_col_strdup(res, i, 3)) == NULL) {
			rc = CM_ENOMEM;
			goto out;
		}
		got++;
		if ((rc = item_rcpts(db, it)) != 0)
			goto out;
	}
	rc = store_commit(db);
out:
	PQclear(res);
	if (rc != 0) {
		store_rollback(db);
		store_outbound_items_free(&items, got);
		return rc;
	}
	*items_r = items;
	*n_r = got;
	return 0;
}

int store_outbound_message(struct store_conn *db, int64_t message_id,
    struct buf *out)
{
	char ibuf[STORE_I64_STRLEN];
	const char *v[1];
	PGresult *res = NULL;
	int rc, n;

	buf_reset(out);
	v[0] = store_i64_str(ibuf, message_id);
	rc = store_query(db, "SELECT o.data FROM message_segments s"
	    " JOIN objects o ON o.hash = s.object_hash"
	    " WHERE s.message_id = $1::bigint ORDER BY s.seq",
	    1, v, NULL, NULL, 1, &res);
	if (rc != 0)
		return rc;
	n = PQntuples(res);
	for (int i = 0; i < n && rc == 0; i++)
		rc = buf_add(out, PQgetvalue(res, i, 0),
		    (size_t)PQgetlength(res, i, 0));
	PQclear(res);
	if (rc == 0 && n == 0) {
		/* an empty message has no segment; a missing one neither */
		res = NULL;
		rc = store_exec(db, "SELECT 1 FROM messages WHERE id = $1::bigint",
		    1, v, &res);
		if (rc == 0 && PQntuples(res) != 1)
			rc = CM_ENOTFOUND;
		PQclear(res);
	}
	return rc;
}

/* One printable line of at most OUTBOUND_ERROR_MAX bytes (UTF-8 kept
 * only as far as it is ASCII: relays answer in ASCII). */
static void error_line(const char *in, char *out, size_t outsz)
{
	size_t j = 0;

	if (in == NULL)
		in = "";
	for (size_t i = 0; in[i] != '\0' && j + 1 < outsz; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c == '\r' || c == '\n') {
			if (j > 0 && out[j - 1] != ' ')
				out[j++] = ' ';
			continue;
		}
		out[j++] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
	}
	while (j > 0 && out[j - 1] == ' ')
		j--;
	out[j] = '\0';
}

int store_outbound_finish(struct store_conn *db, int64_t item_id,
    const struct store_outbound_result *res, size_t n, time_t next_attempt,
    struct store_delivery *bounce)
{
	static const char *const states[] = { "sent", "queued", "failed" };
	char ibuf[STORE_I64_STRLEN], rbuf[STORE_I64_STRLEN];
	char tbuf[STORE_I64_STRLEN];
	char err[OUTBOUND_ERROR_MAX + 1];
	const char *v[4];
	int rc;

	rc = store_begin(db);
	if (rc != 0)
		return rc;
	v[0] = store_i64_str(ibuf, item_id);
	for (size_t i = 0; i < n; i++) {
		if ((unsigned)res[i].outcome > STORE_OUTBOUND_FAILED) {
			rc = CM_EINVAL;
			goto out;
		}
		error_line(res[i].error, err, sizeof err);
		v[1] = store_i64_str(rbuf, res[i].rcpt_id);
		v[2] = states[res[i].outcome];
		v[3] = err;
		rc = store_exec_rows(db, "UPDATE outbound_rcpts SET state = $3,"
		    " attempts = attempts + 1, last_error = $4, updated = now()"
		    " WHERE id = $2::bigint AND outbound_id = $1::bigint"
		    " AND state = 'queued' RETURNING 1", 4, v);
		if (rc < 0)
			goto out;
		if (rc != 1) {
			rc = CM_ENOTFOUND;
			goto out;
		}
	}
	v[1] = store_i64_str(tbuf, (int64_t)next_attempt);
	rc = store_exec_rows(db, "UPDATE outbound SET attempts = attempts + 1,"
	    " next_attempt = to_timestamp($2::bigint),"
	    " state = CASE"
	    "  WHEN EXISTS (SELECT 1 FROM outbound_rcpts r WHERE"
	    "   r.outbound_id = outbound.id AND r.state = 'queued') THEN 'queued'"
	    "  WHEN EXISTS (SELECT 1 FROM outbound_rcpts r WHERE"
	    "   r.outbound_id = outbound.id AND r.state = 'failed') THEN 'failed'"
	    "  ELSE 'sent' END"
	    " WHERE id = $1::bigint RETURNING 1", 2, v);
	if (rc < 0)
		goto out;
	if (rc != 1) {
		rc = CM_ENOTFOUND;
		goto out;
	}
	rc = 0;
	if (bounce != NULL)
		rc = store_deliver_tx(db, bounce);
	if (rc == 0)
		rc = store_commit(db);
out:
	if (rc != 0)
		store_rollback(db);
	return rc;
}

int store_outbound_next_due(struct store_conn *db, long *secs_r)
{
	PGresult *res = NULL;
	int64_t v;
	int rc;

	/* NULL when nothing is queued (greatest() would skip the NULL) */
	rc = store_exec(db, "SELECT ceil(extract(epoch FROM"
	    " min(next_attempt) - now()))::bigint FROM outbound"
	    " WHERE state = 'queued'", 0, NULL, &res);
	if (rc != 0)
		return rc;
	if (PQgetisnull(res, 0, 0))
		*secs_r = -1;
	else if (store_col_i64(res, 0, 0, &v) == 0)
		*secs_r = v < 0 ? 0 : v > 86400 * 365 ? 86400 * 365 : (long)v;
	else
		rc = CM_EDB;
	PQclear(res);
	return rc;
}

int store_outbound_listen(struct store_conn *db)
{
	return store_exec(db, "LISTEN " STORE_OUTBOUND_NOTIFY, 0, NULL, NULL);
}

static int drain_notifies(PGconn *pg)
{
	PGnotify *nf;
	int got = 0;

	while ((nf = PQnotifies(pg)) != NULL) {
		got = 1;
		PQfreemem(nf);
	}
	return got;
}

int store_outbound_wait(struct store_conn *db, int wakefd, int timeout_ms)
{
	struct pollfd pfd[2];
	nfds_t nfds = 1;
	int sock, r;

	if (db->pg == NULL || db->broken ||
	    PQstatus(db->pg) != CONNECTION_OK)
		return CM_EDBDOWN;
	if (PQconsumeInput(db->pg) == 0)
		goto lost;
	if (drain_notifies(db->pg))
		return 1;
	if ((sock = PQsocket(db->pg)) < 0)
		goto lost;
	pfd[0].fd = sock;
	pfd[0].events = POLLIN;
	if (wakefd >= 0) {
		pfd[1].fd = wakefd;
		pfd[1].events = POLLIN;
		nfds = 2;
	}
	r = poll(pfd, nfds, timeout_ms);
	if (r < 0)
		return errno == EINTR ? 0 : CM_EIO;
	if (r == 0 || (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) == 0)
		return 0;
	if (PQconsumeInput(db->pg) == 0 || PQstatus(db->pg) != CONNECTION_OK)
		goto lost;
	db->last_used = uv_hrtime();
	return drain_notifies(db->pg);
lost:
	store_map_error(db, NULL);
	db->broken = 1;
	return CM_EDBDOWN;
}

/* ---- administration ---- */

static void info_clear(struct store_outbound_info *it)
{
	free(it->mail_from);
	free(it->owner);
	free(it->state);
	for (size_t i = 0; i < it->nrcpts; i++) {
		free(it->rcpts[i].address);
		free(it->rcpts[i].state);
		free(it->rcpts[i].last_error);
	}
	free(it->rcpts);
}

void store_outbound_list_free(struct store_outbound_info **ip, size_t n)
{
	struct store_outbound_info *it = *ip;

	if (it == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		info_clear(&it[i]);
	free(it);
	*ip = NULL;
}

int store_outbound_list(struct store_conn *db, int queued_only,
    struct store_outbound_info **items_r, size_t *n_r)
{
	const char *v[1] = { queued_only ? "t" : "f" };
	struct store_outbound_info *items = NULL;
	PGresult *res = NULL, *rres = NULL;
	size_t got = 0;
	int rc, n, nr, k = 0;

	*items_r = NULL;
	*n_r = 0;
	/* one snapshot for both queries */
	rc = store_begin(db);
	if (rc == 0)
		rc = store_exec(db, "SET TRANSACTION ISOLATION LEVEL"
		    " REPEATABLE READ", 0, NULL, NULL);
	if (rc == 0)
		rc = store_exec(db, "SELECT o.id, o.message_id,"
		    " o.mail_from, coalesce(p.address, ''), o.state, o.attempts,"
		    " extract(epoch FROM o.created)::bigint,"
		    " extract(epoch FROM o.next_attempt)::bigint, m.size"
		    " FROM outbound o JOIN messages m ON m.id = o.message_id"
		    " LEFT JOIN principals p ON p.id = o.owner"
		    " WHERE NOT $1::boolean OR o.state = 'queued'"
		    " ORDER BY o.id", 1, v, &res);
	if (rc == 0)
		rc = store_exec(db, "SELECT r.outbound_id, r.address, r.state,"
		    " r.attempts, r.last_error FROM outbound_rcpts r"
		    " JOIN outbound o ON o.id = r.outbound_id"
		    " WHERE NOT $1::boolean OR o.state = 'queued'"
		    " ORDER BY r.outbound_id, r.id", 1, v, &rres);
	if (rc == 0)
		rc = store_commit(db);
	if (rc != 0)
		goto out;
	n = PQntuples(res);
	nr = PQntuples(rres);
	if (n > 0 && (items = calloc((size_t)n, sizeof *items)) == NULL) {
		rc = CM_ENOMEM;
		goto out;
	}
	for (int i = 0; i < n; i++) {
		struct store_outbound_info *it = &items[i];
		int64_t att, cr, na, size, oid;
		int first;

		got = (size_t)i + 1;
		if (store_col_i64(res, i, 0, &it->id) != 0 ||
		    store_col_i64(res, i, 1, &it->message_id) != 0 ||
		    store_col_i64(res, i, 5, &att) != 0 ||
		    store_col_i64(res, i, 6, &cr) != 0 ||
		    store_col_i64(res, i, 7, &na) != 0 ||
		    store_col_i64(res, i, 8, &size) != 0) {
			rc = CM_EDB;
			goto out;
		}
		it->attempts = (int)att;
		it->created = (time_t)cr;
		it->next_attempt = (time_t)na;
		it->size = (size_t)size;
		it->mail_from = store_col_strdup(res, i, 2);
		it->owner = store_col_strdup(res, i, 3);
		it->state = store_col_strdup(res, i, 4);
		if (it->mail_from == NULL || it->owner == NULL ||
		    it->state == NULL) {
			rc = CM_ENOMEM;
			goto out;
		}
		/* both ordered by item id: walk the recipients along */
		while (k < nr && store_col_i64(rres, k, 0, &oid) == 0 &&
		    oid < it->id)
			k++;
		first = k;
		while (k < nr && store_col_i64(rres, k, 0, &oid) == 0 &&
		    oid == it->id)
			k++;
		if (k == first)
			continue;
		it->rcpts = calloc((size_t)(k - first), sizeof *it->rcpts);
		if (it->rcpts == NULL) {
			rc = CM_ENOMEM;
			goto out;
		}
		for (int j = first; j < k; j++) {
			struct store_outbound_rcpt_info *r =
			    &it->rcpts[it->nrcpts++];

			if (store_col_i64(rres, j, 3, &att) != 0) {
				rc = CM_EDB;
				goto out;
			}
			r->attempts = (int)att;
			r->address = store_col_strdup(rres, j, 1);
			r->state = store_col_strdup(rres, j, 2);
			r->last_error = store_col_strdup(rres, j, 4);
			if (r->address == NULL || r->state == NULL ||
			    r->last_error == NULL) {
				rc = CM_ENOMEM;
				goto out;
			}
		}
	}
out:
	PQclear(res);
	PQclear(rres);
	if (rc != 0) {
		store_rollback(db);
		store_outbound_list_free(&items, got);
		return rc;
	}
	*items_r = items;
	*n_r = got;
	return 0;
}

int store_outbound_flush(struct store_conn *db, int64_t id)
{
	char ibuf[STORE_I64_STRLEN];
	const char *v[1];
	int rc, n;

	v[0] = id > 0 ? store_i64_str(ibuf, id) : NULL;
	rc = store_begin(db);
	if (rc != 0)
		return rc;
	n = store_exec_rows(db, "UPDATE outbound SET next_attempt = now()"
	    " WHERE state = 'queued' AND ($1::bigint IS NULL OR id = $1::bigint)"
	    " RETURNING 1", 1, v);
	if (n < 0) {
		rc = n;
		goto out;
	}
	rc = store_exec(db, "SELECT pg_notify('" STORE_OUTBOUND_NOTIFY
	    "', 'flush')", 0, NULL, NULL);
	if (rc == 0)
		rc = store_commit(db);
out:
	if (rc != 0) {
		store_rollback(db);
		return rc;
	}
	return n;
}

int store_outbound_delete(struct store_conn *db, int64_t id)
{
	char ibuf[STORE_I64_STRLEN], one[STORE_I64_STRLEN + 2];
	const char *v[1];
	PGresult *res = NULL;
	int rc;

	v[0] = store_i64_str(ibuf, id);
	rc = store_begin(db);
	if (rc != 0)
		return rc;
	rc = store_exec(db, "DELETE FROM outbound WHERE id = $1::bigint"
	    " RETURNING message_id::text", 1, v, &res);
	if (rc != 0)
		goto out;
	if (PQntuples(res) != 1) {
		rc = CM_ENOTFOUND;
		goto out;
	}
	/* The message goes too when it was only queued (no grant, no other
	 * item), and its objects no other message uses; a concurrent grant
	 * to it waits for our row lock. */
	snprintf(one, sizeof one, "{%s}", PQgetvalue(res, 0, 0));
	rc = store_messages_collect_tx(db, one);
	if (rc == 0)
		rc = store_commit(db);
out:
	PQclear(res);
	if (rc != 0)
		store_rollback(db);
	return rc;
}

int store_outbound_purge(struct store_conn *db, long keep_seconds)
{
	char kbuf[STORE_I64_STRLEN];
	const char *v[1];
	PGresult *res = NULL;
	struct buf ids;
	int rc, n = 0;

	buf_init(&ids, SIZE_MAX / 2);
	v[0] = store_i64_str(kbuf, keep_seconds);
	rc = store_begin(db);
	if (rc != 0)
		goto out;
	rc = store_exec(db, "DELETE FROM outbound o WHERE o.state <> 'queued'"
	    " AND coalesce((SELECT max(r.updated) FROM outbound_rcpts r"
	    "  WHERE r.outbound_id = o.id), o.created)"
	    "  < now() - make_interval(secs => $1::bigint)"
	    " RETURNING o.message_id", 1, v, &res);
	if (rc != 0)
		goto out;
	n = PQntuples(res);
	rc = buf_addc(&ids, '{');
	for (int i = 0; i < n && rc == 0; i++)
		rc = buf_printf(&ids, "%s%s", i > 0 ? "," : "",
		    PQgetvalue(res, i, 0));
	if (rc == 0)
		rc = buf_addc(&ids, '}');
	/* a second statement: it sees the items just deleted as gone; the
	 * messages' objects go with them (a challenge's link too) */
	if (rc == 0 && n > 0)
		rc = store_messages_collect_tx(db, ids.data);
	if (rc == 0)
		rc = store_commit(db);
out:
	PQclear(res);
	buf_free(&ids);
	if (rc != 0) {
		store_rollback(db);
		return rc;
	}
	return n;
}

long store_outbound_delay(int attempts, long retry_min, long retry_max)
{
	static const long factor[] = { 1, 5, 15, 30, 60, 120, 240 };
	const size_t nf = sizeof factor / sizeof factor[0];
	size_t i;
	long d;

	if (retry_min < 1)
		retry_min = 1;
	if (retry_max < retry_min)
		retry_max = retry_min;
	i = attempts < 1 ? 0 : (size_t)attempts - 1;
	if (i >= nf)
		i = nf - 1;
	if (factor[i] > retry_max / retry_min)
		return retry_max;
	d = factor[i] * retry_min;
	return d < retry_max ? d : retry_max;
}
