/*
 * Fuzz target for capmail-verify's handling of client bytes (the HTTP
 * parsing itself is libmicrohttpd's): the request path as logged
 * (verify_log_path), the anti-forgery form field (formtoken_check) and
 * html_escape() of arbitrary text. Whatever the bytes: never a crash; a
 * logged /v/ path shows at most VERIFY_LOG_TOKEN token characters and
 * only printable ASCII; a form field is accepted only when it is the one
 * formtoken_make() gives; escaped text holds none of < > " ' and no
 * control byte, and is well-formed UTF-8.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "captoken.h"
#include "errors.h"
#include "formtoken.h"
#include "html.h"
#include "logpath.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_utf8(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = s[i];
		size_t need = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 :
		    c >= 0xc2 ? 2 : 0;

		if (need == 0 || i + need > n)
			abort();
		if (c < 0x20 || c == 0x7f || c == '<' || c == '>' ||
		    c == '"' || c == '\'')
			abort();
		for (size_t j = 1; j < need; j++)
			if ((s[i + j] & 0xc0) != 0x80)
				abort();
		i += need;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char k[] = "fuzz-key-0123456789abcdefghijklmnopqrstuv";
	struct captoken_key key;
	char tok[CAPTOKEN_STRLEN + 1], f[FORMTOKEN_MAXLEN];
	char out[VERIFY_LOG_PATH_MAX], *path;
	unsigned char h[CAPTOKEN_HASH_LEN];
	const time_t now = 1700000000;
	struct buf b;
	int rc;

	/* the path: a C string as libmicrohttpd hands it over */
	if ((path = malloc(size + 1)) == NULL)
		return 0;
	memcpy(path, data, size);
	path[size] = '\0';
	verify_log_path(out, sizeof out, path);
	for (size_t i = 0; out[i] != '\0'; i++)
		if (out[i] < 0x20 || out[i] > 0x7e)
			abort();
	if (strncmp(out, "/v/", 3) == 0 && strlen(out) > 3 + VERIFY_LOG_TOKEN &&
	    strcmp(out + 3 + VERIFY_LOG_TOKEN, "...") != 0)
		abort();
	free(path);

	/* the form field */
	if (captoken_key_set(&key, k, sizeof k - 1) < 0)
		abort();
	if (captoken_make(&key, CAPTOKEN_KIND_VERIFY, now + 3600, tok, h) != 0)
		abort();
	rc = formtoken_check(&key, tok, CAPTOKEN_STRLEN, (const char *)data,
	    size, now);
	if (rc != 0 && rc != CM_EPARSE && rc != CM_EAUTH && rc != CM_EPERM)
		abort();
	if (rc == 0)		/* a MAC guessed: cannot happen */
		abort();
	if (formtoken_make(&key, tok, CAPTOKEN_STRLEN, now, f) != 0 ||
	    formtoken_check(&key, tok, CAPTOKEN_STRLEN, f, strlen(f),
	    now) != 0)
		abort();

	/* escaping */
	buf_init(&b, 16 * size + 16);
	if (html_escape(&b, (const char *)data, size) != 0)
		abort();
	check_utf8((const unsigned char *)buf_cstr(&b), b.len);
	buf_free(&b);
	captoken_key_wipe(&key);
	return 0;
}
