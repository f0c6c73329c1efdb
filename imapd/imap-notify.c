/*
 * imap-notify: the one LISTEN connection of a capmail-imapd process
 * (imap-idle.h, store/notify.h), driven by the loop:
 *
 *   connecting: store_listen_open() runs on the thread pool (it blocks
 *     for at most the connect timeout); its result comes back to the loop
 *   listening: a uv_poll_t on the connection's socket; when readable,
 *     store_listen_read() takes what arrived (never waits) and each
 *     mailbox id wakes the sessions idling in it
 *   waiting: after a failed connect or a lost connection, a timer starts
 *     the next connect after RETRY_MIN_MS, doubling up to RETRY_MAX_MS
 *
 * The poll handle is closed before the connection (and so its socket):
 * libuv must not watch a closed descriptor. Once LISTEN is in place again
 * every idling session is polled: nothing was notified in the gap.
 */
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "errors.h"
#include "imap-idle.h"
#include "imapd.h"
#include "log.h"
#include "notify.h"

#define RETRY_MIN_MS 500
#define RETRY_MAX_MS 10000

struct imap_notify {
	struct imapd *d;
	char *conninfo;
	struct store_listen *l;		/* listening (poll active), or NULL */
	struct store_listen *opened;	/* from the worker */
	int open_rc;
	char err[256];
	uv_work_t work;
	uv_poll_t poll;
	uv_timer_t retry;
	unsigned retry_ms;
	int failures;			/* connects failed in a row */
};

static void notify_connect(struct imap_notify *n);

static void
on_retry(uv_timer_t *t)
{
	notify_connect(t->data);
}

static void
retry_later(struct imap_notify *n)
{
	uv_timer_start(&n->retry, on_retry, n->retry_ms, 0);
	n->retry_ms = n->retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS :
	    n->retry_ms * 2;
}

static void
on_poll_closed(uv_handle_t *h)
{
	struct imap_notify *n = h->data;

	store_listen_close(&n->l);
	retry_later(n);
}

static void
lost(struct imap_notify *n, const char *why)
{
	log_warn(NULL, "imap notify connection lost error=\"%s\", "
	    "reconnecting", why);
	uv_poll_stop(&n->poll);
	uv_close((uv_handle_t *)&n->poll, on_poll_closed);
}

static void
on_mailbox(void *arg, int64_t mailbox_id)
{
	struct imap_notify *n = arg;

	imap_idle_wake(n->d, mailbox_id);
}

/* Returns 0, or CM_EDBDOWN after lost() was called. */
static int
drain(struct imap_notify *n)
{
	char err[256];

	if (store_listen_read(n->l, on_mailbox, n, err, sizeof err) < 0) {
		lost(n, err);
		return CM_EDBDOWN;
	}
	return 0;
}

static void
on_readable(uv_poll_t *p, int status, int events)
{
	struct imap_notify *n = p->data;

	(void)events;
	if (status < 0) {
		lost(n, uv_strerror(status));
		return;
	}
	(void)drain(n);
}

static void
connect_work(uv_work_t *w)
{
	struct imap_notify *n = w->data;

	n->open_rc = store_listen_open(n->conninfo, &n->opened, n->err,
	    sizeof n->err);
}

static void
connect_done(uv_work_t *w, int status)
{
	struct imap_notify *n = w->data;
	int rc;

	if (status != 0 || n->open_rc < 0) {
		/* the first failure of a run is a warning, the retries are
		 * not news */
		if (n->failures++ == 0)
			log_warn(NULL, "imap notify connect failed error=\"%s\","
			    " retrying", status != 0 ? uv_strerror(status) :
			    n->err);
		else
			log_debug(NULL, "imap notify connect failed again "
			    "error=\"%s\"", status != 0 ? uv_strerror(status) :
			    n->err);
		store_listen_close(&n->opened);
		retry_later(n);
		return;
	}
	n->l = n->opened;
	n->opened = NULL;
	if ((rc = uv_poll_init(n->d->loop, &n->poll,
	    store_listen_fd(n->l))) < 0) {
		log_error(NULL, "imap notify poll error=%s", uv_strerror(rc));
		store_listen_close(&n->l);
		retry_later(n);
		return;
	}
	n->poll.data = n;
	if ((rc = uv_poll_start(&n->poll, UV_READABLE, on_readable)) < 0) {
		lost(n, uv_strerror(rc));
		return;
	}
	log_info(NULL, "imap notify listening channel=%s",
	    STORE_MAILBOX_NOTIFY);
	n->failures = 0;
	n->retry_ms = RETRY_MIN_MS;
	/* LISTEN may have brought notifications along already */
	if (drain(n) < 0)
		return;
	imap_idle_wake_all(n->d);
}

static void
notify_connect(struct imap_notify *n)
{
	int rc;

	n->work.data = n;
	if ((rc = uv_queue_work(n->d->loop, &n->work, connect_work,
	    connect_done)) < 0) {
		log_error(NULL, "imap notify queue error=%s", uv_strerror(rc));
		retry_later(n);
	}
}

int
imap_notify_start(struct imapd *d, const char *conninfo)
{
	struct imap_notify *n = calloc(1, sizeof *n);

	if (n == NULL || (n->conninfo = strdup(conninfo)) == NULL) {
		free(n);
		return CM_ENOMEM;
	}
	n->d = d;
	n->retry_ms = RETRY_MIN_MS;
	uv_timer_init(d->loop, &n->retry);
	n->retry.data = n;
	d->notify = n;
	notify_connect(n);
	return 0;
}
