/*
 * held.c: summaries of held mail in the recipient's Held mailbox, and
 * what the recipient does with them (see held.h; schema
 * store/sql/011-held-summaries.sql).
 *
 * A summary is an ordinary message (stored by store_deliver_tx, parsed,
 * with a BODYSTRUCTURE) with an active grant whose summary_of names the
 * held grant. Every path that ends a held grant (release, block, expiry)
 * removes its summary through store_held_summaries_remove_tx, which
 * deletes the entries itself (bumping highestmodseq and notifying the
 * mailbox as deliveries do) before the grants, so IMAP sessions are told.
 *
 * Locks: a path that ends held grants locks them (FOR UPDATE, in id
 * order) before it touches their summaries' grants and entries, and
 * takes sender_rules rows before the held grants, as the web confirm
 * does (store_challenge_confirm); a different order deadlocks two of
 * them racing for the same held mail.
 *
 * The summary is stored inside the delivery's per-recipient step
 * (recipients in ascending id order); Held is created there under the
 * user's principals row lock, taken before the mailbox row, as
 * store_mailbox_create does.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "held.h"
#include "store-imap.h"
#include "store-int.h"

int store_held_summary_put_tx(struct store_conn *db,
    const struct store_delivery *d, size_t header_len, int64_t rcpt,
    int64_t held_grant)
{
	char rbuf[STORE_I64_STRLEN];
	const char *v[1] = { store_i64_str(rbuf, rcpt) };
	struct held_summary_in in;
	struct store_delivery s;
	PGresult *res = NULL;
	struct buf msg;
	int rc;

	rc = store_exec(db, "SELECT address FROM principals"
	    " WHERE id = $1::bigint", 1, v, &res);
	if (rc != 0)
		return rc;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return CM_ENOTFOUND;
	}
	rc = store_mailbox_ensure_tx(db, rcpt, STORE_HELD_MAILBOX);
	buf_init(&msg, 64 * 1024);
	memset(&in, 0, sizeof in);
	in.header = d->data != NULL ? d->data : "";
	in.header_len = header_len <= d->len ? header_len : d->len;
	in.size = d->len;
	in.mail_from = d->mail_from != NULL ? d->mail_from : "";
	in.rcpt = PQgetvalue(res, 0, 0);
	in.now = time(NULL);
	in.held_grant = held_grant;
	in.auth_results = d->auth_results;
	if (rc == 0)
		rc = held_summary_compose(&in, &msg);
	PQclear(res);
	if (rc == 0) {
		memset(&s, 0, sizeof s);
		s.data = msg.data;
		s.len = msg.len;
		s.mail_from = "";
		s.grantor_auth = "none";
		s.rcpts = &rcpt;
		s.nrcpts = 1;
		s.mailbox = STORE_HELD_MAILBOX;
		s.grant_state = "active";
		s.flags = "";
		s.summary_of = held_grant;
		rc = store_deliver_tx(db, &s);
	}
	buf_free(&msg);
	return rc;
}

int store_held_summaries_remove_tx(struct store_conn *db,
    const char *held_ids)
{
	const char *v[1] = { held_ids };
	PGresult *res = NULL;
	int rc;

	/* mailboxes in id order, like every other multi-mailbox writer */
	rc = store_exec(db, "WITH s AS (SELECT id, message_id FROM grants"
	    "  WHERE summary_of = ANY ($1::bigint[]) FOR UPDATE),"
	    " e AS (DELETE FROM mailbox_entries e USING s"
	    "  WHERE e.grant_id = s.id RETURNING e.mailbox_id),"
	    " m AS (UPDATE mailboxes SET highestmodseq = highestmodseq + 1"
	    "  WHERE id IN (SELECT mailbox_id FROM e) RETURNING id),"
	    " g AS (DELETE FROM grants WHERE id IN (SELECT id FROM s)"
	    "  RETURNING message_id)"
	    " SELECT (SELECT count(pg_notify('capmail_mailbox', id::text))"
	    "  FROM m),"
	    " (SELECT coalesce(array_agg(message_id), '{}')::text FROM g)",
	    1, v, &res);
	if (rc != 0)
		return rc;
	rc = store_messages_collect_tx(db, PQgetvalue(res, 0, 1));
	PQclear(res);
	return rc;
}

int store_held_block_tx(struct store_conn *db, int64_t user,
    const char *sgrants)
{
	char ubuf[STORE_I64_STRLEN];
	const char *v[3] = { store_i64_str(ubuf, user), sgrants, NULL };
	PGresult *res = NULL;
	int rc, n;

	/* the senders of the held grants these summaries describe */
	rc = store_exec(db, "INSERT INTO sender_rules (owner, pattern, kind)"
	    " SELECT DISTINCT $1::bigint, lower(h.grantor_address), 'block'"
	    " FROM grants s JOIN grants h ON h.id = s.summary_of"
	    " WHERE s.id = ANY ($2::bigint[]) AND h.grantee = $1::bigint"
	    " AND h.state = 'held' AND h.grantor_address <> ''"
	    " ON CONFLICT ((coalesce(owner, 0)), pattern) DO UPDATE"
	    " SET kind = 'block', created = now()", 2, v, NULL);
	if (rc != 0)
		return rc;
	/* every held grant from them to user, and the ones described (the
	 * null sender's), locked in id order before their summaries, as
	 * every path that ends held grants does (held.c's header) */
	rc = store_exec(db, "SELECT coalesce(array_agg(id ORDER BY id),"
	    " '{}')::text FROM (SELECT h.id"
	    " FROM grants h WHERE h.state = 'held' AND h.grantee = $1::bigint"
	    " AND (h.id IN (SELECT summary_of FROM grants"
	    "   WHERE id = ANY ($2::bigint[]))"
	    "  OR (h.grantor_address <> '' AND lower(h.grantor_address) IN"
	    "   (SELECT lower(h2.grantor_address) FROM grants s"
	    "    JOIN grants h2 ON h2.id = s.summary_of"
	    "    WHERE s.id = ANY ($2::bigint[]))))"
	    " ORDER BY h.id FOR UPDATE OF h) x", 2, v, &res);
	if (rc != 0)
		return rc;
	if ((v[2] = strdup(PQgetvalue(res, 0, 0))) == NULL) {
		PQclear(res);
		return CM_ENOMEM;
	}
	PQclear(res);
	rc = store_held_summaries_remove_tx(db, v[2]);
	if (rc == 0)
		rc = store_exec(db, "WITH d AS (DELETE FROM grants"
		    " WHERE id = ANY ($2::bigint[]) AND state = 'held'"
		    " AND grantee = $1::bigint RETURNING message_id)"
		    " SELECT count(*), coalesce(array_agg(message_id),"
		    " '{}')::text FROM d", 2, (const char *[]){ v[0], v[2] },
		    &res);
	n = 0;
	if (rc == 0) {
		int64_t cnt = 0;

		rc = store_col_i64(res, 0, 0, &cnt);
		n = (int)cnt;
		if (rc == 0)
			rc = store_messages_collect_tx(db,
			    PQgetvalue(res, 0, 1));
		PQclear(res);
	}
	free((char *)v[2]);
	return rc != 0 ? rc : n;
}

/* uids (n) as a bigint[] text parameter into b (caller frees). */
static int uid_array(const uint32_t *u, size_t n, struct buf *b)
{
	buf_init(b, STORE_UID_ARRAY_MAX);
	return store_uid_array_param(u, n, b);
}

int store_held_act(struct store_conn *db, int64_t user, int64_t mailbox_id,
    const uint32_t *uids, size_t nuids, enum store_held_action action,
    uint32_t *uidvalidity_r, uint32_t **src_r, uint32_t **dst_r,
    size_t *n_r, uint32_t **rest_r, size_t *nrest_r)
{
	char ubuf[STORE_I64_STRLEN], mbuf[STORE_I64_STRLEN];
	const char *v[4];
	PGresult *res = NULL;
	struct buf arr, sg, hg;
	size_t ns = 0, nr = 0;
	int rc, n;

	*src_r = *dst_r = *rest_r = NULL;
	*n_r = *nrest_r = 0;
	*uidvalidity_r = 0;
	buf_init(&sg, SIZE_MAX / 2);
	buf_init(&hg, SIZE_MAX / 2);
	if ((rc = uid_array(uids, nuids, &arr)) != 0)
		goto done;
	if ((rc = store_begin(db)) != 0)
		goto done;
	v[0] = store_i64_str(ubuf, user);
	v[1] = store_i64_str(mbuf, mailbox_id);
	v[2] = arr.data;
	/* the visible entries, each with its summary's held grant (NULL:
	 * not the summary of something still held). Not locked: every
	 * other path that ends a held grant (web confirm, capmailctl,
	 * expiry, block) locks the held grants before the summaries'
	 * entries, and so does this one (store_held_release_tx,
	 * store_held_block_tx); locking the entries first here deadlocked
	 * with them. A held grant another path ends meanwhile is simply
	 * not acted on again (its summary goes with it). */
	rc = store_exec(db, "SELECT e.uid, g.id, h.id"
	    " FROM mailbox_entries e JOIN grants g ON g.id = e.grant_id"
	    " JOIN mailboxes mb ON mb.id = e.mailbox_id"
	    " LEFT JOIN grants h ON h.id = g.summary_of AND h.state = 'held'"
	    "  AND h.grantee = $1::bigint"
	    " WHERE e.mailbox_id = $2::bigint AND mb.owner = $1::bigint"
	    " AND e.uid = ANY ($3::bigint[]) AND g.state = 'active'"
	    " AND g.grantee = $1::bigint ORDER BY e.uid", 3, v, &res);
	if (rc != 0)
		goto fail;
	n = PQntuples(res);
	if ((size_t)n != nuids) {
		rc = CM_EPERM;	/* as COPY: all or nothing */
		goto fail;
	}
	if (n > 0 && ((*src_r = malloc((size_t)n * sizeof **src_r)) == NULL ||
	    (*dst_r = malloc((size_t)n * sizeof **dst_r)) == NULL ||
	    (*rest_r = malloc((size_t)n * sizeof **rest_r)) == NULL)) {
		rc = CM_ENOMEM;
		goto fail;
	}
	rc = buf_addc(&sg, '{');
	if (rc == 0)
		rc = buf_addc(&hg, '{');
	for (int i = 0; i < n && rc == 0; i++) {
		int64_t uid = 0;

		store_col_i64(res, i, 0, &uid);
		if (PQgetisnull(res, i, 2)) {
			(*rest_r)[nr++] = (uint32_t)uid;
			continue;
		}
		(*src_r)[ns] = (uint32_t)uid;
		rc = buf_printf(&sg, "%s%s", ns > 0 ? "," : "",
		    PQgetvalue(res, i, 1));
		if (rc == 0)
			rc = buf_printf(&hg, "%s%s", ns > 0 ? "," : "",
			    PQgetvalue(res, i, 2));
		ns++;
	}
	if (rc == 0)
		rc = buf_addc(&sg, '}');
	if (rc == 0)
		rc = buf_addc(&hg, '}');
	PQclear(res);
	res = NULL;
	if (rc != 0 || ns == 0)
		goto commit;

	if (action == STORE_HELD_BLOCK) {
		rc = store_held_block_tx(db, user, sg.data);
		if (rc > 0)
			rc = 0;
		ns = 0;		/* nothing lands anywhere */
		goto commit;
	}
	/* release: the senders become verified for user (never replacing
	 * an allow or a block: store_sender_rule_set's rule), then every
	 * held grant from them to user is released, and those described */
	v[1] = hg.data;
	rc = store_exec(db, "INSERT INTO sender_rules (owner, pattern, kind)"
	    " SELECT DISTINCT $1::bigint, lower(grantor_address), 'verified'"
	    " FROM grants WHERE id = ANY ($2::bigint[])"
	    " AND grantor_address <> ''"
	    " ON CONFLICT ((coalesce(owner, 0)), pattern) DO UPDATE"
	    " SET kind = 'verified', created = now()"
	    " WHERE sender_rules.kind = 'learned'", 2, v, NULL);
	if (rc == 0)
		rc = store_exec(db, "SELECT coalesce(array_agg(h.id), '{}')::text"
		    " FROM grants h WHERE h.state = 'held'"
		    " AND h.grantee = $1::bigint AND (h.id = ANY ($2::bigint[])"
		    "  OR (h.grantor_address <> '' AND lower(h.grantor_address)"
		    "   IN (SELECT lower(grantor_address) FROM grants"
		    "    WHERE id = ANY ($2::bigint[]))))", 2, v, &res);
	if (rc != 0)
		goto fail;
	rc = store_held_release_tx(db, NULL, user, PQgetvalue(res, 0, 0));
	PQclear(res);
	res = NULL;
	if (rc < 0)
		goto fail;
	/* the INBOX uid each described message got, in summary uid order.
	 * One released by another path meanwhile (the web link) is paired
	 * with the INBOX entry that path made; one gone meanwhile (expired,
	 * blocked, or moved on from INBOX) pairs with nothing and leaves
	 * COPYUID: its summary is gone too, which the client is told */
	rc = store_exec(db, "SELECT DISTINCT ON (x.o) x.o, e.uid,"
	    " mb.uidvalidity"
	    " FROM unnest($2::bigint[]) WITH ORDINALITY AS x(h, o)"
	    " JOIN mailbox_entries e ON e.grant_id = x.h"
	    " JOIN mailboxes mb ON mb.id = e.mailbox_id"
	    "  AND mb.owner = $1::bigint AND mb.name = 'INBOX'"
	    " ORDER BY x.o, e.uid", 2, v, &res);
	if (rc != 0)
		goto fail;
	{
		size_t o = 0;
		int nrow = PQntuples(res);

		for (int i = 0; i < nrow; i++) {
			int64_t ord = 0, uid = 0, uv = 0;

			store_col_i64(res, i, 0, &ord);
			store_col_i64(res, i, 1, &uid);
			store_col_i64(res, i, 2, &uv);
			if (ord < 1 || (size_t)ord > ns || (size_t)ord <= o) {
				rc = CM_EDB;	/* one entry each, in order */
				goto fail;
			}
			(*src_r)[o] = (*src_r)[ord - 1];
			(*dst_r)[o++] = (uint32_t)uid;
			*uidvalidity_r = (uint32_t)uv;
		}
		ns = o;
	}
	PQclear(res);
	res = NULL;
commit:
	if (rc != 0)
		goto fail;
	if ((rc = store_commit(db)) != 0)
		goto fail;
	*n_r = ns;
	*nrest_r = nr;
	goto done;
fail:
	PQclear(res);
	store_rollback(db);
	free(*src_r);
	free(*dst_r);
	free(*rest_r);
	*src_r = *dst_r = *rest_r = NULL;
	*n_r = *nrest_r = 0;
done:
	if (rc > 0)
		rc = 0;
	buf_free(&arr);
	buf_free(&sg);
	buf_free(&hg);
	return rc;
}
