/*
 * captoken.c: capability tokens (see captoken.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "captoken.h"
#include "errors.h"

#define RND_LEN 16
#define SIGNED_LEN (1 + RND_LEN + 4)	/* kind, random, expiry */
#define CHECK_LEN (CAPTOKEN_RAW_LEN - SIGNED_LEN)

static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";

size_t captoken_b32_encode(const unsigned char *in, size_t n, char *out)
{
	size_t o = 0;
	unsigned acc = 0;
	int bits = 0;

	for (size_t i = 0; i < n; i++) {
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= 5) {
			out[o++] = b32[(acc >> (bits - 5)) & 31];
			bits -= 5;
		}
		acc &= (1u << bits) - 1;
	}
	if (bits > 0)
		out[o++] = b32[(acc << (5 - bits)) & 31];
	out[o] = '\0';
	return o;
}

int captoken_b32_decode(const char *s, size_t len, unsigned char *out,
    size_t outsz)
{
	size_t o = 0;
	unsigned acc = 0;
	int bits = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		unsigned v;

		if (c >= 'a' && c <= 'z')
			v = c - 'a';
		else if (c >= '2' && c <= '7')
			v = c - '2' + 26;
		else
			return CM_EPARSE;
		acc = (acc << 5) | v;
		bits += 5;
		if (bits >= 8) {
			if (o >= outsz)
				return CM_EPARSE;
			out[o++] = (unsigned char)(acc >> (bits - 8));
			bits -= 8;
		}
		acc &= (1u << bits) - 1;
	}
	/* canonical: fewer than 5 bits left over, all zero */
	if (bits >= 5 || acc != 0)
		return CM_EPARSE;
	return (int)o;
}

int captoken_key_set(struct captoken_key *key, const void *k, size_t len)
{
	if (len < CAPTOKEN_KEY_MIN || len > CAPTOKEN_KEY_MAX)
		return CM_EINVAL;
	memcpy(key->k, k, len);
	key->len = len;
	return 0;
}

void captoken_key_wipe(struct captoken_key *key)
{
	OPENSSL_cleanse(key, sizeof *key);
}

int captoken_key_load(const char *path, struct captoken_key *key,
    char *err, size_t errsz)
{
	unsigned char tmp[CAPTOKEN_KEY_MAX + 1];
	struct stat st;
	size_t n = 0;
	int fd;

	if (path == NULL || path[0] == '\0') {
		snprintf(err, errsz, "secret_key_file is not set");
		return CM_ECONFIG;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		snprintf(err, errsz, "secret_key_file %s: %s", path,
		    strerror(errno));
		return CM_ECONFIG;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errsz, "secret_key_file %s: not a regular file",
		    path);
		close(fd);
		return CM_ECONFIG;
	}
	if (st.st_mode & (S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH)) {
		snprintf(err, errsz, "secret_key_file %s: mode %04o lets group "
		    "or others read it; chmod 600 it", path,
		    (unsigned)(st.st_mode & 07777));
		close(fd);
		return CM_ECONFIG;
	}
	while (n < sizeof tmp) {
		ssize_t r = read(fd, tmp + n, sizeof tmp - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(err, errsz, "secret_key_file %s: %s", path,
			    strerror(errno));
			close(fd);
			OPENSSL_cleanse(tmp, sizeof tmp);
			return CM_ECONFIG;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (captoken_key_set(key, tmp, n) < 0) {
		snprintf(err, errsz, "secret_key_file %s: %zu bytes; it needs "
		    "%d to %d (e.g. head -c 32 /dev/urandom)", path, n,
		    CAPTOKEN_KEY_MIN, CAPTOKEN_KEY_MAX);
		OPENSSL_cleanse(tmp, sizeof tmp);
		return CM_ECONFIG;
	}
	OPENSSL_cleanse(tmp, sizeof tmp);
	return 0;
}

static int mac(const struct captoken_key *key, const unsigned char *raw,
    unsigned char out[CHECK_LEN])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (key->len < CAPTOKEN_KEY_MIN ||
	    HMAC(EVP_sha256(), key->k, (int)key->len, raw, SIGNED_LEN, md,
	    &mdlen) == NULL || mdlen < CHECK_LEN)
		return CM_EIO;
	memcpy(out, md, CHECK_LEN);
	return 0;
}

static int hash(const unsigned char *raw, unsigned char out[CAPTOKEN_HASH_LEN])
{
	unsigned int n = 0;

	if (EVP_Digest(raw, CAPTOKEN_RAW_LEN, out, &n, EVP_sha256(), NULL)
	    != 1 || n != CAPTOKEN_HASH_LEN)
		return CM_EIO;
	return 0;
}

int captoken_make(const struct captoken_key *key, int kind, time_t expires,
    char out[CAPTOKEN_STRLEN + 1], unsigned char hash_r[CAPTOKEN_HASH_LEN])
{
	unsigned char raw[CAPTOKEN_RAW_LEN];
	uint32_t e;

	if (expires < 0 || (uint64_t)expires > UINT32_MAX || kind < 0 ||
	    kind > 255)
		return CM_EINVAL;
	e = (uint32_t)expires;
	raw[0] = (unsigned char)kind;
	if (RAND_bytes(raw + 1, RND_LEN) != 1)
		return CM_EIO;
	raw[1 + RND_LEN] = (unsigned char)(e >> 24);
	raw[2 + RND_LEN] = (unsigned char)(e >> 16);
	raw[3 + RND_LEN] = (unsigned char)(e >> 8);
	raw[4 + RND_LEN] = (unsigned char)e;
	if (mac(key, raw, raw + SIGNED_LEN) < 0 || hash(raw, hash_r) < 0)
		return CM_EIO;
	captoken_b32_encode(raw, sizeof raw, out);
	return 0;
}

int captoken_check(const struct captoken_key *key, int kind, const char *s,
    size_t len, time_t *expires_r, unsigned char hash_r[CAPTOKEN_HASH_LEN])
{
	unsigned char raw[CAPTOKEN_RAW_LEN + 1], want[CHECK_LEN];

	if (len != CAPTOKEN_STRLEN ||
	    captoken_b32_decode(s, len, raw, sizeof raw) != CAPTOKEN_RAW_LEN)
		return CM_EPARSE;
	if (mac(key, raw, want) < 0)
		return CM_EIO;
	if (CRYPTO_memcmp(want, raw + SIGNED_LEN, CHECK_LEN) != 0 ||
	    raw[0] != (unsigned char)kind)
		return CM_EAUTH;
	*expires_r = (time_t)(((uint32_t)raw[1 + RND_LEN] << 24) |
	    ((uint32_t)raw[2 + RND_LEN] << 16) |
	    ((uint32_t)raw[3 + RND_LEN] << 8) | raw[4 + RND_LEN]);
	return hash(raw, hash_r);
}
