/*
 * daemon: what every capmail daemon does before it serves: parse
 * "[-c CONFIG] [-f]" (always foreground; -f is accepted for init systems
 * that pass it), load the config (the -c file, else CAPMAIL_SYSCONFDIR
 * /capmail.conf when it exists, else the defaults), open the log at the
 * configured level and ignore SIGPIPE. Bad usage exits 2, a bad config
 * exits 1 with file:line in the log. The caller owns the returned config:
 * cfg_free(&cfg).
 */
#ifndef CAPMAIL_DAEMON_H
#define CAPMAIL_DAEMON_H

#include "cfg.h"

struct cfg *daemon_setup(int argc, char **argv, const char *progname);

#endif
