/*
 * smtp-parse: see smtp-parse.h. Cursor parsing over (pointer, end); every
 * step checks that bytes remain before reading one.
 */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "errors.h"
#include "smtp-parse.h"

struct cur {
	const unsigned char *p;
	const unsigned char *end;
};

static int
is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int
lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* Length of a well-formed UTF-8 sequence of 2..4 bytes at p (RFC 3629:
 * no overlongs, no surrogates, nothing above U+10FFFF), or 0. */
static size_t
utf8_len(const unsigned char *p, const unsigned char *end)
{
	size_t n, avail = (size_t)(end - p);
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;

	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (avail < n)
		return 0;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

/* RFC 5322 atext, plus UTF-8 (RFC 6531): the length of one character at
 * the cursor, or 0. */
static size_t
atext_len(const struct cur *c, int *utf8)
{
	static const char specials[] = "!#$%&'*+-/=?^_`{|}~";
	int ch;

	if (c->p >= c->end)
		return 0;
	ch = c->p[0];
	if (ch >= 0x80) {
		size_t n = utf8_len(c->p, c->end);
		if (n > 0)
			*utf8 = 1;
		return n;
	}
	if (is_alpha(ch) || is_digit(ch) || (ch != 0 && strchr(specials, ch)))
		return 1;
	return 0;
}

int
smtp_parse_line(const char *line, size_t len, struct smtp_line *out,
    const char **why_r)
{
	size_t i = 0;

	while (i < len && is_alpha((unsigned char)line[i]))
		i++;
	if (i == 0 || (i < len && line[i] != ' ')) {
		*why_r = "bad command syntax";
		return CM_EPARSE;
	}
	if (i > SMTP_MAX_VERB) {
		*why_r = "command not recognized";
		return CM_EPARSE;
	}
	out->verb = line;
	out->verb_len = i;
	while (i < len && line[i] == ' ')
		i++;
	while (len > i && line[len - 1] == ' ')
		len--;
	out->arg = line + i;
	out->arg_len = len - i;
	return 0;
}

int
smtp_verb_is(const struct smtp_line *l, const char *name)
{
	size_t n = strlen(name);

	if (l->verb_len != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)l->verb[i]) != lower((unsigned char)name[i]))
			return 0;
	return 1;
}

int
smtp_param_is(const struct smtp_param *p, const char *name)
{
	size_t n = strlen(name);

	if (p->key_len != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)p->key[i]) != lower((unsigned char)name[i]))
			return 0;
	return 1;
}

int
smtp_parse_size(const char *s, size_t len, unsigned long long *size_r)
{
	unsigned long long v = 0;

	if (s == NULL || len == 0 || len > 20)
		return CM_EPARSE;
	for (size_t i = 0; i < len; i++) {
		unsigned d;
		if (!is_digit((unsigned char)s[i]))
			return CM_EPARSE;
		d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return CM_ETOOBIG;
		v = v * 10 + d;
	}
	*size_r = v;
	return 0;
}

/* Case-insensitive prefix match; advances the cursor on success. */
static int
eat_word(struct cur *c, const char *w)
{
	size_t n = strlen(w);

	if ((size_t)(c->end - c->p) < n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (lower(c->p[i]) != lower((unsigned char)w[i]))
			return 0;
	c->p += n;
	return 1;
}

static int
eat(struct cur *c, int ch)
{
	if (c->p < c->end && c->p[0] == ch) {
		c->p++;
		return 1;
	}
	return 0;
}

/* Domain = sub-domain *("." sub-domain); sub-domain = Let-dig [Ldh-str]
 * (U-labels allowed). Labels at most 63 bytes, the whole at most 255. */
static int
parse_domain(struct cur *c, int *utf8, const char **why_r)
{
	const unsigned char *start = c->p;

	for (;;) {
		const unsigned char *label = c->p;
		int last_hyphen = 0;
		while (c->p < c->end) {
			int ch = c->p[0];
			if (is_alpha(ch) || is_digit(ch)) {
				c->p++;
				last_hyphen = 0;
			} else if (ch == '-' && c->p != label) {
				c->p++;
				last_hyphen = 1;
			} else if (ch >= 0x80) {
				size_t n = utf8_len(c->p, c->end);
				if (n == 0)
					break;
				*utf8 = 1;
				c->p += n;
				last_hyphen = 0;
			} else
				break;
		}
		if (c->p == label || last_hyphen) {
			*why_r = "bad domain syntax";
			return CM_EPARSE;
		}
		if (c->p - label > 63 || c->p - start > SMTP_MAX_DOMAIN) {
			*why_r = "domain too long";
			return CM_ETOOBIG;
		}
		if (!eat(c, '.'))
			return 0;
	}
}

/* "[" 1*dcontent "]", dcontent = %d33-90 / %d94-126 (RFC 5321 4.1.3). */
static int
parse_literal(struct cur *c, const char **why_r)
{
	const unsigned char *start = c->p;

	if (!eat(c, '['))
		goto bad;
	while (c->p < c->end && c->p[0] >= 33 && c->p[0] <= 126 &&
	    c->p[0] != '[' && c->p[0] != '\\' && c->p[0] != ']')
		c->p++;
	if (c->p - start < 2 || !eat(c, ']'))
		goto bad;
	if (c->p - start > SMTP_MAX_DOMAIN) {
		*why_r = "domain too long";
		return CM_ETOOBIG;
	}
	return 0;
bad:
	*why_r = "bad address literal";
	return CM_EPARSE;
}

/* Is s (n bytes) a dot-string: atoms separated by single dots? */
static int
is_dot_string(const unsigned char *s, size_t n)
{
	struct cur c = { s, s + n };
	int utf8 = 0;

	for (;;) {
		size_t k, atom = 0;
		while ((k = atext_len(&c, &utf8)) > 0) {
			c.p += k;
			atom++;
		}
		if (atom == 0)
			return 0;
		if (c.p == c.end)
			return 1;
		if (!eat(&c, '.'))
			return 0;
	}
}

/* Local-part = Dot-string / Quoted-string. Writes the normalised form
 * (quotes only when needed) to out, which has room for
 * 2 * SMTP_MAX_LOCAL + 3 bytes. */
static int
parse_local(struct cur *c, char *out, size_t *outlen_r, int *utf8,
    const char **why_r)
{
	const unsigned char *start = c->p;
	unsigned char content[SMTP_MAX_LOCAL];
	size_t clen = 0, o = 0;

	if (eat(c, '"')) {
		for (;;) {
			int ch;
			size_t n = 1;
			if (c->p >= c->end)
				goto bad;
			ch = c->p[0];
			if (ch == '"')
				break;
			if (ch == '\\') {
				c->p++;
				if (c->p >= c->end || c->p[0] < 32 ||
				    c->p[0] > 126)
					goto bad;
			} else if (ch >= 0x80) {
				if ((n = utf8_len(c->p, c->end)) == 0)
					goto bad;
				*utf8 = 1;
			} else if (ch < 32 || ch > 126)
				goto bad;
			if (clen + n > sizeof content || c->p - start >= SMTP_MAX_LOCAL)
				goto toolong;
			memcpy(content + clen, c->p, n);
			clen += n;
			c->p += n;
		}
		c->p++;			/* closing quote */
		if (c->p - start > SMTP_MAX_LOCAL)
			goto toolong;
	} else {
		for (;;) {
			size_t k, atom = 0;
			while ((k = atext_len(c, utf8)) > 0) {
				c->p += k;
				atom++;
			}
			if (atom == 0)
				goto bad;
			if (c->p - start > SMTP_MAX_LOCAL)
				goto toolong;
			if (c->p >= c->end || c->p[0] != '.')
				break;
			c->p++;
		}
		clen = (size_t)(c->p - start);
		memcpy(content, start, clen);
	}
	if (clen > 0 && is_dot_string(content, clen)) {
		memcpy(out, content, clen);
		o = clen;
	} else {
		out[o++] = '"';
		for (size_t i = 0; i < clen; i++) {
			if (content[i] == '"' || content[i] == '\\')
				out[o++] = '\\';
			out[o++] = (char)content[i];
		}
		out[o++] = '"';
	}
	*outlen_r = o;
	return 0;
bad:
	*why_r = "bad address syntax";
	return CM_EPARSE;
toolong:
	*why_r = "local part too long";
	return CM_ETOOBIG;
}

static int
parse_params(struct cur *c, struct smtp_path *out, const char **why_r)
{
	out->nparams = 0;
	for (;;) {
		struct smtp_param *pm;
		const unsigned char *k;
		if (c->p == c->end)
			return 0;
		if (!eat(c, ' '))
			goto bad;
		while (eat(c, ' '))
			;
		if (c->p == c->end)
			return 0;
		if (out->nparams == SMTP_MAX_PARAMS) {
			*why_r = "too many parameters";
			return CM_ETOOBIG;
		}
		pm = &out->params[out->nparams++];
		k = c->p;
		if (!is_alpha(c->p[0]) && !is_digit(c->p[0]))
			goto bad;
		while (c->p < c->end && (is_alpha(c->p[0]) ||
		    is_digit(c->p[0]) || c->p[0] == '-'))
			c->p++;
		pm->key = (const char *)k;
		pm->key_len = (size_t)(c->p - k);
		pm->val = NULL;
		pm->val_len = 0;
		if (eat(c, '=')) {
			const unsigned char *v = c->p;
			while (c->p < c->end) {
				int ch = c->p[0];
				if (ch >= 33 && ch <= 126 && ch != '=')
					c->p++;
				else if (ch >= 0x80) {
					size_t n = utf8_len(c->p, c->end);
					if (n == 0)
						goto bad;
					c->p += n;
				} else
					break;
			}
			if (c->p == v)
				goto bad;
			pm->val = (const char *)v;
			pm->val_len = (size_t)(c->p - v);
		}
	}
bad:
	*why_r = "bad parameter syntax";
	return CM_EPARSE;
}

int
smtp_parse_path(const char *arg, size_t len, enum smtp_path_kind kind,
    struct smtp_path *out, const char **why_r)
{
	struct cur c = { (const unsigned char *)arg,
	    (const unsigned char *)arg + len };
	const unsigned char *open;
	int utf8 = 0, rc;
	size_t llen, dstart;

	memset(out, 0, sizeof *out);
	out->domain = out->addr;
	if (!eat_word(&c, kind == SMTP_PATH_MAIL ? "FROM:" : "TO:")) {
		*why_r = kind == SMTP_PATH_MAIL ? "Syntax: MAIL FROM:<address>"
		    : "Syntax: RCPT TO:<address>";
		return CM_EPARSE;
	}
	while (eat(&c, ' '))		/* "MAIL FROM: <a@b>" is common */
		;
	open = c.p;
	if (!eat(&c, '<'))
		goto bad;
	if (kind == SMTP_PATH_MAIL && eat(&c, '>')) {
		out->null_path = 1;
		return parse_params(&c, out, why_r);
	}
	if (c.p < c.end && c.p[0] == '@') {
		/* A-d-l ":" : a source route, accepted and ignored (4.1.2) */
		do {
			int ignored = 0;
			if (!eat(&c, '@'))
				goto bad;
			if ((rc = parse_domain(&c, &ignored, why_r)) < 0)
				return rc;
			if (c.p - open > SMTP_MAX_PATH)
				goto toolong;
		} while (eat(&c, ','));
		if (!eat(&c, ':'))
			goto bad;
	}
	if ((rc = parse_local(&c, out->addr, &llen, &utf8, why_r)) < 0)
		return rc;
	out->local_len = llen;
	if (kind == SMTP_PATH_RCPT && c.p < c.end && c.p[0] == '>' &&
	    llen == 10 && strncasecmp(out->addr, "postmaster", 10) == 0) {
		c.p++;
		memcpy(out->addr, "postmaster", 11);
		out->domain = out->addr + 10;	/* "" */
		out->postmaster = 1;
		return parse_params(&c, out, why_r);
	}
	if (!eat(&c, '@'))
		goto bad;
	out->addr[llen] = '@';
	dstart = llen + 1;
	{
		const unsigned char *d = c.p;
		if (c.p < c.end && c.p[0] == '[') {
			rc = parse_literal(&c, why_r);
			out->literal = 1;
		} else
			rc = parse_domain(&c, &utf8, why_r);
		if (rc < 0)
			return rc;
		for (size_t i = 0; i < (size_t)(c.p - d); i++)
			out->addr[dstart + i] = (char)lower(d[i]);
		out->addr[dstart + (size_t)(c.p - d)] = '\0';
	}
	out->domain = out->addr + dstart;
	if (!eat(&c, '>'))
		goto bad;
	if (c.p - open > SMTP_MAX_PATH)
		goto toolong;
	out->utf8 = utf8 != 0;
	return parse_params(&c, out, why_r);
bad:
	*why_r = "bad address syntax";
	return CM_EPARSE;
toolong:
	*why_r = "path too long";
	return CM_ETOOBIG;
}

int
smtp_check_helo(const char *arg, size_t len, const char **why_r)
{
	const unsigned char *p = (const unsigned char *)arg, *end = p + len;

	if (len == 0) {
		*why_r = "Syntax: EHLO hostname";
		return CM_EPARSE;
	}
	if (len > SMTP_MAX_DOMAIN) {
		*why_r = "hostname too long";
		return CM_ETOOBIG;
	}
	if (p[0] == '[') {
		struct cur c = { p, end };
		if (parse_literal(&c, why_r) < 0 || c.p != end) {
			*why_r = "bad address literal";
			return CM_EPARSE;
		}
		return 0;
	}
	while (p < end) {
		if (is_alpha(p[0]) || is_digit(p[0]) || p[0] == '-' ||
		    p[0] == '_' || p[0] == '.')
			p++;
		else if (p[0] >= 0x80 && utf8_len(p, end) > 0)
			p += utf8_len(p, end);
		else {
			*why_r = "bad hostname syntax";
			return CM_EPARSE;
		}
	}
	return 0;
}
