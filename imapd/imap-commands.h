/*
 * imap-commands: the one dispatch table {name, handler, flags} (after
 * Dovecot's imap-commands.c). The table checks the state a command needs
 * before calling it; handlers check their arguments and then either answer
 * at once (imap_cmd_done) or start an imap_job (imap-session.h).
 */
#ifndef CAPMAIL_IMAP_COMMANDS_H
#define CAPMAIL_IMAP_COMMANDS_H

#include <stddef.h>

#include "imap-parser.h"
#include "imap-session.h"

struct imap_cmd {
	const char *tag;
	const char *name;		/* upper case, "FETCH" for UID FETCH */
	const struct imap_arg *args;	/* after the name */
	size_t nargs;
	int uid;			/* UID FETCH / STORE / COPY ... */
};

typedef void imap_cmd_fn(struct imap_session *s, const struct imap_cmd *cmd);

/* flags */
#define IMAP_CMD_NOAUTH 1	/* only before login */
#define IMAP_CMD_AUTH 2		/* needs login */
#define IMAP_CMD_SELECTED 4	/* needs a selected mailbox */
#define IMAP_CMD_UID 8		/* may follow UID */

/* Handle one parsed command line (tag, name, args). Returns 1 when a job
 * was started (the session waits), 0 when the command finished. */
int imap_command_dispatch(struct imap_session *s, const struct imap_arg *args,
    size_t n);

/* Tagged response for a command that finished at once. */
void imap_cmd_reply(struct imap_session *s, const struct imap_cmd *cmd,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* handlers (cmd-*.c) */
imap_cmd_fn cmd_capability, cmd_noop, cmd_logout, cmd_id, cmd_namespace;
imap_cmd_fn cmd_login, cmd_authenticate, cmd_starttls;
imap_cmd_fn cmd_list, cmd_lsub, cmd_create, cmd_delete, cmd_rename;
imap_cmd_fn cmd_subscribe, cmd_unsubscribe, cmd_status;
imap_cmd_fn cmd_select, cmd_examine, cmd_close, cmd_unselect, cmd_expunge;
imap_cmd_fn cmd_fetch, cmd_search, cmd_store, cmd_copy, cmd_append;
imap_cmd_fn cmd_idle;

/* cmd-auth.c: an AUTHENTICATE continuation line arrived. */
void imap_auth_continue(struct imap_session *s, const char *line,
    size_t len);

#endif
