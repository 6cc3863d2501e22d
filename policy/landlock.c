/* landlock.c — path rules for a worker (see landlock.h). No library: three system calls. */
#include "policy/landlock.h"

#include "ipc/log.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#ifdef AYSFS_SANITIZE
#include <sanitizer/lsan_interface.h>
#endif
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Rights newer than the system's headers (Debian 12 ships ABI 2's). */
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE     (1ULL << 14)    /* ABI 3 */
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV    (1ULL << 15)    /* ABI 5 */
#endif
#define LL_NET_BIND_TCP                 (1ULL << 0)     /* ABI 4 */
#define LL_NET_CONNECT_TCP              (1ULL << 1)
#define LL_SCOPE_ABSTRACT_UNIX_SOCKET   (1ULL << 0)     /* ABI 6 */
#define LL_SCOPE_SIGNAL                 (1ULL << 1)

/* struct landlock_ruleset_attr as of ABI 6; the kernel takes the size we pass. */
struct ll_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};

#define FS_ABI1 ((LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1)        /* bits 0 … 12 */

#define FS_READ (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
#define FS_WRITE (FS_READ | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR | \
		  LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_DIR | \
		  LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_REFER | LANDLOCK_ACCESS_FS_TRUNCATE)
/* What a rule on a single file may grant. */
#define FS_FILE (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | \
		 LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_TRUNCATE | LANDLOCK_ACCESS_FS_IOCTL_DEV)

int landlock_restrict(const struct landlock_path *paths, size_t n)
{
	struct ll_ruleset_attr attr = { 0 };
	size_t attr_size = sizeof attr;
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	int ruleset, rc = 0;

	if (abi < 1) {
		log_warn("Landlock is not available (%s): file access is limited by the user and "
			 "seccomp only", strerror(errno));
		return 0;
	}
	/* Handle every right this kernel knows: what is handled and not granted is denied. */
	attr.handled_access_fs = FS_ABI1;
	if (abi >= 2)
		attr.handled_access_fs |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		attr.handled_access_fs |= LANDLOCK_ACCESS_FS_TRUNCATE;
	if (abi >= 4)
		attr.handled_access_net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;
	if (abi >= 5)
		attr.handled_access_fs |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
	if (abi >= 6)
		attr.scoped = LL_SCOPE_ABSTRACT_UNIX_SOCKET | LL_SCOPE_SIGNAL;
	else if (abi >= 4)
		attr_size = offsetof(struct ll_ruleset_attr, scoped);
	else
		attr_size = offsetof(struct ll_ruleset_attr, handled_access_net);

#ifdef AYSFS_SANITIZE
	/* LeakSanitizer reads /proc/self/task; after this it could not (see seccomp_lockdown). */
	__lsan_do_leak_check();
#endif
	ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0);
	if (ruleset < 0)
		return -errno;
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct landlock_path_beneath_attr rule = { 0 };
		struct stat st;
		int fd = open(paths[i].path, O_PATH | O_CLOEXEC);

		if (fd < 0) {
			log_notice("Landlock: %s: %s; not reachable", paths[i].path, strerror(errno));
			continue;
		}
		rule.parent_fd = fd;
		rule.allowed_access = paths[i].access == LL_WRITE ? FS_WRITE : FS_READ;
		if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode))
			rule.allowed_access &= FS_FILE;
		rule.allowed_access &= attr.handled_access_fs;
		if (syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0))
			rc = -errno;
		close(fd);
		if (rc)
			log_err("Landlock: %s: %s", paths[i].path, strerror(-rc));
	}
	/* no_new_privs is already set (policy_worker_start); restrict_self needs it. */
	if (rc == 0 && (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
			syscall(SYS_landlock_restrict_self, ruleset, 0)))
		rc = -errno;
	close(ruleset);
	return rc ? rc : (int)abi;
}
