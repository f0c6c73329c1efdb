/*
 * sender: capmail-outbound's worker thread. See sender.h.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "dsn.h"
#include "errors.h"
#include "log.h"
#include "outbound.h"
#include "sender.h"
#include "store.h"

#define MESSAGE_MAX (1u << 30)
#define DB_RETRY_S 5		/* after a database error */
#define PURGE_EVERY_S 3600	/* finished items are deleted this often */

static long lease_of(const struct sender *s)
{
	return 10 * s->timeout + 60;
}

/* Sleep up to secs, or until stopped. */
static void nap(struct sender *s, long secs)
{
	struct pollfd p = { .fd = s->wake[0], .events = POLLIN };

	if (!atomic_load(&s->stop))
		(void)poll(&p, 1, (int)(secs * 1000));
}

static const char *outcome_name(enum store_outbound_outcome o)
{
	return o == STORE_OUTBOUND_SENT ? "sent" :
	    o == STORE_OUTBOUND_RETRY ? "deferred" : "bounced";
}

/* Deliver one claimed item and record the outcome. */
static void deliver_item(struct sender *s, struct store_conn *db,
    const struct store_outbound_item *it)
{
	struct relay_result *rr = NULL;
	struct store_outbound_result *res = NULL;
	struct dsn_rcpt *failed = NULL;
	char (*status)[16] = NULL;
	char (*diag)[RELAY_REPLY_MAX + 64] = NULL;
	char id[32], relay[RELAY_HOST_MAX + 8];
	struct buf msg, bounce;
	struct store_delivery bd;
	size_t nfailed = 0;
	time_t now;
	long delay;
	int rc, make_bounce;

	snprintf(id, sizeof id, "ob%lld", (long long)it->id);
	buf_init(&msg, MESSAGE_MAX);
	buf_init(&bounce, MESSAGE_MAX);
	if (it->nrcpts == 0) {
		/* nothing left to send (an earlier finish went wrong) */
		now = time(NULL);
		rc = store_outbound_finish(db, it->id, NULL, 0, now, NULL);
		goto out;
	}
	rr = calloc(it->nrcpts, sizeof *rr);
	res = calloc(it->nrcpts, sizeof *res);
	failed = calloc(it->nrcpts, sizeof *failed);
	status = calloc(it->nrcpts, sizeof *status);
	diag = calloc(it->nrcpts, sizeof *diag);
	if (rr == NULL || res == NULL || failed == NULL || status == NULL ||
	    diag == NULL) {
		log_error(id, "outbound out of memory");
		goto out;
	}
	rc = store_outbound_message(db, it->message_id, &msg);
	if (rc != 0) {
		log_error(id, "outbound message=%lld: %s: %s",
		    (long long)it->message_id, cm_strerror(rc),
		    store_errmsg(db));
		goto out;
	}

	relay_send(s->relay_host, s->relay_port, (time_t)s->timeout,
	    it->mail_from, it->rcpts, it->nrcpts, msg.data, msg.len, rr);

	now = time(NULL);
	delay = store_outbound_delay(it->attempts + 1, s->retry_min,
	    s->retry_max);
	for (size_t i = 0; i < it->nrcpts; i++) {
		res[i].rcpt_id = it->rcpt_ids[i];
		res[i].error = rr[i].reply;
		switch (rr[i].outcome) {
		case RELAY_SENT:
			res[i].outcome = STORE_OUTBOUND_SENT;
			break;
		case RELAY_FAILED:
			res[i].outcome = STORE_OUTBOUND_FAILED;
			dsn_status(rr[i].code, rr[i].reply + (rr[i].code ?
			    4 : 0), status[i]);
			snprintf(diag[i], sizeof diag[i], "%s", rr[i].reply);
			break;
		default:
			res[i].outcome = STORE_OUTBOUND_RETRY;
			if (now + delay <= it->created + s->max_age)
				break;
			/* given up: too old for another try */
			res[i].outcome = STORE_OUTBOUND_FAILED;
			memcpy(status[i], "4.4.7", 6);
			snprintf(diag[i], sizeof diag[i],
			    "delivery time expired after %d attempts, last: %s",
			    it->attempts + 1, rr[i].reply);
			res[i].error = diag[i];
			break;
		}
		if (res[i].outcome == STORE_OUTBOUND_FAILED) {
			failed[nfailed].address = it->rcpts[i];
			failed[nfailed].status = status[i];
			failed[nfailed].diagnostic = diag[i];
			nfailed++;
		}
		log_info(id, "outbound to=%s status=%s attempt=%d relay=%s"
		    " reply=%s", it->rcpts[i], outcome_name(res[i].outcome),
		    it->attempts + 1, s->relay_spec, res[i].error);
	}

	/* never bounce a bounce; nobody to tell without an owner */
	make_bounce = nfailed > 0 && it->mail_from[0] != '\0' &&
	    it->owner > 0;
	memset(&bd, 0, sizeof bd);
	if (make_bounce) {
		struct dsn_report r;
		char uniq[64];

		snprintf(uniq, sizeof uniq, "%lld.%lld.%d",
		    (long long)it->id, (long long)now, it->attempts + 1);
		snprintf(relay, sizeof relay, "%s", s->relay_host);
		memset(&r, 0, sizeof r);
		r.hostname = s->hostname;
		r.relay = relay;
		r.to = it->mail_from;
		r.original = msg.data;
		r.original_len = msg.len;
		r.arrival = it->created;
		r.now = now;
		r.unique = uniq;
		r.rcpts = failed;
		r.nrcpts = nfailed;
		rc = dsn_build(&r, &bounce);
		if (rc != 0) {
			log_error(id, "outbound bounce: %s", cm_strerror(rc));
			make_bounce = 0;
		} else {
			bd.data = bounce.data;
			bd.len = bounce.len;
			bd.mail_from = "";
			bd.grantor_auth = "none";
			bd.rcpts = &it->owner;
			bd.nrcpts = 1;
			bd.mailbox = "INBOX";
			bd.grant_state = "active";
			bd.flags = "";
		}
	}
	rc = store_outbound_finish(db, it->id, res, it->nrcpts, now + delay,
	    make_bounce ? &bd : NULL);
	if (rc != 0) {
		/* the lease ends and the item is tried again: at least
		 * once, as SMTP itself */
		log_error(id, "outbound recording the outcome: %s: %s",
		    cm_strerror(rc), store_errmsg(db));
	} else if (make_bounce) {
		log_info(id, "outbound bounce to=%s message=%lld failed=%zu",
		    it->mail_from, (long long)bd.message_id_r, nfailed);
	} else if (nfailed > 0) {
		log_info(id, "outbound failed=%zu, no bounce (%s)", nfailed,
		    it->mail_from[0] == '\0' ? "null sender" : "no owner");
	}
out:
	buf_free(&msg);
	buf_free(&bounce);
	free(rr);
	free(res);
	free(failed);
	free(status);
	free(diag);
}

static void run(void *arg)
{
	struct sender *s = arg;
	struct store_conn *db = NULL, *ldb = NULL;
	int listening = 0, said_idle = 0;
	time_t last_purge = 0;
	char err[256];

	while (!atomic_load(&s->stop)) {
		struct store_outbound_item *it = NULL;
		size_t n = 0;
		long wait_s = s->poll, due;
		int rc;

		if (db == NULL &&
		    (db = store_connect(s->conninfo, err, sizeof err)) == NULL) {
			log_warn(NULL, "outbound database: %s", err);
			nap(s, DB_RETRY_S);
			continue;
		}
		if (!listening) {
			if (ldb == NULL)
				ldb = store_connect(s->conninfo, err,
				    sizeof err);
			if (ldb != NULL && store_outbound_listen(ldb) == 0)
				listening = 1;
		}
		if (s->relay_host[0] != '\0') {
			rc = store_outbound_claim(db, (int)lease_of(s), 1, &it,
			    &n);
			if (rc != 0) {
				log_warn(NULL, "outbound claim: %s: %s",
				    cm_strerror(rc), store_errmsg(db));
				nap(s, DB_RETRY_S);
				continue;
			}
			if (n > 0) {
				deliver_item(s, db, &it[0]);
				store_outbound_items_free(&it, n);
				continue;
			}
		}
		if (time(NULL) - last_purge >= PURGE_EVERY_S) {
			last_purge = time(NULL);
			rc = store_outbound_purge(db, s->keep);
			if (rc > 0)
				log_info(NULL, "outbound purged items=%d"
				    " older_than=%lds", rc, s->keep);
			else if (rc < 0)
				log_warn(NULL, "outbound purge: %s: %s",
				    cm_strerror(rc), store_errmsg(db));
		}
		rc = store_outbound_next_due(db, &due);
		if (rc != 0) {
			log_warn(NULL, "outbound queue: %s: %s",
			    cm_strerror(rc), store_errmsg(db));
			nap(s, DB_RETRY_S);
			continue;
		}
		if (s->relay_host[0] == '\0') {
			if (due >= 0 && !said_idle)
				log_warn(NULL, "outbound relay_host is empty:"
				    " queued mail waits (capmailctl queue list)");
			said_idle = due >= 0;
		} else if (due >= 0 && due < wait_s) {
			/* due now but not claimed: another sender has it */
			wait_s = due > 0 ? due : 1;
		}
		if (listening) {
			rc = store_outbound_wait(ldb, s->wake[0],
			    (int)(wait_s * 1000));
			if (rc < 0) {
				log_warn(NULL, "outbound LISTEN connection"
				    " lost: %s", store_errmsg(ldb));
				listening = 0;
				nap(s, 1);
			}
		} else {
			nap(s, wait_s < DB_RETRY_S ? wait_s : DB_RETRY_S);
		}
	}
	store_disconnect(&db);
	store_disconnect(&ldb);
}

int sender_start(struct sender *s)
{
	atomic_store(&s->stop, 0);
	if (pipe(s->wake) != 0)
		return CM_EIO;
	(void)fcntl(s->wake[0], F_SETFD, FD_CLOEXEC);
	(void)fcntl(s->wake[1], F_SETFD, FD_CLOEXEC);
	if (uv_thread_create(&s->thread, run, s) != 0) {
		close(s->wake[0]);
		close(s->wake[1]);
		return CM_EIO;
	}
	return 0;
}

void sender_stop(struct sender *s)
{
	ssize_t w;

	atomic_store(&s->stop, 1);
	do
		w = write(s->wake[1], "x", 1);
	while (w < 0 && errno == EINTR);
	uv_thread_join(&s->thread);
	close(s->wake[0]);
	close(s->wake[1]);
}
