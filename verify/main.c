/*
 * capmail-verify: the web service for sender verification links. See
 * server.h for what it answers.
 *
 *   capmail-verify [-c CONFIG] [-f]
 *
 * Reads the config (as the other daemons) and the secret key
 * (secret_key_file: required, it checks the links), binds verify_listen,
 * drops privileges to `user` (when started as root), then serves HTTP
 * with libmicrohttpd until SIGTERM or SIGINT, which stop it after the
 * requests in progress are answered. Plain HTTP: put a TLS proxy in
 * front.
 *
 * Threads, and why there is no libuv loop here: libmicrohttpd runs its
 * own polling threads (MHD_USE_INTERNAL_POLLING_THREAD with a pool of
 * store_connections threads, each polling its share of the connections
 * with epoll or poll). The handlers are short: a token check, then at most
 * two small queries. Running them on MHD's threads with a blocking store
 * connection each (store_conn_take()) is the simple and honest shape: a slow
 * client holds no thread (MHD does non-blocking I/O), a request holds a
 * thread only for its queries, and nothing bridges two event systems
 * (an MHD in external-select mode on a libuv loop plus store_run() would
 * add a loop, handle juggling and suspend/resume for the same result).
 * The main thread only waits for signals.
 *
 * Limits: VERIFY_MAX_CONNS connections, VERIFY_PER_IP_CONNS from one
 * address, VERIFY_TIMEOUT seconds idle, VERIFY_BODY_MAX bytes of form;
 * requests a minute per client address (verify_rate_ip) and per sender
 * address (verify_rate_sender).
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "captoken.h"
#include "cfg.h"
#include "conn.h"
#include "daemon.h"
#include "log.h"
#include "privdrop.h"
#include "ratelimit.h"
#include "server.h"

#define VERIFY_MAX_CONNS 256
#define VERIFY_PER_IP_CONNS 16
#define VERIFY_TIMEOUT 30	/* s */
#define VERIFY_BACKLOG 64

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512], safe[512];
	int n;

	(void)cls;
	n = vsnprintf(line, sizeof line, fmt, ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof line)
		n = sizeof line - 1;
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	log_warn(NULL, "http libmicrohttpd: %s",
	    log_safe(safe, sizeof safe, line, (size_t)n));
}

static int
bind_listen(const char *spec)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1;

	memset(&ss, 0, sizeof ss);
	if (conn_parse_addr(spec, &ss) != 0)
		log_fatal("verify_listen %s: not address:port", spec);
	len = ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
	    sizeof(struct sockaddr_in);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		log_fatal("socket: %s", strerror(errno));
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&ss, len) != 0 ||
	    listen(fd, VERIFY_BACKLOG) != 0)
		log_fatal("listen %s: %s", spec, strerror(errno));
	return fd;
}

int
main(int argc, char **argv)
{
	static struct verify_server vs;
	struct MHD_Daemon *mhd;
	struct cfg *cfg;
	const char *keyfile;
	char err[512];
	sigset_t sigs;
	int fd, sig = 0, threads;

	cfg = daemon_setup(argc, argv, "capmail-verify");

	keyfile = cfg_str(cfg, "secret_key_file");
	if (keyfile[0] == '\0')
		log_fatal("secret_key_file is not set: capmail-verify needs "
		    "the key that made the links");
	if (captoken_key_load(keyfile, &vs.key, err, sizeof err) != 0)
		log_fatal("secret_key_file %s: %s", keyfile, err);
	fd = bind_listen(cfg_str(cfg, "verify_listen"));
	privdrop(cfg_str(cfg, "user"));

	threads = (int)cfg_int(cfg, "store_connections");
	vs.db = store_new(cfg_str(cfg, "database"), threads);
	vs.rl_ip = ratelimit_new((unsigned)cfg_int(cfg, "verify_rate_ip"));
	vs.rl_sender = ratelimit_new(
	    (unsigned)cfg_int(cfg, "verify_rate_sender"));
	if (vs.db == NULL || vs.rl_ip == NULL || vs.rl_sender == NULL)
		log_fatal("out of memory");

	/* The MHD threads inherit this mask: the signals come to sigwait()
	 * below, never into a handler thread. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	mhd = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG,
	    0, NULL, NULL, verify_handle, &vs,
	    /* first, so that every message of MHD's comes through it */
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
	    MHD_OPTION_LISTEN_SOCKET, fd,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)VERIFY_MAX_CONNS,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)VERIFY_PER_IP_CONNS,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)VERIFY_TIMEOUT,
	    MHD_OPTION_NOTIFY_COMPLETED, verify_completed, &vs,
	    MHD_OPTION_END);
	if (mhd == NULL)
		log_fatal("libmicrohttpd did not start on %s",
		    cfg_str(cfg, "verify_listen"));
	log_info(NULL, "verify started listen=%s threads=%d rate_ip=%lld "
	    "rate_sender=%lld", cfg_str(cfg, "verify_listen"), threads,
	    cfg_int(cfg, "verify_rate_ip"), cfg_int(cfg, "verify_rate_sender"));

	while (sigwait(&sigs, &sig) != 0 || (sig != SIGTERM && sig != SIGINT))
		;
	log_info(NULL, "verify stopping signal=%d", sig);
	MHD_stop_daemon(mhd);	/* waits for the handler threads */
	close(fd);
	store_free(&vs.db);
	ratelimit_free(&vs.rl_ip);
	ratelimit_free(&vs.rl_sender);
	captoken_key_wipe(&vs.key);
	log_info(NULL, "verify stopped");
	cfg_free(&cfg);
	return 0;
}
