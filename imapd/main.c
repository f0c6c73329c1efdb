/*
 * capmail-imapd: the IMAP4rev1 server over the capmail store. See
 * imap-session.h for a session's life, imap-commands.c for the commands.
 *
 *   capmail-imapd [-c CONFIG]
 *
 * Reads the config (default CAPMAIL_SYSCONFDIR/capmail.conf if it exists,
 * else the defaults), listens on imap_listen, drops privileges to `user`
 * (when started as root) after binding, and runs one libuv loop; every
 * database access goes through store_run(). SIGTERM and SIGINT stop it:
 * open sessions are dropped (clients reconnect; a command whose answer
 * was not sent is either committed or rolled back by PostgreSQL, never
 * half done).
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "cfg.h"
#include "conn.h"
#include "imap-session.h"
#include "imapd.h"
#include "log.h"
#include "privdrop.h"
#include "store.h"

#define DEFAULT_CONFIG CAPMAIL_SYSCONFDIR "/capmail.conf"
/* c->in: the parser copies as it goes, so this only smooths reads. */
#define IMAP_INPUT_BUFFER (256 * 1024)

static void
on_signal(uv_signal_t *h, int signum)
{
	log_info(NULL, "imap stopping signal=%d", signum);
	uv_stop(h->loop);
}

static void
usage(void)
{
	fputs("usage: capmail-imapd [-c CONFIG]\n", stderr);
	exit(2);
}

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

int
main(int argc, char **argv)
{
	const char *path = NULL;
	struct imapd d;
	struct cfg *cfg;
	uv_signal_t sigterm, sigint;
	char err[512];
	int ch, rc;

	while ((ch = getopt(argc, argv, "c:")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (path == NULL && access(DEFAULT_CONFIG, R_OK) == 0)
		path = DEFAULT_CONFIG;

	log_open("capmail-imapd");
	if ((cfg = cfg_load(path, err, sizeof err)) == NULL)
		log_fatal("config: %s", err);
	log_set_level(level_of(cfg_str(cfg, "log_level")));
	signal(SIGPIPE, SIG_IGN);

	memset(&d, 0, sizeof d);
	d.loop = uv_default_loop();
	d.max_line = (size_t)cfg_int(cfg, "imap_max_line");
	d.max_literal = (size_t)cfg_int(cfg, "imap_max_literal");
	snprintf(d.hostname, sizeof d.hostname, "%s", cfg_str(cfg, "hostname"));

	rc = listener_start(d.loop, cfg_str(cfg, "imap_listen"),
	    &imap_conn_handler, &d, IMAP_INPUT_BUFFER,
	    (unsigned)cfg_int(cfg, "imap_timeout") * 1000u);
	if (rc < 0)
		log_fatal("listen %s: %s", cfg_str(cfg, "imap_listen"),
		    uv_strerror(rc));
	privdrop(cfg_str(cfg, "user"));

	d.store = store_new(cfg_str(cfg, "database"),
	    (int)cfg_int(cfg, "store_connections"));
	if (d.store == NULL)
		log_fatal("store: out of memory");

	uv_signal_init(d.loop, &sigterm);
	uv_signal_init(d.loop, &sigint);
	uv_signal_start(&sigterm, on_signal, SIGTERM);
	uv_signal_start(&sigint, on_signal, SIGINT);

	log_info(NULL, "imap started hostname=%s max_literal=%zu", d.hostname,
	    d.max_literal);
	uv_run(d.loop, UV_RUN_DEFAULT);
	log_info(NULL, "imap stopped");
	cfg_free(&cfg);
	/* store work may still be running on the thread pool: exit without
	 * tearing down what it uses */
	_exit(0);
}
