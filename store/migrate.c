/*
 * migrate.c: bring the schema up to date.
 *
 * The migrations are store/sql/NNN-name.sql, embedded at build time
 * (store_migrations[], see store-int.h). The table schema_version
 * records each applied version. store_migrate() applies every migration
 * above the recorded maximum, each in its own transaction together with
 * its schema_version row, so a failed migration leaves the database at
 * the previous version. A transaction-scoped advisory lock serialises
 * concurrent migrators (two daemons starting at once); the version is
 * re-read under the lock. Running it again is a no-op (idempotent).
 */
#include <string.h>

#include <libpq-fe.h>

#include "store-int.h"

/* "capm" */
#define MIGRATE_LOCK "1667330157"

static const char SQL_LOCK[] =
    "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK ")";
static const char SQL_VERSION_TABLE[] =
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " version int PRIMARY KEY,"
    " name text NOT NULL,"
    " applied timestamptz NOT NULL DEFAULT now())";

/* Current version, 0 when schema_version does not exist. */
static int read_version(struct store_conn *db, int *version_r)
{
	PGresult *res;
	int64_t v;
	int rc;

	rc = store_exec(db, "SELECT to_regclass('schema_version') IS NULL",
	    0, NULL, &res);
	if (rc != 0)
		return rc;
	if (strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
		PQclear(res);
		*version_r = 0;
		return 0;
	}
	PQclear(res);
	rc = store_exec(db,
	    "SELECT coalesce(max(version), 0) FROM schema_version",
	    0, NULL, &res);
	if (rc != 0)
		return rc;
	rc = store_col_i64(res, 0, 0, &v);
	PQclear(res);
	if (rc != 0)
		return rc;
	*version_r = (int)v;
	return 0;
}

int store_schema_version(struct store_conn *db, int *version_r)
{
	return read_version(db, version_r);
}

/* Several statements: only the simple query protocol runs them. */
static int exec_script(struct store_conn *db, const char *sql)
{
	PGconn *pg = store_pg(db);
	PGresult *res;
	int rc = 0;

	if (pg == NULL)
		return CM_EDBDOWN;
	res = PQexec(pg, sql);
	if (res == NULL || (PQresultStatus(res) != PGRES_COMMAND_OK &&
	    PQresultStatus(res) != PGRES_TUPLES_OK &&
	    PQresultStatus(res) != PGRES_EMPTY_QUERY))
		rc = store_map_error(db, res);
	PQclear(res);
	return rc;
}

static int apply_one(struct store_conn *db, const struct store_migration *m,
    int *applied)
{
	char vbuf[STORE_I64_STRLEN];
	const char *params[2];
	int version;
	int rc;

	*applied = 0;
	rc = store_begin(db);
	if (rc == 0)
		rc = store_exec(db, SQL_LOCK, 0, NULL, NULL);
	if (rc == 0)
		rc = read_version(db, &version);
	if (rc == 0 && version >= m->version) {
		store_rollback(db);
		return 0;
	}
	if (rc == 0)
		rc = exec_script(db, m->sql);
	if (rc == 0) {
		params[0] = store_i64_str(vbuf, m->version);
		params[1] = m->name;
		rc = store_exec(db, "INSERT INTO schema_version (version, name)"
		    " VALUES ($1::int, $2)", 2, params, NULL);
	}
	if (rc == 0)
		rc = store_commit(db);
	if (rc != 0) {
		store_rollback(db);
		return rc;
	}
	*applied = 1;
	return 0;
}

int store_migrate(struct store_conn *db, int *applied_r)
{
	int version, count = 0, applied;
	int rc;

	if (applied_r != NULL)
		*applied_r = 0;
	rc = store_begin(db);
	if (rc == 0)
		rc = store_exec(db, SQL_LOCK, 0, NULL, NULL);
	if (rc == 0)
		rc = store_exec(db, SQL_VERSION_TABLE, 0, NULL, NULL);
	if (rc == 0)
		rc = store_commit(db);
	if (rc != 0) {
		store_rollback(db);
		return rc;
	}
	rc = read_version(db, &version);
	if (rc != 0)
		return rc;
	for (size_t i = 0; i < store_nmigrations; i++) {
		const struct store_migration *m = &store_migrations[i];

		if (m->version <= version)
			continue;
		rc = apply_one(db, m, &applied);
		if (rc != 0)
			return rc;
		count += applied;
	}
	if (applied_r != NULL)
		*applied_r = count;
	return 0;
}
