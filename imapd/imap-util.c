/*
 * imap-util: see imap-util.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "errors.h"
#include "imap-parser.h"
#include "imap-util.h"

/* ---- sequence sets ---- */

static int
seq_number(const char *s, size_t len, size_t *i, uint32_t *v_r)
{
	uint64_t v = 0;
	size_t start = *i;

	if (*i < len && s[*i] == '*') {
		(*i)++;
		*v_r = IMAP_SEQ_STAR;
		return 0;
	}
	if (*i >= len || s[*i] < '1' || s[*i] > '9')
		return CM_EPARSE;
	while (*i < len && s[*i] >= '0' && s[*i] <= '9') {
		v = v * 10 + (uint64_t)(s[*i] - '0');
		if (v >= UINT32_MAX)
			return CM_EPARSE;
		(*i)++;
		if (*i - start > 10)
			return CM_EPARSE;
	}
	*v_r = (uint32_t)v;
	return 0;
}

int
imap_seqset_parse(const char *s, size_t len, struct imap_seqset *set_r)
{
	size_t i = 0, cap = 0;
	int rc;

	set_r->r = NULL;
	set_r->n = 0;
	if (len == 0)
		return CM_EPARSE;
	for (;;) {
		struct imap_seq_range r;

		if ((rc = seq_number(s, len, &i, &r.lo)) < 0)
			goto fail;
		r.hi = r.lo;
		if (i < len && s[i] == ':') {
			i++;
			if ((rc = seq_number(s, len, &i, &r.hi)) < 0)
				goto fail;
		}
		if (set_r->n == cap) {
			struct imap_seq_range *nr;
			if (cap >= IMAP_SEQSET_MAX_RANGES) {
				rc = CM_ETOOBIG;
				goto fail;
			}
			cap = cap ? cap * 2 : 4;
			nr = realloc(set_r->r, cap * sizeof(*nr));
			if (nr == NULL) {
				rc = CM_ENOMEM;
				goto fail;
			}
			set_r->r = nr;
		}
		set_r->r[set_r->n++] = r;
		if (i == len)
			return 0;
		if (s[i] != ',') {
			rc = CM_EPARSE;
			goto fail;
		}
		i++;
	}
fail:
	imap_seqset_free(set_r);
	return rc;
}

void
imap_seqset_free(struct imap_seqset *set)
{
	free(set->r);
	set->r = NULL;
	set->n = 0;
}

int
imap_seqset_contains(const struct imap_seqset *set, uint32_t v,
    uint32_t star_value)
{
	for (size_t k = 0; k < set->n; k++) {
		uint32_t lo = set->r[k].lo, hi = set->r[k].hi, t;
		if (lo == IMAP_SEQ_STAR)
			lo = star_value;
		if (hi == IMAP_SEQ_STAR)
			hi = star_value;
		if (lo > hi) {
			t = lo;
			lo = hi;
			hi = t;
		}
		if (v >= lo && v <= hi)
			return 1;
	}
	return 0;
}

/* ---- dates ---- */

static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May",
    "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

static int
digits(const char *s, size_t len, size_t *i, int n, int *v_r)
{
	int v = 0;

	for (int k = 0; k < n; k++) {
		if (*i >= len || s[*i] < '0' || s[*i] > '9')
			return CM_EPARSE;
		v = v * 10 + (s[*i] - '0');
		(*i)++;
	}
	*v_r = v;
	return 0;
}

static int
expect(const char *s, size_t len, size_t *i, char ch)
{
	if (*i >= len || s[*i] != ch)
		return CM_EPARSE;
	(*i)++;
	return 0;
}

/* "d-Mon-yyyy" or "dd-Mon-yyyy"; with sp_day, " d" is accepted too. */
static int
parse_day(const char *s, size_t len, size_t *i, int sp_day, struct tm *tm)
{
	int d, y;

	if (sp_day && *i < len && s[*i] == ' ')
		(*i)++;
	if (digits(s, len, i, 1, &d) < 0)
		return CM_EPARSE;
	if (*i < len && s[*i] >= '0' && s[*i] <= '9')
		d = d * 10 + (s[(*i)++] - '0');
	if (expect(s, len, i, '-') < 0 || len - *i < 4)
		return CM_EPARSE;
	tm->tm_mon = -1;
	for (int m = 0; m < 12; m++)
		if (strncasecmp(s + *i, months[m], 3) == 0)
			tm->tm_mon = m;
	if (tm->tm_mon < 0)
		return CM_EPARSE;
	*i += 3;
	if (expect(s, len, i, '-') < 0 || digits(s, len, i, 4, &y) < 0)
		return CM_EPARSE;
	if (d < 1 || d > 31 || y < 1900)
		return CM_EPARSE;
	tm->tm_mday = d;
	tm->tm_year = y - 1900;
	return 0;
}

int
imap_date_parse(const char *s, size_t len, time_t *t_r)
{
	struct tm tm = { 0 };
	size_t i = 0;

	if (parse_day(s, len, &i, 0, &tm) < 0 || i != len)
		return CM_EPARSE;
	*t_r = timegm(&tm);
	return 0;
}

int
imap_datetime_parse(const char *s, size_t len, time_t *t_r)
{
	struct tm tm = { 0 };
	size_t i = 0;
	int zh, zm, sign;

	if (parse_day(s, len, &i, 1, &tm) < 0 ||
	    expect(s, len, &i, ' ') < 0 ||
	    digits(s, len, &i, 2, &tm.tm_hour) < 0 ||
	    expect(s, len, &i, ':') < 0 ||
	    digits(s, len, &i, 2, &tm.tm_min) < 0 ||
	    expect(s, len, &i, ':') < 0 ||
	    digits(s, len, &i, 2, &tm.tm_sec) < 0 ||
	    expect(s, len, &i, ' ') < 0 || i >= len)
		return CM_EPARSE;
	if (s[i] != '+' && s[i] != '-')
		return CM_EPARSE;
	sign = s[i++] == '-' ? -1 : 1;
	if (digits(s, len, &i, 2, &zh) < 0 || digits(s, len, &i, 2, &zm) < 0 ||
	    i != len)
		return CM_EPARSE;
	if (tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60 || zm > 59)
		return CM_EPARSE;
	*t_r = timegm(&tm) - sign * (zh * 3600 + zm * 60);
	return 0;
}

void
imap_datetime_format(time_t t, char out[32])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(out, 32, "%02u-%s-%04u %02u:%02u:%02u +0000",
	    (unsigned)tm.tm_mday % 100u, months[tm.tm_mon % 12],
	    (unsigned)(tm.tm_year + 1900) % 10000u,
	    (unsigned)tm.tm_hour % 100u, (unsigned)tm.tm_min % 100u,
	    (unsigned)tm.tm_sec % 100u);
}

/* ---- flags ---- */

static const char *const sysflags[] = { "\\Answered", "\\Flagged",
    "\\Deleted", "\\Seen", "\\Draft" };

static int
atom_char(unsigned char ch)
{
	if (ch <= 0x20 || ch >= 0x7f)
		return 0;
	return strchr("(){%*\"\\]", ch) == NULL;
}

int
imap_flag_valid(const char *s)
{
	if (s[0] == '\\') {
		for (size_t k = 0; k < sizeof(sysflags) / sizeof(sysflags[0]);
		    k++)
			if (strcasecmp(s, sysflags[k]) == 0)
				return 1;
		return 0;
	}
	if (s[0] == '\0' || strlen(s) > IMAP_MAX_KEYWORD)
		return 0;
	for (; *s != '\0'; s++)
		if (!atom_char((unsigned char)*s))
			return 0;
	return 1;
}

int
imap_flags_have(const char *flags, const char *flag)
{
	size_t fl = strlen(flag);

	while (*flags != '\0') {
		const char *e = strchr(flags, ' ');
		size_t n = e != NULL ? (size_t)(e - flags) : strlen(flags);
		if (n == fl && strncasecmp(flags, flag, n) == 0)
			return 1;
		if (e == NULL)
			break;
		flags = e + 1;
	}
	return 0;
}

int
imap_flags_collect(const struct imap_arg *list, size_t n, struct buf *b)
{
	if (n > IMAP_MAX_FLAGS)
		return CM_ETOOBIG;
	for (size_t i = 0; i < n; i++) {
		const char *f;
		if (list[i].type != IMAP_ARG_ATOM || !imap_flag_valid(
		    (f = list[i].str)))
			return CM_EPARSE;
		for (size_t k = 0; k < sizeof(sysflags) / sizeof(sysflags[0]);
		    k++)
			if (strcasecmp(f, sysflags[k]) == 0)
				f = sysflags[k];
		if (imap_flags_have(b->data != NULL ? b->data : "", f))
			continue;
		if ((b->len > 0 && buf_addc(b, ' ') < 0) || buf_addstr(b, f) < 0)
			return CM_ETOOBIG;
	}
	return 0;
}

const char *
imap_flags_recent(const char *flags, int recent)
{
	if (!recent)
		return "";
	return *flags != '\0' ? " \\Recent" : "\\Recent";
}

/* ---- rendering ---- */

int
imap_append_literal(struct buf *out, const char *s, size_t len)
{
	int rc;

	if ((rc = buf_printf(out, "{%zu}\r\n", len)) < 0)
		return rc;
	return buf_add(out, s, len);
}

int
imap_append_string(struct buf *out, const char *s, size_t len)
{
	int rc;

	if (len > 1024)
		return imap_append_literal(out, s, len);
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == 0 || ch == '\r' || ch == '\n' || ch >= 0x80)
			return imap_append_literal(out, s, len);
	}
	if ((rc = buf_addc(out, '"')) < 0)
		return rc;
	for (size_t i = 0; i < len; i++) {
		if ((s[i] == '"' || s[i] == '\\') &&
		    (rc = buf_addc(out, '\\')) < 0)
			return rc;
		if ((rc = buf_addc(out, s[i])) < 0)
			return rc;
	}
	return buf_addc(out, '"');
}

int
imap_append_nstring(struct buf *out, const char *s, size_t len)
{
	if (s == NULL)
		return buf_addstr(out, "NIL");
	return imap_append_string(out, s, len);
}

int
imap_append_astring(struct buf *out, const char *s, size_t len)
{
	int atom = len > 0 && !(len == 3 && strncasecmp(s, "NIL", 3) == 0);

	for (size_t i = 0; atom && i < len; i++)
		if (!atom_char((unsigned char)s[i]))
			atom = 0;
	if (atom)
		return buf_add(out, s, len);
	return imap_append_string(out, s, len);
}

/* ---- base64 ---- */

static int
b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

long
imap_base64_decode(const char *in, size_t len, unsigned char *out)
{
	size_t o = 0;

	if (len % 4 != 0)
		return CM_EPARSE;
	for (size_t i = 0; i < len; i += 4) {
		int v[4], pad = 0;
		for (int k = 0; k < 4; k++) {
			unsigned char c = (unsigned char)in[i + k];
			if (c == '=' && i + 4 == len && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad > 0 || (v[k] = b64val(c)) < 0)
				return CM_EPARSE;
		}
		out[o++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
		if (pad < 2)
			out[o++] = (unsigned char)((v[1] & 15) << 4 | v[2] >> 2);
		if (pad < 1)
			out[o++] = (unsigned char)((v[2] & 3) << 6 | v[3]);
	}
	return (long)o;
}

/* ---- LIST wildcards ---- */

int
imap_list_match(const char *pat, const char *name)
{
	for (;;) {
		if (*pat == '\0')
			return *name == '\0';
		if (*pat == '*' || *pat == '%') {
			int pct = *pat == '%';
			pat++;
			for (const char *n = name;; n++) {
				if (imap_list_match(pat, n))
					return 1;
				if (*n == '\0' || (pct && *n == '/'))
					return 0;
			}
		}
		if (*name == '\0' || *pat != *name)
			return 0;
		pat++;
		name++;
	}
}

int
imap_memcasemem(const char *hay, size_t hlen, const char *needle,
    size_t nlen)
{
	if (nlen == 0)
		return 1;
	for (size_t i = 0; i + nlen <= hlen; i++) {
		if (strncasecmp(hay + i, needle, nlen) == 0)
			return 1;
	}
	return 0;
}

int
imap_idle_done(const char *line, size_t len)
{
	return len == 4 && strncasecmp(line, "DONE", 4) == 0;
}
