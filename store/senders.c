/*
 * senders.c: sender policy and rules (see senders.h, schema
 * store/sql/008-senders.sql).
 */
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "senders.h"
#include "store-int.h"
#include "utf8.h"

int store_sender_policy_ok(const char *policy)
{
	if (policy != NULL && (strcmp(policy, "open") == 0 ||
	    strcmp(policy, "verify-unknown") == 0 ||
	    strcmp(policy, "known-only") == 0))
		return 0;
	return CM_EINVAL;
}

int store_domain_policy_set(struct store_conn *db, const char *domain,
    const char *policy)
{
	const char *v[2] = { domain, policy };
	int rc;

	if (store_sender_policy_ok(policy) < 0)
		return CM_EINVAL;
	rc = store_exec_rows(db, "UPDATE domains SET sender_policy = $2"
	    " WHERE name = lower($1) RETURNING id", 2, v);
	if (rc < 0)
		return rc;
	return rc == 0 ? CM_ENOTFOUND : 0;
}

int store_user_policy_set(struct store_conn *db, const char *user,
    const char *policy)
{
	const char *v[2] = { user, NULL };
	int rc;

	if (policy != NULL && strcmp(policy, "domain") != 0) {
		if (store_sender_policy_ok(policy) < 0)
			return CM_EINVAL;
		v[1] = policy;
	}
	rc = store_exec_rows(db, "UPDATE principals SET sender_policy = $2"
	    " WHERE address = lower($1) AND kind = 'user' RETURNING id",
	    2, v);
	if (rc < 0)
		return rc;
	return rc == 0 ? CM_ENOTFOUND : 0;
}

int store_sender_pattern_normalize(const char *in, char *out, size_t outsz)
{
	char tmp[STORE_ADDRESS_MAX + 8];

	if (in == NULL || !utf8_valid(in))
		return CM_EINVAL;
	if (in[0] != '@')
		return store_address_normalize(in, out, outsz);
	/* "@domain": check it as "x@domain", keep "@domain" */
	if (strlen(in) + 1 >= sizeof tmp || strlen(in) >= outsz)
		return CM_EINVAL;
	tmp[0] = 'x';
	memcpy(tmp + 1, in, strlen(in) + 1);
	if (store_address_normalize(tmp, tmp, sizeof tmp) < 0 ||
	    strchr(tmp + 2, '@') != NULL)
		return CM_EINVAL;
	memcpy(out, tmp + 1, strlen(tmp + 1) + 1);
	return 0;
}

static int kind_ok(const char *kind)
{
	return kind != NULL && (strcmp(kind, "allow") == 0 ||
	    strcmp(kind, "block") == 0 || strcmp(kind, "verified") == 0 ||
	    strcmp(kind, "learned") == 0);
}

/* The owner's principal id as text (NULL user: NULL, organisation). */
static int owner_id(struct store_conn *db, const char *user, int64_t *id_r)
{
	*id_r = 0;
	if (user == NULL)
		return 0;
	return store_user_lookup(db, user, id_r);
}

/* The rule upsert: allow/block replace anything; verified replaces only
 * learned; learned replaces nothing. */
static int rule_put(struct store_conn *db, int64_t owner,
    const char *pattern, const char *kind)
{
	char obuf[STORE_I64_STRLEN];
	const char *v[3];

	v[0] = owner != 0 ? store_i64_str(obuf, owner) : NULL;
	v[1] = pattern;
	v[2] = kind;
	return store_exec(db, "INSERT INTO sender_rules (owner, pattern, kind)"
	    " VALUES ($1::bigint, $2, $3)"
	    " ON CONFLICT ((coalesce(owner, 0)), pattern) DO UPDATE"
	    " SET kind = EXCLUDED.kind, created = now()"
	    " WHERE EXCLUDED.kind IN ('allow', 'block')"
	    " OR (EXCLUDED.kind = 'verified' AND sender_rules.kind = 'learned')",
	    3, v, NULL);
}

int store_sender_rule_set(struct store_conn *db, const char *user,
    const char *pattern, const char *kind)
{
	char pat[STORE_ADDRESS_MAX + 8];
	int64_t owner;
	int rc;

	if (!kind_ok(kind) ||
	    store_sender_pattern_normalize(pattern, pat, sizeof pat) < 0)
		return CM_EINVAL;
	if ((rc = owner_id(db, user, &owner)) != 0)
		return rc;
	return rule_put(db, owner, pat, kind);
}

int store_sender_rule_forget(struct store_conn *db, const char *user,
    const char *pattern)
{
	char pat[STORE_ADDRESS_MAX + 8], obuf[STORE_I64_STRLEN];
	const char *v[2];
	int64_t owner;
	int rc;

	if (store_sender_pattern_normalize(pattern, pat, sizeof pat) < 0)
		return CM_EINVAL;
	if ((rc = owner_id(db, user, &owner)) != 0)
		return rc;
	v[0] = store_i64_str(obuf, owner);
	v[1] = pat;
	rc = store_exec_rows(db, "DELETE FROM sender_rules"
	    " WHERE coalesce(owner, 0) = $1::bigint AND pattern = $2"
	    " RETURNING id", 2, v);
	if (rc < 0)
		return rc;
	return rc == 0 ? CM_ENOTFOUND : 0;
}

int store_sender_rule_list(struct store_conn *db, const char *user,
    struct store_sender_rule **rules_r, size_t *n_r)
{
	const char *v[1] = { user };
	struct store_sender_rule *r = NULL;
	PGresult *res = NULL;
	int64_t owner;
	size_t n;
	int rc;

	*rules_r = NULL;
	*n_r = 0;
	if (user != NULL && (rc = owner_id(db, user, &owner)) != 0)
		return rc;
	rc = store_exec(db, "SELECT coalesce(p.address, ''), r.pattern,"
	    " r.kind, extract(epoch FROM r.created)::bigint"
	    " FROM sender_rules r LEFT JOIN principals p ON p.id = r.owner"
	    " WHERE $1::text IS NULL OR p.address = lower($1)"
	    " ORDER BY 1, 2", 1, v, &res);
	if (rc != 0)
		return rc;
	n = (size_t)PQntuples(res);
	if (n > 0 && (r = calloc(n, sizeof *r)) == NULL) {
		PQclear(res);
		return CM_ENOMEM;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		int64_t t = 0;

		r[i].owner = strdup(PQgetvalue(res, (int)i, 0));
		r[i].pattern = strdup(PQgetvalue(res, (int)i, 1));
		r[i].kind = strdup(PQgetvalue(res, (int)i, 2));
		rc = store_col_i64(res, (int)i, 3, &t);
		r[i].created = (time_t)t;
		if (r[i].owner == NULL || r[i].pattern == NULL ||
		    r[i].kind == NULL)
			rc = CM_ENOMEM;
	}
	PQclear(res);
	if (rc != 0) {
		store_sender_rule_list_free(&r, n);
		return rc;
	}
	*rules_r = r;
	*n_r = n;
	return 0;
}

void store_sender_rule_list_free(struct store_sender_rule **rp, size_t n)
{
	struct store_sender_rule *r = *rp;

	if (r == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		free(r[i].owner);
		free(r[i].pattern);
		free(r[i].kind);
	}
	free(r);
	*rp = NULL;
}

int store_sender_learn(struct store_conn *db, int64_t owner,
    const char *address)
{
	char pat[STORE_ADDRESS_MAX + 8];

	if (owner <= 0 || address == NULL || address[0] == '@' ||
	    store_sender_pattern_normalize(address, pat, sizeof pat) < 0)
		return CM_EINVAL;
	return rule_put(db, owner, pat, "learned");
}

int store_sender_check(struct store_conn *db, int64_t rcpt,
    const char *sender, enum store_sender_verdict *verdict_r)
{
	char pat[STORE_ADDRESS_MAX + 8], rbuf[STORE_I64_STRLEN];
	const char *v[3], *at, *policy, *kind;
	PGresult *res = NULL;
	int rc;

	*verdict_r = STORE_SENDER_HOLD;
	v[0] = store_i64_str(rbuf, rcpt);
	v[1] = NULL;
	v[2] = NULL;
	/* the null sender and unusable addresses match no rule */
	if (sender != NULL && sender[0] != '\0' &&
	    store_sender_pattern_normalize(sender, pat, sizeof pat) == 0 &&
	    pat[0] != '@' && (at = strrchr(pat, '@')) != NULL) {
		v[1] = pat;
		v[2] = at;
	}
	rc = store_exec(db, "SELECT coalesce(p.sender_policy, d.sender_policy,"
	    " 'verify-unknown'),"
	    " (SELECT r.kind FROM sender_rules r"
	    "  WHERE (r.owner = p.id OR r.owner IS NULL)"
	    "  AND r.pattern IN ($2, $3)"
	    "  ORDER BY r.owner IS NULL, r.pattern LIKE '@%' LIMIT 1)"
	    " FROM principals p LEFT JOIN domains d ON d.id = p.domain_id"
	    " WHERE p.id = $1::bigint", 3, v, &res);
	if (rc != 0)
		return rc;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return CM_ENOTFOUND;
	}
	policy = PQgetvalue(res, 0, 0);
	kind = PQgetisnull(res, 0, 1) ? NULL : PQgetvalue(res, 0, 1);
	if (kind != NULL && strcmp(kind, "block") == 0)
		*verdict_r = STORE_SENDER_BLOCK;
	else if (kind != NULL || strcmp(policy, "open") == 0)
		*verdict_r = STORE_SENDER_ACCEPT;
	else if (strcmp(policy, "known-only") == 0 && v[1] != NULL)
		*verdict_r = STORE_SENDER_REFUSE;
	/* the null sender cannot be known: under known-only it is held, not
	 * refused, so that bounces of one's own mail are not lost (RFC 5321
	 * 4.5.5, 6.1) */
	else
		*verdict_r = STORE_SENDER_HOLD;
	PQclear(res);
	return 0;
}
