/*
 * authres-int.h: what authres.c and authres-dns.c share. Nothing outside
 * lib/authres*.c includes it.
 */
#ifndef CAPMAIL_AUTHRES_INT_H
#define CAPMAIL_AUTHRES_INT_H

#include <netinet/in.h>
#include <arpa/nameser.h>
#include <resolv.h>
#include <sys/socket.h>
#include <time.h>

#include <spf2/spf.h>
#include <opendkim/dkim.h>
#include <libpsl.h>

struct authres_ctx {
	int custom;			/* dns_resolver given: ns below */
	unsigned check_max;		/* seconds of DNS a check may take */
	struct sockaddr_storage ns;
	DKIM_LIB *dkim;
	psl_ctx_t *psl;
};

/* One check's resolver: a res_state of its own (res_ninit'ed, then
 * pointed at the configured server), used by one thread at a time. */
struct authres_dns {
	struct __res_state res;
	unsigned open:1;
	unsigned dead:1;		/* a query got no answer: ask no more */
	unsigned spf_seen:1;		/* a TXT answer held a "v=spf1" string */
	unsigned expired:1;		/* the deadline came: ask no more */
	unsigned nqueries;
	struct timespec deadline;	/* CLOCK_MONOTONIC: open + check_max */
	struct sockaddr_storage tcp_ns;	/* the server for TCP retries */
	socklen_t tcp_nslen;		/* 0: none known */
	SPF_dns_server_t spf;		/* libspf2 layer over this resolver */
};

/* The largest answer taken (TCP's limit). */
#define AUTHRES_DNS_ANSWER_MAX 65535
/* Queries one check may send, whatever libspf2 and DKIM ask for. */
#define AUTHRES_DNS_MAX_QUERIES 40

int authres_dns_open(const struct authres_ctx *ctx, struct authres_dns *d);
void authres_dns_close(struct authres_dns *d);

/* Ask for name/type (class IN), waiting no longer than the deadline
 * leaves. The answer's length (whatever its rcode) in ans, -1 when no
 * answer came (d is then dead), the deadline is too near to wait for one
 * or the query could not be sent, -2 when name cannot be a DNS name. */
int authres_dns_query(struct authres_dns *d, const char *name, int type,
    unsigned char *ans, size_t anssz);

/* The check whose DNS libopendkim's hooks use: set by authres_check()
 * around the DKIM calls on its thread (the DKIM library handle, and so its
 * query service handle, is shared by every thread). */
extern _Thread_local struct authres_dns *authres_dns_current;

/* Install our query functions in a DKIM library handle; srv (not NULL)
 * is its service handle, never freed by it. */
void authres_dkim_dns_hooks(DKIM_LIB *lib, void *srv);

/* The TXT records of an answer: calls fn with each one's character-strings
 * joined (at most AUTHRES_TXT_MAX bytes; longer ones are skipped). Returns
 * the rcode (ns_r_noerror, ns_r_nxdomain ...) or -1 for an unparsable
 * answer. */
#define AUTHRES_TXT_MAX 4096
int authres_dns_txt(const unsigned char *ans, int len,
    void (*fn)(void *arg, const char *txt, size_t txtlen), void *arg);

#endif
