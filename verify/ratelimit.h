/*
 * ratelimit: requests per key (a client address, a sender address) per
 * minute (verify/ratelimit.c). A fixed window: the first request of a key
 * opens a RATELIMIT_WINDOW-second window; within it at most `limit`
 * requests pass, the others are told how long to wait (Retry-After). The
 * table is bounded (RATELIMIT_SLOTS, open addressing over a hash of the
 * key); when a probe finds no free or expired slot the oldest window in
 * it is evicted, so a flood of distinct keys cannot grow memory, it only
 * forgets some counts. Keys longer than RATELIMIT_KEY_MAX are cut.
 * Thread-safe (one mutex): capmail-verify's handlers run on several
 * threads. The time is the caller's (tests).
 */
#ifndef CAPMAIL_VERIFY_RATELIMIT_H
#define CAPMAIL_VERIFY_RATELIMIT_H

#include <stddef.h>
#include <time.h>

#define RATELIMIT_WINDOW 60
#define RATELIMIT_SLOTS 4096
#define RATELIMIT_PROBE 8
#define RATELIMIT_KEY_MAX 255

struct ratelimit;

/* limit requests per key per window; limit 0 = no limit. NULL when out
 * of memory. */
struct ratelimit *ratelimit_new(unsigned limit);
void ratelimit_free(struct ratelimit **rlp);
/* Count one request of key at now: 0 when it may go on, else the seconds
 * until the window ends (1 .. RATELIMIT_WINDOW). */
unsigned ratelimit_hit(struct ratelimit *rl, const char *key, time_t now);

struct sockaddr;
/* A client's address as text for the log (out) and the key its requests
 * are counted under (key): the address itself for IPv4 (an IPv4-mapped
 * IPv6 address is its IPv4 one), the /64 for IPv6 ("2001:db8:1:2::/64"),
 * since one host usually has a whole /64 to pick addresses from. "?" for
 * NULL or another family. */
void ratelimit_addr(const struct sockaddr *sa, char *out, size_t outsz,
    char *key, size_t keysz);

#endif
