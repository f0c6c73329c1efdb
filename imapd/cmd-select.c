/*
 * cmd-select: SELECT, EXAMINE (read-only), CLOSE (expunges silently unless
 * read-only), UNSELECT (RFC 3691), EXPUNGE and UID EXPUNGE (RFC 4315).
 * EXPUNGE responses come from the poll that follows every command in the
 * selected state (imap-session.c), so EXPUNGE itself only deletes.
 *
 * \Recent: SELECT claims the messages no read-write session has seen yet
 * (they are recent here and nowhere else); EXAMINE only looks, so they
 * show as recent here and stay recent for the next SELECT (RFC 3501
 * 6.3.2: EXAMINE must not make messages lose \Recent).
 */
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "imap-commands.h"
#include "imap-search.h"
#include "imap-util.h"
#include "log.h"

#define SYSTEM_FLAGS IMAP_SYSTEM_FLAGS
#define MAX_KEYWORDS_LISTED 200

struct select_job {
	struct imap_job j;
	char *name;
	int readonly;
	struct store_mailbox mb;
	struct store_entry *e;
	size_t n;
	uint32_t uidnext;
};

static void
select_free(struct imap_job *j)
{
	struct select_job *sj = (struct select_job *)j;

	store_mailbox_clear(&sj->mb);
	store_entries_free(&sj->e, sj->n);
	free(sj->name);
	free(sj);
}

static int
select_work(struct store_conn *db, struct imap_job *j)
{
	struct select_job *sj = (struct select_job *)j;
	int rc;

	if ((rc = store_mailbox_get(db, j->user_id, sj->name, &sj->mb)) < 0)
		return rc;
	if ((rc = store_entries_list(db, j->user_id, sj->mb.id, &sj->e,
	    &sj->n, &sj->uidnext)) < 0)
		return rc;
	/* after the listing: only what this session sees is claimed */
	j->mbox_id = sj->mb.id;
	j->recent_claim = !sj->readonly;
	j->recent_known = 0;
	return imap_job_learn_recent(db, j, sj->e, sj->n, sj->uidnext);
}

/* The keywords in use, for the FLAGS response. */
static void
keywords(const struct select_job *sj, struct buf *kw)
{
	size_t count = 0;

	for (size_t i = 0; i < sj->n && count < MAX_KEYWORDS_LISTED; i++) {
		const char *f = sj->e[i].flags;
		while (*f != '\0') {
			const char *e = strchr(f, ' ');
			size_t len = e != NULL ? (size_t)(e - f) : strlen(f);
			char word[256];
			if (f[0] != '\\' && len < sizeof(word)) {
				memcpy(word, f, len);
				word[len] = '\0';
				if (!imap_flags_have(kw->data != NULL ?
				    kw->data : "", word) &&
				    buf_printf(kw, " %s", word) == 0)
					count++;
			}
			if (e == NULL)
				break;
			f = e + 1;
		}
	}
}

static void
select_reply(struct imap_session *s, struct imap_job *j, int rc)
{
	struct select_job *sj = (struct select_job *)j;
	const char *cmd = sj->readonly ? "EXAMINE" : "SELECT";
	struct buf kw;
	char safe[128];
	size_t unseen = 0;

	if (rc < 0) {
		imap_job_store_error(j, rc, cmd);
		return;
	}
	s->msgs = calloc(sj->n > 0 ? sj->n : 1, sizeof(*s->msgs));
	s->mbox_name = strdup(sj->mb.name);
	if (s->msgs == NULL || s->mbox_name == NULL) {
		free(s->msgs);
		s->msgs = NULL;
		imap_session_unselect(s);
		imap_job_tagged(j, "NO Out of memory");
		return;
	}
	buf_init(&kw, 64 * 1024);
	keywords(sj, &kw);
	/* the view takes the entries' flag strings */
	for (size_t i = 0; i < sj->n; i++) {
		s->msgs[i].uid = sj->e[i].uid;
		s->msgs[i].flags = sj->e[i].flags;
		sj->e[i].flags = NULL;
		if (unseen == 0 && !imap_flags_have(s->msgs[i].flags, "\\Seen"))
			unseen = i + 1;
	}
	s->capmsgs = sj->n > 0 ? sj->n : 1;
	s->nmsgs = sj->n;
	s->mbox_id = sj->mb.id;
	s->readonly = sj->readonly;
	s->uidvalidity = sj->mb.uidvalidity;
	imap_session_apply_recent(s, j);
	imap_session_set_state(s, IMAP_STATE_SELECTED);

	imap_send(s, "* FLAGS (" SYSTEM_FLAGS "%s)",
	    kw.data != NULL ? kw.data : "");
	if (sj->readonly)
		imap_send(s, "* OK [PERMANENTFLAGS ()] Read-only mailbox");
	else
		imap_send(s, "* OK [PERMANENTFLAGS (" SYSTEM_FLAGS "%s \\*)]"
		    " Flags permitted", kw.data != NULL ? kw.data : "");
	s->keywords = kw.len > 0 ? buf_take(&kw, NULL) : NULL;
	s->keywords_changed = 0;
	buf_free(&kw);
	imap_send(s, "* %zu EXISTS", s->nmsgs);
	imap_send(s, "* %zu RECENT", s->nrecent);
	if (unseen > 0)
		imap_send(s, "* OK [UNSEEN %zu] First unseen", unseen);
	imap_send(s, "* OK [UIDVALIDITY %u] UIDs valid", s->uidvalidity);
	imap_send(s, "* OK [UIDNEXT %u] Predicted next UID", sj->uidnext);
	log_safe(safe, sizeof(safe), sj->mb.name, strlen(sj->mb.name));
	log_info(s->c->id, "imap %s mailbox=%s messages=%zu recent=%zu",
	    sj->readonly ? "examine" : "select", safe, s->nmsgs, s->nrecent);
	imap_job_tagged(j, "OK [%s] %s completed",
	    sj->readonly ? "READ-ONLY" : "READ-WRITE", cmd);
}

static void
select_cmd(struct imap_session *s, const struct imap_cmd *cmd, int readonly)
{
	struct select_job *sj;
	const char *name;
	size_t nl;

	if (cmd->nargs != 1 || !imap_arg_astring(&cmd->args[0], &name, &nl) ||
	    memchr(name, '\0', nl) != NULL) {
		imap_cmd_reply(s, cmd, "BAD %s takes a mailbox name", cmd->name);
		return;
	}
	/* a failed SELECT leaves no mailbox selected (RFC 3501 6.3.1) */
	imap_session_unselect(s);
	if ((sj = calloc(1, sizeof(*sj))) == NULL ||
	    (sj->name = strndup(name, nl)) == NULL) {
		free(sj);
		imap_cmd_reply(s, cmd, "NO Out of memory");
		return;
	}
	imap_job_init(&sj->j, s, cmd->tag, 1);
	sj->readonly = readonly;
	sj->j.refresh = 0;
	sj->j.work = select_work;
	sj->j.reply = select_reply;
	sj->j.free = select_free;
	imap_job_start(s, &sj->j);
}

void
cmd_select(struct imap_session *s, const struct imap_cmd *cmd)
{
	select_cmd(s, cmd, 0);
}

void
cmd_examine(struct imap_session *s, const struct imap_cmd *cmd)
{
	select_cmd(s, cmd, 1);
}

void
cmd_unselect(struct imap_session *s, const struct imap_cmd *cmd)
{
	imap_session_unselect(s);
	imap_cmd_reply(s, cmd, "OK %s completed", cmd->name);
}

/* ---- EXPUNGE, UID EXPUNGE, CLOSE ---- */

struct expunge_job {
	struct imap_job j;
	uint32_t *uids;		/* UID EXPUNGE: the set; else NULL */
	size_t nuids;
	uint32_t *gone;
	size_t ngone;
	int close;
};

static void
expunge_free(struct imap_job *j)
{
	struct expunge_job *x = (struct expunge_job *)j;

	free(x->uids);
	free(x->gone);
	free(x);
}

static int
expunge_work(struct store_conn *db, struct imap_job *j)
{
	struct expunge_job *x = (struct expunge_job *)j;

	if (x->uids == NULL && x->nuids == 0 && !x->close && j->mbox_id == 0)
		return CM_EINVAL;
	return store_entries_expunge(db, j->user_id, j->mbox_id,
	    x->close || x->uids == NULL ? NULL : x->uids, x->nuids,
	    &x->gone, &x->ngone);
}

static void
expunge_reply(struct imap_session *s, struct imap_job *j, int rc)
{
	struct expunge_job *x = (struct expunge_job *)j;
	const char *cmd = x->close ? "CLOSE" : "EXPUNGE";

	if (x->close)
		imap_session_unselect(s);
	if (rc < 0) {
		imap_job_store_error(j, rc, cmd);
		return;
	}
	if (x->ngone > 0)
		log_info(s->c->id, "imap expunge messages=%zu", x->ngone);
	imap_job_tagged(j, "OK %s completed", cmd);
}

void
cmd_expunge(struct imap_session *s, const struct imap_cmd *cmd)
{
	struct expunge_job *x;
	uint32_t *seqs = NULL;

	if (s->readonly) {
		imap_cmd_reply(s, cmd, "NO [READ-ONLY] Mailbox is read-only");
		return;
	}
	if ((x = calloc(1, sizeof(*x))) == NULL) {
		imap_cmd_reply(s, cmd, "NO Out of memory");
		return;
	}
	if (cmd->uid) {
		const char *set;
		size_t len;
		int rc;
		if (cmd->nargs != 1 ||
		    !imap_arg_atom(&cmd->args[0], &set)) {
			free(x);
			imap_cmd_reply(s, cmd, "BAD UID EXPUNGE takes a UID set");
			return;
		}
		len = cmd->args[0].len;
		rc = imap_session_resolve(s, set, len, 1, &seqs, &x->uids,
		    &x->nuids);
		free(seqs);
		if (rc < 0) {
			free(x);
			imap_cmd_reply(s, cmd, "BAD Invalid UID set");
			return;
		}
		if (x->nuids == 0) {
			free(x);
			imap_cmd_reply(s, cmd, "OK EXPUNGE completed");
			return;
		}
	}
	imap_job_init(&x->j, s, cmd->tag, 1);
	x->j.work = expunge_work;
	x->j.reply = expunge_reply;
	x->j.free = expunge_free;
	imap_job_start(s, &x->j);
}

void
cmd_close(struct imap_session *s, const struct imap_cmd *cmd)
{
	struct expunge_job *x;

	if (s->readonly) {
		imap_session_unselect(s);
		imap_cmd_reply(s, cmd, "OK CLOSE completed");
		return;
	}
	if ((x = calloc(1, sizeof(*x))) == NULL) {
		imap_cmd_reply(s, cmd, "NO Out of memory");
		return;
	}
	imap_job_init(&x->j, s, cmd->tag, 1);
	x->close = 1;
	x->j.refresh = 0;	/* no EXPUNGE responses after CLOSE */
	x->j.work = expunge_work;
	x->j.reply = expunge_reply;
	x->j.free = expunge_free;
	imap_job_start(s, &x->j);
}
