/*
 * dbpool: blocking store connections for handler threads. See dbpool.h.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbpool.h"

struct dbpool {
	pthread_mutex_t lock;
	pthread_cond_t freed;
	char *conninfo;
	int n;			/* slots */
	int taken;		/* slots handed out */
	int nidle;
	struct store_conn **idle;	/* connected, free */
};

struct dbpool *
dbpool_new(const char *conninfo, int n)
{
	struct dbpool *p = calloc(1, sizeof *p);

	if (p == NULL)
		return NULL;
	p->n = n > 0 ? n : 1;
	p->conninfo = strdup(conninfo);
	p->idle = calloc((size_t)p->n, sizeof *p->idle);
	if (p->conninfo == NULL || p->idle == NULL) {
		free(p->conninfo);
		free(p->idle);
		free(p);
		return NULL;
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->freed, NULL);
	return p;
}

void
dbpool_free(struct dbpool **pp)
{
	struct dbpool *p = *pp;

	if (p == NULL)
		return;
	for (int i = 0; i < p->nidle; i++)
		store_disconnect(&p->idle[i]);
	pthread_cond_destroy(&p->freed);
	pthread_mutex_destroy(&p->lock);
	free(p->idle);
	free(p->conninfo);
	free(p);
	*pp = NULL;
}

struct store_conn *
dbpool_get(struct dbpool *p, char *err, size_t errsz)
{
	struct store_conn *db = NULL;

	pthread_mutex_lock(&p->lock);
	while (p->taken >= p->n)
		pthread_cond_wait(&p->freed, &p->lock);
	p->taken++;
	if (p->nidle > 0)
		db = p->idle[--p->nidle];
	pthread_mutex_unlock(&p->lock);
	if (db == NULL)		/* connect outside the lock */
		db = store_connect(p->conninfo, err, errsz);
	return db;
}

void
dbpool_put(struct dbpool *p, struct store_conn *db)
{
	pthread_mutex_lock(&p->lock);
	if (db != NULL)
		p->idle[p->nidle++] = db;
	p->taken--;
	pthread_cond_signal(&p->freed);
	pthread_mutex_unlock(&p->lock);
}
