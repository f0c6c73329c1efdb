/*
 * cmd-copy: COPY, UID COPY, MOVE and UID MOVE (RFC 6851). The destination
 * gets new entries that point at the same grants (reference semantics:
 * nothing is duplicated), with the flags and internal dates of the
 * originals. The answer carries COPYUID (RFC 4315) when anything was
 * copied; MOVE sends it untagged before the EXPUNGE responses of the
 * moved messages, which come from the poll that follows every command.
 *
 * Held mail (store/held.h): what a client does with a summary in the Held
 * mailbox is what the recipient decides.
 *   COPY or MOVE to INBOX   release: the held message itself lands in
 *                           INBOX (COPYUID pairs the summary's uid with
 *                           it), the sender becomes verified for the
 *                           user, the summary leaves Held
 *   COPY or MOVE to Junk    block: the sender is refused from now on, the
 *   (named Junk, or with    held message is deleted, the summary leaves
 *   \Junk special-use)      Held; nothing lands in Junk
 *   MOVE to Trash           block, as deleting the summary does (clients
 *   (named Trash, or with   delete by moving to Trash); nothing lands in
 *   \Trash special-use)     Trash
 *   COPY elsewhere          an ordinary copy of the summary (Trash too)
 *   MOVE elsewhere          refused from Held (NO [CANNOT], saying where a
 *                           summary can go): moving it to an archive
 *                           folder must not refuse its sender unasked
 * COPY or MOVE into Held is refused (NO [CANNOT]): it holds summaries
 * only. With the mailbox selected read-only (EXAMINE) COPY is a plain
 * copy and MOVE is refused.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "errors.h"
#include "held.h"
#include "imap-commands.h"
#include "log.h"

enum copy_dest { DEST_PLAIN, DEST_INBOX, DEST_JUNK, DEST_TRASH };

struct copy_job {
	struct imap_job j;
	uint32_t *seqs, *uids;
	size_t n;
	char *dest;
	int move, readonly;
	int from_held;			/* the selected mailbox is Held */
	int refused;			/* MOVE of summaries elsewhere */
	uint32_t uidvalidity;
	uint32_t *src, *dst;
	size_t ncopied;
	size_t nreleased, nblocked;	/* summaries acted on, for the log */
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

/* What copying into dest means for a summary of held mail. */
static int
dest_kind(struct store_conn *db, int64_t user, const char *dest,
    enum copy_dest *kind_r)
{
	struct store_mailbox mb;
	int rc;

	*kind_r = DEST_PLAIN;
	if (strcasecmp(dest, "INBOX") == 0) {
		*kind_r = DEST_INBOX;
		return 0;
	}
	if ((rc = store_mailbox_get(db, user, dest, &mb)) < 0)
		return rc;
	if (strcmp(mb.name, "Junk") == 0 || (mb.special_use != NULL &&
	    strstr(mb.special_use, "\\Junk") != NULL))
		*kind_r = DEST_JUNK;
	else if (strcmp(mb.name, "Trash") == 0 || (mb.special_use != NULL &&
	    strstr(mb.special_use, "\\Trash") != NULL))
		*kind_r = DEST_TRASH;
	store_mailbox_clear(&mb);
	return 0;
}

/* Merge the pairs (a: na) and (b: nb), each ascending by source uid. */
static int
merge_pairs(struct copy_job *cj, uint32_t *as, uint32_t *ad, size_t na,
    uint32_t *bs, uint32_t *bd, size_t nb)
{
	size_t i = 0, k = 0, o = 0;

	if (na + nb == 0)
		return 0;
	if ((cj->src = malloc((na + nb) * sizeof(uint32_t))) == NULL ||
	    (cj->dst = malloc((na + nb) * sizeof(uint32_t))) == NULL)
		return CM_ENOMEM;
	while (i < na || k < nb) {
		if (k == nb || (i < na && as[i] < bs[k])) {
			cj->src[o] = as[i];
			cj->dst[o++] = ad[i++];
		} else {
			cj->src[o] = bs[k];
			cj->dst[o++] = bd[k++];
		}
	}
	cj->ncopied = o;
	return 0;
}

static int
copy_work(struct store_conn *db, struct imap_job *j)
{
	struct copy_job *cj = (struct copy_job *)j;
	uint32_t *hs = NULL, *hd = NULL, *rest = NULL, *ps = NULL, *pd = NULL;
	size_t nh = 0, nrest = 0, np = 0;
	uint32_t huv = 0, puv = 0;
	enum copy_dest kind = DEST_PLAIN;
	int rc;

	if (!cj->readonly && (rc = dest_kind(db, j->user_id, cj->dest,
	    &kind)) < 0)
		return rc;
	if (kind == DEST_TRASH)	/* a MOVE there deletes; a COPY copies */
		kind = cj->move ? DEST_JUNK : DEST_PLAIN;
	if (kind == DEST_PLAIN && cj->move && cj->from_held) {
		cj->refused = 1;
		return 0;
	}
	if (kind == DEST_PLAIN)
		return (cj->move ? store_entries_move : store_entries_copy)(db,
		    j->user_id, j->mbox_id, cj->uids, cj->n, cj->dest,
		    &cj->uidvalidity, &cj->src, &cj->dst, &cj->ncopied);
	rc = store_held_act(db, j->user_id, j->mbox_id, cj->uids, cj->n,
	    kind == DEST_INBOX ? STORE_HELD_RELEASE : STORE_HELD_BLOCK, &huv,
	    &hs, &hd, &nh, &rest, &nrest);
	if (rc < 0)
		return rc;
	if (kind == DEST_INBOX)
		cj->nreleased = nh;
	else
		cj->nblocked = cj->n - nrest;
	/* the rest are not summaries: copied or moved as usual (a second
	 * transaction: the summaries' fate is settled either way) */
	if (nrest > 0)
		rc = (cj->move ? store_entries_move : store_entries_copy)(db,
		    j->user_id, j->mbox_id, rest, nrest, cj->dest, &puv, &ps,
		    &pd, &np);
	if (rc == 0) {
		cj->uidvalidity = np > 0 ? puv : huv;
		rc = merge_pairs(cj, hs, hd, nh, ps, pd, np);
	}
	free(hs);
	free(hd);
	free(rest);
	free(ps);
	free(pd);
	return rc;
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
	const char *what = cj->move ? "MOVE" : "COPY";
	struct buf a, b;

	if (rc == CM_ENOTFOUND) {
		imap_job_tagged(j, "NO [TRYCREATE] Mailbox doesn't exist");
		return;
	}
	if (rc == CM_EPERM) {
		imap_job_tagged(j, "NO [EXPUNGEISSUED] Some messages are no"
		    " longer available, nothing %s", cj->move ? "moved" :
		    "copied");
		return;
	}
	if (rc < 0) {
		imap_job_store_error(j, rc, what);
		return;
	}
	if (cj->refused) {
		imap_job_tagged(j, "NO [CANNOT] Held mail summaries move to INBOX"
		    " (to receive the message) or to Junk or Trash (to refuse"
		    " the sender)");
		return;
	}
	if (cj->nreleased > 0 || cj->nblocked > 0)
		log_info(s->c->id, "imap held %s released=%zu blocked=%zu",
		    what, cj->nreleased, cj->nblocked);
	buf_init(&a, 1900);
	buf_init(&b, 1900);
	if (cj->ncopied > 0 && uid_set(&a, cj->src, cj->ncopied) == 0 &&
	    uid_set(&b, cj->dst, cj->ncopied) == 0) {
		if (cj->move) {
			imap_send(s, "* OK [COPYUID %u %s %s] Moved",
			    cj->uidvalidity, a.data, b.data);
			imap_job_tagged(j, "OK MOVE completed");
		} else {
			imap_job_tagged(j, "OK [COPYUID %u %s %s] COPY"
			    " completed", cj->uidvalidity, a.data, b.data);
		}
	} else {
		imap_job_tagged(j, "OK %s completed", what);
	}
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

	int move = strcmp(cmd->name, "MOVE") == 0;

	if (cmd->nargs != 2 || !imap_arg_atom(&cmd->args[0], &set) ||
	    !imap_arg_astring(&cmd->args[1], &dest, &dl) ||
	    memchr(dest, '\0', dl) != NULL) {
		imap_cmd_reply(s, cmd, "BAD %s takes a set and a mailbox",
		    cmd->name);
		return;
	}
	if (dl == strlen(STORE_HELD_MAILBOX) &&
	    memcmp(dest, STORE_HELD_MAILBOX, dl) == 0) {
		imap_cmd_reply(s, cmd, "NO [CANNOT] Held shows held mail only");
		return;
	}
	if (move && s->readonly) {
		imap_cmd_reply(s, cmd, "NO [READ-ONLY] Mailbox is read-only");
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
		imap_cmd_reply(s, cmd, "OK %s completed", cmd->name);
		return;
	}
	cj->move = move;
	cj->readonly = s->readonly;
	cj->from_held = s->mbox_name != NULL &&
	    strcmp(s->mbox_name, STORE_HELD_MAILBOX) == 0;
	imap_job_init(&cj->j, s, cmd->tag, 1);
	/* MOVE announces what it moved (RFC 6851 3.3) */
	cj->j.allow_expunge = cmd->uid || move;
	cj->j.work = copy_work;
	cj->j.reply = copy_reply;
	cj->j.free = copy_free;
	imap_job_start(s, &cj->j);
}
