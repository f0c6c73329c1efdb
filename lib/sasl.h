/*
 * sasl: the server side of the SASL mechanisms PLAIN (RFC 4616) and LOGIN
 * (draft-murchison-sasl-login), as SMTP AUTH (RFC 4954) carries them:
 * base64 lines in, base64 challenges out. A pure parser: it is fed the
 * client's lines and answers; it does no I/O and checks no password (the
 * caller does, off the event loop).
 *
 *   sasl_start(&x, "PLAIN", ir, irlen, has_ir)
 *   sasl_step(&x, line, len)          for each further client line
 *
 * Both return SASL_DONE (x.user and x.pass hold the credentials, NUL
 * terminated, no NUL inside), SASL_CONTINUE (send x.challenge, already
 * base64, after "334 "), SASL_CANCELLED (the client sent "*"), or an
 * error: CM_ENOTFOUND (unknown mechanism), CM_EPARSE (not base64),
 * CM_EINVAL (a malformed message: missing NULs, NUL in a name, too long),
 * CM_EPERM (PLAIN with an authorization identity other than the
 * authentication identity: capmail does not let one user act as
 * another). After anything but SASL_CONTINUE the exchange is over.
 *
 * The password is wiped by sasl_clear(), which the caller must call once
 * it has used (or copied) the credentials, whatever the outcome. Bytes
 * decoded on the way are wiped too.
 */
#ifndef CAPMAIL_SASL_H
#define CAPMAIL_SASL_H

#include <stddef.h>

#define SASL_USER_MAX 255
#define SASL_PASS_MAX 1024
/* Longest client line accepted: base64 of authzid NUL user NUL pass. */
#define SASL_LINE_MAX (4 * ((2 * SASL_USER_MAX + SASL_PASS_MAX + 2 + 2) / 3 + 1))

enum { SASL_DONE = 0, SASL_CONTINUE = 1, SASL_CANCELLED = 2 };
enum sasl_mech { SASL_NONE = 0, SASL_PLAIN, SASL_LOGIN };

struct sasl {
	enum sasl_mech mech;
	int step;			/* LOGIN: 0 wants user, 1 password */
	const char *challenge;		/* after SASL_CONTINUE, base64 */
	char user[SASL_USER_MAX + 1];
	char pass[SASL_PASS_MAX + 1];
};

/* has_ir: the command carried an initial response (ir, irlen; "=" is the
 * empty response, RFC 4954 section 4). */
int sasl_start(struct sasl *x, const char *mech, size_t mechlen,
    const char *ir, size_t irlen, int has_ir);
int sasl_step(struct sasl *x, const char *line, size_t len);
void sasl_clear(struct sasl *x);

/* Strict base64 (RFC 4648 4: padded, no whitespace) of in[0..len) into
 * out (room for len / 4 * 3 bytes). Returns the decoded length, or
 * CM_EPARSE. */
long sasl_base64_decode(const char *in, size_t len, unsigned char *out);

#endif
