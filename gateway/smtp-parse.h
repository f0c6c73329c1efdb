/*
 * smtp-parse: pure parsers for SMTP command lines (RFC 5321 4.1), no I/O.
 *
 * smtp_parse_line() splits one command line (CRLF already removed) into a
 * verb and an argument; both point into the caller's line.
 *
 * smtp_parse_path() parses the argument of MAIL ("FROM:<path> params") or
 * RCPT ("TO:<path> params"): a Path per RFC 5321 4.1.2 (dot-string or
 * quoted local part, domain or address literal, source route accepted and
 * ignored), "<>" only for MAIL, "<postmaster>" without a domain only for
 * RCPT (4.5.1), non-ASCII UTF-8 (RFC 6531) accepted and flagged. The
 * address is copied, normalised (quotes removed when not needed, domain
 * in ASCII lower case) into the result; the ESMTP parameters point into
 * the caller's argument. Lengths are hard limits checked here: local part
 * 64, domain 255, whole path 256 octets including the angle brackets
 * (RFC 5321 4.5.3.1), at most SMTP_MAX_PARAMS parameters.
 *
 * Every function returns 0 or a negative CM_E* code (CM_EPARSE for bad
 * syntax, CM_ETOOBIG for a limit) and then sets *why_r to a short static
 * text for the reply ("bad address syntax", "path too long", ...).
 */
#ifndef CAPMAIL_SMTP_PARSE_H
#define CAPMAIL_SMTP_PARSE_H

#include <stddef.h>

/* Hard limits (RFC 5321 4.5.3.1). */
#define SMTP_MAX_LOCAL 64
#define SMTP_MAX_DOMAIN 255
#define SMTP_MAX_PATH 256	/* "<" ... ">" included */
#define SMTP_MAX_PARAMS 16
#define SMTP_MAX_VERB 16
/* Longest normalised address: quoting a local part can at most double it
 * plus two quotes; "@" and the domain follow. */
#define SMTP_ADDR_SIZE (2 * SMTP_MAX_LOCAL + 2 + 1 + SMTP_MAX_DOMAIN + 1)

struct smtp_line {
	const char *verb;	/* not NUL-terminated */
	size_t verb_len;
	const char *arg;	/* after the spaces following the verb; "" */
	size_t arg_len;		/* trailing spaces removed */
};

/* Split a command line: verb = 1..SMTP_MAX_VERB letters, then end of line
 * or one or more spaces and the argument. */
int smtp_parse_line(const char *line, size_t len, struct smtp_line *out,
    const char **why_r);

/* Case-insensitive compare of a counted verb with a NUL-terminated name. */
int smtp_verb_is(const struct smtp_line *l, const char *name);

struct smtp_param {
	const char *key;	/* ESMTP keyword, not NUL-terminated */
	size_t key_len;
	const char *val;	/* NULL when the keyword had no "=value" */
	size_t val_len;
};

struct smtp_path {
	char addr[SMTP_ADDR_SIZE];	/* "local@domain", "" for <>,
					 * "postmaster" for <postmaster> */
	size_t local_len;		/* bytes of addr before the '@' */
	const char *domain;		/* points into addr ("" if none) */
	unsigned null_path:1;		/* <> */
	unsigned postmaster:1;		/* <postmaster> without domain */
	unsigned utf8:1;		/* non-ASCII bytes in the address */
	unsigned literal:1;		/* domain is an address literal */
	struct smtp_param params[SMTP_MAX_PARAMS];
	size_t nparams;
};

enum smtp_path_kind { SMTP_PATH_MAIL, SMTP_PATH_RCPT };

/* Parse the argument of MAIL or RCPT (starting at "FROM:" / "TO:"). */
int smtp_parse_path(const char *arg, size_t len, enum smtp_path_kind kind,
    struct smtp_path *out, const char **why_r);

/* Case-insensitive compare of a parameter's key with a name. */
int smtp_param_is(const struct smtp_param *p, const char *name);
/* Parse a SIZE= value: 1..20 digits, no overflow. */
int smtp_parse_size(const char *s, size_t len, unsigned long long *size_r);

/* A HELO/EHLO argument: a domain (letters, digits, '-', '_', '.'; UTF-8
 * allowed) or an address literal "[...]" of printable ASCII, at most
 * SMTP_MAX_DOMAIN bytes. Anything else (spaces, control characters,
 * header specials) is refused so that it can go into a Received header. */
int smtp_check_helo(const char *arg, size_t len, const char **why_r);

#endif
