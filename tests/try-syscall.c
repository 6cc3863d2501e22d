/* try-syscall — what a role's seccomp filter really allows.
 *
 *   try-syscall ROLE CALL…      ROLE: fuser, indexer, fetcher, config, status, or none (no filter: the
 *                               control)
 *   try-syscall -relaxed        exit 0 when this build's lists carry the sanitizer group
 *
 * For each CALL a child process loads ROLE's filter with the workers' own code
 * (seccomp_lockdown) and makes that one call; the parent prints one line "ROLE CALL RESULT", RESULT
 * being "killed" (the child died of SIGSYS), "ok" (the call succeeded) or "errno:NAME" (it ran and
 * failed). Run as root, so that a call refused by the kernel for want of privilege is told apart
 * from one refused by the filter.
 */
#include "ipc/log.h"
#include "policy/seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* try-syscall's own pid, the children's parent: "another process" for the calls below (taken
 * before the filter, which may not allow getppid). */
static pid_t parent;

static long c_socket_inet(void) { return socket(AF_INET, SOCK_STREAM, 0); }
static long c_socket_inet6(void) { return socket(AF_INET6, SOCK_DGRAM, 0); }
static long c_socket_unix(void) { return socket(AF_UNIX, SOCK_STREAM, 0); }
static long c_socket_netlink(void) { return socket(AF_NETLINK, SOCK_RAW, 0); }
static long c_open_read(void) { return open("/dev/null", O_RDONLY); }
static long c_open_write(void) { return open("/dev/null", O_WRONLY); }
static long c_ptrace(void) { return ptrace(PTRACE_TRACEME, 0, NULL, NULL); }
static long c_kill(void) { return kill(parent, 0); }
/* A bind mount (on a path that does not exist: without a filter it fails with ENOENT): root's list
 * allows mount(2) only with the flags of its own FUSE mount. */
static long c_mount_bind(void) { return mount("/", "/nonexistent/aysfs-try", NULL, MS_BIND, NULL); }
static long c_setuid(void) { return setuid(0); }
static long c_unshare(void) { return syscall(SYS_unshare, 0x00020000 /* CLONE_NEWNS */); }
static long c_bpf(void) { return syscall(SYS_bpf, 0, NULL, 0); }
static long c_memfd(void) { return syscall(SYS_memfd_create, "try", 0); }
static long c_prctl(void) { return prctl(PR_SET_DUMPABLE, 1); }
/* Signals to another process through an fd: F_SETOWN names a process (here the parent) that gets
 * SIGIO, F_SETSIG picks the signal. */
static long c_fcntl_getfl(void) { return fcntl(1, F_GETFL); }
static long c_fcntl_setown(void) { return fcntl(1, F_SETOWN, parent); }
static long c_fcntl_setsig(void) { return fcntl(1, F_SETSIG, SIGUSR1); }
/* Priorities: of this thread (who = 0), or of another process (the parent). */
static long c_ioprio_self(void) { return syscall(SYS_ioprio_set, 1, 0, (2 << 13) | 4); }
static long c_ioprio_other(void) { return syscall(SYS_ioprio_set, 1, parent, (2 << 13) | 4); }
static long c_setprio_self(void) { return setpriority(PRIO_PROCESS, 0, 0); }
static long c_setprio_other(void) { return setpriority(PRIO_PROCESS, (id_t)parent, 0); }

/* setsockopt on a TCP socket: TCP_NODELAY (what libcurl and c-ares set) or anything else. */
static long c_setsockopt(int level, int name)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	return fd < 0 ? -1 : setsockopt(fd, level, name, &one, sizeof one);
}

static long c_sockopt_nodelay(void) { return c_setsockopt(IPPROTO_TCP, TCP_NODELAY); }
static long c_sockopt_other(void) { return c_setsockopt(SOL_SOCKET, SO_KEEPALIVE); }
/* accept4 on fd 4 (the status worker's control socket) or on any other fd. */
static long c_accept_fd4(void) { return accept4(4, NULL, NULL, 0); }
static long c_accept_other(void) { return accept4(9, NULL, NULL, 0); }
/* getpid through the x32 calling convention (__X32_SYSCALL_BIT): another ABI, another table. */
static long c_x32(void) { return syscall(0x40000000 + SYS_getpid); }

static long c_execve(void)
{
	char *argv[] = { "true", NULL }, *envp[] = { NULL };

	return execve("/bin/true", argv, envp);
}

static long c_mmap_exec(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? -1 : 0;
}

static long c_mprotect_exec(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? -1 : mprotect(p, 4096, PROT_READ | PROT_EXEC);
}

static long c_fork(void)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	return pid < 0 ? -1 : 0;
}

static void *nothing(void *arg)
{
	return arg;
}

static long c_thread(void)
{
	pthread_t t;
	int rc = pthread_create(&t, NULL, nothing, NULL);

	if (rc) {
		errno = rc;
		return -1;
	}
	return 0;
}

static long c_sigsys(void)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };

	return sigaction(SIGSYS, &dfl, NULL);
}

static const struct {
	const char *name;
	long (*fn)(void);
} calls[] = {
	{ "socket-inet", c_socket_inet }, { "socket-inet6", c_socket_inet6 },
	{ "socket-unix", c_socket_unix }, { "socket-netlink", c_socket_netlink },
	{ "open-read", c_open_read }, { "open-write", c_open_write }, { "execve", c_execve },
	{ "ptrace", c_ptrace }, { "mmap-exec", c_mmap_exec }, { "mprotect-exec", c_mprotect_exec },
	{ "fork", c_fork }, { "thread", c_thread }, { "kill", c_kill }, { "setuid", c_setuid },
	{ "mount-bind", c_mount_bind },
	{ "unshare", c_unshare }, { "bpf", c_bpf }, { "memfd", c_memfd }, { "prctl", c_prctl },
	{ "sigsys", c_sigsys }, { "x32", c_x32 }, { "fcntl-getfl", c_fcntl_getfl },
	{ "fcntl-setown", c_fcntl_setown }, { "fcntl-setsig", c_fcntl_setsig },
	{ "ioprio-self", c_ioprio_self }, { "ioprio-other", c_ioprio_other },
	{ "setpriority-self", c_setprio_self }, { "setpriority-other", c_setprio_other },
	{ "setsockopt-nodelay", c_sockopt_nodelay }, { "setsockopt-other", c_sockopt_other },
	{ "accept-fd4", c_accept_fd4 }, { "accept-other", c_accept_other },
};

static const struct {
	const char *name;
	enum seccomp_role role;
} roles[] = {
	{ "fuser", SECCOMP_FUSER }, { "indexer", SECCOMP_INDEXER }, { "fetcher", SECCOMP_FETCHER },
	{ "config", SECCOMP_CONFIG }, { "fetcher-sftp", SECCOMP_FETCHER_SFTP },
	{ "status", SECCOMP_STATUS },
	{ "debug", SECCOMP_DEBUG }, { "fuser-debug", SECCOMP_FUSER_DEBUG },
	{ "supervisor", SECCOMP_SUPERVISOR },
};

static void usage(void)
{
	fprintf(stderr, "usage: try-syscall fuser|indexer|fetcher|config|status|none CALL...\n       "
		"try-syscall -relaxed\ncalls:");
	for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++)
		fprintf(stderr, " %s", calls[i].name);
	fputc('\n', stderr);
	exit(2);
}

int main(int argc, char **argv)
{
	int role = -1;

	if (argc == 2 && strcmp(argv[1], "-relaxed") == 0)
		return seccomp_relaxed() ? 0 : 1;
	if (argc < 3)
		usage();
	log_init("try-syscall", LOG_WARN);
	parent = getpid();
	for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
		if (strcmp(argv[1], roles[i].name) == 0)
			role = (int)roles[i].role;
	if (role < 0 && strcmp(argv[1], "none") != 0)
		usage();

	for (int a = 2; a < argc; a++) {
		long (*fn)(void) = NULL;
		int fds[2], status, err = 0;
		pid_t pid;

		for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++)
			if (strcmp(argv[a], calls[i].name) == 0)
				fn = calls[i].fn;
		if (!fn)
			usage();
		fflush(stdout);
		if (pipe(fds) || (pid = fork()) < 0) {
			perror("try-syscall");
			return 2;
		}
		if (pid == 0) {
			close(fds[0]);
			if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
				_exit(3);
			if (role >= 0)
				seccomp_lockdown((enum seccomp_role)role, argv[1]);
			err = fn() < 0 ? errno : 0;
			(void)!write(fds[1], &err, sizeof err);
			_exit(0);
		}
		close(fds[1]);
		if (read(fds[0], &err, sizeof err) != sizeof err)
			err = -1;
		close(fds[0]);
		if (waitpid(pid, &status, 0) != pid) {
			perror("try-syscall: waitpid");
			return 2;
		}
		if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS)
			printf("%s %s killed\n", argv[1], argv[a]);
		else if (WIFSIGNALED(status))
			printf("%s %s signal:%d\n", argv[1], argv[a], WTERMSIG(status));
		else if (err == -1 && WEXITSTATUS(status) == 0)
			printf("%s %s ok\n", argv[1], argv[a]);   /* it became /bin/true */
		else if (err == -1)
			printf("%s %s exit:%d\n", argv[1], argv[a], WEXITSTATUS(status));
		else if (err)
			printf("%s %s errno:%s\n", argv[1], argv[a], strerrorname_np(err));
		else
			printf("%s %s ok\n", argv[1], argv[a]);
	}
	return 0;
}
