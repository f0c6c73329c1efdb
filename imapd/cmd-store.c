/*
 * cmd-store: STORE and UID STORE (FLAGS, +FLAGS, -FLAGS, each with
 * .SILENT). Flags are checked (system flags or keyword atoms; \Recent
 * cannot be stored), system flags are written in their canonical case,
 * duplicates dropped. The new flags come back from the store and are
 * announced as FETCH responses (with UID for UID STORE) unless .SILENT,
 * with \Recent added for the session's recent messages (STORE can
 * neither set nor clear it).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "errors.h"
#include "imap-commands.h"
#include "imap-search.h"
#include "imap-util.h"

struct store_job {
	struct imap_job j;
	uint32_t *seqs, *uids;
	size_t n;
	enum store_flags_mode mode;
	int silent, uid;
	struct buf flags;
	struct store_entry *res;
	size_t nres;
};

static void
store_job_free(struct imap_job *j)
{
	struct store_job *st = (struct store_job *)j;

	store_entries_free(&st->res, st->nres);
	buf_free(&st->flags);
	free(st->seqs);
	free(st->uids);
	free(st);
}

static int
store_work(struct store_conn *db, struct imap_job *j)
{
	struct store_job *st = (struct store_job *)j;

	if (st->n == 0)
		return 0;
	return store_entries_flags(db, j->user_id, j->mbox_id, st->uids, st->n,
	    st->mode, st->flags.data != NULL ? st->flags.data : "", &st->res,
	    &st->nres);
}

static void
store_reply(struct imap_session *s, struct imap_job *j, int rc)
{
	struct store_job *st = (struct store_job *)j;
	size_t k = 0;
	int recent;

	if (rc < 0) {
		imap_job_store_error(j, rc, "STORE");
		return;
	}
	for (size_t i = 0; i < st->nres; i++) {
		while (k < st->n && st->uids[k] < st->res[i].uid)
			k++;
		if (k == st->n)
			break;
		imap_session_set_flags(s, st->res[i].uid, st->res[i].flags);
		if (st->silent)
			continue;
		recent = imap_session_recent(s, st->res[i].uid);
		if (st->uid)
			imap_send(s, "* %u FETCH (UID %u FLAGS (%s%s))",
			    st->seqs[k], st->res[i].uid, st->res[i].flags,
			    imap_flags_recent(st->res[i].flags, recent));
		else
			imap_send(s, "* %u FETCH (FLAGS (%s%s))", st->seqs[k],
			    st->res[i].flags, imap_flags_recent(
			    st->res[i].flags, recent));
	}
	if (st->nres < st->n)
		imap_job_tagged(j, "NO [EXPUNGEISSUED] Some messages are no"
		    " longer available");
	else
		imap_job_tagged(j, "OK %sSTORE completed", st->uid ? "UID " : "");
}

void
cmd_store(struct imap_session *s, const struct imap_cmd *cmd)
{
	struct store_job *st;
	const char *set, *item;
	int rc;

	if (cmd->nargs < 3 || !imap_arg_atom(&cmd->args[0], &set) ||
	    !imap_arg_atom(&cmd->args[1], &item)) {
		imap_cmd_reply(s, cmd, "BAD STORE takes a set, an item and"
		    " flags");
		return;
	}
	if (s->readonly) {
		imap_cmd_reply(s, cmd, "NO [READ-ONLY] Mailbox is read-only");
		return;
	}
	if ((st = calloc(1, sizeof(*st))) == NULL) {
		imap_cmd_reply(s, cmd, "NO Out of memory");
		return;
	}
	buf_init(&st->flags, 64 * 1024);
	st->mode = STORE_FLAGS_SET;
	if (item[0] == '+' || item[0] == '-') {
		st->mode = item[0] == '+' ? STORE_FLAGS_ADD :
		    STORE_FLAGS_REMOVE;
		item++;
	}
	if (strcasecmp(item, "FLAGS.SILENT") == 0)
		st->silent = 1;
	else if (strcasecmp(item, "FLAGS") != 0) {
		store_job_free(&st->j);
		imap_cmd_reply(s, cmd, "BAD Unknown STORE item");
		return;
	}
	if (cmd->nargs == 3 && cmd->args[2].type == IMAP_ARG_LIST)
		rc = imap_flags_collect(cmd->args[2].list, cmd->args[2].count,
		    &st->flags);
	else
		rc = imap_flags_collect(cmd->args + 2, cmd->nargs - 2, &st->flags);
	if (rc < 0) {
		store_job_free(&st->j);
		imap_cmd_reply(s, cmd, "BAD Invalid flags");
		return;
	}
	rc = imap_session_resolve(s, set, cmd->args[0].len, cmd->uid,
	    &st->seqs, &st->uids, &st->n);
	if (rc < 0) {
		store_job_free(&st->j);
		imap_cmd_reply(s, cmd, rc == CM_EINVAL ?
		    "BAD Invalid message sequence number" :
		    "BAD Invalid sequence set");
		return;
	}
	st->uid = cmd->uid;
	imap_job_init(&st->j, s, cmd->tag, 1);
	st->j.allow_expunge = cmd->uid;
	st->j.work = store_work;
	st->j.reply = store_reply;
	st->j.free = store_job_free;
	imap_job_start(s, &st->j);
}
