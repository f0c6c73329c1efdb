/*
 * Fuzz target for lib/captoken: the token from a URL (network input)
 * goes through captoken_check() and the base32 decoder. Whatever the
 * bytes: never a crash; a token accepted must be exactly 60 base32
 * characters that re-encode to themselves; a token made here is always
 * accepted, and changing any one of its characters gets it refused.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "captoken.h"
#include "errors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char k[] = "fuzz-key-0123456789abcdefghijklmnopqrstuv";
	struct captoken_key key;
	unsigned char raw[64], h[CAPTOKEN_HASH_LEN];
	char enc[160], tok[CAPTOKEN_STRLEN + 1];
	time_t e;
	int n, rc;

	if (captoken_key_set(&key, k, sizeof k - 1) < 0)
		abort();
	rc = captoken_check(&key, CAPTOKEN_KIND_VERIFY, (const char *)data,
	    size, &e, h);
	if (rc == 0 && size != CAPTOKEN_STRLEN)
		abort();
	if (rc != 0 && rc != CM_EPARSE && rc != CM_EAUTH)
		abort();
	n = captoken_b32_decode((const char *)data, size, raw, sizeof raw);
	if (n >= 0) {
		size_t m = captoken_b32_encode(raw, (size_t)n, enc);
		if (m != size || memcmp(enc, data, size) != 0)
			abort();
	}
	/* a real token, then the input's first byte changes one character */
	if (captoken_make(&key, CAPTOKEN_KIND_VERIFY, 2000000000, tok, h) != 0)
		abort();
	if (captoken_check(&key, CAPTOKEN_KIND_VERIFY, tok, CAPTOKEN_STRLEN,
	    &e, h) != 0 || e != 2000000000)
		abort();
	if (size > 0) {
		size_t i = data[0] % CAPTOKEN_STRLEN;
		char c = tok[i];

		tok[i] = size > 1 ? (char)data[1] : 'a';
		rc = captoken_check(&key, CAPTOKEN_KIND_VERIFY, tok,
		    CAPTOKEN_STRLEN, &e, h);
		if (tok[i] != c && rc == 0)
			abort();
	}
	return 0;
}
