/*
 * cmd-idle: IDLE (RFC 2177). See imap-idle.h for what wakes a session and
 * what it is told.
 *
 * struct imap_idle lives from "+ idling" until DONE or the session's
 * end. Its timer is a libuv handle, so the struct is freed in the timer's
 * close callback, after the session has let go of it (idle->s = NULL).
 * The polls are ordinary imap_jobs with an empty tag: the session's input
 * is paused while one runs, so a DONE that arrives meanwhile is read
 * after the poll's untagged responses went out, and the tagged OK comes
 * last.
 */
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "imap-commands.h"
#include "imap-idle.h"
#include "imap-util.h"
#include "log.h"

struct imap_idle {
	uv_timer_t timer;		/* next fallback poll, or "now" */
	struct imap_session *s;		/* NULL once the session let go */
	struct imap_idle *prev, *next;	/* in d->idle[bucket(mbox_id)] */
	int64_t mbox_id;		/* 0: not registered (none selected) */
	int again;			/* woken while a poll ran */
	char tag[64];
};

static size_t
bucket(int64_t mbox_id)
{
	return (size_t)((uint64_t)mbox_id % IMAPD_IDLE_BUCKETS);
}

static void
idle_register(struct imapd *d, struct imap_idle *idle, int64_t mbox_id)
{
	struct imap_idle **head = &d->idle[bucket(mbox_id)];

	idle->mbox_id = mbox_id;
	idle->prev = NULL;
	idle->next = *head;
	if (*head != NULL)
		(*head)->prev = idle;
	*head = idle;
}

static void
idle_unregister(struct imapd *d, struct imap_idle *idle)
{
	if (idle->mbox_id == 0)
		return;
	if (idle->prev != NULL)
		idle->prev->next = idle->next;
	else
		d->idle[bucket(idle->mbox_id)] = idle->next;
	if (idle->next != NULL)
		idle->next->prev = idle->prev;
	idle->prev = idle->next = NULL;
	idle->mbox_id = 0;
}

static void on_idle_timer(uv_timer_t *t);

/* Arm the timer: at once when a wake-up came during the last poll, else
 * after imap_idle_poll. */
static void
idle_arm(struct imap_idle *idle)
{
	uint64_t ms = idle->again ? 0 : idle->s->d->idle_poll_ms;

	idle->again = 0;
	uv_timer_start(&idle->timer, on_idle_timer, ms, 0);
}

static void
poll_free(struct imap_job *j)
{
	struct imap_session *s = j->s;

	free(j);
	/* job_finish() calls this before it resumes input: only the timer
	 * is touched here, the next poll starts from the loop */
	if (s->idle != NULL && s->idle->mbox_id != 0)
		idle_arm(s->idle);
}

/* The NOOP poll, without a tagged line. */
static void
idle_poll(struct imap_session *s)
{
	struct imap_idle *idle = s->idle;
	struct imap_job *j;

	if (conn_closing(s->c) || s->state != IMAP_STATE_SELECTED)
		return;
	if (s->job != NULL) {
		idle->again = 1;
		return;
	}
	uv_timer_stop(&idle->timer);
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		idle_arm(idle);		/* try again later */
		return;
	}
	imap_job_init(j, s, "", 1);
	j->free = poll_free;
	imap_job_start(s, j);
}

static void
on_idle_timer(uv_timer_t *t)
{
	struct imap_idle *idle = t->data;

	if (idle->s != NULL)
		idle_poll(idle->s);
}

static void
on_idle_closed(uv_handle_t *h)
{
	free(h->data);
}

/* Forget the IDLE of s (no reply). */
static void
idle_end(struct imap_session *s)
{
	struct imap_idle *idle = s->idle;

	if (idle == NULL)
		return;
	idle_unregister(s->d, idle);
	idle->s = NULL;
	s->idle = NULL;
	uv_timer_stop(&idle->timer);
	uv_close((uv_handle_t *)&idle->timer, on_idle_closed);
}

void
cmd_idle(struct imap_session *s, const struct imap_cmd *cmd)
{
	struct imap_idle *idle;
	size_t tl;

	if (cmd->nargs != 0) {
		imap_cmd_reply(s, cmd, "BAD IDLE takes no arguments");
		return;
	}
	if ((idle = calloc(1, sizeof(*idle))) == NULL) {
		imap_cmd_reply(s, cmd, "NO Out of memory");
		return;
	}
	tl = strlen(cmd->tag);
	if (tl >= sizeof(idle->tag))
		tl = sizeof(idle->tag) - 1;
	memcpy(idle->tag, cmd->tag, tl);
	idle->tag[tl] = '\0';
	uv_timer_init(s->d->loop, &idle->timer);
	idle->timer.data = idle;
	idle->s = s;
	s->idle = idle;
	imap_send(s, "+ idling");
	if (s->state != IMAP_STATE_SELECTED) {
		log_debug(s->c->id, "imap idle mailbox=none");
		return;		/* nothing to report: wait for DONE */
	}
	log_debug(s->c->id, "imap idle mailbox=%lld", (long long)s->mbox_id);
	/* registered first, then polled: a change after this poll's
	 * listing is notified, one before it is in the listing */
	idle_register(s->d, idle, s->mbox_id);
	idle_poll(s);
}

void
imap_idle_line(struct imap_session *s, const char *line, size_t len)
{
	char tag[64];

	memcpy(tag, s->idle->tag, sizeof(tag));
	idle_end(s);
	if (imap_idle_done(line, len)) {
		log_debug(s->c->id, "imap idle done");
		imap_send(s, "%s OK IDLE terminated", tag);
		return;
	}
	imap_send(s, "%s BAD Expected DONE", tag);
	if (++s->bad_commands >= IMAP_MAX_BAD_COMMANDS) {
		imap_send(s, "* BYE Too many bad commands");
		conn_close(s->c, "too many errors");
	}
}

void
imap_idle_close(struct imap_session *s)
{
	idle_end(s);
}

void
imap_idle_wake(struct imapd *d, int64_t mailbox_id)
{
	struct imap_idle *idle = d->idle[bucket(mailbox_id)], *next;

	for (; idle != NULL; idle = next) {
		/* idle_poll() does not unregister, but be safe against it */
		next = idle->next;
		if (idle->mbox_id == mailbox_id)
			idle_poll(idle->s);
	}
}

void
imap_idle_wake_all(struct imapd *d)
{
	for (size_t b = 0; b < IMAPD_IDLE_BUCKETS; b++) {
		struct imap_idle *idle = d->idle[b], *next;
		for (; idle != NULL; idle = next) {
			next = idle->next;
			idle_poll(idle->s);
		}
	}
}
