/*
 * authres: see authres.h. The DNS underneath is authres-dns.c.
 *
 * One check: the RFC5322.From domain (libetpan's header parser), SPF for
 * MAIL FROM's domain (HELO's for <>), the topmost MAX_SIGS DKIM signatures
 * (libopendkim), then the DMARC record of the From domain or, failing
 * that, of its organisational domain; alignment (RFC 7489 section 3.1)
 * uses the record's adkim/aspf, relaxed when there is no record. The
 * DKIM result reported is the best signature's: an aligned pass, then
 * any pass, then temperror, fail, permerror, neutral.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <libetpan/libetpan.h>

#include "authres.h"
#include "authres-int.h"
#include "errors.h"

/* ---- names ---- */

const char *
authres_result_name(enum authres_result res)
{
	switch (res) {
	case AUTHRES_NONE: return "none";
	case AUTHRES_PASS: return "pass";
	case AUTHRES_FAIL: return "fail";
	case AUTHRES_SOFTFAIL: return "softfail";
	case AUTHRES_NEUTRAL: return "neutral";
	case AUTHRES_TEMPERROR: return "temperror";
	case AUTHRES_PERMERROR: return "permerror";
	}
	return "none";
}

static void
lower_copy(char *out, size_t outsz, const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len && i + 1 < outsz; i++)
		out[i] = (char)tolower((unsigned char)s[i]);
	out[i] = '\0';
}

/* ---- context ---- */

/* libspf2 prints its warnings on stderr; a daemon's log is no place for
 * what a sender's DNS says. Its error handler (broken invariants) stays. */
static void
spf_quiet(const char *file, int line, const char *msg)
{
}

static int
parse_resolver(const char *s, struct sockaddr_storage *ss, char *err,
    size_t errsz)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon, *hs, *he;
	unsigned long port;
	char *end;

	memset(ss, 0, sizeof *ss);
	if (s[0] == '[') {
		hs = s + 1;
		if ((he = strchr(hs, ']')) == NULL || he[1] != ':')
			goto bad;
		colon = he + 1;
	} else {
		hs = s;
		if ((colon = strrchr(s, ':')) == NULL)
			goto bad;
		he = colon;
	}
	if ((size_t)(he - hs) >= sizeof host || he == hs)
		goto bad;
	memcpy(host, hs, (size_t)(he - hs));
	host[he - hs] = '\0';
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (colon[1] < '0' || colon[1] > '9' || *end != '\0' || errno != 0 ||
	    port == 0 || port > 65535)
		goto bad;
	if (s[0] != '[') {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			goto bad;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((unsigned short)port);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			goto bad;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((unsigned short)port);
	}
	return 0;
bad:
	snprintf(err, errsz, "dns_resolver: want ADDRESS:PORT or [IPV6]:PORT "
	    "(an address, not a name), got \"%.80s\"", s);
	return CM_ECONFIG;
}

int
authres_ctx_new(const char *resolver, struct authres_ctx **ctx_r, char *err,
    size_t errsz)
{
	struct authres_ctx *ctx;
	unsigned flags = DKIM_LIBFLAGS_BADSIGHANDLES;
	int rc;

	*ctx_r = NULL;
	if ((ctx = calloc(1, sizeof *ctx)) == NULL)
		return CM_ENOMEM;
	ctx->check_max = AUTHRES_CHECK_MAX;
	if (resolver != NULL && resolver[0] != '\0') {
		if ((rc = parse_resolver(resolver, &ctx->ns, err, errsz)) < 0) {
			free(ctx);
			return rc;
		}
		ctx->custom = 1;
	}
	/* the newest of the built-in list and Debian's publicsuffix file */
	if ((ctx->psl = psl_latest(NULL)) == NULL) {
		snprintf(err, errsz, "libpsl: no public suffix list");
		free(ctx);
		return CM_ECONFIG;
	}
	if ((ctx->dkim = dkim_init(NULL, NULL)) == NULL) {
		snprintf(err, errsz, "libopendkim: dkim_init failed");
		authres_ctx_free(&ctx);
		return CM_ENOMEM;
	}
	dkim_options(ctx->dkim, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS, &flags,
	    sizeof flags);
	authres_dkim_dns_hooks(ctx->dkim, ctx);
	SPF_warning_handler = spf_quiet;
	SPF_info_handler = spf_quiet;
	SPF_debug_handler = spf_quiet;
	*ctx_r = ctx;
	return 0;
}

void
authres_ctx_set_timeout(struct authres_ctx *ctx, unsigned seconds)
{
	ctx->check_max = seconds > 0 ? seconds : 1;
}

void
authres_ctx_free(struct authres_ctx **ctxp)
{
	struct authres_ctx *ctx = *ctxp;

	if (ctx == NULL)
		return;
	if (ctx->dkim != NULL)
		dkim_close(ctx->dkim);
	if (ctx->psl != NULL)
		psl_free(ctx->psl);
	free(ctx);
	*ctxp = NULL;
}

/* ---- organisational domains, alignment ---- */

int
authres_org_domain(const struct authres_ctx *ctx, const char *domain,
    char *out, size_t outsz)
{
	char low[256];
	const char *reg;
	size_t n = strlen(domain);

	if (n == 0 || n >= sizeof low)
		return CM_EINVAL;
	lower_copy(low, sizeof low, domain, n);
	if (low[n - 1] == '.')
		low[n - 1] = '\0';
	if ((reg = psl_registrable_domain(ctx->psl, low)) == NULL)
		return CM_EINVAL;
	if (strlen(reg) >= outsz)
		return CM_ETOOBIG;
	memcpy(out, reg, strlen(reg) + 1);
	return 0;
}

int
authres_aligned(const struct authres_ctx *ctx, const char *a, const char *b,
    int strict)
{
	char oa[256], ob[256];

	if (a[0] == '\0' || b[0] == '\0')
		return 0;
	if (strcasecmp(a, b) == 0)
		return 1;
	if (strict)
		return 0;
	return authres_org_domain(ctx, a, oa, sizeof oa) == 0 &&
	    authres_org_domain(ctx, b, ob, sizeof ob) == 0 &&
	    strcmp(oa, ob) == 0;
}

/* ---- RFC5322.From ---- */

int
authres_from_domain(const char *msg, size_t len, char *out, size_t outsz)
{
	struct mailimf_fields *fields = NULL;
	size_t idx = 0;
	int nfrom = 0, rc = CM_ENOTFOUND;
	clistiter *it;

	out[0] = '\0';
	if (mailimf_fields_parse(msg, len, &idx, &fields) != MAILIMF_NO_ERROR)
		return CM_ENOTFOUND;
	for (it = clist_begin(fields->fld_list); it; it = clist_next(it)) {
		struct mailimf_field *f = clist_content(it);

		if (f->fld_type == MAILIMF_FIELD_OPTIONAL_FIELD &&
		    strcasecmp(f->fld_data.fld_optional_field->fld_name,
		    "From") == 0) {
			/* a From libetpan could not parse */
			rc = CM_EPARSE;
			nfrom++;
			continue;
		}
		if (f->fld_type != MAILIMF_FIELD_FROM)
			continue;
		if (++nfrom > 1)
			break;
		struct mailimf_mailbox_list *mbl =
		    f->fld_data.fld_from->frm_mb_list;
		for (clistiter *m = mbl ? clist_begin(mbl->mb_list) : NULL; m;
		    m = clist_next(m)) {
			struct mailimf_mailbox *mb = clist_content(m);
			const char *at = mb->mb_addr_spec ?
			    strrchr(mb->mb_addr_spec, '@') : NULL;
			char dom[256];

			if (at == NULL || at[1] == '\0' ||
			    strlen(at + 1) >= sizeof dom) {
				rc = CM_EPARSE;
				break;
			}
			lower_copy(dom, sizeof dom, at + 1, strlen(at + 1));
			if (out[0] == '\0') {
				if (strlen(dom) >= outsz) {
					rc = CM_ETOOBIG;
					break;
				}
				memcpy(out, dom, strlen(dom) + 1);
				rc = 0;
			} else if (strcmp(out, dom) != 0) {
				/* RFC 7489 section 6.6.1: which would it be? */
				rc = CM_EPARSE;
				break;
			}
		}
	}
	mailimf_fields_free(fields);
	if (nfrom > 1)
		rc = CM_EPARSE;
	if (rc != 0)
		out[0] = '\0';
	return rc;
}

/* ---- DMARC record (RFC 7489 section 6.3/6.4) ---- */

static int
is_wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* RFC 3986 section 3.1's scheme, then ':' and at least one URI
 * character (unreserved, reserved or a %XX escape): syntax only. */
static int
uri_valid(const char *s, size_t n)
{
	size_t i = 0;

	if (n == 0 || !isalpha((unsigned char)s[0]))
		return 0;
	while (i < n && (isalnum((unsigned char)s[i]) || s[i] == '+' ||
	    s[i] == '-' || s[i] == '.'))
		i++;
	if (i == n || s[i] != ':' || ++i == n)
		return 0;
	for (; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '%') {
			if (n - i < 3 || !isxdigit((unsigned char)s[i + 1]) ||
			    !isxdigit((unsigned char)s[i + 2]))
				return 0;
			i += 2;
		} else if (!isalnum(c) && !strchr("-._~:/?#[]@!$&'()*+,;=",
		    c))
			return 0;
	}
	return 1;
}

/* rua=: a comma-separated list of dmarc-uri (RFC 7489 section 6.4: a URI,
 * '!' and a size limit optional); whether one of them is a valid URI. */
static int
rua_valid(const char *v, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t s, e, bang;

		while (i < n && is_wsp(v[i]))
			i++;
		s = i;
		while (i < n && v[i] != ',')
			i++;
		e = i;
		if (i < n)
			i++;
		while (e > s && is_wsp(v[e - 1]))
			e--;
		/* a literal '!' is %21 in a dmarc-uri: this one starts the
		 * size, 1*DIGIT [k/m/g/t] */
		for (bang = s; bang < e && v[bang] != '!'; bang++)
			;
		if (bang < e) {
			size_t j = bang + 1;

			while (j < e && isdigit((unsigned char)v[j]))
				j++;
			if (j == bang + 1 || (j < e && (j + 1 != e ||
			    !strchr("kmgtKMGT", v[j]))))
				continue;
		}
		if (uri_valid(v + s, bang - s))
			return 1;
	}
	return 0;
}

int
authres_dmarc_parse(const char *txt, size_t len, struct authres_dmarc *d)
{
	size_t i = 0;
	int first = 1, sp_bad = 0, rua = 0;

	memset(d, 0, sizeof *d);
	while (i < len) {
		size_t ns, ne, vs, ve;

		while (i < len && is_wsp(txt[i]))
			i++;
		if (i == len)
			break;
		if (txt[i] == ';') {	/* an empty tag-spec */
			if (first)
				return CM_ENOTFOUND;
			i++;
			continue;
		}
		ns = i;
		while (i < len && txt[i] != '=' && txt[i] != ';' &&
		    !is_wsp(txt[i]))
			i++;
		ne = i;
		while (i < len && is_wsp(txt[i]))
			i++;
		if (i == len || txt[i] != '=' || ne == ns) {
			if (first)
				return CM_ENOTFOUND;
			return CM_EPARSE;
		}
		i++;
		while (i < len && is_wsp(txt[i]))
			i++;
		vs = i;
		while (i < len && txt[i] != ';')
			i++;
		ve = i;
		while (ve > vs && is_wsp(txt[ve - 1]))
			ve--;
		if (i < len)
			i++;	/* the ';' */
#define TAG(s) (ne - ns == sizeof(s) - 1 && \
    strncasecmp(txt + ns, s, sizeof(s) - 1) == 0)
#define VAL(s) (ve - vs == sizeof(s) - 1 && \
    strncasecmp(txt + vs, s, sizeof(s) - 1) == 0)
		if (first) {
			/* v=DMARC1 first, exactly (RFC 7489 section 6.3) */
			if (!TAG("v") || ve - vs != 6 ||
			    memcmp(txt + vs, "DMARC1", 6) != 0)
				return CM_ENOTFOUND;
			first = 0;
			continue;
		}
		if (TAG("p")) {
			if (VAL("none") || VAL("quarantine") || VAL("reject"))
				lower_copy(d->p, sizeof d->p, txt + vs,
				    ve - vs);
		} else if (TAG("sp")) {
			sp_bad = !(VAL("none") || VAL("quarantine") ||
			    VAL("reject"));
		} else if (TAG("rua")) {
			rua = rua_valid(txt + vs, ve - vs);
		} else if (TAG("adkim")) {
			if (VAL("s"))
				d->adkim_strict = 1;
			else if (!VAL("r"))
				return CM_EPARSE;
		} else if (TAG("aspf")) {
			if (VAL("s"))
				d->aspf_strict = 1;
			else if (!VAL("r"))
				return CM_EPARSE;
		}
		/* other tags (pct, ruf, fo, rf, ri) do not decide alignment */
#undef TAG
#undef VAL
	}
	if (first)
		return CM_ENOTFOUND;
	/* RFC 7489 section 6.6.3 step 6 */
	if (d->p[0] == '\0' || sp_bad) {
		if (!rua)
			return CM_EINVAL;
		memcpy(d->p, "none", sizeof "none");
		d->p_from_rua = 1;
	}
	return 0;
}

/* ---- SPF ---- */

static enum authres_result
spf_map(SPF_result_t res)
{
	switch (res) {
	case SPF_RESULT_PASS: return AUTHRES_PASS;
	case SPF_RESULT_FAIL: return AUTHRES_FAIL;
	case SPF_RESULT_SOFTFAIL: return AUTHRES_SOFTFAIL;
	case SPF_RESULT_NEUTRAL: return AUTHRES_NEUTRAL;
	case SPF_RESULT_NONE: return AUTHRES_NONE;
	case SPF_RESULT_PERMERROR: return AUTHRES_PERMERROR;
	case SPF_RESULT_TEMPERROR: return AUTHRES_TEMPERROR;
	default: return AUTHRES_TEMPERROR;
	}
}

static void
spf_check(struct authres_dns *d, const char *ip, const char *helo,
    const char *mail_from, struct authres *r)
{
	const char *domain, *at;
	SPF_server_t *srv;
	SPF_request_t *req;
	SPF_response_t *resp;
	SPF_record_t *rec = NULL;
	SPF_errcode_t err;

	if (mail_from[0] != '\0') {
		at = strrchr(mail_from, '@');
		domain = at != NULL ? at + 1 : "";
	} else {
		domain = helo;
		r->spf_helo = 1;
	}
	if (strlen(domain) >= sizeof r->spf_domain)
		return;
	lower_copy(r->spf_domain, sizeof r->spf_domain, domain,
	    strlen(domain));
	/* an address literal, or no domain: nothing to look up (none) */
	if (domain[0] == '\0' || domain[0] == '[' ||
	    strchr(domain, '.') == NULL)
		return;
	if ((srv = SPF_server_new_dns(&d->spf, 0)) == NULL) {
		r->spf = AUTHRES_TEMPERROR;
		return;
	}
	if ((req = SPF_request_new(srv)) == NULL) {
		SPF_server_free(srv);
		r->spf = AUTHRES_TEMPERROR;
		return;
	}
	/* an IPv4 client of a dual-stack listener, "::ffff:192.0.2.1", is
	 * that IPv4 address: libspf2 would match ip4 mechanisms (and A
	 * records) against it never */
	if (strncasecmp(ip, "::ffff:", 7) == 0 && strchr(ip + 7, '.') != NULL)
		ip += 7;
	if ((strchr(ip, ':') != NULL ? SPF_request_set_ipv6_str(req, ip) :
	    SPF_request_set_ipv4_str(req, ip)) != SPF_E_SUCCESS ||
	    (mail_from[0] != '\0' &&
	    SPF_request_set_env_from(req, mail_from) != 0) ||
	    SPF_request_set_helo_dom(req, helo[0] != '\0' ? helo : domain) !=
	    SPF_E_SUCCESS || req->env_from_dp == NULL) {
		r->spf = AUTHRES_PERMERROR;
		goto out;
	}
	if ((resp = SPF_response_new(req)) == NULL) {
		r->spf = AUTHRES_TEMPERROR;
		goto out;
	}
	/* SPF_request_query_mailfrom() without its pass for loopback
	 * clients (see authres.h) */
	req->use_helo = 0;
	req->cur_dom = req->env_from_dp;
	d->spf_seen = 0;
	err = SPF_server_get_record(srv, req, resp, &rec);
	if (err == SPF_E_SUCCESS && rec != NULL) {
		resp->spf_record_exp = rec;
		err = SPF_record_interpret(rec, req, resp, 0);
		resp->spf_record_exp = NULL;
		SPF_record_free(rec);
		r->spf = spf_map(SPF_response_result(resp));
	} else if (resp->result != SPF_RESULT_INVALID)
		r->spf = spf_map(resp->result);
	else if (err == SPF_E_DNS_ERROR)
		r->spf = AUTHRES_TEMPERROR;
	else if (d->spf_seen)
		r->spf = AUTHRES_PERMERROR;	/* a record that did not compile */
	else
		r->spf = AUTHRES_NONE;		/* TXT records, none of them SPF */
	SPF_response_free(resp);
out:
	SPF_request_free(req);
	SPF_server_free(srv);
}

/* ---- DKIM ---- */

#define MAX_SIGS AUTHRES_DKIM_MAX_SIGS

struct sig {
	enum authres_result res;
	char domain[256];
};

static enum authres_result
sig_result(DKIM_SIGINFO *si)
{
	unsigned flags = dkim_sig_getflags(si);

	if (flags & DKIM_SIGFLAG_IGNORE)
		return AUTHRES_NEUTRAL;
	if ((flags & DKIM_SIGFLAG_PASSED) &&
	    dkim_sig_getbh(si) == DKIM_SIGBH_MATCH)
		return AUTHRES_PASS;
	switch (dkim_sig_geterror(si)) {
	case DKIM_SIGERROR_KEYFAIL:
		return AUTHRES_TEMPERROR;
	case DKIM_SIGERROR_OK:
	case DKIM_SIGERROR_BADSIG:
		return AUTHRES_FAIL;	/* verified, and it did not match */
	default:
		if (flags & DKIM_SIGFLAG_PROCESSED &&
		    dkim_sig_getbh(si) == DKIM_SIGBH_MISMATCH)
			return AUTHRES_FAIL;
		return AUTHRES_PERMERROR;
	}
}

static int
is_dkim_sig_field(const char *p, size_t n)
{
	static const char name[] = "DKIM-Signature";
	size_t i = sizeof name - 1;

	if (n < i || strncasecmp(p, name, i) != 0)
		return 0;
	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	return i < n && p[i] == ':';
}

/* Why only the first MAX_SIGS signatures (authres_dkim_pieces): the
 * library hashes the body once per distinct l= and verifies every
 * signature it is shown, so a message with thousands of them would cost
 * seconds of CPU; prescreening does not help, it comes after the hashing
 * is set up. */
int
authres_dkim_pieces(const char *msg, size_t len,
    int (*fn)(void *arg, const char *piece, size_t n), void *arg,
    unsigned *nsig_r)
{
	size_t i = 0, from = 0;
	unsigned nsig = 0;
	int rc = 0;

	while (i < len) {
		const char *nl;
		size_t end;

		if (msg[i] == '\n' || (msg[i] == '\r' && i + 1 < len &&
		    msg[i + 1] == '\n'))
			break;		/* the empty line: the body follows */
		/* the field: its line and any folded ones */
		end = i;
		do {
			nl = memchr(msg + end, '\n', len - end);
			end = nl != NULL ? (size_t)(nl - msg) + 1 : len;
		} while (end < len && (msg[end] == ' ' || msg[end] == '\t'));
		if (is_dkim_sig_field(msg + i, end - i) && ++nsig > MAX_SIGS) {
			if (i > from && (rc = fn(arg, msg + from, i - from)) != 0)
				goto out;
			from = end;
		}
		i = end;
	}
	if (len > from)
		rc = fn(arg, msg + from, len - from);
out:
	if (nsig_r != NULL)
		*nsig_r = nsig;
	return rc;
}

static int
dkim_piece(void *arg, const char *p, size_t n)
{
	DKIM_STAT st = dkim_chunk(arg, (unsigned char *)(uintptr_t)p, n);

	/* DKIM_STAT_OK is 0 */
	return st;
}

/* Verify every signature: their results in sigs (at most MAX_SIGS), the
 * count returned. */
static int
dkim_check(struct authres_ctx *ctx, struct authres_dns *d, const char *msg,
    size_t len, struct sig *sigs)
{
	DKIM_STAT st;
	DKIM *dk;
	DKIM_SIGINFO **list = NULL;
	int nlist = 0, n = 0;

	authres_dns_current = d;
	dk = dkim_verify(ctx->dkim, (const unsigned char *)"capmail", NULL,
	    &st);
	if (dk == NULL) {
		authres_dns_current = NULL;
		return 0;
	}
	st = authres_dkim_pieces(msg, len, dkim_piece, dk, NULL);
	if (st == DKIM_STAT_OK)
		st = dkim_chunk(dk, NULL, 0);
	if (st == DKIM_STAT_OK || st == DKIM_STAT_BADSIG ||
	    st == DKIM_STAT_CANTVRFY || st == DKIM_STAT_NOKEY ||
	    st == DKIM_STAT_KEYFAIL || st == DKIM_STAT_REVOKED ||
	    st == DKIM_STAT_SYNTAX)
		st = dkim_eom(dk, NULL);
	if (dkim_getsiglist(dk, &list, &nlist) == DKIM_STAT_OK) {
		for (int i = 0; i < nlist && n < MAX_SIGS; i++) {
			const unsigned char *dom = dkim_sig_getdomain(list[i]);

			if (dom == NULL)
				dom = (const unsigned char *)"";
			sigs[n].res = sig_result(list[i]);
			lower_copy(sigs[n].domain, sizeof sigs[n].domain,
			    (const char *)dom, strlen((const char *)dom));
			n++;
		}
	}
	dkim_free(dk);
	authres_dns_current = NULL;
	return n;
}

static int
sig_rank(const struct sig *s, int aligned)
{
	switch (s->res) {
	case AUTHRES_PASS: return aligned ? 7 : 6;
	case AUTHRES_TEMPERROR: return 5;
	case AUTHRES_FAIL: return 4;
	case AUTHRES_PERMERROR: return 3;
	case AUTHRES_NEUTRAL: return 2;
	default: return 1;
	}
}

/* ---- DMARC lookup ---- */

struct dmarc_found {
	int n;			/* records starting with v=DMARC1 */
	int rc;			/* the first one's authres_dmarc_parse() */
	struct authres_dmarc rec;
};

static void
dmarc_txt(void *arg, const char *txt, size_t len)
{
	struct dmarc_found *f = arg;
	struct authres_dmarc rec;
	int rc = authres_dmarc_parse(txt, len, &rec);

	if (rc == CM_ENOTFOUND)
		return;		/* RFC 7489 section 6.6.3 steps 2 and 4 */
	if (f->n++ == 0) {
		f->rc = rc;
		f->rec = rec;
	}
}

/* RFC 7489 section 6.6.3. 1: a record in *rec; 0: none at name (ask the
 * organisational domain); 2: no DMARC processing (step 5: several
 * records; step 6: a record without a policy, discarded); -1: lookup
 * failed; -2: a malformed record */
static int
dmarc_lookup(struct authres_dns *d, const char *domain,
    struct authres_dmarc *rec)
{
	char name[300];
	unsigned char *ans;
	struct dmarc_found f = { 0 };
	int n, rcode;

	if (snprintf(name, sizeof name, "_dmarc.%s", domain) >=
	    (int)sizeof name)
		return 0;
	if ((ans = malloc(AUTHRES_DNS_ANSWER_MAX)) == NULL)
		return -1;
	n = authres_dns_query(d, name, ns_t_txt, ans, AUTHRES_DNS_ANSWER_MAX);
	if (n == -2) {
		free(ans);
		return 0;
	}
	rcode = n < 0 ? -1 : authres_dns_txt(ans, n, dmarc_txt, &f);
	free(ans);
	if (rcode == ns_r_nxdomain)
		return 0;
	if (rcode != ns_r_noerror)
		return -1;
	if (f.n == 0)
		return 0;
	if (f.n > 1 || f.rc == CM_EINVAL)
		return 2;
	if (f.rc != 0)
		return -2;
	*rec = f.rec;
	return 1;
}

/* ---- the check ---- */

int
authres_check(struct authres_ctx *ctx, const char *client_ip, const char *helo,
    const char *mail_from, const char *msg, size_t len, struct authres *r)
{
	struct authres_dns *d;
	struct authres_dmarc rec = { .p = "" };
	struct sig sigs[MAX_SIGS];
	int nsigs, found = 0, from_rc, best = -1, best_rank = 0;

	memset(r, 0, sizeof *r);
	if ((d = malloc(sizeof *d)) == NULL ||
	    authres_dns_open(ctx, d) < 0) {
		free(d);
		r->spf = r->dkim = r->dmarc = AUTHRES_TEMPERROR;
		return CM_ENOMEM;
	}
	from_rc = authres_from_domain(msg, len, r->from_domain,
	    sizeof r->from_domain);
	spf_check(d, client_ip != NULL ? client_ip : "", helo != NULL ? helo :
	    "", mail_from != NULL ? mail_from : "", r);
	nsigs = dkim_check(ctx, d, msg, len, sigs);

	if (from_rc == 0) {
		char org[256];

		found = dmarc_lookup(d, r->from_domain, &rec);
		if (found == 0 && authres_org_domain(ctx, r->from_domain, org,
		    sizeof org) == 0 && strcmp(org, r->from_domain) != 0)
			found = dmarc_lookup(d, org, &rec);
		if (found == 1)
			memcpy(r->dmarc_policy, rec.p, sizeof r->dmarc_policy);
	}
	r->spf_aligned = r->spf == AUTHRES_PASS &&
	    authres_aligned(ctx, r->spf_domain, r->from_domain,
	    rec.aspf_strict);
	for (int i = 0; i < nsigs; i++) {
		int al = sigs[i].res == AUTHRES_PASS &&
		    authres_aligned(ctx, sigs[i].domain, r->from_domain,
		    rec.adkim_strict);
		int rank = sig_rank(&sigs[i], al);

		if (rank > best_rank) {
			best = i;
			best_rank = rank;
			r->dkim_aligned = al ? 1 : 0;
		}
	}
	if (best >= 0) {
		r->dkim = sigs[best].res;
		memcpy(r->dkim_domain, sigs[best].domain,
		    sizeof r->dkim_domain);
	}
	if (from_rc == CM_EPARSE)
		r->dmarc = AUTHRES_PERMERROR;
	else if (found == 1)
		r->dmarc = r->spf_aligned || r->dkim_aligned ? AUTHRES_PASS :
		    AUTHRES_FAIL;
	else if (found == -1)
		r->dmarc = AUTHRES_TEMPERROR;
	else if (found == -2)
		r->dmarc = AUTHRES_PERMERROR;
	else
		r->dmarc = AUTHRES_NONE;
	authres_dns_close(d);
	free(d);
	return 0;
}

int
authres_authenticated(const struct authres *r)
{
	return (r->spf == AUTHRES_PASS && r->spf_aligned) ||
	    (r->dkim == AUTHRES_PASS && r->dkim_aligned);
}

const char *
authres_method(const struct authres *r)
{
	if (r->dkim == AUTHRES_PASS && r->dkim_aligned)
		return "dkim";
	if (r->spf == AUTHRES_PASS && r->spf_aligned)
		return "spf";
	return "none";
}

/* ---- output ---- */

int
authres_summary(const struct authres *r, char *out, size_t outsz)
{
	int n = snprintf(out, outsz, "spf=%s dkim=%s dmarc=%s",
	    authres_result_name(r->spf), authres_result_name(r->dkim),
	    authres_result_name(r->dmarc));

	return n < 0 || (size_t)n >= outsz ? CM_ETOOBIG : 0;
}

/* RFC 2045 token characters; anything else is given as a quoted-string
 * (control characters, which no domain has, become '?'). */
static int
is_token(const char *v)
{
	if (*v == '\0')
		return 0;
	for (; *v; v++) {
		unsigned char c = (unsigned char)*v;

		if (c <= ' ' || c >= 0x7f || strchr("()<>@,;:\\\"/[]?=", c))
			return 0;
	}
	return 1;
}

static int
add_value(struct buf *b, const char *v)
{
	int rc;

	if (is_token(v))
		return buf_addstr(b, v);
	if ((rc = buf_addc(b, '"')) < 0)
		return rc;
	for (; *v; v++) {
		unsigned char c = (unsigned char)*v;

		if ((c == '"' || c == '\\') && (rc = buf_addc(b, '\\')) < 0)
			return rc;
		if ((rc = buf_addc(b, c < ' ' || c == 0x7f ? '?' :
		    (char)c)) < 0)
			return rc;
	}
	return buf_addc(b, '"');
}

/* One resinfo on a line of its own: "\r\n\tMETHOD=RESULT[ PROP=VALUE];"
 * (';' unless last), folded before the property when the line would
 * pass 78 columns. */
static int
add_method(struct buf *b, const char *method, enum authres_result res,
    const char *prop, const char *value, int last)
{
	struct buf v;
	size_t linelen;
	int rc;

	buf_init(&v, 1024);
	if ((rc = buf_printf(b, "\r\n\t%s=%s", method,
	    authres_result_name(res))) < 0)
		goto out;
	linelen = 8 + strlen(method) + 1 + strlen(authres_result_name(res));
	if (prop != NULL && value[0] != '\0') {
		if ((rc = add_value(&v, value)) < 0)
			goto out;
		if (linelen + 1 + strlen(prop) + 1 + v.len + 1 > 78)
			rc = buf_addstr(b, "\r\n\t");
		else
			rc = buf_addc(b, ' ');
		if (rc < 0 || (rc = buf_printf(b, "%s=", prop)) < 0 ||
		    (rc = buf_add(b, v.data, v.len)) < 0)
			goto out;
	}
	if (!last)
		rc = buf_addc(b, ';');
out:
	buf_free(&v);
	return rc;
}

int
authres_header(const struct authres *r, const char *authserv_id,
    struct buf *out)
{
	size_t start = out->len;
	int rc;

	if ((rc = buf_addstr(out, "Authentication-Results: ")) < 0 ||
	    (rc = add_value(out, authserv_id)) < 0 ||
	    (rc = buf_addc(out, ';')) < 0 ||
	    (rc = add_method(out, "spf", r->spf, r->spf_helo ? "smtp.helo" :
	    "smtp.mailfrom", r->spf_domain, 0)) < 0 ||
	    (rc = add_method(out, "dkim", r->dkim, "header.d",
	    r->dkim_domain, 0)) < 0 ||
	    (rc = add_method(out, "dmarc", r->dmarc, "header.from",
	    r->from_domain, 1)) < 0 ||
	    (rc = buf_addstr(out, "\r\n")) < 0) {
		out->len = start;	/* as it was */
		if (out->data != NULL)
			out->data[start] = '\0';
		return rc;
	}
	return 0;
}
