/*
 * principals.c: local domains and users.
 *
 * Names and addresses are stored in lower case (the schema checks it);
 * every lookup lower-cases its argument in SQL, so callers may pass any
 * case. store_address_normalize() is the one shape check for addresses
 * (capmailctl and the daemons use it before anything reaches SQL).
 *
 * Passwords: crypt_r() with a yescrypt salt from crypt_gensalt_rn("$y$");
 * store_login() verifies any hash crypt_r() knows ($y$, $6$, $2y$, ...),
 * compares in constant time, and spends the same work on an unknown user
 * as on a known one. Hashes imported from Dovecot passwd-files keep
 * working: store_hash_import() takes their scheme prefixes
 * ({SHA512-CRYPT}, {SHA256-CRYPT}, {BLF-CRYPT}, {CRYPT}), checks that the
 * hash behind is of that kind and one crypt_r() can verify, and stores the
 * bare crypt(3) string; store_login() also strips such a prefix should one
 * reach the table by another way. Schemes that are not crypt(3) ({PLAIN},
 * {MD5}, {SSHA} ...) are refused: they are weak or need other code. struct crypt_data is large, so it is heap-allocated;
 * everything here is thread-safe (it runs on the thread pool).
 *
 * A new user gets INBOX, Sent, Drafts, Trash and Junk (SPECIAL-USE flags
 * on all but INBOX) with uidvalidity = the current time, uidnext 1.
 */
#include <crypt.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libpq-fe.h>
#include <openssl/crypto.h>

#include "store-int.h"

/* A yescrypt hash of a random password, to spend the same time verifying
 * an unknown user's password as a known one's. */
static const char DUMMY_HASH[] =
    "$y$j9T$k0.OvEBNrqeiPGsDMOTRE1$"
    "81e79veWD1CH0RmpEsX/RtlC6sFyMmRXSpF9v.QG7F5";

static int is_name_byte(unsigned char c)
{
	return c > 0x20 && c != 0x7f;
}

int store_address_normalize(const char *in, char *out, size_t outsz)
{
	size_t len = strlen(in), at = len, nat = 0;

	if (len == 0 || len > STORE_ADDRESS_MAX || len >= outsz)
		return CM_EINVAL;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (!is_name_byte(c) || c == '<' || c == '>' || c == ',' ||
		    c == '"' || c == '\\')
			return CM_EINVAL;
		if (c == '@') {
			at = i;
			nat++;
		}
		out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') :
		    (char)c;
	}
	out[len] = '\0';
	if (nat != 1 || at == 0 || at == len - 1)
		return CM_EINVAL;
	return 0;
}

static int domain_check(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > 253)
		return CM_EINVAL;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (!is_name_byte(c) || c == '@' || c == '/' || c == '\\' ||
		    c == '"' || c == '<' || c == '>' || c == ',')
			return CM_EINVAL;
	}
	if (name[0] == '.' || name[len - 1] == '.' || strstr(name, "..") != NULL)
		return CM_EINVAL;
	return 0;
}

/* ---- domains ---- */

int store_domain_add(struct store_conn *db, const char *name)
{
	const char *p[1] = { name };
	int rc = domain_check(name);

	if (rc != 0)
		return rc;
	return store_exec(db, "INSERT INTO domains (name) VALUES (lower($1))",
	    1, p, NULL);
}

int store_domain_is_local(struct store_conn *db, const char *name)
{
	const char *p[1] = { name };
	int n;

	n = store_exec_rows(db, "SELECT 1 FROM domains WHERE name = lower($1)",
	    1, p);
	if (n < 0)
		return n;
	return n > 0 ? 1 : 0;
}

/* Column 0 of every row into a malloc'd string array. */
static int strv_from_result(PGresult *res, char ***v_r, size_t *n_r)
{
	size_t n = (size_t)PQntuples(res);
	char **v = calloc(n + 1, sizeof *v);

	*v_r = NULL;
	*n_r = 0;
	if (v == NULL)
		return CM_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		v[i] = store_col_strdup(res, (int)i, 0);
		if (v[i] == NULL) {
			store_strv_free(&v, i);
			return CM_ENOMEM;
		}
	}
	*v_r = v;
	*n_r = n;
	return 0;
}

static int list_query(struct store_conn *db, const char *sql, char ***v_r,
    size_t *n_r)
{
	PGresult *res;
	int rc;

	*v_r = NULL;
	*n_r = 0;
	rc = store_exec(db, sql, 0, NULL, &res);
	if (rc != 0)
		return rc;
	rc = strv_from_result(res, v_r, n_r);
	PQclear(res);
	return rc;
}

int store_domain_list(struct store_conn *db, char ***names_r, size_t *n_r)
{
	return list_query(db, "SELECT name FROM domains ORDER BY name",
	    names_r, n_r);
}

/* ---- passwords ---- */

static int check_crypt(const char *password, const char *hash);

/* Hash password with a fresh yescrypt salt into a malloc'd string. */
static int hash_password(const char *password, char **hash_r)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd;
	const char *h;
	int rc = 0;

	*hash_r = NULL;
	if (crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof salt) == NULL)
		return CM_EIO;
	cd = calloc(1, sizeof *cd);
	if (cd == NULL)
		return CM_ENOMEM;
	h = crypt_r(password, salt, cd);
	if (h == NULL || h[0] == '*')
		rc = CM_EIO;
	else if ((*hash_r = strdup(h)) == NULL)
		rc = CM_ENOMEM;
	explicit_bzero(cd, sizeof *cd);
	free(cd);
	return rc;
}

/* Dovecot scheme prefixes whose hash is a crypt(3) string, and the
 * crypt prefixes each allows (NULL: any crypt_r() knows). */
static const struct {
	const char *scheme;
	const char *ids[4];
} schemes[] = {
	{ "{SHA512-CRYPT}", { "$6$", NULL } },
	{ "{SHA256-CRYPT}", { "$5$", NULL } },
	{ "{BLF-CRYPT}", { "$2y$", "$2b$", "$2a$", NULL } },
	{ "{CRYPT}", { NULL } },
};

/* hash without a known scheme prefix; NULL for an unknown one. */
static const char *strip_scheme(const char *hash, size_t *scheme_r)
{
	*scheme_r = sizeof schemes / sizeof schemes[0];
	if (hash[0] != '{')
		return hash;
	for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
		size_t n = strlen(schemes[i].scheme);
		if (strncasecmp(hash, schemes[i].scheme, n) == 0) {
			*scheme_r = i;
			return hash + n;
		}
	}
	return NULL;
}

/* 1 if password matches hash, 0 if not, <0 on error. */
static int check_password(const char *password, const char *hash)
{
	const char *h;
	size_t scheme;

	if ((h = strip_scheme(hash, &scheme)) == NULL) {
		/* an unknown scheme never matches; spend the same work */
		(void)check_crypt(password, DUMMY_HASH);
		return 0;
	}
	return check_crypt(password, h);
}

int store_hash_import(const char *in, char *out, size_t outsz,
    const char **why_r)
{
	struct crypt_data *cd;
	const char *h, *r;
	size_t scheme, len;
	int ok = 0;

	*why_r = "";
	if ((h = strip_scheme(in, &scheme)) == NULL) {
		*why_r = "unsupported scheme (only {SHA512-CRYPT}, "
		    "{SHA256-CRYPT}, {BLF-CRYPT}, {CRYPT} or a bare crypt(3) "
		    "hash)";
		return CM_EINVAL;
	}
	len = strlen(h);
	if (len == 0 || len >= outsz || len > 512) {
		*why_r = "empty or too long hash";
		return CM_EINVAL;
	}
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)h[i] <= 0x20 || (unsigned char)h[i] >= 0x7f ||
		    h[i] == ':') {
			*why_r = "hash holds a space, a control byte or ':'";
			return CM_EINVAL;
		}
	if (scheme < sizeof schemes / sizeof schemes[0] &&
	    schemes[scheme].ids[0] != NULL) {
		for (size_t k = 0; schemes[scheme].ids[k] != NULL; k++)
			if (strncmp(h, schemes[scheme].ids[k],
			    strlen(schemes[scheme].ids[k])) == 0)
				ok = 1;
		if (!ok) {
			*why_r = "hash does not match its scheme prefix";
			return CM_EINVAL;
		}
	}
	/* crypt_r must know the method and the salt: hashing anything with
	 * the hash as setting gives a string of the same method back */
	if ((cd = calloc(1, sizeof *cd)) == NULL)
		return CM_ENOMEM;
	r = crypt_r("capmail-probe", h, cd);
	ok = r != NULL && r[0] != '*' && strlen(r) == len &&
	    strncmp(r, h, 3) == 0;
	explicit_bzero(cd, sizeof *cd);
	free(cd);
	if (!ok) {
		*why_r = "not a hash this system's crypt(3) can verify";
		return CM_EINVAL;
	}
	memcpy(out, h, len + 1);
	return 0;
}

/* 1 if password matches the crypt(3) hash, 0 if not, <0 on error. */
static int check_crypt(const char *password, const char *hash)
{
	struct crypt_data *cd = calloc(1, sizeof *cd);
	const char *h;
	int ok = 0;

	if (cd == NULL)
		return CM_ENOMEM;
	h = crypt_r(password, hash, cd);
	if (h != NULL && h[0] != '*') {
		size_t hl = strlen(h), sl = strlen(hash);

		ok = hl == sl && CRYPTO_memcmp(h, hash, hl) == 0;
	}
	explicit_bzero(cd, sizeof *cd);
	free(cd);
	return ok;
}

static int password_check(const char *password)
{
	if (password == NULL)
		return 0;	/* no password: cannot log in */
	if (password[0] == '\0' || strlen(password) > STORE_PASSWORD_MAX)
		return CM_EINVAL;
	return 0;
}

/* ---- users ---- */

static const char *const special[][2] = {
	{ "INBOX", NULL },
	{ "Sent", "\\Sent" },
	{ "Drafts", "\\Drafts" },
	{ "Trash", "\\Trash" },
	{ "Junk", "\\Junk" },
};

static int user_add(struct store_conn *db, const char *addr, char *hash);

int store_user_add(struct store_conn *db, const char *address,
    const char *password)
{
	char addr[STORE_ADDRESS_MAX + 1];
	char *hash = NULL;
	int rc;

	rc = store_address_normalize(address, addr, sizeof addr);
	if (rc == 0)
		rc = password_check(password);
	if (rc == 0 && password != NULL)
		rc = hash_password(password, &hash);
	if (rc != 0)
		return rc;
	rc = user_add(db, addr, hash);
	if (hash != NULL) {
		explicit_bzero(hash, strlen(hash));
		free(hash);
	}
	return rc;
}

int store_user_add_hash(struct store_conn *db, const char *address,
    const char *hash)
{
	char addr[STORE_ADDRESS_MAX + 1];
	char h[STORE_HASH_MAX + 1];
	const char *why;
	int rc;

	if ((rc = store_address_normalize(address, addr, sizeof addr)) != 0 ||
	    (rc = store_hash_import(hash, h, sizeof h, &why)) != 0)
		return rc;
	return user_add(db, addr, h);
}

int store_user_set_hash(struct store_conn *db, const char *address,
    const char *hash)
{
	char h[STORE_HASH_MAX + 1];
	const char *p[2] = { address, h };
	const char *why;
	PGresult *res;
	int rc;

	if ((rc = store_hash_import(hash, h, sizeof h, &why)) != 0)
		return rc;
	rc = store_exec(db, "UPDATE principals SET password_hash = $2"
	    " WHERE address = lower($1) AND kind = 'user'", 2, p, &res);
	if (rc == 0) {
		if (strcmp(PQcmdTuples(res), "0") == 0)
			rc = CM_ENOTFOUND;
		PQclear(res);
	}
	return rc;
}

/* Insert the user addr (normalized) with hash (NULL: no password) and its
 * mailboxes, in one transaction. */
static int user_add(struct store_conn *db, const char *addr, char *hash)
{
	char idbuf[STORE_I64_STRLEN];
	const char *p[3];
	PGresult *res = NULL;
	int64_t domain_id, user_id;
	int rc;

	rc = store_begin(db);
	if (rc != 0)
		goto out;
	p[0] = strchr(addr, '@') + 1;
	rc = store_exec(db, "SELECT id FROM domains WHERE name = lower($1)",
	    1, p, &res);
	if (rc != 0)
		goto out;
	if (PQntuples(res) == 0) {
		rc = CM_ENOTFOUND;
		goto out;
	}
	rc = store_col_i64(res, 0, 0, &domain_id);
	PQclear(res);
	res = NULL;
	if (rc != 0)
		goto out;

	p[0] = addr;
	p[1] = store_i64_str(idbuf, domain_id);
	p[2] = hash;
	rc = store_exec(db, "INSERT INTO principals"
	    " (kind, address, domain_id, password_hash)"
	    " VALUES ('user', lower($1), $2::bigint, $3) RETURNING id",
	    3, p, &res);
	if (rc != 0)
		goto out;
	rc = store_col_i64(res, 0, 0, &user_id);
	PQclear(res);
	res = NULL;
	if (rc != 0)
		goto out;

	p[0] = store_i64_str(idbuf, user_id);
	for (size_t i = 0; i < sizeof special / sizeof special[0]; i++) {
		p[1] = special[i][0];
		p[2] = special[i][1];
		rc = store_exec(db, "INSERT INTO mailboxes"
		    " (owner, name, uidvalidity, uidnext, special_use)"
		    " VALUES ($1::bigint, $2,"
		    " extract(epoch FROM now())::bigint, 1, $3)",
		    3, p, NULL);
		if (rc != 0)
			goto out;
	}
	rc = store_commit(db);
out:
	PQclear(res);
	if (rc != 0)
		store_rollback(db);
	return rc;
}

int store_user_passwd(struct store_conn *db, const char *address,
    const char *password)
{
	const char *p[2];
	char *hash = NULL;
	PGresult *res;
	int rc;

	rc = password_check(password);
	if (rc == 0 && password != NULL)
		rc = hash_password(password, &hash);
	if (rc != 0)
		return rc;
	p[0] = address;
	p[1] = hash;
	rc = store_exec(db, "UPDATE principals SET password_hash = $2"
	    " WHERE address = lower($1) AND kind = 'user'", 2, p, &res);
	if (rc == 0) {
		if (strcmp(PQcmdTuples(res), "0") == 0)
			rc = CM_ENOTFOUND;
		PQclear(res);
	}
	if (hash != NULL) {
		explicit_bzero(hash, strlen(hash));
		free(hash);
	}
	return rc;
}

int store_user_list(struct store_conn *db, char ***addresses_r, size_t *n_r)
{
	return list_query(db, "SELECT address FROM principals"
	    " WHERE kind = 'user' ORDER BY address", addresses_r, n_r);
}

int store_user_lookup(struct store_conn *db, const char *address,
    int64_t *id_r)
{
	const char *p[1] = { address };
	PGresult *res;
	int rc;

	rc = store_exec(db, "SELECT id FROM principals"
	    " WHERE address = lower($1) AND kind = 'user'", 1, p, &res);
	if (rc != 0)
		return rc;
	if (PQntuples(res) == 0)
		rc = CM_ENOTFOUND;
	else
		rc = store_col_i64(res, 0, 0, id_r);
	PQclear(res);
	return rc;
}

int store_login(struct store_conn *db, const char *address,
    const char *password, int64_t *id_r)
{
	const char *p[1] = { address };
	PGresult *res;
	const char *hash = DUMMY_HASH;
	int64_t id = 0;
	int found = 0, rc, ok;

	if (password == NULL || strlen(password) > STORE_PASSWORD_MAX)
		return CM_EAUTH;
	rc = store_exec(db, "SELECT id, password_hash FROM principals"
	    " WHERE address = lower($1) AND kind = 'user'", 1, p, &res);
	if (rc != 0)
		return rc;
	if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 1) &&
	    store_col_i64(res, 0, 0, &id) == 0) {
		hash = PQgetvalue(res, 0, 1);
		found = 1;
	}
	ok = check_password(password, hash);
	PQclear(res);
	if (ok < 0)
		return ok;
	if (!found || !ok)
		return CM_EAUTH;
	if (id_r != NULL)
		*id_r = id;
	return 0;
}
