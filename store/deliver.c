/*
 * deliver.c: ingest one message for one or more recipients.
 *
 * store_deliver() parses the message once (msgsum_parse), cuts it into
 * segments and stores, in one transaction:
 *   - each segment as an object keyed by its SHA-256 (INSERT ... ON
 *     CONFLICT DO NOTHING: the same attachment in many messages is stored
 *     once). Every MIME leaf whose body is at least store_segment_min
 *     bytes is its own segment; the bytes between such bodies are
 *     segments too. Concatenating the segments in seq order (0, 1, ...)
 *     gives back d->data exactly; an empty message has no segment;
 *   - the messages row (summary for IMAP, size, SHA-256 of the whole),
 *     its message_segments and message_parts rows;
 *   - per recipient a grant (16 random token bytes) and a mailbox_entries
 *     row in the recipient's mailbox d->mailbox. The uid comes from
 *     UPDATE mailboxes SET uidnext = uidnext + 1, highestmodseq = ... +1
 *     RETURNING, whose row lock also serialises concurrent deliveries to
 *     one mailbox until COMMIT. Mailboxes are locked in ascending
 *     recipient id order so two deliveries cannot deadlock. A
 *     pg_notify('capmail_mailbox', '<mailbox id>') is sent per mailbox
 *     (delivered at COMMIT) to wake IMAP IDLE.
 *   - with outbound recipients, the outbound queue item
 *     (store_outbound_enqueue, store/outbound.c).
 * It returns 0 only after COMMIT succeeded; on any error nothing is
 * stored. store_deliver_tx() does the same inside the caller's
 * transaction (a bounce recorded with its queue item's outcome). A recipient without that mailbox gives CM_ENOTFOUND.
 *
 * Text columns must be valid UTF-8 for PostgreSQL; header-derived text
 * (subject, envelope, body structure) and the envelope sender are made
 * valid by replacing each invalid byte with '?', which keeps every length
 * (and so every IMAP literal count) unchanged. The message bytes
 * themselves go as binary bytea, untouched.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "held.h"
#include "msgsum.h"
#include "outbound.h"
#include "store-int.h"
#include "utf8.h"

size_t store_segment_min = 2048;

#define SHA256_LEN 32

struct segment {
	size_t off, len;
};

/* malloc'd copy of s with each byte that is not valid UTF-8 made '?'. */
static char *utf8_clean(const char *s)
{
	size_t n = strlen(s);
	char *out = malloc(n + 1);

	if (out == NULL)
		return NULL;
	memcpy(out, s, n + 1);
	for (size_t i = 0; i < n;) {
		size_t l = utf8_seq((const unsigned char *)out + i, n - i);

		if (l == 0) {
			out[i] = '?';
			l = 1;
		}
		i += l;
	}
	return out;
}

/* Cut [0, len) into segments at large leaf bodies. *segs_r is malloc'd. */
static int cut_segments(const struct msgsum *sum, size_t len,
    struct segment **segs_r, size_t *n_r)
{
	/* at most 2 per leaf plus the tail */
	struct segment *segs = malloc((2 * sum->nparts + 1) * sizeof *segs);
	size_t n = 0, cur = 0;

	if (segs == NULL)
		return CM_ENOMEM;
	for (size_t i = 0; i < sum->nparts; i++) {
		const struct msgsum_part *p = &sum->parts[i];
		size_t blen;

		if (p->kind != MSGSUM_LEAF || p->body_off < cur ||
		    p->end_off > len || p->end_off <= p->body_off)
			continue;
		blen = p->end_off - p->body_off;
		if (blen < store_segment_min)
			continue;
		if (p->body_off > cur)
			segs[n++] = (struct segment){ cur, p->body_off - cur };
		segs[n++] = (struct segment){ p->body_off, blen };
		cur = p->end_off;
	}
	if (cur < len)
		segs[n++] = (struct segment){ cur, len - cur };
	*segs_r = segs;
	*n_r = n;
	return 0;
}

static int sha256(const void *p, size_t n, unsigned char out[SHA256_LEN])
{
	unsigned int olen = 0;

	if (EVP_Digest(p, n, out, &olen, EVP_sha256(), NULL) != 1 ||
	    olen != SHA256_LEN)
		return CM_EIO;
	return 0;
}

static int put_object(struct store_conn *db, const char *data, size_t len,
    unsigned char hash[SHA256_LEN])
{
	char sizebuf[STORE_I64_STRLEN];
	const char *v[3];
	int lens[3] = { SHA256_LEN, 0, 0 };
	int fmts[3] = { 1, 0, 1 };
	int rc;

	rc = sha256(data, len, hash);
	if (rc != 0)
		return rc;
	v[0] = (const char *)hash;
	/* A large object is often there already (the same attachment sent
	 * again): ask before sending its bytes. ON CONFLICT still covers a
	 * concurrent insert. */
	if (len >= store_segment_min && len >= 4096) {
		PGresult *res;

		rc = store_query(db, "SELECT 1 FROM objects WHERE hash = $1"
		    " FOR KEY SHARE",
		    1, v, lens, fmts, 0, &res);
		if (rc != 0)
			return rc;
		rc = PQntuples(res) > 0;
		PQclear(res);
		if (rc)
			return 0;
	}
	v[1] = store_i64_str(sizebuf, (int64_t)len);
	v[2] = len > 0 ? data : "";
	lens[2] = (int)len;
	return store_query(db, "INSERT INTO objects (hash, size, data)"
	    " VALUES ($1, $2::bigint, $3) ON CONFLICT (hash) DO NOTHING",
	    3, v, lens, fmts, 0, NULL);
}

static int put_segments(struct store_conn *db, int64_t msg_id,
    const char *data, const struct segment *segs, size_t nsegs)
{
	unsigned char hash[SHA256_LEN];
	char idbuf[STORE_I64_STRLEN], seqbuf[STORE_I64_STRLEN];
	const char *v[3];
	int lens[3] = { 0, 0, SHA256_LEN };
	int fmts[3] = { 0, 0, 1 };
	int rc;

	v[0] = store_i64_str(idbuf, msg_id);
	for (size_t i = 0; i < nsegs; i++) {
		rc = put_object(db, data + segs[i].off, segs[i].len, hash);
		if (rc != 0)
			return rc;
		v[1] = store_i64_str(seqbuf, (int64_t)i);
		v[2] = (const char *)hash;
		rc = store_query(db, "INSERT INTO message_segments"
		    " (message_id, seq, object_hash)"
		    " VALUES ($1::bigint, $2::int, $3)",
		    3, v, lens, fmts, 0, NULL);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* All parts in one statement: arrays as text ("{...}") unnested. */
static int put_parts(struct store_conn *db, int64_t msg_id,
    const struct msgsum *sum)
{
	struct buf a[5];
	char idbuf[STORE_I64_STRLEN];
	const char *v[6];
	int rc = 0;

	if (sum->nparts == 0)
		return 0;
	for (int k = 0; k < 5; k++) {
		buf_init(&a[k], SIZE_MAX / 2);
		rc = rc ? rc : buf_addc(&a[k], '{');
	}
	for (size_t i = 0; i < sum->nparts && rc == 0; i++) {
		const struct msgsum_part *p = &sum->parts[i];
		const char *sep = i > 0 ? "," : "";

		/* paths are digits and dots; quoted anyway */
		if (memchr(p->path, '\0', sizeof p->path) == NULL ||
		    strpbrk(p->path, "\"\\{},") != NULL) {
			rc = CM_EINVAL;
			break;
		}
		rc = buf_printf(&a[0], "%s\"%s\"", sep, p->path);
		if (rc == 0)
			rc = buf_printf(&a[1], "%s%zu", sep, p->hdr_off);
		if (rc == 0)
			rc = buf_printf(&a[2], "%s%zu", sep, p->body_off);
		if (rc == 0)
			rc = buf_printf(&a[3], "%s%zu", sep, p->end_off);
		if (rc == 0 && p->kind == MSGSUM_MESSAGE)
			rc = buf_printf(&a[4], "%s%zu", sep,
			    p->inner_body_off);
		else if (rc == 0)
			rc = buf_printf(&a[4], "%sNULL", sep);
	}
	for (int k = 0; k < 5; k++)
		rc = rc ? rc : buf_addc(&a[k], '}');
	if (rc == 0) {
		v[0] = store_i64_str(idbuf, msg_id);
		for (int k = 0; k < 5; k++)
			v[k + 1] = a[k].data;
		rc = store_exec(db, "INSERT INTO message_parts"
		    " (message_id, path, hdr_off, body_off, end_off,"
		    " inner_body_off)"
		    " SELECT $1::bigint, * FROM unnest($2::text[],"
		    " $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[])",
		    6, v, NULL);
	}
	for (int k = 0; k < 5; k++)
		buf_free(&a[k]);
	return rc;
}

static int put_message(struct store_conn *db, const struct store_delivery *d,
    const struct msgsum *sum, int64_t *id_r)
{
	unsigned char hash[SHA256_LEN];
	char sizebuf[STORE_I64_STRLEN], hlbuf[STORE_I64_STRLEN];
	char datebuf[STORE_I64_STRLEN];
	char *txt[3] = { NULL, NULL, NULL };
	const char *v[7];
	int lens[7] = { 0, SHA256_LEN, 0, 0, 0, 0, 0 };
	int fmts[7] = { 0, 1, 0, 0, 0, 0, 0 };
	PGresult *res = NULL;
	int rc;

	rc = sha256(d->len > 0 ? d->data : "", d->len, hash);
	if (rc != 0)
		return rc;
	txt[0] = utf8_clean(sum->envelope ? sum->envelope : "NIL");
	txt[1] = utf8_clean(sum->bodystructure ? sum->bodystructure : "");
	txt[2] = utf8_clean(sum->body ? sum->body : "");
	if (txt[0] == NULL || txt[1] == NULL || txt[2] == NULL) {
		rc = CM_ENOMEM;
		goto out;
	}
	v[0] = store_i64_str(sizebuf, (int64_t)d->len);
	v[1] = (const char *)hash;
	v[2] = store_i64_str(hlbuf, (int64_t)sum->header_len);
	v[3] = sum->date != 0 ?
	    store_i64_str(datebuf, (int64_t)sum->date) : NULL;
	v[4] = txt[0];
	v[5] = txt[1];
	v[6] = txt[2];
	rc = store_query(db, "INSERT INTO messages"
	    " (size, sha256, header_len, date, envelope, bodystructure, body)"
	    " VALUES ($1::bigint, $2, $3::bigint, to_timestamp($4::bigint),"
	    " $5, $6, $7) RETURNING id", 7, v, lens, fmts, 0, &res);
	if (rc == 0)
		rc = store_col_i64(res, 0, 0, id_r);
out:
	PQclear(res);
	for (int k = 0; k < 3; k++)
		free(txt[k]);
	return rc;
}

struct grant_args {
	const char *msg_id;
	const char *grantor;	/* UTF-8-clean */
	const char *subject;	/* UTF-8-clean */
	const char *idate;	/* NULL: now() */
};

/* A held grant: no mailbox entry, no uid (released later with a new
 * one, store/challenges.c). The recipient must exist. */
static int put_held_grant(struct store_conn *db,
    const struct store_delivery *d, const struct grant_args *g, int64_t rcpt,
    uint32_t *uid_r, int64_t *grant_r)
{
	unsigned char token[16];
	char rbuf[STORE_I64_STRLEN];
	const char *v[7];
	int lens[7] = { 16, 0, 0, 0, 0, 0, 0 };
	int fmts[7] = { 1, 0, 0, 0, 0, 0, 0 };
	PGresult *res = NULL;
	int rc;

	if (RAND_bytes(token, sizeof token) != 1)
		return CM_EIO;
	v[0] = (const char *)token;
	v[1] = g->msg_id;
	v[2] = store_i64_str(rbuf, rcpt);
	v[3] = g->grantor;
	v[4] = d->grantor_auth != NULL ? d->grantor_auth : "none";
	v[5] = g->subject;
	v[6] = d->auth_results;		/* NULL: SQL NULL */
	rc = store_query(db, "INSERT INTO grants (token, message_id, grantee,"
	    " grantor_address, grantor_auth, subject, state, auth_results)"
	    " SELECT $1, $2::bigint, id, $4, $5, $6, 'held', $7 FROM principals"
	    " WHERE id = $3::bigint RETURNING id", 7, v, lens, fmts, 0, &res);
	if (rc == 0 && PQntuples(res) != 1)
		rc = CM_ENOTFOUND;
	if (rc == 0)
		rc = store_col_i64(res, 0, 0, grant_r);
	PQclear(res);
	if (rc == 0)
		*uid_r = 0;
	return rc;
}

/* One recipient: next uid, grant, entry, notify. */
static int put_grant(struct store_conn *db, const struct store_delivery *d,
    const struct grant_args *g, int64_t rcpt, int held, uint32_t *uid_r,
    uint32_t *uidvalidity_r, int64_t *held_r)
{
	unsigned char token[16];
	char rbuf[STORE_I64_STRLEN], sbuf[STORE_I64_STRLEN];
	const char *v[9];
	int lens[9] = { 16, 0, 0, 0, 0, 0, 0, 0, 0 };
	int fmts[9] = { 1, 0, 0, 0, 0, 0, 0, 0, 0 };
	PGresult *res = NULL, *gres = NULL;
	int64_t uid, uidvalidity, grant_id;
	int rc;

	if (held || (d->grant_state != NULL &&
	    strcmp(d->grant_state, "held") == 0))
		return put_held_grant(db, d, g, rcpt, uid_r, held_r);
	v[0] = store_i64_str(rbuf, rcpt);
	v[1] = d->mailbox != NULL ? d->mailbox : "INBOX";
	rc = store_exec(db, "UPDATE mailboxes SET uidnext = uidnext + 1,"
	    " highestmodseq = highestmodseq + 1"
	    " WHERE owner = $1::bigint AND name = $2"
	    " RETURNING id, uidnext - 1, highestmodseq, uidvalidity",
	    2, v, &res);
	if (rc != 0)
		return rc;
	if (PQntuples(res) != 1) {
		rc = CM_ENOTFOUND;
		goto out;
	}
	if (store_col_i64(res, 0, 1, &uid) != 0 ||
	    store_col_i64(res, 0, 3, &uidvalidity) != 0 ||
	    uid < 1 || uid > UINT32_MAX ||
	    uidvalidity < 1 || uidvalidity > UINT32_MAX) {
		rc = CM_EDB;
		goto out;
	}

	if (RAND_bytes(token, sizeof token) != 1) {
		rc = CM_EIO;
		goto out;
	}
	v[0] = (const char *)token;
	v[1] = g->msg_id;
	v[2] = store_i64_str(rbuf, rcpt);
	v[3] = g->grantor;
	v[4] = d->grantor_auth != NULL ? d->grantor_auth : "none";
	v[5] = g->subject;
	v[6] = d->grant_state != NULL ? d->grant_state : "active";
	v[7] = d->auth_results;		/* NULL: SQL NULL */
	v[8] = d->summary_of != 0 ? store_i64_str(sbuf, d->summary_of) : NULL;
	rc = store_query(db, "INSERT INTO grants (token, message_id, grantee,"
	    " grantor_address, grantor_auth, subject, state, auth_results,"
	    " summary_of)"
	    " VALUES ($1, $2::bigint, $3::bigint, $4, $5, $6, $7, $8, $9::bigint)"
	    " RETURNING id", 9, v, lens, fmts, 0, &gres);
	if (rc != 0)
		goto out;
	rc = store_col_i64(gres, 0, 0, &grant_id);
	if (rc != 0)
		goto out;

	/* mailbox id, uid, modseq straight from the UPDATE's row */
	v[0] = PQgetvalue(res, 0, 0);
	v[1] = PQgetvalue(res, 0, 1);
	v[2] = PQgetvalue(gres, 0, 0);
	v[3] = d->flags != NULL ? d->flags : "";
	v[4] = PQgetvalue(res, 0, 2);
	v[5] = g->idate;
	rc = store_exec(db, "INSERT INTO mailbox_entries"
	    " (mailbox_id, uid, grant_id, flags, modseq, internaldate)"
	    " VALUES ($1::bigint, $2::bigint, $3::bigint,"
	    " array_remove(string_to_array($4, ' '), ''), $5::bigint,"
	    " coalesce(to_timestamp($6::bigint), now()))", 6, v, NULL);
	if (rc != 0)
		goto out;
	rc = store_exec(db, "SELECT pg_notify('capmail_mailbox', $1)",
	    1, v, NULL);
	if (rc != 0)
		goto out;
	*uid_r = (uint32_t)uid;
	*uidvalidity_r = (uint32_t)uidvalidity;
out:
	PQclear(res);
	PQclear(gres);
	return rc;
}

static void sort_rcpts(const int64_t *rcpts, size_t *order, size_t n)
{
	/* insertion sort of indexes: recipients are few (SMTP caps them),
	 * and qsort() has no context argument to compare by rcpts[] */
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	for (size_t i = 1; i < n; i++) {
		size_t k = order[i], j = i;

		while (j > 0 && rcpts[order[j - 1]] > rcpts[k]) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = k;
	}
}

/* Everything but the transaction; *msg_id_r etc. set on success. */
static int deliver_in_tx(struct store_conn *db, struct store_delivery *d)
{
	struct msgsum *sum = NULL;
	struct segment *segs = NULL;
	size_t nsegs = 0, *order = NULL;
	uint32_t *uids = NULL;
	char *grantor = NULL, *subject = NULL;
	char idbuf[STORE_I64_STRLEN], datebuf[STORE_I64_STRLEN];
	struct grant_args g;
	int64_t msg_id = 0, ob_id = 0;
	uint32_t uidvalidity = 0;
	const char *data;
	int rc;

	if ((d->data == NULL && d->len > 0) ||
	    (d->nrcpts > 0 && d->rcpts == NULL) ||
	    (d->noutbound > 0 && d->outbound_rcpts == NULL) ||
	    d->nrcpts + d->noutbound == 0)
		return CM_EINVAL;
	if (d->len > INT_MAX)
		return CM_ETOOBIG;
	data = d->data != NULL ? d->data : "";

	rc = msgsum_parse(data, d->len, &sum);
	if (rc != 0)
		return rc;
	rc = cut_segments(sum, d->len, &segs, &nsegs);
	if (rc != 0)
		goto out;
	order = malloc((d->nrcpts + 1) * sizeof *order);
	uids = malloc((d->nrcpts + 1) * sizeof *uids);
	grantor = utf8_clean(d->mail_from != NULL ? d->mail_from : "");
	subject = utf8_clean(sum->subject != NULL ? sum->subject : "");
	if (order == NULL || uids == NULL || grantor == NULL ||
	    subject == NULL) {
		rc = CM_ENOMEM;
		goto out;
	}
	sort_rcpts(d->rcpts, order, d->nrcpts);

	rc = put_message(db, d, sum, &msg_id);
	if (rc == 0)
		rc = put_segments(db, msg_id, data, segs, nsegs);
	if (rc == 0)
		rc = put_parts(db, msg_id, sum);
	if (rc != 0)
		goto out;

	g.msg_id = store_i64_str(idbuf, msg_id);
	g.grantor = grantor;
	g.subject = subject;
	g.idate = d->internaldate != 0 ?
	    store_i64_str(datebuf, (int64_t)d->internaldate) : NULL;
	for (size_t i = 0; i < d->nrcpts; i++) {
		size_t k = order[i];
		uint32_t uv;

		int held = d->rcpt_held != NULL && d->rcpt_held[k];
		int64_t held_id = 0;

		uv = 0;
		rc = put_grant(db, d, &g, d->rcpts[k], held, &uids[k], &uv,
		    &held_id);
		/* the recipient sees a summary in Held (store/held.c), in
		 * this transaction and in recipient order like the rest */
		if (rc == 0 && held_id != 0)
			rc = store_held_summary_put_tx(db, d, sum->header_len,
			    d->rcpts[k], held_id);
		if (rc != 0)
			goto out;
		if (k == d->nrcpts - 1)
			uidvalidity = uv;
	}
	if (d->noutbound > 0) {
		rc = store_outbound_enqueue(db, msg_id,
		    d->mail_from != NULL ? d->mail_from : "",
		    d->outbound_owner, d->outbound_rcpts, d->noutbound,
		    &ob_id);
		if (rc != 0)
			goto out;
	}

	d->message_id_r = msg_id;
	d->uidvalidity_r = uidvalidity;
	d->outbound_id_r = ob_id;
	if (d->uids_r != NULL && d->nrcpts > 0)
		memcpy(d->uids_r, uids, d->nrcpts * sizeof *uids);
out:
	msgsum_free(&sum);
	free(segs);
	free(order);
	free(uids);
	free(grantor);
	free(subject);
	return rc;
}

int store_deliver_tx(struct store_conn *db, struct store_delivery *d)
{
	if (!db->in_tx)
		return CM_EINVAL;
	return deliver_in_tx(db, d);
}

int store_deliver(struct store_conn *db, struct store_delivery *d)
{
	struct store_delivery tmp = *d;
	uint32_t *uids = NULL;
	int rc;

	/* the caller's outputs are set only after COMMIT */
	if (d->uids_r != NULL && d->nrcpts > 0) {
		uids = malloc(d->nrcpts * sizeof *uids);
		if (uids == NULL)
			return CM_ENOMEM;
	}
	tmp.uids_r = uids;
	rc = store_begin(db);
	if (rc == 0)
		rc = deliver_in_tx(db, &tmp);
	if (rc == 0)
		rc = store_commit(db);
	if (rc != 0) {
		store_rollback(db);
		free(uids);
		return rc;
	}
	d->message_id_r = tmp.message_id_r;
	d->uidvalidity_r = tmp.uidvalidity_r;
	d->outbound_id_r = tmp.outbound_id_r;
	if (uids != NULL)
		memcpy(d->uids_r, uids, d->nrcpts * sizeof *uids);
	free(uids);
	return 0;
}

int store_messages_collect_tx(struct store_conn *db, const char *msg_ids)
{
	const char *v[1] = { msg_ids };

	/* one statement, so the NOT EXISTS sees the segments being
	 * deleted: they are left out by message id (data-modifying CTEs
	 * run whether or not they are read) */
	return store_exec(db, "WITH gone AS ("
	    "  SELECT m.id FROM messages m"
	    "  WHERE m.id = ANY ($1::bigint[])"
	    "  AND NOT EXISTS (SELECT 1 FROM grants g"
	    "   WHERE g.message_id = m.id)"
	    "  AND NOT EXISTS (SELECT 1 FROM outbound o"
	    "   WHERE o.message_id = m.id) FOR UPDATE),"
	    " segs AS (DELETE FROM message_segments s"
	    "  WHERE s.message_id IN (SELECT id FROM gone)"
	    "  RETURNING s.object_hash),"
	    " msgs AS (DELETE FROM messages m"
	    "  WHERE m.id IN (SELECT id FROM gone) RETURNING m.id)"
	    " DELETE FROM objects o"
	    " WHERE o.hash IN (SELECT object_hash FROM segs)"
	    " AND NOT EXISTS (SELECT 1 FROM message_segments s2"
	    "  WHERE s2.object_hash = o.hash"
	    "  AND s2.message_id NOT IN (SELECT id FROM gone))",
	    1, v, NULL);
}
