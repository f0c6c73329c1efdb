/*
 * Tests for libcapstore against a real PostgreSQL.
 *
 * CAPMAIL_TEST_DB names the database (a libpq connection string, as
 * tests/run-tests exports it); without it the test is skipped (exit 77).
 * The test makes its own database there (capmail_test_store, dropped and
 * created afresh; dropped again when every check passed), then checks migrations, domains, users, logins, imported
 * password hashes ({SHA512-CRYPT}, {BLF-CRYPT}), delivery
 * (one message row, one grant and one entry per recipient, uids),
 * attachment deduplication, byte-exact reassembly of odd messages,
 * store_run() on a libuv loop (done on the loop thread, more requests
 * than connections), recovery from a killed connection, CM_EDBDOWN
 * when nothing listens, and \Recent bookkeeping (store_mailbox_recent:
 * claims never overlap, never go back, never pass uidnext; STATUS
 * RECENT), and the outbound queue (enqueue with a delivery, claims that
 * skip locked items, partial failure, bounce in the same transaction,
 * list, flush, delete, the retry schedule), and mailbox notifications
 * (store_listen_*: a delivery, STORE, EXPUNGE, COPY and DELETE each
 * notify the mailbox; payloads that are no mailbox id are skipped; a
 * killed listener connection reads as CM_EDBDOWN).
 */
#include "config.h"

#include <crypt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <uv.h>

#include "buf.h"
#include "errors.h"
#include "msgsum.h"
#include "notify.h"
#include "outbound.h"
#include "senders.h"
#include "store-imap.h"
#include "store-int.h"

static int failures, checks;

#define CHECK(cond) do { checks++; if (!(cond)) { \
	fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
	    #cond); failures++; } } while (0)
#define CHECK_RC(expr, want) do { int rc_ = (expr); checks++; \
	if (rc_ != (want)) { fprintf(stderr, \
	    "%s:%d: %s = %s (%d), want %s\n", __FILE__, __LINE__, #expr, \
	    rc_ < 0 ? cm_errname(rc_) : "", rc_, #want); failures++; } \
	} while (0)

#define TEST_DBNAME "capmail_test_store"

static char *conninfo;	/* CAPMAIL_TEST_DB with dbname=TEST_DBNAME */

/* conninfo (keyword=value or URI) with dbname replaced, as a malloc'd
 * keyword=value string. */
static char *with_dbname(const char *ci, const char *dbname)
{
	PQconninfoOption *opts = PQconninfoParse(ci, NULL);
	struct buf b;
	char *out;
	int rc = 0;

	if (opts == NULL)
		return NULL;
	buf_init(&b, 1 << 16);
	for (PQconninfoOption *o = opts; o->keyword != NULL && rc == 0; o++) {
		const char *v = strcmp(o->keyword, "dbname") == 0 ? dbname :
		    o->val;

		if (v == NULL)
			continue;
		rc = buf_printf(&b, "%s%s='", b.len > 0 ? " " : "",
		    o->keyword);
		for (const char *c = v; *c != '\0' && rc == 0; c++) {
			if (*c == '\'' || *c == '\\')
				rc = buf_addc(&b, '\\');
			if (rc == 0)
				rc = buf_addc(&b, *c);
		}
		if (rc == 0)
			rc = buf_addc(&b, '\'');
	}
	PQconninfoFree(opts);
	if (rc == 0 && (b.data == NULL || strstr(b.data, "dbname=") == NULL))
		rc = buf_printf(&b, " dbname='%s'", dbname);
	out = rc == 0 ? buf_take(&b, NULL) : NULL;
	buf_free(&b);
	return out;
}

/* ---- small SQL helpers for checking ---- */

static int64_t q_int(struct store_conn *db, const char *sql, int n,
    const char *const *p)
{
	PGresult *res;
	int64_t v = -1;

	if (store_exec(db, sql, n, p, &res) != 0) {
		fprintf(stderr, "query failed: %s: %s\n", sql,
		    store_errmsg(db));
		return -1;
	}
	if (PQntuples(res) != 1 || store_col_i64(res, 0, 0, &v) != 0)
		v = -1;
	PQclear(res);
	return v;
}

static int64_t count(struct store_conn *db, const char *table)
{
	char sql[128];

	snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
	return q_int(db, sql, 0, NULL);
}

/* The message's segments concatenated, malloc'd; *len_r set. */
static char *reassemble(struct store_conn *db, int64_t msg_id, size_t *len_r)
{
	char idbuf[STORE_I64_STRLEN];
	const char *p[1] = { store_i64_str(idbuf, msg_id) };
	PGresult *res;
	struct buf b;
	char *out;

	if (store_query(db, "SELECT o.data FROM message_segments s"
	    " JOIN objects o ON o.hash = s.object_hash"
	    " WHERE s.message_id = $1::bigint ORDER BY s.seq",
	    1, p, NULL, NULL, 1, &res) != 0)
		return NULL;
	buf_init(&b, 1 << 28);
	for (int i = 0; i < PQntuples(res); i++)
		if (buf_add(&b, PQgetvalue(res, i, 0),
		    (size_t)PQgetlength(res, i, 0)) != 0) {
			buf_free(&b);
			PQclear(res);
			return NULL;
		}
	PQclear(res);
	out = buf_take(&b, len_r);
	buf_free(&b);
	return out;
}

static int deliver1(struct store_conn *db, const char *msg, size_t len,
    const int64_t *rcpts, size_t n, uint32_t *uids, int64_t *id_r)
{
	struct store_delivery d = {
		.data = msg, .len = len, .mail_from = "sender@remote.test",
		.grantor_auth = "spf", .rcpts = rcpts, .nrcpts = n,
		.mailbox = "INBOX", .grant_state = "active", .flags = "",
		.uids_r = uids,
	};
	int rc = store_deliver(db, &d);

	if (rc == 0 && id_r != NULL)
		*id_r = d.message_id_r;
	return rc;
}

/* Deliver and check the stored bytes give back msg exactly. */
static void check_roundtrip(struct store_conn *db, const int64_t *rcpt,
    const char *name, const char *msg, size_t len)
{
	int64_t id = 0;
	uint32_t uid = 0;
	size_t got_len = 0;
	char *got;
	char idbuf[STORE_I64_STRLEN];
	const char *p[1];
	int rc = deliver1(db, msg, len, rcpt, 1, &uid, &id);

	CHECK(rc == 0);
	if (rc != 0) {
		fprintf(stderr, "  roundtrip %s: %s: %s\n", name,
		    cm_errname(rc), store_errmsg(db));
		return;
	}
	CHECK(uid > 0);
	got = reassemble(db, id, &got_len);
	CHECK(got != NULL && got_len == len &&
	    (len == 0 || memcmp(got, msg, len) == 0));
	if (got == NULL || got_len != len || memcmp(got, msg, len) != 0)
		fprintf(stderr, "  roundtrip %s: got %zu bytes, want %zu\n",
		    name, got_len, len);
	free(got);
	p[0] = store_i64_str(idbuf, id);
	CHECK(q_int(db, "SELECT size FROM messages WHERE id = $1::bigint",
	    1, p) == (int64_t)len);
	/* the whole-message hash matches what the server computes */
	CHECK(q_int(db, "SELECT count(*) FROM messages m WHERE id = $1::bigint"
	    " AND m.sha256 = sha256(coalesce((SELECT string_agg(o.data, ''"
	    "::bytea ORDER BY s.seq) FROM message_segments s JOIN objects o"
	    " ON o.hash = s.object_hash WHERE s.message_id = m.id),"
	    " ''::bytea))", 1, p) == 1);
}

/* ---- tests ---- */

static void test_migrate(struct store_conn *db)
{
	int applied = -1, version = -1;

	CHECK_RC(store_schema_version(db, &version), 0);
	CHECK(version == 0);
	CHECK_RC(store_migrate(db, &applied), 0);
	CHECK(applied == (int)store_nmigrations);
	CHECK_RC(store_schema_version(db, &version), 0);
	CHECK(version == store_migrations[store_nmigrations - 1].version);
	CHECK_RC(store_migrate(db, &applied), 0);
	CHECK(applied == 0);
	CHECK(count(db, "schema_version") == (int64_t)store_nmigrations);
	CHECK(count(db, "domains") == 0);
}

static void test_principals(struct store_conn *db, int64_t ids[3])
{
	char **v = NULL;
	size_t n = 0;
	int64_t id = 0;
	char out[STORE_ADDRESS_MAX + 1];

	CHECK_RC(store_address_normalize("Al.Ice@Example.TEST", out,
	    sizeof out), 0);
	CHECK(strcmp(out, "al.ice@example.test") == 0);
	CHECK_RC(store_address_normalize("a@@b", out, sizeof out), CM_EINVAL);
	CHECK_RC(store_address_normalize("@b", out, sizeof out), CM_EINVAL);
	CHECK_RC(store_address_normalize("a@", out, sizeof out), CM_EINVAL);
	CHECK_RC(store_address_normalize("a b@c", out, sizeof out), CM_EINVAL);
	CHECK_RC(store_address_normalize("ab\n@c", out, sizeof out),
	    CM_EINVAL);
	CHECK_RC(store_address_normalize("", out, sizeof out), CM_EINVAL);

	CHECK_RC(store_domain_add(db, "Example.TEST"), 0);
	CHECK_RC(store_domain_add(db, "example.test"), CM_EEXIST);
	CHECK_RC(store_domain_add(db, "other.test"), 0);
	CHECK_RC(store_domain_add(db, "bad domain"), CM_EINVAL);
	CHECK_RC(store_domain_add(db, ""), CM_EINVAL);
	CHECK(store_domain_is_local(db, "EXAMPLE.test") == 1);
	CHECK(store_domain_is_local(db, "nowhere.test") == 0);
	CHECK_RC(store_domain_list(db, &v, &n), 0);
	CHECK(n == 2 && strcmp(v[0], "example.test") == 0 &&
	    strcmp(v[1], "other.test") == 0);
	store_strv_free(&v, n);
	CHECK(v == NULL);

	CHECK_RC(store_user_add(db, "carol@example.test", "pw-carol"), 0);
	CHECK_RC(store_user_add(db, "Alice@Example.Test", "pw-alice"), 0);
	CHECK_RC(store_user_add(db, "bob@other.test", "pw-bob"), 0);
	CHECK_RC(store_user_add(db, "alice@example.test", "x"), CM_EEXIST);
	CHECK_RC(store_user_add(db, "dave@nowhere.test", "x"), CM_ENOTFOUND);
	CHECK_RC(store_user_add(db, "not an address", "x"), CM_EINVAL);
	CHECK_RC(store_user_add(db, "eve@example.test", ""), CM_EINVAL);
	CHECK(count(db, "principals") == 3);
	CHECK_RC(store_user_list(db, &v, &n), 0);
	CHECK(n == 3 && strcmp(v[0], "alice@example.test") == 0 &&
	    strcmp(v[1], "bob@other.test") == 0 &&
	    strcmp(v[2], "carol@example.test") == 0);
	store_strv_free(&v, n);

	CHECK_RC(store_user_lookup(db, "ALICE@example.test", &ids[0]), 0);
	CHECK_RC(store_user_lookup(db, "bob@other.test", &ids[1]), 0);
	CHECK_RC(store_user_lookup(db, "carol@example.test", &ids[2]), 0);
	CHECK(ids[0] > 0 && ids[1] > 0 && ids[2] > 0 && ids[0] != ids[1]);
	CHECK_RC(store_user_lookup(db, "nobody@example.test", &id),
	    CM_ENOTFOUND);

	/* each user has the five mailboxes, empty, with a uidvalidity */
	CHECK(count(db, "mailboxes") == 15);
	CHECK(q_int(db, "SELECT count(*) FROM mailboxes WHERE uidnext = 1"
	    " AND uidvalidity > 1700000000 AND uidvalidity < 4294967296",
	    0, NULL) == 15);
	CHECK(q_int(db, "SELECT count(*) FROM mailboxes m JOIN principals p"
	    " ON p.id = m.owner WHERE p.address = 'alice@example.test' AND"
	    " ((m.name = 'INBOX' AND m.special_use IS NULL) OR"
	    " (m.name = 'Sent' AND m.special_use = '\\Sent') OR"
	    " (m.name = 'Drafts' AND m.special_use = '\\Drafts') OR"
	    " (m.name = 'Trash' AND m.special_use = '\\Trash') OR"
	    " (m.name = 'Junk' AND m.special_use = '\\Junk'))", 0, NULL) == 5);
	CHECK(q_int(db, "SELECT count(*) FROM principals"
	    " WHERE password_hash LIKE '$y$%'", 0, NULL) == 3);
}

static void test_login(struct store_conn *db, const int64_t ids[3])
{
	int64_t id = 0;
	struct crypt_data *cd;
	const char *p[2];

	CHECK_RC(store_login(db, "alice@example.test", "pw-alice", &id), 0);
	CHECK(id == ids[0]);
	CHECK_RC(store_login(db, "Alice@EXAMPLE.test", "pw-alice", &id), 0);
	CHECK_RC(store_login(db, "alice@example.test", "pw-Alice", &id),
	    CM_EAUTH);
	CHECK_RC(store_login(db, "alice@example.test", "", &id), CM_EAUTH);
	CHECK_RC(store_login(db, "nobody@example.test", "pw-alice", &id),
	    CM_EAUTH);
	CHECK_RC(store_login(db, "bob@other.test", "pw-alice", &id),
	    CM_EAUTH);

	CHECK_RC(store_user_passwd(db, "ALICE@example.test", "new-pw"), 0);
	CHECK_RC(store_login(db, "alice@example.test", "pw-alice", &id),
	    CM_EAUTH);
	CHECK_RC(store_login(db, "alice@example.test", "new-pw", &id), 0);
	CHECK_RC(store_user_passwd(db, "nobody@example.test", "x"),
	    CM_ENOTFOUND);

	/* an imported SHA-512 crypt hash verifies too */
	cd = calloc(1, sizeof *cd);
	CHECK(cd != NULL);
	if (cd == NULL)
		return;
	p[0] = crypt_r("imported", "$6$saltsalt$", cd);
	p[1] = "carol@example.test";
	CHECK(p[0] != NULL && strncmp(p[0], "$6$", 3) == 0);
	CHECK_RC(store_exec(db, "UPDATE principals SET password_hash = $1"
	    " WHERE address = $2", 2, p, NULL), 0);
	free(cd);
	CHECK_RC(store_login(db, "carol@example.test", "imported", &id), 0);
	CHECK(id == ids[2]);
	CHECK_RC(store_login(db, "carol@example.test", "pw-carol", &id),
	    CM_EAUTH);
}

/* Hashes imported from a Dovecot passwd-file, made here with crypt(3). */
static void test_imported_hashes(struct store_conn *db, const int64_t ids[3])
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE], h6[256], h2y[256], in[300];
	char out[STORE_HASH_MAX + 1];
	struct crypt_data *cd = calloc(1, sizeof *cd);
	const char *h, *why;
	int64_t id = 0;

	CHECK(cd != NULL);
	if (cd == NULL)
		return;
	CHECK(crypt_gensalt_rn("$6$", 0, NULL, 0, salt, sizeof salt) != NULL);
	h = crypt_r("six-secret", salt, cd);
	CHECK(h != NULL && strncmp(h, "$6$", 3) == 0);
	snprintf(h6, sizeof h6, "%s", h != NULL ? h : "");
	CHECK(crypt_gensalt_rn("$2y$", 5, NULL, 0, salt, sizeof salt) != NULL);
	h = crypt_r("blowfish-secret", salt, cd);
	CHECK(h != NULL && strncmp(h, "$2y$", 4) == 0);
	snprintf(h2y, sizeof h2y, "%s", h != NULL ? h : "");
	free(cd);

	snprintf(in, sizeof in, "{SHA512-CRYPT}%s", h6);
	CHECK_RC(store_hash_import(in, out, sizeof out, &why), 0);
	CHECK(strcmp(out, h6) == 0);
	snprintf(in, sizeof in, "{blf-crypt}%s", h2y);
	CHECK_RC(store_hash_import(in, out, sizeof out, &why), 0);
	CHECK(strcmp(out, h2y) == 0);
	CHECK_RC(store_hash_import(h6, out, sizeof out, &why), 0);
	/* the prefix must fit the hash; other schemes are refused */
	snprintf(in, sizeof in, "{SHA256-CRYPT}%s", h6);
	CHECK_RC(store_hash_import(in, out, sizeof out, &why), CM_EINVAL);
	CHECK(strstr(why, "scheme prefix") != NULL);
	CHECK_RC(store_hash_import("{PLAIN}secret", out, sizeof out, &why),
	    CM_EINVAL);
	CHECK(strstr(why, "unsupported scheme") != NULL);
	CHECK_RC(store_hash_import("{MD5}$1$x$y", out, sizeof out, &why),
	    CM_EINVAL);
	CHECK_RC(store_hash_import("{CRYPT}", out, sizeof out, &why),
	    CM_EINVAL);
	CHECK_RC(store_hash_import("{CRYPT}$6$", out, sizeof out, &why),
	    CM_EINVAL);
	CHECK_RC(store_hash_import("{CRYPT}$6$abc$de f", out, sizeof out,
	    &why), CM_EINVAL);
	CHECK_RC(store_hash_import("not a hash", out, sizeof out, &why),
	    CM_EINVAL);

	/* carol gets the $2y$ hash; login works with it */
	snprintf(in, sizeof in, "{BLF-CRYPT}%s", h2y);
	CHECK_RC(store_user_set_hash(db, "Carol@example.test", in), 0);
	CHECK_RC(store_login(db, "carol@example.test", "blowfish-secret",
	    &id), 0);
	CHECK(id == ids[2]);
	CHECK_RC(store_login(db, "carol@example.test", "imported", &id),
	    CM_EAUTH);
	CHECK_RC(store_user_set_hash(db, "nobody@example.test", in),
	    CM_ENOTFOUND);
	/* a prefixed hash put in by other means still verifies */
	{
		const char *p[2];
		snprintf(in, sizeof in, "{SHA512-CRYPT}%s", h6);
		p[0] = in;
		p[1] = "carol@example.test";
		CHECK_RC(store_exec(db, "UPDATE principals SET password_hash ="
		    " $1 WHERE address = $2", 2, p, NULL), 0);
		CHECK_RC(store_login(db, "carol@example.test", "six-secret",
		    &id), 0);
		p[0] = "{PLAIN}six-secret";
		CHECK_RC(store_exec(db, "UPDATE principals SET password_hash ="
		    " $1 WHERE address = $2", 2, p, NULL), 0);
		CHECK_RC(store_login(db, "carol@example.test", "six-secret",
		    &id), CM_EAUTH);
		CHECK_RC(store_login(db, "carol@example.test",
		    "{PLAIN}six-secret", &id), CM_EAUTH);
	}
	/* back to what the later tests expect */
	CHECK_RC(store_user_passwd(db, "carol@example.test", "pw-carol"), 0);
}

static const char MSG1[] =
    "Return-Path: <sender@remote.test>\r\n"
    "From: Sender <sender@remote.test>\r\n"
    "To: alice@example.test, bob@other.test, carol@example.test\r\n"
    "Subject: Hello three\r\n"
    "Date: Mon, 30 Nov 2026 10:00:00 +0000\r\n"
    "Message-ID: <1@remote.test>\r\n"
    "\r\n"
    "One message, three grants.\r\n";

static void test_deliver(struct store_conn *db, const int64_t ids[3])
{
	uint32_t uids[3] = { 0, 0, 0 };
	int64_t msg_id = 0;
	struct store_grant_info *g = NULL;
	size_t n = 0;
	struct store_delivery d;
	char idbuf[STORE_I64_STRLEN];
	const char *p[1];
	int rc;

	rc = deliver1(db, MSG1, sizeof MSG1 - 1, ids, 3, uids, &msg_id);
	CHECK_RC(rc, 0);
	if (rc != 0)
		fprintf(stderr, "  deliver: %s\n", store_errmsg(db));
	CHECK(count(db, "messages") == 1);
	CHECK(count(db, "grants") == 3);
	CHECK(count(db, "mailbox_entries") == 3);
	CHECK(uids[0] == 1 && uids[1] == 1 && uids[2] == 1);
	CHECK(q_int(db, "SELECT count(*) FROM mailbox_entries e"
	    " JOIN mailboxes m ON m.id = e.mailbox_id"
	    " JOIN grants g ON g.id = e.grant_id"
	    " WHERE m.name = 'INBOX' AND e.uid = 1 AND m.owner = g.grantee"
	    " AND m.uidnext = 2 AND m.highestmodseq = 2 AND e.modseq = 2"
	    " AND e.flags = '{}'", 0, NULL) == 3);
	CHECK(q_int(db, "SELECT count(DISTINCT token) FROM grants"
	    " WHERE length(token) = 16 AND state = 'active'"
	    " AND grantor_address = 'sender@remote.test'"
	    " AND grantor_auth = 'spf' AND subject = 'Hello three'",
	    0, NULL) == 3);
	p[0] = store_i64_str(idbuf, msg_id);
	CHECK(q_int(db, "SELECT count(*) FROM messages WHERE id = $1::bigint"
	    " AND header_len > 0 AND date = '2026-11-30 10:00:00+00'"
	    " AND envelope LIKE '(%Hello three%'", 1, p) == 1);

	/* a second message for alice only: uid 2 there, flags as given */
	memset(&d, 0, sizeof d);
	d.data = MSG1;
	d.len = sizeof MSG1 - 1;
	d.mail_from = "";
	d.grantor_auth = "local-append";
	d.rcpts = &ids[0];
	d.nrcpts = 1;
	d.mailbox = "Drafts";
	d.grant_state = "active";
	d.flags = "\\Seen  \\Draft";
	d.internaldate = 1700000000;
	d.uids_r = uids;
	CHECK_RC(store_deliver(db, &d), 0);
	CHECK(uids[0] == 1 && d.uidvalidity_r > 0 && d.message_id_r > msg_id);
	CHECK(q_int(db, "SELECT count(*) FROM mailbox_entries e"
	    " JOIN mailboxes m ON m.id = e.mailbox_id WHERE m.name = 'Drafts'"
	    " AND e.flags = '{\"\\\\Seen\",\"\\\\Draft\"}'"
	    " AND e.internaldate = to_timestamp(1700000000)", 0, NULL) == 1);
	CHECK(q_int(db, "SELECT uidvalidity FROM mailboxes WHERE"
	    " name = 'Drafts' AND owner = (SELECT id FROM principals WHERE"
	    " address = 'alice@example.test')", 0, NULL) ==
	    (int64_t)d.uidvalidity_r);

	/* unknown mailbox: nothing is stored */
	d.mailbox = "No Such Box";
	CHECK_RC(store_deliver(db, &d), CM_ENOTFOUND);
	CHECK(count(db, "messages") == 2);
	CHECK(count(db, "grants") == 4);
	/* no recipients */
	d.mailbox = "INBOX";
	d.nrcpts = 0;
	CHECK_RC(store_deliver(db, &d), CM_EINVAL);

	CHECK_RC(store_grant_list(db, "Bob@other.test", &g, &n), 0);
	CHECK(n == 1 && g != NULL && g[0].message_id == msg_id &&
	    strcmp(g[0].subject, "Hello three") == 0 &&
	    strcmp(g[0].state, "active") == 0 &&
	    strcmp(g[0].grantor_auth, "spf") == 0 &&
	    strcmp(g[0].grantor_address, "sender@remote.test") == 0 &&
	    g[0].size == sizeof MSG1 - 1 && g[0].created > 1700000000);
	store_grant_list_free(&g, n);
	CHECK(g == NULL);
	CHECK_RC(store_grant_list(db, "alice@example.test", &g, &n), 0);
	CHECK(n == 2);
	store_grant_list_free(&g, n);
	CHECK_RC(store_grant_list(db, "nobody@example.test", &g, &n),
	    CM_ENOTFOUND);
}

/* \Recent: first_recent_uid, the claim (SELECT) and the look (EXAMINE),
 * and STATUS RECENT, on a fresh mailbox of carol's. */
static void test_recent(struct store_conn *db, const int64_t ids[3])
{
	struct store_mailbox mb;
	struct store_mailbox_status st;
	struct store_delivery d;
	struct store_conn *other;
	uint32_t uid = 0, first = 0;

	CHECK_RC(store_mailbox_create(db, ids[2], "Recent"), 0);
	CHECK_RC(store_mailbox_get(db, ids[2], "Recent", &mb), 0);
	memset(&d, 0, sizeof d);
	d.data = MSG1;
	d.len = sizeof MSG1 - 1;
	d.mail_from = "";
	d.grantor_auth = "local-append";
	d.rcpts = &ids[2];
	d.nrcpts = 1;
	d.mailbox = "Recent";
	d.grant_state = "active";
	d.flags = "";
	d.uids_r = &uid;
	CHECK_RC(store_deliver(db, &d), 0);
	CHECK_RC(store_deliver(db, &d), 0);
	CHECK(uid == 2);
	CHECK_RC(store_mailbox_status(db, ids[2], "Recent", &st), 0);
	CHECK(st.messages == 2 && st.recent == 2 && st.uidnext == 3);

	/* EXAMINE looks: [1, 3) recent for it, and still for the next */
	CHECK_RC(store_mailbox_recent(db, ids[2], mb.id, 3, 0, &first), 0);
	CHECK(first == 1);
	CHECK_RC(store_mailbox_recent(db, ids[2], mb.id, 3, 0, &first), 0);
	CHECK(first == 1);
	/* SELECT claims [1, 3); a second session (connection) gets none */
	CHECK_RC(store_mailbox_recent(db, ids[2], mb.id, 3, 1, &first), 0);
	CHECK(first == 1);
	CHECK_RC(store_mailbox_status(db, ids[2], "Recent", &st), 0);
	CHECK(st.messages == 2 && st.recent == 0);
	other = store_connect(conninfo, NULL, 0);
	CHECK(other != NULL);
	if (other != NULL) {
		CHECK_RC(store_mailbox_recent(other, ids[2], mb.id, 3, 1,
		    &first), 0);
		CHECK(first == 3);	/* [3, 3): nothing */
	}

	/* a third message: recent again, claimed by whoever sees it first */
	CHECK_RC(store_deliver(db, &d), 0);
	CHECK(uid == 3);
	CHECK_RC(store_mailbox_status(db, ids[2], "Recent", &st), 0);
	CHECK(st.messages == 3 && st.recent == 1);
	/* a stale bound never moves first_recent_uid back */
	CHECK_RC(store_mailbox_recent(db, ids[2], mb.id, 2, 1, &first), 0);
	CHECK(first == 3);
	CHECK_RC(store_mailbox_recent(db, ids[2], mb.id, 3, 0, &first), 0);
	CHECK(first == 3);
	if (other != NULL) {
		CHECK_RC(store_mailbox_recent(other, ids[2], mb.id, 4, 1,
		    &first), 0);
		CHECK(first == 3);	/* [3, 4) is the other's */
		store_disconnect(&other);
	}
	CHECK_RC(store_mailbox_recent(db, ids[2], mb.id, 4, 1, &first), 0);
	CHECK(first == 4);
	/* a bound past uidnext claims nothing that has not arrived */
	CHECK_RC(store_mailbox_recent(db, ids[2], mb.id, 100, 1, &first), 0);
	CHECK(first == 4);
	CHECK_RC(store_mailbox_recent(db, ids[2], mb.id, 100, 0, &first), 0);
	CHECK(first == 4);
	CHECK_RC(store_deliver(db, &d), 0);
	CHECK_RC(store_mailbox_status(db, ids[2], "Recent", &st), 0);
	CHECK(uid == 4 && st.messages == 4 && st.recent == 1);

	/* only the owner's mailbox */
	CHECK_RC(store_mailbox_recent(db, ids[0], mb.id, 5, 1, &first),
	    CM_ENOTFOUND);
	CHECK_RC(store_mailbox_recent(db, ids[2], mb.id, 5, 0, &first), 0);
	CHECK(first == 4);
	store_mailbox_clear(&mb);
}

/* A multipart/mixed message with a text part and the given base64
 * attachment body. */
static char *with_attachment(const char *text, const char *b64, size_t *len_r)
{
	struct buf b;

	buf_init(&b, 1 << 20);
	if (buf_printf(&b,
	    "From: a@remote.test\r\nTo: alice@example.test\r\n"
	    "Subject: attachment\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=\"XyZ\"\r\n\r\n"
	    "preamble\r\n--XyZ\r\nContent-Type: text/plain\r\n\r\n%s\r\n"
	    "--XyZ\r\nContent-Type: application/octet-stream\r\n"
	    "Content-Transfer-Encoding: base64\r\n"
	    "Content-Disposition: attachment; filename=\"a.bin\"\r\n\r\n"
	    "%s\r\n--XyZ--\r\n", text, b64) != 0) {
		buf_free(&b);
		return NULL;
	}
	return buf_take(&b, len_r);
}

static void test_dedup(struct store_conn *db, const int64_t ids[3])
{
	unsigned char raw[7680];
	unsigned char line[80];
	struct buf b64;
	char *m1, *m2;
	size_t l1 = 0, l2 = 0;
	int64_t id1 = 0, id2 = 0, objs_before, big_before;
	uint32_t uid;
	char b1[STORE_I64_STRLEN], b2[STORE_I64_STRLEN];
	const char *p[2];

	/* 7680 random bytes -> 10240 base64 characters, 76 per line */
	CHECK(RAND_bytes(raw, sizeof raw) == 1);
	buf_init(&b64, 1 << 20);
	for (size_t off = 0; off < sizeof raw; off += 57) {
		size_t n = sizeof raw - off < 57 ? sizeof raw - off : 57;
		int w = EVP_EncodeBlock(line, raw + off, (int)n);

		CHECK(buf_add(&b64, line, (size_t)w) == 0);
		if (off + 57 < sizeof raw)
			CHECK(buf_add(&b64, "\r\n", 2) == 0);
	}
	CHECK(b64.len > 10240);
	m1 = with_attachment("first message", b64.data, &l1);
	m2 = with_attachment("a different second message", b64.data, &l2);
	CHECK(m1 != NULL && m2 != NULL);
	if (m1 == NULL || m2 == NULL)
		goto out;

	objs_before = count(db, "objects");
	big_before = q_int(db, "SELECT count(*) FROM objects"
	    " WHERE size >= 10000", 0, NULL);
	CHECK_RC(deliver1(db, m1, l1, &ids[0], 1, &uid, &id1), 0);
	CHECK_RC(deliver1(db, m2, l2, &ids[1], 1, &uid, &id2), 0);
	/* the attachment is one object, referenced by both messages */
	CHECK(q_int(db, "SELECT count(*) FROM objects WHERE size >= 10000",
	    0, NULL) == big_before + 1);
	p[0] = store_i64_str(b1, id1);
	p[1] = store_i64_str(b2, id2);
	CHECK(q_int(db, "SELECT count(*) FROM message_segments a"
	    " JOIN message_segments b ON a.object_hash = b.object_hash"
	    " JOIN objects o ON o.hash = a.object_hash"
	    " WHERE a.message_id = $1::bigint AND b.message_id = $2::bigint"
	    " AND o.size >= 10000", 2, p) == 1);
	/* each message has 3 segments (before, attachment, after); the
	 * second adds only its own first one: the attachment and the tail
	 * after it ("\r\n--XyZ--\r\n" or so) are the same bytes */
	CHECK(q_int(db, "SELECT count(*) FROM message_segments"
	    " WHERE message_id = $1::bigint", 1, p) == 3);
	CHECK(count(db, "objects") == objs_before + 4);
	/* the shared object holds exactly the attachment's body bytes */
	{
		PGresult *res;
		const char *q[1] = { p[0] };

		if (store_query(db, "SELECT o.data FROM message_segments s"
		    " JOIN objects o ON o.hash = s.object_hash"
		    " WHERE s.message_id = $1::bigint AND s.seq = 1",
		    1, q, NULL, NULL, 1, &res) == 0) {
			size_t len = (size_t)PQgetlength(res, 0, 0);
			const char *data = PQgetvalue(res, 0, 0);

			CHECK(len >= b64.len && len <= b64.len + 2);
			CHECK(memcmp(data, b64.data, b64.len) == 0);
			PQclear(res);
		} else {
			CHECK(!"segment query");
		}
	}
	/* message_parts: the two children of the multipart */
	CHECK(q_int(db, "SELECT count(*) FROM message_parts WHERE"
	    " message_id = $1::bigint AND path IN ('1', '2')"
	    " AND hdr_off < body_off AND body_off <= end_off", 1, p) == 2);

	{
		size_t got = 0;
		char *a = reassemble(db, id1, &got);

		CHECK(a != NULL && got == l1 && memcmp(a, m1, l1) == 0);
		free(a);
		a = reassemble(db, id2, &got);
		CHECK(a != NULL && got == l2 && memcmp(a, m2, l2) == 0);
		free(a);
	}
	/* smaller segments than the minimum are not cut out */
	{
		size_t saved = store_segment_min;
		int64_t id3 = 0;

		store_segment_min = 1 << 20;
		CHECK_RC(deliver1(db, m1, l1, &ids[2], 1, &uid, &id3), 0);
		p[0] = store_i64_str(b1, id3);
		CHECK(q_int(db, "SELECT count(*) FROM message_segments"
		    " WHERE message_id = $1::bigint", 1, p) == 1);
		store_segment_min = saved;
	}
out:
	free(m1);
	free(m2);
	buf_free(&b64);
}

static void test_roundtrip(struct store_conn *db, const int64_t ids[3])
{
	static const char no_crlf[] =
	    "Subject: no final line end\r\n\r\nbody without CRLF";
	static const char no_sep[] =
	    "Subject: only a header\r\nFrom: x@remote.test\r\n";
	static const char no_sep2[] = "Subject: header, no line end";
	static const char body_only[] = "\r\njust a body\r\n";
	static const char bare_lf[] = "Subject: lf\n\nbody\nline\n";
	static const char bin[] = "Subject: nul\r\n\r\na\0b\0\r\n\xff\xfe";
	static const char latin1[] =
	    "Subject: caf\xe9 \xff\xc3\r\nFrom: \xe9@x\r\n\r\nbody\r\n";
	char *big;
	size_t biglen = 300000;

	check_roundtrip(db, &ids[0], "no trailing CRLF", no_crlf,
	    sizeof no_crlf - 1);
	check_roundtrip(db, &ids[0], "no separator", no_sep, sizeof no_sep - 1);
	check_roundtrip(db, &ids[0], "no separator, no CRLF", no_sep2,
	    sizeof no_sep2 - 1);
	check_roundtrip(db, &ids[0], "body only", body_only,
	    sizeof body_only - 1);
	check_roundtrip(db, &ids[0], "bare LF", bare_lf, sizeof bare_lf - 1);
	check_roundtrip(db, &ids[0], "NUL bytes", bin, sizeof bin - 1);
	check_roundtrip(db, &ids[0], "8-bit header", latin1,
	    sizeof latin1 - 1);
	check_roundtrip(db, &ids[0], "empty", "", 0);
	/* the 8-bit subject is stored with each invalid byte as '?' */
	CHECK(q_int(db, "SELECT count(*) FROM grants"
	    " WHERE subject = 'caf? ?\?'", 0, NULL) == 1);

	/* nested multiparts and an attached message, cut at every leaf */
	{
		static const char nested[] =
		    "Subject: nested\r\nMIME-Version: 1.0\r\n"
		    "Content-Type: multipart/mixed; boundary=a\r\n\r\n"
		    "--a\r\nContent-Type: multipart/alternative; boundary=b"
		    "\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nplain"
		    "\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>html"
		    "\r\n--b--\r\n--a\r\nContent-Type: message/rfc822\r\n"
		    "\r\nSubject: inner\r\nContent-Type: multipart/mixed;"
		    " boundary=c\r\n\r\n--c\r\n\r\ninner one\r\n--c\r\n"
		    "Content-Type: application/octet-stream\r\n\r\nAAAA"
		    "\r\n--c--\r\n--a--\r\nepilogue";
		size_t saved = store_segment_min;

		store_segment_min = 1;
		check_roundtrip(db, &ids[0], "nested, every leaf cut", nested,
		    sizeof nested - 1);
		CHECK(q_int(db, "SELECT count(*) FROM message_segments"
		    " WHERE message_id = (SELECT max(id) FROM messages)",
		    0, NULL) >= 9);
		store_segment_min = 0;
		check_roundtrip(db, &ids[0], "nested, minimum 0", nested,
		    sizeof nested - 1);
		store_segment_min = saved;
	}

	/* a value the schema refuses: an error, and nothing is stored */
	{
		int64_t before = count(db, "messages");
		struct store_delivery d = {
			.data = MSG1, .len = sizeof MSG1 - 1, .mail_from = "",
			.grantor_auth = "bogus", .rcpts = &ids[0], .nrcpts = 1,
			.mailbox = "INBOX", .grant_state = "held", .flags = "",
		};

		CHECK_RC(store_deliver(db, &d), CM_EDB);
		CHECK(count(db, "messages") == before);
		d.grantor_auth = "dkim";
		CHECK_RC(store_deliver(db, &d), 0);
		/* the held message and its summary for the Held mailbox */
		CHECK(count(db, "messages") == before + 2);
		CHECK(q_int(db, "SELECT count(*) FROM grants WHERE"
		    " state = 'held' AND grantor_auth = 'dkim'", 0, NULL) == 1);
	}

	/* a large single-part message: one leaf body, its own segment */
	big = malloc(biglen);
	CHECK(big != NULL);
	if (big == NULL)
		return;
	memcpy(big, "Subject: big\r\n\r\n", 16);
	for (size_t i = 16; i < biglen; i++)
		big[i] = (i % 78 == 76) ? '\r' : (i % 78 == 77) ? '\n' :
		    (char)('a' + i % 26);
	check_roundtrip(db, &ids[1], "large", big, biglen);
	free(big);
}

/* ---- store_run on a libuv loop ---- */

struct job {
	const char *msg;
	size_t len;
	int64_t rcpt;
	uint32_t uid;
	const int64_t *rcpts;	/* several recipients instead of rcpt */
	size_t nrcpts;
	uint32_t uids[3];
	int rc;
	int done;
	int worked;
	uv_thread_t loop_thread;
	int on_loop;
	int64_t n;	/* count_work's answer */
};

static int job_work(struct store_conn *db, void *arg)
{
	struct job *j = arg;

	j->worked = 1;
	if (j->rcpts != NULL)
		return deliver1(db, j->msg, j->len, j->rcpts, j->nrcpts,
		    j->uids, NULL);
	return deliver1(db, j->msg, j->len, &j->rcpt, 1, &j->uid, NULL);
}

static void job_done(void *arg, int rc)
{
	struct job *j = arg;
	uv_thread_t self = uv_thread_self();

	j->rc = rc;
	j->done++;
	j->on_loop = uv_thread_equal(&self, &j->loop_thread);
}

static int count_work(struct store_conn *db, void *arg)
{
	struct job *j = arg;

	j->worked = 1;
	j->n = count(db, "messages");
	return j->n >= 0 ? 0 : CM_EDB;
}

static void test_run(const int64_t ids[3])
{
	enum { NJOBS = 7 };
	struct job jobs[NJOBS];
	struct store *st = store_new(conninfo, 2);
	uv_loop_t loop;
	int seen[NJOBS + 2] = { 0 };

	CHECK(st != NULL);
	if (st == NULL)
		return;
	CHECK(uv_loop_init(&loop) == 0);
	for (int i = 0; i < NJOBS; i++) {
		memset(&jobs[i], 0, sizeof jobs[i]);
		jobs[i].msg = MSG1;
		jobs[i].len = sizeof MSG1 - 1;
		jobs[i].rcpt = ids[2];
		jobs[i].rc = 12345;
		jobs[i].loop_thread = uv_thread_self();
		CHECK_RC(store_run(st, &loop, job_work, job_done, &jobs[i]), 0);
	}
	CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);
	/* carol had INBOX uid 1 (and 1 from the dedup test's third message):
	 * the seven deliveries got seven distinct uids after those */
	for (int i = 0; i < NJOBS; i++) {
		CHECK(jobs[i].done == 1 && jobs[i].rc == 0 && jobs[i].on_loop);
		CHECK(jobs[i].uid >= 3 && jobs[i].uid < 3 + NJOBS);
		if (jobs[i].uid >= 3 && jobs[i].uid < 3 + NJOBS)
			seen[jobs[i].uid - 3]++;
	}
	for (int i = 0; i < NJOBS; i++)
		CHECK(seen[i] == 1);

	/* Deliveries to the same three users named in opposite orders run
	 * at once without deadlocking (mailboxes are locked in id order),
	 * and uids_r follows the caller's order. */
	{
		const int64_t fwd[3] = { ids[0], ids[1], ids[2] };
		const int64_t rev[3] = { ids[2], ids[1], ids[0] };

		for (int i = 0; i < NJOBS; i++) {
			memset(&jobs[i], 0, sizeof jobs[i]);
			jobs[i].msg = MSG1;
			jobs[i].len = sizeof MSG1 - 1;
			jobs[i].rcpts = i % 2 ? rev : fwd;
			jobs[i].nrcpts = 3;
			jobs[i].rc = 12345;
			jobs[i].loop_thread = uv_thread_self();
			CHECK_RC(store_run(st, &loop, job_work, job_done,
			    &jobs[i]), 0);
		}
		CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);
		for (int i = 0; i < NJOBS; i++) {
			CHECK(jobs[i].done == 1 && jobs[i].rc == 0);
			if (jobs[i].rc != 0)
				fprintf(stderr, "  job %d: %s\n", i,
				    cm_errname(jobs[i].rc));
			/* carol's uids follow the first seven */
			CHECK(jobs[i].uids[i % 2 ? 0 : 2] >= 3 + NJOBS);
			CHECK(jobs[i].uids[0] > 0 && jobs[i].uids[1] > 0);
		}
	}

	/* the pool never opened more than its two connections */
	{
		struct store_conn *admin = store_connect(conninfo, NULL, 0);

		CHECK(admin != NULL);
		if (admin != NULL) {
			int64_t n = q_int(admin, "SELECT count(*) FROM"
			    " pg_stat_activity WHERE datname ="
			    " current_database() AND pid <> pg_backend_pid()"
			    " AND backend_type = 'client backend'", 0, NULL);

			CHECK(n >= 1 && n <= 2);
			store_disconnect(&admin);
		}
	}

	/* A killed backend: after a second of idleness the pool pings,
	 * reconnects and the request succeeds. */
	{
		struct store_conn *admin = store_connect(conninfo, NULL, 0);
		struct job j;

		CHECK(admin != NULL);
		if (admin != NULL) {
			CHECK(q_int(admin, "SELECT count(pg_terminate_backend("
			    "pid)) FROM pg_stat_activity WHERE"
			    " datname = current_database() AND"
			    " pid <> pg_backend_pid() AND"
			    " backend_type = 'client backend'", 0, NULL) >= 1);
			store_disconnect(&admin);
		}
		usleep(1200 * 1000);
		memset(&j, 0, sizeof j);
		j.n = -1;
		j.loop_thread = uv_thread_self();
		CHECK_RC(store_run(st, &loop, count_work, job_done, &j), 0);
		CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);
		CHECK(j.done == 1 && j.rc == 0 && j.on_loop && j.worked);
		CHECK(j.n > 0);
	}
	store_free(&st);
	CHECK(st == NULL);
	CHECK(uv_loop_close(&loop) == 0);
}

/* A connection killed under a synchronous user: the failing query says
 * CM_EDBDOWN, the next one reconnects. */
static void test_reconnect(void)
{
	struct store_conn *a = store_connect(conninfo, NULL, 0);
	struct store_conn *b = store_connect(conninfo, NULL, 0);
	char pidbuf[STORE_I64_STRLEN];
	const char *p[1];
	int64_t pid, id;

	CHECK(a != NULL && b != NULL);
	if (a == NULL || b == NULL)
		goto out;
	pid = q_int(b, "SELECT pg_backend_pid()", 0, NULL);
	p[0] = store_i64_str(pidbuf, pid);
	CHECK(q_int(a, "SELECT count(*) FROM pg_stat_activity"
	    " WHERE pg_terminate_backend($1::int)", 1, p) >= 0);
	usleep(200 * 1000);
	CHECK_RC(store_user_lookup(b, "alice@example.test", &id), CM_EDBDOWN);
	CHECK(store_errmsg(b)[0] != '\0');
	CHECK_RC(store_user_lookup(b, "alice@example.test", &id), 0);
	CHECK(q_int(b, "SELECT pg_backend_pid()", 0, NULL) != pid);

	/* Inside a transaction a lost connection is not replaced until the
	 * caller rolls back: nothing may run outside the transaction. */
	CHECK_RC(store_begin(b), 0);
	pid = q_int(b, "SELECT pg_backend_pid()", 0, NULL);
	p[0] = store_i64_str(pidbuf, pid);
	CHECK(q_int(a, "SELECT count(*) FROM pg_stat_activity"
	    " WHERE pg_terminate_backend($1::int)", 1, p) >= 0);
	usleep(200 * 1000);
	CHECK_RC(store_exec(b, "SELECT 1", 0, NULL, NULL), CM_EDBDOWN);
	CHECK_RC(store_exec(b, "SELECT 1", 0, NULL, NULL), CM_EDBDOWN);
	CHECK_RC(store_commit(b), CM_EDBDOWN);
	store_rollback(b);
	CHECK_RC(store_exec(b, "SELECT 1", 0, NULL, NULL), 0);
	/* a COMMIT of a failed transaction is not a success */
	CHECK_RC(store_begin(b), 0);
	CHECK(store_exec(b, "SELECT 1/0", 0, NULL, NULL) == CM_EDB);
	CHECK_RC(store_commit(b), CM_EDB);
	CHECK_RC(store_exec(b, "SELECT 1", 0, NULL, NULL), 0);
out:
	store_disconnect(&a);
	store_disconnect(&b);
	CHECK(a == NULL && b == NULL);
}

static int never_work(struct store_conn *db, void *arg)
{
	int *called = arg;

	*called = 1;
	return 0;
}

static int down_rc;
static int down_calls;

static void down_done(void *arg, int rc)
{
	(void)arg;
	down_rc = rc;
	down_calls++;
}

/* store_conn_take/give, for threads without a loop (capmail-verify):
 * connections are reused, a transaction left open is rolled back on the
 * way back, and a dead database shows as CM_EDBDOWN on the first call. */
static void test_take(void)
{
	struct store *st = store_new(conninfo, 2), *dead;
	struct store_conn *a, *b, *c;

	CHECK(st != NULL);
	if (st == NULL)
		return;
	a = store_conn_take(st);
	b = store_conn_take(st);
	CHECK(a != NULL && b != NULL && a != b);
	CHECK(q_int(a, "SELECT 41 + 1", 0, NULL) == 42);
	CHECK_RC(store_begin(b), 0);		/* left open */
	CHECK_RC(store_exec(b, "CREATE TEMP TABLE take_t (x int)", 0, NULL,
	    NULL), 0);
	store_conn_give(st, b);
	c = store_conn_take(st);		/* the idle one again */
	CHECK(c == b);
	/* the open transaction was rolled back: its table is gone */
	CHECK(q_int(c, "SELECT count(*) FROM pg_class WHERE relname ="
	    " 'take_t'", 0, NULL) == 0);
	store_conn_give(st, c);
	store_conn_give(st, a);
	store_free(&st);

	dead = store_new("host=/nonexistent-capmail port=5 dbname=capmail", 1);
	CHECK(dead != NULL);
	if (dead == NULL)
		return;
	a = store_conn_take(dead);
	CHECK(a != NULL);
	CHECK_RC(store_exec(a, "SELECT 1", 0, NULL, NULL), CM_EDBDOWN);
	store_conn_give(dead, a);
	a = store_conn_take(dead);		/* the slot came back */
	CHECK(a != NULL);
	store_conn_give(dead, a);
	store_free(&dead);
}

static void test_dbdown(void)
{
	/* a Unix socket folder where nothing listens, and a TCP port where
	 * nothing listens */
	static const char *const dead[] = {
		"host=/nonexistent-capmail port=5 dbname=capmail",
		"host=127.0.0.1 port=1 dbname=capmail connect_timeout=3",
	};
	char err[256] = "";

	for (size_t i = 0; i < 2; i++) {
		struct store *st = store_new(dead[i], 2);
		uv_loop_t loop;
		int called = 0;

		CHECK(store_connect(dead[i], err, sizeof err) == NULL);
		CHECK(err[0] != '\0');
		CHECK(st != NULL);
		if (st == NULL)
			continue;
		CHECK(uv_loop_init(&loop) == 0);
		down_rc = 0;
		down_calls = 0;
		CHECK_RC(store_run(st, &loop, never_work, down_done, &called),
		    0);
		CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);
		CHECK(down_calls == 1 && down_rc == CM_EDBDOWN && called == 0);
		store_free(&st);
		CHECK(uv_loop_close(&loop) == 0);
	}
}

/* ---- the outbound queue (store/outbound.c) ---- */

static const char OBMSG[] =
    "From: Alice <alice@example.test>\r\n"
    "To: x@remote.test, y@remote.test, bob@example.test\r\n"
    "Subject: Going out\r\n"
    "\r\n"
    "Queued once, granted to bob.\r\n";

static int64_t ob_q(struct store_conn *db, const char *sql, int64_t id)
{
	char b[STORE_I64_STRLEN];
	const char *p[1] = { store_i64_str(b, id) };

	return q_int(db, sql, 1, p);
}

static void test_outbound(struct store_conn *db, const int64_t ids[3])
{
	const char *ext[2] = { "x@remote.test", "y@remote.test" };
	const char *bad[1] = { "a b@remote.test" };
	struct store_delivery d = {
		.data = OBMSG, .len = sizeof OBMSG - 1,
		.mail_from = "alice@example.test", .grantor_auth = "local-auth",
		.rcpts = &ids[1], .nrcpts = 1, .mailbox = "INBOX",
		.grant_state = "active", .flags = "",
		.outbound_rcpts = ext, .noutbound = 2, .outbound_owner = ids[0],
	};
	struct store_outbound_item *it = NULL;
	struct store_outbound_info *info = NULL;
	struct store_conn *db2;
	struct buf b;
	int64_t item1, item2, msg1, msg2, grants0, msgs0;
	size_t n = 0;
	char err[256];

	/* the message is stored once, granted to bob, queued for x and y */
	{
		long due = 0;

		CHECK_RC(store_outbound_next_due(db, &due), 0);
		CHECK(due == -1);
	}
	grants0 = count(db, "grants");
	CHECK_RC(store_deliver(db, &d), 0);
	item1 = d.outbound_id_r;
	msg1 = d.message_id_r;
	CHECK(item1 > 0);
	CHECK(count(db, "grants") == grants0 + 1);
	CHECK(ob_q(db, "SELECT count(*) FROM outbound_rcpts WHERE"
	    " outbound_id = $1::bigint AND state = 'queued'", item1) == 2);
	CHECK(ob_q(db, "SELECT count(*) FROM outbound WHERE id = $1::bigint"
	    " AND message_id IS NOT NULL AND owner IS NOT NULL", item1) == 1);
	{
		long due = -5;

		CHECK_RC(store_outbound_next_due(db, &due), 0);
		CHECK(due == 0);
	}

	/* no local recipient, null sender, no owner: no grant at all */
	d.rcpts = NULL;
	d.nrcpts = 0;
	d.mail_from = "";
	d.outbound_rcpts = &ext[1];
	d.noutbound = 1;
	d.outbound_owner = 0;
	CHECK_RC(store_deliver(db, &d), 0);
	item2 = d.outbound_id_r;
	msg2 = d.message_id_r;
	CHECK(item2 > item1 && msg2 != msg1);
	CHECK(count(db, "grants") == grants0 + 1);

	/* a bad address stores nothing; enqueue wants a transaction */
	msgs0 = count(db, "messages");
	d.outbound_rcpts = bad;
	CHECK_RC(store_deliver(db, &d), CM_EINVAL);
	d.noutbound = 0;
	CHECK_RC(store_deliver(db, &d), CM_EINVAL);	/* no recipient */
	CHECK(count(db, "messages") == msgs0);
	CHECK_RC(store_outbound_enqueue(db, msg1, "", 0, ext, 1, NULL),
	    CM_EINVAL);
	CHECK(store_outbound_address_ok("x@y") == 0);
	CHECK(store_outbound_address_ok("<x@y>") == CM_EINVAL);
	CHECK(store_outbound_address_ok("x@y\r\nRCPT") == CM_EINVAL);
	CHECK(store_outbound_address_ok("") == CM_EINVAL);

	/* an item locked by another sender is skipped */
	db2 = store_connect(conninfo, err, sizeof err);
	CHECK(db2 != NULL);
	if (db2 != NULL) {
		char b1[STORE_I64_STRLEN];
		const char *p[1] = { store_i64_str(b1, item1) };

		CHECK_RC(store_begin(db2), 0);
		CHECK_RC(store_exec(db2, "SELECT 1 FROM outbound WHERE"
		    " id = $1::bigint FOR UPDATE", 1, p, NULL), 0);
		CHECK_RC(store_outbound_claim(db, 600, 10, &it, &n), 0);
		CHECK(n == 1 && it != NULL && it[0].id == item2);
		if (n == 1) {
			CHECK(it[0].nrcpts == 1 && it[0].owner == 0 &&
			    strcmp(it[0].mail_from, "") == 0 &&
			    strcmp(it[0].rcpts[0], "y@remote.test") == 0);
		}
		store_outbound_items_free(&it, n);
		store_rollback(db2);
		store_disconnect(&db2);
	}
	/* claimed: due only again after the lease (600 s) */
	CHECK_RC(store_outbound_claim(db, 600, 10, &it, &n), 0);
	CHECK(n == 1 && it[0].id == item1);
	if (n == 1) {
		CHECK(it[0].message_id == msg1 && it[0].owner == ids[0]);
		CHECK(it[0].attempts == 0 && it[0].nrcpts == 2);
		CHECK(strcmp(it[0].mail_from, "alice@example.test") == 0);
		CHECK(it[0].nrcpts == 2 &&
		    strcmp(it[0].rcpts[0], "x@remote.test") == 0 &&
		    strcmp(it[0].rcpts[1], "y@remote.test") == 0);
	}
	{
		struct store_outbound_item *none = NULL;
		size_t nn = 5;

		CHECK_RC(store_outbound_claim(db, 600, 10, &none, &nn), 0);
		CHECK(nn == 0 && none == NULL);
	}

	/* the bytes, from the stored segments */
	buf_init(&b, 1 << 20);
	CHECK_RC(store_outbound_message(db, msg1, &b), 0);
	CHECK(b.len == sizeof OBMSG - 1 && memcmp(b.data, OBMSG, b.len) == 0);
	CHECK_RC(store_outbound_message(db, 999999999, &b), CM_ENOTFOUND);
	buf_free(&b);

	/* x accepted, y 451: only y stays queued */
	if (n == 1 && it[0].nrcpts == 2) {
		struct store_outbound_result r[2] = {
			{ it[0].rcpt_ids[0], STORE_OUTBOUND_SENT,
			    "250 2.0.0 ok" },
			{ it[0].rcpt_ids[1], STORE_OUTBOUND_RETRY,
			    "451 4.3.0 try\r\nlater" },
		};
		CHECK_RC(store_outbound_finish(db, item1, r, 2,
		    time(NULL) + 3600, NULL), 0);
		/* the same recipient twice: no longer queued */
		CHECK_RC(store_outbound_finish(db, item1, r, 1,
		    time(NULL) + 3600, NULL), CM_ENOTFOUND);
	}
	store_outbound_items_free(&it, n);
	CHECK(ob_q(db, "SELECT attempts FROM outbound WHERE id = $1::bigint",
	    item1) == 1);
	{
		long due = -5;	/* item1 in an hour, item2 leased 600 s */

		CHECK_RC(store_outbound_next_due(db, &due), 0);
		CHECK(due >= 590 && due <= 600);
	}
	CHECK(ob_q(db, "SELECT count(*) FROM outbound WHERE id = $1::bigint"
	    " AND state = 'queued' AND next_attempt > now() + interval '50 min'",
	    item1) == 1);
	CHECK(ob_q(db, "SELECT count(*) FROM outbound_rcpts WHERE"
	    " outbound_id = $1::bigint AND address = 'y@remote.test' AND"
	    " attempts = 1 AND state = 'queued' AND"
	    " last_error = '451 4.3.0 try later'", item1) == 1);

	/* flush makes it due; the claim has y only; 550 fails it with a
	 * bounce to alice, in the same transaction */
	CHECK_RC(store_outbound_flush(db, item1), 1);
	CHECK_RC(store_outbound_claim(db, 600, 10, &it, &n), 0);
	CHECK(n == 1 && it[0].id == item1 && it[0].attempts == 1 &&
	    it[0].nrcpts == 1 && strcmp(it[0].rcpts[0], "y@remote.test") == 0);
	if (n == 1 && it[0].nrcpts == 1) {
		static const char bmsg[] = "From: MAILER-DAEMON@example.test\r\n"
		    "Subject: Undelivered\r\n\r\nbounce\r\n";
		struct store_outbound_result r = { it[0].rcpt_ids[0],
		    STORE_OUTBOUND_FAILED, "550 5.1.1 no such user" };
		struct store_delivery bd = {
			.data = bmsg, .len = sizeof bmsg - 1, .mail_from = "",
			.grantor_auth = "none", .rcpts = &ids[0], .nrcpts = 1,
			.mailbox = "INBOX", .grant_state = "active",
			.flags = "",
		};
		int64_t g0 = count(db, "grants");

		CHECK_RC(store_outbound_finish(db, item1, &r, 1, time(NULL),
		    &bd), 0);
		CHECK(bd.message_id_r > 0);
		CHECK(count(db, "grants") == g0 + 1);
		CHECK(ob_q(db, "SELECT count(*) FROM grants WHERE"
		    " message_id = $1::bigint AND grantee = (SELECT owner FROM"
		    " outbound WHERE state = 'failed' AND attempts = 2)",
		    bd.message_id_r) == 1);
	}
	store_outbound_items_free(&it, n);

	/* item2 sent: state sent */
	CHECK_RC(store_outbound_flush(db, 0), 1);
	CHECK_RC(store_outbound_claim(db, 600, 10, &it, &n), 0);
	CHECK(n == 1 && it[0].id == item2);
	if (n == 1 && it[0].nrcpts == 1) {
		struct store_outbound_result r = { it[0].rcpt_ids[0],
		    STORE_OUTBOUND_SENT, "250 ok" };

		CHECK_RC(store_outbound_finish(db, item2, &r, 1, time(NULL),
		    NULL), 0);
	}
	store_outbound_items_free(&it, n);
	CHECK(ob_q(db, "SELECT count(*) FROM outbound WHERE id = $1::bigint"
	    " AND state = 'sent'", item2) == 1);
	CHECK_RC(store_outbound_flush(db, 0), 0);

	/* list */
	CHECK_RC(store_outbound_list(db, 1, &info, &n), 0);
	CHECK(n == 0);
	store_outbound_list_free(&info, n);
	CHECK_RC(store_outbound_list(db, 0, &info, &n), 0);
	CHECK(n == 2);
	if (n == 2) {
		CHECK(info[0].id == item1 && strcmp(info[0].state, "failed") == 0);
		CHECK(strcmp(info[0].owner, "alice@example.test") == 0);
		CHECK(info[0].nrcpts == 2 && info[0].size == sizeof OBMSG - 1);
		CHECK(info[0].nrcpts == 2 &&
		    strcmp(info[0].rcpts[0].state, "sent") == 0 &&
		    strcmp(info[0].rcpts[1].state, "failed") == 0 &&
		    info[0].rcpts[1].attempts == 2 &&
		    strcmp(info[0].rcpts[1].last_error,
		    "550 5.1.1 no such user") == 0);
		CHECK(info[1].id == item2 && strcmp(info[1].state, "sent") == 0 &&
		    strcmp(info[1].mail_from, "") == 0 &&
		    strcmp(info[1].owner, "") == 0 && info[1].nrcpts == 1);
	}
	store_outbound_list_free(&info, n);
	CHECK(info == NULL);

	/* delete: the queued-only message goes with its item, a granted
	 * one stays */
	CHECK_RC(store_outbound_delete(db, item2), 0);
	CHECK_RC(store_outbound_delete(db, item2), CM_ENOTFOUND);
	CHECK(ob_q(db, "SELECT count(*) FROM messages WHERE id = $1::bigint",
	    msg2) == 0);
	CHECK_RC(store_outbound_delete(db, item1), 0);
	CHECK(ob_q(db, "SELECT count(*) FROM messages WHERE id = $1::bigint",
	    msg1) == 1);
	CHECK(count(db, "outbound_rcpts") == 0);
	/* and no object is left that no message uses */
	CHECK(q_int(db, "SELECT count(*) FROM objects o WHERE NOT EXISTS"
	    " (SELECT 1 FROM message_segments s WHERE s.object_hash = o.hash)",
	    0, NULL) == 0);

	/* purge: finished items older than the time kept, and their
	 * messages when only queued */
	d.rcpts = NULL;
	d.nrcpts = 0;
	d.mail_from = "";
	d.outbound_rcpts = ext;
	d.noutbound = 1;
	d.outbound_owner = 0;
	/* bytes no other message has: its object must go with it */
	d.data = "Subject: purged\r\n\r\nqueued only, then purged\r\n";
	d.len = strlen(d.data);
	CHECK_RC(store_deliver(db, &d), 0);
	item2 = d.outbound_id_r;
	msg2 = d.message_id_r;
	CHECK_RC(store_outbound_purge(db, 3600), 0);	/* still queued */
	CHECK_RC(store_outbound_claim(db, 600, 10, &it, &n), 0);
	CHECK(n == 1 && it[0].id == item2);
	if (n == 1 && it[0].nrcpts == 1) {
		struct store_outbound_result r = { it[0].rcpt_ids[0],
		    STORE_OUTBOUND_SENT, "250 ok" };

		CHECK_RC(store_outbound_finish(db, item2, &r, 1, time(NULL),
		    NULL), 0);
	}
	store_outbound_items_free(&it, n);
	CHECK_RC(store_outbound_purge(db, 3600), 0);	/* just now */
	CHECK(ob_q(db, "SELECT count(*) FROM outbound WHERE id = $1::bigint",
	    item2) == 1);
	{
		char b1[STORE_I64_STRLEN];
		const char *p[1] = { store_i64_str(b1, item2) };

		CHECK_RC(store_exec(db, "UPDATE outbound_rcpts SET updated ="
		    " updated - interval '2 hours' WHERE outbound_id = $1::bigint",
		    1, p, NULL), 0);
	}
	CHECK_RC(store_outbound_purge(db, 3600), 1);
	CHECK(ob_q(db, "SELECT count(*) FROM messages WHERE id = $1::bigint",
	    msg2) == 0);
	CHECK(count(db, "outbound") == 0);
	CHECK(q_int(db, "SELECT count(*) FROM objects o WHERE NOT EXISTS"
	    " (SELECT 1 FROM message_segments s WHERE s.object_hash = o.hash)",
	    0, NULL) == 0);
	CHECK_RC(store_outbound_purge(db, 0), 0);

	/* the retry schedule */
	CHECK(store_outbound_delay(1, 60, 14400) == 60);
	CHECK(store_outbound_delay(2, 60, 14400) == 300);
	CHECK(store_outbound_delay(3, 60, 14400) == 900);
	CHECK(store_outbound_delay(7, 60, 14400) == 14400);
	CHECK(store_outbound_delay(100, 60, 14400) == 14400);
	CHECK(store_outbound_delay(0, 60, 14400) == 60);
	CHECK(store_outbound_delay(5, 1, 30) == 30);
	CHECK(store_outbound_delay(2, 1, 30) == 5);
	CHECK(store_outbound_delay(7, 1000000000L, 2000000000L) == 2000000000L);
}

static const char HELDMSG[] =
    "From: stranger@far.test\r\nSubject: hello\r\n\r\nheld body\r\n";

static enum store_sender_verdict verdict(struct store_conn *db, int64_t rcpt,
    const char *sender)
{
	enum store_sender_verdict v = 99;

	CHECK_RC(store_sender_check(db, rcpt, sender, &v), 0);
	return v;
}

/* Sender policy, rules, held grants (no entry until released, then a new
 * uid), challenges (one a sender a day, queued with <>), confirm (used
 * once, expired refused), expiry (grants, messages, objects). */
static void test_senders(struct store_conn *db)
{
	struct store_delivery d = {
		.data = HELDMSG, .len = sizeof HELDMSG - 1,
		.mail_from = "Stranger@Far.test", .grantor_auth = "spf",
		.nrcpts = 2, .mailbox = "INBOX", .grant_state = "active",
		.flags = "",
	};
	unsigned char held[2] = { 1, 0 }, th[STORE_TOKEN_HASH_LEN],
	    th2[STORE_TOKEN_HASH_LEN];
	struct store_sender_rule *r = NULL;
	struct store_challenge_info info;
	int64_t alice, bob, rc2[2], uidnext0, entries0, ob0, objs0, msgs0;
	uint32_t uids[2];
	char pat[300], *log = NULL;
	size_t n = 0, released = 0;

	CHECK_RC(store_user_lookup(db, "alice@example.test", &alice), 0);
	CHECK_RC(store_user_lookup(db, "bob@other.test", &bob), 0);

	CHECK_RC(store_sender_pattern_normalize("@Far.TEST", pat, sizeof pat),
	    0);
	CHECK(strcmp(pat, "@far.test") == 0);
	CHECK_RC(store_sender_pattern_normalize("@a@b", pat, sizeof pat),
	    CM_EINVAL);
	CHECK_RC(store_sender_pattern_normalize("@", pat, sizeof pat),
	    CM_EINVAL);
	CHECK_RC(store_sender_pattern_normalize("x\xff@b", pat, sizeof pat),
	    CM_EINVAL);

	/* default verify-unknown: unknown held, <> held */
	CHECK(verdict(db, alice, "stranger@far.test") == STORE_SENDER_HOLD);
	CHECK(verdict(db, alice, "") == STORE_SENDER_HOLD);
	CHECK_RC(store_domain_policy_set(db, "example.test", "known-only"), 0);
	CHECK_RC(store_domain_policy_set(db, "example.test", "bogus"),
	    CM_EINVAL);
	CHECK_RC(store_domain_policy_set(db, "nowhere.test", "open"),
	    CM_ENOTFOUND);
	CHECK(verdict(db, alice, "stranger@far.test") == STORE_SENDER_REFUSE);
	CHECK(verdict(db, alice, "") == STORE_SENDER_HOLD);	/* bounces */
	CHECK_RC(store_user_policy_set(db, "alice@example.test", "open"), 0);
	CHECK(verdict(db, alice, "") == STORE_SENDER_ACCEPT);
	CHECK(verdict(db, alice, "stranger@far.test") == STORE_SENDER_ACCEPT);
	CHECK_RC(store_user_policy_set(db, "alice@example.test", "domain"), 0);
	CHECK(verdict(db, alice, "stranger@far.test") == STORE_SENDER_REFUSE);
	CHECK_RC(store_user_policy_set(db, "nobody@example.test", "open"),
	    CM_ENOTFOUND);
	CHECK_RC(store_domain_policy_set(db, "example.test",
	    "verify-unknown"), 0);

	/* rules: organisation-wide domain block, the user's address allow
	 * wins for alice; block beats policy open */
	CHECK_RC(store_sender_rule_set(db, NULL, "@spam.test", "block"), 0);
	CHECK_RC(store_sender_rule_set(db, "alice@example.test",
	    "friend@spam.test", "allow"), 0);
	CHECK(verdict(db, alice, "friend@spam.test") == STORE_SENDER_ACCEPT);
	CHECK(verdict(db, bob, "friend@spam.test") == STORE_SENDER_BLOCK);
	CHECK(verdict(db, alice, "other@SPAM.test") == STORE_SENDER_BLOCK);
	CHECK_RC(store_sender_rule_set(db, "nobody@example.test", "x@y.test",
	    "allow"), CM_ENOTFOUND);
	CHECK_RC(store_sender_rule_set(db, NULL, "x@y.test", "maybe"),
	    CM_EINVAL);
	/* learned never replaces allow or block */
	CHECK_RC(store_sender_learn(db, alice, "Friend@spam.test"), 0);
	CHECK_RC(store_sender_learn(db, alice, "pen@pal.test"), 0);
	CHECK_RC(store_sender_rule_list(db, "alice@example.test", &r, &n), 0);
	CHECK(n == 2 && strcmp(r[0].pattern, "friend@spam.test") == 0 &&
	    strcmp(r[0].kind, "allow") == 0 &&
	    strcmp(r[1].kind, "learned") == 0);
	store_sender_rule_list_free(&r, n);
	CHECK(verdict(db, alice, "pen@pal.test") == STORE_SENDER_ACCEPT);
	CHECK_RC(store_sender_rule_list(db, NULL, &r, &n), 0);
	CHECK(n == 3 && strcmp(r[0].owner, "") == 0);
	store_sender_rule_list_free(&r, n);
	CHECK_RC(store_sender_rule_forget(db, "alice@example.test",
	    "pen@pal.test"), 0);
	CHECK_RC(store_sender_rule_forget(db, "alice@example.test",
	    "pen@pal.test"), CM_ENOTFOUND);
	CHECK(verdict(db, alice, "pen@pal.test") == STORE_SENDER_HOLD);

	/* held for alice, active for bob: alice gets no entry, no uid */
	rc2[0] = alice;
	rc2[1] = bob;
	d.rcpts = rc2;
	d.rcpt_held = held;
	d.uids_r = uids;
	uidnext0 = q_int(db, "SELECT uidnext FROM mailboxes m JOIN principals"
	    " p ON p.id = m.owner WHERE p.address = 'alice@example.test'"
	    " AND m.name = 'INBOX'", 0, NULL);
	entries0 = count(db, "mailbox_entries");
	CHECK_RC(store_deliver(db, &d), 0);
	CHECK(uids[0] == 0 && uids[1] > 0);
	/* bob's INBOX entry, and the summary in alice's Held */
	CHECK(count(db, "mailbox_entries") == entries0 + 2);
	CHECK(q_int(db, "SELECT count(*) FROM grants WHERE state = 'held'"
	    " AND grantor_address ILIKE '%far.test'",
	    0, NULL) == 1);
	CHECK_RC(store_deliver(db, &d), 0);	/* a second one */
	CHECK(q_int(db, "SELECT count(*) FROM grants WHERE state = 'held'"
	    " AND grantor_address ILIKE '%far.test'",
	    0, NULL) == 2);

	/* one challenge a sender a day */
	ob0 = count(db, "outbound");
	memset(th, 7, sizeof th);
	memset(th2, 8, sizeof th2);
	CHECK(store_challenge_create(db, "Stranger@far.test", alice, th,
	    time(NULL) + 3600, "Subject: c\r\n\r\nx\r\n", 17) == 1);
	CHECK(store_challenge_create(db, "stranger@far.test", alice, th2,
	    time(NULL) + 3600, "Subject: c\r\n\r\nx\r\n", 17) == 0);
	CHECK(count(db, "outbound") == ob0 + 1);
	CHECK(count(db, "challenges") == 1);
	CHECK(q_int(db, "SELECT count(*) FROM outbound o JOIN outbound_rcpts r"
	    " ON r.outbound_id = o.id WHERE o.mail_from = '' AND"
	    " r.address = 'Stranger@far.test' AND o.owner IS NULL",	/* as given */
	    0, NULL) == 1);
	CHECK_RC(store_challenge_info(db, th2, &info), CM_ENOTFOUND);
	CHECK_RC(store_challenge_info(db, th, &info), 0);
	CHECK(info.sender != NULL && strcmp(info.sender,
	    "stranger@far.test") == 0 && strcmp(info.recipient,
	    "alice@example.test") == 0 && info.held == 2 && !info.used &&
	    !info.expired);
	store_challenge_info_clear(&info);

	/* confirm: verified, released with new uids, once */
	CHECK_RC(store_challenge_confirm(db, th2, &released), CM_ENOTFOUND);
	CHECK_RC(store_challenge_confirm(db, th, &released), 0);
	CHECK(released == 2);
	CHECK(q_int(db, "SELECT count(*) FROM grants WHERE state = 'held'"
	    " AND grantor_address ILIKE '%far.test'",
	    0, NULL) == 0);
	CHECK(count(db, "mailbox_entries") == entries0 + 4);
	CHECK(q_int(db, "SELECT min(e.uid) FROM mailbox_entries e"
	    " JOIN mailboxes m ON m.id = e.mailbox_id JOIN principals p"
	    " ON p.id = m.owner WHERE p.address = 'alice@example.test'"
	    " AND m.name = 'INBOX' AND e.uid >= $1::bigint", 1,
	    (const char *[]){ "0" }) >= 1);
	CHECK(q_int(db, "SELECT uidnext FROM mailboxes m JOIN principals"
	    " p ON p.id = m.owner WHERE p.address = 'alice@example.test'"
	    " AND m.name = 'INBOX'", 0, NULL) == uidnext0 + 2);
	CHECK(verdict(db, alice, "stranger@far.test") == STORE_SENDER_ACCEPT);
	CHECK(verdict(db, bob, "stranger@far.test") == STORE_SENDER_HOLD);
	CHECK_RC(store_challenge_confirm(db, th, &released), CM_EEXIST);
	CHECK_RC(store_challenge_info(db, th, &info), 0);
	CHECK(info.used == 1 && info.held == 0);
	store_challenge_info_clear(&info);

	/* an expired challenge (another sender) is refused */
	d.mail_from = "late@far.test";
	CHECK_RC(store_deliver(db, &d), 0);
	CHECK(store_challenge_create(db, "late@far.test", alice, th2,
	    time(NULL) - 10, "Subject: c\r\n\r\nx\r\n", 17) == 1);
	CHECK_RC(store_challenge_confirm(db, th2, &released), CM_EPERM);
	CHECK_RC(store_challenge_info(db, th2, &info), 0);
	CHECK(info.expired == 1 && info.held == 1);
	store_challenge_info_clear(&info);

	/* held release without a challenge (capmailctl held release) */
	CHECK(store_held_release(db, "LATE@far.test", bob) == 0);
	CHECK(store_held_release(db, "late@far.test", alice) == 1);

	/* expiry: a held grant made old, its message and objects go */
	d.mail_from = "old@far.test";
	d.nrcpts = 1;
	d.data = "Subject: old\r\n\r\nonly here\r\n";
	d.len = strlen(d.data);
	CHECK_RC(store_deliver(db, &d), 0);
	CHECK_RC(store_exec(db, "UPDATE grants SET created = now() -"
	    " interval '15 days' WHERE grantor_address = 'old@far.test'", 0, NULL, NULL), 0);
	msgs0 = count(db, "messages");
	objs0 = count(db, "objects");
	CHECK(store_held_expire(db, 14 * 86400, &log) == 1);
	CHECK(log != NULL && strstr(log, "to=alice@example.test"
	    " from=<old@far.test>") != NULL);
	free(log);
	log = NULL;
	/* the message and its summary */
	CHECK(count(db, "messages") == msgs0 - 2);
	/* its one object was used by no other message, nor the summary's */
	CHECK(count(db, "objects") == objs0 - 2);
	CHECK(store_held_expire(db, 14 * 86400, &log) == 0 && log == NULL);
}


/* ---- two confirmations of one link at once ---- */

struct confirm_job {
	const unsigned char *th;
	int rc;
	size_t released;
};

static void confirm_thread(void *arg)
{
	struct confirm_job *j = arg;
	struct store_conn *db = store_connect(conninfo, NULL, 0);

	j->rc = db == NULL ? CM_EDBDOWN :
	    store_challenge_confirm(db, j->th, &j->released);
	store_disconnect(&db);
}

/* Two POSTs of the same link racing: both have seen the challenge
 * unused (store_challenge_info) and both are inside
 * store_challenge_confirm, held at its SELECT ... FOR UPDATE by a lock
 * taken here; when it is let go, exactly one confirms (one grant
 * released, one INBOX entry) and the other gets CM_EEXIST (410). */
static void test_confirm_race(struct store_conn *db)
{
	struct store_delivery d = {
		.data = HELDMSG, .len = sizeof HELDMSG - 1,
		.mail_from = "racer@far.test", .grantor_auth = "spf",
		.nrcpts = 1, .mailbox = "INBOX", .grant_state = "active",
		.flags = "",
	};
	unsigned char held[1] = { 1 }, th[STORE_TOKEN_HASH_LEN];
	const char *v[1] = { (const char *)th };
	int lens[1] = { STORE_TOKEN_HASH_LEN }, fmts[1] = { 1 };
	struct confirm_job j[2];
	uv_thread_t t[2];
	struct store_conn *watch;
	int64_t alice, waiting = 0;
	PGresult *res = NULL;
	int polls;

	CHECK_RC(store_user_lookup(db, "alice@example.test", &alice), 0);
	d.rcpts = &alice;
	d.rcpt_held = held;
	CHECK_RC(store_deliver(db, &d), 0);
	memset(th, 9, sizeof th);
	CHECK(store_challenge_create(db, "racer@far.test", alice, th,
	    time(NULL) + 3600, NULL, 0) == 1);
	watch = store_connect(conninfo, NULL, 0);
	CHECK(watch != NULL);
	if (watch == NULL)
		return;
	CHECK_RC(store_begin(db), 0);
	CHECK_RC(store_query(db, "SELECT id FROM challenges"
	    " WHERE token_hash = $1 FOR UPDATE", 1, v, lens, fmts, 0, &res),
	    0);
	PQclear(res);
	for (int i = 0; i < 2; i++) {
		j[i].th = th;
		j[i].rc = 1;
		j[i].released = 0;
		CHECK(uv_thread_create(&t[i], confirm_thread, &j[i]) == 0);
	}
	/* until both wait for the lock (a bound, not a timing assertion) */
	for (polls = 0; polls < 6000 && waiting < 2; polls++) {
		waiting = q_int(watch, "SELECT count(*) FROM pg_stat_activity"
		    " WHERE wait_event_type = 'Lock'"
		    " AND query LIKE '%FROM challenges WHERE token_hash%'",
		    0, NULL);
		if (waiting < 2)
			poll(NULL, 0, 10);
	}
	CHECK(waiting == 2);
	CHECK_RC(store_commit(db), 0);
	for (int i = 0; i < 2; i++)
		uv_thread_join(&t[i]);
	CHECK((j[0].rc == 0 && j[1].rc == CM_EEXIST) ||
	    (j[0].rc == CM_EEXIST && j[1].rc == 0));
	CHECK(j[0].released + j[1].released == 1);
	CHECK(q_int(db, "SELECT count(*) FROM grants g JOIN mailbox_entries e"
	    " ON e.grant_id = g.id WHERE g.grantor_address = 'racer@far.test'"
	    " AND g.state = 'active'", 0, NULL) == 1);
	CHECK(q_int(db, "SELECT count(*) FROM grants WHERE state = 'held'"
	    " AND grantor_address = 'racer@far.test'", 0, NULL) == 0);
	store_disconnect(&watch);
}


/* ---- mailbox notifications (notify.c) ---- */

struct got_ids {
	int64_t id[16];
	int n;
};

static void got_id(void *arg, int64_t id)
{
	struct got_ids *g = arg;

	if (g->n < 16)
		g->id[g->n] = id;
	g->n++;
}

/* Read l until want ids came (or 5 s passed, or the connection failed:
 * that rc is returned); then 0. */
static int listen_wait(struct store_listen *l, struct got_ids *g, int want)
{
	struct pollfd pfd = { .fd = store_listen_fd(l), .events = POLLIN };
	char err[256];
	int rc;

	g->n = 0;
	for (int i = 0; i < 50 && g->n < want; i++) {
		if (poll(&pfd, 1, 100) < 0)
			return CM_EIO;
		if ((rc = store_listen_read(l, got_id, g, err, sizeof err)) < 0)
			return rc;
	}
	/* anything more that is already on its way */
	(void)poll(&pfd, 1, 200);
	rc = store_listen_read(l, got_id, g, err, sizeof err);
	return rc < 0 ? rc : 0;
}

static void test_notify(struct store_conn *db, const int64_t ids[3])
{
	static const char msg[] = "Subject: notify\r\n\r\nbody\r\n";
	struct store_listen *l = NULL;
	struct store_mailbox inbox, other;
	struct store_entry *e = NULL;
	struct got_ids g;
	uint32_t uid = 0, *gone = NULL, *src = NULL, *dst = NULL, uv;
	size_t n = 0;
	char err[256];

	CHECK_RC(store_listen_open(conninfo, &l, err, sizeof err), 0);
	if (l == NULL)
		return;
	CHECK(store_listen_fd(l) >= 0);
	CHECK_RC(store_mailbox_get(db, ids[1], "INBOX", &inbox), 0);
	CHECK_RC(store_mailbox_create(db, ids[1], "Notified"), 0);
	CHECK_RC(store_mailbox_get(db, ids[1], "Notified", &other), 0);
	CHECK_RC(listen_wait(l, &g, 1), 0);
	CHECK(g.n == 0);

	/* a delivery: one notification for the recipient's INBOX */
	CHECK_RC(deliver1(db, msg, sizeof msg - 1, &ids[1], 1, &uid, NULL), 0);
	CHECK_RC(listen_wait(l, &g, 1), 0);
	CHECK(g.n == 1 && g.id[0] == inbox.id);

	/* STORE */
	CHECK_RC(store_entries_flags(db, ids[1], inbox.id, &uid, 1,
	    STORE_FLAGS_ADD, "\\Deleted", &e, &n), 0);
	store_entries_free(&e, n);
	CHECK_RC(listen_wait(l, &g, 1), 0);
	CHECK(g.n == 1 && g.id[0] == inbox.id);

	/* COPY notifies the destination */
	CHECK_RC(store_entries_copy(db, ids[1], inbox.id, &uid, 1, "Notified",
	    &uv, &src, &dst, &n), 0);
	free(src);
	free(dst);
	CHECK_RC(listen_wait(l, &g, 1), 0);
	CHECK(g.n == 1 && g.id[0] == other.id);

	/* EXPUNGE: only when something was removed */
	CHECK_RC(store_entries_expunge(db, ids[1], inbox.id, NULL, 0, &gone,
	    &n), 0);
	CHECK(n == 1);
	free(gone);
	CHECK_RC(listen_wait(l, &g, 1), 0);
	CHECK(g.n == 1 && g.id[0] == inbox.id);
	CHECK_RC(store_entries_expunge(db, ids[1], inbox.id, NULL, 0, &gone,
	    &n), 0);
	CHECK(n == 0);
	free(gone);
	CHECK_RC(listen_wait(l, &g, 1), 0);
	CHECK(g.n == 0);

	/* DELETE */
	CHECK_RC(store_mailbox_delete(db, ids[1], "Notified"), 0);
	CHECK_RC(listen_wait(l, &g, 1), 0);
	CHECK(g.n == 1 && g.id[0] == other.id);

	/* payloads that are no mailbox id are skipped */
	CHECK_RC(store_exec(db, "SELECT pg_notify('" STORE_MAILBOX_NOTIFY
	    "', 'x'), pg_notify('" STORE_MAILBOX_NOTIFY "', '-3'),"
	    " pg_notify('" STORE_MAILBOX_NOTIFY "', ''),"
	    " pg_notify('" STORE_MAILBOX_NOTIFY "', '7 '),"
	    " pg_notify('" STORE_MAILBOX_NOTIFY "', '99999999999999999999'),"
	    " pg_notify('" STORE_MAILBOX_NOTIFY "', '42')", 0, NULL, NULL), 0);
	CHECK_RC(listen_wait(l, &g, 1), 0);
	CHECK(g.n == 1 && g.id[0] == 42);

	/* the listener's connection killed: the next read says so */
	/* (CASE: the planner may evaluate plain AND-ed quals in any order) */
	CHECK(q_int(db, "SELECT count(*) FROM pg_stat_activity"
	    " WHERE CASE WHEN datname = current_database()"
	    " AND pid <> pg_backend_pid()"
	    " AND query = 'LISTEN " STORE_MAILBOX_NOTIFY "'"
	    " THEN pg_terminate_backend(pid) ELSE false END", 0, NULL) == 1);
	CHECK_RC(listen_wait(l, &g, 1), CM_EDBDOWN);
	store_listen_close(&l);
	CHECK(l == NULL);
	store_listen_close(&l);

	/* nothing listening there */
	CHECK_RC(store_listen_open("host=127.0.0.1 port=1 dbname=x", &l, err,
	    sizeof err), CM_EDBDOWN);
	CHECK(l == NULL && err[0] != '\0');
	store_mailbox_clear(&inbox);
	store_mailbox_clear(&other);
}

int main(void)
{
	struct store_conn *db;
	int64_t ids[3] = { 0, 0, 0 };
	const char *base;
	char err[512];

	base = getenv("CAPMAIL_TEST_DB");
	if (base == NULL || *base == '\0') {
		printf("test-store: CAPMAIL_TEST_DB not set; skipped (it is a "
		    "libpq connection string to a scratch database)\n");
		return 77;
	}
	/* Our own database, so that other tests using CAPMAIL_TEST_DB at
	 * the same time (make -j) are not disturbed. */
	db = store_connect(base, err, sizeof err);
	if (db == NULL) {
		fprintf(stderr, "test-store: cannot connect: %s\n", err);
		return 1;
	}
	if (store_exec(db, "DROP DATABASE IF EXISTS " TEST_DBNAME
	    " WITH (FORCE)", 0, NULL, NULL) != 0 ||
	    store_exec(db, "CREATE DATABASE " TEST_DBNAME, 0, NULL,
	    NULL) != 0) {
		fprintf(stderr, "test-store: create database: %s\n",
		    store_errmsg(db));
		store_disconnect(&db);
		return 1;
	}
	store_disconnect(&db);
	conninfo = with_dbname(base, TEST_DBNAME);
	if (conninfo == NULL) {
		fprintf(stderr, "test-store: bad CAPMAIL_TEST_DB\n");
		return 1;
	}
	db = store_connect(conninfo, err, sizeof err);
	if (db == NULL) {
		fprintf(stderr, "test-store: cannot connect: %s\n", err);
		return 1;
	}

	test_migrate(db);
	test_principals(db, ids);
	test_login(db, ids);
	test_imported_hashes(db, ids);
	test_deliver(db, ids);
	test_dedup(db, ids);
	test_roundtrip(db, ids);
	test_recent(db, ids);
	test_outbound(db, ids);
	test_senders(db);
	test_confirm_race(db);
	test_notify(db, ids);
	store_disconnect(&db);
	test_run(ids);
	test_reconnect();
	test_dbdown();
	test_take();

	/* keep the database for a look when something failed */
	if (failures == 0 && (db = store_connect(base, NULL, 0)) != NULL) {
		store_exec(db, "DROP DATABASE IF EXISTS " TEST_DBNAME
		    " WITH (FORCE)", 0, NULL, NULL);
		store_disconnect(&db);
	}
	free(conninfo);
	printf("test-store: %d passed, %d failed\n", checks - failures,
	    failures);
	return failures == 0 ? 0 : 1;
}
