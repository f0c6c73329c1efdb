/*
 * cmd-append: APPEND mailbox [(flags)] [date-time] literal. The message
 * goes through store_deliver() (store.h) exactly as incoming mail does:
 * stored once as objects, one grant to the user (state "active",
 * grantor_auth "local-append", grantor = the user's address) and one entry
 * in the target mailbox. Answered only after COMMIT, with APPENDUID
 * (RFC 4315). A missing mailbox answers NO [TRYCREATE]. APPEND into
 * Held is refused (NO [CANNOT]): it holds the store's summaries of held
 * mail only (store/held.h).
 *
 * The literal's bytes stay in the parser's argument (bounded by
 * imap_max_literal) until the command finishes.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "errors.h"
#include "held.h"
#include "imap-commands.h"
#include "imap-util.h"
#include "log.h"
#include "store.h"

struct append_job {
	struct imap_job j;
	struct store_delivery d;
	char mailbox[1024];
	char from[256];
	struct buf flags;
	int64_t rcpt;
	uint32_t uid;
};

static void
append_free(struct imap_job *j)
{
	struct append_job *a = (struct append_job *)j;

	buf_free(&a->flags);
	free(a);
}

static int
append_work(struct store_conn *db, struct imap_job *j)
{
	struct append_job *a = (struct append_job *)j;

	a->d.uids_r = &a->uid;
	return store_deliver(db, &a->d);
}

static void
append_reply(struct imap_session *s, struct imap_job *j, int rc)
{
	struct append_job *a = (struct append_job *)j;
	char safe[128];

	log_safe(safe, sizeof(safe), a->mailbox, strlen(a->mailbox));
	if (rc == CM_ENOTFOUND) {
		imap_job_tagged(j, "NO [TRYCREATE] Mailbox doesn't exist");
		return;
	}
	if (rc < 0) {
		log_warn(s->c->id, "imap append failed mailbox=%s error=%s",
		    safe, cm_strerror(rc));
		imap_job_store_error(j, rc, "APPEND");
		return;
	}
	log_info(s->c->id, "imap append mailbox=%s uid=%u size=%zu "
	    "message=%lld", safe, a->uid, a->d.len,
	    (long long)a->d.message_id_r);
	imap_job_tagged(j, "OK [APPENDUID %u %u] APPEND completed",
	    a->d.uidvalidity_r, a->uid);
}

void
cmd_append(struct imap_session *s, const struct imap_cmd *cmd)
{
	const struct imap_arg *args = cmd->args;
	size_t n = cmd->nargs, i = 1, ml;
	struct append_job *a;
	const char *mbox, *msg;
	size_t msglen;
	time_t idate = 0;

	if (n < 2 || !imap_arg_astring(&args[0], &mbox, &ml) ||
	    memchr(mbox, '\0', ml) != NULL) {
		imap_cmd_reply(s, cmd, "BAD APPEND takes a mailbox and a"
		    " message");
		return;
	}
	if ((a = calloc(1, sizeof(*a))) == NULL) {
		imap_cmd_reply(s, cmd, "NO Out of memory");
		return;
	}
	buf_init(&a->flags, 64 * 1024);
	if (ml >= sizeof(a->mailbox)) {
		append_free(&a->j);
		imap_cmd_reply(s, cmd, "NO Mailbox name too long");
		return;
	}
	if (i < n && args[i].type == IMAP_ARG_LIST) {
		if (imap_flags_collect(args[i].list, args[i].count,
		    &a->flags) < 0) {
			append_free(&a->j);
			imap_cmd_reply(s, cmd, "BAD Invalid flags");
			return;
		}
		i++;
	}
	if (i + 1 < n && args[i].type == IMAP_ARG_STRING) {
		if (imap_datetime_parse(args[i].str, args[i].len, &idate) < 0) {
			append_free(&a->j);
			imap_cmd_reply(s, cmd, "BAD Invalid date-time");
			return;
		}
		i++;
	}
	if (i + 1 != n || !imap_arg_string(&args[i], &msg, &msglen)) {
		append_free(&a->j);
		imap_cmd_reply(s, cmd, "BAD APPEND takes a mailbox, optional"
		    " flags and date-time, and a message literal");
		return;
	}
	if (msglen == 0) {
		append_free(&a->j);
		imap_cmd_reply(s, cmd, "NO Empty message");
		return;
	}
	memcpy(a->mailbox, mbox, ml);
	a->mailbox[ml] = '\0';
	/* Held shows summaries of held mail, made by the store only: a
	 * message put there would pass for one and for nothing */
	if (strcmp(a->mailbox, STORE_HELD_MAILBOX) == 0) {
		append_free(&a->j);
		imap_cmd_reply(s, cmd, "NO [CANNOT] Held shows held mail only");
		return;
	}
	if (strcasecmp(a->mailbox, "INBOX") == 0)
		memcpy(a->mailbox, "INBOX", 6);
	memcpy(a->from, s->user, sizeof(a->from));
	a->rcpt = s->user_id;
	a->d.data = msg;
	a->d.len = msglen;
	a->d.mail_from = a->from;
	a->d.grantor_auth = "local-append";
	a->d.rcpts = &a->rcpt;
	a->d.nrcpts = 1;
	a->d.mailbox = a->mailbox;
	a->d.grant_state = "active";
	a->d.internaldate = idate;
	a->d.flags = a->flags.data != NULL ? a->flags.data : "";
	imap_job_init(&a->j, s, cmd->tag, 1);
	a->j.work = append_work;
	a->j.reply = append_reply;
	a->j.free = append_free;
	imap_job_start(s, &a->j);
}
