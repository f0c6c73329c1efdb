/*
 * errors: the one list of capmail's error codes, negative ints, with names
 * and messages generated from one table (after libuv's UV_ERRNO_MAP).
 * Functions return 0 (or a positive count) for success, CM_E* for failure.
 */
#ifndef CAPMAIL_ERRORS_H
#define CAPMAIL_ERRORS_H

#define CM_ERRNO_MAP(X)                                                  \
	X(ENOMEM, "out of memory")                                      \
	X(ETOOBIG, "limit exceeded")                                    \
	X(EINVAL, "invalid argument")                                   \
	X(EPARSE, "syntax error")                                       \
	X(EAGAIN, "need more input")                                    \
	X(EIO, "input/output error")                                    \
	X(ENOTFOUND, "not found")                                       \
	X(EEXIST, "already exists")                                     \
	X(EDB, "database error")                                        \
	X(EDBDOWN, "database unavailable")                              \
	X(EPERM, "permission denied")                                   \
	X(EAUTH, "authentication failed")                               \
	X(ECONFIG, "configuration error")                               \
	X(ECLOSED, "connection closed")

enum cm_err {
	CM_OK = 0,
	CM_ERR_FIRST_ = -1000,
#define X(name, msg) CM_##name,
	CM_ERRNO_MAP(X)
#undef X
	CM_ERR_LAST_
};

const char *cm_strerror(int err);
const char *cm_errname(int err);

#endif
