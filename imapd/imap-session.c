/*
 * imap-session: see imap-session.h. The conn callbacks are the only event
 * entry points: accepted (greeting), input (parse, dispatch), timeout
 * (BYE), closed (free). Store work comes back through job_done().
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "imap-commands.h"
#include "imap-idle.h"
#include "imap-search.h"
#include "imap-session.h"
#include "imap-util.h"
#include "log.h"
#include "store.h"

static const char *const state_names[] = {
	[IMAP_STATE_NOAUTH] = "not-authenticated",
	[IMAP_STATE_AUTH] = "authenticated",
	[IMAP_STATE_SELECTED] = "selected",
	[IMAP_STATE_LOGOUT] = "logout",
};

void
imap_session_set_state(struct imap_session *s, enum imap_state st)
{
	if (s->state == st)
		return;
	/* the full literal limit only for a logged-in user */
	imap_parser_set_max_literal(s->parser, st == IMAP_STATE_NOAUTH &&
	    IMAP_MAX_LITERAL_NOAUTH < s->d->max_literal ?
	    IMAP_MAX_LITERAL_NOAUTH : s->d->max_literal);
	log_debug(s->c->id, "imap state %s -> %s", state_names[s->state],
	    state_names[st]);
	s->state = st;
}

int
imap_login_allowed(const struct imap_session *s)
{
	return conn_tls(s->c) || (s->d->plaintext_loopback &&
	    conn_peer_loopback(s->c));
}

const char *
imap_capabilities(const struct imap_session *s, char *buf, size_t bufsz)
{
	int login = imap_login_allowed(s);

	if (s->state != IMAP_STATE_NOAUTH) {
		snprintf(buf, bufsz, "%s", IMAP_CAPABILITIES);
		return buf;
	}
	snprintf(buf, bufsz, "IMAP4rev1 LITERAL+ SASL-IR%s UIDPLUS ID "
	    "NAMESPACE UNSELECT CHILDREN IDLE%s%s", login ? " AUTH=PLAIN" : "",
	    s->d->tls && !conn_tls(s->c) ? " STARTTLS" : "",
	    login ? "" : " LOGINDISABLED");
	return buf;
}

void
imap_send(struct imap_session *s, const char *fmt, ...)
{
	struct buf b;
	va_list ap;
	int rc;

	if (conn_closing(s->c))
		return;
	buf_init(&b, s->d->max_line + 1024);
	va_start(ap, fmt);
	rc = buf_vprintf(&b, fmt, ap);
	va_end(ap);
	if (rc == 0)
		rc = buf_add(&b, "\r\n", 2);
	if (rc == 0)
		conn_write(s->c, b.data, b.len);
	else
		log_error(s->c->id, "imap response too large, dropped");
	buf_free(&b);
}

static void
view_free(struct imap_session *s)
{
	for (size_t i = 0; i < s->nmsgs; i++)
		free(s->msgs[i].flags);
	free(s->msgs);
	s->msgs = NULL;
	s->nmsgs = s->capmsgs = 0;
	s->nrecent = 0;
	s->recent_known = 0;
	free(s->mbox_name);
	s->mbox_name = NULL;
	s->mbox_id = 0;
	free(s->keywords);
	s->keywords = NULL;
	s->keywords_changed = 0;
}

/* Remember keywords the client has not been told about (FLAGS). */
static void
note_keywords(struct imap_session *s, const char *flags)
{
	while (*flags != '\0') {
		const char *e = strchr(flags, ' ');
		size_t len = e != NULL ? (size_t)(e - flags) : strlen(flags);
		char word[256];

		if (flags[0] != '\\' && len > 0 && len < sizeof(word)) {
			memcpy(word, flags, len);
			word[len] = '\0';
			if (!imap_flags_have(s->keywords != NULL ? s->keywords :
			    "", word)) {
				size_t old = s->keywords != NULL ?
				    strlen(s->keywords) : 0;
				char *nk;
				if (old + len + 2 > IMAP_MAX_KEYWORDS_LEN ||
				    (nk = realloc(s->keywords, old + len + 2))
				    == NULL)
					return;
				nk[old] = ' ';
				memcpy(nk + old + 1, word, len + 1);
				s->keywords = nk;
				s->keywords_changed = 1;
			}
		}
		if (e == NULL)
			break;
		flags = e + 1;
	}
}

void
imap_session_unselect(struct imap_session *s)
{
	view_free(s);
	if (s->state == IMAP_STATE_SELECTED)
		imap_session_set_state(s, IMAP_STATE_AUTH);
}

/* Index of the first message with uid >= uid (nmsgs when none). */
static size_t
lower_bound(const struct imap_session *s, uint32_t uid)
{
	size_t lo = 0, hi = s->nmsgs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->msgs[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Index of uid in the view, or -1. */
static long
view_find(const struct imap_session *s, uint32_t uid)
{
	size_t lo = 0, hi = s->nmsgs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->msgs[mid].uid == uid)
			return (long)mid;
		if (s->msgs[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

void
imap_session_set_flags(struct imap_session *s, uint32_t uid,
    const char *flags)
{
	long i = view_find(s, uid);
	char *f;

	if (i < 0 || strcmp(s->msgs[i].flags, flags) == 0)
		return;
	if ((f = strdup(flags)) == NULL)
		return;		/* the next poll announces it again */
	free(s->msgs[i].flags);
	s->msgs[i].flags = f;
	note_keywords(s, f);
}

int
imap_session_recent(const struct imap_session *s, uint32_t uid)
{
	long i = view_find(s, uid);

	return i >= 0 && s->msgs[i].recent;
}

static int
view_append(struct imap_session *s, uint32_t uid, const char *flags)
{
	if (s->nmsgs == s->capmsgs) {
		size_t nc = s->capmsgs ? s->capmsgs * 2 : 64;
		struct imap_view_msg *nm = realloc(s->msgs,
		    nc * sizeof(*nm));
		if (nm == NULL)
			return CM_ENOMEM;
		s->msgs = nm;
		s->capmsgs = nc;
	}
	if ((s->msgs[s->nmsgs].flags = strdup(flags)) == NULL)
		return CM_ENOMEM;
	s->msgs[s->nmsgs].recent = 0;
	s->msgs[s->nmsgs++].uid = uid;
	note_keywords(s, flags);
	return 0;
}

static int
entry_present(const struct imap_job *j, uint32_t uid)
{
	size_t lo = 0, hi = j->nview;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (j->view[mid].uid == uid)
			return 1;
		if (j->view[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* ---- \Recent ---- */

int
imap_job_learn_recent(struct store_conn *db, struct imap_job *j,
    const struct store_entry *e, size_t n, uint32_t uidnext)
{
	uint32_t bound = uidnext, first;
	int rc;

	j->recent_first = j->recent_bound = 0;
	/* one past the highest uid seen: entries listed after uidnext was
	 * read may lie beyond it */
	if (n > 0 && e[n - 1].uid >= bound && e[n - 1].uid < UINT32_MAX)
		bound = e[n - 1].uid + 1;
	/* every uid below recent_known was claimed (by this session or
	 * another) or looked at already: nothing new to learn */
	if (bound <= j->recent_known)
		return 0;
	rc = store_mailbox_recent(db, j->user_id, j->mbox_id, bound,
	    j->recent_claim, &first);
	if (rc < 0)
		return rc;
	j->recent_first = first > j->recent_known ? first : j->recent_known;
	j->recent_bound = bound;
	return 0;
}

void
imap_session_apply_recent(struct imap_session *s, const struct imap_job *j)
{
	if (j->recent_bound == 0)
		return;
	for (size_t i = lower_bound(s, j->recent_first); i < s->nmsgs &&
	    s->msgs[i].uid < j->recent_bound; i++) {
		if (!s->msgs[i].recent) {
			s->msgs[i].recent = 1;
			s->nrecent++;
		}
	}
	if (j->recent_bound > s->recent_known)
		s->recent_known = j->recent_bound;
}

/* Announce what changed between the client's view and the poll. */
static void
apply_view(struct imap_session *s, struct imap_job *j)
{
	uint32_t maxold;
	size_t before, recent_before;

	if (j->allow_expunge) {
		for (size_t i = s->nmsgs; i-- > 0;) {
			if (entry_present(j, s->msgs[i].uid))
				continue;
			imap_send(s, "* %zu EXPUNGE", i + 1);
			if (s->msgs[i].recent)
				s->nrecent--;
			free(s->msgs[i].flags);
			memmove(&s->msgs[i], &s->msgs[i + 1],
			    (s->nmsgs - i - 1) * sizeof(s->msgs[0]));
			s->nmsgs--;
		}
	}
	maxold = s->nmsgs > 0 ? s->msgs[s->nmsgs - 1].uid : 0;
	before = s->nmsgs;
	recent_before = s->nrecent;
	for (size_t k = 0; k < j->nview; k++) {
		const struct store_entry *e = &j->view[k];
		long i;
		if (e->uid > maxold) {
			if (view_append(s, e->uid, e->flags) < 0)
				break;
			continue;
		}
		if ((i = view_find(s, e->uid)) < 0)
			continue;	/* an old uid we never saw: skip */
		if (strcmp(s->msgs[i].flags, e->flags) != 0) {
			imap_session_set_flags(s, e->uid, e->flags);
			imap_send(s, "* %ld FETCH (UID %u FLAGS (%s%s))", i + 1,
			    e->uid, e->flags, imap_flags_recent(e->flags,
			    s->msgs[i].recent));
		}
	}
	imap_session_apply_recent(s, j);
	if (s->nmsgs != before)
		imap_send(s, "* %zu EXISTS", s->nmsgs);
	if (s->nrecent != recent_before)
		imap_send(s, "* %zu RECENT", s->nrecent);
}

/* ---- jobs ---- */

void
imap_job_init(struct imap_job *j, struct imap_session *s, const char *tag,
    size_t max_out)
{
	size_t tl = strlen(tag);

	j->s = s;
	if (tl >= sizeof(j->tag))
		tl = sizeof(j->tag) - 1;
	memcpy(j->tag, tag, tl);
	j->tag[tl] = '\0';
	j->work = NULL;
	j->reply = NULL;
	j->user_id = s->user_id;
	j->mbox_id = s->mbox_id;
	j->refresh = s->state == IMAP_STATE_SELECTED;
	j->allow_expunge = 1;
	j->again = 0;
	j->recent_claim = !s->readonly;
	j->recent_known = s->recent_known;
	j->recent_first = j->recent_bound = 0;
	buf_init(&j->out, max_out);
	snprintf(j->tagged, sizeof(j->tagged), "OK Completed");
	j->view = NULL;
	j->nview = 0;
	j->view_rc = 0;
}

void
imap_job_tagged(struct imap_job *j, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(j->tagged, sizeof(j->tagged), fmt, ap);
	va_end(ap);
}

void
imap_job_store_error(struct imap_job *j, int rc, const char *what)
{
	switch (rc) {
	case CM_ENOTFOUND:
		imap_job_tagged(j, "NO [NONEXISTENT] %s: no such mailbox",
		    what);
		break;
	case CM_EEXIST:
		imap_job_tagged(j, "NO [ALREADYEXISTS] %s: mailbox exists",
		    what);
		break;
	case CM_EINVAL:
		imap_job_tagged(j, "NO [CANNOT] %s: not allowed for this name",
		    what);
		break;
	case CM_EDBDOWN:
		imap_job_tagged(j, "NO [UNAVAILABLE] %s: store unavailable,"
		    " try again later", what);
		break;
	case CM_EAUTH:
		imap_job_tagged(j, "NO [AUTHENTICATIONFAILED] Authentication"
		    " failed");
		break;
	case CM_ETOOBIG:	/* e.g. the store's 100 flags a message */
		imap_job_tagged(j, "NO [LIMIT] %s: limit exceeded, nothing"
		    " changed", what);
		break;
	default:
		imap_job_tagged(j, "NO [SERVERBUG] %s failed: %s", what,
		    cm_strerror(rc));
		break;
	}
}

static int
job_work(struct store_conn *db, void *arg)
{
	struct imap_job *j = arg;
	int rc = 0;

	if (j->work != NULL)
		rc = j->work(db, j);
	if (j->refresh && !j->again) {
		store_entries_free(&j->view, j->nview);
		j->nview = 0;
		j->view_rc = store_entries_list(db, j->user_id, j->mbox_id,
		    &j->view, &j->nview, &j->view_uidnext);
		/* a failure leaves recent_known: the next poll tries again */
		if (j->view_rc == 0)
			(void)imap_job_learn_recent(db, j, j->view, j->nview,
			    j->view_uidnext);
	}
	return rc;
}

static void job_done(void *arg, int rc);

static void
job_finish(struct imap_session *s, struct imap_job *j)
{
	struct conn *c = s->c;

	if (!conn_closing(c) && j->refresh && s->state ==
	    IMAP_STATE_SELECTED && s->mbox_id == j->mbox_id) {
		if (j->view_rc == 0) {
			apply_view(s, j);
		} else if (j->view_rc == CM_ENOTFOUND) {
			imap_send(s, "* BYE Selected mailbox was deleted");
			conn_close(c, "mailbox deleted");
		}
	}
	if (!conn_closing(c) && s->state == IMAP_STATE_SELECTED &&
	    s->keywords_changed) {
		imap_send(s, "* FLAGS (" IMAP_SYSTEM_FLAGS "%s)",
		    s->keywords != NULL ? s->keywords : "");
		if (!s->readonly)
			imap_send(s, "* OK [PERMANENTFLAGS (" IMAP_SYSTEM_FLAGS
			    "%s \\*)] Flags permitted",
			    s->keywords != NULL ? s->keywords : "");
	}
	s->keywords_changed = 0;
	if (!conn_closing(c) && j->tag[0] != '\0')
		imap_send(s, "%s %s", j->tag, j->tagged);
	s->job = NULL;
	imap_parser_reset(s->parser);
	store_entries_free(&j->view, j->nview);
	buf_free(&j->out);
	j->free(j);
	if (s->state == IMAP_STATE_LOGOUT)
		conn_close(c, "logout");
	conn_resume(c);
	conn_release(c);
}

static void
job_done(void *arg, int rc)
{
	struct imap_job *j = arg;
	struct imap_session *s = j->s;

	if (!conn_closing(s->c)) {
		if (j->out.len > 0)
			conn_write(s->c, j->out.data, j->out.len);
		buf_reset(&j->out);
		if (j->reply != NULL)
			j->reply(s, j, rc);
		else if (rc < 0)
			imap_job_store_error(j, rc, "Command");
		if (j->again && !conn_closing(s->c)) {
			j->again = 0;
			if (store_run(s->d->store, s->d->loop, job_work,
			    job_done, j) == 0)
				return;
			imap_job_tagged(j, "NO [UNAVAILABLE] Store busy");
		}
	}
	job_finish(s, j);
}

void
imap_job_start(struct imap_session *s, struct imap_job *j)
{
	s->job = j;
	conn_pause(s->c);
	conn_hold(s->c);
	if (store_run(s->d->store, s->d->loop, job_work, job_done, j) < 0) {
		imap_job_tagged(j, "NO [UNAVAILABLE] Store unavailable");
		j->refresh = 0;
		job_finish(s, j);
	}
}

/* ---- sequence sets ---- */

int
imap_session_resolve(struct imap_session *s, const char *set, size_t len,
    int uid, uint32_t **seqs_r, uint32_t **uids_r, size_t *n_r)
{
	struct imap_seqset ss;
	size_t n = s->nmsgs, count = 0;
	long *diff;
	int rc;

	*seqs_r = *uids_r = NULL;
	*n_r = 0;
	if ((rc = imap_seqset_parse(set, len, &ss)) < 0)
		return rc == CM_ENOMEM ? rc : CM_EPARSE;
	if ((diff = calloc(n + 1, sizeof(*diff))) == NULL) {
		imap_seqset_free(&ss);
		return CM_ENOMEM;
	}
	for (size_t k = 0; k < ss.n; k++) {
		uint32_t lo = ss.r[k].lo, hi = ss.r[k].hi, t;
		size_t a, b;
		if (!uid) {
			/* a number past the end is an error, except in a
			 * range with "*" ("1:*" in an empty mailbox, "5:*"
			 * with 3 messages is 3:5) */
			if (lo != IMAP_SEQ_STAR && hi != IMAP_SEQ_STAR &&
			    (lo > n || hi > n)) {
				rc = CM_EINVAL;
				break;
			}
			if (n == 0)
				continue;
			if (lo == IMAP_SEQ_STAR)
				lo = (uint32_t)n;
			if (hi == IMAP_SEQ_STAR)
				hi = (uint32_t)n;
			if (lo > n)
				lo = (uint32_t)n;
			if (hi > n)
				hi = (uint32_t)n;
			if (lo > hi) {
				t = lo;
				lo = hi;
				hi = t;
			}
			diff[lo - 1]++;
			diff[hi]--;
			continue;
		}
		if (n == 0)
			continue;
		if (lo == IMAP_SEQ_STAR)
			lo = s->msgs[n - 1].uid;
		if (hi == IMAP_SEQ_STAR)
			hi = s->msgs[n - 1].uid;
		if (lo > hi) {
			t = lo;
			lo = hi;
			hi = t;
		}
		a = lower_bound(s, lo);
		b = hi == UINT32_MAX ? n : lower_bound(s, hi + 1);
		if (a < b) {
			diff[a]++;
			diff[b]--;
		}
	}
	if (rc == 0) {
		long run = 0;
		for (size_t i = 0; i < n; i++) {
			run += diff[i];
			if (run > 0)
				count++;
		}
		if (count > 0) {
			*seqs_r = malloc(count * sizeof(uint32_t));
			*uids_r = malloc(count * sizeof(uint32_t));
			if (*seqs_r == NULL || *uids_r == NULL)
				rc = CM_ENOMEM;
		}
		run = 0;
		for (size_t i = 0, o = 0; rc == 0 && i < n; i++) {
			run += diff[i];
			if (run > 0) {
				(*seqs_r)[o] = (uint32_t)(i + 1);
				(*uids_r)[o++] = s->msgs[i].uid;
			}
		}
		if (rc == 0)
			*n_r = count;
	}
	if (rc < 0) {
		free(*seqs_r);
		free(*uids_r);
		*seqs_r = *uids_r = NULL;
	}
	free(diff);
	imap_seqset_free(&ss);
	return rc;
}

/* ---- conn callbacks ---- */

static void
session_accepted(struct conn *c)
{
	struct imapd *d = c->ctx;
	struct imap_session *s;

	if (d->stopping) {
		conn_writestr(c, "* BYE Server shutting down\r\n");
		conn_close(c, "shutdown");
		return;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL || (s->parser = imap_parser_new(d->max_line,
	    d->max_literal)) == NULL) {
		free(s);
		conn_writestr(c, "* BYE Out of memory\r\n");
		conn_close(c, "out of memory");
		return;
	}
	s->c = c;
	s->d = d;
	s->state = IMAP_STATE_NOAUTH;
	imap_parser_set_max_literal(s->parser, IMAP_MAX_LITERAL_NOAUTH <
	    d->max_literal ? IMAP_MAX_LITERAL_NOAUTH : d->max_literal);
	c->data = s;
	s->next = d->sessions;
	if (d->sessions != NULL)
		d->sessions->prev = s;
	d->sessions = s;
	{
		char caps[IMAP_CAPABILITIES_MAX];
		conn_printf(c, "* OK [CAPABILITY %s] %s capmail IMAP ready\r\n",
		    imap_capabilities(s, caps, sizeof caps), d->hostname);
	}
}

static void
session_input(struct conn *c)
{
	struct imap_session *s = c->data;

	if (s == NULL)
		return;
	while (s->job == NULL && !conn_closing(c) && c->in.len > 0) {
		enum imap_parse_result r;
		size_t used = 0;

		/* a bare line, not a command: IDLE's DONE, or the client's
		 * answer to an AUTHENTICATE continuation */
		if (s->idle != NULL || s->auth_cont) {
			const char *line;
			size_t len;
			int lr = conn_line(c, &line, &len, s->idle != NULL ?
			    IMAP_MAX_IDLE_LINE : IMAP_MAX_AUTH_LINE);
			if (lr == CONN_MORE)
				return;
			if (lr < 0) {
				imap_send(s, "* BYE Line too long");
				conn_close(c, "line too long");
				return;
			}
			if (s->idle != NULL) {
				imap_idle_line(s, line, len);
			} else {
				s->auth_cont = 0;
				imap_auth_continue(s, line, len);
			}
			conn_consume(c, len + 2);
			continue;
		}
		r = imap_parser_feed(s->parser, c->in.data, c->in.len, &used);
		conn_consume(c, used);
		switch (r) {
		case IMAP_PARSE_MORE:
			return;
		case IMAP_PARSE_LITERAL:
			conn_writestr(c, "+ OK\r\n");
			break;
		case IMAP_PARSE_ERROR: {
			const char *tag = imap_parser_tag(s->parser);
			imap_send(s, "%s BAD %s", tag != NULL ? tag : "*",
			    imap_parser_error(s->parser));
			imap_parser_reset(s->parser);
			if (++s->bad_commands >= IMAP_MAX_BAD_COMMANDS) {
				imap_send(s, "* BYE Too many bad commands");
				conn_close(c, "too many errors");
				return;
			}
			break;
		}
		case IMAP_PARSE_FATAL:
			imap_send(s, "* BYE %s", imap_parser_error(s->parser));
			conn_close(c, "literal too large");
			return;
		case IMAP_PARSE_DONE: {
			size_t n;
			const struct imap_arg *args = imap_parser_args(
			    s->parser, &n);
			if (imap_command_dispatch(s, args, n) == 0) {
				imap_parser_reset(s->parser);
				if (s->state == IMAP_STATE_LOGOUT) {
					conn_close(c, "logout");
					return;
				}
			}
			break;
		}
		}
	}
}

static void
session_timeout(struct conn *c)
{
	struct imap_session *s = c->data;

	if (s != NULL)
		imap_send(s, "* BYE Idle timeout, closing");
}

static void
session_closed(struct conn *c)
{
	struct imap_session *s = c->data;

	if (s == NULL)
		return;
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		s->d->sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	if (s->d->stopping && s->d->sessions == NULL)
		uv_stop(s->d->loop);
	imap_idle_close(s);
	view_free(s);
	imap_parser_free(&s->parser);
	explicit_bzero(s->user, sizeof(s->user));
	free(s);
	c->data = NULL;
}

void
imapd_shutdown(struct imapd *d)
{
	d->stopping = 1;
	if (d->sessions == NULL) {
		uv_stop(d->loop);
		return;
	}
	for (struct imap_session *s = d->sessions; s != NULL; s = s->next) {
		if (conn_closing(s->c))
			continue;
		imap_send(s, "* BYE Server shutting down");
		conn_close(s->c, "shutdown");
	}
}

const struct conn_handler imap_conn_handler = {
	.proto = "imap",
	.accepted = session_accepted,
	.input = session_input,
	.timeout = session_timeout,
	.closed = session_closed,
};
