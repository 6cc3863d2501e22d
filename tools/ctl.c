/* aysfs-ctl — talks to a running mount through its control socket (ipc/ctl.h). Root only: the
 * socket's folder is root's alone, and the supervisor checks the caller's uid as well.
 *
 *   aysfs-ctl MOUNTPOINT status|reload|cache|evict PATH|verify
 *
 * Exit status: 0 done; 1 usage, or the command failed (the reason on stderr); 2 no supervisor
 * answers for that mountpoint (or the caller may not talk to it).
 */
#include "ipc/ctl.h"

#include <errno.h>
#include <limits.h>
#include <libgen.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define WAIT_MS         (150 * 1000)            /* status, cache, evict; a reload of a large tree */
#define VERIFY_WAIT_MS  (31 * 60 * 1000)        /* the supervisor gives verify 30 min */

static const char usage_text[] =
	"usage: aysfs-ctl MOUNTPOINT COMMAND\n"
	"Talks to the aysfs-supervisor serving MOUNTPOINT (root only).\n"
	"\n"
	"  status       workers (pid, restarts, last exit), tree, layers, local cache\n"
	"  reload       read the configuration and the flists again (as SIGHUP does)\n"
	"  cache        what the local cache holds\n"
	"  evict PATH   drop the cached blob of PATH\n"
	"  verify       re-hash the local cache, dropping blobs that do not match\n"
	"\n"
	"The control socket is " CTL_RUN_DIR "/NAME.sock, NAME made from the mountpoint's real path.\n"
	"Exit status: 0 done, 1 usage error or the command failed, 2 no mount answers there.\n";

__attribute__((noreturn))
static void usage(const char *why)
{
	if (why)
		fprintf(stderr, "aysfs-ctl: %s\n", why);
	fputs(usage_text, why ? stderr : stdout);
	exit(why ? 1 : 0);
}

/* The mountpoint's real path as the supervisor saw it, without touching the mount itself (a
 * hung or dead mount must not hang this command): the real path of its folder, plus its name. */
static int mount_path(const char *arg, char *out, size_t size)
{
	char copy[PATH_MAX], dir[PATH_MAX], *base;
	struct stat st;
	size_t len = strlen(arg);

	if (len == 0 || len >= sizeof copy)
		return -ENAMETOOLONG;
	memcpy(copy, arg, len + 1);
	while (len > 1 && copy[len - 1] == '/')
		copy[--len] = '\0';
	if (lstat(copy, &st) == 0 && S_ISLNK(st.st_mode))
		return realpath(copy, out) ? 0 : -errno;
	if (strcmp(copy, "/") == 0) {
		snprintf(out, size, "/");
		return 0;
	}
	base = strrchr(copy, '/');
	if (!base) {
		if (!realpath(".", dir))
			return -errno;
		base = copy;
	} else {
		*base++ = '\0';
		if (!realpath(copy[0] ? copy : "/", dir))
			return -errno;
	}
	if (strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
		return realpath(arg, out) ? 0 : -errno;
	if ((size_t)snprintf(out, size, "%s/%s", strcmp(dir, "/") ? dir : "", base) >= size)
		return -ENAMETOOLONG;
	return 0;
}

int main(int argc, char **argv)
{
	static uint8_t reply[CTL_REPLY_MAX + 1];
	char mnt[PATH_MAX], req[CTL_REQ_MAX + 1], err[256], path[PATH_MAX];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct ctl_req parsed;
	struct pollfd p;
	uint32_t status = 0;
	ssize_t n;
	int fd, rc, len;

	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "-help") ||
			  !strcmp(argv[1], "--help")))
		usage(NULL);
	if (argc == 2 && (!strcmp(argv[1], "-v") || !strcmp(argv[1], "--version"))) {
		printf("aysfs-ctl %s\n", AYSFS_VERSION);
		return 0;
	}
	if (argc < 3 || argc > 4)
		usage("a mountpoint and a command are needed");
	if (argc == 4) {
		const char *a = argv[3];

		/* evict takes a path; a relative one is taken from here. */
		if (a[0] != '/') {
			char cwd[PATH_MAX];

			if (!getcwd(cwd, sizeof cwd) ||
			    (size_t)snprintf(path, sizeof path, "%s/%s", cwd, a) >= sizeof path)
				usage("the path is too long");
			a = path;
		}
		len = snprintf(req, sizeof req, "%s %s", argv[2], a);
	} else {
		len = snprintf(req, sizeof req, "%s", argv[2]);
	}
	if (len < 0 || (size_t)len >= sizeof req || ctl_parse(req, (size_t)len, &parsed, err, sizeof err))
		usage(len < 0 || (size_t)len >= sizeof req ? "the request is too long" : err);

	if ((rc = mount_path(argv[1], mnt, sizeof mnt)) ||
	    (rc = ctl_socket_path(mnt, sa.sun_path, sizeof sa.sun_path))) {
		fprintf(stderr, "aysfs-ctl: %s: %s\n", argv[1], strerror(-rc));
		return 2;
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa)) {
		int e = errno;

		if (e == EACCES || e == EPERM)
			fprintf(stderr, "aysfs-ctl: %s: permission denied (only root may control a mount)\n",
				sa.sun_path);
		else if (e == ENOENT || e == ECONNREFUSED)
			fprintf(stderr, "aysfs-ctl: no aysfs-supervisor serves %s (%s: %s)\n", mnt,
				sa.sun_path, strerror(e));
		else
			fprintf(stderr, "aysfs-ctl: %s: %s\n", sa.sun_path, strerror(e));
		return 2;
	}
	/* A refusal may come before the request is sent (and close the connection): read it all
	 * the same. */
	if (send(fd, req, (size_t)len, MSG_NOSIGNAL) != len && errno != EPIPE && errno != ECONNRESET) {
		fprintf(stderr, "aysfs-ctl: cannot send the request: %s\n", strerror(errno));
		return 2;
	}
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	rc = poll(&p, 1, parsed.cmd == CTL_VERIFY ? VERIFY_WAIT_MS : WAIT_MS);
	if (rc <= 0) {
		fprintf(stderr, "aysfs-ctl: no answer from the supervisor%s\n", rc == 0 ? " in time" : "");
		return 2;
	}
	n = recv(fd, reply, sizeof reply - 1, 0);
	if (n < 4) {
		fprintf(stderr, "aysfs-ctl: the supervisor closed the connection without an answer\n");
		return 2;
	}
	for (int i = 0; i < 4; i++)
		status |= (uint32_t)reply[i] << (8 * i);
	fwrite(reply + 4, 1, (size_t)n - 4, status ? stderr : stdout);
	if (status == EPERM)
		return 2;
	return status ? 1 : 0;
}
