/*
 * capmailctl: administer capmail's database.
 *
 *   capmailctl [-c CONFIG | -d CONNINFO] COMMAND ...
 *
 *   db init            create the schema in an empty database (fails if
 *                      the database already has one: use db migrate)
 *   db migrate         apply the migrations the database lacks
 *   db version         print the schema version (0: none)
 *   domain add NAME    add a local domain
 *   domain list
 *   user add ADDRESS   add a user (its domain must exist) with INBOX,
 *                      Sent, Drafts, Trash, Junk; asks for the password
 *   user passwd ADDRESS
 *   user import-hash ADDRESS
 *                      set (creating the user if needed) the password
 *                      hash read as one line from standard input, as a
 *                      Dovecot passwd-file holds it: {SHA512-CRYPT}$6$...,
 *                      {SHA256-CRYPT}$5$..., {BLF-CRYPT}$2y$..., {CRYPT}...
 *                      or a bare crypt(3) hash; other schemes are refused
 *   user list
 *   grant list ADDRESS the grants a user holds: id, created (UTC), state,
 *                      sender authentication, sender, size, subject,
 *                      tab-separated
 *   queue list         the outbound queue, oldest first: per item a line
 *                      id, created (UTC), state, attempts, next attempt
 *                      (UTC), size, sender ("<>" for the null sender),
 *                      owner; then per recipient a line starting with a
 *                      tab: address, state, attempts, last error
 *   queue flush [ID]   make every queued item (or item ID) due now and
 *                      wake capmail-outbound
 *   queue delete ID    remove an item, and its message when nothing else
 *                      refers to it
 *   sender allow|block [--user USER] ADDRESS|@DOMAIN
 *                      allow or block a sender (an address or a whole
 *                      domain) for one user, or for the organisation
 *   sender forget [--user USER] ADDRESS|@DOMAIN
 *                      remove that rule (allow, block, verified, learned)
 *   sender list [--user USER]
 *                      rules: owner ("*" = organisation), pattern, kind,
 *                      created (UTC), tab-separated
 *   domain policy DOMAIN open|verify-unknown|known-only
 *   user policy ADDRESS open|verify-unknown|known-only|domain
 *                      the sender policy (domain: the domain's)
 *   user question ADDRESS
 *                      set the question a sender must answer on the
 *                      verification page: the question is the first line
 *                      of standard input, the accepted answers the lines
 *                      after it (at least one; compared trimmed, white
 *                      space runs as one space, ASCII case ignored)
 *   user question ADDRESS --clear
 *                      remove the question
 *   held list [USER]   held grants: id, created (UTC), recipient, sender,
 *                      subject, tab-separated
 *   held release SENDER [USER]
 *                      release the mail held from SENDER (to USER) into
 *                      INBOX, without verifying the sender
 *   held link USER SENDER
 *                      print a verification link for the mail held
 *                      from SENDER to USER, to pass on by other means
 *                      (it is not mailed; secret_key_file must be set)
 *   held expire [SECONDS]
 *                      delete held grants older than SECONDS (default:
 *                      the config's held_max_age), and their messages
 *                      when nothing else refers to them
 *   queue add FROM RCPT...
 *                      store the message on standard input and queue it
 *                      for RCPT... with envelope sender FROM ("" for <>);
 *                      when FROM is a local user, permanent failures are
 *                      reported to that user's INBOX
 *
 * The database is the libpq connection string given with -d, else the
 * `database` key of the config file (-c, default
 * CAPMAIL_SYSCONFDIR/capmail.conf; when that default file does not exist
 * the built-in defaults apply). Passwords are never taken from the
 * command line: read as one line from standard input when it is not a
 * terminal, else prompted for twice without echo.
 *
 * Addresses are checked (one '@', non-empty parts, no spaces or control
 * bytes) and lower-cased. Errors go to stderr as
 * "capmailctl: domain example.test: already exists".
 * Exit status: 0 success, 1 error, 2 usage.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "captoken.h"
#include "cfg.h"
#include "errors.h"
#include "log.h"
#include "outbound.h"
#include "senders.h"
#include "store-int.h"

#define PROG "capmailctl"
#define DEFAULT_CONFIG CAPMAIL_SYSCONFDIR "/capmail.conf"

enum { EXIT_OK = 0, EXIT_ERR = 1, EXIT_USAGE = 2 };

static void usage(void)
{
	fprintf(stderr,
	    "usage: " PROG " [-c CONFIG | -d CONNINFO] COMMAND ...\n"
	    "  db init | db migrate | db version\n"
	    "  domain add NAME | domain list\n"
	    "  user add ADDRESS | user passwd ADDRESS | user list\n"
	    "  user import-hash ADDRESS   (the hash on standard input)\n"
	    "  grant list ADDRESS\n"
	    "  queue list | queue flush [ID] | queue delete ID\n"
	    "  queue add FROM RCPT... < MESSAGE\n"
	    "  sender allow|block|forget [--user USER] ADDRESS|@DOMAIN\n"
	    "  sender list [--user USER]\n"
	    "  domain policy DOMAIN open|verify-unknown|known-only\n"
	    "  user policy ADDRESS open|verify-unknown|known-only|domain\n"
	    "  user question ADDRESS < QUESTION-AND-ANSWERS |"
	    " user question ADDRESS --clear\n"
	    "  held list [USER] | held release SENDER [USER] |"
	    " held expire [SECONDS] |\n"
	    "  held link USER SENDER\n");
}

/* "capmailctl: WHAT: REASON" for a store error; the server's own text
 * for database failures. */
static int fail(struct store_conn *db, const char *what, int rc)
{
	const char *why = cm_strerror(rc);

	if ((rc == CM_EDB || rc == CM_EDBDOWN) && db != NULL &&
	    store_errmsg(db)[0] != '\0')
		why = store_errmsg(db);
	fprintf(stderr, PROG ": %s: %s\n", what, why);
	return EXIT_ERR;
}

/* One line of at most STORE_PASSWORD_MAX bytes from f, without its line
 * end, into buf (bufsz > STORE_PASSWORD_MAX + 2). */
static int read_line(FILE *f, char *buf, size_t bufsz)
{
	size_t n;

	if (fgets(buf, (int)bufsz, f) == NULL)
		return CM_EIO;
	n = strlen(buf);
	if (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	else if (n + 1 >= bufsz)
		return CM_ETOOBIG;
	if (n > 0 && buf[n - 1] == '\r')
		buf[--n] = '\0';
	return 0;
}

static int prompt_noecho(const char *prompt, char *buf, size_t bufsz)
{
	struct termios old, noecho;
	int rc;

	fputs(prompt, stderr);
	fflush(stderr);
	if (tcgetattr(STDIN_FILENO, &old) != 0)
		return CM_EIO;
	noecho = old;
	noecho.c_lflag &= ~(tcflag_t)ECHO;
	noecho.c_lflag |= ECHONL;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &noecho) != 0)
		return CM_EIO;
	rc = read_line(stdin, buf, bufsz);
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	return rc;
}

/* The new password into pw (STORE_PASSWORD_MAX + 2 bytes). */
static int get_password(char *pw, size_t pwsz)
{
	char again[STORE_PASSWORD_MAX + 2];
	int rc;

	if (!isatty(STDIN_FILENO)) {
		rc = read_line(stdin, pw, pwsz);
		if (rc == CM_EIO) {
			fprintf(stderr, PROG ": no password on standard input\n");
			return rc;
		}
	} else {
		rc = prompt_noecho("New password: ", pw, pwsz);
		if (rc == 0)
			rc = prompt_noecho("Repeat password: ", again,
			    sizeof again);
		if (rc == 0 && strcmp(pw, again) != 0) {
			fprintf(stderr, PROG ": passwords do not match\n");
			rc = CM_EINVAL;
		}
		explicit_bzero(again, sizeof again);
		if (rc == CM_EIO)
			fprintf(stderr, PROG ": cannot read the password\n");
	}
	if (rc == CM_ETOOBIG)
		fprintf(stderr, PROG ": password longer than %d bytes\n",
		    STORE_PASSWORD_MAX);
	else if (rc == 0 && pw[0] == '\0') {
		fprintf(stderr, PROG ": empty password\n");
		rc = CM_EINVAL;
	}
	return rc;
}

static int check_address(const char *in, char *out, size_t outsz)
{
	if (store_address_normalize(in, out, outsz) != 0) {
		char safe[128];

		fprintf(stderr, PROG ": %s: not a valid address\n",
		    log_safe(safe, sizeof safe, in, strlen(in)));
		return EXIT_ERR;
	}
	return EXIT_OK;
}

static void print_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		printf("%s\n", v[i]);
}

/* ---- commands ---- */

/* The command line's shape, checked before connecting. */
static int known_command(int argc, char **argv)
{
	static const struct {
		const char *cmd, *sub;
		int argc;
	} cmds[] = {
		{ "db", "init", 2 }, { "db", "migrate", 2 },
		{ "db", "version", 2 },
		{ "domain", "add", 3 }, { "domain", "list", 2 },
		{ "user", "add", 3 }, { "user", "passwd", 3 },
		{ "user", "list", 2 }, { "user", "import-hash", 3 },
		{ "grant", "list", 3 },
		{ "queue", "list", 2 }, { "queue", "flush", 2 },
		{ "queue", "flush", 3 }, { "queue", "delete", 3 },
		{ "domain", "policy", 4 }, { "user", "policy", 4 },
		{ "user", "question", 3 }, { "user", "question", 4 },
		{ "held", "list", 2 }, { "held", "list", 3 },
		{ "held", "release", 3 }, { "held", "release", 4 },
		{ "held", "expire", 2 }, { "held", "expire", 3 },
		{ "held", "link", 4 },
		{ "sender", "list", 2 }, { "sender", "list", 4 },
		{ "sender", "allow", 3 }, { "sender", "allow", 5 },
		{ "sender", "block", 3 }, { "sender", "block", 5 },
		{ "sender", "forget", 3 }, { "sender", "forget", 5 },
	};

	if (argc >= 4 && strcmp(argv[0], "queue") == 0 &&
	    strcmp(argv[1], "add") == 0)
		return 1;

	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
		if (argc == cmds[i].argc && strcmp(argv[0], cmds[i].cmd) == 0 &&
		    strcmp(argv[1], cmds[i].sub) == 0)
			return 1;
	return 0;
}

static int cmd_db(struct store_conn *db, int argc, char **argv)
{
	int rc, version = 0, applied = 0;

	if (argc != 1)
		return (usage(), EXIT_USAGE);
	if (strcmp(argv[0], "version") == 0) {
		rc = store_schema_version(db, &version);
		if (rc != 0)
			return fail(db, "database", rc);
		printf("%d\n", version);
		return EXIT_OK;
	}
	if (strcmp(argv[0], "init") == 0) {
		rc = store_schema_version(db, &version);
		if (rc != 0)
			return fail(db, "database", rc);
		if (version != 0) {
			fprintf(stderr, PROG ": database already initialised "
			    "(schema version %d); use 'db migrate'\n", version);
			return EXIT_ERR;
		}
	} else if (strcmp(argv[0], "migrate") != 0) {
		return (usage(), EXIT_USAGE);
	}
	rc = store_migrate(db, &applied);
	if (rc != 0)
		return fail(db, "migrate", rc);
	rc = store_schema_version(db, &version);
	if (rc != 0)
		return fail(db, "database", rc);
	printf("schema version %d (%d migration%s applied)\n", version,
	    applied, applied == 1 ? "" : "s");
	return EXIT_OK;
}

static int cmd_policy(struct store_conn *db, const char *kind,
    const char *name, const char *policy);

static int cmd_domain(struct store_conn *db, int argc, char **argv)
{
	char what[300];
	char **v;
	size_t n;
	int rc;

	if (argc == 2 && strcmp(argv[0], "add") == 0) {
		char safe[260];

		/* lower-case (ASCII) for the messages; SQL does it anyway */
		for (char *c = argv[1]; *c != '\0'; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c = (char)(*c - 'A' + 'a');
		snprintf(what, sizeof what, "domain %s",
		    log_safe(safe, sizeof safe, argv[1], strlen(argv[1])));
		rc = store_domain_add(db, argv[1]);
		if (rc == CM_EINVAL) {
			fprintf(stderr, PROG ": %s: not a valid domain name\n",
			    what);
			return EXIT_ERR;
		}
		return rc != 0 ? fail(db, what, rc) : EXIT_OK;
	}
	if (argc == 3 && strcmp(argv[0], "policy") == 0)
		return cmd_policy(db, "domain", argv[1], argv[2]);
	if (argc == 1 && strcmp(argv[0], "list") == 0) {
		rc = store_domain_list(db, &v, &n);
		if (rc != 0)
			return fail(db, "domain list", rc);
		print_strv(v, n);
		store_strv_free(&v, n);
		return EXIT_OK;
	}
	usage();
	return EXIT_USAGE;
}

/* user import-hash ADDRESS: the hash comes on stdin, never in argv
 * (argv is visible to every local user in ps). */
static int cmd_user_import(struct store_conn *db, const char *arg)
{
	char addr[STORE_ADDRESS_MAX + 1];
	char what[STORE_ADDRESS_MAX + 32];
	char line[STORE_HASH_MAX + 64], hash[STORE_HASH_MAX + 1];
	const char *why, *domain;
	int64_t id;
	int rc;

	if (check_address(arg, addr, sizeof addr) != EXIT_OK)
		return EXIT_ERR;
	snprintf(what, sizeof what, "user %s", addr);
	rc = read_line(stdin, line, sizeof line);
	if (rc == CM_EIO || (rc == 0 && line[0] == '\0')) {
		fprintf(stderr, PROG ": %s: no hash on standard input\n", what);
		return EXIT_ERR;
	}
	if (rc == CM_ETOOBIG || (rc = store_hash_import(line, hash,
	    sizeof hash, &why)) != 0) {
		fprintf(stderr, PROG ": %s: %s\n", what, rc == CM_ETOOBIG ?
		    "hash too long" : why);
		explicit_bzero(line, sizeof line);
		return EXIT_ERR;
	}
	explicit_bzero(line, sizeof line);
	rc = store_user_lookup(db, addr, &id);
	if (rc == 0)
		rc = store_user_set_hash(db, addr, hash);
	else if (rc == CM_ENOTFOUND) {
		domain = strchr(addr, '@') + 1;
		rc = store_domain_is_local(db, domain);
		if (rc == 0) {
			fprintf(stderr, PROG ": domain %s: does not exist "
			    "(add it with 'domain add %s')\n", domain, domain);
			rc = CM_ENOTFOUND;
			explicit_bzero(hash, sizeof hash);
			return EXIT_ERR;
		}
		if (rc > 0)
			rc = store_user_add_hash(db, addr, hash);
	}
	explicit_bzero(hash, sizeof hash);
	return rc != 0 ? fail(db, what, rc) : EXIT_OK;
}

/* user question ADDRESS [--clear]: the question and its answers come on
 * stdin, one a line, so that they are not in ps (argv) nor in the shell's
 * history. */
static int cmd_user_question(struct store_conn *db, const char *arg,
    const char *opt)
{
	char addr[STORE_ADDRESS_MAX + 1];
	char what[STORE_ADDRESS_MAX + 32];
	char line[2 * STORE_QUESTION_MAX + 2], norm[STORE_QUESTION_MAX + 1];
	char *ans[STORE_ANSWERS_MAX];
	size_t n = 0;
	int rc, lineno = 1;

	if (opt != NULL && strcmp(opt, "--clear") != 0)
		return (usage(), EXIT_USAGE);
	if (check_address(arg, addr, sizeof addr) != EXIT_OK)
		return EXIT_ERR;
	snprintf(what, sizeof what, "user %s", addr);
	if (opt != NULL) {
		rc = store_user_question_clear(db, addr);
		if (rc == CM_ENOTFOUND) {
			fprintf(stderr, PROG ": %s: no such user\n", what);
			return EXIT_ERR;
		}
		return rc != 0 ? fail(db, what, rc) : EXIT_OK;
	}
	rc = read_line(stdin, line, sizeof line);
	if (rc == CM_EIO || (rc == 0 && line[0] == '\0')) {
		fprintf(stderr, PROG ": %s: no question on standard input\n",
		    what);
		return EXIT_ERR;
	}
	if (rc == 0)
		rc = store_question_normalize(line, norm, sizeof norm);
	if (rc == CM_ETOOBIG) {
		fprintf(stderr, PROG ": %s: question longer than %d bytes\n",
		    what, STORE_QUESTION_MAX);
		return EXIT_ERR;
	}
	if (rc != 0) {
		fprintf(stderr, PROG ": %s: the question must be UTF-8 text "
		    "without control characters\n", what);
		return EXIT_ERR;
	}
	for (;;) {
		char a[STORE_ANSWER_MAX + 1];

		lineno++;
		rc = read_line(stdin, line, sizeof line);
		if (rc == CM_EIO)
			break;		/* end of input */
		if (rc == 0) {
			const char *p = line;

			while (*p == ' ' || *p == '\t')
				p++;
			if (*p == '\0')
				continue;	/* blank lines do not count */
			rc = store_answer_normalize(line, a, sizeof a);
		}
		if (rc == 0 && n == STORE_ANSWERS_MAX) {
			fprintf(stderr, PROG ": %s: more than %d answers\n",
			    what, STORE_ANSWERS_MAX);
			rc = CM_EINVAL;
			goto out;
		}
		if (rc == CM_ETOOBIG) {
			fprintf(stderr, PROG ": %s: line %d: answer longer than "
			    "%d bytes\n", what, lineno, STORE_ANSWER_MAX);
			goto out;
		}
		if (rc != 0) {
			fprintf(stderr, PROG ": %s: line %d: an answer must be "
			    "UTF-8 text without control characters\n", what,
			    lineno);
			goto out;
		}
		if ((ans[n] = strdup(line)) == NULL) {
			rc = CM_ENOMEM;
			fail(db, what, rc);
			goto out;
		}
		n++;
	}
	if (n == 0) {
		fprintf(stderr, PROG ": %s: no answer on standard input (one "
		    "a line, after the question)\n", what);
		rc = CM_EINVAL;
		goto out;
	}
	rc = store_user_question_set(db, addr, norm,
	    (const char *const *)ans, n);
	if (rc == CM_ENOTFOUND)
		fprintf(stderr, PROG ": %s: no such user\n", what);
	else if (rc != 0)
		fail(db, what, rc);
out:
	for (size_t i = 0; i < n; i++)
		free(ans[i]);
	return rc != 0 ? EXIT_ERR : EXIT_OK;
}

static int cmd_user(struct store_conn *db, int argc, char **argv)
{
	char addr[STORE_ADDRESS_MAX + 1];
	char pw[STORE_PASSWORD_MAX + 2];
	char what[STORE_ADDRESS_MAX + 32];
	char **v;
	size_t n;
	int rc, add;

	if (argc == 1 && strcmp(argv[0], "list") == 0) {
		rc = store_user_list(db, &v, &n);
		if (rc != 0)
			return fail(db, "user list", rc);
		print_strv(v, n);
		store_strv_free(&v, n);
		return EXIT_OK;
	}
	if (argc == 2 && strcmp(argv[0], "import-hash") == 0)
		return cmd_user_import(db, argv[1]);
	if (argc == 3 && strcmp(argv[0], "policy") == 0)
		return cmd_policy(db, "user", argv[1], argv[2]);
	if ((argc == 2 || argc == 3) && strcmp(argv[0], "question") == 0)
		return cmd_user_question(db, argv[1], argc == 3 ? argv[2] :
		    NULL);
	if (argc != 2 || (strcmp(argv[0], "add") != 0 &&
	    strcmp(argv[0], "passwd") != 0))
		return (usage(), EXIT_USAGE);
	add = strcmp(argv[0], "add") == 0;
	if (check_address(argv[1], addr, sizeof addr) != EXIT_OK)
		return EXIT_ERR;
	snprintf(what, sizeof what, "user %s", addr);

	/* Check before asking for a password. */
	if (add) {
		const char *domain = strchr(addr, '@') + 1;

		rc = store_domain_is_local(db, domain);
		if (rc < 0)
			return fail(db, what, rc);
		if (rc == 0) {
			fprintf(stderr, PROG ": domain %s: does not exist "
			    "(add it with 'domain add %s')\n", domain, domain);
			return EXIT_ERR;
		}
	}
	{
		int64_t id;

		rc = store_user_lookup(db, addr, &id);
		if (add && rc == 0)
			return fail(db, what, CM_EEXIST);
		if (!add && rc == CM_ENOTFOUND) {
			fprintf(stderr, PROG ": %s: no such user\n", what);
			return EXIT_ERR;
		}
		if (rc != 0 && rc != CM_ENOTFOUND)
			return fail(db, what, rc);
	}

	rc = get_password(pw, sizeof pw);
	if (rc != 0) {
		explicit_bzero(pw, sizeof pw);
		return EXIT_ERR;
	}
	rc = add ? store_user_add(db, addr, pw) :
	    store_user_passwd(db, addr, pw);
	explicit_bzero(pw, sizeof pw);
	if (rc == CM_ENOTFOUND && add) {
		fprintf(stderr, PROG ": domain %s: does not exist\n",
		    strchr(addr, '@') + 1);
		return EXIT_ERR;
	}
	if (rc == CM_ENOTFOUND) {
		fprintf(stderr, PROG ": %s: no such user\n", what);
		return EXIT_ERR;
	}
	return rc != 0 ? fail(db, what, rc) : EXIT_OK;
}

static int cmd_grant(struct store_conn *db, int argc, char **argv)
{
	char addr[STORE_ADDRESS_MAX + 1];
	char what[STORE_ADDRESS_MAX + 32];
	struct store_grant_info *g;
	size_t n;
	int rc;

	if (argc != 2 || strcmp(argv[0], "list") != 0)
		return (usage(), EXIT_USAGE);
	if (check_address(argv[1], addr, sizeof addr) != EXIT_OK)
		return EXIT_ERR;
	snprintf(what, sizeof what, "user %s", addr);
	rc = store_grant_list(db, addr, &g, &n);
	if (rc == CM_ENOTFOUND) {
		fprintf(stderr, PROG ": %s: no such user\n", what);
		return EXIT_ERR;
	}
	if (rc != 0)
		return fail(db, what, rc);
	for (size_t i = 0; i < n; i++) {
		char when[32], from[256], subj[256];
		struct tm tm;

		if (gmtime_r(&g[i].created, &tm) == NULL ||
		    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
			snprintf(when, sizeof when, "-");
		printf("%lld\t%s\t%s\t%s\t%s\t%zu\t%s\t%s\n", (long long)g[i].id,
		    when, g[i].state, g[i].grantor_auth,
		    g[i].grantor_address[0] != '\0' ?
		    log_safe(from, sizeof from, g[i].grantor_address,
		    strlen(g[i].grantor_address)) : "<>",
		    g[i].size,
		    log_safe(subj, sizeof subj, g[i].subject,
		    strlen(g[i].subject)),
		    g[i].auth_results != NULL ? g[i].auth_results : "-");
	}
	store_grant_list_free(&g, n);
	return EXIT_OK;
}

static void utc(time_t t, char *out, size_t outsz)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, outsz, "-");
}

static int parse_id(const char *s, int64_t *id_r)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < 1) {
		fprintf(stderr, PROG ": %s: not a queue item id\n", s);
		return EXIT_ERR;
	}
	*id_r = (int64_t)v;
	return EXIT_OK;
}

#define QUEUE_ADD_MAX 1000000000u	/* bytes, as smtp_max_message_size */

static int queue_add(struct store_conn *db, int argc, char **argv)
{
	struct store_delivery d;
	struct buf msg;
	char from[STORE_ADDRESS_MAX + 1], chunk[65536];
	int64_t owner = 0;
	size_t n;
	int rc;

	if (argv[0][0] != '\0') {
		if (store_outbound_address_ok(argv[0]) != 0) {
			fprintf(stderr, PROG ": %s: not an address\n", argv[0]);
			return EXIT_ERR;
		}
		if (store_address_normalize(argv[0], from, sizeof from) == 0 &&
		    (rc = store_user_lookup(db, from, &owner)) != 0) {
			if (rc != CM_ENOTFOUND)
				return fail(db, "owner", rc);
			owner = 0;
		}
	}
	for (int i = 1; i < argc; i++)
		if (store_outbound_address_ok(argv[i]) != 0) {
			fprintf(stderr, PROG ": %s: not an address\n", argv[i]);
			return EXIT_ERR;
		}
	buf_init(&msg, QUEUE_ADD_MAX);
	while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0)
		if (buf_add(&msg, chunk, n) != 0) {
			buf_free(&msg);
			fprintf(stderr, PROG ": message: too large\n");
			return EXIT_ERR;
		}
	if (ferror(stdin)) {
		buf_free(&msg);
		fprintf(stderr, PROG ": message: read error\n");
		return EXIT_ERR;
	}
	memset(&d, 0, sizeof d);
	d.data = msg.data;
	d.len = msg.len;
	d.mail_from = argv[0];
	d.grantor_auth = "none";
	d.outbound_rcpts = (const char *const *)(argv + 1);
	d.noutbound = (size_t)argc - 1;
	d.outbound_owner = owner;
	rc = store_deliver(db, &d);
	buf_free(&msg);
	if (rc != 0)
		return fail(db, "queue add", rc);
	printf("%lld\n", (long long)d.outbound_id_r);
	return EXIT_OK;
}

static int cmd_queue(struct store_conn *db, int argc, char **argv)
{
	struct store_outbound_info *it;
	int64_t id = 0;
	size_t n;
	int rc;

	if (strcmp(argv[0], "add") == 0)
		return queue_add(db, argc - 1, argv + 1);
	if (strcmp(argv[0], "flush") == 0) {
		if (argc == 2 && parse_id(argv[1], &id) != EXIT_OK)
			return EXIT_ERR;
		rc = store_outbound_flush(db, id);
		if (rc < 0)
			return fail(db, "queue flush", rc);
		if (rc == 0 && id != 0) {
			fprintf(stderr, PROG ": queue item %lld: not queued\n",
			    (long long)id);
			return EXIT_ERR;
		}
		return EXIT_OK;
	}
	if (strcmp(argv[0], "delete") == 0) {
		if (parse_id(argv[1], &id) != EXIT_OK)
			return EXIT_ERR;
		rc = store_outbound_delete(db, id);
		if (rc == CM_ENOTFOUND) {
			fprintf(stderr, PROG ": queue item %lld: no such item\n",
			    (long long)id);
			return EXIT_ERR;
		}
		return rc != 0 ? fail(db, "queue delete", rc) : EXIT_OK;
	}
	rc = store_outbound_list(db, 0, &it, &n);
	if (rc != 0)
		return fail(db, "queue list", rc);
	for (size_t i = 0; i < n; i++) {
		char cr[32], na[32], from[600], err[600], to[600];

		utc(it[i].created, cr, sizeof cr);
		utc(it[i].next_attempt, na, sizeof na);
		printf("%lld\t%s\t%s\t%d\t%s\t%zu\t%s\t%s\n",
		    (long long)it[i].id, cr, it[i].state, it[i].attempts,
		    strcmp(it[i].state, "queued") == 0 ? na : "-", it[i].size,
		    it[i].mail_from[0] != '\0' ? log_safe(from, sizeof from,
		    it[i].mail_from, strlen(it[i].mail_from)) : "<>",
		    it[i].owner[0] != '\0' ? it[i].owner : "-");
		for (size_t k = 0; k < it[i].nrcpts; k++) {
			const struct store_outbound_rcpt_info *r =
			    &it[i].rcpts[k];

			printf("\t%s\t%s\t%d\t%s\n", log_safe(to, sizeof to,
			    r->address, strlen(r->address)), r->state,
			    r->attempts, log_safe(err, sizeof err,
			    r->last_error, strlen(r->last_error)));
		}
	}
	store_outbound_list_free(&it, n);
	return EXIT_OK;
}

/* domain policy NAME P / user policy ADDRESS P */
static int cmd_policy(struct store_conn *db, const char *kind,
    const char *name, const char *policy)
{
	char what[300], safe[260];
	int rc;

	snprintf(what, sizeof what, "%s %s", kind,
	    log_safe(safe, sizeof safe, name, strlen(name)));
	if (store_sender_policy_ok(policy) < 0 &&
	    !(strcmp(kind, "user") == 0 && strcmp(policy, "domain") == 0)) {
		fprintf(stderr, PROG ": %s: policy must be open, "
		    "verify-unknown or known-only%s\n", what,
		    strcmp(kind, "user") == 0 ? " (or domain)" : "");
		return EXIT_ERR;
	}
	if (strcmp(kind, "domain") == 0)
		rc = store_domain_policy_set(db, name, policy);
	else
		rc = store_user_policy_set(db, name, policy);
	if (rc == CM_ENOTFOUND) {
		fprintf(stderr, PROG ": %s: no such %s\n", what, kind);
		return EXIT_ERR;
	}
	return rc != 0 ? fail(db, what, rc) : EXIT_OK;
}

/* sender allow|block|forget [--user U] PATTERN; sender list [--user U] */
static int cmd_sender(struct store_conn *db, int argc, char **argv)
{
	const char *user = NULL, *pattern = NULL;
	char pat[STORE_ADDRESS_MAX + 8], what[600], safe[520];
	struct store_sender_rule *r = NULL;
	size_t n = 0;
	int rc;

	if (argc >= 3 && strcmp(argv[1], "--user") == 0) {
		user = argv[2];
		if (argc == 4)
			pattern = argv[3];
	} else if (argc == 2) {
		pattern = argv[1];
	} else if (argc != 1) {
		return (usage(), EXIT_USAGE);
	}
	if ((strcmp(argv[0], "list") == 0) != (pattern == NULL))
		return (usage(), EXIT_USAGE);
	if (user != NULL) {
		char addr[STORE_ADDRESS_MAX + 1];

		if (check_address(user, addr, sizeof addr) != 0)
			return EXIT_ERR;
	}
	if (pattern == NULL) {
		rc = store_sender_rule_list(db, user, &r, &n);
		if (rc == CM_ENOTFOUND) {
			fprintf(stderr, PROG ": user %s: no such user\n",
			    log_safe(safe, sizeof safe, user, strlen(user)));
			return EXIT_ERR;
		}
		if (rc != 0)
			return fail(db, "sender list", rc);
		for (size_t i = 0; i < n; i++) {
			char cr[32];

			utc(r[i].created, cr, sizeof cr);
			printf("%s\t%s\t%s\t%s\n", r[i].owner[0] != '\0' ?
			    r[i].owner : "*", log_safe(safe, sizeof safe,
			    r[i].pattern, strlen(r[i].pattern)), r[i].kind,
			    cr);
		}
		store_sender_rule_list_free(&r, n);
		return EXIT_OK;
	}
	snprintf(what, sizeof what, "sender %s",
	    log_safe(safe, sizeof safe, pattern, strlen(pattern)));
	if (store_sender_pattern_normalize(pattern, pat, sizeof pat) < 0) {
		fprintf(stderr, PROG ": %s: not an address or @domain\n",
		    what);
		return EXIT_ERR;
	}
	if (strcmp(argv[0], "forget") == 0)
		rc = store_sender_rule_forget(db, user, pat);
	else if (strcmp(argv[0], "allow") == 0 ||
	    strcmp(argv[0], "block") == 0)
		rc = store_sender_rule_set(db, user, pat, argv[0]);
	else
		return (usage(), EXIT_USAGE);
	if (rc == CM_ENOTFOUND && user != NULL) {
		/* the user, or (forget) the rule */
		int64_t id;

		if (store_user_lookup(db, user, &id) == CM_ENOTFOUND) {
			fprintf(stderr, PROG ": user %s: no such user\n",
			    log_safe(safe, sizeof safe, user, strlen(user)));
			return EXIT_ERR;
		}
	}
	if (rc == CM_ENOTFOUND) {
		fprintf(stderr, PROG ": %s: no rule for it\n", what);
		return EXIT_ERR;
	}
	return rc != 0 ? fail(db, what, rc) : EXIT_OK;
}

/* held link USER SENDER: mint a challenge that is not mailed and print
 * its link. */
static int held_link(struct store_conn *db, const struct cfg *cfg,
    const char *user, const char *sender)
{
	struct captoken_key key;
	char token[CAPTOKEN_STRLEN + 1], safe[520], err[512];
	unsigned char hash[CAPTOKEN_HASH_LEN];
	const char *base = cfg != NULL ? cfg_str(cfg, "verify_url_base") : "";
	char dflt[300];
	const char *keyfile = cfg != NULL ? cfg_str(cfg, "secret_key_file") :
	    "";
	time_t expires;
	size_t blen;
	int64_t id;
	int rc;

	if (keyfile[0] == '\0') {
		fprintf(stderr, PROG ": held link: secret_key_file must be set "
		    "in the configuration\n");
		return EXIT_ERR;
	}
	if (base[0] == '\0') {	/* as the gateway: https://hostname */
		snprintf(dflt, sizeof dflt, "https://%s",
		    cfg_str(cfg, "hostname"));
		base = dflt;
	}
	/* the link works as long as the mail may be held */
	expires = time(NULL) + (time_t)cfg_int(cfg, "held_max_age");
	if ((rc = store_user_lookup(db, user, &id)) != 0) {
		if (rc != CM_ENOTFOUND)
			return fail(db, "held link", rc);
		fprintf(stderr, PROG ": user %s: no such user\n",
		    log_safe(safe, sizeof safe, user, strlen(user)));
		return EXIT_ERR;
	}
	if (captoken_key_load(keyfile, &key, err, sizeof err) != 0) {
		fprintf(stderr, PROG ": held link: %s\n", err);
		return EXIT_ERR;
	}
	rc = captoken_make(&key, CAPTOKEN_KIND_VERIFY, expires, token, hash);
	captoken_key_wipe(&key);
	if (rc == 0)
		rc = store_challenge_create(db, sender, id, hash, expires,
		    NULL, 0);
	if (rc == CM_EINVAL) {
		fprintf(stderr, PROG ": held link: %s: not a sender "
		    "address\n", log_safe(safe, sizeof safe, sender,
		    strlen(sender)));
		return EXIT_ERR;
	}
	if (rc < 0)
		return fail(db, "held link", rc);
	blen = strlen(base);
	while (blen > 0 && base[blen - 1] == '/')
		blen--;
	printf("%.*s/v/%s\n", (int)blen, base, token);
	return EXIT_OK;
}

/* held list [USER] | held release SENDER [USER] | held expire [SECONDS]
 * | held link USER SENDER */
static int cmd_held(struct store_conn *db, const struct cfg *cfg, int argc,
    char **argv)
{
	struct store_held_info *h = NULL;
	char safe[520], subj[600];
	size_t n = 0;
	int rc;

	if (strcmp(argv[0], "list") == 0) {
		rc = store_held_list(db, argc == 2 ? argv[1] : NULL, &h, &n);
		if (rc != 0)
			return fail(db, "held list", rc);
		for (size_t i = 0; i < n; i++) {
			char cr[32];

			utc(h[i].created, cr, sizeof cr);
			printf("%lld\t%s\t%s\t%s\t%s\n",
			    (long long)h[i].grant_id, cr, h[i].recipient,
			    h[i].sender[0] != '\0' ? log_safe(safe,
			    sizeof safe, h[i].sender, strlen(h[i].sender)) :
			    "<>", log_safe(subj, sizeof subj, h[i].subject,
			    strlen(h[i].subject)));
		}
		store_held_list_free(&h, n);
		return EXIT_OK;
	}
	if (strcmp(argv[0], "release") == 0) {
		int64_t id = 0;

		if (argc == 3 && (rc = store_user_lookup(db, argv[2], &id))
		    != 0) {
			if (rc == CM_ENOTFOUND) {
				fprintf(stderr, PROG ": user %s: no such "
				    "user\n", log_safe(safe, sizeof safe,
				    argv[2], strlen(argv[2])));
				return EXIT_ERR;
			}
			return fail(db, "held release", rc);
		}
		rc = store_held_release(db, argv[1], id);
		if (rc < 0)
			return fail(db, "held release", rc);
		printf("%d released\n", rc);
		return EXIT_OK;
	}
	if (strcmp(argv[0], "link") == 0)
		return held_link(db, cfg, argv[1], argv[2]);
	if (strcmp(argv[0], "expire") == 0) {
		long long age = cfg != NULL ? cfg_int(cfg, "held_max_age") :
		    1209600;
		char *log = NULL;
		int64_t v;

		if (argc == 2) {
			char *end;

			errno = 0;
			v = strtoll(argv[1], &end, 10);
			if (argv[1][0] < '0' || argv[1][0] > '9' ||
			    *end != '\0' || errno != 0 || v > 315360000) {
				fprintf(stderr, PROG ": held expire: %s: not a "
				    "number of seconds\n", log_safe(safe,
				    sizeof safe, argv[1], strlen(argv[1])));
				return EXIT_ERR;
			}
			age = v;
		}
		rc = store_held_expire(db, (long)age, &log);
		if (rc < 0)
			return fail(db, "held expire", rc);
		if (log != NULL)
			printf("%s\n", log);
		printf("%d expired\n", rc);
		free(log);
		return EXIT_OK;
	}
	return (usage(), EXIT_USAGE);
}

int main(int argc, char **argv)
{
	const char *config = NULL, *conninfo = NULL;
	struct cfg *cfg = NULL;
	struct store_conn *db;
	char err[512];
	int opt, rc;

	while ((opt = getopt(argc, argv, "+c:d:h")) != -1) {
		switch (opt) {
		case 'c':
			config = optarg;
			break;
		case 'd':
			conninfo = optarg;
			break;
		case 'h':
			usage();
			return EXIT_OK;
		default:
			usage();
			return EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 2) {
		usage();
		return EXIT_USAGE;
	}
	if (!known_command(argc, argv)) {
		usage();
		return EXIT_USAGE;
	}

	if (conninfo == NULL) {
		const char *path = config;

		if (path == NULL && access(DEFAULT_CONFIG, F_OK) == 0)
			path = DEFAULT_CONFIG;
		cfg = cfg_load(path, err, sizeof err);
		if (cfg == NULL) {
			fprintf(stderr, PROG ": %s\n", err);
			return EXIT_ERR;
		}
		conninfo = cfg_str(cfg, "database");
	}
	db = store_connect(conninfo, err, sizeof err);
	if (db == NULL) {
		fprintf(stderr, PROG ": database: %s\n", err);
		cfg_free(&cfg);
		return EXIT_ERR;
	}

	if (strcmp(argv[0], "db") == 0)
		rc = cmd_db(db, argc - 1, argv + 1);
	else if (strcmp(argv[0], "domain") == 0)
		rc = cmd_domain(db, argc - 1, argv + 1);
	else if (strcmp(argv[0], "user") == 0)
		rc = cmd_user(db, argc - 1, argv + 1);
	else if (strcmp(argv[0], "queue") == 0)
		rc = cmd_queue(db, argc - 1, argv + 1);
	else if (strcmp(argv[0], "sender") == 0)
		rc = cmd_sender(db, argc - 1, argv + 1);
	else if (strcmp(argv[0], "held") == 0)
		rc = cmd_held(db, cfg, argc - 1, argv + 1);
	else
		rc = cmd_grant(db, argc - 1, argv + 1);

	store_disconnect(&db);
	cfg_free(&cfg);
	if (fflush(stdout) != 0 && rc == EXIT_OK) {
		fprintf(stderr, PROG ": write error: %s\n", strerror(errno));
		rc = EXIT_ERR;
	}
	return rc;
}
