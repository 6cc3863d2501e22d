/* allow.h — how an allow-list is written (policy/allow_*.h, policy/allow_*.c) and the table of
 * roles the engine (policy/seccomp.c) loads from. Each binary links one table: the privileged
 * core's (allow_core.c: the fuser's and the supervisor's roles only) or everyone's
 * (allow_workers.c), so that the core holds no other process's list. */
#ifndef AYSFS_ALLOW_H
#define AYSFS_ALLOW_H

#include "policy/seccomp.h"

#include <fcntl.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>

/* One allowed call: any arguments, or only when every listed argument test holds. */
struct sc_allow {
	int nr;
	unsigned nargs;
	struct scmp_arg_cmp arg[2];
};

#define ANY(name)               { SCMP_SYS(name), 0, { { 0 } } }
#define ARG(name, a, cmp, v)    { SCMP_SYS(name), 1, { { .arg = (a), .op = (cmp), .datum_a = (v) } } }
#define MASKED(name, a, m, v)   { SCMP_SYS(name), 1, \
				  { { .arg = (a), .op = SCMP_CMP_MASKED_EQ, .datum_a = (m), .datum_b = (v) } } }
/* fcntl with one command: none of F_SETOWN, F_SETSIG (which would signal another process of the
 * same user), locks or leases unless a list names it. */
#define FCNTL(cmd)              ARG(fcntl, 1, SCMP_CMP_EQ, cmd)

struct sc_group {
	const struct sc_allow *list;
	size_t n;
};

#define GROUP(a) { (a), sizeof(a) / sizeof((a)[0]) }

/* Each role: the base, its own list, and room for a feature's group; a role a binary has no list
 * for has none ({ 0 }), and the engine refuses to load it. */
extern const struct sc_group seccomp_roles[SECCOMP_ROLES][3];

#endif
