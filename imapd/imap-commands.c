/*
 * imap-commands: the dispatch table and the checks that come before any
 * handler runs (tag, name, state, UID prefix).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "imap-commands.h"
#include "log.h"

static const struct {
	const char *name;
	imap_cmd_fn *fn;
	unsigned flags;
} commands[] = {
	{ "CAPABILITY", cmd_capability, 0 },
	{ "NOOP", cmd_noop, 0 },
	{ "LOGOUT", cmd_logout, 0 },
	{ "ID", cmd_id, 0 },
	{ "LOGIN", cmd_login, IMAP_CMD_NOAUTH },
	{ "AUTHENTICATE", cmd_authenticate, IMAP_CMD_NOAUTH },
	{ "STARTTLS", cmd_starttls, IMAP_CMD_NOAUTH },
	{ "NAMESPACE", cmd_namespace, IMAP_CMD_AUTH },
	{ "IDLE", cmd_idle, IMAP_CMD_AUTH },
	{ "LIST", cmd_list, IMAP_CMD_AUTH },
	{ "LSUB", cmd_lsub, IMAP_CMD_AUTH },
	{ "CREATE", cmd_create, IMAP_CMD_AUTH },
	{ "DELETE", cmd_delete, IMAP_CMD_AUTH },
	{ "RENAME", cmd_rename, IMAP_CMD_AUTH },
	{ "SUBSCRIBE", cmd_subscribe, IMAP_CMD_AUTH },
	{ "UNSUBSCRIBE", cmd_unsubscribe, IMAP_CMD_AUTH },
	{ "STATUS", cmd_status, IMAP_CMD_AUTH },
	{ "SELECT", cmd_select, IMAP_CMD_AUTH },
	{ "EXAMINE", cmd_examine, IMAP_CMD_AUTH },
	{ "APPEND", cmd_append, IMAP_CMD_AUTH },
	{ "CHECK", cmd_noop, IMAP_CMD_AUTH | IMAP_CMD_SELECTED },
	{ "CLOSE", cmd_close, IMAP_CMD_AUTH | IMAP_CMD_SELECTED },
	{ "UNSELECT", cmd_unselect, IMAP_CMD_AUTH | IMAP_CMD_SELECTED },
	{ "EXPUNGE", cmd_expunge, IMAP_CMD_AUTH | IMAP_CMD_SELECTED |
	    IMAP_CMD_UID },
	{ "FETCH", cmd_fetch, IMAP_CMD_AUTH | IMAP_CMD_SELECTED |
	    IMAP_CMD_UID },
	{ "SEARCH", cmd_search, IMAP_CMD_AUTH | IMAP_CMD_SELECTED |
	    IMAP_CMD_UID },
	{ "STORE", cmd_store, IMAP_CMD_AUTH | IMAP_CMD_SELECTED |
	    IMAP_CMD_UID },
	{ "COPY", cmd_copy, IMAP_CMD_AUTH | IMAP_CMD_SELECTED |
	    IMAP_CMD_UID },
};

void
imap_cmd_reply(struct imap_session *s, const struct imap_cmd *cmd,
    const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	imap_send(s, "%s %s", cmd->tag, text);
}

static int
tag_valid(const char *t)
{
	if (*t == '\0')
		return 0;
	for (; *t != '\0'; t++)
		if (*t == '+' || *t == '*' || *t == '%' || *t == '\\')
			return 0;
	return 1;
}

int
imap_command_dispatch(struct imap_session *s, const struct imap_arg *args,
    size_t n)
{
	struct imap_cmd cmd = { 0 };
	const char *name;
	size_t i;

	if (n == 0)
		return 0;	/* an empty line: ignored */
	if (args[0].type != IMAP_ARG_ATOM || !tag_valid(args[0].str)) {
		imap_send(s, "* BAD Invalid tag");
		s->bad_commands++;
		return 0;
	}
	cmd.tag = args[0].str;
	if (n < 2 || !imap_arg_atom(&args[1], &name)) {
		imap_send(s, "%s BAD Missing command", cmd.tag);
		s->bad_commands++;
		return 0;
	}
	cmd.args = args + 2;
	cmd.nargs = n - 2;
	if (strcasecmp(name, "UID") == 0) {
		if (n < 3 || !imap_arg_atom(&args[2], &name)) {
			imap_send(s, "%s BAD Missing UID command", cmd.tag);
			s->bad_commands++;
			return 0;
		}
		cmd.uid = 1;
		cmd.args = args + 3;
		cmd.nargs = n - 3;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcasecmp(name, commands[i].name) == 0)
			break;
	if (i == sizeof(commands) / sizeof(commands[0]) ||
	    (cmd.uid && !(commands[i].flags & IMAP_CMD_UID))) {
		imap_send(s, "%s BAD Unknown command", cmd.tag);
		s->bad_commands++;
		return 0;
	}
	cmd.name = commands[i].name;
	if ((commands[i].flags & IMAP_CMD_NOAUTH) &&
	    s->state != IMAP_STATE_NOAUTH) {
		imap_send(s, "%s BAD Already logged in", cmd.tag);
		return 0;
	}
	if ((commands[i].flags & IMAP_CMD_AUTH) &&
	    s->state == IMAP_STATE_NOAUTH) {
		imap_send(s, "%s BAD Log in first", cmd.tag);
		return 0;
	}
	if ((commands[i].flags & IMAP_CMD_SELECTED) &&
	    s->state != IMAP_STATE_SELECTED) {
		imap_send(s, "%s BAD No mailbox selected", cmd.tag);
		return 0;
	}
	/* EXPUNGE without UID takes no arguments; UID EXPUNGE takes a set */
	if (strcmp(cmd.name, "EXPUNGE") == 0 && !cmd.uid && cmd.nargs != 0) {
		imap_send(s, "%s BAD EXPUNGE takes no arguments", cmd.tag);
		return 0;
	}
	commands[i].fn(s, &cmd);
	return s->job != NULL;
}
