/*
 * authlimit: failed-login throttling, one table per daemon, in memory,
 * shared by IMAP and SMTP AUTH. It slows password guessing without letting
 * an attacker lock a real user out.
 *
 * Two kinds of counters, each counting failures within a window
 * (auth_fail_window seconds from the first failure):
 *
 *  - per client address: after fail_limit failures every further attempt
 *    from that address is delayed by delay_ms before the password is even
 *    checked; after lockout_limit failures the address is refused outright
 *    (IMAP "NO [UNAVAILABLE]", SMTP "454 4.7.0") for lockout seconds,
 *    whatever the account or the password.
 *  - per account (the name tried, known or not, lower-cased): after
 *    fail_limit failures every attempt on that account, from any address,
 *    is delayed by delay_ms. An account is never refused: a lockout by
 *    account would let anyone lock out any user by guessing from
 *    elsewhere. So an attacker spreading guesses over many addresses is
 *    still slowed on the account, and the real user on another address
 *    pays one delay per login while the attack lasts, but gets in.
 *
 * A successful login clears its account's counter (the owner is back),
 * not its address's: an attacker who owns one account cannot reset the
 * count of the guesses made from its address.
 *
 * The table is bounded (max_entries); when full, a new key takes the
 * place of an expired entry, else of the least recently failed one that
 * is not locked, else of the least recently failed one. Time is passed in
 * (milliseconds of a monotonic clock: uv_now()), so that the unit tests
 * need not wait. Lookups scan the table (a few thousand entries, one
 * integer compare each); a login costs a crypt() that is far slower.
 *
 * authlimit_wait() is the delay: a timer on the loop (never a sleep) that
 * calls back once; the caller holds its connection meanwhile.
 */
#ifndef CAPMAIL_AUTHLIMIT_H
#define CAPMAIL_AUTHLIMIT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct cfg;

struct authlimit_conf {
	unsigned fail_limit;		/* auth_fail_limit: delay after */
	unsigned lockout_limit;		/* auth_lockout_limit: refuse after */
	unsigned window_s;		/* auth_fail_window */
	unsigned delay_ms;		/* auth_fail_delay, in ms */
	unsigned lockout_s;		/* auth_lockout_time */
	size_t max_entries;
};

#define AUTHLIMIT_MAX_ENTRIES 8192

enum authlimit_verdict {
	AUTHLIMIT_OK = 0,		/* check the password now */
	AUTHLIMIT_DELAY = 1,		/* wait *delay_ms_r, then check */
	AUTHLIMIT_REFUSE = 2,		/* temporary refusal, no check */
};

struct authlimit;

/* The conf from the config's auth_* names. */
void authlimit_conf_from_cfg(struct authlimit_conf *ac, const struct cfg *cfg);
struct authlimit *authlimit_new(const struct authlimit_conf *ac);
void authlimit_free(struct authlimit **alp);

/* Before checking a password for account from addr. */
enum authlimit_verdict authlimit_check(struct authlimit *al,
    const char *addr, const char *account, uint64_t now_ms,
    unsigned *delay_ms_r);
/* After the check. */
void authlimit_failed(struct authlimit *al, const char *addr,
    const char *account, uint64_t now_ms);
void authlimit_succeeded(struct authlimit *al, const char *addr,
    const char *account, uint64_t now_ms);
/* Entries in use (tests). */
size_t authlimit_count(const struct authlimit *al);

/* Call cb(arg) on the loop after ms milliseconds. 0 or CM_ENOMEM (then cb
 * is not called). */
int authlimit_wait(uv_loop_t *loop, unsigned ms, void (*cb)(void *),
    void *arg);

#endif
