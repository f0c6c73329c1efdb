/*
 * logpath: what capmail-verify's log lines show of a request path
 * (verify/logpath.c). A link's token is a capability: whoever reads the
 * log must not be able to use it, so only its first VERIFY_LOG_TOKEN
 * characters are shown. Pure: no I/O.
 */
#ifndef CAPMAIL_VERIFY_LOGPATH_H
#define CAPMAIL_VERIFY_LOGPATH_H

#include <stddef.h>

#define VERIFY_LOG_TOKEN 8	/* token characters in log lines */

/* Into out (outsz bytes, at least VERIFY_LOG_PATH_MAX): "/v/" and the
 * token's first VERIFY_LOG_TOKEN characters, then "..." when there was
 * more; any other path made printable and cut to as many bytes (so no
 * token under another path is logged whole either). Returns out. */
#define VERIFY_LOG_PATH_MAX (3 + VERIFY_LOG_TOKEN + 3 + 1)
const char *verify_log_path(char *out, size_t outsz, const char *path);

#endif
