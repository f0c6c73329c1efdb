/*
 * challenges.c: challenges to unknown senders, release and expiry of held
 * grants (see senders.h, schema store/sql/008-senders.sql).
 *
 * A held grant has no mailbox entry. Releasing it makes it active and
 * gives it an INBOX entry with a new uid (UPDATE mailboxes ... uidnext + 1
 * RETURNING, as store_deliver does: the row lock serialises it with
 * deliveries) and a pg_notify('capmail_mailbox', id) so that IMAP
 * sessions (IDLE) see it at COMMIT.
 */
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "buf.h"
#include "held.h"
#include "senders.h"
#include "store-int.h"

int store_held_release_tx(struct store_conn *db, const char *sender,
    int64_t rcpt, const char *ids)
{
	char rbuf[STORE_I64_STRLEN];
	const char *v[6];
	PGresult *res = NULL, *mres = NULL;
	struct buf held;
	int rc, n;

	v[0] = sender;
	v[1] = store_i64_str(rbuf, rcpt);
	v[2] = ids;
	rc = store_exec(db, "SELECT g.id, g.grantee,"
	    " extract(epoch FROM g.created)::bigint FROM grants g"
	    " WHERE g.state = 'held'"
	    " AND ($3::bigint[] IS NULL"
	    "  OR g.id = ANY ($3::bigint[]))"
	    " AND ($1::text IS NULL"
	    "  OR lower(g.grantor_address) = lower($1))"
	    " AND ($2::bigint = 0 OR g.grantee = $2::bigint)"
	    " ORDER BY g.grantee, g.id FOR UPDATE", 3, v, &res);
	if (rc != 0)
		return rc;
	n = PQntuples(res);
	buf_init(&held, SIZE_MAX / 2);
	rc = buf_addc(&held, '{');
	for (int i = 0; i < n && rc == 0; i++)
		rc = buf_printf(&held, "%s%s", i > 0 ? "," : "",
		    PQgetvalue(res, i, 0));
	if (rc == 0)
		rc = buf_addc(&held, '}');
	for (int i = 0; i < n && rc == 0; i++) {
		v[0] = PQgetvalue(res, i, 1);
		rc = store_exec(db, "UPDATE mailboxes SET uidnext = uidnext + 1,"
		    " highestmodseq = highestmodseq + 1"
		    " WHERE owner = $1::bigint AND name = 'INBOX'"
		    " RETURNING id, uidnext - 1, highestmodseq", 1, v, &mres);
		if (rc != 0)
			break;
		if (PQntuples(mres) != 1) {
			rc = CM_ENOTFOUND;
			break;
		}
		v[0] = PQgetvalue(res, i, 0);
		rc = store_exec(db, "UPDATE grants SET state = 'active'"
		    " WHERE id = $1::bigint", 1, v, NULL);
		v[0] = PQgetvalue(mres, 0, 0);
		v[1] = PQgetvalue(mres, 0, 1);
		v[2] = PQgetvalue(res, i, 0);
		v[3] = PQgetvalue(mres, 0, 2);
		v[4] = PQgetvalue(res, i, 2);
		if (rc == 0)
			rc = store_exec(db, "INSERT INTO mailbox_entries"
			    " (mailbox_id, uid, grant_id, modseq, internaldate)"
			    " VALUES ($1::bigint, $2::bigint, $3::bigint,"
			    " $4::bigint, to_timestamp($5::bigint))",
			    5, v, NULL);
		if (rc == 0)
			rc = store_exec(db, "SELECT pg_notify('capmail_mailbox',"
			    " $1)", 1, v, NULL);
		PQclear(mres);
		mres = NULL;
	}
	PQclear(mres);
	PQclear(res);
	/* their summaries leave the Held mailbox */
	if (rc == 0 && n > 0)
		rc = store_held_summaries_remove_tx(db, held.data);
	buf_free(&held);
	return rc != 0 ? rc : n;
}

int store_held_release(struct store_conn *db, const char *sender,
    int64_t rcpt)
{
	int rc, n;

	if (sender == NULL || sender[0] == '\0')
		return CM_EINVAL;
	if ((rc = store_begin(db)) != 0)
		return rc;
	n = store_held_release_tx(db, sender, rcpt, NULL);
	rc = n < 0 ? n : store_commit(db);
	if (rc != 0) {
		store_rollback(db);
		return rc;
	}
	return n;
}

int store_challenge_create(struct store_conn *db, const char *sender,
    int64_t rcpt, const unsigned char token_hash[STORE_TOKEN_HASH_LEN],
    time_t expires, const char *msg, size_t len)
{
	char addr[STORE_ADDRESS_MAX + 8], rbuf[STORE_I64_STRLEN];
	char ebuf[STORE_I64_STRLEN];
	const char *v[4];
	int lens[4] = { 0, 0, STORE_TOKEN_HASH_LEN, 0 };
	int fmts[4] = { 0, 0, 1, 0 };
	const char *to[1];
	struct store_delivery d;
	PGresult *res = NULL;
	int rc, created;

	if (sender == NULL || (msg != NULL && len == 0) ||
	    store_sender_pattern_normalize(sender, addr, sizeof addr) < 0 ||
	    addr[0] == '@')
		return CM_EINVAL;
	v[0] = addr;
	v[1] = store_i64_str(rbuf, rcpt);
	v[2] = (const char *)token_hash;
	v[3] = store_i64_str(ebuf, (int64_t)expires);
	if ((rc = store_begin(db)) != 0)
		return rc;
	if (msg == NULL)	/* a link for the admin: not mailed, no limit */
		rc = store_query(db, "INSERT INTO challenges"
		    " (sender, recipient, token_hash, expires, day_sent)"
		    " VALUES ($1, $2::bigint, $3, to_timestamp($4::bigint),"
		    " NULL) RETURNING id", 4, v, lens, fmts, 0, &res);
	else
		rc = store_query(db, "INSERT INTO challenges"
		    " (sender, recipient, token_hash, expires)"
		    " VALUES ($1, $2::bigint, $3, to_timestamp($4::bigint))"
		    " ON CONFLICT (sender, day_sent) DO NOTHING RETURNING id",
		    4, v, lens, fmts, 0, &res);
	created = rc == 0 && PQntuples(res) == 1;
	PQclear(res);
	if (rc == 0 && created && msg != NULL) {
		memset(&d, 0, sizeof d);
		to[0] = sender;	/* as it was given: a local part's case is
				 * the receiving host's business */
		d.data = msg;
		d.len = len;
		d.mail_from = "";
		d.outbound_rcpts = to;
		d.noutbound = 1;
		rc = store_deliver_tx(db, &d);
	}
	if (rc == 0)
		rc = store_commit(db);
	if (rc != 0) {
		store_rollback(db);
		return rc;
	}
	return created;
}

void store_challenge_info_clear(struct store_challenge_info *info)
{
	free(info->sender);
	free(info->recipient);
	free(info->question);
	memset(info, 0, sizeof *info);
}

int store_challenge_info(struct store_conn *db,
    const unsigned char token_hash[STORE_TOKEN_HASH_LEN],
    struct store_challenge_info *info_r)
{
	const char *v[1] = { (const char *)token_hash };
	int lens[1] = { STORE_TOKEN_HASH_LEN };
	int fmts[1] = { 1 };
	PGresult *res = NULL;
	int64_t held = 0, exp = 0;
	int rc;

	memset(info_r, 0, sizeof *info_r);
	rc = store_query(db, "SELECT c.sender, p.address,"
	    " (SELECT count(*) FROM grants g WHERE g.state = 'held'"
	    "  AND lower(g.grantor_address) = c.sender"
	    "  AND g.grantee = c.recipient),"
	    " extract(epoch FROM c.expires)::bigint,"
	    " (c.used IS NOT NULL)::int, (c.expires <= now())::int,"
	    " p.verify_question"
	    " FROM challenges c JOIN principals p ON p.id = c.recipient"
	    " WHERE c.token_hash = $1", 1, v, lens, fmts, 0, &res);
	if (rc != 0)
		return rc;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return CM_ENOTFOUND;
	}
	info_r->sender = strdup(PQgetvalue(res, 0, 0));
	info_r->recipient = strdup(PQgetvalue(res, 0, 1));
	rc = store_col_i64(res, 0, 2, &held);
	if (rc == 0)
		rc = store_col_i64(res, 0, 3, &exp);
	info_r->held = (size_t)held;
	info_r->expires = (time_t)exp;
	info_r->used = strcmp(PQgetvalue(res, 0, 4), "1") == 0;
	info_r->expired = strcmp(PQgetvalue(res, 0, 5), "1") == 0;
	if (!PQgetisnull(res, 0, 6) &&
	    (info_r->question = strdup(PQgetvalue(res, 0, 6))) == NULL)
		rc = CM_ENOMEM;
	PQclear(res);
	if (rc == 0 && (info_r->sender == NULL || info_r->recipient == NULL))
		rc = CM_ENOMEM;
	if (rc != 0)
		store_challenge_info_clear(info_r);
	return rc;
}

int store_challenge_confirm(struct store_conn *db,
    const unsigned char token_hash[STORE_TOKEN_HASH_LEN],
    size_t *released_r)
{
	const char *v[3] = { (const char *)token_hash, NULL, NULL };
	int lens[1] = { STORE_TOKEN_HASH_LEN };
	int fmts[1] = { 1 };
	PGresult *res = NULL, *tres = NULL, *ids = NULL;
	char *sender = NULL;
	const char *at;
	int rc, n = 0;

	*released_r = 0;
	if ((rc = store_begin(db)) != 0)
		return rc;
	rc = store_query(db, "SELECT id, sender, recipient,"
	    " (used IS NOT NULL)::int, (expires <= now())::int"
	    " FROM challenges WHERE token_hash = $1 FOR UPDATE",
	    1, v, lens, fmts, 0, &res);
	if (rc != 0)
		goto out;
	if (PQntuples(res) != 1) {
		rc = CM_ENOTFOUND;
		goto out;
	}
	if (strcmp(PQgetvalue(res, 0, 3), "1") == 0) {
		rc = CM_EEXIST;
		goto out;
	}
	if (strcmp(PQgetvalue(res, 0, 4), "1") == 0) {
		rc = CM_EPERM;
		goto out;
	}
	if ((sender = strdup(PQgetvalue(res, 0, 1))) == NULL) {
		rc = CM_ENOMEM;
		goto out;
	}
	/* whom the confirmation speaks for: the challenge's recipient, who
	 * asked (and whose question, if any, was answered), and every other
	 * recipient holding mail from the address, unless that recipient
	 * has a question of its own (capmailctl(8): it must be answered
	 * before their held mail is released); never one whose rule for the
	 * sender (the most specific, as store_sender_check() picks it) is a
	 * block set after the mail was held: a verified rule would
	 * otherwise override an organisation's block of the domain. The
	 * challenge's own recipient blocking it: as if expired, nothing
	 * changes. */
	if ((at = strrchr(sender, '@')) == NULL) {
		rc = CM_EDB;
		goto out;
	}
	v[0] = sender;
	v[1] = PQgetvalue(res, 0, 2);
	v[2] = at;
	rc = store_exec(db, "WITH t AS (SELECT $2::bigint AS o"
	    "  UNION SELECT g.grantee FROM grants g"
	    "  JOIN principals p ON p.id = g.grantee"
	    "  WHERE g.state = 'held' AND lower(g.grantor_address) = $1"
	    "  AND p.verify_answers IS NULL),"
	    " k AS (SELECT t.o, (SELECT r.kind FROM sender_rules r"
	    "  WHERE (r.owner = t.o OR r.owner IS NULL)"
	    "  AND r.pattern IN ($1, $3)"
	    "  ORDER BY r.owner IS NULL, r.pattern LIKE '@%' LIMIT 1) AS kind"
	    "  FROM t)"
	    " SELECT coalesce(bool_or(o = $2::bigint AND kind = 'block'),"
	    "  false)::int,"
	    " coalesce(array_agg(o) FILTER (WHERE kind IS DISTINCT FROM"
	    "  'block'), '{}')::text FROM k", 3, v, &tres);
	if (rc != 0)
		goto out;
	if (strcmp(PQgetvalue(tres, 0, 0), "1") == 0) {
		rc = CM_EPERM;
		goto out;
	}
	v[0] = PQgetvalue(res, 0, 0);
	rc = store_exec(db, "UPDATE challenges SET used = now()"
	    " WHERE id = $1::bigint", 1, v, NULL);
	/* verified for them: it proved it receives mail at the address */
	v[0] = sender;
	v[1] = PQgetvalue(tres, 0, 1);
	if (rc == 0)
		rc = store_exec(db, "INSERT INTO sender_rules"
		    " (owner, pattern, kind)"
		    " SELECT o, $1, 'verified' FROM unnest($2::bigint[]) o"
		    " ON CONFLICT ((coalesce(owner, 0)), pattern) DO UPDATE"
		    " SET kind = 'verified', created = now()"
		    " WHERE sender_rules.kind = 'learned'", 2, v, NULL);
	/* the grants now say how the sender was authenticated: it opened
	 * the link mailed to its address (DESIGN: "verified link") */
	if (rc == 0)
		rc = store_exec(db, "UPDATE grants SET grantor_auth ="
		    " 'verified-link' WHERE state = 'held'"
		    " AND lower(grantor_address) = $1"
		    " AND grantee = ANY ($2::bigint[])", 2, v, NULL);
	if (rc == 0)
		rc = store_exec(db, "SELECT coalesce(array_agg(id), '{}')::text"
		    " FROM grants WHERE state = 'held'"
		    " AND lower(grantor_address) = $1"
		    " AND grantee = ANY ($2::bigint[])", 2, v, &ids);
	if (rc == 0)
		n = store_held_release_tx(db, sender, 0,
		    PQgetvalue(ids, 0, 0));
	if (rc == 0 && n < 0)
		rc = n;
	if (rc == 0)
		rc = store_commit(db);
out:
	PQclear(res);
	PQclear(tres);
	PQclear(ids);
	free(sender);
	if (rc != 0) {
		store_rollback(db);
		return rc;
	}
	*released_r = (size_t)n;
	return 0;
}

int store_held_expire(struct store_conn *db, long max_age, char **log_r)
{
	char abuf[STORE_I64_STRLEN];
	const char *v[1];
	PGresult *res = NULL, *old = NULL;
	struct buf ids, log;
	int rc, n = 0;

	if (log_r != NULL)
		*log_r = NULL;
	buf_init(&ids, SIZE_MAX / 2);
	buf_init(&log, SIZE_MAX / 2);
	v[0] = store_i64_str(abuf, max_age);
	if ((rc = store_begin(db)) != 0)
		goto out;
	/* their summaries first, so that IMAP sees them go (the cascade of
	 * the DELETE below would take them silently) */
	/* locked before their summaries, as release and block lock them
	 * (held.c): the other order deadlocks with them */
	rc = store_exec(db, "SELECT coalesce(array_agg(id ORDER BY id),"
	    " '{}')::text FROM (SELECT id FROM grants WHERE state = 'held'"
	    " AND created < now() - make_interval(secs => $1::bigint)"
	    " ORDER BY id FOR UPDATE) x", 1, v, &old);
	if (rc == 0)
		rc = store_held_summaries_remove_tx(db, PQgetvalue(old, 0, 0));
	if (rc == 0)
		rc = store_exec(db, "DELETE FROM grants g USING principals p"
		    " WHERE g.state = 'held' AND p.id = g.grantee"
		    " AND g.id = ANY ($1::bigint[])"
		    " RETURNING g.id, p.address, g.grantor_address,"
		    " g.message_id", 1, (const char *[]){ PQgetvalue(old, 0,
		    0) }, &res);
	if (rc != 0)
		goto out;
	n = PQntuples(res);
	rc = buf_addc(&ids, '{');
	for (int i = 0; i < n && rc == 0; i++) {
		rc = buf_printf(&ids, "%s%s", i > 0 ? "," : "",
		    PQgetvalue(res, i, 3));
		if (rc == 0)
			rc = buf_printf(&log, "%sgrant=%s to=%s from=<%s>",
			    i > 0 ? "\n" : "", PQgetvalue(res, i, 0),
			    PQgetvalue(res, i, 1), PQgetvalue(res, i, 2));
	}
	if (rc == 0)
		rc = buf_addc(&ids, '}');
	if (rc == 0 && n > 0)
		rc = store_messages_collect_tx(db, ids.data);
	if (rc == 0)
		rc = store_commit(db);
out:
	PQclear(res);
	PQclear(old);
	buf_free(&ids);
	if (rc != 0) {
		store_rollback(db);
		buf_free(&log);
		return rc;
	}
	if (log_r != NULL && n > 0) {
		*log_r = log.data;	/* NUL-terminated by buf */
	} else {
		buf_free(&log);
	}
	return n;
}

int store_held_list(struct store_conn *db, const char *user,
    struct store_held_info **held_r, size_t *n_r)
{
	const char *v[1] = { user };
	struct store_held_info *h = NULL;
	PGresult *res = NULL;
	size_t n;
	int rc = 0;

	*held_r = NULL;
	*n_r = 0;
	rc = store_exec(db, "SELECT g.id, p.address, g.grantor_address,"
	    " g.subject, extract(epoch FROM g.created)::bigint"
	    " FROM grants g JOIN principals p ON p.id = g.grantee"
	    " WHERE g.state = 'held'"
	    " AND ($1::text IS NULL OR p.address = lower($1))"
	    " ORDER BY g.id", 1, v, &res);
	if (rc != 0)
		return rc;
	n = (size_t)PQntuples(res);
	if (n > 0 && (h = calloc(n, sizeof *h)) == NULL) {
		PQclear(res);
		return CM_ENOMEM;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		int64_t t = 0;

		rc = store_col_i64(res, (int)i, 0, &h[i].grant_id);
		if (rc == 0)
			rc = store_col_i64(res, (int)i, 4, &t);
		h[i].created = (time_t)t;
		h[i].recipient = strdup(PQgetvalue(res, (int)i, 1));
		h[i].sender = strdup(PQgetvalue(res, (int)i, 2));
		h[i].subject = strdup(PQgetvalue(res, (int)i, 3));
		if (h[i].recipient == NULL || h[i].sender == NULL ||
		    h[i].subject == NULL)
			rc = CM_ENOMEM;
	}
	PQclear(res);
	if (rc != 0) {
		store_held_list_free(&h, n);
		return rc;
	}
	*held_r = h;
	*n_r = n;
	return 0;
}

void store_held_list_free(struct store_held_info **hp, size_t n)
{
	struct store_held_info *h = *hp;

	if (h == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		free(h[i].recipient);
		free(h[i].sender);
		free(h[i].subject);
	}
	free(h);
	*hp = NULL;
}
