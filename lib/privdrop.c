/*
 * privdrop: drop root for good. See privdrop.h.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "log.h"
#include "privdrop.h"

int
privdrop(const char *user)
{
	struct passwd *pw;

	if (geteuid() != 0)
		return 0;
	if (user == NULL || *user == '\0')
		log_fatal("running as root and no user to drop to is configured");
	errno = 0;
	if ((pw = getpwnam(user)) == NULL)
		log_fatal("user %s: %s", user, errno ? strerror(errno) :
		    "no such user");
	if (pw->pw_uid == 0)
		log_fatal("user %s: refusing to run with uid 0", user);
	if (setgroups(1, &pw->pw_gid) < 0)
		log_fatal("setgroups: %s", strerror(errno));
	if (setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0)
		log_fatal("setresgid: %s", strerror(errno));
	if (setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0)
		log_fatal("setresuid: %s", strerror(errno));
	if (setuid(0) == 0 || seteuid(0) == 0)
		log_fatal("privdrop: root could be regained");
	log_info(NULL, "dropped privileges user=%s uid=%ld gid=%ld", user,
	    (long)pw->pw_uid, (long)pw->pw_gid);
	return 0;
}
