/*
 * authres-dns: the one stub resolver SPF, DKIM and DMARC lookups go
 * through (see authres.h).
 *
 * glibc's res_nsend() on a res_state of our own: res_ninit() reads
 * resolv.conf (options, and the servers when no dns_resolver is set),
 * then, with dns_resolver set, the server list is replaced by that one
 * address: an IPv4 one in nsaddr_list, an IPv6 one in _u._ext.nsaddrs
 * with nsaddr_list's family 0, which is how res_ninit() itself records
 * IPv6 servers and how res_nclose() frees them. res_nsend() (not
 * res_nquery()) because DKIM's key lookup needs the answer whatever its
 * rcode. A truncated answer is retried over TCP by us, not by glibc
 * (RES_IGNTC): glibc's send_vc() connects and reads without a timeout, so
 * a server that truncates over UDP and then stalls over TCP would hold the
 * check, and one of the gateway's auth slots, past any deadline.
 *
 * libspf2 gets a DNS layer of its own over it (spf_lookup below: the
 * answer's records of the asked type as libspf2's SPF_dns_rr_t), and
 * libopendkim gets query start/wait/cancel hooks that answer at once,
 * since res_nsend() is synchronous.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/socket.h>

#include "authres.h"
#include "authres-int.h"

_Thread_local struct authres_dns *authres_dns_current;

static SPF_dns_rr_t *spf_lookup(SPF_dns_server_t *srv, const char *domain,
    ns_type type, int should_cache);

int
authres_dns_open(const struct authres_ctx *ctx, struct authres_dns *d)
{
	memset(d, 0, sizeof *d);
	if (res_ninit(&d->res) != 0)
		return -1;
	d->open = 1;
	if (ctx->custom) {
		for (int i = 0; i < MAXNS; i++) {
			free(d->res._u._ext.nsaddrs[i]);
			d->res._u._ext.nsaddrs[i] = NULL;
		}
		memset(d->res.nsaddr_list, 0, sizeof d->res.nsaddr_list);
		if (ctx->ns.ss_family == AF_INET) {
			memcpy(&d->res.nsaddr_list[0], &ctx->ns,
			    sizeof(struct sockaddr_in));
		} else {
			struct sockaddr_in6 *s6 = malloc(sizeof *s6);

			if (s6 == NULL) {
				authres_dns_close(d);
				return -1;
			}
			memcpy(s6, &ctx->ns, sizeof *s6);
			d->res._u._ext.nsaddrs[0] = s6;
		}
		d->res.nscount = 1;
	}
	d->res.retrans = AUTHRES_DNS_TIMEOUT;
	d->res.retry = AUTHRES_DNS_TRIES;
	d->res.options |= RES_IGNTC;	/* TCP is ours: tcp_query() */
	/* the server a truncated answer is asked again over TCP */
	if (d->res.nsaddr_list[0].sin_family == AF_INET) {
		memcpy(&d->tcp_ns, &d->res.nsaddr_list[0],
		    sizeof(struct sockaddr_in));
		d->tcp_nslen = sizeof(struct sockaddr_in);
	} else if (d->res._u._ext.nsaddrs[0] != NULL) {
		memcpy(&d->tcp_ns, d->res._u._ext.nsaddrs[0],
		    sizeof(struct sockaddr_in6));
		d->tcp_nslen = sizeof(struct sockaddr_in6);
	}
	clock_gettime(CLOCK_MONOTONIC, &d->deadline);
	d->deadline.tv_sec += ctx->check_max > 0 ? ctx->check_max :
	    AUTHRES_CHECK_MAX;
	d->spf.lookup = spf_lookup;
	d->spf.name = "capmail";
	d->spf.hook = d;
	/* destroy NULL: SPF_server_free() leaves the layer alone */
	return 0;
}

void
authres_dns_close(struct authres_dns *d)
{
	if (d->open)
		res_nclose(&d->res);	/* frees _u._ext.nsaddrs */
	d->open = 0;
}

/* The longest res_nsend() may wait (milliseconds) with retrans/retry:
 * glibc's send_dg() gives server 0 retrans seconds a try and server i > 0
 * (retrans << i) / nscount, never less than a second. */
static long
wait_max(int retrans, int retry, int nscount)
{
	long s = 0;

	for (int i = 0; i < nscount; i++) {
		long t = i == 0 ? retrans : ((long)retrans << i) / nscount;

		s += t > 0 ? t : 1;
	}
	return s * retry * 1000;
}

/* Set the res_state's timeouts for one query so that it waits no longer
 * than left milliseconds: fewer tries first, then shorter ones. 0, or -1
 * when even one one-second try of each server would not fit. */
static int
fit_deadline(struct authres_dns *d, long left)
{
	int retrans = AUTHRES_DNS_TIMEOUT, retry = AUTHRES_DNS_TRIES;
	int ns = d->res.nscount > 0 ? d->res.nscount : 1;

	while (wait_max(retrans, retry, ns) > left) {
		if (retry > 1)
			retry--;
		else if (retrans > 1)
			retrans--;
		else
			return -1;
	}
	d->res.retrans = retrans;
	d->res.retry = retry;
	return 0;
}

/* Milliseconds to the check's deadline (may be negative). */
static long
ms_left(const struct authres_dns *d)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)(d->deadline.tv_sec - now.tv_sec) * 1000 +
	    (d->deadline.tv_nsec - now.tv_nsec) / 1000000;
}

/* Wait for ev on fd until the deadline: 0, or -1 (time is up, error). */
static int
wait_fd(const struct authres_dns *d, int fd, short ev)
{
	struct pollfd p = { .fd = fd, .events = ev };
	long left;
	int rc;

	do {
		if ((left = ms_left(d)) <= 0)
			return -1;
		rc = poll(&p, 1, left > 60000 ? 60000 : (int)left);
	} while (rc == 0 || (rc < 0 && errno == EINTR));
	return rc > 0 && !(p.revents & (POLLERR | POLLNVAL)) ? 0 : -1;
}

/* Write or read exactly n bytes, each wait bounded by the deadline. */
static int
io_all(const struct authres_dns *d, int fd, unsigned char *p, size_t n,
    int writing)
{
	while (n > 0) {
		ssize_t k = writing ? send(fd, p, n, MSG_NOSIGNAL) :
		    recv(fd, p, n, 0);

		if (k > 0) {
			p += k;
			n -= (size_t)k;
		} else if (k == 0 ||
		    (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
			return -1;
		} else if (wait_fd(d, fd, writing ? POLLOUT : POLLIN) < 0) {
			return -1;
		}
	}
	return 0;
}

/* The query q over TCP (RFC 7766: two length bytes, then the message) to
 * the first server, within the deadline: the answer's length, or -1. */
static int
tcp_query(struct authres_dns *d, const unsigned char *q, int qlen,
    unsigned char *ans, size_t anssz)
{
	unsigned char out[2 + NS_PACKETSZ], len[2];
	size_t alen;
	int fd, rc = -1, err = 0;
	socklen_t elen = sizeof err;

	if (d->tcp_nslen == 0 || qlen < 2 || (size_t)qlen > NS_PACKETSZ)
		return -1;
	fd = socket(d->tcp_ns.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&d->tcp_ns, d->tcp_nslen) < 0) {
		if (errno != EINPROGRESS || wait_fd(d, fd, POLLOUT) < 0 ||
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 ||
		    err != 0)
			goto out;
	}
	out[0] = (unsigned char)(qlen >> 8);
	out[1] = (unsigned char)qlen;
	memcpy(out + 2, q, (size_t)qlen);
	if (io_all(d, fd, out, (size_t)qlen + 2, 1) < 0 ||
	    io_all(d, fd, len, 2, 0) < 0)
		goto out;
	alen = (size_t)len[0] << 8 | len[1];
	/* anssz is AUTHRES_DNS_ANSWER_MAX: every TCP answer fits */
	if (alen < 12 || alen > anssz || io_all(d, fd, ans, alen, 0) < 0)
		goto out;
	/* the answer to this query: same id, a response */
	if (ans[0] != q[0] || ans[1] != q[1] || !(ans[2] & 0x80))
		goto out;
	rc = (int)alen;
out:
	close(fd);
	return rc;
}

int
authres_dns_query(struct authres_dns *d, const char *name, int type,
    unsigned char *ans, size_t anssz)
{
	unsigned char q[NS_PACKETSZ];
	long left;
	int n, qlen;

	if (d->dead || d->expired || !d->open ||
	    d->nqueries >= AUTHRES_DNS_MAX_QUERIES)
		return -1;
	left = ms_left(d);
	if (fit_deadline(d, left) < 0) {
		d->expired = 1;
		return -1;
	}
	qlen = res_nmkquery(&d->res, ns_o_query, name, ns_c_in, type, NULL, 0,
	    NULL, q, sizeof q);
	if (qlen < 0)
		return -2;
	d->nqueries++;
	n = res_nsend(&d->res, q, qlen, ans, (int)anssz);
	if (n >= 12 && (ans[2] & 0x02))		/* TC: truncated */
		n = tcp_query(d, q, qlen, ans, anssz);
	if (n < 0) {
		/* timed out, refused, unreachable: the next one would too */
		d->dead = 1;
		return -1;
	}
	return n < (int)anssz ? n : (int)anssz;
}

/* One TXT RR's character-strings joined into out (outsz >= 1): its length,
 * or -1 when it does not fit or is malformed. */
static int
txt_join(const unsigned char *rd, size_t rdlen, char *out, size_t outsz)
{
	size_t o = 0, i = 0;

	while (i < rdlen) {
		size_t n = rd[i++];

		if (n > rdlen - i || n >= outsz - o)
			return -1;
		memcpy(out + o, rd + i, n);
		o += n;
		i += n;
	}
	out[o] = '\0';
	return (int)o;
}

int
authres_dns_txt(const unsigned char *ans, int len,
    void (*fn)(void *arg, const char *txt, size_t txtlen), void *arg)
{
	ns_msg m;
	ns_rr rr;
	char *txt;
	int rcode;

	if (len <= 0 || ns_initparse(ans, len, &m) < 0)
		return -1;
	rcode = ns_msg_getflag(m, ns_f_rcode);
	if (rcode != ns_r_noerror)
		return rcode;
	if ((txt = malloc(AUTHRES_TXT_MAX + 1)) == NULL)
		return -1;
	for (int i = 0; i < ns_msg_count(m, ns_s_an); i++) {
		int n;

		if (ns_parserr(&m, ns_s_an, i, &rr) < 0) {
			free(txt);
			return -1;
		}
		if (ns_rr_type(rr) != ns_t_txt || ns_rr_class(rr) != ns_c_in)
			continue;	/* a CNAME on the way */
		n = txt_join(ns_rr_rdata(rr), ns_rr_rdlen(rr), txt,
		    AUTHRES_TXT_MAX + 1);
		if (n >= 0)
			fn(arg, txt, (size_t)n);
	}
	free(txt);
	return rcode;
}

/* ---- libspf2's DNS layer ---- */

static int
rr_add(SPF_dns_rr_t *rr, const void *p, size_t len, int text)
{
	int i = rr->num_rr;

	if (SPF_dns_rr_buf_realloc(rr, i, len + (text ? 1 : 0)) !=
	    SPF_E_SUCCESS)
		return -1;
	memcpy(rr->rr[i], p, len);
	if (text)
		((char *)rr->rr[i])[len] = '\0';
	rr->num_rr++;
	return 0;
}

static SPF_dns_rr_t *
spf_lookup(SPF_dns_server_t *srv, const char *domain, ns_type type,
    int should_cache)
{
	struct authres_dns *d = srv->hook;
	unsigned char *ans;
	char *txt = NULL, name[NS_MAXDNAME];
	SPF_dns_rr_t *rr;
	ns_msg m;
	ns_rr r;
	int n, rcode;

	/* RFC 7208 section 3.1: only TXT; the old SPF type is not asked */
	if (type == ns_t_spf)
		return SPF_dns_rr_new_init(srv, domain, type, 0, NO_DATA);
	if ((ans = malloc(AUTHRES_DNS_ANSWER_MAX)) == NULL)
		return SPF_dns_rr_new_init(srv, domain, type, 0, TRY_AGAIN);
	n = authres_dns_query(d, domain, type, ans, AUTHRES_DNS_ANSWER_MAX);
	if (n == -2 || (n >= 0 && ns_initparse(ans, n, &m) < 0)) {
		free(ans);
		return SPF_dns_rr_new_init(srv, domain, type, 0,
		    n == -2 ? HOST_NOT_FOUND : TRY_AGAIN);
	}
	if (n < 0) {
		free(ans);
		return SPF_dns_rr_new_init(srv, domain, type, 0, TRY_AGAIN);
	}
	rcode = ns_msg_getflag(m, ns_f_rcode);
	if (rcode != ns_r_noerror) {
		free(ans);
		return SPF_dns_rr_new_init(srv, domain, type, 0,
		    rcode == ns_r_nxdomain ? HOST_NOT_FOUND : TRY_AGAIN);
	}
	rr = SPF_dns_rr_new_init(srv, domain, type, 0, NETDB_SUCCESS);
	if (rr == NULL || (type == ns_t_txt &&
	    (txt = malloc(AUTHRES_TXT_MAX + 1)) == NULL)) {
		free(ans);
		if (rr != NULL)
			rr->herrno = TRY_AGAIN;
		return rr;
	}
	for (int i = 0; i < ns_msg_count(m, ns_s_an); i++) {
		const unsigned char *rd;
		size_t rdlen;
		int ok = 0;

		if (ns_parserr(&m, ns_s_an, i, &r) < 0)
			break;
		if (ns_rr_type(r) != type || ns_rr_class(r) != ns_c_in)
			continue;	/* CNAMEs on the way */
		rd = ns_rr_rdata(r);
		rdlen = ns_rr_rdlen(r);
		switch (type) {
		case ns_t_a:
			ok = rdlen == 4 && rr_add(rr, rd, 4, 0) == 0;
			break;
		case ns_t_aaaa:
			ok = rdlen == 16 && rr_add(rr, rd, 16, 0) == 0;
			break;
		case ns_t_mx:
			ok = rdlen > NS_INT16SZ && ns_name_uncompress(ans,
			    ans + n, rd + NS_INT16SZ, name, sizeof name) >= 0 &&
			    rr_add(rr, name, strlen(name), 1) == 0;
			break;
		case ns_t_ptr:
			ok = ns_name_uncompress(ans, ans + n, rd, name,
			    sizeof name) >= 0 &&
			    rr_add(rr, name, strlen(name), 1) == 0;
			break;
		case ns_t_txt: {
			int tl = txt_join(rd, rdlen, txt, AUTHRES_TXT_MAX + 1);

			if (tl < 0)
				continue;	/* too long to be ours */
			if (strncasecmp(txt, "v=spf1", 6) == 0 &&
			    (txt[6] == ' ' || txt[6] == '\0'))
				d->spf_seen = 1;
			ok = rr_add(rr, txt, (size_t)tl, 1) == 0;
			break;
		}
		default:
			continue;
		}
		(void)ok;
	}
	if (rr->num_rr == 0)
		rr->herrno = NO_DATA;
	free(txt);
	free(ans);
	return rr;
}

/* ---- libopendkim's query hooks ---- */

struct dkim_q {
	int failed;
	size_t len;
};

static int
dk_start(void *srv, int type, unsigned char *query, unsigned char *buf,
    size_t buflen, void **qh)
{
	struct authres_dns *d = authres_dns_current;
	struct dkim_q *q;
	int n;

	if (d == NULL || (q = calloc(1, sizeof *q)) == NULL)
		return DKIM_DNS_ERROR;
	n = authres_dns_query(d, (const char *)query, type, buf, buflen);
	if (n == -2) {
		free(q);
		return DKIM_DNS_INVALID;
	}
	q->failed = n < 0;
	q->len = n < 0 ? 0 : (size_t)n;
	*qh = q;
	return DKIM_DNS_SUCCESS;
}

static int
dk_cancel(void *srv, void *qh)
{
	free(qh);
	return DKIM_DNS_SUCCESS;
}

static int
dk_waitreply(void *srv, void *qh, struct timeval *to, size_t *bytes,
    int *error, int *dnssec)
{
	struct dkim_q *q = qh;

	if (bytes != NULL)
		*bytes = q->len;
	if (error != NULL)
		*error = q->failed ? ETIMEDOUT : 0;
	if (dnssec != NULL)
		*dnssec = DKIM_DNSSEC_UNKNOWN;
	return q->failed ? DKIM_DNS_EXPIRED : DKIM_DNS_SUCCESS;
}

/* The library's own init and close would make and free a res_state of
 * theirs as the service handle: ours is the ctx, owned by the caller. */
static int
dk_init(void **srv)
{
	return 0;
}

static void
dk_close(void *srv)
{
}

void
authres_dkim_dns_hooks(DKIM_LIB *lib, void *srv)
{
	dkim_dns_set_init(lib, dk_init);
	dkim_dns_set_close(lib, dk_close);
	dkim_dns_set_query_service(lib, srv);
	dkim_dns_set_query_start(lib, dk_start);
	dkim_dns_set_query_cancel(lib, dk_cancel);
	dkim_dns_set_query_waitreply(lib, dk_waitreply);
}
