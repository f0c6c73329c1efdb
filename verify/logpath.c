/*
 * logpath: request paths for log lines. See logpath.h.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "logpath.h"

const char *
verify_log_path(char *out, size_t outsz, const char *path)
{
	size_t n = strlen(path);

	if (strncmp(path, "/v/", 3) == 0) {
		char pre[VERIFY_LOG_TOKEN + 1];

		log_safe(pre, sizeof pre, path + 3,
		    n - 3 < VERIFY_LOG_TOKEN ? n - 3 : VERIFY_LOG_TOKEN);
		snprintf(out, outsz, "/v/%s%s", pre,
		    n - 3 > VERIFY_LOG_TOKEN ? "..." : "");
		return out;
	}
	/* anything else: at most a token prefix's worth, so that no token
	 * under another path is logged whole either */
	{
		char cut[3 + VERIFY_LOG_TOKEN + 1];

		log_safe(cut, sizeof cut, path,
		    n < sizeof cut - 1 ? n : sizeof cut - 1);
		snprintf(out, outsz, "%s%s", cut,
		    n > sizeof cut - 1 ? "..." : "");
	}
	return out;
}
