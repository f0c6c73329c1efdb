/*
 * cmd-mailbox: LIST, LSUB, CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE,
 * STATUS.
 *
 * LIST matches in C over the user's mailbox list: '*' and '%' wildcards,
 * the reference name prefixed, INBOX case-insensitive. A level that has
 * children but no mailbox of its own is listed \Noselect. Every mailbox
 * gets \HasChildren or \HasNoChildren (RFC 3348) and its special-use
 * attribute (\Sent, \Drafts, ... RFC 6154).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "errors.h"
#include "imap-commands.h"
#include "imap-util.h"
#include "log.h"

#define LIST_MAX_WILDCARDS 16

/* ---- CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE ---- */

enum mbox_op { OP_CREATE, OP_DELETE, OP_RENAME, OP_SUB, OP_UNSUB };

struct mbox_job {
	struct imap_job j;
	enum mbox_op op;
	char *a, *b;
};

static void
mbox_free(struct imap_job *j)
{
	struct mbox_job *m = (struct mbox_job *)j;

	free(m->a);
	free(m->b);
	free(m);
}

static int
mbox_work(struct store_conn *db, struct imap_job *j)
{
	struct mbox_job *m = (struct mbox_job *)j;

	switch (m->op) {
	case OP_CREATE:
		return store_mailbox_create(db, j->user_id, m->a);
	case OP_DELETE:
		return store_mailbox_delete(db, j->user_id, m->a);
	case OP_RENAME:
		return store_mailbox_rename(db, j->user_id, m->a, m->b);
	case OP_SUB:
		return store_mailbox_subscribe(db, j->user_id, m->a, 1);
	case OP_UNSUB:
		return store_mailbox_subscribe(db, j->user_id, m->a, 0);
	}
	return CM_EINVAL;
}

static void
mbox_reply(struct imap_session *s, struct imap_job *j, int rc)
{
	static const char *const names[] = { "CREATE", "DELETE", "RENAME",
	    "SUBSCRIBE", "UNSUBSCRIBE" };
	struct mbox_job *m = (struct mbox_job *)j;
	char safe[128];

	if (rc < 0) {
		imap_job_store_error(j, rc, names[m->op]);
		return;
	}
	log_safe(safe, sizeof(safe), m->a, strlen(m->a));
	if (m->op != OP_SUB && m->op != OP_UNSUB)
		log_info(s->c->id, "imap %s mailbox=%s", names[m->op], safe);
	imap_job_tagged(j, "OK %s completed", names[m->op]);
}

static char *
name_dup(const char *s, size_t len, int strip_slash)
{
	char *d;

	if (memchr(s, '\0', len) != NULL)
		return NULL;
	if (strip_slash)
		while (len > 0 && s[len - 1] == '/')
			len--;
	if ((d = malloc(len + 1)) == NULL)
		return NULL;
	memcpy(d, s, len);
	d[len] = '\0';
	return d;
}

static void
mbox_cmd(struct imap_session *s, const struct imap_cmd *cmd, enum mbox_op op)
{
	struct mbox_job *m;
	const char *a, *b = NULL;
	size_t al, bl = 0;

	if (cmd->nargs != (op == OP_RENAME ? 2u : 1u) ||
	    !imap_arg_astring(&cmd->args[0], &a, &al) ||
	    (op == OP_RENAME && !imap_arg_astring(&cmd->args[1], &b, &bl))) {
		imap_cmd_reply(s, cmd, "BAD Invalid arguments");
		return;
	}
	if ((m = calloc(1, sizeof(*m))) == NULL ||
	    (m->a = name_dup(a, al, op == OP_CREATE)) == NULL ||
	    (b != NULL && (m->b = name_dup(b, bl, 1)) == NULL)) {
		if (m != NULL) {
			free(m->a);
			free(m);
		}
		imap_cmd_reply(s, cmd, "NO Invalid mailbox name");
		return;
	}
	imap_job_init(&m->j, s, cmd->tag, 1);
	m->op = op;
	m->j.work = mbox_work;
	m->j.reply = mbox_reply;
	m->j.free = mbox_free;
	imap_job_start(s, &m->j);
}

void
cmd_create(struct imap_session *s, const struct imap_cmd *cmd)
{
	mbox_cmd(s, cmd, OP_CREATE);
}

void
cmd_delete(struct imap_session *s, const struct imap_cmd *cmd)
{
	mbox_cmd(s, cmd, OP_DELETE);
}

void
cmd_rename(struct imap_session *s, const struct imap_cmd *cmd)
{
	mbox_cmd(s, cmd, OP_RENAME);
}

void
cmd_subscribe(struct imap_session *s, const struct imap_cmd *cmd)
{
	mbox_cmd(s, cmd, OP_SUB);
}

void
cmd_unsubscribe(struct imap_session *s, const struct imap_cmd *cmd)
{
	mbox_cmd(s, cmd, OP_UNSUB);
}

/* ---- LIST, LSUB ---- */

struct list_job {
	struct imap_job j;
	int lsub;
	char *pattern;		/* reference + pattern, INBOX upper-cased */
	struct store_mailbox *mb;
	size_t n;
};

static void
list_free(struct imap_job *j)
{
	struct list_job *l = (struct list_job *)j;

	store_mailbox_list_free(&l->mb, l->n);
	free(l->pattern);
	free(l);
}

static int
list_work(struct store_conn *db, struct imap_job *j)
{
	struct list_job *l = (struct list_job *)j;

	return store_mailbox_list(db, j->user_id, &l->mb, &l->n);
}

static const struct store_mailbox *
list_find(const struct list_job *l, const char *name, size_t len)
{
	for (size_t i = 0; i < l->n; i++)
		if (strlen(l->mb[i].name) == len &&
		    memcmp(l->mb[i].name, name, len) == 0)
			return &l->mb[i];
	return NULL;
}

static int
has_children(const struct list_job *l, const char *name, size_t len,
    int subscribed_only)
{
	for (size_t i = 0; i < l->n; i++) {
		if (subscribed_only && !l->mb[i].subscribed)
			continue;
		if (strncmp(l->mb[i].name, name, len) == 0 &&
		    l->mb[i].name[len] == '/')
			return 1;
	}
	return 0;
}

/* Was name (len bytes) already listed as the parent of an earlier one? */
static int
parent_seen(const struct list_job *l, size_t upto, const char *name,
    size_t len, int lsub)
{
	for (size_t i = 0; i < upto; i++) {
		if (lsub && !l->mb[i].subscribed)
			continue;
		if (strncmp(l->mb[i].name, name, len) == 0 &&
		    l->mb[i].name[len] == '/')
			return 1;
	}
	return 0;
}

static void
list_line(struct imap_session *s, const struct list_job *l, const char *name,
    size_t len, const char *attrs)
{
	struct buf b;

	buf_init(&b, 8192);
	if (imap_append_astring(&b, name, len) == 0)
		imap_send(s, "* %s (%s) \"/\" %s", l->lsub ? "LSUB" : "LIST",
		    attrs, b.data);
	buf_free(&b);
}

static void
list_reply(struct imap_session *s, struct imap_job *j, int rc)
{
	struct list_job *l = (struct list_job *)j;
	const char *cmd = l->lsub ? "LSUB" : "LIST";
	size_t plen = strlen(l->pattern);
	int last_pct = plen > 0 && l->pattern[plen - 1] == '%';

	if (rc < 0) {
		imap_job_store_error(j, rc, cmd);
		return;
	}
	for (size_t i = 0; i < l->n; i++) {
		const struct store_mailbox *m = &l->mb[i];
		size_t len = strlen(m->name);
		char attrs[128];

		/* parent levels that are not mailboxes themselves */
		for (const char *p = strchr(m->name, '/'); p != NULL;
		    p = strchr(p + 1, '/')) {
			size_t pl = (size_t)(p - m->name);
			const struct store_mailbox *pm;
			char *pname;
			if (l->lsub && !m->subscribed)
				break;
			pm = list_find(l, m->name, pl);
			if (pm != NULL && (!l->lsub || pm->subscribed))
				continue;
			if (l->lsub && !last_pct)
				continue;
			if (parent_seen(l, i, m->name, pl, l->lsub))
				continue;
			if ((pname = strndup(m->name, pl)) == NULL)
				continue;
			if (imap_list_match(l->pattern, pname))
				list_line(s, l, pname, pl, l->lsub ?
				    "\\Noselect" :
				    "\\Noselect \\HasChildren");
			free(pname);
		}
		if (l->lsub && !m->subscribed)
			continue;
		if (!imap_list_match(l->pattern, m->name))
			continue;
		snprintf(attrs, sizeof(attrs), "%s%s%s",
		    has_children(l, m->name, len, 0) ? "\\HasChildren" :
		    "\\HasNoChildren", m->special_use != NULL ? " " : "",
		    m->special_use != NULL ? m->special_use : "");
		list_line(s, l, m->name, len, attrs);
	}
	imap_job_tagged(j, "OK %s completed", cmd);
}

static void
list_cmd(struct imap_session *s, const struct imap_cmd *cmd, int lsub)
{
	const char *ref, *pat;
	size_t rl, pl, wild = 0;
	struct list_job *l;

	if (cmd->nargs != 2 || !imap_arg_astring(&cmd->args[0], &ref, &rl) ||
	    !imap_arg_astring(&cmd->args[1], &pat, &pl) ||
	    memchr(ref, '\0', rl) != NULL || memchr(pat, '\0', pl) != NULL) {
		imap_cmd_reply(s, cmd, "BAD %s takes a reference and a"
		    " pattern", cmd->name);
		return;
	}
	if (pl == 0) {
		if (!lsub)
			imap_send(s, "* LIST (\\Noselect) \"/\" \"\"");
		imap_cmd_reply(s, cmd, "OK %s completed", cmd->name);
		return;
	}
	for (size_t i = 0; i < pl; i++)
		if (pat[i] == '*' || pat[i] == '%')
			wild++;
	if (wild > LIST_MAX_WILDCARDS) {
		imap_cmd_reply(s, cmd, "BAD Too many wildcards");
		return;
	}
	if ((l = calloc(1, sizeof(*l))) == NULL ||
	    (l->pattern = malloc(rl + pl + 1)) == NULL) {
		free(l);
		imap_cmd_reply(s, cmd, "NO Out of memory");
		return;
	}
	memcpy(l->pattern, ref, rl);
	memcpy(l->pattern + rl, pat, pl);
	l->pattern[rl + pl] = '\0';
	if (strncasecmp(l->pattern, "INBOX", 5) == 0 &&
	    (l->pattern[5] == '\0' || l->pattern[5] == '/'))
		memcpy(l->pattern, "INBOX", 5);
	l->lsub = lsub;
	imap_job_init(&l->j, s, cmd->tag, 1);
	l->j.work = list_work;
	l->j.reply = list_reply;
	l->j.free = list_free;
	imap_job_start(s, &l->j);
}

void
cmd_list(struct imap_session *s, const struct imap_cmd *cmd)
{
	list_cmd(s, cmd, 0);
}

void
cmd_lsub(struct imap_session *s, const struct imap_cmd *cmd)
{
	list_cmd(s, cmd, 1);
}

/* ---- STATUS ---- */

enum { ST_MESSAGES, ST_RECENT, ST_UIDNEXT, ST_UIDVALIDITY, ST_UNSEEN };
static const char *const status_names[] = { "MESSAGES", "RECENT",
    "UIDNEXT", "UIDVALIDITY", "UNSEEN" };

struct status_job {
	struct imap_job j;
	char *name;
	int items[8];
	size_t nitems;
	struct store_mailbox_status st;
};

static void
status_free(struct imap_job *j)
{
	struct status_job *st = (struct status_job *)j;

	free(st->name);
	free(st);
}

static int
status_work(struct store_conn *db, struct imap_job *j)
{
	struct status_job *st = (struct status_job *)j;

	return store_mailbox_status(db, j->user_id, st->name, &st->st);
}

static void
status_reply(struct imap_session *s, struct imap_job *j, int rc)
{
	struct status_job *st = (struct status_job *)j;
	struct buf b;

	if (rc < 0) {
		imap_job_store_error(j, rc, "STATUS");
		return;
	}
	buf_init(&b, 8192);
	rc = buf_addstr(&b, "* STATUS ");
	if (rc == 0)
		rc = imap_append_astring(&b, st->name, strlen(st->name));
	if (rc == 0)
		rc = buf_addstr(&b, " (");
	for (size_t i = 0; rc == 0 && i < st->nitems; i++) {
		uint32_t v = 0;
		switch (st->items[i]) {
		case ST_MESSAGES: v = st->st.messages; break;
		case ST_RECENT: v = st->st.recent; break;
		case ST_UIDNEXT: v = st->st.uidnext; break;
		case ST_UIDVALIDITY: v = st->st.uidvalidity; break;
		case ST_UNSEEN: v = st->st.unseen; break;
		}
		rc = buf_printf(&b, "%s%s %u", i ? " " : "",
		    status_names[st->items[i]], v);
	}
	if (rc == 0)
		rc = buf_addc(&b, ')');
	if (rc == 0)
		imap_send(s, "%s", b.data);
	buf_free(&b);
	imap_job_tagged(j, "OK STATUS completed");
}

void
cmd_status(struct imap_session *s, const struct imap_cmd *cmd)
{
	const struct imap_arg *list;
	struct status_job *st;
	const char *name;
	size_t nl;

	if (cmd->nargs != 2 || !imap_arg_astring(&cmd->args[0], &name, &nl) ||
	    cmd->args[1].type != IMAP_ARG_LIST || cmd->args[1].count == 0 ||
	    cmd->args[1].count > 8) {
		imap_cmd_reply(s, cmd, "BAD STATUS takes a mailbox and a list");
		return;
	}
	if ((st = calloc(1, sizeof(*st))) == NULL ||
	    (st->name = name_dup(name, nl, 0)) == NULL) {
		free(st);
		imap_cmd_reply(s, cmd, "NO Invalid mailbox name");
		return;
	}
	list = cmd->args[1].list;
	for (size_t i = 0; i < cmd->args[1].count; i++) {
		int found = -1;
		for (int k = 0; k < 5; k++)
			if (imap_arg_is(&list[i], status_names[k]))
				found = k;
		if (found < 0) {
			free(st->name);
			free(st);
			imap_cmd_reply(s, cmd, "BAD Unknown STATUS item");
			return;
		}
		st->items[st->nitems++] = found;
	}
	imap_job_init(&st->j, s, cmd->tag, 1);
	st->j.work = status_work;
	st->j.reply = status_reply;
	st->j.free = status_free;
	imap_job_start(s, &st->j);
}
