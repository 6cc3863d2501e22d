/* policy.h — least privilege for the workers.
 *
 * The supervisor's child calls policy_become() between fork and exec: it takes the worker's user
 * and group, drops every capability and supplementary group, and clears the bounding set. The
 * worker then calls policy_worker_start() first thing: it checks that what should be gone is gone
 * (not root, no capability, ids cannot be regained) and makes itself not dumpable, without core
 * files, bound to its parent's life and to a bounded fd table. Seccomp allow-lists come on top of
 * this (policy/seccomp.c) once a worker has opened what it needs.
 */
#ifndef AYSFS_POLICY_H
#define AYSFS_POLICY_H

#include <sys/types.h>

/* Returns 0 or -errno; async-signal-safe enough for use after fork in a single-threaded parent. */
int policy_become(uid_t uid, gid_t gid);

/* Exits with status 70 (and a CRIT line) when any check fails. */
void policy_worker_start(const char *role);

/* The supervisor, once the workers' binaries are open and the cache folder exists: keep only
 * CAP_SYS_ADMIN (unmount; mount), CAP_SETUID, CAP_SETGID and CAP_SETPCAP (a restarted worker takes
 * its user and has its bounding set cleared) and CAP_KILL (signals to workers of other users), in
 * the effective, permitted and bounding sets; drop every other one. Returns 0 or -EPERM. */
int policy_supervisor_caps(void);

/* The launcher (supervisor/spawn.c): keep only CAP_SETUID, CAP_SETGID and CAP_SETPCAP, what
 * policy_become needs. Returns 0 or -errno. */
int policy_launcher_caps(void);

/* Resolve an account name to ids. Returns 0 or -ENOENT. */
int policy_user(const char *name, uid_t *uid, gid_t *gid);

#endif
