/*
 * imap-parser: see imap-parser.h. A byte-driven state machine; the token
 * being read accumulates in p->tok, finished arguments go into the list
 * at the top of p->stack (level 0 is the command line itself).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "errors.h"
#include "imap-parser.h"

enum pstate {
	P_ARG,		/* between arguments */
	P_ATOM,
	P_QUOTED,
	P_QUOTED_ESC,
	P_LIT_SIZE,	/* after '{' */
	P_LIT_CLOSE,	/* after '+', expecting '}' */
	P_LIT_CR,	/* after '}', expecting CR */
	P_LIT_LF,
	P_LIT_DATA,
	P_CR,		/* after CR at end of line, expecting LF */
	P_SKIP,		/* error: skipping to the end of the line */
	P_SKIP_LF,
	P_DONE,
};

struct arglist {
	struct imap_arg *v;
	size_t n, cap;
};

struct imap_parser {
	size_t max_line, max_literal;
	enum pstate st;
	struct arglist stack[IMAP_PARSER_MAX_DEPTH + 1];
	int depth;
	struct buf tok;
	int bracket;		/* '[' depth inside an atom */
	int lit_sync;
	uint64_t lit_size;
	size_t lit_left;
	size_t line_used;	/* bytes outside literals */
	size_t lit_total;	/* sum of literal sizes */
	size_t nargs;
	const char *err;
	char tag[64];
	int have_tag;
};

static void
args_free(struct imap_arg *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].str);
		args_free(v[i].list, v[i].count);
	}
	free(v);
}

void
imap_parser_reset(struct imap_parser *p)
{
	for (int i = 0; i <= IMAP_PARSER_MAX_DEPTH; i++) {
		args_free(p->stack[i].v, p->stack[i].n);
		p->stack[i].v = NULL;
		p->stack[i].n = p->stack[i].cap = 0;
	}
	p->depth = 0;
	p->st = P_ARG;
	buf_reset(&p->tok);
	p->bracket = 0;
	p->lit_sync = 0;
	p->lit_size = 0;
	p->lit_left = 0;
	p->line_used = 0;
	p->lit_total = 0;
	p->nargs = 0;
	p->err = NULL;
	p->tag[0] = '\0';
	p->have_tag = 0;
}

struct imap_parser *
imap_parser_new(size_t max_line, size_t max_literal)
{
	struct imap_parser *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->max_line = max_line;
	p->max_literal = max_literal;
	/* a token is at most the line (or a literal, whichever is larger) */
	buf_init(&p->tok, max_line > max_literal ? max_line : max_literal);
	imap_parser_reset(p);
	return p;
}

void
imap_parser_free(struct imap_parser **pp)
{
	struct imap_parser *p = *pp;

	if (p == NULL)
		return;
	imap_parser_reset(p);
	buf_free(&p->tok);
	free(p);
	*pp = NULL;
}

static int
push_arg(struct imap_parser *p, struct imap_arg *a)
{
	struct arglist *l = &p->stack[p->depth];

	if (p->nargs >= IMAP_PARSER_MAX_ARGS) {
		p->err = "Too many arguments";
		return -1;
	}
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 8;
		struct imap_arg *nv = realloc(l->v, nc * sizeof(*nv));
		if (nv == NULL) {
			p->err = "Out of memory";
			return -1;
		}
		l->v = nv;
		l->cap = nc;
	}
	l->v[l->n++] = *a;
	p->nargs++;
	if (p->depth == 0 && l->n == 1 && a->type == IMAP_ARG_ATOM &&
	    a->len < sizeof(p->tag)) {
		memcpy(p->tag, a->str, a->len + 1);
		p->have_tag = 1;
	}
	return 0;
}

/* Finish the token in p->tok as an argument of the given type. */
static int
push_tok(struct imap_parser *p, enum imap_arg_type type)
{
	struct imap_arg a = { 0 };

	a.type = type;
	a.str = buf_take(&p->tok, &a.len);
	if (a.str == NULL) {
		p->err = "Out of memory";
		return -1;
	}
	if (type == IMAP_ARG_ATOM && a.len == 3 &&
	    (a.str[0] | 0x20) == 'n' && (a.str[1] | 0x20) == 'i' &&
	    (a.str[2] | 0x20) == 'l')
		a.type = IMAP_ARG_NIL;
	if (push_arg(p, &a) < 0) {
		free(a.str);
		return -1;
	}
	return 0;
}

static int
is_atom_char(unsigned char ch)
{
	if (ch <= 0x20 || ch >= 0x7f)
		return 0;
	return ch != '(' && ch != ')' && ch != '{' && ch != '"';
}

/* Account one byte of the line outside literals. */
static int
line_byte(struct imap_parser *p)
{
	if (p->line_used >= p->max_line) {
		p->err = "Command line too long";
		return -1;
	}
	p->line_used++;
	return 0;
}

static void
fail(struct imap_parser *p, const char *why, unsigned char ch)
{
	if (p->err == NULL)
		p->err = why;
	p->st = ch == '\r' ? P_SKIP_LF : P_SKIP;
}

enum imap_parse_result
imap_parser_feed(struct imap_parser *p, const char *data, size_t len,
    size_t *consumed_r)
{
	size_t i = 0;

	while (i < len) {
		unsigned char ch = (unsigned char)data[i];

		if (p->st == P_DONE)
			break;
		if (p->st == P_LIT_DATA) {
			size_t take = len - i < p->lit_left ? len - i :
			    p->lit_left;
			if (buf_add(&p->tok, data + i, take) < 0) {
				p->err = "Out of memory";
				p->st = P_SKIP;
				i += take;
				continue;
			}
			i += take;
			p->lit_left -= take;
			if (p->lit_left == 0) {
				if (push_tok(p, IMAP_ARG_LITERAL) < 0)
					p->st = P_SKIP;
				else
					p->st = P_ARG;
			}
			continue;
		}
		i++;
		if (p->st == P_SKIP) {
			if (ch == '\r')
				p->st = P_SKIP_LF;
			continue;
		}
		if (p->st == P_SKIP_LF) {
			if (ch == '\n') {
				p->st = P_DONE;
				*consumed_r = i;
				return IMAP_PARSE_ERROR;
			}
			if (ch != '\r')
				p->st = P_SKIP;
			continue;
		}
		if (line_byte(p) < 0) {
			fail(p, p->err, ch);
			continue;
		}
		switch (p->st) {
		case P_ARG:
			if (ch == ' ')
				break;
			if (ch == '\r') {
				if (p->depth > 0) {
					fail(p, "Unterminated list", ch);
					break;
				}
				p->st = P_CR;
			} else if (ch == '(') {
				if (p->depth >= IMAP_PARSER_MAX_DEPTH) {
					fail(p, "Lists nested too deep", ch);
					break;
				}
				p->depth++;
			} else if (ch == ')') {
				struct imap_arg a = { 0 };
				if (p->depth == 0) {
					fail(p, "Unexpected ')'", ch);
					break;
				}
				a.type = IMAP_ARG_LIST;
				a.list = p->stack[p->depth].v;
				a.count = p->stack[p->depth].n;
				p->stack[p->depth].v = NULL;
				p->stack[p->depth].n = 0;
				p->stack[p->depth].cap = 0;
				p->depth--;
				if (push_arg(p, &a) < 0) {
					args_free(a.list, a.count);
					fail(p, p->err, ch);
				}
			} else if (ch == '"') {
				buf_reset(&p->tok);
				p->st = P_QUOTED;
			} else if (ch == '{') {
				p->lit_size = 0;
				p->lit_sync = 1;
				p->st = P_LIT_SIZE;
				buf_reset(&p->tok);
			} else if (is_atom_char(ch)) {
				buf_reset(&p->tok);
				/* "[" opens a section only after a name
				 * (BODY[...]); a leading one is plain text */
				p->bracket = 0;
				if (buf_addc(&p->tok, (char)ch) < 0)
					fail(p, "Out of memory", ch);
				else
					p->st = P_ATOM;
			} else {
				fail(p, "Invalid character", ch);
			}
			break;
		case P_ATOM:
			if (p->bracket > 0 && ch == '\r') {
				/* an unmatched '[' just ends with the line;
				 * whoever reads the atom judges it */
				p->bracket = 0;
			}
			if (p->bracket > 0) {
				if (ch == '\n' || ch == 0 || ch >= 0x80) {
					fail(p, "Invalid character in atom", ch);
					break;
				}
				if (ch == '[')
					p->bracket++;
				else if (ch == ']')
					p->bracket--;
			} else if (ch == '[') {
				p->bracket = 1;
			} else if (ch == ' ' || ch == '\r' || ch == ')') {
				if (push_tok(p, IMAP_ARG_ATOM) < 0) {
					fail(p, p->err, ch);
					break;
				}
				p->st = P_ARG;
				/* let P_ARG see the delimiter */
				i--;
				p->line_used--;
				break;
			} else if (!is_atom_char(ch)) {
				fail(p, "Invalid character in atom", ch);
				break;
			}
			if (buf_addc(&p->tok, (char)ch) < 0)
				fail(p, "Out of memory", ch);
			break;
		case P_QUOTED:
			if (ch == '"') {
				if (push_tok(p, IMAP_ARG_STRING) < 0)
					fail(p, p->err, ch);
				else
					p->st = P_ARG;
				break;
			}
			if (ch == '\\') {
				p->st = P_QUOTED_ESC;
				break;
			}
			if (ch == '\r' || ch == '\n' || ch == 0) {
				fail(p, "Invalid character in quoted string",
				    ch);
				break;
			}
			if (buf_addc(&p->tok, (char)ch) < 0)
				fail(p, "Out of memory", ch);
			break;
		case P_QUOTED_ESC:
			if (ch != '"' && ch != '\\') {
				fail(p, "Invalid escape in quoted string", ch);
				break;
			}
			if (buf_addc(&p->tok, (char)ch) < 0)
				fail(p, "Out of memory", ch);
			else
				p->st = P_QUOTED;
			break;
		case P_LIT_SIZE:
			if (ch >= '0' && ch <= '9') {
				/* cap at a value above any real limit so the
				 * arithmetic cannot overflow */
				if (p->lit_size > (UINT64_C(1) << 40)) {
					fail(p, "Literal size too large", ch);
					break;
				}
				p->lit_size = p->lit_size * 10 + (ch - '0');
				buf_addc(&p->tok, (char)ch);
			} else if (ch == '+' && p->tok.len > 0) {
				p->lit_sync = 0;
				p->st = P_LIT_CLOSE;
			} else if (ch == '}' && p->tok.len > 0) {
				p->st = P_LIT_CR;
			} else {
				fail(p, "Invalid literal size", ch);
			}
			break;
		case P_LIT_CLOSE:
			if (ch == '}')
				p->st = P_LIT_CR;
			else
				fail(p, "Invalid literal size", ch);
			break;
		case P_LIT_CR:
			if (ch == '\r')
				p->st = P_LIT_LF;
			else
				fail(p, "Literal size not followed by CRLF",
				    ch);
			break;
		case P_LIT_LF:
			if (ch != '\n') {
				fail(p, "Literal size not followed by CRLF",
				    ch);
				break;
			}
			buf_reset(&p->tok);
			if (p->lit_size > p->max_literal - p->lit_total) {
				p->err = "Literal too large";
				p->st = P_DONE;
				*consumed_r = i;
				return p->lit_sync ? IMAP_PARSE_ERROR :
				    IMAP_PARSE_FATAL;
			}
			p->lit_total += (size_t)p->lit_size;
			p->lit_left = (size_t)p->lit_size;
			if (p->lit_left == 0) {
				if (push_tok(p, IMAP_ARG_LITERAL) < 0) {
					fail(p, p->err, ch);
					break;
				}
				p->st = P_ARG;
			} else {
				p->st = P_LIT_DATA;
			}
			if (p->lit_sync) {
				*consumed_r = i;
				return IMAP_PARSE_LITERAL;
			}
			break;
		case P_CR:
			if (ch != '\n') {
				fail(p, "CR not followed by LF", ch);
				break;
			}
			p->st = P_DONE;
			*consumed_r = i;
			return IMAP_PARSE_DONE;
		default:
			break;
		}
	}
	*consumed_r = i;
	return IMAP_PARSE_MORE;
}

const struct imap_arg *
imap_parser_args(const struct imap_parser *p, size_t *count_r)
{
	*count_r = p->stack[0].n;
	return p->stack[0].v;
}

const char *
imap_parser_error(const struct imap_parser *p)
{
	return p->err != NULL ? p->err : "Syntax error";
}

const char *
imap_parser_tag(const struct imap_parser *p)
{
	return p->have_tag ? p->tag : NULL;
}

void
imap_parser_set_max_literal(struct imap_parser *p, size_t max_literal)
{
	p->max_literal = max_literal;
}

size_t
imap_parser_literal_size(const struct imap_parser *p)
{
	return (size_t)p->lit_size;
}

int
imap_arg_astring(const struct imap_arg *a, const char **s_r, size_t *len_r)
{
	if (a->type == IMAP_ARG_LIST)
		return 0;
	*s_r = a->str;
	if (len_r != NULL)
		*len_r = a->len;
	return 1;
}

int
imap_arg_string(const struct imap_arg *a, const char **s_r, size_t *len_r)
{
	if (a->type != IMAP_ARG_STRING && a->type != IMAP_ARG_LITERAL)
		return 0;
	*s_r = a->str;
	if (len_r != NULL)
		*len_r = a->len;
	return 1;
}

int
imap_arg_atom(const struct imap_arg *a, const char **s_r)
{
	if (a->type != IMAP_ARG_ATOM && a->type != IMAP_ARG_NIL)
		return 0;
	*s_r = a->str;
	return 1;
}

int
imap_arg_is(const struct imap_arg *a, const char *word)
{
	const char *s;

	if (!imap_arg_atom(a, &s))
		return 0;
	return strcasecmp(s, word) == 0;
}
