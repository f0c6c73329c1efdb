/*
 * log: one line per event on stderr. See log.h.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static const char *log_prog = "capmail";
static enum log_level log_min = LOG_LVL_INFO;

static const char *const level_names[] = { "debug", "info", "warning",
    "error" };

void
log_open(const char *progname)
{
	log_prog = progname;
	setvbuf(stderr, NULL, _IOLBF, 0);
}

void
log_set_level(enum log_level lvl)
{
	log_min = lvl;
}

static void
log_line(enum log_level lvl, const char *id, const char *fmt, va_list ap)
{
	char line[2048];
	char stamp[32];
	struct timespec ts;
	struct tm tm;
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(line, sizeof line, "%s.%03ldZ %s[%ld]: %s%s%s ", stamp,
	    ts.tv_nsec / 1000000, log_prog, (long)getpid(),
	    lvl >= LOG_LVL_WARN ? level_names[lvl] : "",
	    lvl >= LOG_LVL_WARN ? ": " : "", id != NULL ? id : "-");
	if (n < 0)
		return;
	if ((size_t)n < sizeof line)
		vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	fprintf(stderr, "%s\n", line);
}

void
log_msg(enum log_level lvl, const char *id, const char *fmt, ...)
{
	va_list ap;

	if (lvl < log_min)
		return;
	va_start(ap, fmt);
	log_line(lvl, id, fmt, ap);
	va_end(ap);
}

void
log_fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line(LOG_LVL_ERROR, "fatal", fmt, ap);
	va_end(ap);
	exit(1);
}

void
log_panic(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line(LOG_LVL_ERROR, "panic", fmt, ap);
	va_end(ap);
	abort();
}

const char *
log_safe(char *out, size_t outsz, const char *s, size_t len)
{
	size_t o = 0, i;

	if (outsz == 0)
		return out;
	for (i = 0; i < len && o + 1 < outsz; i++) {
		unsigned char ch = (unsigned char)s[i];
		out[o++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
	}
	if (i < len && outsz > 4) {	/* cut: say so */
		o = outsz - 4;
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}
