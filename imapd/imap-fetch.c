/*
 * imap-fetch: see imap-fetch.h. The section text inside "[...]" arrives
 * as part of one atom (the parser keeps brackets whole), so it is parsed
 * here with a cursor.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "errors.h"
#include "imap-fetch.h"
#include "imap-util.h"

struct cur {
	const char *s;
	size_t len, i;
};

static int
cur_word(struct cur *c, const char *w)
{
	size_t n = strlen(w);

	if (c->len - c->i < n || strncasecmp(c->s + c->i, w, n) != 0)
		return 0;
	c->i += n;
	return 1;
}

static int
cur_u32(struct cur *c, uint32_t *v_r)
{
	uint64_t v = 0;
	size_t start = c->i;

	while (c->i < c->len && c->s[c->i] >= '0' && c->s[c->i] <= '9') {
		v = v * 10 + (uint64_t)(c->s[c->i] - '0');
		if (v > UINT32_MAX)
			return CM_EPARSE;
		c->i++;
	}
	if (c->i == start)
		return CM_EPARSE;
	*v_r = (uint32_t)v;
	return 0;
}

static void
body_clear(struct imap_fetch_body *b)
{
	for (size_t i = 0; i < b->nfields; i++)
		free(b->fields[i]);
	free(b->fields);
	free(b->name);
	memset(b, 0, sizeof(*b));
}

void
imap_fetch_free(struct imap_fetch *f)
{
	for (size_t i = 0; i < f->nbodies; i++)
		body_clear(&f->bodies[i]);
	free(f->bodies);
	memset(f, 0, sizeof(*f));
}

/* header-list: "(" astring *(SP astring) ")" with atoms or quoted
 * strings (no literals inside a bracketed atom). */
static int
parse_fields(struct cur *c, struct imap_fetch_body *b)
{
	if (!cur_word(c, " ("))
		return CM_EPARSE;
	for (;;) {
		struct buf name;
		int rc = 0;

		buf_init(&name, 1000);
		if (c->i < c->len && c->s[c->i] == '"') {
			c->i++;
			while (c->i < c->len && c->s[c->i] != '"' && rc == 0) {
				if (c->s[c->i] == '\\' && c->i + 1 < c->len)
					c->i++;
				rc = buf_addc(&name, c->s[c->i++]);
			}
			if (c->i >= c->len)
				rc = CM_EPARSE;
			c->i++;
		} else {
			while (c->i < c->len && c->s[c->i] != ' ' &&
			    c->s[c->i] != ')' && rc == 0) {
				unsigned char ch = (unsigned char)c->s[c->i++];
				if (ch <= 0x20 || ch >= 0x7f || ch == ':' ||
				    ch == '(' || ch == '"')
					rc = CM_EPARSE;
				else
					rc = buf_addc(&name, (char)ch);
			}
		}
		if (rc == 0 && (name.len == 0 ||
		    b->nfields >= IMAP_FETCH_MAX_FIELDS))
			rc = CM_EPARSE;
		if (rc == 0) {
			char **nf = realloc(b->fields,
			    (b->nfields + 1) * sizeof(*nf));
			if (nf == NULL)
				rc = CM_ENOMEM;
			else {
				b->fields = nf;
				b->fields[b->nfields] = buf_take(&name, NULL);
				if (b->fields[b->nfields] == NULL)
					rc = CM_ENOMEM;
				else
					b->nfields++;
			}
		}
		buf_free(&name);
		if (rc < 0)
			return rc;
		if (c->i < c->len && c->s[c->i] == ')') {
			c->i++;
			return 0;
		}
		if (!cur_word(c, " "))
			return CM_EPARSE;
	}
}

/* section-msgtext after a part or at the top: HEADER, HEADER.FIELDS[.NOT]
 * (list), TEXT; MIME only after a part. */
static int
parse_msgtext(struct cur *c, struct imap_fetch_body *b, int after_part)
{
	if (cur_word(c, "HEADER.FIELDS.NOT")) {
		b->sect = IMAP_SECT_FIELDS_NOT;
		return parse_fields(c, b);
	}
	if (cur_word(c, "HEADER.FIELDS")) {
		b->sect = IMAP_SECT_FIELDS;
		return parse_fields(c, b);
	}
	if (cur_word(c, "HEADER")) {
		b->sect = IMAP_SECT_HEADER;
		return 0;
	}
	if (cur_word(c, "TEXT")) {
		b->sect = IMAP_SECT_TEXT;
		return 0;
	}
	if (after_part && cur_word(c, "MIME")) {
		b->sect = IMAP_SECT_MIME;
		return 0;
	}
	return CM_EPARSE;
}

/* "[section]<partial>" starting at c->i (at '['). */
static int
parse_section(struct cur *c, struct imap_fetch_body *b)
{
	size_t plen = 0;
	int rc;

	if (!cur_word(c, "["))
		return CM_EPARSE;
	b->sect = IMAP_SECT_ALL;
	if (c->i < c->len && c->s[c->i] >= '1' && c->s[c->i] <= '9') {
		for (;;) {
			uint32_t v;
			size_t start = c->i;
			if (c->s[c->i] < '1' || c->s[c->i] > '9' ||
			    cur_u32(c, &v) < 0)
				return CM_EPARSE;
			if (plen + (c->i - start) + 1 >= sizeof(b->part))
				return CM_EPARSE;
			if (plen > 0)
				b->part[plen++] = '.';
			memcpy(b->part + plen, c->s + start, c->i - start);
			plen += c->i - start;
			b->part[plen] = '\0';
			if (!cur_word(c, "."))
				break;
			if (c->i < c->len && (c->s[c->i] < '0' ||
			    c->s[c->i] > '9')) {
				if ((rc = parse_msgtext(c, b, 1)) < 0)
					return rc;
				break;
			}
		}
	} else if (c->i < c->len && c->s[c->i] != ']') {
		if ((rc = parse_msgtext(c, b, 0)) < 0)
			return rc;
	}
	if (!cur_word(c, "]"))
		return CM_EPARSE;
	if (c->i < c->len && c->s[c->i] == '<') {
		c->i++;
		if (cur_u32(c, &b->p_off) < 0 || !cur_word(c, ".") ||
		    cur_u32(c, &b->p_len) < 0 || b->p_len == 0 ||
		    !cur_word(c, ">"))
			return CM_EPARSE;
		b->partial = 1;
	}
	return c->i == c->len ? 0 : CM_EPARSE;
}

/* The response name: BODY[<section as sent, upper-cased keywords>]<off> */
static int
body_name(struct imap_fetch_body *b)
{
	static const char *const kw[] = { [IMAP_SECT_ALL] = "",
	    [IMAP_SECT_HEADER] = "HEADER", [IMAP_SECT_FIELDS] = "HEADER.FIELDS",
	    [IMAP_SECT_FIELDS_NOT] = "HEADER.FIELDS.NOT",
	    [IMAP_SECT_TEXT] = "TEXT", [IMAP_SECT_MIME] = "MIME" };
	struct buf n;
	int rc;

	buf_init(&n, 64 * 1024);
	rc = buf_printf(&n, "BODY[%s%s%s", b->part,
	    b->part[0] != '\0' && b->sect != IMAP_SECT_ALL ? "." : "",
	    kw[b->sect]);
	if (b->sect == IMAP_SECT_FIELDS || b->sect == IMAP_SECT_FIELDS_NOT) {
		if (rc == 0)
			rc = buf_addstr(&n, " (");
		for (size_t i = 0; rc == 0 && i < b->nfields; i++) {
			if (i > 0)
				rc = buf_addc(&n, ' ');
			if (rc == 0)
				rc = imap_append_astring(&n, b->fields[i],
				    strlen(b->fields[i]));
		}
		if (rc == 0)
			rc = buf_addc(&n, ')');
	}
	if (rc == 0)
		rc = buf_addc(&n, ']');
	if (rc == 0 && b->partial)
		rc = buf_printf(&n, "<%u>", b->p_off);
	if (rc == 0 && (b->name = buf_take(&n, NULL)) == NULL)
		rc = CM_ENOMEM;
	buf_free(&n);
	return rc;
}

static int
add_body(struct imap_fetch *f, struct imap_fetch_body *b)
{
	struct imap_fetch_body *nb;

	if (f->nbodies >= IMAP_FETCH_MAX_BODIES)
		return CM_ETOOBIG;
	nb = realloc(f->bodies, (f->nbodies + 1) * sizeof(*nb));
	if (nb == NULL)
		return CM_ENOMEM;
	f->bodies = nb;
	f->bodies[f->nbodies++] = *b;
	f->need_data = 1;
	if (!b->peek)
		f->sets_seen = 1;
	return 0;
}

static int
parse_item(const struct imap_arg *a, struct imap_fetch *f, int top)
{
	static const struct {
		const char *name;
		unsigned atts;
		int macro;
	} simple[] = {
		{ "ALL", IMAP_FA_FLAGS | IMAP_FA_INTERNALDATE | IMAP_FA_SIZE |
		    IMAP_FA_ENVELOPE, 1 },
		{ "FAST", IMAP_FA_FLAGS | IMAP_FA_INTERNALDATE | IMAP_FA_SIZE,
		    1 },
		{ "FULL", IMAP_FA_FLAGS | IMAP_FA_INTERNALDATE | IMAP_FA_SIZE |
		    IMAP_FA_ENVELOPE | IMAP_FA_BODY, 1 },
		{ "FLAGS", IMAP_FA_FLAGS, 0 },
		{ "INTERNALDATE", IMAP_FA_INTERNALDATE, 0 },
		{ "RFC822.SIZE", IMAP_FA_SIZE, 0 },
		{ "ENVELOPE", IMAP_FA_ENVELOPE, 0 },
		{ "BODYSTRUCTURE", IMAP_FA_BODYSTRUCTURE, 0 },
		{ "BODY", IMAP_FA_BODY, 0 },
		{ "UID", IMAP_FA_UID, 0 },
	};
	struct imap_fetch_body b;
	const char *s;
	struct cur c;
	int rc;

	if (a->type != IMAP_ARG_ATOM)
		return CM_EPARSE;
	s = a->str;
	for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++) {
		if (strcasecmp(s, simple[i].name) == 0) {
			if (simple[i].macro && !top)
				return CM_EPARSE;
			f->atts |= simple[i].atts;
			return 0;
		}
	}
	memset(&b, 0, sizeof(b));
	if (strcasecmp(s, "RFC822") == 0 ||
	    strcasecmp(s, "RFC822.HEADER") == 0 ||
	    strcasecmp(s, "RFC822.TEXT") == 0) {
		b.sect = s[6] == '\0' ? IMAP_SECT_ALL :
		    (s[7] | 0x20) == 'h' ? IMAP_SECT_HEADER : IMAP_SECT_TEXT;
		b.peek = b.sect == IMAP_SECT_HEADER;
		if ((b.name = strdup(s)) == NULL)
			return CM_ENOMEM;
		for (char *p = b.name; *p != '\0'; p++)
			if (*p >= 'a' && *p <= 'z')
				*p = (char)(*p - 'a' + 'A');
		if ((rc = add_body(f, &b)) < 0)
			body_clear(&b);
		return rc;
	}
	c.s = s;
	c.len = a->len;
	c.i = 0;
	if (cur_word(&c, "BODY.PEEK"))
		b.peek = 1;
	else if (!cur_word(&c, "BODY"))
		return CM_EPARSE;
	if ((rc = parse_section(&c, &b)) < 0 || (rc = body_name(&b)) < 0 ||
	    (rc = add_body(f, &b)) < 0) {
		body_clear(&b);
		return rc;
	}
	return 0;
}

int
imap_fetch_parse(const struct imap_arg *args, size_t n, struct imap_fetch *f,
    const char **err_r)
{
	int rc = 0;

	memset(f, 0, sizeof(*f));
	*err_r = "Invalid FETCH data item";
	if (n != 1) {
		*err_r = "FETCH takes a sequence set and items";
		return CM_EPARSE;
	}
	if (args[0].type == IMAP_ARG_LIST) {
		if (args[0].count == 0)
			rc = CM_EPARSE;
		for (size_t i = 0; rc == 0 && i < args[0].count; i++)
			rc = parse_item(&args[0].list[i], f, 0);
	} else {
		rc = parse_item(&args[0], f, 1);
	}
	if (rc < 0) {
		if (rc == CM_ETOOBIG)
			*err_r = "Too many body sections";
		imap_fetch_free(f);
		return CM_EPARSE;
	}
	return 0;
}

static const struct store_part *
find_part(const struct store_msg *m, const char *path)
{
	for (size_t i = 0; i < m->nparts; i++)
		if (strcmp(m->parts[i].path, path) == 0)
			return &m->parts[i];
	return NULL;
}

static int
field_listed(const struct imap_fetch_body *b, const char *name, size_t len)
{
	for (size_t i = 0; i < b->nfields; i++)
		if (strlen(b->fields[i]) == len &&
		    strncasecmp(b->fields[i], name, len) == 0)
			return 1;
	return 0;
}

/* The header block [p, p+len) filtered by b's field list into out, then
 * the empty line. */
static int
filter_fields(const struct imap_fetch_body *b, const char *p, size_t len,
    struct buf *out)
{
	size_t i = 0;
	int rc;

	while (i < len) {
		size_t start = i, nlen, end;
		int keep;

		/* the empty line ends the header */
		if (p[i] == '\n' || (p[i] == '\r' && i + 1 < len &&
		    p[i + 1] == '\n'))
			break;
		/* field runs to a line end not followed by SP/TAB */
		end = i;
		for (;;) {
			const char *nl = memchr(p + end, '\n', len - end);
			if (nl == NULL) {
				end = len;
				break;
			}
			end = (size_t)(nl - p) + 1;
			if (end >= len || (p[end] != ' ' && p[end] != '\t'))
				break;
		}
		for (nlen = 0; start + nlen < end && p[start + nlen] != ':';
		    nlen++)
			;
		if (start + nlen == end) {
			/* not a field (garbage line): never returned */
			i = end;
			continue;
		}
		while (nlen > 0 && (p[start + nlen - 1] == ' ' ||
		    p[start + nlen - 1] == '\t'))
			nlen--;
		keep = field_listed(b, p + start, nlen);
		if (b->sect == IMAP_SECT_FIELDS_NOT)
			keep = !keep;
		if (keep && (rc = buf_add(out, p + start, end - start)) < 0)
			return rc;
		i = end;
	}
	return buf_add(out, "\r\n", 2);
}

int
imap_fetch_section(const struct imap_fetch_body *b, const struct store_msg *m,
    struct buf *scratch, const char **p_r, size_t *len_r)
{
	size_t hs, he, ts, te;	/* header and text of the (sub)message */
	const struct store_part *pt = NULL;
	int rc;

	if (m->data == NULL)
		return 0;
	if (b->part[0] == '\0') {
		hs = 0;
		he = m->header_len <= m->len ? m->header_len : m->len;
		ts = he;
		te = m->len;
		if (b->sect == IMAP_SECT_ALL) {
			*p_r = m->data;
			*len_r = m->len;
			return 1;
		}
	} else {
		if ((pt = find_part(m, b->part)) == NULL)
			return 0;
		if (b->sect == IMAP_SECT_ALL) {
			*p_r = m->data + pt->body_off;
			*len_r = pt->end_off - pt->body_off;
			return 1;
		}
		if (b->sect == IMAP_SECT_MIME) {
			*p_r = m->data + pt->hdr_off;
			*len_r = pt->body_off - pt->hdr_off;
			return 1;
		}
		if (!pt->is_message)
			return 0;
		hs = pt->body_off;
		he = pt->inner_body_off;
		ts = he;
		te = pt->end_off;
	}
	switch (b->sect) {
	case IMAP_SECT_HEADER:
		*p_r = m->data + hs;
		*len_r = he - hs;
		return 1;
	case IMAP_SECT_TEXT:
		*p_r = m->data + ts;
		*len_r = te - ts;
		return 1;
	case IMAP_SECT_FIELDS:
	case IMAP_SECT_FIELDS_NOT:
		buf_reset(scratch);
		if ((rc = filter_fields(b, m->data + hs, he - hs, scratch)) < 0)
			return rc;
		*p_r = scratch->data;
		*len_r = scratch->len;
		return 1;
	default:
		return 0;
	}
}

static int
render_body(const struct imap_fetch_body *b, const struct store_msg *m,
    struct buf *scratch, struct buf *out)
{
	const char *p;
	size_t len;
	int rc;

	if ((rc = buf_addstr(out, b->name)) < 0 ||
	    (rc = buf_addc(out, ' ')) < 0)
		return rc;
	rc = imap_fetch_section(b, m, scratch, &p, &len);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return buf_addstr(out, "NIL");
	if (b->partial) {
		size_t off = b->p_off < len ? b->p_off : len;
		p += off;
		len -= off;
		if (len > b->p_len)
			len = b->p_len;
	}
	return imap_append_literal(out, p, len);
}

int
imap_fetch_render(const struct imap_fetch *f, uint32_t seq,
    const struct store_msg *m, int add_flags, int recent, struct buf *out)
{
	struct buf scratch;
	const char *sep = "";
	int rc;

	if ((rc = buf_printf(out, "* %u FETCH (", seq)) < 0)
		return rc;
	if (f->atts & IMAP_FA_UID) {
		rc = buf_printf(out, "%sUID %u", sep, m->uid);
		sep = " ";
	}
	if (rc == 0 && ((f->atts & IMAP_FA_FLAGS) || add_flags)) {
		rc = buf_printf(out, "%sFLAGS (%s%s)", sep, m->flags,
		    imap_flags_recent(m->flags, recent));
		sep = " ";
	}
	if (rc == 0 && (f->atts & IMAP_FA_INTERNALDATE)) {
		char d[32];
		imap_datetime_format(m->internaldate, d);
		rc = buf_printf(out, "%sINTERNALDATE \"%s\"", sep, d);
		sep = " ";
	}
	if (rc == 0 && (f->atts & IMAP_FA_SIZE)) {
		rc = buf_printf(out, "%sRFC822.SIZE %zu", sep, m->size);
		sep = " ";
	}
	if (rc == 0 && (f->atts & IMAP_FA_ENVELOPE)) {
		rc = buf_printf(out, "%sENVELOPE %s", sep, m->envelope);
		sep = " ";
	}
	if (rc == 0 && (f->atts & IMAP_FA_BODY)) {
		rc = buf_printf(out, "%sBODY %s", sep, m->body);
		sep = " ";
	}
	if (rc == 0 && (f->atts & IMAP_FA_BODYSTRUCTURE)) {
		rc = buf_printf(out, "%sBODYSTRUCTURE %s", sep,
		    m->bodystructure);
		sep = " ";
	}
	buf_init(&scratch, m->len + 8);
	for (size_t i = 0; rc == 0 && i < f->nbodies; i++) {
		rc = buf_addstr(out, sep);
		sep = " ";
		if (rc == 0)
			rc = render_body(&f->bodies[i], m, &scratch, out);
	}
	buf_free(&scratch);
	if (rc == 0)
		rc = buf_addstr(out, ")\r\n");
	return rc;
}
