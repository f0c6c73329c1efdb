/*
 * imap-search: SEARCH keys (RFC 3501 6.4.4), parsed into a tree and
 * evaluated against one message at a time. Pure: no I/O; messages come
 * in as struct store_msg (with data when imap_search_needs() says so).
 *
 * Matching rules: strings are ASCII case-insensitive substrings; HEADER,
 * FROM, TO, CC, BCC and SUBJECT look at the (unfolded, undecoded) values
 * of the top-level header's fields of that name; BODY looks at the text
 * after the header, TEXT at the whole message (both raw, not decoded);
 * BEFORE/ON/SINCE compare the day (UTC) of the internal date,
 * SENTBEFORE/SENTON/SENTSINCE the day of the Date: header (the internal
 * date when there is none). \Recent is the session's (never stored), so
 * the caller says whether the message is recent: RECENT matches those,
 * NEW those without \Seen, OLD the others.
 *
 * Charsets: US-ASCII and UTF-8 (compared as bytes); anything else is
 * CM_EINVAL (the command answers NO [BADCHARSET]).
 */
#ifndef CAPMAIL_IMAP_SEARCH_H
#define CAPMAIL_IMAP_SEARCH_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "imap-parser.h"
#include "imap-util.h"
#include "store-imap.h"

#define IMAP_SEARCH_MAX_DEPTH 64

enum imap_skey {
	IMAP_SK_ALL, IMAP_SK_AND, IMAP_SK_OR, IMAP_SK_NOT,
	IMAP_SK_SEQSET, IMAP_SK_UIDSET,
	IMAP_SK_FLAG,		/* s1 = flag (ANSWERED -> \Answered ...) */
	IMAP_SK_NOFLAG,		/* UNANSWERED, UNKEYWORD ... */
	IMAP_SK_RECENT, IMAP_SK_NEW, IMAP_SK_OLD,
	IMAP_SK_HEADER,		/* s1 = field, s2 = value */
	IMAP_SK_BODY, IMAP_SK_TEXT,
	IMAP_SK_BEFORE, IMAP_SK_ON, IMAP_SK_SINCE,
	IMAP_SK_SENTBEFORE, IMAP_SK_SENTON, IMAP_SK_SENTSINCE,
	IMAP_SK_LARGER, IMAP_SK_SMALLER,
};

struct imap_search_key {
	enum imap_skey type;
	struct imap_search_key **sub;	/* AND: n children; OR: 2; NOT: 1 */
	size_t nsub;
	char *s1, *s2;
	size_t s2len;
	time_t day;			/* dates: midnight UTC */
	uint32_t n;			/* LARGER / SMALLER */
	struct imap_seqset set;
};

/* Parse args (after "SEARCH"). *err_r explains a CM_EPARSE; CM_EINVAL
 * means an unsupported charset. */
int imap_search_parse(const struct imap_arg *args, size_t n,
    struct imap_search_key **root_r, const char **err_r);
void imap_search_free(struct imap_search_key **kp);
/* STORE_MSG_SUMMARY / STORE_MSG_DATA bits the keys need (0: flags,
 * sizes and dates only). */
unsigned imap_search_needs(const struct imap_search_key *k);
/* Does message m, sequence number seq, \Recent in this session when
 * recent, match? max_seq and max_uid give "*" its value. */
int imap_search_match(const struct imap_search_key *k,
    const struct store_msg *m, uint32_t seq, uint32_t max_seq,
    uint32_t max_uid, int recent);


#endif
