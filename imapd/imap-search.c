/*
 * imap-search: see imap-search.h. Recursive descent over the argument
 * list; depth is capped (IMAP_SEARCH_MAX_DEPTH) for NOT/OR chains and
 * parenthesised lists.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "errors.h"
#include "bodytext.h"
#include "hdrdecode.h"
#include "imap-search.h"
#include "imap-util.h"

struct sp {
	const struct imap_arg *a;
	size_t n, i;
	const char *err;
};

static struct imap_search_key *
key_new(enum imap_skey type)
{
	struct imap_search_key *k = calloc(1, sizeof(*k));

	if (k != NULL)
		k->type = type;
	return k;
}

void
imap_search_free(struct imap_search_key **kp)
{
	struct imap_search_key *k = *kp;

	if (k == NULL)
		return;
	for (size_t i = 0; i < k->nsub; i++)
		imap_search_free(&k->sub[i]);
	free(k->sub);
	free(k->s1);
	free(k->s2);
	imap_seqset_free(&k->set);
	free(k);
	*kp = NULL;
}

static int
add_sub(struct imap_search_key *k, struct imap_search_key *s)
{
	struct imap_search_key **ns = realloc(k->sub,
	    (k->nsub + 1) * sizeof(*ns));

	if (ns == NULL)
		return CM_ENOMEM;
	k->sub = ns;
	k->sub[k->nsub++] = s;
	return 0;
}

static int
next_astring(struct sp *p, const char **s_r, size_t *len_r)
{
	if (p->i >= p->n || !imap_arg_astring(&p->a[p->i], s_r, len_r)) {
		p->err = "Missing SEARCH argument";
		return CM_EPARSE;
	}
	p->i++;
	return 0;
}

static int
dup_to(char **dst, const char *s, size_t len)
{
	if ((*dst = malloc(len + 1)) == NULL)
		return CM_ENOMEM;
	memcpy(*dst, s, len);
	(*dst)[len] = '\0';
	return 0;
}

static int parse_key(struct sp *p, int depth, struct imap_search_key **k_r);

/* Keys from the current position until the list ends, ANDed into k. */
static int
parse_list(const struct imap_arg *a, size_t n, struct sp *outer, int depth,
    struct imap_search_key *k)
{
	struct sp p = { a, n, 0, NULL };
	int rc;

	while (p.i < p.n) {
		struct imap_search_key *s;
		if ((rc = parse_key(&p, depth + 1, &s)) < 0) {
			outer->err = p.err;
			return rc;
		}
		if ((rc = add_sub(k, s)) < 0) {
			imap_search_free(&s);
			return rc;
		}
	}
	return 0;
}

static const struct {
	const char *name;
	enum imap_skey type;
	const char *flag;
} flagkeys[] = {
	{ "ANSWERED", IMAP_SK_FLAG, "\\Answered" },
	{ "DELETED", IMAP_SK_FLAG, "\\Deleted" },
	{ "DRAFT", IMAP_SK_FLAG, "\\Draft" },
	{ "FLAGGED", IMAP_SK_FLAG, "\\Flagged" },
	{ "SEEN", IMAP_SK_FLAG, "\\Seen" },
	{ "UNANSWERED", IMAP_SK_NOFLAG, "\\Answered" },
	{ "UNDELETED", IMAP_SK_NOFLAG, "\\Deleted" },
	{ "UNDRAFT", IMAP_SK_NOFLAG, "\\Draft" },
	{ "UNFLAGGED", IMAP_SK_NOFLAG, "\\Flagged" },
	{ "UNSEEN", IMAP_SK_NOFLAG, "\\Seen" },
	{ "OLD", IMAP_SK_OLD, NULL },
	{ "ALL", IMAP_SK_ALL, NULL },
	{ "RECENT", IMAP_SK_RECENT, NULL },
	{ "NEW", IMAP_SK_NEW, NULL },
};

static const struct {
	const char *name;
	enum imap_skey type;
	const char *header;
} strkeys[] = {
	{ "FROM", IMAP_SK_HEADER, "From" },
	{ "TO", IMAP_SK_HEADER, "To" },
	{ "CC", IMAP_SK_HEADER, "Cc" },
	{ "BCC", IMAP_SK_HEADER, "Bcc" },
	{ "SUBJECT", IMAP_SK_HEADER, "Subject" },
	{ "BODY", IMAP_SK_BODY, NULL },
	{ "TEXT", IMAP_SK_TEXT, NULL },
	{ "KEYWORD", IMAP_SK_FLAG, NULL },
	{ "UNKEYWORD", IMAP_SK_NOFLAG, NULL },
};

static const struct {
	const char *name;
	enum imap_skey type;
} datekeys[] = {
	{ "BEFORE", IMAP_SK_BEFORE }, { "ON", IMAP_SK_ON },
	{ "SINCE", IMAP_SK_SINCE }, { "SENTBEFORE", IMAP_SK_SENTBEFORE },
	{ "SENTON", IMAP_SK_SENTON }, { "SENTSINCE", IMAP_SK_SENTSINCE },
};

static int
parse_key(struct sp *p, int depth, struct imap_search_key **k_r)
{
	const struct imap_arg *a;
	struct imap_search_key *k = NULL;
	const char *s, *v;
	size_t len;
	int rc = 0;

	*k_r = NULL;
	if (depth > IMAP_SEARCH_MAX_DEPTH) {
		p->err = "SEARCH keys nested too deep";
		return CM_EPARSE;
	}
	if (p->i >= p->n) {
		p->err = "Missing SEARCH key";
		return CM_EPARSE;
	}
	a = &p->a[p->i++];
	if (a->type == IMAP_ARG_LIST) {
		if (a->count == 0) {
			p->err = "Empty SEARCH list";
			return CM_EPARSE;
		}
		if ((k = key_new(IMAP_SK_AND)) == NULL)
			return CM_ENOMEM;
		rc = parse_list(a->list, a->count, p, depth, k);
		goto out;
	}
	if (!imap_arg_atom(a, &s)) {
		p->err = "Invalid SEARCH key";
		return CM_EPARSE;
	}
	for (size_t i = 0; i < sizeof(flagkeys) / sizeof(flagkeys[0]); i++) {
		if (strcasecmp(s, flagkeys[i].name) != 0)
			continue;
		if ((k = key_new(flagkeys[i].type)) == NULL)
			return CM_ENOMEM;
		if (flagkeys[i].flag != NULL)
			rc = dup_to(&k->s1, flagkeys[i].flag,
			    strlen(flagkeys[i].flag));
		goto out;
	}
	for (size_t i = 0; i < sizeof(strkeys) / sizeof(strkeys[0]); i++) {
		if (strcasecmp(s, strkeys[i].name) != 0)
			continue;
		if ((rc = next_astring(p, &v, &len)) < 0)
			return rc;
		if ((k = key_new(strkeys[i].type)) == NULL)
			return CM_ENOMEM;
		if (strkeys[i].header != NULL) {
			rc = dup_to(&k->s1, strkeys[i].header,
			    strlen(strkeys[i].header));
			if (rc == 0)
				rc = dup_to(&k->s2, v, len);
			k->s2len = len;
		} else if (k->type == IMAP_SK_FLAG ||
		    k->type == IMAP_SK_NOFLAG) {
			rc = dup_to(&k->s1, v, len);
		} else {
			rc = dup_to(&k->s2, v, len);
			k->s2len = len;
		}
		goto out;
	}
	for (size_t i = 0; i < sizeof(datekeys) / sizeof(datekeys[0]); i++) {
		if (strcasecmp(s, datekeys[i].name) != 0)
			continue;
		if ((rc = next_astring(p, &v, &len)) < 0)
			return rc;
		if ((k = key_new(datekeys[i].type)) == NULL)
			return CM_ENOMEM;
		if (imap_date_parse(v, len, &k->day) < 0) {
			p->err = "Invalid date in SEARCH";
			rc = CM_EPARSE;
		}
		goto out;
	}
	if (strcasecmp(s, "LARGER") == 0 || strcasecmp(s, "SMALLER") == 0) {
		uint64_t n = 0;
		if ((rc = next_astring(p, &v, &len)) < 0)
			return rc;
		if ((k = key_new(s[0] == 'L' || s[0] == 'l' ?
		    IMAP_SK_LARGER : IMAP_SK_SMALLER)) == NULL)
			return CM_ENOMEM;
		if (len == 0 || len > 10)
			rc = CM_EPARSE;
		for (size_t i = 0; rc == 0 && i < len; i++) {
			if (v[i] < '0' || v[i] > '9')
				rc = CM_EPARSE;
			n = n * 10 + (uint64_t)(v[i] - '0');
		}
		if (rc == 0 && n > UINT32_MAX)
			rc = CM_EPARSE;
		k->n = (uint32_t)n;
		if (rc < 0)
			p->err = "Invalid number in SEARCH";
		goto out;
	}
	if (strcasecmp(s, "HEADER") == 0) {
		const char *f;
		size_t flen;
		if ((rc = next_astring(p, &f, &flen)) < 0 ||
		    (rc = next_astring(p, &v, &len)) < 0)
			return rc;
		if ((k = key_new(IMAP_SK_HEADER)) == NULL)
			return CM_ENOMEM;
		rc = dup_to(&k->s1, f, flen);
		if (rc == 0)
			rc = dup_to(&k->s2, v, len);
		k->s2len = len;
		goto out;
	}
	if (strcasecmp(s, "NOT") == 0 || strcasecmp(s, "OR") == 0) {
		int nsub = s[0] == 'N' || s[0] == 'n' ? 1 : 2;
		if ((k = key_new(nsub == 1 ? IMAP_SK_NOT : IMAP_SK_OR)) == NULL)
			return CM_ENOMEM;
		for (int i = 0; rc == 0 && i < nsub; i++) {
			struct imap_search_key *sub;
			if ((rc = parse_key(p, depth + 1, &sub)) < 0)
				break;
			if ((rc = add_sub(k, sub)) < 0)
				imap_search_free(&sub);
		}
		goto out;
	}
	if (strcasecmp(s, "UID") == 0) {
		if ((rc = next_astring(p, &v, &len)) < 0)
			return rc;
		if ((k = key_new(IMAP_SK_UIDSET)) == NULL)
			return CM_ENOMEM;
		if ((rc = imap_seqset_parse(v, len, &k->set)) < 0)
			p->err = "Invalid UID set";
		goto out;
	}
	if ((s[0] >= '0' && s[0] <= '9') || s[0] == '*') {
		if ((k = key_new(IMAP_SK_SEQSET)) == NULL)
			return CM_ENOMEM;
		if ((rc = imap_seqset_parse(s, a->len, &k->set)) < 0)
			p->err = "Invalid sequence set";
		goto out;
	}
	p->err = "Unknown SEARCH key";
	return CM_EPARSE;
out:
	if (rc < 0) {
		if (p->err == NULL)
			p->err = "Invalid SEARCH arguments";
		imap_search_free(&k);
		return rc == CM_ENOMEM ? rc : CM_EPARSE;
	}
	*k_r = k;
	return 0;
}

int
imap_search_parse(const struct imap_arg *args, size_t n,
    struct imap_search_key **root_r, const char **err_r)
{
	struct imap_search_key *root;
	size_t start = 0;
	int rc;

	*root_r = NULL;
	*err_r = "Invalid SEARCH arguments";
	if (n >= 2 && imap_arg_is(&args[0], "CHARSET")) {
		const char *cs;
		if (!imap_arg_astring(&args[1], &cs, NULL))
			return CM_EPARSE;
		if (strcasecmp(cs, "US-ASCII") != 0 &&
		    strcasecmp(cs, "UTF-8") != 0)
			return CM_EINVAL;
		start = 2;
	}
	if (start >= n) {
		*err_r = "Missing SEARCH key";
		return CM_EPARSE;
	}
	if ((root = key_new(IMAP_SK_AND)) == NULL)
		return CM_ENOMEM;
	{
		struct sp p = { args + start, n - start, 0, NULL };
		rc = parse_list(args + start, n - start, &p, 0, root);
		if (rc < 0) {
			if (p.err != NULL)
				*err_r = p.err;
			imap_search_free(&root);
			return rc;
		}
	}
	*root_r = root;
	return 0;
}

unsigned
imap_search_needs(const struct imap_search_key *k)
{
	unsigned need = 0;

	switch (k->type) {
	case IMAP_SK_HEADER:
	case IMAP_SK_BODY:
	case IMAP_SK_TEXT:
		return STORE_MSG_DATA;
	default:
		break;
	}
	for (size_t i = 0; i < k->nsub; i++)
		need |= imap_search_needs(k->sub[i]);
	return need;
}

/* Does a field of the header [h, h+len) contain value, as it stands or
 * with its RFC 2047 encoded words decoded to UTF-8? name NULL: any field
 * (TEXT), else only fields of that name (case-insensitive). */
static int
header_match(const char *h, size_t len, const char *name, const char *value,
    size_t vlen)
{
	struct hdr_iter it = { h, len, 0 };
	const char *n, *v;
	size_t nl, vl;

	while (hdr_next(&it, &n, &nl, &v, &vl)) {
		size_t ul;
		char *u, *d;
		int hit;

		if (name != NULL && (nl != strlen(name) ||
		    strncasecmp(n, name, nl) != 0))
			continue;
		if ((u = hdr_unfold(v, vl, &ul)) == NULL)
			return 0;
		hit = imap_memcasemem(u, ul, value, vlen);
		if (!hit && (d = hdr_decode_utf8(u, ul)) != NULL) {
			hit = imap_memcasemem(d, strlen(d), value, vlen);
			free(d);
		}
		free(u);
		if (hit)
			return 1;
	}
	return 0;
}

/* Does the text of a part contain value once its transfer encoding is
 * undone and its charset converted to UTF-8 (base64, quoted-printable,
 * Latin-1 ...)? Raw bytes were matched already by the caller. */
static int
parts_match_decoded(const struct store_msg *m, const char *value,
    size_t vlen)
{
	for (size_t i = 0; i < m->nparts; i++) {
		const struct store_part *p = &m->parts[i];
		size_t tl;
		char *t;
		int hit;

		if (p->is_message || p->hdr_off > p->body_off ||
		    p->body_off > p->end_off || p->end_off > m->len)
			continue;
		t = bodytext_utf8(m->data + p->hdr_off, p->body_off - p->hdr_off,
		    m->data + p->body_off, p->end_off - p->body_off, &tl);
		if (t == NULL)
			continue;
		hit = imap_memcasemem(t, tl, value, vlen);
		free(t);
		if (hit)
			return 1;
	}
	return 0;
}

/* BODY: the text after the header, raw or decoded. */
static int
body_match(const struct store_msg *m, const char *value, size_t vlen)
{
	if (m->data == NULL || m->header_len > m->len)
		return 0;
	return imap_memcasemem(m->data + m->header_len,
	    m->len - m->header_len, value, vlen) ||
	    parts_match_decoded(m, value, vlen);
}

static time_t
day_of(time_t t)
{
	return t - ((t % 86400) + 86400) % 86400;
}

int
imap_search_match(const struct imap_search_key *k, const struct store_msg *m,
    uint32_t seq, uint32_t max_seq, uint32_t max_uid, int recent)
{
	time_t d;

	switch (k->type) {
	case IMAP_SK_ALL:
		return 1;
	case IMAP_SK_RECENT:
		return recent;
	case IMAP_SK_NEW:
		return recent && !imap_flags_have(m->flags, "\\Seen");
	case IMAP_SK_OLD:
		return !recent;
	case IMAP_SK_AND:
		for (size_t i = 0; i < k->nsub; i++)
			if (!imap_search_match(k->sub[i], m, seq, max_seq,
			    max_uid, recent))
				return 0;
		return 1;
	case IMAP_SK_OR:
		return imap_search_match(k->sub[0], m, seq, max_seq, max_uid,
		    recent) || imap_search_match(k->sub[1], m, seq, max_seq,
		    max_uid, recent);
	case IMAP_SK_NOT:
		return !imap_search_match(k->sub[0], m, seq, max_seq, max_uid,
		    recent);
	case IMAP_SK_SEQSET:
		return imap_seqset_contains(&k->set, seq, max_seq);
	case IMAP_SK_UIDSET:
		return imap_seqset_contains(&k->set, m->uid, max_uid);
	case IMAP_SK_FLAG:
		return imap_flags_have(m->flags, k->s1);
	case IMAP_SK_NOFLAG:
		return !imap_flags_have(m->flags, k->s1);
	case IMAP_SK_HEADER:
		if (m->data == NULL)
			return 0;
		return header_match(m->data, m->header_len <= m->len ?
		    m->header_len : m->len, k->s1, k->s2, k->s2len);
	case IMAP_SK_BODY:
		return body_match(m, k->s2, k->s2len);
	case IMAP_SK_TEXT:
		if (m->data == NULL)
			return 0;
		return imap_memcasemem(m->data, m->len, k->s2, k->s2len) ||
		    header_match(m->data, m->header_len <= m->len ?
		    m->header_len : m->len, NULL, k->s2, k->s2len) ||
		    body_match(m, k->s2, k->s2len);
	case IMAP_SK_BEFORE:
		return day_of(m->internaldate) < k->day;
	case IMAP_SK_ON:
		return day_of(m->internaldate) == k->day;
	case IMAP_SK_SINCE:
		return day_of(m->internaldate) >= k->day;
	case IMAP_SK_SENTBEFORE:
	case IMAP_SK_SENTON:
	case IMAP_SK_SENTSINCE:
		d = day_of(m->date != 0 ? m->date : m->internaldate);
		if (k->type == IMAP_SK_SENTBEFORE)
			return d < k->day;
		if (k->type == IMAP_SK_SENTON)
			return d == k->day;
		return d >= k->day;
	case IMAP_SK_LARGER:
		return m->size > k->n;
	case IMAP_SK_SMALLER:
		return m->size < k->n;
	}
	return 0;
}
