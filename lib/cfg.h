/*
 * cfg: capmail.conf, flat "name = value" lines, '#' comments, blank lines.
 * Every parameter has one name, one default and bounds, listed once in
 * cfg.c's table and documented in doc/capmail.conf.5. Unknown names and
 * out-of-range values are errors (with file:line), never ignored.
 *
 * cfg_load(NULL, ...) gives the defaults. Values are read with the typed
 * getters; asking for a name not in the table is a panic (a programming
 * error, not a config error).
 */
#ifndef CAPMAIL_CFG_H
#define CAPMAIL_CFG_H

#include <stddef.h>

struct cfg;

/* Load path (NULL: defaults only). On error returns NULL and puts a
 * human-readable reason in err (errsz bytes). */
struct cfg *cfg_load(const char *path, char *err, size_t errsz);
void cfg_free(struct cfg **cfgp);
const char *cfg_str(const struct cfg *c, const char *name);
long long cfg_int(const struct cfg *c, const char *name);
int cfg_bool(const struct cfg *c, const char *name);
/* Write "name = value" for each parameter that differs from its default
 * (all parameters when all != 0) to stdout, like postconf -n. */
void cfg_dump(const struct cfg *c, int all);

#endif
