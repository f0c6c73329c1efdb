/*
 * privdrop: the one fixed, all-fatal privilege drop (after OpenSMTPD and
 * Postfix's chroot_uid): look the user up, setgroups, setresgid,
 * setresuid, then check that root cannot be regained. Called after the
 * daemon bound its ports and read its key files, before the event loop
 * runs. Does nothing when not running as root. Exits (log_fatal) on any
 * failure: a daemon never goes on as root by accident.
 */
#ifndef CAPMAIL_PRIVDROP_H
#define CAPMAIL_PRIVDROP_H

int privdrop(const char *user);	/* 0; never returns on failure */

#endif
