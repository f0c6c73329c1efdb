/*
 * Sender verification in the store (store/senders.c, store/challenges.c,
 * schema store/sql/008-senders.sql).
 *
 * Policy: each domain has one (open, verify-unknown by default,
 * known-only); a recipient may override it. Rules say what is known of a
 * sender (an address, or "@domain" for a whole domain) for one recipient
 * or, with no owner, for the whole organisation: verified, learned, allow
 * or block. The most specific rule applies: the recipient's own before the
 * organisation's, an address before its domain.
 *
 * Challenges: for held mail from an unknown sender, at most one challenge
 * a sender address a day. The challenges table keeps only a SHA-256 of
 * the token (the token itself is made and checked by lib/captoken.c); the
 * challenge mail carries the link until capmail-outbound has sent it and
 * outbound_keep has passed, when the purge deletes it with its objects.
 */
#ifndef CAPMAIL_STORE_SENDERS_H
#define CAPMAIL_STORE_SENDERS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "store.h"

#define STORE_TOKEN_HASH_LEN 32

/* "open", "verify-unknown" or "known-only": 0, else CM_EINVAL. */
int store_sender_policy_ok(const char *policy);
/* Set a domain's policy (CM_ENOTFOUND for an unknown domain). */
int store_domain_policy_set(struct store_conn *db, const char *domain,
    const char *policy);
/* Set a user's policy; NULL or "domain" goes back to the domain's. */
int store_user_policy_set(struct store_conn *db, const char *user,
    const char *policy);

/* An address ("a@b") or a whole domain ("@b"), lower-cased into out.
 * 0 or CM_EINVAL. */
int store_sender_pattern_normalize(const char *in, char *out, size_t outsz);

/* Set the rule for (user, pattern): user NULL = organisation-wide; kind
 * "allow", "block", "verified" or "learned". allow and block replace what
 * was there; verified and learned never replace an allow or a block
 * (nor learned a verified). CM_ENOTFOUND for an unknown user. */
int store_sender_rule_set(struct store_conn *db, const char *user,
    const char *pattern, const char *kind);
/* Remove the rule (CM_ENOTFOUND when there is none). */
int store_sender_rule_forget(struct store_conn *db, const char *user,
    const char *pattern);
struct store_sender_rule {
	char *owner;		/* "" = organisation-wide */
	char *pattern;
	char *kind;
	time_t created;
};
/* user NULL: every rule; else that user's rules. Sorted by owner,
 * pattern. */
int store_sender_rule_list(struct store_conn *db, const char *user,
    struct store_sender_rule **rules_r, size_t *n_r);
void store_sender_rule_list_free(struct store_sender_rule **rp, size_t n);
/* Submission: owner sent mail to address, which becomes "learned" for
 * owner (unless a rule is there already). */
int store_sender_learn(struct store_conn *db, int64_t owner,
    const char *address);

enum store_sender_verdict {
	STORE_SENDER_ACCEPT,	/* known, or policy open: active grants */
	STORE_SENDER_HOLD,	/* verify-unknown and unknown: held */
	STORE_SENDER_BLOCK,	/* a block rule: 550 5.7.1 */
	STORE_SENDER_REFUSE	/* known-only and unknown: 550 5.7.1 */
};
/* The verdict for mail from sender ("" = <>) to recipient rcpt. The null
 * sender matches no rule and is never refused: held unless the policy is
 * open. */
int store_sender_check(struct store_conn *db, int64_t rcpt,
    const char *sender, enum store_sender_verdict *verdict_r);

/* ---- challenges (challenges.c) ---- */

/* One transaction: when no challenge went to sender today (UTC), record
 * one for rcpt with token_hash and expires, store the challenge message
 * (msg, len) and queue it to sender with the null envelope sender. 1 when
 * it was queued, 0 when a challenge went to sender today already.
 * msg NULL: a link for the administrator to pass on (capmailctl held
 * link): recorded, not mailed, not counted against the daily limit;
 * always 1. */
int store_challenge_create(struct store_conn *db, const char *sender,
    int64_t rcpt, const unsigned char token_hash[STORE_TOKEN_HASH_LEN],
    time_t expires, const char *msg, size_t len);

struct store_challenge_info {
	char *sender;
	char *recipient;	/* the recipient's address */
	size_t held;		/* messages waiting from sender */
	time_t expires;
	int used;		/* confirmed already */
	int expired;
	char *question;		/* the recipient's question, NULL: none */
};
/* The challenge with that token hash (CM_ENOTFOUND when none). */
int store_challenge_info(struct store_conn *db,
    const unsigned char token_hash[STORE_TOKEN_HASH_LEN],
    struct store_challenge_info *info_r);
void store_challenge_info_clear(struct store_challenge_info *info);

/* Confirm: in one transaction the challenge is marked used, the sender
 * becomes verified for the challenge's recipient and for every other
 * recipient holding mail from it that has no question of its own, and
 * every held grant from sender to them becomes active with an INBOX
 * entry (a new UID; pg_notify wakes IMAP) and grantor_auth
 * 'verified-link'. A recipient whose rule for the sender is a block
 * (set after the mail was held) is left out. *released_r gets the
 * number of grants released. CM_ENOTFOUND (no such challenge),
 * CM_EEXIST (used already), CM_EPERM (expired, or the challenge's
 * recipient blocks the sender now: nothing changes). */
int store_challenge_confirm(struct store_conn *db,
    const unsigned char token_hash[STORE_TOKEN_HASH_LEN],
    size_t *released_r);

/* Release every held grant from sender to rcpt (0: to anyone), as
 * confirm does, without a challenge. Returns the number released. */
int store_held_release(struct store_conn *db, const char *sender,
    int64_t rcpt);

/* Delete held grants older than max_age seconds, and their messages (and
 * objects) when nothing else refers to them. Returns the number of grants
 * deleted; log_r (optional) gets one malloc'd line per grant
 * "grant=ID to=ADDR from=<SENDER>" joined by '\n'. */
int store_held_expire(struct store_conn *db, long max_age, char **log_r);

/* Held grants, for capmailctl held list: user NULL = all. */
struct store_held_info {
	int64_t grant_id;
	char *recipient;
	char *sender;
	char *subject;
	time_t created;
};
int store_held_list(struct store_conn *db, const char *user,
    struct store_held_info **held_r, size_t *n_r);
void store_held_list_free(struct store_held_info **hp, size_t n);

/* ---- the recipient's question (questions.c, schema
 * store/sql/012-verify-question.sql) ----
 *
 * A recipient may set a question that a sender must answer on the
 * verification page, with one or more accepted answers. Answers are
 * compared after store_answer_normalize(), in C, on both sides: the
 * accepted ones when they are set, the given one when it is checked;
 * the database then compares for equality. The accepted answers never
 * leave the database. */

#define STORE_QUESTION_MAX 500	/* bytes */
#define STORE_ANSWER_MAX 200	/* bytes, normalised */
#define STORE_ANSWERS_MAX 20	/* accepted answers a question */

/* in, as an answer is compared: white space (space, tab, CR, LF, VT, FF)
 * trimmed at both ends and each inner run made one space; ASCII letters
 * lower-cased (other characters as they are: no Unicode case folding).
 * 0; CM_EINVAL when in is not UTF-8, has other control characters, or
 * nothing is left; CM_ETOOBIG when the result does not fit outsz (at
 * most STORE_ANSWER_MAX + 1 is ever needed for an accepted answer). */
int store_answer_normalize(const char *in, char *out, size_t outsz);
/* A question as it is stored: white space trimmed at both ends into out
 * (outsz > STORE_QUESTION_MAX). 0; CM_EINVAL when not UTF-8, with
 * control characters (tab and newline included) or empty; CM_ETOOBIG
 * when longer than STORE_QUESTION_MAX. */
int store_question_normalize(const char *in, char *out, size_t outsz);
/* Set user's question and its n accepted answers (1 to
 * STORE_ANSWERS_MAX, normalised here; duplicates are kept once).
 * CM_EINVAL (a bad question or answer, n out of range), CM_ETOOBIG (too
 * long), CM_ENOTFOUND (no such user). */
int store_user_question_set(struct store_conn *db, const char *user,
    const char *question, const char *const *answers, size_t n);
/* Remove user's question (0 also when there was none; CM_ENOTFOUND for
 * no such user). */
int store_user_question_clear(struct store_conn *db, const char *user);
/* Is answer right for the question of the recipient of the challenge
 * with that token hash? 1 right (also when the recipient has no
 * question), 0 wrong (also when answer is NULL or does not normalise),
 * CM_ENOTFOUND (no such challenge). */
int store_challenge_answer_check(struct store_conn *db,
    const unsigned char token_hash[STORE_TOKEN_HASH_LEN],
    const char *answer);

#endif
