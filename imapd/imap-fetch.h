/*
 * imap-fetch: FETCH data items, parsed from the command's arguments and
 * rendered for one message. Pure: no I/O, no database; the message comes
 * in as a struct store_msg (store-imap.h) already read.
 *
 * Items: FLAGS, INTERNALDATE, RFC822.SIZE, ENVELOPE, BODYSTRUCTURE, BODY,
 * UID, the macros ALL / FAST / FULL, and body sections:
 * BODY[section]<partial>, BODY.PEEK[...]<...>, RFC822 (= BODY[]),
 * RFC822.HEADER (= BODY.PEEK[HEADER]), RFC822.TEXT (= BODY[TEXT]).
 * section is "" | HEADER | HEADER.FIELDS (names) | HEADER.FIELDS.NOT
 * (names) | TEXT | part ("1.2") optionally followed by .MIME, .HEADER,
 * .TEXT, .HEADER.FIELDS[.NOT] (names).
 *
 * Sections are cut from the message bytes with the message_parts
 * offsets; HEADER.FIELDS matches names case-insensitively and returns the
 * raw field lines (continuations included) in message order, then the
 * empty line. Body data always goes out as a literal; a section that does
 * not exist is NIL.
 */
#ifndef CAPMAIL_IMAP_FETCH_H
#define CAPMAIL_IMAP_FETCH_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "imap-parser.h"
#include "store-imap.h"

enum {
	IMAP_FA_UID = 1 << 0,
	IMAP_FA_FLAGS = 1 << 1,
	IMAP_FA_INTERNALDATE = 1 << 2,
	IMAP_FA_SIZE = 1 << 3,
	IMAP_FA_ENVELOPE = 1 << 4,
	IMAP_FA_BODY = 1 << 5,
	IMAP_FA_BODYSTRUCTURE = 1 << 6,
};

enum imap_section {
	IMAP_SECT_ALL,		/* BODY[] or BODY[1.2] */
	IMAP_SECT_HEADER,
	IMAP_SECT_FIELDS,
	IMAP_SECT_FIELDS_NOT,
	IMAP_SECT_TEXT,
	IMAP_SECT_MIME,
};

#define IMAP_FETCH_MAX_BODIES 100
#define IMAP_FETCH_MAX_FIELDS 100

struct imap_fetch_body {
	char part[96];			/* "" or "1.2.3" */
	enum imap_section sect;
	char **fields;			/* FIELDS / FIELDS_NOT */
	size_t nfields;
	int peek;
	int partial;
	uint32_t p_off, p_len;
	char *name;			/* response item name, e.g.
					 * "BODY[HEADER.FIELDS (From)]" */
};

struct imap_fetch {
	unsigned atts;
	struct imap_fetch_body *bodies;
	size_t nbodies;
	int need_data;		/* some body section: read the bytes */
	int sets_seen;		/* some non-PEEK section */
};

/* Parse the items (args, n arguments after the sequence set). Returns 0,
 * or CM_EPARSE with *err_r set to a message for the BAD response. */
int imap_fetch_parse(const struct imap_arg *args, size_t n,
    struct imap_fetch *f, const char **err_r);
void imap_fetch_free(struct imap_fetch *f);

/* Render "* seq FETCH (...)\r\n" for m. add_flags forces FLAGS in (when
 * the fetch set \Seen); recent adds \Recent to them (the session's,
 * never stored). The message must carry data when f->need_data. */
int imap_fetch_render(const struct imap_fetch *f, uint32_t seq,
    const struct store_msg *m, int add_flags, int recent, struct buf *out);

/* Exposed for tests: the bytes of one section of m, cut from m->data.
 * Returns 1 and sets *p_r, *len_r (pointing into m->data, or into
 * scratch for HEADER.FIELDS) when the section exists, 0 when not, or a
 * negative CM_E* code. */
int imap_fetch_section(const struct imap_fetch_body *b,
    const struct store_msg *m, struct buf *scratch, const char **p_r,
    size_t *len_r);

#endif
