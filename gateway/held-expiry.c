/*
 * held-expiry.c: the gateway deletes held mail that nobody released
 * within held_max_age (default 14 days): at start and then every
 * HELD_EXPIRY_INTERVAL seconds, through store_held_expire(), which also
 * collects the messages and objects no grant refers to any more. One log
 * line per grant deleted.
 *
 * Several gateways may run against one store: the DELETE is one statement
 * per run, so two of them expiring at once only find less to do.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "held-expiry.h"
#include "log.h"
#include "senders.h"

#define HELD_EXPIRY_INTERVAL 3600	/* seconds */

static uv_timer_t timer;
static int running, started;
static char *result_log;	/* the worker's lines, for expire_done */

static int
expire_work(struct store_conn *db, void *arg)
{
	const struct gateway *gw = arg;

	return store_held_expire(db, gw->held_max_age, &result_log);
}

static void
expire_done(void *arg, int rc)
{
	struct gateway *gw = arg;

	running = 0;
	if (rc < 0) {
		log_warn(NULL, "smtp held-expiry error=%s", cm_errname(rc));
	} else if (rc > 0) {
		char *line = result_log, *nl;

		for (; line != NULL && *line != '\0'; line = nl) {
			if ((nl = strchr(line, '\n')) != NULL)
				*nl++ = '\0';
			log_info(NULL, "smtp held expired %s", line);
		}
		log_info(NULL, "smtp held-expiry expired=%d max_age=%ld", rc,
		    gw->held_max_age);
	}
	free(result_log);
	result_log = NULL;
	gw->pending--;
	gateway_maybe_stop(gw);
}

static void
on_timer(uv_timer_t *t)
{
	struct gateway *gw = t->data;
	int rc;

	if (running || gw->stopping)
		return;
	running = 1;
	gw->pending++;
	if ((rc = store_run(gw->store, gw->loop, expire_work, expire_done,
	    gw)) < 0)
		expire_done(gw, rc);
}

void
held_expiry_start(struct gateway *gw)
{
	uv_timer_init(gw->loop, &timer);
	timer.data = gw;
	/* first run at once: a gateway that was down catches up */
	uv_timer_start(&timer, on_timer, 0, HELD_EXPIRY_INTERVAL * 1000);
	started = 1;
}

void
held_expiry_stop(void)
{
	if (!started)
		return;
	uv_timer_stop(&timer);
	uv_close((uv_handle_t *)&timer, NULL);
	started = 0;
}
