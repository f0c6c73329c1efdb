/*
 * captoken: capability tokens for URLs (doc: DESIGN.md "Capability
 * tokens"). A token is
 *
 *     kind (1 byte) | 128 random bits (RAND_bytes) | expiry (4 bytes,
 *     seconds since 1970, big-endian) | check (16 bytes)
 *
 * where check is HMAC-SHA256 of the first 21 bytes under the site's
 * secret key, cut to 128 bits, written in base32 (RFC 4648 alphabet,
 * lower case, no padding): 60 characters. captoken_check() recomputes the
 * check before anything else, so a forged or altered token is refused
 * without a database lookup. The store keeps only SHA-256 of the raw
 * token (captoken_hash), never the token.
 *
 * The parsers here do no I/O; captoken_key_load() reads the key file
 * (config secret_key_file), which must not be readable or writable by
 * group or others, and holds at least 32 bytes.
 */
#ifndef CAPMAIL_CAPTOKEN_H
#define CAPMAIL_CAPTOKEN_H

#include <stddef.h>
#include <time.h>

#define CAPTOKEN_RAW_LEN 37
#define CAPTOKEN_STRLEN 60	/* base32 characters */
#define CAPTOKEN_HASH_LEN 32
#define CAPTOKEN_KEY_MIN 32
#define CAPTOKEN_KEY_MAX 1024

#define CAPTOKEN_KIND_VERIFY 'v'	/* sender verification links */

struct captoken_key {
	unsigned char k[CAPTOKEN_KEY_MAX];
	size_t len;
};

/* Read the key file (while still privileged). 0, or CM_ECONFIG with err
 * saying why. */
int captoken_key_load(const char *path, struct captoken_key *key,
    char *err, size_t errsz);
/* The key as bytes (tests, fuzzing). CM_EINVAL when too short/long. */
int captoken_key_set(struct captoken_key *key, const void *k, size_t len);
void captoken_key_wipe(struct captoken_key *key);

/* Make a token of that kind expiring at expires: out gets the base32 text
 * (NUL-terminated), hash_r its SHA-256. 0 or CM_EIO. */
int captoken_make(const struct captoken_key *key, int kind, time_t expires,
    char out[CAPTOKEN_STRLEN + 1], unsigned char hash_r[CAPTOKEN_HASH_LEN]);
/* Check s[0..len): the exact length, the alphabet, the kind and the
 * check bits. 0 (then *expires_r and hash_r are set; the expiry is the
 * caller's to compare), CM_EPARSE (not a token) or CM_EAUTH (the check
 * bits are wrong: forged or altered). */
int captoken_check(const struct captoken_key *key, int kind, const char *s,
    size_t len, time_t *expires_r, unsigned char hash_r[CAPTOKEN_HASH_LEN]);

/* base32 (lower case, no padding); decode is strict (canonical only).
 * encode: out needs (n * 8 + 4) / 5 + 1 bytes. decode: returns the
 * number of bytes or CM_EPARSE. */
size_t captoken_b32_encode(const unsigned char *in, size_t n, char *out);
int captoken_b32_decode(const char *s, size_t len, unsigned char *out,
    size_t outsz);

#endif
