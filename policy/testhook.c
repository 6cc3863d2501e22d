/* testhook.c — see testhook.h. Nothing here exists in a build without AYSFS_TEST_HOOKS. */
#include "policy/testhook.h"

#ifdef AYSFS_TEST_HOOKS

#include "ipc/log.h"
#include "ipc/proto.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

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

/* SIGWINCH: a well-formed MSG_READY once more, out of step with the protocol. */
static void testhook_ready_again(int sig)
{
	struct ipc_hdr h = { IPC_MAGIC, MSG_READY, 0, 0, 0, 0 };
	struct iovec iov = { &h, sizeof h };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

	(void)sig;
	sendmsg(3, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* SIGPROF: 2,000 lines to stderr at once (about 100 KB, more than a pipe holds). */
static void testhook_flood(int sig)
{
	static const char line[] = "\004a worker floods its stderr with lines of fifty bytes\n";

	(void)sig;
	for (int i = 0; i < 2000; i++)
		(void)!write(STDERR_FILENO, line, sizeof line - 1);
}

/* SIGTTOU: a well-formed MSG_CTL_REPLY that answers no question root relayed. */
static void testhook_reply_unasked(int sig)
{
	struct {
		struct ipc_hdr h;
		uint32_t status, text_len;
	} m = { { IPC_MAGIC, MSG_CTL_REPLY, 0, 8, 0, 0xdead }, 0, 0 };
	struct iovec iov = { &m, sizeof m };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	(void)sig;
	sendmsg(3, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* SIGTTIN: lines on stderr in others' names (root's, the indexer's), one with a carriage return
 * and one without a newline: each must reach the log as this worker's (the second at the level
 * its first byte chooses, WARN). */
static void testhook_forge(int sig)
{
	static const char forged[] = "NOTICE supervisor: forged by a worker\n"
				     "\002\033WARN indexer: forged too\r\n"
				     "ERROR status: cut short";

	(void)sig;
	(void)!write(STDERR_FILENO, forged, sizeof forged - 1);
}

void testhook_install(enum seccomp_role role)
{
	struct sigaction c = { .sa_handler = testhook_ready_again, .sa_flags = SA_RESTART };

	struct sigaction a = { .sa_handler = testhook_refused_call, .sa_flags = SA_RESTART };
	struct sigaction b = { .sa_handler = testhook_garbage, .sa_flags = SA_RESTART };

	hook_role = role;
	sigemptyset(&a.sa_mask);
	sigemptyset(&b.sa_mask);
	sigaction(SIGUSR2, &a, NULL);
	sigaction(SIGURG, &b, NULL);
	sigemptyset(&c.sa_mask);
	sigaction(SIGWINCH, &c, NULL);
	c.sa_handler = testhook_forge;
	sigaction(SIGTTIN, &c, NULL);
	c.sa_handler = testhook_reply_unasked;
	sigaction(SIGTTOU, &c, NULL);
	c.sa_handler = testhook_flood;
	sigaction(SIGPROF, &c, NULL);
	log_warn("%s (SIGUSR2: a refused call, SIGURG: garbage to the supervisor, SIGWINCH: a second "
		 "ready, SIGTTIN: forged log lines, SIGTTOU: a reply nobody asked for, SIGPROF: a flood of lines)", testhook_marker);
}

#endif
