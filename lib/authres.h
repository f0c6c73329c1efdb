/*
 * authres: is the sender of a message who it says it is? SPF (RFC 7208,
 * Debian's libspf2), DKIM (RFC 6376, libopendkim) and DMARC alignment
 * (RFC 7489: the record parse is ours, the organisational domain comes
 * from libpsl and the system's public suffix list), and the results as an
 * Authentication-Results header field (RFC 8601) and a short summary.
 *
 * DNS: every lookup goes through one stub resolver of ours (authres-dns.c,
 * glibc's res_nsend on a res_state of our own), to the configured
 * "ADDRESS:PORT" or, when none is given, to the servers in resolv.conf. A
 * lookup waits AUTHRES_DNS_TIMEOUT seconds a try, in AUTHRES_DNS_TRIES
 * tries; a server that did not answer (or refused the connection) is not
 * asked again within the same check. A server that answers every query
 * just in time would still stretch one check over its forty-odd queries
 * (SPF's ten DNS mechanisms with their A/MX lookups, DKIM keys, DMARC):
 * all the lookups of one check share a deadline (AUTHRES_CHECK_MAX
 * seconds, or authres_ctx_set_timeout()'s), each waits at most what is
 * left of it, and once it is spent they fail at once. So one check ends
 * within that time and says TEMPERROR for what it could not look up.
 *
 * authres_check() blocks on DNS: call it on a worker thread (libuv's
 * pool), never on a loop. A ctx is shared by any number of threads: each
 * check has its own resolver state and libspf2 server; the DKIM library
 * handle and the public suffix list are read-only after authres_ctx_new().
 *
 * SPF is not given libspf2's "free ride" to loopback clients: a capmail
 * behind another MTA on the same host must not call every sender
 * authenticated (that would make its challenges backscatter).
 */
#ifndef CAPMAIL_AUTHRES_H
#define CAPMAIL_AUTHRES_H

#include <stddef.h>

#include "buf.h"

enum authres_result { AUTHRES_NONE, AUTHRES_PASS, AUTHRES_FAIL, AUTHRES_SOFTFAIL,
    AUTHRES_NEUTRAL, AUTHRES_TEMPERROR, AUTHRES_PERMERROR };

struct authres {
	enum authres_result spf;	/* for MAIL FROM's domain (HELO's when <>) */
	char spf_domain[256];
	enum authres_result dkim;	/* best signature: an aligned pass first */
	char dkim_domain[256];		/* its d= */
	enum authres_result dmarc;	/* RFC 7489 alignment result; NONE if no
					 * _dmarc record, several, or one
					 * without a policy (section 6.6.3) */
	char from_domain[256];		/* RFC5322.From's domain */
	unsigned spf_aligned:1, dkim_aligned:1;
	unsigned spf_helo:1;		/* spf_domain is HELO's (MAIL FROM <>) */
	char dmarc_policy[12];		/* p= of the record ("" when none) */
};

/* Longest header authres_header() writes (a buf for it may have this max). */
#define AUTHRES_HEADER_MAX 2048

#define AUTHRES_DNS_TIMEOUT 2	/* seconds a try waits (per server) */
#define AUTHRES_DNS_TRIES 2
/* Seconds all the DNS lookups of one check may take together, by default
 * (the gateway's auth_checks_timeout). The SMTP client waits for our
 * answer to its DATA meanwhile: RFC 5321 section 4.5.3.2.6 has it wait
 * ten minutes, but a sender's broken DNS should cost its message a few
 * temperrors, not hold a worker thread (there are GATEWAY_AUTH_MAX of
 * them) for minutes. */
#define AUTHRES_CHECK_MAX 20

struct authres_ctx;	/* resolver settings, DKIM library handle; thread-safe use */

/* resolver: "ADDRESS:PORT" ("[v6]:port" too) or NULL/"" = the system's
 * resolv.conf. 0, CM_ECONFIG (a bad resolver; err says why) or CM_ENOMEM. */
int authres_ctx_new(const char *resolver, struct authres_ctx **ctx_r, char *err, size_t errsz);
void authres_ctx_free(struct authres_ctx **ctx);

/* The DNS deadline of each check, in seconds (>= 1; AUTHRES_CHECK_MAX
 * until set). Call it before the checks start. */
void authres_ctx_set_timeout(struct authres_ctx *ctx, unsigned seconds);

/* Blocking (DNS): call it on a worker thread, never on the loop. msg/len:
 * the message as received (without our Received). Fills *r (zeroed first)
 * and returns 0; CM_ENOMEM when it could not run at all (r then says
 * TEMPERROR for all three). */
int authres_check(struct authres_ctx *ctx, const char *client_ip, const char *helo,
    const char *mail_from /* "" for <> */, const char *msg, size_t len, struct authres *r);

/* "Authentication-Results: AUTHSERV_ID; spf=pass smtp.mailfrom=...;
 * dkim=pass header.d=...; dmarc=pass header.from=...\r\n" (RFC 8601):
 * one method a line, continuation lines start with a tab, and a line
 * that would pass 78 columns is folded once more before its property.
 * Values that are not RFC 2045 tokens are quoted. Appends to out. */
int authres_header(const struct authres *r, const char *authserv_id, struct buf *out);

/* A short form stored on the grant: "spf=pass dkim=none dmarc=fail". 0 or
 * CM_ETOOBIG. */
int authres_summary(const struct authres *r, char *out, size_t outsz);

/* SPF pass for the From domain's organisation (aligned) or an aligned DKIM
 * pass: the sender may be challenged. */
int authres_authenticated(const struct authres *r);

/* How: "dkim" (an aligned DKIM pass, preferred: it survives forwarding),
 * "spf" (an aligned SPF pass) or "none", for grants.grantor_auth. */
const char *authres_method(const struct authres *r);

/* "pass", "fail", ... as RFC 8601 spells the result. */
const char *authres_result_name(enum authres_result res);

/* ---- the parts, for tests and fuzzing (no DNS) ---- */

/* A DMARC record (RFC 7489 section 6.3) as far as alignment needs it. */
struct authres_dmarc {
	char p[12];		/* none, quarantine, reject */
	unsigned adkim_strict:1, aspf_strict:1;
	unsigned p_from_rua:1;	/* p= absent or bad, "none" for its rua= */
};

/* Parse one TXT string (the character-strings joined). 0 when it is a
 * DMARC record (starts with "v=DMARC1") to use; CM_ENOTFOUND when it is
 * some other TXT record; CM_EPARSE when it starts like one but is
 * malformed; CM_EINVAL when its p= is absent or not a policy (or its
 * sp= is not) and it has no rua= with a valid URI: RFC 7489 section
 * 6.6.3 step 6 has the record discarded then, and with such a rua= taken
 * as p=none (p "none", p_from_rua set, 0 returned). */
int authres_dmarc_parse(const char *txt, size_t len, struct authres_dmarc *d);

/* DKIM-Signature fields libopendkim is shown, the topmost first (RFC
 * 6376 section 6.1: verifiers may limit the number they try). */
#define AUTHRES_DKIM_MAX_SIGS 8

/* The message as the DKIM verifier is to see it: calls fn with pieces of
 * msg, in order, whose concatenation is msg without the header's
 * DKIM-Signature fields (name case-insensitive, blanks allowed before the
 * colon, folded lines included) after the first AUTHRES_DKIM_MAX_SIGS.
 * The header ends at the first empty line (CRLF or LF alone), or with
 * msg when there is none; a field ends at LF, CRLF or msg's end. Stops
 * at fn's first nonzero return and returns it, else 0. *nsig_r (when not
 * NULL): the DKIM-Signature fields in the header (those seen until then,
 * when fn stopped it). */
int authres_dkim_pieces(const char *msg, size_t len,
    int (*fn)(void *arg, const char *piece, size_t n), void *arg,
    unsigned *nsig_r);

/* The domain of the RFC5322.From address, lower-cased: 0, CM_ENOTFOUND (no
 * From field, or one without an address), CM_EPARSE (more than one From
 * field, or a From naming several domains) or CM_ETOOBIG. */
int authres_from_domain(const char *msg, size_t len, char *out, size_t outsz);

/* The organisational domain (public suffix list, lower-cased): 0, or
 * CM_EINVAL when domain is itself a public suffix (or empty). */
int authres_org_domain(const struct authres_ctx *ctx, const char *domain,
    char *out, size_t outsz);

/* RFC 7489 section 3.1: the same domain (strict) or the same
 * organisational domain (relaxed); case-insensitive. */
int authres_aligned(const struct authres_ctx *ctx, const char *a,
    const char *b, int strict);

#endif
