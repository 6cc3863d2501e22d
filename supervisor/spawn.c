/* spawn.c — starting a worker: fixed fds, its own user, no capabilities, empty environment.
 *
 * The binary is opened (O_PATH) by root at start-up and executed through that fd, so a worker
 * runs even where its user could not reach the binary's folder, and a binary swapped on disk
 * later does not change what a restart runs.
 */
#include "supervisor/supervisor.h"
#include "supervisor/ctl.h"

#include "ipc/ipc.h"
#include "ipc/log.h"
#include "policy/policy.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <linux/close_range.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <sys/socket.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int exes[8], nexes;      /* every binary spawn_open_exe opened (the launcher's list) */

int spawn_open_exe(struct worker *w)
{
	char self[PATH_MAX], path[PATH_MAX + 32];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	char *slash;

	if (n > 0) {
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			snprintf(path, sizeof path, "%s/aysfs-%s", self, w->exe ? w->exe : w->name);
			w->exe_fd = open(path, O_PATH | O_CLOEXEC);
			if (w->exe_fd >= 0)
				goto opened;
		}
	}
	snprintf(path, sizeof path, "%s/aysfs-%s", AYSFS_LIBEXEC, w->exe ? w->exe : w->name);
	w->exe_fd = open(path, O_PATH | O_CLOEXEC);
	if (w->exe_fd < 0) {
		int err = errno;

		log_crit("cannot find aysfs-%s beside %s nor in %s: %s", w->exe ? w->exe : w->name,
			 self, AYSFS_LIBEXEC, strerror(err));
		return -err;
	}
opened:
	if (nexes < (int)(sizeof exes / sizeof exes[0]))
		exes[nexes++] = w->exe_fd;
	return 0;
}

/* In the child: put the fds where the worker expects them (err as stderr: its pipe to root,
 * logrelay.c) and close everything else. */
static int child_fds(const struct worker *w, int err)
{
	int tmp[3], exe, devnull = open("/dev/null", O_RDWR);

	if (devnull < 0)
		return -1;
	/* Move every source above the target range first, so no dup2 overwrites a later source. */
	for (int i = 0; i < 3; i++)
		tmp[i] = w->fds[i] >= 0 ? fcntl(w->fds[i], F_DUPFD, 16) : -1;
	exe = fcntl(w->exe_fd, F_DUPFD_CLOEXEC, 16);
	err = fcntl(err, F_DUPFD, 16);
	if (exe < 0 || err < 0 || dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 || dup2(err, 2) < 0)
		return -1;
	for (int i = 0; i < 3; i++) {
		if (tmp[i] < 0)
			continue;
		if (dup2(tmp[i], 3 + i) < 0)
			return -1;
	}
	if (dup2(exe, 6) < 0 || fcntl(6, F_SETFD, FD_CLOEXEC) < 0)
		return -1;
	/* fds 3..5 not given to this worker and everything from 7 up go. */
	for (int i = 0; i < 3; i++)
		if (tmp[i] < 0)
			close(3 + i);
	return (int)syscall(SYS_close_range, 7, ~0U, 0);
}

/* In the child: fds, user, exec. Never returns. */
static void exec_child(const struct worker *w, int err, int level_flags, bool restarted)
{
	char level[12], name[32];
	char *const envp[] = { NULL };
	char *argv[] = { name, "-l", level, restarted ? "-restarted" : NULL, NULL };

	snprintf(level, sizeof level, "%d", level_flags);
	snprintf(name, sizeof name, "aysfs-%s", w->exe ? w->exe : w->name);
	/* The worker gets none of the signals the supervisor blocks for its signalfd. Unblocked
	 * here, in the child, whose pending set starts empty: in the supervisor, a pending signal
	 * would take its default action (a SIGHUP or SIGTERM not yet read would kill it). */
	sigprocmask(SIG_SETMASK, &(sigset_t){ 0 }, NULL);
	if (child_fds(w, err) < 0) {
		log_crit("%s: cannot set up fds: %s", name, strerror(errno));
		_exit(127);
	}
	if (chdir("/") || policy_become(w->uid, w->gid)) {
		log_crit("%s: cannot become uid %u gid %u", name, (unsigned)w->uid, (unsigned)w->gid);
		_exit(127);
	}
	syscall(SYS_execveat, 6, "", argv, envp, AT_EMPTY_PATH);
	log_crit("%s: exec: %s", name, strerror(errno));
	_exit(127);
}

/* ---- the launcher -------------------------------------------------------------------------------
 * Once root has loaded its own seccomp filter (policy/seccomp.c, SECCOMP_SUPERVISOR) it cannot
 * start a process itself: a filter is inherited, and the workers' start-up (the dynamic loader,
 * Landlock, their own filters) needs calls root's list does not have. So root forks, before its
 * filter, a launcher that keeps only what starting a worker needs (CAP_SETUID, CAP_SETGID,
 * CAP_SETPCAP) and does nothing but this: read a fixed-size request (which binary, of those root
 * opened; which user, never root; the worker's fds), start the worker as root's own child
 * (CLONE_PARENT, so root reaps it and its SIGCHLD reaches root), answer its pid. It exits when
 * root's end closes. */

struct launch_req {
	int32_t exe_fd;         /* one of the binaries opened before the launcher started */
	uint32_t uid, gid;
	int32_t level;          /* log level and flags, for -l */
	uint8_t restarted;
	uint8_t fdmask;         /* which of fds 3, 4, 5 and 2 follow (SCM_RIGHTS, in that order) */
	char name[14];
};

static int launcher = -1;       /* root's end; -1: root starts workers itself */

static pid_t launch_here(const struct worker *w, int err, int level, bool restarted, bool sibling)
{
	pid_t pid = sibling ? (pid_t)syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, NULL, NULL, 0) :
		    fork();

	if (pid == 0)
		exec_child(w, err, level, restarted);
	return pid;
}

static bool known_exe(int fd)
{
	for (int i = 0; i < nexes; i++)
		if (exes[i] == fd)
			return true;
	return false;
}

static void launcher_loop(int sock)
{
	for (;;) {
		union {
			char buf[CMSG_SPACE(4 * sizeof(int))];
			struct cmsghdr align;
		} u;
		struct launch_req q;
		struct iovec iov = { &q, sizeof q };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
				    .msg_controllen = sizeof u.buf };
		struct cmsghdr *c;
		struct worker w = { .fds = { -1, -1, -1 } };
		int got[4] = { -1, -1, -1, -1 }, ngot = 0, want = 0;
		ssize_t n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
		int32_t answer;

		if (n <= 0)
			_exit(0);
		c = CMSG_FIRSTHDR(&m);
		if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			ngot = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			memcpy(got, CMSG_DATA(c), (size_t)(ngot > 4 ? 4 : ngot) * sizeof(int));
		}
		for (int i = 0; i < 4; i++)
			want += (q.fdmask >> i) & 1;
		answer = -EPROTO;
		/* Root's request, checked all the same: a known binary, never uid or gid 0, a name,
		 * a stderr. */
		if (n == sizeof q && !(m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) && ngot == want &&
		    q.fdmask < 16 && (q.fdmask & 8) && known_exe(q.exe_fd) && q.uid && q.gid &&
		    memchr(q.name, '\0', sizeof q.name)) {
			w.exe_fd = q.exe_fd;
			w.uid = q.uid;
			w.gid = q.gid;
			w.name = q.name;
			for (int i = 0, k = 0; i < 3; i++)
				if (q.fdmask >> i & 1)
					w.fds[i] = got[k++];
			answer = launch_here(&w, got[want - 1], q.level, q.restarted, true);
			if (answer < 0)
				answer = -errno;
		}
		for (int i = 0; i < ngot && i < 4; i++)
			close(got[i]);
		if (send(sock, &answer, sizeof answer, MSG_NOSIGNAL) != sizeof answer)
			_exit(0);
	}
}

int spawn_launcher_start(void)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		return -errno;
	pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return -errno;
	}
	if (pid == 0) {
		/* Only stderr, the binaries and the request socket stay open here. */
		for (int fd = 3; fd < 1024; fd++)
			if (fd != sv[1] && !known_exe(fd))
				close(fd);
		if (policy_launcher_caps())
			_exit(127);
		launcher_loop(sv[1]);
	}
	close(sv[1]);
	launcher = sv[0];
	return 0;
}

static int launch_remote(struct worker *w, int err, int level, bool restarted)
{
	struct launch_req q = { .exe_fd = w->exe_fd, .uid = w->uid, .gid = w->gid, .level = level,
				.restarted = restarted };
	union {
		char buf[CMSG_SPACE(4 * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { &q, sizeof q };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct pollfd p = { .fd = launcher, .events = POLLIN };
	struct cmsghdr *c;
	int fds[4], n = 0;
	int32_t answer;

	snprintf(q.name, sizeof q.name, "%s", w->exe ? w->exe : w->name);
	for (int i = 0; i < 3; i++)
		if (w->fds[i] >= 0) {
			q.fdmask |= (uint8_t)(1u << i);
			fds[n++] = w->fds[i];
		}
	q.fdmask |= 8;
	fds[n++] = err;
	memset(&u, 0, sizeof u);
	m.msg_control = u.buf;
	m.msg_controllen = CMSG_SPACE((size_t)n * sizeof(int));
	c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN((size_t)n * sizeof(int));
	memcpy(CMSG_DATA(c), fds, (size_t)n * sizeof(int));
	if (sendmsg(launcher, &m, MSG_NOSIGNAL) != sizeof q)
		return -errno;
	/* It forks and answers at once; a launcher that does not is gone for good. */
	if (poll(&p, 1, 5000) != 1 || read(launcher, &answer, sizeof answer) != sizeof answer)
		return -ECHILD;
	return answer;
}

int spawn_worker(struct worker *w, int log_level, bool restarted)
{
	int level = log_level | log_flags() | LOG_RELAYED, err = logrelay_open(w);
	pid_t pid;

	if (err < 0)
		return err;
	pid = launcher >= 0 ? launch_remote(w, err, level, restarted) :
	      launch_here(w, err, level, restarted, false);
	if (pid < 0)
		pid = launcher >= 0 ? pid : -errno;
	close(err);
	if (pid < 0)
		return pid;
	w->pid = pid;
	w->said = 0;
	w->started = time(NULL);
	if (w->ctl >= 0)
		fcntl(w->ctl, F_SETFL, fcntl(w->ctl, F_GETFL) | O_NONBLOCK);
	return 0;
}

int worker_send(struct worker *w, uint16_t type, uint64_t id, const void *payload,
		size_t len, const int *fds, unsigned nfds)
{
	int rc = w->ctl < 0 ? -EPIPE : ipc_send(w->ctl, type, id, payload, len, fds, nfds);

	if (rc == -EAGAIN && w->pid > 0) {
		log_err("the %s does not read its channel; killed", w->name);
		w->drained = true;
		kill(w->pid, SIGKILL);
	}
	return rc;
}
