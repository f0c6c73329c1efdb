/*
 * entries.c: the messages of a mailbox as IMAP sees them (mailbox_entries
 * through active grants), their flags, EXPUNGE and COPY (see
 * store-imap.h).
 *
 * uid lists go to SQL as one bigint[] parameter ("{1,2,3}"), flag lists as
 * one space-separated text parameter split by string_to_array(). Every
 * statement joins the entry's grant (state 'active', grantee = user) and
 * the mailbox's owner, so nothing here reaches another user's mail or a
 * revoked grant. Each change bumps the mailbox's highestmodseq and stamps
 * the changed entries with it, and notifies the mailbox (notify.h) in the
 * same statement, so IDLE sessions of other clients look again.
 */
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include <openssl/rand.h>

#include "held.h"
#include "notify.h"
#include "store-int.h"
#include "store-imap.h"

int
store_uid_array_param(const uint32_t *uids, size_t n, struct buf *b)
{
	int rc = buf_addc(b, '{');

	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = buf_printf(b, i ? ",%u" : "%u", uids[i]);
	if (rc == 0)
		rc = buf_addc(b, '}');
	return rc;
}

void
store_entries_free(struct store_entry **ep, size_t n)
{
	if (*ep == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free((*ep)[i].flags);
	free(*ep);
	*ep = NULL;
}

/* Rows of (uid, flags text) into an entry array. */
static int
entries_from(const PGresult *res, struct store_entry **e_r, size_t *n_r)
{
	int n = PQntuples(res);

	*e_r = NULL;
	*n_r = 0;
	if (n == 0)
		return 0;
	if ((*e_r = calloc((size_t)n, sizeof(**e_r))) == NULL)
		return CM_ENOMEM;
	for (int i = 0; i < n; i++) {
		int64_t v = 0;
		store_col_i64(res, i, 0, &v);
		(*e_r)[i].uid = (uint32_t)v;
		if (((*e_r)[i].flags = store_col_strdup(res, i, 1)) == NULL) {
			store_entries_free(e_r, (size_t)i);
			return CM_ENOMEM;
		}
	}
	*n_r = (size_t)n;
	return 0;
}

int
store_entries_list(struct store_conn *db, int64_t user, int64_t mailbox_id,
    struct store_entry **e_r, size_t *n_r, uint32_t *uidnext_r)
{
	char u[STORE_I64_STRLEN], m[STORE_I64_STRLEN];
	const char *p[2] = { store_i64_str(u, user),
	    store_i64_str(m, mailbox_id) };
	PGresult *res;
	int64_t v;
	int rc;

	*e_r = NULL;
	*n_r = 0;
	rc = store_exec(db, "SELECT uidnext FROM mailboxes"
	    " WHERE id = $2::bigint AND owner = $1::bigint", 2, p, &res);
	if (rc < 0)
		return rc;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return CM_ENOTFOUND;
	}
	store_col_i64(res, 0, 0, &v);
	*uidnext_r = (uint32_t)v;
	PQclear(res);
	rc = store_exec(db, "SELECT e.uid, array_to_string(e.flags, ' ')"
	    " FROM mailbox_entries e JOIN grants g ON g.id = e.grant_id"
	    " WHERE e.mailbox_id = $2::bigint AND g.state = 'active'"
	    " AND g.grantee = $1::bigint ORDER BY e.uid", 2, p, &res);
	if (rc < 0)
		return rc;
	rc = entries_from(res, e_r, n_r);
	PQclear(res);
	return rc;
}

int
store_entries_flags(struct store_conn *db, int64_t user, int64_t mailbox_id,
    const uint32_t *uids, size_t nuids, enum store_flags_mode mode,
    const char *flags, struct store_entry **e_r, size_t *n_r)
{
	static const char *const sql[] = {
		[STORE_FLAGS_SET] = "string_to_array($4, ' ')",
		[STORE_FLAGS_ADD] = "e.flags || ARRAY(SELECT f FROM"
		    " unnest(string_to_array($4, ' ')) f"
		    " WHERE NOT f = ANY(e.flags))",
		[STORE_FLAGS_REMOVE] = "ARRAY(SELECT f FROM unnest(e.flags)"
		    " WITH ORDINALITY AS t(f, o)"
		    " WHERE NOT f = ANY(string_to_array($4, ' ')) ORDER BY o)",
	};
	char u[STORE_I64_STRLEN], m[STORE_I64_STRLEN];
	struct buf q, arr;
	PGresult *res;
	int rc;

	*e_r = NULL;
	*n_r = 0;
	buf_init(&q, 4096);
	buf_init(&arr, STORE_UID_ARRAY_MAX);
	rc = store_uid_array_param(uids, nuids, &arr);
	/* The SQL text is built from constant pieces only (the mode's
	 * expression); the values are parameters. */
	if (rc == 0)
		rc = buf_printf(&q, "WITH m AS (UPDATE mailboxes"
		    " SET highestmodseq = highestmodseq + 1"
		    " WHERE id = $2::bigint AND owner = $1::bigint"
		    " RETURNING id, highestmodseq,"
		    " pg_notify('" STORE_MAILBOX_NOTIFY "', id::text))"
		    " UPDATE mailbox_entries e SET flags = %s,"
		    " modseq = m.highestmodseq FROM m, grants g"
		    " WHERE e.mailbox_id = m.id AND e.uid = ANY($3::bigint[])"
		    " AND g.id = e.grant_id AND g.state = 'active'"
		    " AND g.grantee = $1::bigint"
		    " RETURNING e.uid, array_to_string(e.flags, ' ')",
		    sql[mode]);
	if (rc == 0) {
		const char *p[4] = { store_i64_str(u, user),
		    store_i64_str(m, mailbox_id), arr.data, flags };
		rc = store_exec(db, q.data, 4, p, &res);
		if (rc == 0) {
			rc = entries_from(res, e_r, n_r);
			PQclear(res);
		}
	}
	buf_free(&q);
	buf_free(&arr);
	if (rc == 0 && *n_r > 1) {
		/* RETURNING has no order: sort by uid (insertion sort is
		 * fine for the usual sizes, and stable) */
		struct store_entry *e = *e_r;
		for (size_t i = 1; i < *n_r; i++) {
			struct store_entry t = e[i];
			size_t j = i;
			while (j > 0 && e[j - 1].uid > t.uid) {
				e[j] = e[j - 1];
				j--;
			}
			e[j] = t;
		}
	}
	return rc;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Rows (uid, grant id, is summary) of a DELETE ... RETURNING: the uids
 * sorted into *uids_r, the summaries' grants into sg ("{..}"). */
static int
removed_from(const PGresult *res, uint32_t **uids_r, size_t *n_r,
    struct buf *sg, size_t *nsg_r)
{
	int n = PQntuples(res), rc = 0;
	size_t nsg = 0;

	*uids_r = NULL;
	*n_r = 0;
	if (n > 0 && (*uids_r = malloc((size_t)n * sizeof(uint32_t))) == NULL)
		return CM_ENOMEM;
	rc = buf_addc(sg, '{');
	for (int i = 0; rc == 0 && i < n; i++) {
		int64_t v = 0;
		store_col_i64(res, i, 0, &v);
		(*uids_r)[i] = (uint32_t)v;
		if (PQgetvalue(res, i, 2)[0] == 't')
			rc = buf_printf(sg, "%s%s", nsg++ ? "," : "",
			    PQgetvalue(res, i, 1));
	}
	if (rc == 0)
		rc = buf_addc(sg, '}');
	if (rc != 0) {
		free(*uids_r);
		*uids_r = NULL;
		return rc;
	}
	*n_r = (size_t)n;
	*nsg_r = nsg;
	if (n > 1)
		qsort(*uids_r, *n_r, sizeof(uint32_t), cmp_u32);
	return 0;
}

int
store_entries_expunge(struct store_conn *db, int64_t user,
    int64_t mailbox_id, const uint32_t *uids, size_t nuids,
    uint32_t **uids_r, size_t *n_r)
{
	char u[STORE_I64_STRLEN], m[STORE_I64_STRLEN];
	struct buf arr, sg;
	PGresult *res;
	size_t nsg = 0;
	int rc;

	*uids_r = NULL;
	*n_r = 0;
	buf_init(&arr, STORE_UID_ARRAY_MAX);
	buf_init(&sg, STORE_UID_ARRAY_MAX);
	if (uids != NULL && (rc = store_uid_array_param(uids, nuids, &arr)) < 0)
		goto out;
	if ((rc = store_begin(db)) < 0)
		goto out;
	{
		const char *p[3] = { store_i64_str(u, user),
		    store_i64_str(m, mailbox_id),
		    uids != NULL ? arr.data : NULL };
		/* The held grants of the summaries being expunged are locked
		 * first, as every path that ends a held grant does (release,
		 * web confirm, expiry): taking the entries first deadlocked
		 * with a release of the same held mail. */
		rc = store_exec(db, "SELECT h.id FROM mailbox_entries e"
		    " JOIN grants g ON g.id = e.grant_id"
		    " JOIN grants h ON h.id = g.summary_of"
		    " WHERE e.mailbox_id = $2::bigint AND g.grantee = $1::bigint"
		    " AND g.state = 'active' AND '\\Deleted' = ANY(e.flags)"
		    " AND ($3::bigint[] IS NULL OR e.uid = ANY($3::bigint[]))"
		    " ORDER BY h.id FOR UPDATE OF h", 3, p, NULL);
		if (rc == 0)
			rc = store_exec(db, "DELETE FROM mailbox_entries e"
			    " USING grants g, mailboxes m"
			    " WHERE e.mailbox_id = $2::bigint"
			    " AND m.id = e.mailbox_id"
			    " AND m.owner = $1::bigint AND g.id = e.grant_id"
			    " AND g.state = 'active' AND g.grantee = $1::bigint"
			    " AND '\\Deleted' = ANY(e.flags)"
			    " AND ($3::bigint[] IS NULL"
			    "  OR e.uid = ANY($3::bigint[]))"
			    " RETURNING e.uid, e.grant_id,"
			    " g.summary_of IS NOT NULL, pg_notify('"
			    STORE_MAILBOX_NOTIFY "', e.mailbox_id::text)",
			    3, p, &res);
	}
	if (rc < 0)
		goto fail;
	rc = removed_from(res, uids_r, n_r, &sg, &nsg);
	PQclear(res);
	/* an expunged summary of held mail refuses its sender (held.h) */
	if (rc == 0 && nsg > 0)
		rc = store_held_block_tx(db, user, sg.data);
	if (rc >= 0)
		rc = store_commit(db);
	if (rc >= 0)
		goto out;
fail:
	store_rollback(db);
	free(*uids_r);
	*uids_r = NULL;
	*n_r = 0;
out:
	buf_free(&arr);
	buf_free(&sg);
	return rc < 0 ? rc : 0;
}

/* A summary of held mail copied elsewhere becomes an ordinary message:
 * a new grant to user on the same message, without summary_of (so
 * releasing or refusing the held mail leaves the copy alone, and the
 * copy is never taken for a summary). Each grant id in sum's first
 * column gets one; map_old and map_new (bigint[] text) pair them. */
static int
fresh_grants(struct store_conn *db, int64_t user, const PGresult *sum,
    struct buf *map_old, struct buf *map_new)
{
	char u[STORE_I64_STRLEN];
	int n = PQntuples(sum), rc;

	rc = buf_addc(map_old, '{');
	if (rc == 0)
		rc = buf_addc(map_new, '{');
	for (int i = 0; rc == 0 && i < n; i++) {
		unsigned char token[16];
		const char *p[3] = { (const char *)token,
		    PQgetvalue(sum, i, 0), store_i64_str(u, user) };
		int lens[3] = { 16, 0, 0 }, fmts[3] = { 1, 0, 0 };
		PGresult *res;

		if (RAND_bytes(token, sizeof token) != 1)
			return CM_EIO;
		rc = store_query(db, "INSERT INTO grants (token, message_id,"
		    " grantee, grantor_address, grantor_auth, subject, rights,"
		    " state)"
		    " SELECT $1, message_id, grantee, grantor_address,"
		    " grantor_auth, subject, rights, 'active' FROM grants"
		    " WHERE id = $2::bigint AND grantee = $3::bigint"
		    " RETURNING id", 3, p, lens, fmts, 0, &res);
		if (rc < 0)
			return rc;
		if (PQntuples(res) != 1) {
			PQclear(res);
			return CM_EDB;
		}
		rc = buf_printf(map_old, "%s%s", i ? "," : "",
		    PQgetvalue(sum, i, 0));
		if (rc == 0)
			rc = buf_printf(map_new, "%s%s", i ? "," : "",
			    PQgetvalue(res, 0, 0));
		PQclear(res);
	}
	if (rc == 0)
		rc = buf_addc(map_old, '}');
	if (rc == 0)
		rc = buf_addc(map_new, '}');
	return rc;
}

/* COPY (move 0) or MOVE (move 1) inside the caller's transaction. */
static int
copy_in_tx(struct store_conn *db, int64_t user, int64_t mailbox_id,
    const char *arr, size_t nuids, const char *dest, int move,
    uint32_t *uidvalidity_r, uint32_t **src_r, uint32_t **dst_r,
    size_t *n_r)
{
	char u[STORE_I64_STRLEN], m[STORE_I64_STRLEN], d[STORE_I64_STRLEN];
	char nx[STORE_I64_STRLEN];
	struct store_mailbox mb;
	struct buf mo, mn;
	PGresult *res = NULL;
	int rc, n;

	buf_init(&mo, STORE_UID_ARRAY_MAX);
	buf_init(&mn, STORE_UID_ARRAY_MAX);
	store_i64_str(u, user);
	store_i64_str(m, mailbox_id);
	if ((rc = store_mailbox_get(db, user, dest, &mb)) < 0)
		goto out;
	store_mailbox_clear(&mb);
	if (mb.id == mailbox_id && move) {
		rc = CM_EINVAL;	/* RFC 6851: MOVE to itself is an error */
		goto out;
	}
	{
		const char *p[1] = { store_i64_str(d, mb.id) };
		int64_t v;
		/* lock dest's uidnext against concurrent deliveries */
		rc = store_exec(db, "SELECT uidvalidity, uidnext FROM mailboxes"
		    " WHERE id = $1::bigint FOR UPDATE", 1, p, &res);
		if (rc < 0)
			goto out;
		store_col_i64(res, 0, 0, &v);
		*uidvalidity_r = (uint32_t)v;
		store_col_i64(res, 0, 1, &v);
		store_i64_str(nx, v);
		PQclear(res);
		res = NULL;
	}
	{
		const char *p[3] = { u, m, arr };
		rc = store_exec(db, "SELECT g.id FROM mailbox_entries e"
		    " JOIN grants g ON g.id = e.grant_id"
		    " WHERE e.mailbox_id = $2::bigint AND e.uid = ANY($3::bigint[])"
		    " AND g.state = 'active' AND g.grantee = $1::bigint"
		    " AND g.summary_of IS NOT NULL ORDER BY g.id", 3, p, &res);
		if (rc < 0)
			goto out;
		rc = fresh_grants(db, user, res, &mo, &mn);
		PQclear(res);
		res = NULL;
		if (rc < 0)
			goto out;
	}
	{
		const char *p[7] = { u, m, arr, d, nx, mo.data, mn.data };
		rc = store_exec(db, "WITH src AS (SELECT e.uid,"
		    "   coalesce(mp.new, e.grant_id) AS grant_id,"
		    "   e.flags, e.internaldate,"
		    "   row_number() OVER (ORDER BY e.uid) - 1 AS rn"
		    "   FROM mailbox_entries e"
		    "   JOIN grants g ON g.id = e.grant_id"
		    "   JOIN mailboxes mb ON mb.id = e.mailbox_id"
		    "   LEFT JOIN unnest($6::bigint[], $7::bigint[])"
		    "    AS mp(old, new) ON mp.old = e.grant_id"
		    "   WHERE e.mailbox_id = $2::bigint AND mb.owner = $1::bigint"
		    "   AND e.uid = ANY($3::bigint[]) AND g.state = 'active'"
		    "   AND g.grantee = $1::bigint),"
		    " ins AS (INSERT INTO mailbox_entries"
		    "   (mailbox_id, uid, grant_id, flags, internaldate)"
		    "   SELECT $4::bigint, $5::bigint + rn, grant_id, flags,"
		    "   internaldate FROM src RETURNING uid)"
		    " SELECT src.uid, $5::bigint + src.rn,"
		    "   (SELECT count(*) FROM ins) FROM src ORDER BY src.uid",
		    7, p, &res);
	}
	if (rc < 0)
		goto out;
	n = PQntuples(res);
	if ((size_t)n != nuids) {
		/* some are no longer visible: copy nothing (RFC 3501 6.4.7
		 * wants COPY all or nothing) */
		rc = CM_EPERM;
		goto out;
	}
	if (n > 0) {
		*src_r = malloc((size_t)n * sizeof(uint32_t));
		*dst_r = malloc((size_t)n * sizeof(uint32_t));
		if (*src_r == NULL || *dst_r == NULL) {
			rc = CM_ENOMEM;
			goto out;
		}
	}
	for (int i = 0; i < n; i++) {
		int64_t a = 0, b = 0;
		store_col_i64(res, i, 0, &a);
		store_col_i64(res, i, 1, &b);
		(*src_r)[i] = (uint32_t)a;
		(*dst_r)[i] = (uint32_t)b;
	}
	PQclear(res);
	res = NULL;
	{
		char cnt[STORE_I64_STRLEN];
		const char *p[2] = { d, store_i64_str(cnt, n) };
		rc = store_exec(db, "UPDATE mailboxes SET uidnext = uidnext +"
		    " $2::bigint, highestmodseq = highestmodseq + 1"
		    " WHERE id = $1::bigint"
		    " RETURNING pg_notify('" STORE_MAILBOX_NOTIFY "', id::text)",
		    2, p, NULL);
		if (rc < 0)
			goto out;
	}
	if (move) {
		/* the source entries go, as EXPUNGE would take them; a
		 * summary among them refuses its sender (held.h) */
		const char *p[3] = { u, m, arr };
		struct buf sg;
		uint32_t *gone = NULL;
		size_t ngone = 0, nsg = 0;

		rc = store_exec(db, "WITH mb AS (UPDATE mailboxes"
		    "  SET highestmodseq = highestmodseq + 1"
		    "  WHERE id = $2::bigint AND owner = $1::bigint RETURNING id,"
		    "  pg_notify('capmail_mailbox', id::text))"
		    " DELETE FROM mailbox_entries e USING grants g, mb"
		    " WHERE e.mailbox_id = mb.id AND e.uid = ANY($3::bigint[])"
		    " AND g.id = e.grant_id AND g.state = 'active'"
		    " AND g.grantee = $1::bigint"
		    " RETURNING e.uid, e.grant_id, g.summary_of IS NOT NULL",
		    3, p, &res);
		if (rc < 0)
			goto out;
		buf_init(&sg, STORE_UID_ARRAY_MAX);
		rc = removed_from(res, &gone, &ngone, &sg, &nsg);
		PQclear(res);
		res = NULL;
		free(gone);
		if (rc == 0 && ngone != nuids)
			rc = CM_EPERM;
		if (rc == 0 && nsg > 0)
			rc = store_held_block_tx(db, user, sg.data);
		buf_free(&sg);
		if (rc < 0)
			goto out;
		rc = 0;
	}
	*n_r = (size_t)n;
out:
	PQclear(res);
	buf_free(&mo);
	buf_free(&mn);
	if (rc < 0) {
		free(*src_r);
		free(*dst_r);
		*src_r = *dst_r = NULL;
	}
	return rc;
}

static int
copy_or_move(struct store_conn *db, int64_t user, int64_t mailbox_id,
    const uint32_t *uids, size_t nuids, const char *dest, int move,
    uint32_t *uidvalidity_r, uint32_t **src_r, uint32_t **dst_r,
    size_t *n_r)
{
	struct buf arr;
	int rc;

	*src_r = *dst_r = NULL;
	*n_r = 0;
	buf_init(&arr, STORE_UID_ARRAY_MAX);
	if ((rc = store_uid_array_param(uids, nuids, &arr)) < 0)
		goto out;
	if ((rc = store_begin(db)) < 0)
		goto out;
	rc = copy_in_tx(db, user, mailbox_id, arr.data, nuids, dest, move,
	    uidvalidity_r, src_r, dst_r, n_r);
	if (rc == 0)
		rc = store_commit(db);
	if (rc < 0) {
		store_rollback(db);
		free(*src_r);
		free(*dst_r);
		*src_r = *dst_r = NULL;
		*n_r = 0;
	}
out:
	buf_free(&arr);
	return rc;
}

int
store_entries_copy(struct store_conn *db, int64_t user, int64_t mailbox_id,
    const uint32_t *uids, size_t nuids, const char *dest,
    uint32_t *uidvalidity_r, uint32_t **src_r, uint32_t **dst_r,
    size_t *n_r)
{
	return copy_or_move(db, user, mailbox_id, uids, nuids, dest, 0,
	    uidvalidity_r, src_r, dst_r, n_r);
}

int
store_entries_move(struct store_conn *db, int64_t user, int64_t mailbox_id,
    const uint32_t *uids, size_t nuids, const char *dest,
    uint32_t *uidvalidity_r, uint32_t **src_r, uint32_t **dst_r,
    size_t *n_r)
{
	return copy_or_move(db, user, mailbox_id, uids, nuids, dest, 1,
	    uidvalidity_r, src_r, dst_r, n_r);
}
