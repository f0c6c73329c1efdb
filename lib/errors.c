/*
 * errors: names and messages for the CM_E* codes (errors.h).
 */
#include "config.h"

#include "errors.h"

const char *
cm_strerror(int err)
{
	switch (err) {
	case CM_OK:
		return "success";
#define X(name, msg) case CM_##name: return msg;
	CM_ERRNO_MAP(X)
#undef X
	default:
		return "unknown error";
	}
}

const char *
cm_errname(int err)
{
	switch (err) {
	case CM_OK:
		return "OK";
#define X(name, msg) case CM_##name: return #name;
	CM_ERRNO_MAP(X)
#undef X
	default:
		return "EUNKNOWN";
	}
}
