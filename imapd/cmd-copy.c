/*
 * cmd-copy: COPY and UID COPY. The destination gets new entries that point
 * at the same grants (reference semantics: nothing is duplicated), with
 * the flags and internal dates of the originals. The answer carries
 * COPYUID (RFC 4315) when anything was copied.
 */
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "imap-commands.h"
#include "log.h"

struct copy_job {
	struct imap_job j;
	uint32_t *seqs, *uids;
	size_t n;
	char *dest;
	uint32_t uidvalidity;
	uint32_t *src, *dst;
	size_t ncopied;
};

static void
copy_free(struct imap_job *j)
{
	struct copy_job *cj = (struct copy_job *)j;

	free(cj->seqs);
	free(cj->uids);
	free(cj->dest);
	free(cj->src);
	free(cj->dst);
	free(cj);
}

static int
copy_work(struct store_conn *db, struct imap_job *j)
{
	struct copy_job *cj = (struct copy_job *)j;

	return store_entries_copy(db, j->user_id, j->mbox_id, cj->uids, cj->n,
	    cj->dest, &cj->uidvalidity, &cj->src, &cj->dst, &cj->ncopied);
}

/* "1:3,7" for an ascending uid list (dst ascends with src). */
static int
uid_set(struct buf *b, const uint32_t *u, size_t n)
{
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < n;) {
		size_t k = i;
		while (k + 1 < n && u[k + 1] == u[k] + 1)
			k++;
		if (k > i)
			rc = buf_printf(b, "%s%u:%u", i ? "," : "", u[i], u[k]);
		else
			rc = buf_printf(b, "%s%u", i ? "," : "", u[i]);
		i = k + 1;
	}
	return rc;
}

static void
copy_reply(struct imap_session *s, struct imap_job *j, int rc)
{
	struct copy_job *cj = (struct copy_job *)j;
	struct buf a, b;

	if (rc == CM_ENOTFOUND) {
		imap_job_tagged(j, "NO [TRYCREATE] Mailbox doesn't exist");
		return;
	}
	if (rc == CM_EPERM) {
		imap_job_tagged(j, "NO [EXPUNGEISSUED] Some messages are no"
		    " longer available, nothing copied");
		return;
	}
	if (rc < 0) {
		imap_job_store_error(j, rc, "COPY");
		return;
	}
	buf_init(&a, 1900);
	buf_init(&b, 1900);
	if (cj->ncopied > 0 && uid_set(&a, cj->src, cj->ncopied) == 0 &&
	    uid_set(&b, cj->dst, cj->ncopied) == 0)
		imap_job_tagged(j, "OK [COPYUID %u %s %s] COPY completed",
		    cj->uidvalidity, a.data, b.data);
	else
		imap_job_tagged(j, "OK COPY completed");
	buf_free(&a);
	buf_free(&b);
}

void
cmd_copy(struct imap_session *s, const struct imap_cmd *cmd)
{
	struct copy_job *cj;
	const char *set, *dest;
	size_t dl;
	int rc;

	if (cmd->nargs != 2 || !imap_arg_atom(&cmd->args[0], &set) ||
	    !imap_arg_astring(&cmd->args[1], &dest, &dl) ||
	    memchr(dest, '\0', dl) != NULL) {
		imap_cmd_reply(s, cmd, "BAD COPY takes a set and a mailbox");
		return;
	}
	if ((cj = calloc(1, sizeof(*cj))) == NULL ||
	    (cj->dest = strndup(dest, dl)) == NULL) {
		free(cj);
		imap_cmd_reply(s, cmd, "NO Out of memory");
		return;
	}
	rc = imap_session_resolve(s, set, cmd->args[0].len, cmd->uid,
	    &cj->seqs, &cj->uids, &cj->n);
	if (rc < 0) {
		copy_free(&cj->j);
		imap_cmd_reply(s, cmd, rc == CM_EINVAL ?
		    "BAD Invalid message sequence number" :
		    "BAD Invalid sequence set");
		return;
	}
	if (cj->n == 0) {
		copy_free(&cj->j);
		imap_cmd_reply(s, cmd, "OK COPY completed");
		return;
	}
	imap_job_init(&cj->j, s, cmd->tag, 1);
	cj->j.allow_expunge = cmd->uid;
	cj->j.work = copy_work;
	cj->j.reply = copy_reply;
	cj->j.free = copy_free;
	imap_job_start(s, &cj->j);
}
