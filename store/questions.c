/*
 * questions.c: a recipient's question on the verification page (see
 * senders.h, schema store/sql/012-verify-question.sql).
 *
 * The answers are normalised here, in C, rather than with SQL lower():
 * lower() follows the database's locale (LC_CTYPE), so the same answer
 * could be right on one server and wrong on another; ASCII folding is the
 * same everywhere. Accepted answers are stored normalised, the given one
 * is normalised before the comparison, which is then plain equality in
 * SQL, so the accepted answers are never read out of the database.
 */
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "buf.h"
#include "senders.h"
#include "store-int.h"
#include "utf8.h"

static int is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
	    c == '\v' || c == '\f';
}

int store_answer_normalize(const char *in, char *out, size_t outsz)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t n = 0;
	int space = 0;

	if (in == NULL || outsz == 0 || !utf8_valid(in))
		return CM_EINVAL;
	for (; *p != '\0'; p++) {
		unsigned char c = *p;

		if (is_space(c)) {
			space = n > 0;	/* leading white space: dropped */
			continue;
		}
		if (c < 0x20 || c == 0x7f)
			return CM_EINVAL;
		if (space) {
			if (n + 1 >= outsz)
				return CM_ETOOBIG;
			out[n++] = ' ';
			space = 0;
		}
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		if (n + 1 >= outsz)
			return CM_ETOOBIG;
		out[n++] = (char)c;
	}
	out[n] = '\0';		/* trailing white space: never written */
	return n == 0 ? CM_EINVAL : 0;
}

int store_question_normalize(const char *in, char *out, size_t outsz)
{
	size_t b, e;

	if (in == NULL || !utf8_valid(in))
		return CM_EINVAL;
	for (b = 0; in[b] == ' '; b++)
		;
	for (e = strlen(in); e > b && in[e - 1] == ' '; e--)
		;
	if (e == b)
		return CM_EINVAL;
	for (size_t i = b; i < e; i++)
		if ((unsigned char)in[i] < 0x20 || in[i] == 0x7f)
			return CM_EINVAL;
	if (e - b > STORE_QUESTION_MAX)
		return CM_ETOOBIG;
	if (e - b >= outsz)
		return CM_ETOOBIG;
	memcpy(out, in + b, e - b);
	out[e - b] = '\0';
	return 0;
}

int store_user_question_set(struct store_conn *db, const char *user,
    const char *question, const char *const *answers, size_t n)
{
	char q[STORE_QUESTION_MAX + 1], a[STORE_ANSWER_MAX + 1];
	const char *v[3];
	struct buf all;
	int rc;

	if (user == NULL || answers == NULL || n < 1 ||
	    n > STORE_ANSWERS_MAX)
		return CM_EINVAL;
	if ((rc = store_question_normalize(question, q, sizeof q)) != 0)
		return rc;
	/* joined by '\n', which no normalised answer holds */
	buf_init(&all, (STORE_ANSWER_MAX + 1) * STORE_ANSWERS_MAX);
	for (size_t i = 0; i < n; i++) {
		rc = store_answer_normalize(answers[i], a, sizeof a);
		if (rc == 0 && i > 0)
			rc = buf_addc(&all, '\n');
		if (rc == 0)
			rc = buf_addstr(&all, a);
		if (rc != 0) {
			buf_free(&all);
			return rc;
		}
	}
	v[0] = user;
	v[1] = q;
	v[2] = all.data;
	rc = store_exec_rows(db, "UPDATE principals SET verify_question = $2,"
	    " verify_answers = ARRAY(SELECT DISTINCT a"
	    "  FROM unnest(string_to_array($3, E'\\n')) a ORDER BY a)"
	    " WHERE address = lower($1) AND kind = 'user' RETURNING id",
	    3, v);
	buf_free(&all);
	if (rc < 0)
		return rc;
	return rc == 0 ? CM_ENOTFOUND : 0;
}

int store_user_question_clear(struct store_conn *db, const char *user)
{
	const char *v[1] = { user };
	int rc;

	if (user == NULL)
		return CM_EINVAL;
	rc = store_exec_rows(db, "UPDATE principals SET verify_question = NULL,"
	    " verify_answers = NULL"
	    " WHERE address = lower($1) AND kind = 'user' RETURNING id",
	    1, v);
	if (rc < 0)
		return rc;
	return rc == 0 ? CM_ENOTFOUND : 0;
}

int store_challenge_answer_check(struct store_conn *db,
    const unsigned char token_hash[STORE_TOKEN_HASH_LEN],
    const char *answer)
{
	/* a given answer that is longer than any accepted one is wrong,
	 * not an error: one more byte tells it apart */
	char a[STORE_ANSWER_MAX + 2];
	const char *v[2] = { (const char *)token_hash, NULL };
	int lens[2] = { STORE_TOKEN_HASH_LEN, 0 };
	int fmts[2] = { 1, 0 };
	PGresult *res = NULL;
	int rc, ok;

	if (answer != NULL && store_answer_normalize(answer, a, sizeof a) == 0)
		v[1] = a;
	/* $2 NULL (no usable answer): wrong unless there is no question */
	rc = store_query(db, "SELECT (p.verify_answers IS NULL"
	    " OR coalesce($2::text = ANY (p.verify_answers), false))::int"
	    " FROM challenges c JOIN principals p ON p.id = c.recipient"
	    " WHERE c.token_hash = $1", 2, v, lens, fmts, 0, &res);
	if (rc != 0)
		return rc;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return CM_ENOTFOUND;
	}
	ok = strcmp(PQgetvalue(res, 0, 0), "1") == 0;
	PQclear(res);
	return ok;
}
