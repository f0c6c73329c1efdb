/*
 * store-imap: the store queries behind capmail-imapd (mailbox.c,
 * entries.c, message-read.c). Synchronous layer-1 operations (see
 * store.h): the daemon calls them only inside store_run() work functions.
 *
 * Every operation takes the logged-in user's principal id and touches
 * only that user's mailboxes. Every message read and every entry listed
 * goes through its grant: mailbox_entries JOIN grants with
 * grants.state = 'active' AND grants.grantee = user. A revoked (or held)
 * grant is invisible: it cannot be listed, fetched, copied or flagged,
 * even by a session that had it selected.
 *
 * Mailbox names: "INBOX" is matched case-insensitively (and always stored
 * as "INBOX"), every other name exactly. The hierarchy delimiter is "/".
 *
 * Flags travel as one space-separated string ("\\Seen \\Flagged"), the
 * way IMAP writes them inside parentheses.
 *
 * Returned memory is owned by the caller and freed with the matching
 * _free function (which takes a pointer to the pointer and clears it).
 */
#ifndef CAPMAIL_STORE_IMAP_H
#define CAPMAIL_STORE_IMAP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "store.h"

/* ---- mailboxes (mailbox.c) ---- */

struct store_mailbox {
	int64_t id;
	char *name;
	char *special_use;	/* "\\Sent", ... or NULL */
	uint32_t uidvalidity;
	uint32_t uidnext;
	int subscribed;
};

/* All mailboxes of user, sorted by name. */
int store_mailbox_list(struct store_conn *db, int64_t user,
    struct store_mailbox **mb_r, size_t *n_r);
void store_mailbox_list_free(struct store_mailbox **mbp, size_t n);
/* One mailbox by name. CM_ENOTFOUND when there is none. mb_r->name and
 * special_use are malloc'd: store_mailbox_clear(). */
int store_mailbox_get(struct store_conn *db, int64_t user, const char *name,
    struct store_mailbox *mb_r);
void store_mailbox_clear(struct store_mailbox *mb);
/* Create name (and any missing parents). CM_EEXIST when it exists,
 * CM_EINVAL for a bad name (empty, INBOX, "//" ...). */
int store_mailbox_create(struct store_conn *db, int64_t user,
    const char *name);
/* Delete name and its entries (not its children, not the grants).
 * CM_EINVAL for INBOX, CM_ENOTFOUND. */
int store_mailbox_delete(struct store_conn *db, int64_t user,
    const char *name);
/* Rename name and its children ("name/..."); renaming INBOX moves its
 * entries to a new mailbox and leaves INBOX empty (RFC 3501 6.3.5).
 * CM_EEXIST when the new name exists, CM_ENOTFOUND, CM_EINVAL. */
int store_mailbox_rename(struct store_conn *db, int64_t user,
    const char *oldname, const char *newname);
int store_mailbox_subscribe(struct store_conn *db, int64_t user,
    const char *name, int on);

struct store_mailbox_status {
	uint32_t messages, unseen, uidnext, uidvalidity;
	uint32_t recent;	/* visible entries no session has claimed */
};
int store_mailbox_status(struct store_conn *db, int64_t user,
    const char *name, struct store_mailbox_status *st_r);

/* \Recent (RFC 3501 2.3.2). The entries of mailbox mailbox_id with
 * uid >= its first_recent_uid have been claimed by no read-write session
 * yet. bound is one past the highest uid the caller has seen (so nothing
 * it has not seen is claimed); *first_r is first_recent_uid before the
 * call, and the uids in [*first_r, bound) are recent for the caller.
 * With claim (SELECT, and the poll of a session that selected read-write)
 * first_recent_uid is raised to bound in one statement, so no other
 * session gets those uids as recent; without (EXAMINE) it is only read.
 * CM_ENOTFOUND when the mailbox is gone. */
int store_mailbox_recent(struct store_conn *db, int64_t user,
    int64_t mailbox_id, uint32_t bound, int claim, uint32_t *first_r);

/* ---- entries (entries.c) ---- */

struct store_entry {
	uint32_t uid;
	char *flags;
};

/* The visible entries of mailbox mailbox_id (owned by user), by uid, and
 * the mailbox's current uidnext. CM_ENOTFOUND when the mailbox is gone. */
int store_entries_list(struct store_conn *db, int64_t user,
    int64_t mailbox_id, struct store_entry **e_r, size_t *n_r,
    uint32_t *uidnext_r);
void store_entries_free(struct store_entry **ep, size_t n);

enum store_flags_mode { STORE_FLAGS_SET, STORE_FLAGS_ADD, STORE_FLAGS_REMOVE };
/* Change the flags of the given uids (visible ones only; others are
 * skipped). flags is a space-separated list. The new flags of every
 * changed-or-requested entry come back in *e_r (by uid). */
int store_entries_flags(struct store_conn *db, int64_t user,
    int64_t mailbox_id, const uint32_t *uids, size_t nuids,
    enum store_flags_mode mode, const char *flags,
    struct store_entry **e_r, size_t *n_r);
/* Remove the entries flagged \Deleted (only those among uids when uids is
 * not NULL). The removed uids come back in *uids_r (malloc'd). A summary
 * of held mail expunged refuses its sender (store/held.h). */
int store_entries_expunge(struct store_conn *db, int64_t user,
    int64_t mailbox_id, const uint32_t *uids, size_t nuids,
    uint32_t **uids_r, size_t *n_r);
/* Copy entries (same grants: reference semantics, nothing duplicated)
 * into mailbox dest, with new uids. src_r/dst_r (malloc'd, *n_r each) give
 * the uid pairs for COPYUID; *uidvalidity_r is dest's. CM_ENOTFOUND when
 * dest does not exist; CM_EPERM (and nothing copied) when any of uids is
 * not visible (expunged, grant revoked). uids must be distinct. A summary
 * of held mail is copied as an ordinary message (a new grant to the same
 * message, store/held.h). */
int store_entries_copy(struct store_conn *db, int64_t user,
    int64_t mailbox_id, const uint32_t *uids, size_t nuids,
    const char *dest, uint32_t *uidvalidity_r, uint32_t **src_r,
    uint32_t **dst_r, size_t *n_r);

/* MOVE (RFC 6851): store_entries_copy, then the source entries are
 * removed in the same transaction (as EXPUNGE removes them; so a summary
 * of held mail moved away refuses its sender, store/held.h). CM_EINVAL
 * when dest is the source mailbox. */
int store_entries_move(struct store_conn *db, int64_t user,
    int64_t mailbox_id, const uint32_t *uids, size_t nuids,
    const char *dest, uint32_t *uidvalidity_r, uint32_t **src_r,
    uint32_t **dst_r, size_t *n_r);

/* ---- message read (message-read.c) ---- */

struct store_part {
	char path[96];
	size_t hdr_off, body_off, end_off;
	size_t inner_body_off;	/* 0 unless is_message */
	int is_message;
};

struct store_msg {
	uint32_t uid;
	char *flags;
	time_t internaldate;
	time_t date;		/* 0 when unknown */
	size_t size;
	size_t header_len;
	char *envelope, *bodystructure, *body;
	/* STORE_MSG_DATA only: */
	char *data;		/* the message bytes, NUL-terminated */
	size_t len;
	struct store_part *parts;
	size_t nparts;
};

#define STORE_MSG_SUMMARY 1	/* envelope, bodystructure, body */
#define STORE_MSG_DATA 2	/* bytes and parts */

/* The visible messages among uids (sorted ascending), in uid order;
 * those not visible (expunged, revoked) are simply not returned. */
int store_messages_read(struct store_conn *db, int64_t user,
    int64_t mailbox_id, const uint32_t *uids, size_t nuids, unsigned what,
    struct store_msg **m_r, size_t *n_r);
void store_messages_free(struct store_msg **mp, size_t n);
/* How many of the first *n_r uids to read with STORE_MSG_DATA so that
 * their messages' bytes stay within max_bytes (one at least, however
 * large): *n_r is lowered to that number. Bounds the memory a FETCH or
 * SEARCH batch takes whatever the messages' sizes. */
int store_messages_fit(struct store_conn *db, int64_t user,
    int64_t mailbox_id, const uint32_t *uids, size_t *n_r,
    size_t max_bytes);

/* Internal to mailbox.c/entries.c/message-read.c: render uids as a
 * bigint[] text parameter "{1,2,3}" into b (initialised by the caller
 * with max STORE_UID_ARRAY_MAX). */
#define STORE_UID_ARRAY_MAX ((size_t)64 << 20)
int store_uid_array_param(const uint32_t *uids, size_t n, struct buf *b);

#endif
