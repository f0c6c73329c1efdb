/*
 * sasl: see sasl.h.
 */
#include <string.h>
#include <strings.h>

#include "errors.h"
#include "sasl.h"

/* "Username:" and "Password:", base64: what LOGIN clients expect. */
#define LOGIN_USER_CHALLENGE "VXNlcm5hbWU6"
#define LOGIN_PASS_CHALLENGE "UGFzc3dvcmQ6"

static int
b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

long
sasl_base64_decode(const char *in, size_t len, unsigned char *out)
{
	size_t o = 0;

	if (len % 4 != 0)
		return CM_EPARSE;
	for (size_t i = 0; i < len; i += 4) {
		int v[4], pad = 0;

		for (int k = 0; k < 4; k++) {
			unsigned char c = (unsigned char)in[i + k];
			if (c == '=' && i + 4 == len && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad > 0 || (v[k] = b64val(c)) < 0)
				return CM_EPARSE;
		}
		out[o++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
		if (pad < 2)
			out[o++] = (unsigned char)((v[1] & 15) << 4 | v[2] >> 2);
		if (pad < 1)
			out[o++] = (unsigned char)((v[2] & 3) << 6 | v[3]);
		/* the bits that padding drops must be zero (RFC 4648 3.5) */
		if ((pad == 2 && (v[1] & 15) != 0) ||
		    (pad == 1 && (v[2] & 3) != 0))
			return CM_EPARSE;
	}
	return (long)o;
}

/* Decode a client line into dec (room for SASL_LINE_MAX / 4 * 3). */
static long
decode(const char *line, size_t len, unsigned char *dec)
{
	if (len > SASL_LINE_MAX)
		return CM_EINVAL;
	return sasl_base64_decode(line, len, dec);
}

static int
set_field(char *dst, size_t max, const unsigned char *p, size_t n)
{
	if (n > max || memchr(p, '\0', n) != NULL)
		return CM_EINVAL;
	memcpy(dst, p, n);
	dst[n] = '\0';
	return 0;
}

/* PLAIN: [authzid] NUL authcid NUL passwd. */
static int
plain(struct sasl *x, const unsigned char *m, size_t n)
{
	const unsigned char *z1, *z2;
	size_t zl, cl;
	int rc;

	if ((z1 = memchr(m, '\0', n)) == NULL)
		return CM_EINVAL;
	zl = (size_t)(z1 - m);
	if ((z2 = memchr(z1 + 1, '\0', n - zl - 1)) == NULL)
		return CM_EINVAL;
	cl = (size_t)(z2 - z1 - 1);
	if (cl == 0)
		return CM_EINVAL;
	if ((rc = set_field(x->user, SASL_USER_MAX, z1 + 1, cl)) < 0 ||
	    (rc = set_field(x->pass, SASL_PASS_MAX, z2 + 1,
	    n - zl - cl - 2)) < 0)
		return rc;
	if (zl > 0 && (zl != cl || strncasecmp((const char *)m, x->user,
	    cl) != 0))
		return CM_EPERM;
	return SASL_DONE;
}

static int
feed(struct sasl *x, const char *line, size_t len)
{
	unsigned char dec[SASL_LINE_MAX / 4 * 3 + 1];
	long n;
	int rc;

	if ((n = decode(line, len, dec)) < 0)
		return (int)n;
	if (x->mech == SASL_PLAIN)
		rc = plain(x, dec, (size_t)n);
	else if (x->step == 0) {
		if ((rc = set_field(x->user, SASL_USER_MAX, dec,
		    (size_t)n)) == 0 && n == 0)
			rc = CM_EINVAL;
		if (rc == 0) {
			x->step = 1;
			x->challenge = LOGIN_PASS_CHALLENGE;
			rc = SASL_CONTINUE;
		}
	} else
		rc = set_field(x->pass, SASL_PASS_MAX, dec, (size_t)n);
	explicit_bzero(dec, sizeof dec);
	return rc;
}

int
sasl_start(struct sasl *x, const char *mech, size_t mechlen,
    const char *ir, size_t irlen, int has_ir)
{
	memset(x, 0, sizeof *x);
	if (mechlen == 5 && strncasecmp(mech, "PLAIN", 5) == 0)
		x->mech = SASL_PLAIN;
	else if (mechlen == 5 && strncasecmp(mech, "LOGIN", 5) == 0)
		x->mech = SASL_LOGIN;
	else
		return CM_ENOTFOUND;
	if (!has_ir) {
		x->challenge = x->mech == SASL_PLAIN ? "" :
		    LOGIN_USER_CHALLENGE;
		return SASL_CONTINUE;
	}
	if (irlen == 1 && ir[0] == '=')
		irlen = 0;
	return sasl_step(x, ir, irlen);
}

int
sasl_step(struct sasl *x, const char *line, size_t len)
{
	if (x->mech == SASL_NONE)
		return CM_EINVAL;
	if (len == 1 && line[0] == '*')
		return SASL_CANCELLED;
	return feed(x, line, len);
}

void
sasl_clear(struct sasl *x)
{
	explicit_bzero(x, sizeof *x);
}
