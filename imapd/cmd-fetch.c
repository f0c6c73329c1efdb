/*
 * cmd-fetch: FETCH and UID FETCH. Items are parsed on the loop
 * (imap-fetch.c); the store work reads the messages in batches
 * (FETCH_BATCH_DATA with bytes, FETCH_BATCH_META without; a batch with
 * bytes also stops at FETCH_BATCH_BYTES of messages, one message at
 * least, so that twenty 50 MB messages are not held at once), renders the
 * responses on the worker thread, and the session writes each batch before
 * the next is read, so a large FETCH never holds every message in memory.
 *
 * A non-PEEK body section sets \Seen (unless the mailbox was opened with
 * EXAMINE) and the response then carries FLAGS. Messages that disappeared
 * (expunged by another session, grant revoked) are not served: the
 * command ends NO, as RFC 3501's implementation notes allow. FLAGS carry
 * \Recent for the messages recent in this session (marks copied from the
 * view when the command starts).
 */
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "imap-commands.h"
#include "imap-fetch.h"
#include "imap-search.h"
#include "imap-util.h"

#define FETCH_BATCH_DATA 20
#define FETCH_BATCH_META 500
#define FETCH_BATCH_BYTES ((size_t)16 << 20)
#define FETCH_MAX_OUT ((size_t)1 << 32)

struct fetch_job {
	struct imap_job j;
	struct imap_fetch f;
	uint32_t *seqs, *uids;
	unsigned char *recent;	/* \Recent of uids[i] */
	size_t n, pos;
	unsigned what;
	int set_seen;
	size_t missing;
	struct store_entry *upd;	/* flags sent in this batch */
	size_t nupd;
};

static void
fetch_free(struct imap_job *j)
{
	struct fetch_job *fj = (struct fetch_job *)j;

	imap_fetch_free(&fj->f);
	store_entries_free(&fj->upd, fj->nupd);
	free(fj->seqs);
	free(fj->uids);
	free(fj->recent);
	free(fj);
}

static int
fetch_work(struct store_conn *db, struct imap_job *j)
{
	struct fetch_job *fj = (struct fetch_job *)j;
	size_t batch = fj->n - fj->pos, k = 0;
	size_t lim = fj->f.need_data ? FETCH_BATCH_DATA : FETCH_BATCH_META;
	struct store_msg *m = NULL;
	struct store_entry *seen = NULL;
	size_t nm = 0, nseen = 0;
	int *added = NULL;
	int rc;

	if (batch > lim)
		batch = lim;
	if (fj->f.need_data && (rc = store_messages_fit(db, j->user_id,
	    j->mbox_id, fj->uids + fj->pos, &batch, FETCH_BATCH_BYTES)) < 0)
		return rc;
	rc = store_messages_read(db, j->user_id, j->mbox_id,
	    fj->uids + fj->pos, batch, fj->what, &m, &nm);
	if (rc < 0)
		return rc;
	fj->missing += batch - nm;
	if (nm > 0 && (added = calloc(nm, sizeof(int))) == NULL) {
		rc = CM_ENOMEM;
		goto out;
	}
	if (fj->set_seen && nm > 0) {
		uint32_t *want = malloc(nm * sizeof(uint32_t));
		size_t nw = 0;
		if (want == NULL) {
			rc = CM_ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < nm; i++)
			if (!imap_flags_have(m[i].flags, "\\Seen"))
				want[nw++] = m[i].uid;
		if (nw > 0)
			rc = store_entries_flags(db, j->user_id, j->mbox_id,
			    want, nw, STORE_FLAGS_ADD, "\\Seen", &seen,
			    &nseen);
		free(want);
		if (rc < 0)
			goto out;
		for (size_t i = 0, s = 0; i < nm && s < nseen; i++) {
			while (s < nseen && seen[s].uid < m[i].uid)
				s++;
			if (s < nseen && seen[s].uid == m[i].uid) {
				free(m[i].flags);
				m[i].flags = seen[s].flags;
				seen[s].flags = NULL;
				added[i] = 1;
			}
		}
	}
	store_entries_free(&fj->upd, fj->nupd);
	fj->nupd = 0;
	if (nm > 0 && (fj->upd = calloc(nm, sizeof(*fj->upd))) == NULL) {
		rc = CM_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < nm; i++) {
		/* the sequence number of m[i]: both lists ascend by uid */
		while (k < batch && fj->uids[fj->pos + k] < m[i].uid)
			k++;
		if (k == batch)
			break;
		rc = imap_fetch_render(&fj->f, fj->seqs[fj->pos + k], &m[i],
		    added[i], fj->recent[fj->pos + k], &j->out);
		if (rc < 0)
			goto out;
		if ((fj->f.atts & IMAP_FA_FLAGS) || added[i]) {
			fj->upd[fj->nupd].uid = m[i].uid;
			fj->upd[fj->nupd].flags = m[i].flags;
			m[i].flags = NULL;
			fj->nupd++;
		}
	}
	fj->pos += batch;
	if (fj->pos < fj->n)
		j->again = 1;
out:
	store_messages_free(&m, nm);
	store_entries_free(&seen, nseen);
	free(added);
	return rc;
}

static void
fetch_reply(struct imap_session *s, struct imap_job *j, int rc)
{
	struct fetch_job *fj = (struct fetch_job *)j;

	for (size_t i = 0; i < fj->nupd; i++)
		imap_session_set_flags(s, fj->upd[i].uid, fj->upd[i].flags);
	store_entries_free(&fj->upd, fj->nupd);
	fj->nupd = 0;
	if (rc < 0) {
		j->again = 0;
		imap_job_store_error(j, rc, "FETCH");
		return;
	}
	if (j->again)
		return;
	if (fj->missing > 0)
		imap_job_tagged(j, "NO [EXPUNGEISSUED] Some messages are no"
		    " longer available");
	else
		imap_job_tagged(j, "OK %sFETCH completed",
		    fj->j.allow_expunge ? "UID " : "");
}

void
cmd_fetch(struct imap_session *s, const struct imap_cmd *cmd)
{
	struct fetch_job *fj;
	const char *set, *err;
	int rc;

	if (cmd->nargs != 2 || !imap_arg_atom(&cmd->args[0], &set)) {
		imap_cmd_reply(s, cmd, "BAD FETCH takes a set and items");
		return;
	}
	if ((fj = calloc(1, sizeof(*fj))) == NULL) {
		imap_cmd_reply(s, cmd, "NO Out of memory");
		return;
	}
	if (imap_fetch_parse(&cmd->args[1], 1, &fj->f, &err) < 0) {
		free(fj);
		imap_cmd_reply(s, cmd, "BAD %s", err);
		return;
	}
	rc = imap_session_resolve(s, set, cmd->args[0].len, cmd->uid,
	    &fj->seqs, &fj->uids, &fj->n);
	if (rc < 0) {
		imap_fetch_free(&fj->f);
		free(fj);
		imap_cmd_reply(s, cmd, rc == CM_EINVAL ?
		    "BAD Invalid message sequence number" :
		    "BAD Invalid sequence set");
		return;
	}
	if (fj->n > 0 && (fj->recent = malloc(fj->n)) == NULL) {
		imap_fetch_free(&fj->f);
		free(fj->seqs);
		free(fj->uids);
		free(fj);
		imap_cmd_reply(s, cmd, "NO Out of memory");
		return;
	}
	for (size_t i = 0; i < fj->n; i++)
		fj->recent[i] = s->msgs[fj->seqs[i] - 1].recent != 0;
	if (cmd->uid)
		fj->f.atts |= IMAP_FA_UID;
	fj->what = fj->f.need_data ? STORE_MSG_DATA : 0;
	if (fj->f.atts & (IMAP_FA_ENVELOPE | IMAP_FA_BODY |
	    IMAP_FA_BODYSTRUCTURE))
		fj->what |= STORE_MSG_SUMMARY;
	fj->set_seen = fj->f.sets_seen && !s->readonly;
	imap_job_init(&fj->j, s, cmd->tag, FETCH_MAX_OUT);
	/* no EXPUNGE responses during FETCH; UID FETCH may have them */
	fj->j.allow_expunge = cmd->uid;
	fj->j.work = fetch_work;
	fj->j.reply = fetch_reply;
	fj->j.free = fetch_free;
	imap_job_start(s, &fj->j);
}
