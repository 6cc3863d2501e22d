/* spawn.c — starting a worker: fixed fds, its own user, no capabilities, empty environment.
 *
 * The binary is opened (O_PATH) by root at start-up and executed through that fd, so a worker
 * runs even where its user could not reach the binary's folder, and a binary swapped on disk
 * later does not change what a restart runs.
 */
#include "supervisor/supervisor.h"

#include "ipc/ipc.h"
#include "ipc/log.h"
#include "policy/policy.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <linux/close_range.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

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
			snprintf(path, sizeof path, "%s/aysfs-%s", self, w->name);
			w->exe_fd = open(path, O_PATH | O_CLOEXEC);
			if (w->exe_fd >= 0)
				return 0;
		}
	}
	snprintf(path, sizeof path, "%s/aysfs-%s", AYSFS_LIBEXEC, w->name);
	w->exe_fd = open(path, O_PATH | O_CLOEXEC);
	if (w->exe_fd < 0) {
		int err = errno;

		log_crit("cannot find aysfs-%s beside %s nor in %s: %s", w->name, self,
			 AYSFS_LIBEXEC, strerror(err));
		return -err;
	}
	return 0;
}

/* In the child: put the fds where the worker expects them and close everything else. */
static int child_fds(const struct worker *w)
{
	int tmp[3], exe, devnull = open("/dev/null", O_RDWR);

	if (devnull < 0)
		return -1;
	/* Move every source above the target range first, so no dup2 overwrites a later source. */
	for (int i = 0; i < 3; i++)
		tmp[i] = w->fds[i] >= 0 ? fcntl(w->fds[i], F_DUPFD, 16) : -1;
	exe = fcntl(w->exe_fd, F_DUPFD_CLOEXEC, 16);
	if (exe < 0 || dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0)
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

int spawn_worker(struct worker *w, int log_level, bool restarted)
{
	char level[12];
	char *const envp[] = { NULL };
	char *argv[] = { NULL, "-l", level, restarted ? "-restarted" : NULL, NULL };
	char name[32];
	pid_t pid;

	snprintf(level, sizeof level, "%d", log_level | log_flags());
	snprintf(name, sizeof name, "aysfs-%s", w->name);
	argv[0] = name;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		w->pid = pid;
		w->started = time(NULL);
		if (w->ctl >= 0)
			fcntl(w->ctl, F_SETFL, fcntl(w->ctl, F_GETFL) | O_NONBLOCK);
		return 0;
	}
	/* The worker gets none of the signals the supervisor blocks for its signalfd. Unblocked
	 * here, in the child, whose pending set starts empty: in the supervisor, a pending signal
	 * would take its default action (a SIGHUP or SIGTERM not yet read would kill it). */
	sigprocmask(SIG_SETMASK, &(sigset_t){ 0 }, NULL);
	if (child_fds(w) < 0) {
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

int worker_send(const struct worker *w, uint16_t type, uint64_t id, const void *payload,
		size_t len, const int *fds, unsigned nfds)
{
	int rc = w->ctl < 0 ? -EPIPE : ipc_send(w->ctl, type, id, payload, len, fds, nfds);

	if (rc == -EAGAIN && w->pid > 0) {
		log_err("the %s does not read its channel; killed", w->name);
		kill(w->pid, SIGKILL);
	}
	return rc;
}
