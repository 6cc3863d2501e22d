/* testhook.c — see testhook.h. Nothing here exists in a build without AYSFS_TEST_HOOKS. */
#include "policy/testhook.h"

#ifdef AYSFS_TEST_HOOKS

#include "ipc/log.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

/* What `strings` finds in a binary built with the hooks (policy.t looks for it). */
const char testhook_marker[] = "AYSFS_TEST_HOOKS: this binary misbehaves on request";

static enum seccomp_role hook_role;

static void testhook_refused_call(int sig)
{
	(void)sig;
	if (hook_role == SECCOMP_INDEXER)
		socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	else
		open("/dev/null", O_WRONLY | O_CLOEXEC);
}

static void testhook_garbage(int sig)
{
	static char junk[] = "this is not an aysfs message";
	struct iovec iov = { junk, sizeof junk };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

	(void)sig;
	sendmsg(3, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
}

void testhook_install(enum seccomp_role role)
{
	struct sigaction a = { .sa_handler = testhook_refused_call, .sa_flags = SA_RESTART };
	struct sigaction b = { .sa_handler = testhook_garbage, .sa_flags = SA_RESTART };

	hook_role = role;
	sigemptyset(&a.sa_mask);
	sigemptyset(&b.sa_mask);
	sigaction(SIGUSR2, &a, NULL);
	sigaction(SIGURG, &b, NULL);
	log_warn("%s (SIGUSR2: a refused call, SIGURG: garbage to the supervisor)", testhook_marker);
}

#endif
