/*
 * cmd-misc: CAPABILITY, NOOP and CHECK (a poll of the selected mailbox),
 * LOGOUT, ID (RFC 2971: we answer NIL), NAMESPACE (RFC 2342: one personal
 * namespace "" with delimiter "/").
 */
#include <stdlib.h>

#include "imap-commands.h"

void
cmd_capability(struct imap_session *s, const struct imap_cmd *cmd)
{
	char caps[IMAP_CAPABILITIES_MAX];

	if (cmd->nargs != 0) {
		imap_cmd_reply(s, cmd, "BAD CAPABILITY takes no arguments");
		return;
	}
	imap_send(s, "* CAPABILITY %s", imap_capabilities(s, caps,
	    sizeof caps));
	imap_cmd_reply(s, cmd, "OK CAPABILITY completed");
}

static void
free_job(struct imap_job *j)
{
	free(j);
}

void
cmd_noop(struct imap_session *s, const struct imap_cmd *cmd)
{
	struct imap_job *j;

	if (cmd->nargs != 0) {
		imap_cmd_reply(s, cmd, "BAD %s takes no arguments", cmd->name);
		return;
	}
	if (s->state != IMAP_STATE_SELECTED) {
		imap_cmd_reply(s, cmd, "OK %s completed", cmd->name);
		return;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		imap_cmd_reply(s, cmd, "NO Out of memory");
		return;
	}
	imap_job_init(j, s, cmd->tag, 1);
	j->free = free_job;
	imap_job_tagged(j, "OK %s completed", cmd->name);
	imap_job_start(s, j);
}

void
cmd_logout(struct imap_session *s, const struct imap_cmd *cmd)
{
	imap_send(s, "* BYE Logging out");
	imap_cmd_reply(s, cmd, "OK LOGOUT completed");
	imap_session_unselect(s);
	imap_session_set_state(s, IMAP_STATE_LOGOUT);
}

void
cmd_id(struct imap_session *s, const struct imap_cmd *cmd)
{
	if (cmd->nargs != 1 || (cmd->args[0].type != IMAP_ARG_LIST &&
	    cmd->args[0].type != IMAP_ARG_NIL)) {
		imap_cmd_reply(s, cmd, "BAD ID takes a list or NIL");
		return;
	}
	imap_send(s, "* ID (\"name\" \"capmail\")");
	imap_cmd_reply(s, cmd, "OK ID completed");
}

void
cmd_namespace(struct imap_session *s, const struct imap_cmd *cmd)
{
	imap_send(s, "* NAMESPACE ((\"\" \"/\")) NIL NIL");
	imap_cmd_reply(s, cmd, "OK NAMESPACE completed");
}
