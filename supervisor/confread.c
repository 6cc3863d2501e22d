/* confread.c — the configuration, read by aysfs-config rather than by the supervisor itself.
 *
 * The TOML parser and the mapping of SPEC section 3 are the largest code aysfs has that reads a
 * file; root need not run them. The supervisor opens the file (it may be readable by root only),
 * starts aysfs-config as the workers' user with the file on its fd 3 and a socket on fd 4
 * (spawn_worker: no capabilities, empty environment). Its answer is three messages in a fixed
 * order: the workers' payloads, kept as they are, then root's own part (rootconf.c); anything else
 * is refused. Every wait has a deadline.
 */
#include "supervisor/supervisor.h"


#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <poll.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CONFIG_DEADLINE_MS 10000

/* Reap the reader: it exits once it has answered; one that does not is killed. */
static void reap(pid_t pid)
{
	for (int i = 0; i < 100; i++) {
		if (waitpid(pid, NULL, WNOHANG) != 0)
			return;
		nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static struct worker *reader;   /* aysfs-config, whose stderr is relayed while root waits */

/* The next message on sock, within CONFIG_DEADLINE_MS; the reader's lines relayed meanwhile (a
 * reader blocked on a full stderr pipe would otherwise never answer). */
static int next_msg(int sock, struct ipc_msg *m)
{
	struct timespec t0, t;
	int rc, ms;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd p[2] = { { .fd = sock, .events = POLLIN },
				       { .fd = reader->log, .events = POLLIN } };

		clock_gettime(CLOCK_MONOTONIC, &t);
		ms = CONFIG_DEADLINE_MS - (int)((t.tv_sec - t0.tv_sec) * 1000 +
						(t.tv_nsec - t0.tv_nsec) / 1000000);
		if ((rc = poll(p, 2, ms < 0 ? 0 : ms)) < 0 && errno == EINTR)
			continue;
		if (rc <= 0)
			return rc == 0 ? -ETIMEDOUT : -errno;
		if (p[1].revents)
			logrelay_read(reader, false);
		if (p[0].revents)
			return ipc_recv(sock, proto_supervisor_from_config,
					proto_supervisor_from_config_n, m);
	}
}

/* One answer of the three; a MSG_CONFIG_FAIL instead ends the exchange with its reason. */
static int expect(int sock, uint16_t type, const char *path, struct ipc_msg *m, char *err,
		  size_t errlen)
{
	struct ipc_rd r;
	char why[1025];
	int rc = next_msg(sock, m);

	if (rc <= 0) {
		snprintf(err, errlen, "%s: aysfs-config did not answer: %s", path,
			 rc ? strerror(-rc) : "it exited");
		return rc ? rc : -EIO;
	}
	if (m->hdr.type == type)
		return 0;
	ipc_rd_init(&r, m->payload, m->hdr.len);
	if (m->hdr.type != MSG_CONFIG_FAIL || !ipc_rd_cstr(&r, why, sizeof why) || !ipc_rd_done(&r)) {
		snprintf(err, errlen, "%s: aysfs-config answered out of order", path);
		return -EPROTO;
	}
	snprintf(err, errlen, "%s", why);
	return -EINVAL;
}

/* Ask the reader started on sock; fd: the open file, or -1 for the defaults. */
static int ask(int sock, const char *path, int fd, const struct config_req *q, struct rootconf *c,
	       char *err, size_t errlen)
{
	static struct ipc_msg m;
	static uint8_t buf[7 * (4 + PATH_MAX)];
	size_t fconf_len;
	const struct { uint16_t type; void *to; size_t *len; } step[] = {
		{ MSG_CONFIG_WORKERS, c->conf, &c->conf_len }, { MSG_CONFIG_FUSER, c->fconf, &fconf_len },
		{ MSG_CONFIG_DEBUG, c->dconf, &c->dconf_len }, { MSG_CONFIG_S3, c->s3, &c->s3_len },
	};
	struct ipc_wr w;
	int rc;

	madvise(c->s3, sizeof c->s3, MADV_DONTDUMP);
	ipc_wr_init(&w, buf, sizeof buf);
	if (fd >= 0)
		ipc_wr_cstr(&w, path);
	proto_config_req_encode(&w, q);
	if (w.bad)
		rc = -ENAMETOOLONG;
	else
		rc = ipc_send(sock, fd >= 0 ? MSG_CONFIG_READ : MSG_CONFIG_DEFAULTS, 0, buf, w.len,
			      &fd, fd >= 0);
	if (rc) {
		snprintf(err, errlen, "%s: cannot ask aysfs-config: %s", path, strerror(-rc));
		return rc;
	}
	/* The payloads relayed as they came (the accept table bounds each to its buffer). */
	for (size_t i = 0; i < 4; i++) {
		if ((rc = expect(sock, step[i].type, path, &m, err, errlen)))
			return rc;
		memcpy(step[i].to, m.payload, m.hdr.len);
		*step[i].len = m.hdr.len;
	}
	if ((rc = expect(sock, MSG_CONFIG_DONE, path, &m, err, errlen)))
		return rc;
	if (rootconf_decode(m.payload, m.hdr.len, c) == 0)
		return s3keys_append(c, err, errlen);
	snprintf(err, errlen, "%s: aysfs-config sent a malformed configuration", path);
	return -EPROTO;
}

int config_read(const char *path, bool must_exist, uid_t uid, gid_t gid, int log_level,
		const struct config_req *q, struct rootconf *c, char *err, size_t errlen)
{
	static int exe_fd = -1;         /* opened at the first read, before the launcher starts */
	struct worker w = { .role = ROLE_COUNT, .name = "config", .exe_fd = exe_fd, .uid = uid,
			    .gid = gid, .fds = { -1, -1, -1 }, .log = -1 };
	int sv[2], rc = 0, fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0 && (errno != ENOENT || must_exist)) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	if (exe_fd < 0 && (rc = spawn_open_exe(&w)) == 0)
		exe_fd = w.exe_fd;
	if (rc == 0) {
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) {
			rc = -errno;
			snprintf(err, errlen, "%s: socketpair: %s", path, strerror(-rc));
		} else {
			w.fds[0] = sv[1];
			reader = &w;
			rc = spawn_worker(&w, log_level, false);
			close(sv[1]);
			if (rc)
				snprintf(err, errlen, "%s: cannot start aysfs-config: %s", path,
					 strerror(-rc));
			else
				rc = ask(sv[0], path, fd, q, c, err, errlen);
			close(sv[0]);
			if (w.pid > 0)
				reap(w.pid);
			logrelay_close(&w);
		}
	} else {
		snprintf(err, errlen, "%s: aysfs-config is missing", path);
	}
	if (fd >= 0)
		close(fd);
	return rc;
}
