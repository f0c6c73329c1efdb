/*
 * capmail-imapd: the IMAP4rev1 server over the capmail store. See
 * imap-session.h for a session's life, imap-commands.c for the commands.
 *
 *   capmail-imapd [-c CONFIG] [-f]
 *
 * Reads the config (daemon_setup: default CAPMAIL_SYSCONFDIR/capmail.conf
 * if it exists, else the defaults; always in the foreground), listens on
 * imap_listen (STARTTLS offered when tls_cert_file is set) and imaps_listen
 * (implicit TLS; needs the certificate), drops privileges to `user` (when
 * started as root) after binding and after reading the TLS key, and runs
 * one libuv loop; every
 * database access goes through store_run(), except the LISTEN connection
 * that wakes IDLE (imap-notify.c), which the loop only reads. SIGTERM and
 * SIGINT stop it: every session is told "* BYE Server shutting down"
 * and closed (a command whose answer was not sent is either committed or
 * rolled back by PostgreSQL, never half done); a second signal stops at
 * once. SIGHUP loads the certificate and key again for new sessions.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "authlimit.h"
#include "cfg.h"
#include "conn.h"
#include "daemon.h"
#include "imap-idle.h"
#include "imap-session.h"
#include "imapd.h"
#include "log.h"
#include "privdrop.h"
#include "store.h"
#include "tls.h"

/* c->in: the parser copies as it goes, so this only smooths reads. */
#define IMAP_INPUT_BUFFER (256 * 1024)

/* The first signal says BYE to every session and waits for them to be
 * flushed (at most STOP_GRACE_MS); a second one stops at once. */
#define STOP_GRACE_MS 3000

static void
on_grace_over(uv_timer_t *t)
{
	uv_stop(t->loop);
}

static void
on_sighup(uv_signal_t *h, int signum)
{
	(void)h;
	log_info(NULL, "imap reloading tls signal=%d", signum);
	(void)tls_reload();
}

static void
on_signal(uv_signal_t *h, int signum)
{
	struct imapd *d = h->data;
	static uv_timer_t grace;

	log_info(NULL, "imap stopping signal=%d", signum);
	if (d->stopping) {
		uv_stop(h->loop);
		return;
	}
	uv_timer_init(h->loop, &grace);
	uv_timer_start(&grace, on_grace_over, STOP_GRACE_MS, 0);
	imapd_shutdown(d);
}

int
main(int argc, char **argv)
{
	struct imapd d;
	struct cfg *cfg;
	uv_signal_t sigterm, sigint, sighup;
	char err[512];
	const char *imaps;
	struct authlimit_conf alconf;
	int rc;

	cfg = daemon_setup(argc, argv, "capmail-imapd");
	memset(&d, 0, sizeof d);
	d.loop = uv_default_loop();
	d.max_line = (size_t)cfg_int(cfg, "imap_max_line");
	d.max_literal = (size_t)cfg_int(cfg, "imap_max_literal");
	d.idle_poll_ms = (unsigned)cfg_int(cfg, "imap_idle_poll") * 1000u;
	/* APPEND stores through store_deliver() like delivered mail */
	store_segment_min = (size_t)cfg_int(cfg, "segment_min_size");
	snprintf(d.hostname, sizeof d.hostname, "%s", cfg_str(cfg, "hostname"));
	authlimit_conf_from_cfg(&alconf, cfg);
	if ((d.authlimit = authlimit_new(&alconf)) == NULL)
		log_fatal("authlimit: out of memory");

	d.plaintext_loopback = cfg_bool(cfg, "auth_plaintext_loopback");
	/* the key is read while still privileged */
	if (tls_init(cfg, err, sizeof err) < 0)
		log_fatal("tls: %s", err);
	d.tls = tls_available();
	imaps = cfg_str(cfg, "imaps_listen");
	if (*imaps != '\0' && !d.tls)
		log_fatal("imaps_listen %s needs tls_cert_file and "
		    "tls_key_file", imaps);

	rc = listener_start(d.loop, cfg_str(cfg, "imap_listen"),
	    &imap_conn_handler, &d, IMAP_INPUT_BUFFER,
	    (unsigned)cfg_int(cfg, "imap_timeout") * 1000u);
	if (rc < 0)
		log_fatal("listen %s: %s", cfg_str(cfg, "imap_listen"),
		    uv_strerror(rc));
	if (*imaps != '\0' && (rc = listener_start_flags(d.loop, imaps,
	    &imap_conn_handler, &d, IMAP_INPUT_BUFFER,
	    (unsigned)cfg_int(cfg, "imap_timeout") * 1000u, LISTEN_TLS)) < 0)
		log_fatal("listen %s: %s", imaps, uv_strerror(rc));
	privdrop(cfg_str(cfg, "user"));

	d.store = store_new(cfg_str(cfg, "database"),
	    (int)cfg_int(cfg, "store_connections"));
	if (d.store == NULL)
		log_fatal("store: out of memory");
	/* IDLE's wake-ups: a LISTEN connection of its own */
	if (imap_notify_start(&d, cfg_str(cfg, "database")) < 0)
		log_fatal("notify: out of memory");

	uv_signal_init(d.loop, &sigterm);
	uv_signal_init(d.loop, &sigint);
	sigterm.data = sigint.data = &d;
	uv_signal_start(&sigterm, on_signal, SIGTERM);
	uv_signal_start(&sigint, on_signal, SIGINT);
	uv_signal_init(d.loop, &sighup);
	uv_signal_start(&sighup, on_sighup, SIGHUP);

	log_info(NULL, "imap started hostname=%s max_literal=%zu", d.hostname,
	    d.max_literal);
	uv_run(d.loop, UV_RUN_DEFAULT);
	log_info(NULL, "imap stopped");
	cfg_free(&cfg);
	/* store work may still be running on the thread pool: exit without
	 * tearing down what it uses */
	_exit(0);
}
