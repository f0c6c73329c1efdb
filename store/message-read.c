/*
 * message-read.c: read messages for IMAP FETCH and SEARCH (see
 * store-imap.h). One REPEATABLE READ transaction takes a consistent
 * snapshot of: the entries (uid, flags, internaldate) with the messages'
 * summaries; with STORE_MSG_DATA also the bytes, reassembled from
 * message_segments JOIN objects ORDER BY seq, and the message_parts
 * offsets. Every one of these queries joins mailbox_entries -> grants with
 * grants.state = 'active' AND grants.grantee = user (and the mailbox's
 * owner), so a revoked grant's bytes are never read.
 *
 * A message whose reassembled length differs from messages.size is
 * corrupt: the read fails with CM_EDB rather than serve wrong bytes.
 */
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "store-int.h"
#include "store-imap.h"

/*
 * The entries are picked first, by their primary key, in a subquery that
 * OFFSET 0 keeps the planner from flattening: right after a bulk delivery
 * its statistics still say a user has a handful of grants, and a plan
 * that starts from grants rescans the whole mailbox for each of them
 * (110 ms a query on 2000 messages, against 1.4 ms; see tests/bench).
 */
#define VISIBLE_FROM \
	" FROM (SELECT * FROM mailbox_entries" \
	"  WHERE mailbox_id = $2::bigint AND uid = ANY($3::bigint[])" \
	"  OFFSET 0) e" \
	" JOIN grants g ON g.id = e.grant_id" \
	" JOIN mailboxes mb ON mb.id = e.mailbox_id" \
	" JOIN messages msg ON msg.id = g.message_id"
#define VISIBLE_WHERE \
	" WHERE mb.owner = $1::bigint" \
	" AND g.state = 'active' AND g.grantee = $1::bigint"

void
store_messages_free(struct store_msg **mp, size_t n)
{
	struct store_msg *m = *mp;

	if (m == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		free(m[i].flags);
		free(m[i].envelope);
		free(m[i].bodystructure);
		free(m[i].body);
		free(m[i].data);
		free(m[i].parts);
	}
	free(m);
	*mp = NULL;
}

static struct store_msg *
find(struct store_msg *m, size_t n, uint32_t uid)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m[mid].uid == uid)
			return &m[mid];
		if (m[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int
read_summaries(struct store_conn *db, const char *const *p, unsigned what,
    struct store_msg **m_r, size_t *n_r)
{
	PGresult *res;
	int rc, n;

	rc = store_exec(db, (what & STORE_MSG_SUMMARY) ?
	    "SELECT e.uid, array_to_string(e.flags, ' '),"
	    " extract(epoch FROM e.internaldate)::bigint,"
	    " coalesce(extract(epoch FROM msg.date)::bigint, 0),"
	    " msg.size, msg.header_len,"
	    " msg.envelope, msg.bodystructure, msg.body" VISIBLE_FROM VISIBLE_WHERE
	    " ORDER BY e.uid" :
	    "SELECT e.uid, array_to_string(e.flags, ' '),"
	    " extract(epoch FROM e.internaldate)::bigint,"
	    " coalesce(extract(epoch FROM msg.date)::bigint, 0),"
	    " msg.size, msg.header_len, '', '', ''" VISIBLE_FROM
	    VISIBLE_WHERE " ORDER BY e.uid", 3, p, &res);
	if (rc < 0)
		return rc;
	n = PQntuples(res);
	if (n > 0 && (*m_r = calloc((size_t)n, sizeof(**m_r))) == NULL) {
		PQclear(res);
		return CM_ENOMEM;
	}
	*n_r = (size_t)n;
	for (int i = 0; i < n; i++) {
		struct store_msg *m = &(*m_r)[i];
		int64_t v[6] = { 0 };
		for (int c = 0; c < 6; c++)
			if (c != 1)
				store_col_i64(res, i, c, &v[c]);
		m->uid = (uint32_t)v[0];
		m->internaldate = (time_t)v[2];
		m->date = (time_t)v[3];
		m->size = (size_t)v[4];
		m->header_len = (size_t)v[5];
		m->flags = store_col_strdup(res, i, 1);
		m->envelope = store_col_strdup(res, i, 6);
		m->bodystructure = store_col_strdup(res, i, 7);
		m->body = store_col_strdup(res, i, 8);
		if (m->flags == NULL || m->envelope == NULL ||
		    m->bodystructure == NULL || m->body == NULL)
			rc = CM_ENOMEM;
	}
	PQclear(res);
	return rc;
}

static int
read_data(struct store_conn *db, const char *const *p, struct store_msg *m,
    size_t n)
{
	PGresult *res;
	int rc, rows;

	/* Binary results: the uid goes as text, whose binary form is its
	 * characters. */
	rc = store_query(db, "SELECT e.uid::text, o.data" VISIBLE_FROM
	    " JOIN message_segments s ON s.message_id = msg.id"
	    " JOIN objects o ON o.hash = s.object_hash" VISIBLE_WHERE
	    " ORDER BY e.uid, s.seq", 3, p, NULL, NULL, 1, &res);
	if (rc < 0)
		return rc;
	rows = PQntuples(res);
	for (size_t i = 0; i < n; i++) {
		if ((m[i].data = malloc(m[i].size + 1)) == NULL) {
			PQclear(res);
			return CM_ENOMEM;
		}
		m[i].len = 0;
	}
	for (int r = 0; r < rows; r++) {
		char num[16];
		int nl = PQgetlength(res, r, 0);
		size_t len = (size_t)PQgetlength(res, r, 1);
		uint64_t uid = 0;
		struct store_msg *mm;

		if (nl <= 0 || nl >= (int)sizeof(num))
			continue;
		memcpy(num, PQgetvalue(res, r, 0), (size_t)nl);
		for (int k = 0; k < nl; k++)
			uid = uid * 10 + (uint64_t)(num[k] - '0');
		if ((mm = find(m, n, (uint32_t)uid)) == NULL)
			continue;
		if (len > mm->size - mm->len) {
			PQclear(res);
			return CM_EDB;	/* segments longer than the message */
		}
		memcpy(mm->data + mm->len, PQgetvalue(res, r, 1), len);
		mm->len += len;
	}
	PQclear(res);
	for (size_t i = 0; i < n; i++) {
		if (m[i].len != m[i].size)
			return CM_EDB;
		m[i].data[m[i].len] = '\0';
	}
	return 0;
}

static int
read_parts(struct store_conn *db, const char *const *p, struct store_msg *m,
    size_t n)
{
	PGresult *res;
	int rc, rows;

	rc = store_exec(db, "SELECT e.uid, mp.path, mp.hdr_off, mp.body_off,"
	    " mp.end_off, mp.inner_body_off" VISIBLE_FROM
	    " JOIN message_parts mp ON mp.message_id = msg.id" VISIBLE_WHERE
	    " ORDER BY e.uid", 3, p, &res);
	if (rc < 0)
		return rc;
	rows = PQntuples(res);
	/* count per message first, then fill */
	for (int r = 0; r < rows; r++) {
		int64_t uid = 0;
		struct store_msg *mm;
		store_col_i64(res, r, 0, &uid);
		if ((mm = find(m, n, (uint32_t)uid)) != NULL)
			mm->nparts++;
	}
	for (size_t i = 0; i < n; i++) {
		if (m[i].nparts > 0 && (m[i].parts = calloc(m[i].nparts,
		    sizeof(struct store_part))) == NULL) {
			PQclear(res);
			return CM_ENOMEM;
		}
		m[i].nparts = 0;
	}
	for (int r = 0; r < rows; r++) {
		int64_t uid = 0, v[3] = { 0 }, inner = 0;
		struct store_msg *mm;
		struct store_part *pt;
		const char *path = PQgetvalue(res, r, 1);

		store_col_i64(res, r, 0, &uid);
		if ((mm = find(m, n, (uint32_t)uid)) == NULL)
			continue;
		pt = &mm->parts[mm->nparts++];
		for (int c = 0; c < 3; c++)
			store_col_i64(res, r, 2 + c, &v[c]);
		if (strlen(path) >= sizeof(pt->path) || v[0] < 0 ||
		    v[0] > v[1] || v[1] > v[2] || (size_t)v[2] > mm->size) {
			PQclear(res);
			return CM_EDB;
		}
		memcpy(pt->path, path, strlen(path) + 1);
		pt->hdr_off = (size_t)v[0];
		pt->body_off = (size_t)v[1];
		pt->end_off = (size_t)v[2];
		if (!PQgetisnull(res, r, 5)) {
			store_col_i64(res, r, 5, &inner);
			if (inner < v[1] || inner > v[2]) {
				PQclear(res);
				return CM_EDB;
			}
			pt->is_message = 1;
			pt->inner_body_off = (size_t)inner;
		}
	}
	PQclear(res);
	return 0;
}

int
store_messages_read(struct store_conn *db, int64_t user, int64_t mailbox_id,
    const uint32_t *uids, size_t nuids, unsigned what,
    struct store_msg **m_r, size_t *n_r)
{
	char u[STORE_I64_STRLEN], mb[STORE_I64_STRLEN];
	struct buf arr;
	int rc;

	*m_r = NULL;
	*n_r = 0;
	if (nuids == 0)
		return 0;
	buf_init(&arr, STORE_UID_ARRAY_MAX);
	if ((rc = store_uid_array_param(uids, nuids, &arr)) < 0) {
		buf_free(&arr);
		return rc;
	}
	const char *p[3] = { store_i64_str(u, user),
	    store_i64_str(mb, mailbox_id), arr.data };
	if ((rc = store_begin(db)) < 0)
		goto out;
	if ((rc = store_exec(db, "SET TRANSACTION ISOLATION LEVEL"
	    " REPEATABLE READ, READ ONLY", 0, NULL, NULL)) < 0)
		goto fail;
	if ((rc = read_summaries(db, p, what, m_r, n_r)) < 0)
		goto fail;
	if ((what & STORE_MSG_DATA) && *n_r > 0) {
		if ((rc = read_data(db, p, *m_r, *n_r)) < 0 ||
		    (rc = read_parts(db, p, *m_r, *n_r)) < 0)
			goto fail;
	}
	rc = store_commit(db);
	if (rc == 0)
		goto out;
fail:
	store_rollback(db);
	store_messages_free(m_r, *n_r);
	*n_r = 0;
out:
	buf_free(&arr);
	return rc;
}

int
store_messages_fit(struct store_conn *db, int64_t user, int64_t mailbox_id,
    const uint32_t *uids, size_t *n_r, size_t max_bytes)
{
	struct store_msg *sz = NULL;
	size_t nsz = 0, total = 0, q = 0, cut = 0;
	int rc;

	if (*n_r <= 1)
		return 0;
	rc = store_messages_read(db, user, mailbox_id, uids, *n_r, 0, &sz,
	    &nsz);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < *n_r; i++) {
		size_t one = 0;
		if (q < nsz && sz[q].uid == uids[i])
			one = sz[q++].size;
		if (cut > 0 && (total >= max_bytes || one > max_bytes - total))
			break;
		total += one;
		cut = i + 1;
	}
	store_messages_free(&sz, nsz);
	*n_r = cut;
	return 0;
}
