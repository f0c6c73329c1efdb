/*
 * formtoken: the confirm form's anti-forgery field. See formtoken.h.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "errors.h"
#include "formtoken.h"

#define LABEL "capmail-verify-form"
#define STAMP_MAXDIGITS 12		/* far beyond any real stamp */
#define MAC_B32_LEN 26			/* 16 bytes in base32 */

static int
mac_of(const struct captoken_key *key, const char *token, size_t tlen,
    const char *stamp, size_t slen, unsigned char mac[FORMTOKEN_MAC_LEN])
{
	unsigned char full[EVP_MAX_MD_SIZE];
	unsigned int flen = 0;
	unsigned char msg[sizeof LABEL + CAPTOKEN_STRLEN + 1 +
	    STAMP_MAXDIGITS];
	size_t n = 0;

	if (tlen > CAPTOKEN_STRLEN || slen > STAMP_MAXDIGITS)
		return CM_EINVAL;
	memcpy(msg, LABEL, sizeof LABEL);	/* with its NUL */
	n = sizeof LABEL;
	memcpy(msg + n, token, tlen);
	n += tlen;
	msg[n++] = '\0';
	memcpy(msg + n, stamp, slen);
	n += slen;
	if (HMAC(EVP_sha256(), key->k, (int)key->len, msg, n, full,
	    &flen) == NULL || flen < FORMTOKEN_MAC_LEN)
		return CM_EIO;
	memcpy(mac, full, FORMTOKEN_MAC_LEN);
	OPENSSL_cleanse(full, sizeof full);
	return 0;
}

int
formtoken_make(const struct captoken_key *key, const char *token,
    size_t tlen, time_t now, char out[FORMTOKEN_MAXLEN])
{
	unsigned char mac[FORMTOKEN_MAC_LEN];
	int n, rc;

	if (now < 0)
		return CM_EINVAL;
	n = snprintf(out, FORMTOKEN_MAXLEN, "%lld", (long long)now);
	if (n <= 0 || n > STAMP_MAXDIGITS)
		return CM_EINVAL;
	if ((rc = mac_of(key, token, tlen, out, (size_t)n, mac)) != 0)
		return rc;
	out[n] = '.';
	captoken_b32_encode(mac, sizeof mac, out + n + 1);
	return 0;
}

int
formtoken_check(const struct captoken_key *key, const char *token,
    size_t tlen, const char *f, size_t flen, time_t now)
{
	unsigned char got[FORMTOKEN_MAC_LEN + 4], want[FORMTOKEN_MAC_LEN];
	long long stamp = 0;
	size_t i;
	int n, rc;

	/* STAMP: 1 to 12 digits, no leading zero */
	for (i = 0; i < flen && f[i] >= '0' && f[i] <= '9'; i++) {
		if (i >= STAMP_MAXDIGITS)
			return CM_EPARSE;
		stamp = stamp * 10 + (f[i] - '0');
	}
	if (i == 0 || (f[0] == '0' && i > 1) || i >= flen || f[i] != '.')
		return CM_EPARSE;
	if (flen - i - 1 != MAC_B32_LEN)
		return CM_EPARSE;
	n = captoken_b32_decode(f + i + 1, MAC_B32_LEN, got, sizeof got);
	if (n != FORMTOKEN_MAC_LEN)
		return CM_EPARSE;
	if ((rc = mac_of(key, token, tlen, f, i, want)) != 0)
		return rc;
	if (CRYPTO_memcmp(got, want, FORMTOKEN_MAC_LEN) != 0)
		return CM_EAUTH;
	if (stamp > (long long)now + FORMTOKEN_SKEW ||
	    (long long)now - stamp > FORMTOKEN_MAX_AGE)
		return CM_EPERM;
	return 0;
}
