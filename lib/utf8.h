/*
 * utf8: well-formed UTF-8 (RFC 3629 section 4: no overlong forms, no
 * surrogates, nothing above U+10FFFF), for the places that must not pass
 * anything else on (PostgreSQL text, header fields, HTML).
 */
#ifndef CAPMAIL_UTF8_H
#define CAPMAIL_UTF8_H

#include <stddef.h>

/* The length of the well-formed sequence at s[0..n) (1 to 4), or 0 when
 * s does not start one (n >= 1). */
size_t utf8_seq(const unsigned char *s, size_t n);
/* 1 when the NUL-terminated s is all well-formed UTF-8, else 0. */
int utf8_valid(const char *s);

#endif
