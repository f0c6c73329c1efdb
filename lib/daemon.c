/*
 * daemon: common start-up of the capmail daemons. See daemon.h.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"

#define DEFAULT_CONFIG CAPMAIL_SYSCONFDIR "/capmail.conf"

static enum log_level
level_of(const char *s)
{
	if (strcmp(s, "debug") == 0)
		return LOG_LVL_DEBUG;
	if (strcmp(s, "warn") == 0)
		return LOG_LVL_WARN;
	if (strcmp(s, "error") == 0)
		return LOG_LVL_ERROR;
	return LOG_LVL_INFO;
}

struct cfg *
daemon_setup(int argc, char **argv, const char *progname)
{
	const char *path = NULL;
	struct cfg *cfg;
	char err[512];
	int ch;

	while ((ch = getopt(argc, argv, "c:f")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'f':
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc)
		goto usage;
	if (path == NULL && access(DEFAULT_CONFIG, R_OK) == 0)
		path = DEFAULT_CONFIG;

	log_open(progname);
	if ((cfg = cfg_load(path, err, sizeof err)) == NULL)
		log_fatal("config: %s", err);
	log_set_level(level_of(cfg_str(cfg, "log_level")));
	signal(SIGPIPE, SIG_IGN);
	return cfg;
usage:
	fprintf(stderr, "usage: %s [-c CONFIG] [-f]\n", progname);
	exit(2);
}
