/* allow_core.c — the table of roles of the privileged core's binaries: aysfs-supervisor and
 * aysfs-fuser(-debug) hold their own lists and no other process's (policy/allow.h). */
#include "policy/allow_core.h"

const struct sc_group seccomp_roles[SECCOMP_ROLES][3] = {
	[SECCOMP_FUSER] = { GROUP(base), GROUP(fuser) },
	[SECCOMP_FUSER_DEBUG] = { GROUP(base), GROUP(fuser), GROUP(fuser_debug) },
	[SECCOMP_SUPERVISOR] = { GROUP(base), GROUP(supervisor) },
};
