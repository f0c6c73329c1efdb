/*
 * cmd-search: SEARCH and UID SEARCH. The keys are parsed on the loop
 * (imap-search.c); the work function walks the client's view in batches of
 * SEARCH_BATCH messages (with bytes: also at most SEARCH_BATCH_BYTES of
 * them, one message at least), reading only what the keys need (bytes only for
 * HEADER/BODY/TEXT and the address/subject keys), and evaluates the keys
 * in C. Messages no longer visible (expunged, revoked) never match.
 * RECENT/NEW/OLD use the view's \Recent marks, copied with the uids.
 */
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "imap-commands.h"
#include "imap-search.h"

#define SEARCH_BATCH_DATA 50
#define SEARCH_BATCH_META 2000
#define SEARCH_BATCH_BYTES ((size_t)16 << 20)	/* with bytes: at most */

struct search_job {
	struct imap_job j;
	struct imap_search_key *key;
	uint32_t *uids;		/* the view at the start, seq = index + 1 */
	unsigned char *recent;	/* \Recent of uids[i] */
	size_t n;
	int uid;
	unsigned what;
};

static void
search_free(struct imap_job *j)
{
	struct search_job *sj = (struct search_job *)j;

	imap_search_free(&sj->key);
	free(sj->uids);
	free(sj->recent);
	free(sj);
}

static int
search_work(struct store_conn *db, struct imap_job *j)
{
	struct search_job *sj = (struct search_job *)j;
	size_t lim = (sj->what & STORE_MSG_DATA) ? SEARCH_BATCH_DATA :
	    SEARCH_BATCH_META;
	uint32_t max_uid = sj->n > 0 ? sj->uids[sj->n - 1] : 0;
	int rc = buf_addstr(&j->out, "* SEARCH");

	for (size_t pos = 0, batch = 0; rc == 0 && pos < sj->n;
	    pos += batch) {
		struct store_msg *m = NULL;
		size_t nm = 0, k = 0;

		batch = sj->n - pos < lim ? sj->n - pos : lim;
		if ((sj->what & STORE_MSG_DATA) &&
		    (rc = store_messages_fit(db, j->user_id, j->mbox_id,
		    sj->uids + pos, &batch, SEARCH_BATCH_BYTES)) < 0)
			break;
		rc = store_messages_read(db, j->user_id, j->mbox_id,
		    sj->uids + pos, batch, sj->what, &m, &nm);
		for (size_t i = 0; rc == 0 && i < nm; i++) {
			while (k < batch && sj->uids[pos + k] < m[i].uid)
				k++;
			if (k == batch)
				break;
			if (imap_search_match(sj->key, &m[i],
			    (uint32_t)(pos + k + 1), (uint32_t)sj->n, max_uid,
			    sj->recent[pos + k]))
				rc = buf_printf(&j->out, " %u", sj->uid ?
				    m[i].uid : (uint32_t)(pos + k + 1));
		}
		store_messages_free(&m, nm);
	}
	if (rc == 0)
		rc = buf_addstr(&j->out, "\r\n");
	if (rc < 0)
		buf_reset(&j->out);
	return rc;
}

static void
search_reply(struct imap_session *s, struct imap_job *j, int rc)
{
	struct search_job *sj = (struct search_job *)j;

	if (rc < 0)
		imap_job_store_error(j, rc, "SEARCH");
	else
		imap_job_tagged(j, "OK %sSEARCH completed",
		    sj->uid ? "UID " : "");
}

void
cmd_search(struct imap_session *s, const struct imap_cmd *cmd)
{
	struct search_job *sj;
	const char *err;
	int rc;

	if ((sj = calloc(1, sizeof(*sj))) == NULL) {
		imap_cmd_reply(s, cmd, "NO Out of memory");
		return;
	}
	rc = imap_search_parse(cmd->args, cmd->nargs, &sj->key, &err);
	if (rc < 0) {
		free(sj);
		if (rc == CM_EINVAL)
			imap_cmd_reply(s, cmd, "NO [BADCHARSET (US-ASCII UTF-8)]"
			    " Unsupported charset");
		else
			imap_cmd_reply(s, cmd, "BAD %s", err);
		return;
	}
	if (s->nmsgs > 0 &&
	    ((sj->uids = malloc(s->nmsgs * sizeof(uint32_t))) == NULL ||
	    (sj->recent = malloc(s->nmsgs)) == NULL)) {
		imap_search_free(&sj->key);
		free(sj->uids);
		free(sj);
		imap_cmd_reply(s, cmd, "NO Out of memory");
		return;
	}
	for (size_t i = 0; i < s->nmsgs; i++) {
		sj->uids[i] = s->msgs[i].uid;
		sj->recent[i] = s->msgs[i].recent != 0;
	}
	sj->n = s->nmsgs;
	sj->uid = cmd->uid;
	sj->what = imap_search_needs(sj->key);
	imap_job_init(&sj->j, s, cmd->tag, (size_t)64 << 20);
	sj->j.allow_expunge = cmd->uid;
	sj->j.work = search_work;
	sj->j.reply = search_reply;
	sj->j.free = search_free;
	imap_job_start(s, &sj->j);
}
