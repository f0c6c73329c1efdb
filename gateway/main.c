/*
 * capmail-gateway: the SMTP server (MX). See smtp-session.h.
 *
 *   capmail-gateway [-c CONFIG] [-f]
 *
 * Reads the config (default CAPMAIL_SYSCONFDIR/capmail.conf if it exists,
 * else the defaults), loads the TLS certificate and key (tls_cert_file,
 * tls_key_file) when configured, listens on smtp_listen (STARTTLS offered
 * when a certificate is loaded), submission_listen (message submission,
 * STARTTLS when a certificate is loaded) and submissions_listen
 * (submission over implicit TLS, RFC 8314; needs the certificate), drops
 * privileges to `user`
 * (when started as root), and runs one libuv loop. It always stays in the
 * foreground and logs to stderr (-f is accepted for symmetry with the
 * other daemons). SIGTERM and SIGINT stop it: sessions are told 421 and
 * closed, those waiting for the store after its answer, so no committed
 * message goes unacknowledged because of the stop itself. SIGHUP loads the
 * certificate and key again for new sessions (a failure keeps the old
 * ones); open sessions are not disturbed.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "authlimit.h"
#include "captoken.h"
#include "authres.h"
#include "errors.h"
#include "cfg.h"
#include "conn.h"
#include "daemon.h"
#include "held-expiry.h"
#include "log.h"
#include "privdrop.h"
#include "smtp-session.h"
#include "store.h"
#include "tls.h"

#define INPUT_SLACK 65536	/* c->in beyond one command line */

static void
on_signal(uv_signal_t *h, int signum)
{
	struct gateway *gw = h->data;

	log_info(NULL, "smtp stopping signal=%d pending=%u", signum,
	    gw->pending);
	gateway_stop(gw);
}

static void
on_sighup(uv_signal_t *h, int signum)
{
	(void)h;
	log_info(NULL, "smtp reloading tls signal=%d", signum);
	(void)tls_reload();
}

/* libuv's pool (four threads unless told) runs both the store's work
 * (at most store_connections at once) and the auth checks (at most
 * GATEWAY_AUTH_MAX): with a thread for each, checks waiting seconds on a
 * sender's DNS never hold up RCPT lookups and deliveries. libuv reads
 * the size when the pool starts, at the first piece of work. */
static void
pool_size(unsigned long want)
{
	const char *env = getenv("UV_THREADPOOL_SIZE");
	char n[24];

	if (env != NULL && strtoul(env, NULL, 10) >= want)
		return;
	snprintf(n, sizeof n, "%lu", want);
	if (setenv("UV_THREADPOOL_SIZE", n, 1) != 0)
		log_fatal("setenv UV_THREADPOOL_SIZE: out of memory");
}

int
main(int argc, char **argv)
{
	struct gateway gw;
	struct cfg *cfg;
	uv_signal_t sigterm, sigint, sighup;
	char err[512];
	const char *smtps;
	struct authlimit_conf alconf;
	const char *sub;
	struct captoken_key *key = NULL;
	static char url_base[300];
	int rc;

	cfg = daemon_setup(argc, argv, "capmail-gateway");
	store_segment_min = (size_t)cfg_int(cfg, "segment_min_size");

	memset(&gw, 0, sizeof gw);
	gw.loop = uv_default_loop();
	gw.hostname = cfg_str(cfg, "hostname");
	gw.max_message_size = (size_t)cfg_int(cfg, "smtp_max_message_size");
	gw.max_recipients = (size_t)cfg_int(cfg, "smtp_max_recipients");
	gw.max_errors = (unsigned)cfg_int(cfg, "smtp_max_errors");
	gw.max_sessions = (unsigned)cfg_int(cfg, "smtp_max_sessions");
	gw.max_line = (size_t)cfg_int(cfg, "smtp_max_line");
	gw.auth_plaintext_loopback = cfg_bool(cfg, "auth_plaintext_loopback");
	/* submission queues external recipients for capmail-outbound only
	 * when it has somewhere to send them */
	gw.relay = cfg_str(cfg, "relay_host")[0] != '\0';
	authlimit_conf_from_cfg(&alconf, cfg);
	if ((gw.authlimit = authlimit_new(&alconf)) == NULL)
		log_fatal("authlimit: out of memory");
	if (cfg_bool(cfg, "auth_checks")) {
		/* reads the public suffix list: before the privilege drop */
		if ((rc = authres_ctx_new(cfg_str(cfg, "dns_resolver"),
		    &gw.authres, err, sizeof err)) < 0)
			log_fatal("auth checks: %s", rc == CM_ENOMEM ?
			    "out of memory" : err);
		authres_ctx_set_timeout(gw.authres,
		    (unsigned)cfg_int(cfg, "auth_checks_timeout"));
		pool_size((unsigned long)cfg_int(cfg, "store_connections") +
		    GATEWAY_AUTH_MAX);
	}

	/* the keys are read while still privileged */
	gw.verify_url_base = cfg_str(cfg, "verify_url_base");
	if (gw.verify_url_base[0] == '\0') {	/* https://hostname */
		snprintf(url_base, sizeof url_base, "https://%s", gw.hostname);
		gw.verify_url_base = url_base;
	}
	gw.held_max_age = (long)cfg_int(cfg, "held_max_age");
	if (cfg_str(cfg, "secret_key_file")[0] != '\0') {
		if ((key = calloc(1, sizeof *key)) == NULL)
			log_fatal("secret_key_file: out of memory");
		if (captoken_key_load(cfg_str(cfg, "secret_key_file"), key,
		    err, sizeof err) < 0)
			log_fatal("secret_key_file: %s", err);
	}
	if (key != NULL && gw.relay)
		gw.challenge_key = key;
	else
		log_info(NULL, "smtp challenges=off (they need "
		    "secret_key_file and relay_host): mail from unknown "
		    "senders is held without a challenge");
	if (tls_init(cfg, err, sizeof err) < 0)
		log_fatal("tls: %s", err);
	gw.tls = tls_available();
	smtps = cfg_str(cfg, "submissions_listen");
	if (*smtps != '\0' && !gw.tls)
		log_fatal("submissions_listen %s needs tls_cert_file and "
		    "tls_key_file", smtps);

	rc = listener_start(gw.loop, cfg_str(cfg, "smtp_listen"),
	    &smtp_handler, &gw, gw.max_line + 2 + INPUT_SLACK,
	    (unsigned)cfg_int(cfg, "smtp_timeout") * 1000u);
	if (rc < 0)
		log_fatal("listen %s: %s", cfg_str(cfg, "smtp_listen"),
		    uv_strerror(rc));
	if (*smtps != '\0' && (rc = listener_start_flags(gw.loop, smtps,
	    &smtp_submission_handler, &gw, gw.max_line + 2 + INPUT_SLACK,
	    (unsigned)cfg_int(cfg, "smtp_timeout") * 1000u, LISTEN_TLS)) < 0)
		log_fatal("listen %s: %s", smtps, uv_strerror(rc));
	sub = cfg_str(cfg, "submission_listen");
	if (sub[0] != '\0' && (rc = listener_start(gw.loop, sub,
	    &smtp_submission_handler, &gw, gw.max_line + 2 + INPUT_SLACK,
	    (unsigned)cfg_int(cfg, "smtp_timeout") * 1000u)) < 0)
		log_fatal("listen %s: %s", sub, uv_strerror(rc));
	privdrop(cfg_str(cfg, "user"));

	gw.store = store_new(cfg_str(cfg, "database"),
	    (int)cfg_int(cfg, "store_connections"));
	if (gw.store == NULL)
		log_fatal("store: out of memory");

	uv_signal_init(gw.loop, &sigterm);
	uv_signal_init(gw.loop, &sigint);
	sigterm.data = sigint.data = &gw;
	uv_signal_start(&sigterm, on_signal, SIGTERM);
	uv_signal_start(&sigint, on_signal, SIGINT);
	uv_signal_init(gw.loop, &sighup);
	uv_signal_start(&sighup, on_sighup, SIGHUP);

	held_expiry_start(&gw);
	log_info(NULL, "smtp started hostname=%s max_message_size=%zu",
	    gw.hostname, gw.max_message_size);
	uv_run(gw.loop, UV_RUN_DEFAULT);
	held_expiry_stop();
	/* The signal handles live in this frame: unregister them (closing
	 * does that at once) before main returns, or a SIGTERM during the
	 * teardown reaches libuv's handler through a dangling handle and
	 * crashes. From here on the signals have their default action. */
	uv_close((uv_handle_t *)&sigterm, NULL);
	uv_close((uv_handle_t *)&sigint, NULL);
	uv_close((uv_handle_t *)&sighup, NULL);

	/* Every session is closed and every store request has finished
	 * (gateway_stop waited for them). */
	store_free(&gw.store);
	tls_cleanup();
	authlimit_free(&gw.authlimit);
	if (key != NULL) {
		captoken_key_wipe(key);
		free(key);
	}
	authres_ctx_free(&gw.authres);
	log_info(NULL, "smtp stopped");
	cfg_free(&cfg);
	return 0;
}
