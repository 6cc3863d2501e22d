/* seccomp.h — the workers' system call allow-lists (policy/seccomp.c, one table per role).
 *
 * A worker calls seccomp_lockdown() once it has opened everything it will ever open by path and
 * started its threads. From then on a system call that its role's table does not list is never
 * executed: the kernel stops it and raises SIGSYS; a handler (installed before the filter)
 * writes one line naming the call on stderr, tells the supervisor the number on fd 3, and resets
 * SIGSYS to its default action, which the filter itself turns into SECCOMP_RET_KILL_PROCESS. The
 * process dies of SIGSYS, and the supervisor logs the call by name. docs/SECURITY.md says why.
 *
 * Builds with AYSFS_SANITIZE (ASan/UBSan) add the few calls the sanitizer runtime makes when it
 * reports (read-only opens of /proc/self/maps and the executable, readlink): a relaxed list, for
 * those builds only. Release builds never contain it.
 */
#ifndef AYSFS_SECCOMP_H
#define AYSFS_SECCOMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* SECCOMP_CONFIG: the configuration reader (aysfs-config): it reads the fd it is handed and
 * answers on its channel, so the base list is all it gets. SECCOMP_FETCHER_SFTP: the fetcher of a
 * mount with an sftp:// layer, which may also open files read-only (libssh2 reads the client key
 * by name, /proc/self/fd/N of the fetcher's own memfd; docs/SECURITY.md). SECCOMP_DEBUG: aysfs-debug
 * (Redis's socket, memfds); SECCOMP_FUSER_DEBUG: the fuser of a mount with [debug]. */
enum seccomp_role {
	SECCOMP_FUSER, SECCOMP_INDEXER, SECCOMP_FETCHER, SECCOMP_CONFIG, SECCOMP_FETCHER_SFTP,
	SECCOMP_STATUS, SECCOMP_DEBUG, SECCOMP_FUSER_DEBUG, SECCOMP_SUPERVISOR,
	SECCOMP_ROLES
};

/* Load the role's filter on every thread of the process (SECCOMP_FILTER_FLAG_TSYNC). Exits with
 * status 70 and a CRIT line when the filter cannot be built or loaded: a worker never runs
 * without its filter. `role_name` is used in the SIGSYS line. */
void seccomp_lockdown(enum seccomp_role role, const char *role_name);

/* True in builds whose lists carry the sanitizer group (AYSFS_SANITIZE). */
bool seccomp_relaxed(void);

/* The name of system call `nr` of audit architecture `arch` (0: this machine's), or "#nr" when it
 * has none; written into buf (always NUL-terminated). For the supervisor's log. */
const char *seccomp_syscall_name(uint32_t arch, int nr, char *buf, size_t len);

#endif
