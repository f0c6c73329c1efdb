/*
 * notify.c: the LISTEN side of mailbox change notifications (notify.h).
 * The NOTIFY side is in the statements that change mailboxes
 * (deliver.c, challenges.c, entries.c).
 *
 * The listener wraps a struct store_conn made by store_connect(), so it
 * gets the same connection defaults (connect_timeout, application name)
 * as the pool's. Only the LISTEN goes through store_exec(); after that
 * the connection is only read with PQconsumeInput()/PQnotifies(), which
 * never wait (libpq's socket is non-blocking and PQconsumeInput takes
 * only what is there).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "notify.h"
#include "store-int.h"

struct store_listen {
	struct store_conn *db;
};

static void
set_err(char *err, size_t errsz, const char *msg)
{
	size_t i = 0;

	if (errsz == 0)
		return;
	/* one printable line */
	for (; msg[i] != '\0' && msg[i] != '\n' && i + 1 < errsz; i++)
		err[i] = (unsigned char)msg[i] < 0x20 ? '?' : msg[i];
	err[i] = '\0';
}

int
store_listen_open(const char *conninfo, struct store_listen **l_r,
    char *err, size_t errsz)
{
	struct store_listen *l;
	int rc;

	*l_r = NULL;
	if ((l = calloc(1, sizeof *l)) == NULL) {
		set_err(err, errsz, "out of memory");
		return CM_ENOMEM;
	}
	if ((l->db = store_connect(conninfo, err, errsz)) == NULL) {
		free(l);
		return CM_EDBDOWN;
	}
	rc = store_exec(l->db, "LISTEN " STORE_MAILBOX_NOTIFY, 0, NULL, NULL);
	if (rc < 0) {
		set_err(err, errsz, store_errmsg(l->db));
		store_listen_close(&l);
		return rc;
	}
	*l_r = l;
	return 0;
}

int
store_listen_fd(const struct store_listen *l)
{
	return PQsocket(l->db->pg);
}

/* The payload is the mailbox id in decimal. */
static int
parse_id(const char *s, int64_t *id_r)
{
	char *end;
	long long v;

	if (*s < '0' || *s > '9')
		return CM_EPARSE;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v <= 0)
		return CM_EPARSE;
	*id_r = (int64_t)v;
	return 0;
}

int
store_listen_read(struct store_listen *l, store_listen_fn *fn, void *arg,
    char *err, size_t errsz)
{
	PGconn *pg = l->db->pg;
	PGnotify *nf;
	int n = 0, lost;

	lost = PQconsumeInput(pg) == 0 || PQstatus(pg) != CONNECTION_OK;
	/* what arrived before a loss is still handed over */
	while ((nf = PQnotifies(pg)) != NULL) {
		int64_t id;
		if (parse_id(nf->extra, &id) == 0) {
			fn(arg, id);
			n++;
		}
		PQfreemem(nf);
	}
	if (lost) {
		set_err(err, errsz, *PQerrorMessage(pg) != '\0' ?
		    PQerrorMessage(pg) : "connection lost");
		return CM_EDBDOWN;
	}
	return n;
}

void
store_listen_close(struct store_listen **lp)
{
	struct store_listen *l = *lp;

	if (l == NULL)
		return;
	store_disconnect(&l->db);
	free(l);
	*lp = NULL;
}
