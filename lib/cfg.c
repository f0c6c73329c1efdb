/*
 * cfg: capmail.conf. See cfg.h. The table below is the one list of
 * parameters, their defaults and bounds; doc/capmail.conf.5 documents
 * each one.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "log.h"

enum cfg_type { CFG_STR, CFG_INT, CFG_BOOL };

struct cfg_param {
	const char *name;
	enum cfg_type type;
	const char *def;
	long long min, max;	/* CFG_INT bounds */
	const char *choices;	/* CFG_STR: "a|b|c", or NULL for any */
};

/* A message is sent to PostgreSQL as one bytea parameter (the whole of it
 * when it has no large MIME part), and PostgreSQL takes no value or
 * protocol message of 1 GiB or more: anything larger could never be
 * stored, and would be answered "try again later" for ever. */
#define CFG_MESSAGE_MAX 1000000000LL

static const struct cfg_param params[] = {
	{ "hostname", CFG_STR, "localhost", 0, 0, NULL },
	{ "database", CFG_STR, "dbname=capmail", 0, 0, NULL },
	{ "store_connections", CFG_INT, "4", 1, 64, NULL },
	{ "user", CFG_STR, "capmail", 0, 0, NULL },
	{ "log_level", CFG_STR, "info", 0, 0, "debug|info|warn|error" },
	{ "smtp_listen", CFG_STR, "127.0.0.1:2525", 0, 0, NULL },
	{ "smtp_max_message_size", CFG_INT, "52428800", 1024, CFG_MESSAGE_MAX,
	    NULL },
	{ "smtp_max_recipients", CFG_INT, "100", 1, 10000, NULL },
	{ "smtp_max_errors", CFG_INT, "20", 1, 1000, NULL },
	{ "smtp_max_sessions", CFG_INT, "1000", 1, 100000, NULL },
	{ "smtp_max_line", CFG_INT, "2048", 512, 65536, NULL },
	{ "smtp_timeout", CFG_INT, "300", 1, 86400, NULL },
	{ "auth_checks", CFG_BOOL, "yes", 0, 0, NULL },
	{ "dns_resolver", CFG_STR, "", 0, 0, NULL },
	{ "auth_checks_timeout", CFG_INT, "20", 1, 600, NULL },
	{ "submission_listen", CFG_STR, "", 0, 0, NULL },
	{ "auth_fail_limit", CFG_INT, "5", 1, 1000, NULL },
	{ "auth_lockout_limit", CFG_INT, "10", 1, 100000, NULL },
	{ "auth_fail_window", CFG_INT, "900", 1, 86400, NULL },
	{ "auth_fail_delay", CFG_INT, "2", 0, 60, NULL },
	{ "auth_lockout_time", CFG_INT, "900", 1, 86400, NULL },
	{ "imap_listen", CFG_STR, "127.0.0.1:1143", 0, 0, NULL },
	{ "imap_max_line", CFG_INT, "65536", 1024, 1 << 24, NULL },
	{ "imap_max_literal", CFG_INT, "52428800", 1024, CFG_MESSAGE_MAX, NULL },
	{ "imap_timeout", CFG_INT, "1800", 1, 86400, NULL },
	{ "imap_idle_poll", CFG_INT, "30", 1, 3600, NULL },
	{ "segment_min_size", CFG_INT, "2048", 64, 1LL << 31, NULL },
	{ "submissions_listen", CFG_STR, "", 0, 0, NULL },
	{ "imaps_listen", CFG_STR, "", 0, 0, NULL },
	{ "tls_cert_file", CFG_STR, "", 0, 0, NULL },
	{ "tls_key_file", CFG_STR, "", 0, 0, NULL },
	{ "tls_min_version", CFG_STR, "TLSv1.2", 0, 0, "TLSv1.2|TLSv1.3" },
	{ "tls_ciphers", CFG_STR, "HIGH:!aNULL:!MD5:!RC4:!3DES:!SHA1", 0, 0,
	    NULL },
	{ "auth_plaintext_loopback", CFG_BOOL, "no", 0, 0, NULL },
	{ "relay_host", CFG_STR, "", 0, 0, NULL },
	{ "outbound_retry_min", CFG_INT, "60", 1, 86400, NULL },
	{ "outbound_retry_max", CFG_INT, "14400", 1, 604800, NULL },
	{ "outbound_max_age", CFG_INT, "432000", 60, 2592000, NULL },
	{ "outbound_poll", CFG_INT, "60", 1, 3600, NULL },
	{ "outbound_timeout", CFG_INT, "300", 1, 3600, NULL },
	{ "outbound_keep", CFG_INT, "604800", 0, 31536000, NULL },
	{ "secret_key_file", CFG_STR, "", 0, 0, NULL },
	{ "verify_url_base", CFG_STR, "", 0, 0, NULL },
	{ "verify_listen", CFG_STR, "127.0.0.1:8025", 0, 0, NULL },
	{ "verify_rate_ip", CFG_INT, "60", 0, 100000, NULL },
	{ "verify_rate_sender", CFG_INT, "20", 0, 100000, NULL },
	{ "held_max_age", CFG_INT, "1209600", 60, 31536000, NULL },
};
#define NPARAMS (sizeof params / sizeof params[0])

struct cfg {
	char *values[NPARAMS];	/* NULL: the default */
};

static int
param_index(const char *name, size_t len)
{
	for (size_t i = 0; i < NPARAMS; i++)
		if (strlen(params[i].name) == len &&
		    memcmp(params[i].name, name, len) == 0)
			return (int)i;
	return -1;
}

/* Parse a whole decimal number within bounds. */
static int
parse_int(const char *s, long long min, long long max, long long *v_r)
{
	char *end;

	if (*s == '\0' || isspace((unsigned char)*s))
		return -1;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*v_r = v;
	return 0;
}

static int
parse_bool(const char *s)
{
	if (strcmp(s, "yes") == 0 || strcmp(s, "true") == 0 ||
	    strcmp(s, "1") == 0)
		return 1;
	if (strcmp(s, "no") == 0 || strcmp(s, "false") == 0 ||
	    strcmp(s, "0") == 0)
		return 0;
	return -1;
}

/* 0 if v is one of the '|'-separated choices. */
static int
one_of(const char *choices, const char *v)
{
	size_t n = strlen(v);

	for (const char *c = choices; *c != '\0';) {
		const char *bar = strchr(c, '|');
		size_t len = bar != NULL ? (size_t)(bar - c) : strlen(c);
		if (len == n && memcmp(c, v, n) == 0)
			return 0;
		c += len + (bar != NULL);
	}
	return -1;
}

static int
check_value(const struct cfg_param *p, const char *v)
{
	long long n;

	switch (p->type) {
	case CFG_INT:
		return parse_int(v, p->min, p->max, &n);
	case CFG_BOOL:
		return parse_bool(v) < 0 ? -1 : 0;
	case CFG_STR:
		return p->choices == NULL ? 0 : one_of(p->choices, v);
	}
	return -1;
}

static void
trim(const char **s, const char **e)
{
	while (*s < *e && isspace((unsigned char)**s))
		(*s)++;
	while (*e > *s && isspace((unsigned char)(*e)[-1]))
		(*e)--;
}

struct cfg *
cfg_load(const char *path, char *err, size_t errsz)
{
	struct cfg *c = calloc(1, sizeof *c);
	char line[4096];
	unsigned lineno = 0;
	FILE *f;

	if (c == NULL) {
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	if (path == NULL)
		return c;
	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		cfg_free(&c);
		return NULL;
	}
	while (fgets(line, sizeof line, f) != NULL) {
		lineno++;
		size_t len = strlen(line);
		if (len == sizeof line - 1 && line[len - 1] != '\n') {
			snprintf(err, errsz, "%s:%u: line too long", path,
			    lineno);
			goto fail;
		}
		const char *s = line, *e = line + len;
		const char *hash = memchr(s, '#', len);
		if (hash != NULL)
			e = hash;
		trim(&s, &e);
		if (s == e)
			continue;
		const char *eq = memchr(s, '=', (size_t)(e - s));
		if (eq == NULL) {
			snprintf(err, errsz, "%s:%u: expected name = value",
			    path, lineno);
			goto fail;
		}
		const char *ns = s, *ne = eq, *vs = eq + 1, *ve = e;
		trim(&ns, &ne);
		trim(&vs, &ve);
		int i = param_index(ns, (size_t)(ne - ns));
		if (i < 0) {
			snprintf(err, errsz, "%s:%u: unknown parameter '%.*s'",
			    path, lineno, (int)(ne - ns), ns);
			goto fail;
		}
		char *v = strndup(vs, (size_t)(ve - vs));
		if (v == NULL) {
			snprintf(err, errsz, "out of memory");
			goto fail;
		}
		if (check_value(&params[i], v) < 0) {
			snprintf(err, errsz, "%s:%u: %s: bad value '%s'%s%s",
			    path, lineno, params[i].name, v,
			    params[i].type == CFG_INT ? " (out of range?)" : "",
			    params[i].choices != NULL ? " (one of " : "");
			if (params[i].choices != NULL) {
				size_t l = strlen(err);
				snprintf(err + l, errsz - l, "%s)",
				    params[i].choices);
			}
			free(v);
			goto fail;
		}
		free(c->values[i]);
		c->values[i] = v;
	}
	if (ferror(f)) {
		snprintf(err, errsz, "%s: read error", path);
		goto fail;
	}
	fclose(f);
	return c;
fail:
	fclose(f);
	cfg_free(&c);
	return NULL;
}

void
cfg_free(struct cfg **cfgp)
{
	struct cfg *c = *cfgp;

	if (c == NULL)
		return;
	for (size_t i = 0; i < NPARAMS; i++)
		free(c->values[i]);
	free(c);
	*cfgp = NULL;
}

static int
lookup(const char *name, enum cfg_type type)
{
	int i = param_index(name, strlen(name));
	if (i < 0 || params[i].type != type)
		log_panic("cfg: no %s parameter named %s",
		    type == CFG_INT ? "integer" : "string", name);
	return i;
}

const char *
cfg_str(const struct cfg *c, const char *name)
{
	int i = lookup(name, CFG_STR);
	return c->values[i] != NULL ? c->values[i] : params[i].def;
}

long long
cfg_int(const struct cfg *c, const char *name)
{
	int i = lookup(name, CFG_INT);
	long long v = 0;
	parse_int(c->values[i] != NULL ? c->values[i] : params[i].def,
	    params[i].min, params[i].max, &v);
	return v;
}

int
cfg_bool(const struct cfg *c, const char *name)
{
	int i = lookup(name, CFG_BOOL);
	return parse_bool(c->values[i] != NULL ? c->values[i] :
	    params[i].def);
}

void
cfg_dump(const struct cfg *c, int all)
{
	for (size_t i = 0; i < NPARAMS; i++) {
		const char *v = c->values[i];
		if (v == NULL && !all)
			continue;
		if (v != NULL && !all && strcmp(v, params[i].def) == 0)
			continue;
		printf("%s = %s\n", params[i].name, v != NULL ? v :
		    params[i].def);
	}
}
