/* testhook.h — misbehaviour on request, for the tests of the lock-down (policy/testhook.c).
 *
 * Compiled in only with -DAYSFS_TEST_HOOKS, which the Makefile sets for the test copies of the
 * programs in build/VARIANT/hooks/ and never for what `make install` installs (a test checks the
 * installed binaries). Everywhere else testhook_install() is an empty inline function.
 */
#ifndef AYSFS_TESTHOOK_H
#define AYSFS_TESTHOOK_H

#include "policy/seccomp.h"

#ifdef AYSFS_TEST_HOOKS
/* SIGUSR2: the worker makes the call its filter must refuse (the fetcher and the fuser open a
 * file for writing, the indexer makes a TCP socket). SIGURG: it sends a malformed message to the
 * supervisor on fd 3. SIGWINCH: a second MSG_READY. SIGTTIN: lines on stderr in others' names.
 * SIGTTOU: a MSG_CTL_REPLY to no question. SIGPROF: 2,000 lines on stderr. */
void testhook_install(enum seccomp_role role);
#else
static inline void testhook_install(enum seccomp_role role)
{
	(void)role;
}
#endif

#endif
