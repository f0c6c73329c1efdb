/*
 * imap-parser: the IMAP command-line parser (after Dovecot's lib-imap
 * imap-parser). It never does I/O: the session feeds it whatever bytes it
 * has, and it answers how many it consumed and one of:
 *
 *   IMAP_PARSE_MORE     everything given was consumed; feed more.
 *   IMAP_PARSE_LITERAL  a synchronising literal {n} was announced and its
 *                       size accepted: the caller sends "+ OK" now, then
 *                       keeps feeding (the literal's bytes follow).
 *   IMAP_PARSE_DONE     a whole command line (CRLF included) was parsed:
 *                       imap_parser_args() gives its arguments (the tag is
 *                       args[0], the command name args[1]). Call
 *                       imap_parser_reset() before feeding the next line.
 *   IMAP_PARSE_ERROR    the line is bad: imap_parser_error() says why and
 *                       imap_parser_tag() gives the tag when one was read
 *                       (NULL otherwise). The rest of the line has already
 *                       been consumed (skipped) so the caller answers BAD
 *                       and resets. A too-large synchronising literal is
 *                       reported at once (the client waits for "+", so the
 *                       line ends at its "{n}" CRLF).
 *   IMAP_PARSE_FATAL    a too-large non-synchronising literal {n+}: its
 *                       bytes are already on their way, so the caller says
 *                       BYE and closes.
 *
 * Limits (hard, checked at the parser): max_line bounds the bytes of the
 * command line outside literals; max_literal bounds the sum of all literal
 * sizes in one command (checked by subtraction, so a huge {n} cannot
 * overflow); lists nest at most IMAP_PARSER_MAX_DEPTH deep and a command
 * has at most IMAP_PARSER_MAX_ARGS arguments in all.
 *
 * Syntax accepted: atoms (any printable ASCII except SP ( ) { " ; an atom
 * that contains '[' after its first character runs to the matching ']'
 * even across spaces and parentheses, so
 * "BODY[HEADER.FIELDS (From To)]<0.100>" is one atom; an unmatched '['
 * ends with the line),
 * NIL (unquoted, any case), quoted strings with \" and \\ escapes, literals
 * {n} and {n+} (binary-safe, may contain NUL), and parenthesised lists.
 * Arguments are separated by single spaces; extra spaces are tolerated.
 * An empty line gives IMAP_PARSE_DONE with no arguments.
 *
 * The parser owns the arguments it returns; they stay valid until the next
 * imap_parser_reset() or imap_parser_free(). Every string is NUL-terminated
 * (literals may also contain NULs: use len).
 */
#ifndef CAPMAIL_IMAP_PARSER_H
#define CAPMAIL_IMAP_PARSER_H

#include <stddef.h>
#include <stdint.h>

#define IMAP_PARSER_MAX_DEPTH 16
#define IMAP_PARSER_MAX_ARGS 10000

enum imap_arg_type {
	IMAP_ARG_ATOM,
	IMAP_ARG_STRING,	/* quoted */
	IMAP_ARG_LITERAL,
	IMAP_ARG_LIST,
	IMAP_ARG_NIL,
};

struct imap_arg {
	enum imap_arg_type type;
	char *str;		/* ATOM, STRING, LITERAL ("NIL" for NIL) */
	size_t len;
	struct imap_arg *list;	/* LIST: its elements */
	size_t count;
};

enum imap_parse_result {
	IMAP_PARSE_MORE,
	IMAP_PARSE_LITERAL,
	IMAP_PARSE_DONE,
	IMAP_PARSE_ERROR,
	IMAP_PARSE_FATAL,
};

struct imap_parser;

struct imap_parser *imap_parser_new(size_t max_line, size_t max_literal);
void imap_parser_free(struct imap_parser **pp);
void imap_parser_reset(struct imap_parser *p);
enum imap_parse_result imap_parser_feed(struct imap_parser *p,
    const char *data, size_t len, size_t *consumed_r);
const struct imap_arg *imap_parser_args(const struct imap_parser *p,
    size_t *count_r);
const char *imap_parser_error(const struct imap_parser *p);
const char *imap_parser_tag(const struct imap_parser *p);
/* Change the literal limit (e.g. small before login, imap_max_literal
 * after). Takes effect for literals announced from now on. */
void imap_parser_set_max_literal(struct imap_parser *p, size_t max_literal);
/* The size of the literal just announced (after IMAP_PARSE_LITERAL). */
size_t imap_parser_literal_size(const struct imap_parser *p);

/* Argument helpers. An astring is an atom, a quoted string or a literal
 * (NIL counts as the atom "NIL"); a nstring may be NIL (then *s_r is
 * NULL). They return 1 and set *s_r (and *len_r if not NULL), else 0. */
int imap_arg_astring(const struct imap_arg *a, const char **s_r,
    size_t *len_r);
int imap_arg_string(const struct imap_arg *a, const char **s_r,
    size_t *len_r);			/* quoted or literal only */
int imap_arg_atom(const struct imap_arg *a, const char **s_r);
/* True when the atom a equals word, ASCII case-insensitively. */
int imap_arg_is(const struct imap_arg *a, const char *word);

#endif
