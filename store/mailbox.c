/*
 * mailbox.c: a user's IMAP mailboxes (see store-imap.h).
 *
 * A new mailbox gets uidvalidity = max(now in seconds, the largest
 * uidvalidity the user has + 1, principals.uidvalidity_floor + 1), and
 * DELETE raises the floor to the deleted mailbox's uidvalidity, so a
 * mailbox deleted and created again under the same name never reuses a
 * uidvalidity, even within the same second (RFC 3501 2.3.1.1; migration
 * 004).
 * Names are at most STORE_MAILBOX_NAME_MAX bytes, printable (8-bit allowed:
 * clients send modified UTF-7, but we do not police it), without '*', '%',
 * empty hierarchy levels or a leading '/'.
 *
 * \Recent lives in mailboxes.first_recent_uid (store/sql/002-recent.sql):
 * store_mailbox_recent() claims or reads it, STATUS counts the entries at
 * or above it.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libpq-fe.h>

#include "notify.h"
#include "store-int.h"
#include "store-imap.h"

#define STORE_MAILBOX_NAME_MAX 1000

static const char *
canon(const char *name)
{
	return strcasecmp(name, "INBOX") == 0 ? "INBOX" : name;
}

static int
name_valid(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > STORE_MAILBOX_NAME_MAX || name[0] == '/' ||
	    name[len - 1] == '/' || strstr(name, "//") != NULL)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c < 0x20 || c == 0x7f || c == '*' || c == '%')
			return 0;
	}
	return 1;
}

static void
fill(const PGresult *res, int row, struct store_mailbox *mb)
{
	int64_t v;

	store_col_i64(res, row, 0, &mb->id);
	mb->name = store_col_strdup(res, row, 1);
	mb->special_use = PQgetisnull(res, row, 2) ? NULL :
	    store_col_strdup(res, row, 2);
	store_col_i64(res, row, 3, &v);
	mb->uidvalidity = (uint32_t)v;
	store_col_i64(res, row, 4, &v);
	mb->uidnext = (uint32_t)v;
	mb->subscribed = PQgetvalue(res, row, 5)[0] == 't';
}

#define MB_COLS "id, name, special_use, uidvalidity, uidnext, subscribed"

int
store_mailbox_list(struct store_conn *db, int64_t user,
    struct store_mailbox **mb_r, size_t *n_r)
{
	char u[STORE_I64_STRLEN];
	const char *p[1] = { store_i64_str(u, user) };
	PGresult *res;
	int rc, n;

	*mb_r = NULL;
	*n_r = 0;
	rc = store_exec(db, "SELECT " MB_COLS " FROM mailboxes"
	    " WHERE owner = $1::bigint ORDER BY name COLLATE \"C\"", 1, p,
	    &res);
	if (rc < 0)
		return rc;
	n = PQntuples(res);
	if (n > 0 && (*mb_r = calloc((size_t)n, sizeof(**mb_r))) == NULL) {
		PQclear(res);
		return CM_ENOMEM;
	}
	for (int i = 0; i < n; i++)
		fill(res, i, &(*mb_r)[i]);
	*n_r = (size_t)n;
	PQclear(res);
	return 0;
}

void
store_mailbox_clear(struct store_mailbox *mb)
{
	free(mb->name);
	free(mb->special_use);
	mb->name = mb->special_use = NULL;
}

void
store_mailbox_list_free(struct store_mailbox **mbp, size_t n)
{
	if (*mbp == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		store_mailbox_clear(&(*mbp)[i]);
	free(*mbp);
	*mbp = NULL;
}

int
store_mailbox_get(struct store_conn *db, int64_t user, const char *name,
    struct store_mailbox *mb_r)
{
	char u[STORE_I64_STRLEN];
	const char *p[2] = { store_i64_str(u, user), canon(name) };
	PGresult *res;
	int rc;

	memset(mb_r, 0, sizeof(*mb_r));
	rc = store_exec(db, "SELECT " MB_COLS " FROM mailboxes"
	    " WHERE owner = $1::bigint AND name = $2", 2, p, &res);
	if (rc < 0)
		return rc;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return CM_ENOTFOUND;
	}
	fill(res, 0, mb_r);
	PQclear(res);
	return 0;
}

/* Insert one mailbox; CM_EEXIST when present. In a transaction. */
static int
insert(struct store_conn *db, const char *u, const char *name)
{
	const char *p[2] = { u, name };

	return store_exec(db, "INSERT INTO mailboxes"
	    " (owner, name, uidvalidity, uidnext)"
	    " SELECT $1::bigint, $2, greatest("
	    "   extract(epoch FROM now())::bigint,"
	    "   coalesce(max(uidvalidity), 0) + 1,"
	    "   (SELECT uidvalidity_floor + 1 FROM principals"
	    "    WHERE id = $1::bigint)), 1"
	    " FROM mailboxes WHERE owner = $1::bigint", 2, p, NULL);
}

/* Create name unless it exists (then CM_EEXIST, the transaction intact). */
static int
create_in_tx(struct store_conn *db, const char *u, const char *name)
{
	const char *p[2] = { u, name };
	int n;

	n = store_exec_rows(db, "SELECT 1 FROM mailboxes WHERE"
	    " owner = $1::bigint AND name = $2", 2, p);
	if (n < 0)
		return n;
	if (n > 0)
		return CM_EEXIST;
	return insert(db, u, name);
}

int
store_mailbox_create(struct store_conn *db, int64_t user, const char *name)
{
	char u[STORE_I64_STRLEN];
	char *copy;
	int rc;

	name = canon(name);
	if (!name_valid(name) || strcmp(name, "INBOX") == 0)
		return CM_EINVAL;
	store_i64_str(u, user);
	if ((copy = strdup(name)) == NULL)
		return CM_ENOMEM;
	if ((rc = store_begin(db)) < 0)
		goto out;
	/* Take the user's mailbox lock so concurrent creates cannot pick the
	 * same uidvalidity. */
	{
		const char *p[1] = { u };
		if ((rc = store_exec(db, "SELECT 1 FROM principals"
		    " WHERE id = $1::bigint FOR UPDATE", 1, p, NULL)) < 0)
			goto fail;
	}
	/* the missing parents first */
	for (char *s = strchr(copy, '/'); s != NULL; s = strchr(s + 1, '/')) {
		*s = '\0';
		rc = create_in_tx(db, u, copy);
		*s = '/';
		if (rc < 0 && rc != CM_EEXIST)
			goto fail;
	}
	if ((rc = create_in_tx(db, u, name)) < 0)
		goto fail;
	rc = store_commit(db);
	goto out;
fail:
	store_rollback(db);
out:
	free(copy);
	return rc;
}

int
store_mailbox_delete(struct store_conn *db, int64_t user, const char *name)
{
	char u[STORE_I64_STRLEN];
	const char *p[2] = { store_i64_str(u, user), canon(name) };
	int n;

	if (strcmp(p[1], "INBOX") == 0)
		return CM_EINVAL;
	/* remember its uidvalidity: a mailbox created under this name later
	 * must get a greater one (the create holds the principal's row) */
	n = store_exec_rows(db, "WITH d AS (DELETE FROM mailboxes"
	    " WHERE owner = $1::bigint AND name = $2 RETURNING uidvalidity,"
	    "   pg_notify('" STORE_MAILBOX_NOTIFY "', id::text))"
	    " UPDATE principals SET uidvalidity_floor ="
	    "   greatest(uidvalidity_floor, (SELECT uidvalidity FROM d))"
	    " WHERE id = $1::bigint AND EXISTS (SELECT 1 FROM d) RETURNING id",
	    2, p);
	if (n < 0)
		return n;
	return n == 1 ? 0 : CM_ENOTFOUND;
}

int
store_mailbox_rename(struct store_conn *db, int64_t user,
    const char *oldname, const char *newname)
{
	char u[STORE_I64_STRLEN];
	const char *p[3];
	PGresult *res;
	int rc, n;

	oldname = canon(oldname);
	newname = canon(newname);
	if (!name_valid(newname) || strcmp(newname, "INBOX") == 0)
		return CM_EINVAL;
	if (strcmp(oldname, newname) == 0)
		return CM_EEXIST;
	/* a mailbox cannot become its own child */
	if (strncmp(newname, oldname, strlen(oldname)) == 0 &&
	    newname[strlen(oldname)] == '/')
		return CM_EINVAL;
	p[0] = store_i64_str(u, user);
	p[1] = oldname;
	p[2] = newname;
	if ((rc = store_begin(db)) < 0)
		return rc;
	rc = store_exec(db, "SELECT 1 FROM mailboxes WHERE owner = $1::bigint"
	    " AND name = $2", 2, p, &res);
	if (rc < 0)
		goto fail;
	n = PQntuples(res);
	PQclear(res);
	if (n != 1) {
		rc = CM_ENOTFOUND;
		goto fail;
	}
	if (strcmp(oldname, "INBOX") == 0) {
		/* a new mailbox gets INBOX's entries; INBOX stays, empty */
		if ((rc = create_in_tx(db, u, newname)) < 0)
			goto fail;
		rc = store_exec(db, "WITH src AS (SELECT id FROM mailboxes"
		    "   WHERE owner = $1::bigint AND name = $2),"
		    " dst AS (SELECT id FROM mailboxes"
		    "   WHERE owner = $1::bigint AND name = $3),"
		    " moved AS (DELETE FROM mailbox_entries"
		    "   WHERE mailbox_id = (SELECT id FROM src) RETURNING *),"
		    " ins AS (INSERT INTO mailbox_entries"
		    "   (mailbox_id, uid, grant_id, flags, modseq, internaldate)"
		    "   SELECT (SELECT id FROM dst), row_number() OVER"
		    "   (ORDER BY uid), grant_id, flags, 1, internaldate"
		    "   FROM moved RETURNING uid)"
		    " UPDATE mailboxes SET uidnext ="
		    "   (SELECT coalesce(max(uid), 0) + 1 FROM ins)"
		    " WHERE id = (SELECT id FROM dst)", 3, p, NULL);
		if (rc < 0)
			goto fail;
		return store_commit(db);
	}
	/* the target and every child's target must be free */
	rc = store_exec(db, "SELECT 1 FROM mailboxes WHERE owner = $1::bigint"
	    " AND (name = $3 OR name IN (SELECT $3 || substr(name,"
	    "   length($2) + 1) FROM mailboxes WHERE owner = $1::bigint"
	    "   AND left(name, length($2) + 1) = $2 || '/'))", 3, p, &res);
	if (rc < 0)
		goto fail;
	n = PQntuples(res);
	PQclear(res);
	if (n > 0) {
		rc = CM_EEXIST;
		goto fail;
	}
	rc = store_exec(db, "UPDATE mailboxes SET name = $3 || substr(name,"
	    " length($2) + 1) WHERE owner = $1::bigint AND (name = $2"
	    " OR left(name, length($2) + 1) = $2 || '/')", 3, p, NULL);
	if (rc < 0)
		goto fail;
	/* missing parents of the new name */
	{
		char *copy = strdup(newname);
		if (copy == NULL) {
			rc = CM_ENOMEM;
			goto fail;
		}
		for (char *s = strchr(copy, '/'); s != NULL;
		    s = strchr(s + 1, '/')) {
			*s = '\0';
			rc = create_in_tx(db, u, copy);
			*s = '/';
			if (rc < 0 && rc != CM_EEXIST) {
				free(copy);
				goto fail;
			}
		}
		free(copy);
	}
	return store_commit(db);
fail:
	store_rollback(db);
	return rc;
}

int
store_mailbox_subscribe(struct store_conn *db, int64_t user,
    const char *name, int on)
{
	char u[STORE_I64_STRLEN];
	const char *p[3] = { store_i64_str(u, user), canon(name),
	    on ? "t" : "f" };
	int n;

	n = store_exec_rows(db, "UPDATE mailboxes SET subscribed = $3::boolean"
	    " WHERE owner = $1::bigint AND name = $2 RETURNING id", 3, p);
	if (n < 0)
		return n;
	return n == 1 ? 0 : CM_ENOTFOUND;
}

int
store_mailbox_status(struct store_conn *db, int64_t user, const char *name,
    struct store_mailbox_status *st_r)
{
	char u[STORE_I64_STRLEN];
	const char *p[2] = { store_i64_str(u, user), canon(name) };
	PGresult *res;
	int64_t v[5];
	int rc;

	rc = store_exec(db, "SELECT m.uidvalidity, m.uidnext,"
	    " count(g.id),"
	    " count(g.id) FILTER (WHERE NOT '\\Seen' = ANY(e.flags)),"
	    " count(g.id) FILTER (WHERE e.uid >= m.first_recent_uid)"
	    " FROM mailboxes m"
	    " LEFT JOIN mailbox_entries e ON e.mailbox_id = m.id"
	    " LEFT JOIN grants g ON g.id = e.grant_id AND g.state = 'active'"
	    "   AND g.grantee = $1::bigint"
	    " WHERE m.owner = $1::bigint AND m.name = $2"
	    " GROUP BY m.id", 2, p, &res);
	if (rc < 0)
		return rc;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return CM_ENOTFOUND;
	}
	for (int i = 0; i < 5; i++)
		store_col_i64(res, 0, i, &v[i]);
	PQclear(res);
	st_r->uidvalidity = (uint32_t)v[0];
	st_r->uidnext = (uint32_t)v[1];
	st_r->messages = (uint32_t)v[2];
	st_r->unseen = (uint32_t)v[3];
	st_r->recent = (uint32_t)v[4];
	return 0;
}

int
store_mailbox_recent(struct store_conn *db, int64_t user,
    int64_t mailbox_id, uint32_t bound, int claim, uint32_t *first_r)
{
	char u[STORE_I64_STRLEN], m[STORE_I64_STRLEN], b[STORE_I64_STRLEN];
	const char *p[3] = { store_i64_str(u, user),
	    store_i64_str(m, mailbox_id), store_i64_str(b, bound) };
	PGresult *res;
	int64_t v;
	int rc;

	/* The claim: the row is locked by the subquery (FOR UPDATE), which
	 * also yields the value before the update, so of two sessions
	 * claiming at once the second waits and then sees the first's
	 * bound; greatest() never moves first_recent_uid down, least()
	 * never past uidnext. */
	if (claim)
		rc = store_exec(db, "UPDATE mailboxes m SET first_recent_uid ="
		    " greatest(o.first_recent_uid, least($3::bigint, m.uidnext))"
		    " FROM (SELECT id, first_recent_uid FROM mailboxes"
		    "   WHERE id = $2::bigint AND owner = $1::bigint"
		    "   FOR UPDATE) o"
		    " WHERE m.id = o.id RETURNING o.first_recent_uid", 3, p,
		    &res);
	else
		rc = store_exec(db, "SELECT first_recent_uid FROM mailboxes"
		    " WHERE id = $2::bigint AND owner = $1::bigint", 2, p,
		    &res);
	if (rc < 0)
		return rc;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return CM_ENOTFOUND;
	}
	store_col_i64(res, 0, 0, &v);
	PQclear(res);
	*first_r = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
	return 0;
}
