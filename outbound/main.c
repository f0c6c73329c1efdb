/*
 * capmail-outbound: delivers the outbound queue (bounces, and later
 * challenges, notices and external recipients of submission) to the
 * relay host. See sender.h for how.
 *
 *   capmail-outbound [-c CONFIG] [-f]
 *
 * Reads the config (as the other daemons), drops privileges to `user`
 * when started as root (it binds no port: it drops at once), starts the
 * sender thread and runs one libuv loop for the signals. SIGTERM and
 * SIGINT stop it: the SMTP transaction in progress is finished (each
 * command is bounded by outbound_timeout) and recorded first.
 *
 * Why its own folder and daemon: the queue is gateway-independent (the
 * gateway's submission, capmail-verify's challenges and capmailctl all
 * put mail into it), the SMTP client is a different job from the MX's
 * server, and a blocking libetpan client has no place in a daemon whose
 * loop serves sessions.
 */
#include "config.h"

#include <signal.h>
#include <string.h>

#include <uv.h>

#include "cfg.h"
#include "daemon.h"
#include "log.h"
#include "privdrop.h"
#include "relay.h"
#include "sender.h"
#include "store.h"

static void on_signal(uv_signal_t *h, int signum)
{
	log_info(NULL, "outbound stopping signal=%d", signum);
	uv_stop(h->loop);
}

int main(int argc, char **argv)
{
	static struct sender snd;
	struct cfg *cfg;
	uv_loop_t *loop;
	uv_signal_t sigterm, sigint;
	int rc;

	cfg = daemon_setup(argc, argv, "capmail-outbound");
	privdrop(cfg_str(cfg, "user"));
	store_segment_min = (size_t)cfg_int(cfg, "segment_min_size");

	memset(&snd, 0, sizeof snd);
	snd.conninfo = cfg_str(cfg, "database");
	snd.hostname = cfg_str(cfg, "hostname");
	snd.relay_spec = cfg_str(cfg, "relay_host");
	snd.retry_min = (long)cfg_int(cfg, "outbound_retry_min");
	snd.retry_max = (long)cfg_int(cfg, "outbound_retry_max");
	snd.max_age = (long)cfg_int(cfg, "outbound_max_age");
	snd.poll = (long)cfg_int(cfg, "outbound_poll");
	snd.timeout = (long)cfg_int(cfg, "outbound_timeout");
	snd.keep = (long)cfg_int(cfg, "outbound_keep");
	if (snd.relay_spec[0] != '\0' &&
	    relay_parse(snd.relay_spec, snd.relay_host,
	    sizeof snd.relay_host, &snd.relay_port) != 0)
		log_fatal("relay_host %s: not host:port", snd.relay_spec);

	loop = uv_default_loop();
	uv_signal_init(loop, &sigterm);
	uv_signal_init(loop, &sigint);
	uv_signal_start(&sigterm, on_signal, SIGTERM);
	uv_signal_start(&sigint, on_signal, SIGINT);

	rc = sender_start(&snd);
	if (rc != 0)
		log_fatal("sender thread: %s", cm_strerror(rc));
	log_info(NULL, "outbound started relay=%s retry_min=%ld max_age=%ld",
	    snd.relay_spec[0] != '\0' ? snd.relay_spec : "(none)",
	    snd.retry_min, snd.max_age);
	uv_run(loop, UV_RUN_DEFAULT);

	sender_stop(&snd);
	uv_close((uv_handle_t *)&sigterm, NULL);
	uv_close((uv_handle_t *)&sigint, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
	uv_loop_close(loop);
	log_info(NULL, "outbound stopped");
	cfg_free(&cfg);
	return 0;
}
