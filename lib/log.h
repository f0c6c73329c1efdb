/*
 * log: one line per event, to stderr (journald / the quickstart's log
 * file collect it). Lines start with the program name and an id - a session
 * id, a message id, or "-" - then key=value pairs, as Postfix and OpenSMTPD
 * log:
 *
 *   capmail-gateway[123]: 4f2a9c01 smtp connected address=127.0.0.1:40312
 *
 * Client-supplied text must go through log_safe() first: it makes it
 * printable and caps its width.
 *
 * log_fatal() is for an unusable environment (bad config, port in use):
 * it logs and exits 1. log_panic() is for a broken invariant: it logs and
 * aborts (core dump).
 */
#ifndef CAPMAIL_LOG_H
#define CAPMAIL_LOG_H

#include <stddef.h>

enum log_level { LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR };

void log_open(const char *progname);
void log_set_level(enum log_level lvl);
void log_msg(enum log_level lvl, const char *id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define log_debug(id, ...) log_msg(LOG_LVL_DEBUG, id, __VA_ARGS__)
#define log_info(id, ...) log_msg(LOG_LVL_INFO, id, __VA_ARGS__)
#define log_warn(id, ...) log_msg(LOG_LVL_WARN, id, __VA_ARGS__)
#define log_error(id, ...) log_msg(LOG_LVL_ERROR, id, __VA_ARGS__)
_Noreturn void log_fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
_Noreturn void log_panic(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* Copy at most `len` bytes of untrusted text into out (outsz bytes),
 * replacing non-printable bytes with '?' and ending with "..." when cut.
 * Returns out. */
const char *log_safe(char *out, size_t outsz, const char *s, size_t len);

#endif
