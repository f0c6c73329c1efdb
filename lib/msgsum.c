/*
 * msgsum: one pass over a message that yields its IMAP ENVELOPE,
 * BODYSTRUCTURE, BODY, Date, header size and MIME part offsets. See
 * msgsum.h for the result.
 *
 * How it works. The MIME tree is found by our own scanner, which follows
 * RFC 2046 the way Dovecot's message-parser does, so that BODY[n] and the
 * sizes and line counts in BODYSTRUCTURE are the bytes and numbers that
 * Dovecot gives for the same message:
 *   - a header ends at the first empty line ("\r\n" or "\n"), which belongs
 *     to the header; without one the header runs to the end;
 *   - a delimiter is a line that starts with "--" followed by the boundary
 *     of any open multipart (the longest one that matches wins; text after
 *     it on the line is ignored); "--boundary--" closes the multipart;
 *   - the [CR]LF before a delimiter belongs to the delimiter, so a part's
 *     body ends before it; a delimiter met inside a part's header ends
 *     that header (and the part has an empty body);
 *   - text after a close delimiter (the epilogue) is part of the
 *     multipart's body until an outer delimiter or the end;
 *   - a part without Content-Type is text/plain, or message/rfc822 inside
 *     multipart/digest.
 * The scanner is a loop over an explicit stack (no recursion); the tree is
 * at most MSGSUM_MAX_DEPTH deep (a multipart or message/rfc822 part deeper
 * than that is described as an opaque application/octet-stream leaf) and
 * has at most MSGSUM_MAX_PARTS nodes (past that, the open parts run to the
 * end of the message).
 *
 * Header fields are split and unfolded here; their values are parsed with
 * libetpan: mailimf for addresses and dates, mailmime for Content-Type,
 * Content-Disposition and Content-Language. libetpan's mailmime_parse()
 * is not used for the tree: it gives no header/body offsets for parts
 * whose bodies it does not keep, and it recurses once per nesting level.
 * libetpan's comment parser recurses once per nested "(", so a value with
 * deeply nested parentheses is not handed to it (it counts as
 * unparseable), nor is a value longer than MSGSUM_MAX_FIELD.
 *
 * All renderings are complete IMAP syntax (strings via imapstr), ready to
 * be stored and sent as they are. Type, subtype and transfer encoding are
 * upper case; other values are as in the message.
 */
#include "config.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libetpan/libetpan.h>

#include "buf.h"
#include "errors.h"
#include "imapstr.h"
#include "msgsum.h"

#define MSGSUM_MAX_FIELD	(1024 * 1024)	/* longest value given to libetpan */
#define MSGSUM_MAX_PARENS	64		/* deepest ( nesting given to it */
#define MSGSUM_MAX_BOUNDARY	80		/* significant boundary bytes */
#define MSGSUM_MAX_RENDER	((size_t)256 * 1024 * 1024)

enum fld {
	F_DATE, F_SUBJECT, F_FROM, F_SENDER, F_REPLY_TO, F_TO, F_CC, F_BCC,
	F_IN_REPLY_TO, F_MESSAGE_ID,
	F_CTYPE, F_CTE, F_CID, F_CDESC, F_CDISP, F_CLANG, F_CLOC, F_MIMEV,
	F_NFIELDS,
	F_FIRST_MIME = F_CTYPE
};

static const char *const fld_names[F_NFIELDS] = {
	"Date", "Subject", "From", "Sender", "Reply-To", "To", "Cc", "Bcc",
	"In-Reply-To", "Message-ID",
	"Content-Type", "Content-Transfer-Encoding", "Content-ID",
	"Content-Description", "Content-Disposition", "Content-Language",
	"Content-Location", "MIME-Version",
};

struct range {
	size_t off, len;	/* raw value: after the colon, to the end of
				 * the field's last line */
	bool set;
};

struct node {
	struct node *parent, *child, *last_child, *next;
	size_t hdr_off, body_off, end_off;
	int depth;
	struct range f[F_NFIELDS];
	char *type, *subtype;	/* upper case */
	char *params;		/* rendered body-fld-param */
	char *boundary;		/* multipart with a boundary */
	size_t boundary_len;
	bool multipart, message, text, digest, opaque;
};

struct bnd {
	const char *b;
	size_t len;
	struct node *owner;
};

struct ctx {
	const char *d;
	size_t len;
	size_t pos;
	struct node *root, *cur;
	size_t nnodes;
	struct bnd stack[MSGSUM_MAX_DEPTH + 2];
	size_t nb;
	enum { ST_HEADER, ST_BODY } state;	/* what c->pos starts */
	bool done;
	int err;
};

/* ---- small helpers ---- */

static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static char *
dup_upper(const char *s)
{
	char *r = strdup(s != NULL ? s : "");
	if (r != NULL)
		for (char *p = r; *p != '\0'; p++)
			*p = (char)toupper((unsigned char)*p);
	return r;
}

/*
 * Unfold a raw header value (RFC 5322 section 2.2.3: the line breaks go,
 * the white space after them stays); leading and trailing white space goes
 * and NUL becomes 0x80.
 * Returns a malloc'd string (its length in *len_r), or NULL without memory.
 */
static char *
unfold(const char *d, const struct range *r, size_t *len_r)
{
	const char *s = d + r->off, *e = d + r->off + r->len;
	char *out = malloc(r->len + 1);
	size_t n = 0;

	if (out == NULL)
		return NULL;
	for (; s < e; s++) {
		if (*s == '\n' || (*s == '\r' && s + 1 < e && s[1] == '\n'))
			continue;
		if (n == 0 && is_wsp(*s))
			continue;
		/* NUL as 0x80 (as Dovecot does): renderings are C strings */
		out[n++] = *s != '\0' ? *s : (char)0x80;
	}
	while (n > 0 && (is_wsp(out[n - 1]) || out[n - 1] == '\r'))
		n--;
	out[n] = '\0';
	*len_r = n;
	return out;
}

/* Replace RFC 5322 comments (outside quoted strings) by a space, in
 * place; libetpan's address parser copes with far less than RFC 5322's
 * obsolete syntax allows, and comments carry nothing ENVELOPE needs. */
static void
strip_comments(char *v, size_t len)
{
	int depth = 0;
	bool quoted = false;

	for (size_t i = 0; i < len; i++) {
		char ch = v[i];
		if (ch == '\\' && i + 1 < len && (quoted || depth > 0)) {
			if (depth > 0)
				v[i] = v[i + 1] = ' ';
			i++;
			continue;
		}
		if (depth == 0 && ch == '"')
			quoted = !quoted;
		else if (!quoted && ch == '(')
			depth++;
		else if (!quoted && ch == ')' && depth > 0) {
			depth--;
			v[i] = ' ';
			continue;
		}
		if (depth > 0)
			v[i] = ' ';
	}
}

/* The text of the first top-level comment of v, trimmed, when it is the
 * value's last token (as in "user@host (Full Name)"); else NULL. */
static char *
first_comment(const char *v, size_t len)
{
	size_t i = 0, start = 0;
	int depth = 0;
	bool quoted = false;

	for (; i < len; i++) {
		if (v[i] == '\\') {
			i++;
		} else if (depth == 0 && v[i] == '"') {
			quoted = !quoted;
		} else if (!quoted && v[i] == '(') {
			if (depth++ == 0)
				start = i + 1;
		} else if (!quoted && v[i] == ')' && depth > 0 && --depth == 0) {
			break;
		}
	}
	if (i >= len || depth != 0)
		return NULL;
	for (size_t j = i + 1; j < len; j++)
		if (!is_wsp(v[j]))
			return NULL;
	while (start < i && is_wsp(v[start]))
		start++;
	size_t end = i;
	while (end > start && is_wsp(v[end - 1]))
		end--;
	if (end == start || memchr(v + start, '(', end - start) != NULL ||
	    memchr(v + start, '\\', end - start) != NULL)
		return NULL;
	return strndup(v + start, end - start);
}

/* Whether a value may be handed to libetpan (see the top of the file). */
static bool
etpan_safe(const char *s, size_t len)
{
	int depth = 0;
	bool quoted = false;

	if (len > MSGSUM_MAX_FIELD)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\\') {
			i++;
		} else if (s[i] == '"') {
			quoted = !quoted;
		} else if (s[i] == '(' && !quoted) {
			if (++depth > MSGSUM_MAX_PARENS)
				return false;
		} else if (s[i] == ')' && !quoted && depth > 0) {
			depth--;
		}
	}
	return true;
}

/* ---- the MIME scanner ---- */

static struct node *
node_new(struct ctx *c, struct node *parent, size_t hdr_off)
{
	struct node *n = calloc(1, sizeof(*n));

	if (n == NULL) {
		c->err = CM_ENOMEM;
		return NULL;
	}
	n->hdr_off = n->body_off = n->end_off = hdr_off;
	n->parent = parent;
	if (parent != NULL) {
		n->depth = parent->depth + 1;
		if (parent->last_child != NULL)
			parent->last_child->next = n;
		else
			parent->child = n;
		parent->last_child = n;
	}
	c->nnodes++;
	return n;
}

static void
node_free(struct node *n)
{
	/* iterative over siblings, recursive over depth (bounded) */
	while (n != NULL) {
		struct node *next = n->next;
		node_free(n->child);
		free(n->type);
		free(n->subtype);
		free(n->params);
		free(n->boundary);
		free(n);
		n = next;
	}
}

/* The open boundary that the line at `ls` is a delimiter of, or NULL. */
static struct bnd *
boundary_at(struct ctx *c, size_t ls)
{
	struct bnd *best = NULL;
	size_t avail;

	if (c->nb == 0 || ls + 2 > c->len || c->d[ls] != '-' ||
	    c->d[ls + 1] != '-')
		return NULL;
	avail = c->len - ls - 2;
	for (size_t i = c->nb; i-- > 0;) {
		struct bnd *b = &c->stack[i];
		if (b->len <= avail && memcmp(b->b, c->d + ls + 2, b->len) == 0 &&
		    (best == NULL || best->len < b->len))
			best = b;
	}
	return best;
}

static void
end_open_parts(struct ctx *c, struct node *upto, size_t end)
{
	for (struct node *n = c->cur; n != NULL && n != upto; n = n->parent) {
		n->end_off = end;
		if (n->body_off > end)
			n->body_off = end;
	}
}

/* A delimiter line of `b` starts at `ls`; the parts below b's owner end
 * at `end`. Moves the cursor past the line and decides what comes next. */
static void
delimiter(struct ctx *c, struct bnd *b, size_t ls, size_t end)
{
	struct node *owner = b->owner;
	size_t after = ls + 2 + b->len;
	bool close = after + 2 <= c->len && c->d[after] == '-' &&
	    c->d[after + 1] == '-';
	const char *lf;

	end_open_parts(c, owner, end);
	c->cur = owner;
	c->nb = (size_t)(b - c->stack) + (close ? 0 : 1);
	if (close)
		after += 2;
	lf = after < c->len ? memchr(c->d + after, '\n', c->len - after) : NULL;
	c->pos = lf != NULL ? (size_t)(lf - c->d) + 1 : c->len;
	c->state = ST_BODY;
	if (close)
		return;		/* epilogue: owner's body goes on */
	if (c->nnodes >= MSGSUM_MAX_PARTS) {
		/* too many parts: what is left belongs to the open parts */
		c->nb = 0;
		return;
	}
	struct node *n = node_new(c, owner, c->pos);
	if (n != NULL) {
		c->cur = n;
		c->state = ST_HEADER;
	}
}

/* The parameter value `name` of a parsed Content-Type, or NULL. */
static const char *
ct_param(struct mailmime_content *ct, const char *name)
{
	if (ct->ct_parameters == NULL)
		return NULL;
	for (clistiter *it = clist_begin(ct->ct_parameters); it != NULL;
	    it = clist_next(it)) {
		struct mailmime_parameter *p = clist_content(it);
		if (p->pa_name != NULL && strcasecmp(p->pa_name, name) == 0)
			return p->pa_value;
	}
	return NULL;
}

static const char *
ct_type_name(struct mailmime_type *t)
{
	if (t->tp_type == MAILMIME_TYPE_DISCRETE_TYPE) {
		struct mailmime_discrete_type *dt = t->tp_data.tp_discrete_type;
		switch (dt->dt_type) {
		case MAILMIME_DISCRETE_TYPE_TEXT: return "text";
		case MAILMIME_DISCRETE_TYPE_IMAGE: return "image";
		case MAILMIME_DISCRETE_TYPE_AUDIO: return "audio";
		case MAILMIME_DISCRETE_TYPE_VIDEO: return "video";
		case MAILMIME_DISCRETE_TYPE_APPLICATION: return "application";
		default: return dt->dt_extension;
		}
	}
	if (t->tp_type == MAILMIME_TYPE_COMPOSITE_TYPE) {
		struct mailmime_composite_type *ct = t->tp_data.tp_composite_type;
		switch (ct->ct_type) {
		case MAILMIME_COMPOSITE_TYPE_MESSAGE: return "message";
		case MAILMIME_COMPOSITE_TYPE_MULTIPART: return "multipart";
		default: return ct->ct_token;
		}
	}
	return NULL;
}

/* If `name` is an RFC 2231 section "base*N" or "base*N*": the length of
 * base, N in *sec_r and whether it is extended in *ext_r; else 0. */
static size_t
rfc2231_section(const char *name, unsigned *sec_r, bool *ext_r)
{
	const char *star = strchr(name, '*');
	const char *p;
	unsigned sec = 0;

	if (star == NULL || star == name || !isdigit((unsigned char)star[1]))
		return 0;
	for (p = star + 1; isdigit((unsigned char)*p) && sec < 10000; p++)
		sec = sec * 10 + (unsigned)(*p - '0');
	if (*p == '*')
		*ext_r = true, p++;
	else
		*ext_r = false;
	if (*p != '\0')
		return 0;
	*sec_r = sec;
	return (size_t)(star - name);
}

/* One body-fld-param member pair; RFC 2231 continuations ("name*0",
 * "name*1", ...) are joined into one "name" (or "name*" when the value is
 * in the extended charset'lang'%XX form, which clients decode). */
static int
render_param(struct buf *b, clist *params, struct mailmime_parameter *p,
    bool *any)
{
	unsigned sec;
	bool extended;
	size_t blen = rfc2231_section(p->pa_name, &sec, &extended);
	struct buf v;
	int r;

	if (blen == 0) {
		if ((r = buf_addstr(b, *any ? " " : "(")) < 0 ||
		    (r = imap_astring_render_cstr(b, p->pa_name)) < 0 ||
		    (r = buf_addc(b, ' ')) < 0)
			return r;
		*any = true;
		return imap_astring_render_cstr(b, p->pa_value);
	}
	if (sec != 0)
		return 0;	/* rendered with its section 0 */
	buf_init(&v, MSGSUM_MAX_FIELD);
	r = 0;
	for (unsigned want = 0; r == 0; want++) {
		bool found = false;
		for (clistiter *it = clist_begin(params); it != NULL;
		    it = clist_next(it)) {
			struct mailmime_parameter *q = clist_content(it);
			unsigned qs;
			bool qe;
			if (q->pa_name == NULL || q->pa_value == NULL ||
			    rfc2231_section(q->pa_name, &qs, &qe) != blen ||
			    qs != want ||
			    strncasecmp(q->pa_name, p->pa_name, blen) != 0)
				continue;
			extended = extended || qe;
			r = buf_addstr(&v, q->pa_value);
			found = true;
			break;
		}
		if (!found)
			break;
	}
	if (r == 0 && (r = buf_addstr(b, *any ? " " : "(")) == 0 &&
	    (r = imap_astring_render(b, p->pa_name, blen + extended)) == 0 &&
	    (r = buf_addc(b, ' ')) == 0)
		r = imap_astring_render(b, v.data != NULL ? v.data : "", v.len);
	*any = true;
	buf_free(&v);
	return r;
}

/* body-fld-param from a Content-Type's parameters; text gets a charset. */
static int
render_params(struct buf *b, struct mailmime_content *ct, bool text)
{
	bool any = false, charset = false;
	int r = 0;

	if (ct != NULL && ct->ct_parameters != NULL) {
		for (clistiter *it = clist_begin(ct->ct_parameters);
		    it != NULL && r == 0; it = clist_next(it)) {
			struct mailmime_parameter *p = clist_content(it);
			if (p->pa_name == NULL || p->pa_value == NULL)
				continue;
			if (strcasecmp(p->pa_name, "charset") == 0)
				charset = true;
			r = render_param(b, ct->ct_parameters, p, &any);
		}
	}
	if (r < 0)
		return r;
	if (text && !charset)
		r = buf_addstr(b, any ? " \"charset\" \"us-ascii\"" :
		    "(\"charset\" \"us-ascii\"");
	else if (!any)
		return buf_addstr(b, "NIL");
	if (r == 0)
		r = buf_addc(b, ')');
	return r;
}

/*
 * The boundary parameter of a Content-Type value, exactly as written (a
 * quoted string unquoted, nothing else changed: libetpan folds runs of
 * white space inside quoted strings, and a boundary may end in spaces).
 * Returns a malloc'd string or NULL.
 */
static char *
raw_boundary(const char *v, size_t len)
{
	size_t i = 0;
	bool quoted = false;

	while (i < len) {
		/* find the next ';' outside quotes */
		for (; i < len && (quoted || v[i] != ';'); i++) {
			if (v[i] == '\\' && quoted)
				i++;
			else if (v[i] == '"')
				quoted = !quoted;
		}
		if (i >= len)
			return NULL;
		i++;
		while (i < len && is_wsp(v[i]))
			i++;
		if (len - i < 8 || strncasecmp(v + i, "boundary", 8) != 0)
			continue;
		size_t j = i + 8;
		while (j < len && is_wsp(v[j]))
			j++;
		if (j >= len || v[j] != '=')
			continue;
		j++;
		while (j < len && is_wsp(v[j]))
			j++;
		char *out = malloc(len - j + 1);
		size_t n = 0;
		if (out == NULL)
			return NULL;
		if (j < len && v[j] == '"') {
			for (j++; j < len && v[j] != '"'; j++) {
				if (v[j] == '\\' && j + 1 < len)
					j++;
				out[n++] = v[j];
			}
		} else {
			while (j < len && v[j] != ';' && !is_wsp(v[j]) &&
			    v[j] != '(')
				out[n++] = v[j++];
		}
		out[n] = '\0';
		if (n > 0)
			return out;
		free(out);
		return NULL;
	}
	return NULL;
}

/* The content type of node n, from its header (its end just reached). */

/* Whether a Content-Type value has a '/' before its parameters. */
static bool
has_subtype(const char *v, size_t len)
{
	for (size_t i = 0; i < len && v[i] != ';'; i++)
		if (v[i] == '/')
			return true;
	return false;
}

static void
content_type(struct ctx *c, struct node *n, bool at_eoh)
{
	struct mailmime_content *ct = NULL;
	const char *tname = NULL, *sub = NULL;
	char *rawb = NULL;
	struct buf pb;

	if ((n->parent == NULL || n->parent->message) && !n->f[F_CTYPE].set &&
	    !n->f[F_MIMEV].set) {
		/* not MIME: its Content-* fields mean nothing (Dovecot) */
		for (int i = F_CTE; i <= F_CLOC; i++)
			n->f[i].set = false;
	}
	if (n->f[F_CTYPE].set) {
		size_t vlen, idx = 0;
		char *v = unfold(c->d, &n->f[F_CTYPE], &vlen);
		if (v == NULL) {
			c->err = CM_ENOMEM;
			return;
		}
		if (etpan_safe(v, vlen) &&
		    mailmime_content_parse(v, vlen, &idx, &ct) !=
		    MAILIMF_NO_ERROR)
			ct = NULL;
		if (ct != NULL && !has_subtype(v, vlen)) {
			/* libetpan makes "text" into text/unknown; RFC 2045
			 * 5.2: an invalid Content-Type means text/plain */
			mailmime_content_free(ct);
			ct = NULL;
		}
		if (ct != NULL && at_eoh)
			rawb = raw_boundary(v, vlen);
		free(v);
		if (ct != NULL) {
			tname = ct_type_name(ct->ct_type);
			sub = ct->ct_subtype;
			if (tname == NULL || sub == NULL) {
				mailmime_content_free(ct);
				ct = NULL;
				tname = sub = NULL;
			}
		}
	} else if (n->parent != NULL && n->parent->digest) {
		tname = "message";
		sub = "rfc822";
	}
	if (tname == NULL) {
		tname = "text";
		sub = "plain";
	}
	n->type = dup_upper(tname);
	n->subtype = dup_upper(sub);
	n->text = strcasecmp(tname, "text") == 0;
	n->multipart = strcasecmp(tname, "multipart") == 0;
	n->message = strcasecmp(tname, "message") == 0 &&
	    (strcasecmp(sub, "rfc822") == 0 || strcasecmp(sub, "global") == 0);
	n->digest = n->multipart && strcasecmp(sub, "digest") == 0;
	buf_init(&pb, MSGSUM_MAX_RENDER);
	if (render_params(&pb, ct, n->text) < 0) {
		buf_free(&pb);
		c->err = CM_ENOMEM;
	} else {
		n->params = buf_take(&pb, NULL);
	}
	if (n->multipart && ct != NULL && at_eoh) {
		const char *bv = rawb != NULL ? rawb : ct_param(ct, "boundary");
		if (bv != NULL && *bv != '\0') {
			/* RFC 2046 allows 70; longer ones count by their
			 * first MSGSUM_MAX_BOUNDARY bytes, as in Dovecot */
			n->boundary_len = strlen(bv);
			if (n->boundary_len > MSGSUM_MAX_BOUNDARY)
				n->boundary_len = MSGSUM_MAX_BOUNDARY;
			n->boundary = strndup(bv, n->boundary_len);
		}
	}
	if (ct != NULL)
		mailmime_content_free(ct);
	free(rawb);
	if (n->type == NULL || n->subtype == NULL)
		c->err = CM_ENOMEM;
	if ((n->multipart || n->message) &&
	    (n->depth >= MSGSUM_MAX_DEPTH || c->nnodes >= MSGSUM_MAX_PARTS))
		n->opaque = true;
}

/* Parse the header of c->cur, which starts at c->pos. */
static void
scan_header(struct ctx *c)
{
	struct node *n = c->cur;
	const char *d = c->d;
	size_t p = c->pos, hend;
	int curf = -1;
	bool eoh = false;

	for (;;) {
		if (p >= c->len) {
			hend = c->len;
			break;
		}
		struct bnd *b = boundary_at(c, p);
		if (b != NULL) {
			/* the [CR]LF before the delimiter is the delimiter's */
			hend = p;
			if (hend > n->hdr_off && d[hend - 1] == '\n') {
				hend--;
				if (hend > n->hdr_off && d[hend - 1] == '\r')
					hend--;
			}
			n->body_off = hend;
			content_type(c, n, false);
			delimiter(c, b, p, p);
			/* the [CR]LF is the delimiter's for n, but counts in
			 * the bodies of n's parents (as in Dovecot) */
			n->end_off = hend;
			return;
		}
		if (d[p] == '\n' || (d[p] == '\r' && p + 1 < c->len &&
		    d[p + 1] == '\n')) {
			hend = p + (d[p] == '\n' ? 1 : 2);
			eoh = true;
			break;
		}
		const char *lf = memchr(d + p, '\n', c->len - p);
		size_t le = lf != NULL ? (size_t)(lf - d) + 1 : c->len;
		if (is_wsp(d[p])) {
			if (curf >= 0)
				n->f[curf].len = le - n->f[curf].off;
		} else {
			const char *colon = memchr(d + p, ':', le - p);
			curf = -1;
			if (colon != NULL) {
				size_t ne = (size_t)(colon - d);
				while (ne > p && is_wsp(d[ne - 1]))
					ne--;
				for (int i = 0; i < F_NFIELDS; i++) {
					if (strlen(fld_names[i]) == ne - p &&
					    strncasecmp(fld_names[i], d + p,
					    ne - p) == 0) {
						/* ENVELOPE takes the last of
						 * repeated fields, MIME the
						 * first (both as Dovecot) */
						if (!n->f[i].set ||
						    i < F_FIRST_MIME) {
							curf = i;
							n->f[i].set = true;
							n->f[i].off = (size_t)(colon - d) + 1;
							n->f[i].len = le - n->f[i].off;
						}
						break;
					}
				}
			}
		}
		p = le;
	}
	n->body_off = hend;
	c->pos = hend;
	content_type(c, n, eoh);
	if (c->err != 0)
		return;
	if (eoh) {
		/* a blank line followed by a delimiter of an enclosing
		 * multipart: the blank line's [CR]LF belongs to the
		 * delimiter, so the header ends before it and the body is
		 * empty; n's parents count it in their bodies (Dovecot) */
		struct bnd *b = boundary_at(c, hend);
		bool own = b != NULL && n->multipart && !n->opaque &&
		    n->boundary != NULL && n->boundary_len >= b->len &&
		    c->len - hend >= 2 + n->boundary_len &&
		    memcmp(c->d + hend + 2, n->boundary, n->boundary_len) == 0;
		if (b != NULL && !own) {
			n->body_off = p;
			delimiter(c, b, hend, hend);
			n->end_off = p;
			return;
		}
	}
	if (n->opaque || c->pos >= c->len) {
		/* described as a leaf */
	} else if (n->multipart && n->boundary != NULL) {
		if (c->nb < sizeof(c->stack) / sizeof(c->stack[0])) {
			c->stack[c->nb].b = n->boundary;
			c->stack[c->nb].len = n->boundary_len;
			c->stack[c->nb].owner = n;
			c->nb++;
		}
	} else if (n->message) {
		struct node *m = node_new(c, n, c->pos);
		if (m != NULL)
			c->cur = m;
		c->state = ST_HEADER;	/* the encapsulated message's */
		return;
	}
	c->state = ST_BODY;
}

/* Scan the body of c->cur from c->pos to the next delimiter or the end. */
static void
scan_body(struct ctx *c)
{
	size_t p = c->pos;
	struct bnd *b;

	if (c->nb == 0) {
		end_open_parts(c, NULL, c->len);
		c->done = true;
		return;
	}
	if ((b = boundary_at(c, p)) != NULL) {
		delimiter(c, b, p, p);
		return;
	}
	for (;;) {
		const char *lf = p < c->len ? memchr(c->d + p, '\n', c->len - p) :
		    NULL;
		if (lf == NULL) {
			end_open_parts(c, NULL, c->len);
			c->done = true;
			return;
		}
		size_t q = (size_t)(lf - c->d);
		if ((b = boundary_at(c, q + 1)) != NULL) {
			size_t end = q;
			if (end > c->pos && c->d[end - 1] == '\r')
				end--;
			delimiter(c, b, q + 1, end);
			return;
		}
		p = q + 1;
	}
}

static void
scan(struct ctx *c)
{
	c->root = c->cur = node_new(c, NULL, 0);
	c->state = ST_HEADER;
	while (c->err == 0 && !c->done && c->cur != NULL) {
		if (c->state == ST_HEADER)
			scan_header(c);
		else
			scan_body(c);
	}
}

/* ---- renderings ---- */

static int render_body(struct ctx *c, struct buf *b, struct node *n,
    bool ext);

static int
render_field(struct ctx *c, struct buf *b, struct node *n, enum fld f)
{
	size_t vlen;
	char *v;
	int r;

	if (n == NULL || !n->f[f].set)
		return buf_addstr(b, "NIL");
	if ((v = unfold(c->d, &n->f[f], &vlen)) == NULL)
		return CM_ENOMEM;
	r = imap_astring_render(b, v, vlen);
	free(v);
	return r;
}

static int
render_mailbox(struct buf *b, struct mailimf_mailbox *mb)
{
	const char *at = strrchr(mb->mb_addr_spec, '@');
	const char *dn = mb->mb_display_name;
	int r;

	if ((r = buf_addc(b, '(')) < 0 ||
	    (r = imap_astring_render_cstr(b, dn != NULL && *dn != '\0' ?
	    dn : NULL)) < 0 ||
	    (r = buf_addstr(b, " NIL ")) < 0)
		return r;
	if (at == NULL) {
		/* host NIL would mean group syntax; Dovecot's marker */
		if ((r = imap_astring_render_cstr(b, mb->mb_addr_spec)) < 0 ||
		    (r = buf_addstr(b, " \"MISSING_DOMAIN\"")) < 0)
			return r;
	} else {
		if ((r = imap_astring_render(b, mb->mb_addr_spec,
		    (size_t)(at - mb->mb_addr_spec))) < 0 ||
		    (r = buf_addc(b, ' ')) < 0 ||
		    (r = imap_astring_render_cstr(b, at + 1)) < 0)
			return r;
	}
	return buf_addc(b, ')');
}

/* The next field named `name` of the header [*p, end): its raw value
 * (continuation lines included) in *r; *p moves past it. */
static bool
next_field(const char *d, size_t *p, size_t end, const char *name,
    struct range *r)
{
	size_t nl = strlen(name);

	while (*p < end) {
		size_t ls = *p;
		const char *lf = memchr(d + ls, '\n', end - ls);
		size_t le = lf != NULL ? (size_t)(lf - d) + 1 : end;
		*p = le;
		if (is_wsp(d[ls]))
			continue;
		const char *colon = memchr(d + ls, ':', le - ls);
		if (colon == NULL)
			continue;
		size_t ne = (size_t)(colon - d);
		while (ne > ls && is_wsp(d[ne - 1]))
			ne--;
		if (ne - ls != nl || strncasecmp(d + ls, name, nl) != 0)
			continue;
		while (*p < end && is_wsp(d[*p])) {
			lf = memchr(d + *p, '\n', end - *p);
			*p = lf != NULL ? (size_t)(lf - d) + 1 : end;
		}
		r->off = (size_t)(colon - d) + 1;
		r->len = *p - r->off;
		r->set = true;
		return true;
	}
	return false;
}

/* The addresses of one field value, appended without the list's
 * parentheses; *count counts them. */
static int
render_address_value(struct ctx *c, struct buf *b, const struct range *rg,
    int *count)
{
	struct mailimf_address_list *al = NULL;
	size_t vlen, idx = 0;
	char *v;
	int r = 0;

	if ((v = unfold(c->d, rg, &vlen)) == NULL)
		return CM_ENOMEM;
	char *comment = first_comment(v, vlen);
	strip_comments(v, vlen);
	if (vlen == 0 || !etpan_safe(v, vlen) ||
	    mailimf_address_list_parse(v, vlen, &idx, &al) != MAILIMF_NO_ERROR)
		al = NULL;
	free(v);
	if (al == NULL) {
		free(comment);
		return 0;
	}
	/* "user@host (Full Name)": the comment names a lone mailbox */
	if (comment != NULL && clist_count(al->ad_list) == 1) {
		struct mailimf_address *a = clist_content(clist_begin(al->ad_list));
		if (a->ad_type == MAILIMF_ADDRESS_MAILBOX &&
		    a->ad_data.ad_mailbox != NULL &&
		    a->ad_data.ad_mailbox->mb_display_name == NULL) {
			a->ad_data.ad_mailbox->mb_display_name = comment;
			comment = NULL;	/* freed with the list */
		}
	}
	free(comment);
	for (clistiter *it = clist_begin(al->ad_list); it != NULL && r == 0;
	    it = clist_next(it)) {
		struct mailimf_address *a = clist_content(it);
		if (a->ad_type == MAILIMF_ADDRESS_MAILBOX &&
		    a->ad_data.ad_mailbox != NULL) {
			r = render_mailbox(b, a->ad_data.ad_mailbox);
			(*count)++;
		} else if (a->ad_type == MAILIMF_ADDRESS_GROUP &&
		    a->ad_data.ad_group != NULL) {
			struct mailimf_group *g = a->ad_data.ad_group;
			r = buf_addstr(b, "(NIL NIL ");
			if (r == 0)
				r = imap_astring_render_cstr(b,
				    g->grp_display_name != NULL ?
				    g->grp_display_name : "");
			if (r == 0)
				r = buf_addstr(b, " NIL)");
			if (g->grp_mb_list != NULL)
				for (clistiter *jt = clist_begin(
				    g->grp_mb_list->mb_list);
				    jt != NULL && r == 0; jt = clist_next(jt))
					r = render_mailbox(b, clist_content(jt));
			if (r == 0)
				r = buf_addstr(b, "(NIL NIL NIL NIL)");
			(*count)++;
		}
	}
	mailimf_address_list_free(al);
	return r;
}

/* An address list, or nothing (the caller writes NIL) when the field is
 * missing, empty or unparseable. A field given more than once gives all
 * its addresses (as in Dovecot: a second From is not hidden). Returns 1
 * when something was rendered. */
static int
render_addresses(struct ctx *c, struct buf *b, struct node *n, enum fld f)
{
	size_t mark = b->len, p;
	struct range rg;
	int r, count = 0;

	if (n == NULL || !n->f[f].set)
		return 0;
	if ((r = buf_addc(b, '(')) < 0)
		return r;
	p = n->hdr_off;
	while (r == 0 && next_field(c->d, &p, n->body_off, fld_names[f], &rg))
		r = render_address_value(c, b, &rg, &count);
	if (r == 0)
		r = buf_addc(b, ')');
	if (r < 0)
		return r;
	if (count == 0) {
		b->len = mark;
		b->data[mark] = '\0';
		return 0;
	}
	return 1;
}

static int
render_envelope(struct ctx *c, struct buf *b, struct node *n)
{
	static const enum fld order[] = {
		F_FROM, F_SENDER, F_REPLY_TO, F_TO, F_CC, F_BCC,
	};
	int r;

	if ((r = buf_addc(b, '(')) < 0 ||
	    (r = render_field(c, b, n, F_DATE)) < 0 ||
	    (r = buf_addc(b, ' ')) < 0 ||
	    (r = render_field(c, b, n, F_SUBJECT)) < 0)
		return r;
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		if ((r = buf_addc(b, ' ')) < 0)
			return r;
		r = render_addresses(c, b, n, order[i]);
		if (r == 0 && (order[i] == F_SENDER || order[i] == F_REPLY_TO))
			r = render_addresses(c, b, n, F_FROM);
		if (r == 0)
			r = buf_addstr(b, "NIL");
		if (r < 0)
			return r;
	}
	if ((r = buf_addc(b, ' ')) < 0 ||
	    (r = render_field(c, b, n, F_IN_REPLY_TO)) < 0 ||
	    (r = buf_addc(b, ' ')) < 0 ||
	    (r = render_field(c, b, n, F_MESSAGE_ID)) < 0)
		return r;
	return buf_addc(b, ')');
}

static int
render_encoding(struct ctx *c, struct buf *b, struct node *n)
{
	size_t vlen, i = 0;
	char *v;
	int r;

	if (!n->f[F_CTE].set)
		return buf_addstr(b, "\"7BIT\"");
	if ((v = unfold(c->d, &n->f[F_CTE], &vlen)) == NULL)
		return CM_ENOMEM;
	while (i < vlen && !is_wsp(v[i]) && v[i] != ';' && v[i] != '(')
		i++;
	v[i] = '\0';
	for (char *p = v; *p != '\0'; p++)
		*p = (char)toupper((unsigned char)*p);
	r = imap_astring_render(b, i > 0 ? v : "7BIT", i > 0 ? i : 4);
	free(v);
	return r;
}

static int
render_disposition(struct ctx *c, struct buf *b, struct node *n)
{
	struct mailmime_disposition *dsp = NULL;
	size_t vlen, idx = 0;
	char *v;
	int r = 0;
	bool any = false;

	if (!n->f[F_CDISP].set)
		return buf_addstr(b, "NIL");
	if ((v = unfold(c->d, &n->f[F_CDISP], &vlen)) == NULL)
		return CM_ENOMEM;
	if (!etpan_safe(v, vlen) || mailmime_disposition_parse(v, vlen, &idx,
	    &dsp) != MAILIMF_NO_ERROR)
		dsp = NULL;
	free(v);
	if (dsp == NULL)
		return buf_addstr(b, "NIL");
	switch (dsp->dsp_type->dsp_type) {
	case MAILMIME_DISPOSITION_TYPE_INLINE:
		r = buf_addstr(b, "(\"INLINE\" ");
		break;
	case MAILMIME_DISPOSITION_TYPE_ATTACHMENT:
		r = buf_addstr(b, "(\"ATTACHMENT\" ");
		break;
	default:
		r = buf_addc(b, '(');
		if (r == 0)
			r = imap_astring_render_cstr(b,
			    dsp->dsp_type->dsp_extension != NULL ?
			    dsp->dsp_type->dsp_extension : "");
		if (r == 0)
			r = buf_addc(b, ' ');
		break;
	}
	/* as name/value pairs, so that RFC 2231 sections are joined */
	struct mailmime_parameter *pv = NULL;
	clist *pl = clist_new();
	size_t np = dsp->dsp_parms != NULL ? (size_t)clist_count(dsp->dsp_parms) :
	    0;
	char (*num)[32] = NULL;
	if (pl == NULL || (np > 0 && ((pv = calloc(np, sizeof(*pv))) == NULL ||
	    (num = calloc(np, sizeof(*num))) == NULL)))
		r = CM_ENOMEM;
	size_t k = 0;
	for (clistiter *it = dsp->dsp_parms != NULL && r == 0 ?
	    clist_begin(dsp->dsp_parms) : NULL; it != NULL && k < np;
	    it = clist_next(it)) {
		struct mailmime_disposition_parm *p = clist_content(it);
		char *name = NULL, *val = NULL;
		switch (p->pa_type) {
		case MAILMIME_DISPOSITION_PARM_FILENAME:
			name = "filename", val = p->pa_data.pa_filename;
			break;
		case MAILMIME_DISPOSITION_PARM_CREATION_DATE:
			name = "creation-date", val = p->pa_data.pa_creation_date;
			break;
		case MAILMIME_DISPOSITION_PARM_MODIFICATION_DATE:
			name = "modification-date",
			val = p->pa_data.pa_modification_date;
			break;
		case MAILMIME_DISPOSITION_PARM_READ_DATE:
			name = "read-date", val = p->pa_data.pa_read_date;
			break;
		case MAILMIME_DISPOSITION_PARM_SIZE:
			snprintf(num[k], sizeof(num[k]), "%zu",
			    p->pa_data.pa_size);
			name = "size", val = num[k];
			break;
		default:
			if (p->pa_data.pa_parameter != NULL) {
				name = p->pa_data.pa_parameter->pa_name;
				val = p->pa_data.pa_parameter->pa_value;
			}
			break;
		}
		if (name == NULL || val == NULL)
			continue;
		pv[k].pa_name = name;
		pv[k].pa_value = val;
		if (clist_append(pl, &pv[k]) < 0) {
			r = CM_ENOMEM;
			break;
		}
		k++;
	}
	for (clistiter *it = r == 0 ? clist_begin(pl) : NULL;
	    it != NULL && r == 0; it = clist_next(it))
		r = render_param(b, pl, clist_content(it), &any);
	if (pl != NULL)
		clist_free(pl);
	free(pv);
	free(num);
	if (r == 0)
		r = buf_addstr(b, any ? "))" : "NIL)");
	mailmime_disposition_free(dsp);
	return r;
}

/* Content-Language (RFC 3282): a comma-separated list of tags. libetpan's
 * mailmime_language_parse() returns no tags for "en-US", so it is split
 * here. */
static int
render_language(struct ctx *c, struct buf *b, struct node *n)
{
	size_t vlen, i = 0;
	char *v;
	int r = 0;
	bool any = false;

	if (!n->f[F_CLANG].set)
		return buf_addstr(b, "NIL");
	if ((v = unfold(c->d, &n->f[F_CLANG], &vlen)) == NULL)
		return CM_ENOMEM;
	strip_comments(v, vlen);
	while (i < vlen && r == 0) {
		while (i < vlen && (is_wsp(v[i]) || v[i] == ','))
			i++;
		size_t start = i;
		while (i < vlen && !is_wsp(v[i]) && v[i] != ',')
			i++;
		if (i == start)
			break;
		r = buf_addstr(b, any ? " " : "(");
		if (r == 0)
			r = imap_astring_render(b, v + start, i - start);
		any = true;
	}
	free(v);
	if (r == 0)
		r = buf_addstr(b, any ? ")" : "NIL");
	return r;
}

static size_t
count_lines(const char *d, size_t from, size_t to)
{
	size_t lines = 0;
	const char *p = d + from, *e = d + to, *lf;

	while (p < e && (lf = memchr(p, '\n', (size_t)(e - p))) != NULL) {
		lines++;
		p = lf + 1;
	}
	return lines;
}

/* what a multipart without parts or a message/rfc822 without a message
 * is described as (as Dovecot does) */
static const char empty_body[] =
    "(\"TEXT\" \"PLAIN\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 0 0)";
static const char empty_body_ext[] =
    "(\"TEXT\" \"PLAIN\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 0 0 "
    "NIL NIL NIL NIL)";

static int
render_body(struct ctx *c, struct buf *b, struct node *n, bool ext)
{
	int r;

	if (n->multipart && !n->opaque) {
		if ((r = buf_addc(b, '(')) < 0)
			return r;
		if (n->child == NULL && (r = buf_addstr(b, ext ?
		    empty_body_ext : empty_body)) < 0)
			return r;
		for (struct node *k = n->child; k != NULL; k = k->next)
			if ((r = render_body(c, b, k, ext)) < 0)
				return r;
		if ((r = buf_addc(b, ' ')) < 0 ||
		    (r = imap_astring_render_cstr(b, n->subtype)) < 0)
			return r;
		if (ext && ((r = buf_addc(b, ' ')) < 0 ||
		    (r = buf_addstr(b, n->params)) < 0 ||
		    (r = buf_addc(b, ' ')) < 0 ||
		    (r = render_disposition(c, b, n)) < 0 ||
		    (r = buf_addc(b, ' ')) < 0 ||
		    (r = render_language(c, b, n)) < 0 ||
		    (r = buf_addc(b, ' ')) < 0 ||
		    (r = render_field(c, b, n, F_CLOC)) < 0))
			return r;
		return buf_addc(b, ')');
	}
	bool opaque_composite = n->opaque && (n->multipart || n->message);
	if ((r = buf_addc(b, '(')) < 0)
		return r;
	if (opaque_composite)
		r = buf_addstr(b, "\"APPLICATION\" \"OCTET-STREAM\" NIL");
	else if ((r = imap_astring_render_cstr(b, n->type)) == 0 &&
	    (r = buf_addc(b, ' ')) == 0 &&
	    (r = imap_astring_render_cstr(b, n->subtype)) == 0 &&
	    (r = buf_addc(b, ' ')) == 0)
		r = buf_addstr(b, n->params);
	if (r < 0 ||
	    (r = buf_addc(b, ' ')) < 0 ||
	    (r = render_field(c, b, n, F_CID)) < 0 ||
	    (r = buf_addc(b, ' ')) < 0 ||
	    (r = render_field(c, b, n, F_CDESC)) < 0 ||
	    (r = buf_addc(b, ' ')) < 0 ||
	    (r = render_encoding(c, b, n)) < 0 ||
	    (r = buf_printf(b, " %zu", n->end_off - n->body_off)) < 0)
		return r;
	if (n->message && !n->opaque) {
		struct node *m = n->child;
		if ((r = buf_addc(b, ' ')) < 0)
			return r;
		if (m != NULL && m->type != NULL) {
			if ((r = render_envelope(c, b, m)) < 0 ||
			    (r = buf_addc(b, ' ')) < 0 ||
			    (r = render_body(c, b, m, ext)) < 0)
				return r;
		} else if ((r = buf_addstr(b, "(NIL NIL NIL NIL NIL NIL NIL NIL "
		    "NIL NIL) ")) < 0 || (r = buf_addstr(b, ext ?
		    empty_body_ext : empty_body)) < 0) {
			return r;
		}
		if ((r = buf_printf(b, " %zu", count_lines(c->d, n->body_off,
		    n->end_off))) < 0)
			return r;
	} else if (n->text && (r = buf_printf(b, " %zu", count_lines(c->d,
	    n->body_off, n->end_off))) < 0) {
		return r;
	}
	if (ext && ((r = buf_addstr(b, " NIL ")) < 0 ||
	    (r = render_disposition(c, b, n)) < 0 ||
	    (r = buf_addc(b, ' ')) < 0 ||
	    (r = render_language(c, b, n)) < 0 ||
	    (r = buf_addc(b, ' ')) < 0 ||
	    (r = render_field(c, b, n, F_CLOC)) < 0))
		return r;
	return buf_addc(b, ')');
}

/* ---- the part list ---- */

struct plist {
	struct msgsum_part *v;
	size_t n, cap;
};

static int emit_message(struct plist *pl, struct node *root,
    const char *prefix);

static int
emit_part(struct plist *pl, struct node *n, const char *path)
{
	struct msgsum_part *p;

	if (pl->n == pl->cap)
		return 0;	/* cannot happen: cap is the node count */
	p = &pl->v[pl->n++];
	memset(p, 0, sizeof(*p));
	snprintf(p->path, sizeof(p->path), "%s", path);
	p->hdr_off = n->hdr_off;
	p->body_off = n->body_off;
	p->end_off = n->end_off;
	if (n->multipart && !n->opaque) {
		char sub[sizeof(p->path)];
		size_t i = 1;
		p->kind = MSGSUM_MULTIPART;
		for (struct node *k = n->child; k != NULL; k = k->next, i++) {
			int w = snprintf(sub, sizeof(sub), "%s.%zu", path, i);
			if (w < 0 || (size_t)w >= sizeof(sub))
				break;
			emit_part(pl, k, sub);
		}
	} else if (n->message && !n->opaque) {
		p->kind = MSGSUM_MESSAGE;
		p->inner_body_off = n->body_off;
		if (n->child != NULL) {
			p->inner_body_off = n->child->body_off;
			return emit_message(pl, n->child, path);
		}
	} else {
		p->kind = MSGSUM_LEAF;
	}
	return 0;
}

static int
emit_message(struct plist *pl, struct node *root, const char *prefix)
{
	char sub[sizeof(((struct msgsum_part *)0)->path)];
	const char *dot = *prefix != '\0' ? "." : "";
	int w;

	if (root->multipart && !root->opaque) {
		size_t i = 1;
		for (struct node *k = root->child; k != NULL; k = k->next, i++) {
			w = snprintf(sub, sizeof(sub), "%s%s%zu", prefix, dot, i);
			if (w < 0 || (size_t)w >= sizeof(sub))
				break;
			emit_part(pl, k, sub);
		}
		return 0;
	}
	w = snprintf(sub, sizeof(sub), "%s%s1", prefix, dot);
	if (w < 0 || (size_t)w >= sizeof(sub))
		return 0;
	return emit_part(pl, root, sub);
}

/* ---- Date ---- */

static int64_t
days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static time_t
parse_date(struct ctx *c, struct node *n)
{
	struct mailimf_date_time *dt = NULL;
	size_t vlen, idx = 0;
	char *v;
	time_t t = 0;

	if (!n->f[F_DATE].set || (v = unfold(c->d, &n->f[F_DATE], &vlen)) == NULL)
		return 0;
	if (!etpan_safe(v, vlen) ||
	    mailimf_date_time_parse(v, vlen, &idx, &dt) != MAILIMF_NO_ERROR)
		dt = NULL;
	free(v);
	if (dt == NULL)
		return 0;
	if (dt->dt_year >= 1970 && dt->dt_year <= 9999 &&
	    dt->dt_month >= 1 && dt->dt_month <= 12 &&
	    dt->dt_day >= 1 && dt->dt_day <= 31 &&
	    dt->dt_hour >= 0 && dt->dt_hour <= 23 &&
	    dt->dt_min >= 0 && dt->dt_min <= 59 &&
	    dt->dt_sec >= 0 && dt->dt_sec <= 60 &&
	    dt->dt_zone >= -9959 && dt->dt_zone <= 9959) {
		int z = dt->dt_zone < 0 ? -dt->dt_zone : dt->dt_zone;
		int64_t off = (int64_t)(z / 100 * 60 + z % 100) * 60;
		int64_t s = days_from_civil(dt->dt_year, dt->dt_month,
		    dt->dt_day) * 86400 + dt->dt_hour * 3600 + dt->dt_min * 60 +
		    dt->dt_sec - (dt->dt_zone < 0 ? -off : off);
		if (s > 0)
			t = (time_t)s;
	}
	mailimf_date_time_free(dt);
	return t;
}

/* ---- entry points ---- */

int
msgsum_parse(const char *data, size_t len, struct msgsum **sum_r)
{
	struct ctx c;
	struct msgsum *s;
	struct buf b;
	struct plist pl = {0};
	int r;

	*sum_r = NULL;
	memset(&c, 0, sizeof(c));
	c.d = data != NULL ? data : "";
	c.len = data != NULL ? len : 0;
	scan(&c);
	if (c.err == 0 && c.root->type == NULL)
		content_type(&c, c.root, false);	/* cannot happen */
	if (c.err != 0 || (s = calloc(1, sizeof(*s))) == NULL) {
		node_free(c.root);
		return CM_ENOMEM;
	}
	s->header_len = c.root->body_off;
	s->date = parse_date(&c, c.root);
	buf_init(&b, MSGSUM_MAX_RENDER);
	if ((r = render_envelope(&c, &b, c.root)) < 0)
		goto fail;
	s->envelope = buf_take(&b, NULL);
	if ((r = render_body(&c, &b, c.root, true)) < 0)
		goto fail;
	s->bodystructure = buf_take(&b, NULL);
	if ((r = render_body(&c, &b, c.root, false)) < 0)
		goto fail;
	s->body = buf_take(&b, NULL);
	if (c.root->f[F_SUBJECT].set) {
		size_t vlen;
		s->subject = unfold(c.d, &c.root->f[F_SUBJECT], &vlen);
	} else {
		s->subject = strdup("");
	}
	pl.cap = c.nnodes;
	pl.v = calloc(pl.cap, sizeof(*pl.v));
	if (pl.v == NULL || s->subject == NULL || s->envelope == NULL ||
	    s->bodystructure == NULL || s->body == NULL) {
		r = CM_ENOMEM;
		goto fail;
	}
	emit_message(&pl, c.root, "");
	s->parts = pl.v;
	s->nparts = pl.n;
	node_free(c.root);
	*sum_r = s;
	return 0;
fail:
	buf_free(&b);
	free(pl.v);
	node_free(c.root);
	msgsum_free(&s);
	return r < 0 ? r : CM_ENOMEM;
}

void
msgsum_free(struct msgsum **sump)
{
	struct msgsum *s = *sump;

	if (s == NULL)
		return;
	free(s->envelope);
	free(s->bodystructure);
	free(s->body);
	free(s->subject);
	free(s->parts);
	free(s);
	*sump = NULL;
}
