/*
 * grants.c: reading the capabilities a principal holds.
 *
 * store_grant_list() returns every grant (any state) whose grantee is the
 * local user `address`, oldest first, as a malloc'd array the caller
 * frees with store_grant_list_free(). CM_ENOTFOUND when there is no such
 * user (an existing user with no grants gives n = 0).
 */
#include <stdlib.h>

#include <libpq-fe.h>

#include "store-int.h"

void store_grant_list_free(struct store_grant_info **gp, size_t n)
{
	struct store_grant_info *g = *gp;

	if (g == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		free(g[i].grantor_address);
		free(g[i].grantor_auth);
		free(g[i].auth_results);
		free(g[i].subject);
		free(g[i].state);
	}
	free(g);
	*gp = NULL;
}

static int fill(const PGresult *res, int row, struct store_grant_info *g)
{
	int64_t created, size;

	if (store_col_i64(res, row, 0, &g->id) != 0 ||
	    store_col_i64(res, row, 1, &g->message_id) != 0 ||
	    store_col_i64(res, row, 6, &created) != 0 ||
	    store_col_i64(res, row, 7, &size) != 0 || size < 0)
		return CM_EDB;
	g->created = (time_t)created;
	g->size = (size_t)size;
	g->grantor_address = store_col_strdup(res, row, 2);
	g->grantor_auth = store_col_strdup(res, row, 3);
	g->subject = store_col_strdup(res, row, 4);
	g->state = store_col_strdup(res, row, 5);
	if (!PQgetisnull(res, row, 8) &&
	    (g->auth_results = store_col_strdup(res, row, 8)) == NULL)
		return CM_ENOMEM;
	if (g->grantor_address == NULL || g->grantor_auth == NULL ||
	    g->subject == NULL || g->state == NULL)
		return CM_ENOMEM;
	return 0;
}

int store_grant_list(struct store_conn *db, const char *address,
    struct store_grant_info **grants_r, size_t *n_r)
{
	const char *p[1] = { address };
	struct store_grant_info *g = NULL;
	PGresult *res;
	int64_t uid;
	size_t n;
	int rc;

	*grants_r = NULL;
	*n_r = 0;
	rc = store_user_lookup(db, address, &uid);
	if (rc != 0)
		return rc;
	rc = store_exec(db, "SELECT g.id, g.message_id, g.grantor_address,"
	    " g.grantor_auth, g.subject, g.state,"
	    " extract(epoch FROM g.created)::bigint, m.size, g.auth_results"
	    " FROM grants g JOIN principals p ON p.id = g.grantee"
	    " JOIN messages m ON m.id = g.message_id"
	    " WHERE p.address = lower($1) AND p.kind = 'user'"
	    " ORDER BY g.id", 1, p, &res);
	if (rc != 0)
		return rc;
	n = (size_t)PQntuples(res);
	g = calloc(n + 1, sizeof *g);
	if (g == NULL) {
		PQclear(res);
		return CM_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		rc = fill(res, (int)i, &g[i]);
		if (rc != 0) {
			store_grant_list_free(&g, i + 1);
			PQclear(res);
			return rc;
		}
	}
	PQclear(res);
	*grants_r = g;
	*n_r = n;
	return 0;
}
