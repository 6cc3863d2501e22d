/* policy.c — identity and privilege checks shared by the workers (see policy.h). */
#include "policy/policy.h"

#include "ipc/log.h"

#include <cap-ng.h>
#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#define WORKER_NOFILE 4096
#define FUSER_NOFILE 131072     /* blob fds: those open, and up to IDLE_FDS_MAX (fuser.h) idle */

int policy_user(const char *name, uid_t *uid, gid_t *gid)
{
	struct passwd *pw = getpwnam(name);

	if (!pw || pw->pw_uid == 0)
		return -ENOENT;
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

int policy_become(uid_t uid, gid_t gid)
{
	struct rlimit nofile = { FUSER_NOFILE, FUSER_NOFILE };

	if (uid == 0 || gid == 0)
		return -EPERM;
	/* Still root: room for the largest need (the fuser's), where the supervisor's own limits allow
	 * it (a container may not); each worker then lowers it to its own. */
	(void)setrlimit(RLIMIT_NOFILE, &nofile);
	/* libcap-ng keeps the pid it acts on, reset by a fork handler; the launcher's children come
	 * from clone(CLONE_PARENT), which runs no such handler. */
	capng_setpid((int)getpid());
	capng_clear(CAPNG_SELECT_BOTH);
	if (capng_change_id((int)uid, (int)gid, CAPNG_DROP_SUPP_GRP | CAPNG_CLEAR_BOUNDING))
		return -EPERM;
	/* Check, do not trust: the ids must not be regainable. */
	if (setuid(0) == 0 || setgid(0) == 0 || getuid() != uid || geteuid() != uid ||
	    getgid() != gid || getegid() != gid)
		return -EPERM;
	return 0;
}

/* Keep only these capabilities, in the effective, permitted and bounding sets; then read back
 * what the process holds (for the caller's checks). 0, -EINVAL or -EPERM. */
static int keep_only(const int *keep, size_t n)
{
	capng_clear(CAPNG_SELECT_BOTH);
	for (size_t i = 0; i < n; i++)
		if (capng_update(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED | CAPNG_BOUNDING_SET, keep[i]))
			return -EINVAL;
	if (capng_apply(CAPNG_SELECT_BOTH))
		return -EPERM;
	capng_get_caps_process();
	return 0;
}

int policy_supervisor_caps(void)
{
	static const int keep[] = { CAP_SYS_ADMIN, CAP_SETUID, CAP_SETGID, CAP_SETPCAP, CAP_KILL };
	struct rlimit nofile;

	/* Last use of CAP_SYS_RESOURCE: a hard fd limit with room for the fuser's (policy_become
	 * gives it to the fuser, each later start included), where this host allows it. */
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_max < FUSER_NOFILE) {
		nofile.rlim_max = FUSER_NOFILE;
		(void)setrlimit(RLIMIT_NOFILE, &nofile);
	}
	if (keep_only(keep, sizeof keep / sizeof keep[0]))
		return -EPERM;
	/* Check, do not trust. */
	if (capng_have_capability(CAPNG_EFFECTIVE, CAP_DAC_OVERRIDE) ||
	    capng_have_capability(CAPNG_PERMITTED, CAP_SYS_MODULE) ||
	    capng_have_capability(CAPNG_BOUNDING_SET, CAP_SYS_PTRACE) ||
	    !capng_have_capability(CAPNG_EFFECTIVE, CAP_SYS_ADMIN))
		return -EPERM;
	return 0;
}

int policy_launcher_caps(void)
{
	static const int keep[] = { CAP_SETUID, CAP_SETGID, CAP_SETPCAP };

	if (keep_only(keep, sizeof keep / sizeof keep[0]))
		return -EPERM;
	return capng_have_capability(CAPNG_EFFECTIVE, CAP_SYS_ADMIN) ? -EPERM : 0;
}

void policy_worker_start(const char *role)
{
	rlim_t n = strcmp(role, "fuser") == 0 ? FUSER_NOFILE : WORKER_NOFILE;
	struct rlimit no_core = { 0, 0 }, nofile;
	pid_t parent = getppid();
	uid_t ruid, euid, suid;

	/* Die with the supervisor; the signal is cleared by the credential change, so set it here
	 * and close the race with a parent that is already gone. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent)
		die(70, "%s: supervisor is gone", role);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_DUMPABLE, 0))
		die(70, "%s: prctl: %s", role, strerror(errno));
	/* A stderr whose reader went away (or a peer that closed) is an error of the write. */
	signal(SIGPIPE, SIG_IGN);
	if (getrlimit(RLIMIT_NOFILE, &nofile))
		die(70, "%s: getrlimit: %s", role, strerror(errno));
	nofile.rlim_cur = nofile.rlim_max = n < nofile.rlim_max ? n : nofile.rlim_max;
	if (setrlimit(RLIMIT_CORE, &no_core) || setrlimit(RLIMIT_NOFILE, &nofile))
		die(70, "%s: setrlimit: %s", role, strerror(errno));
	if (getresuid(&ruid, &euid, &suid) || !ruid || !euid || !suid)
		die(70, "%s: runs as root; refusing", role);
	capng_get_caps_process();
	if (capng_have_capabilities(CAPNG_SELECT_CAPS) != CAPNG_NONE)
		die(70, "%s: still holds capabilities; refusing", role);
	if (setuid(0) == 0)
		die(70, "%s: could regain root; refusing", role);
}
