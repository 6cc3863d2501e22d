/* aysfs-ctl — talks to a running mount through its control socket (ipc/ctl.h). Root only: the
 * socket's folder is root's alone, and the supervisor checks the caller's uid as well.
 *
 *   aysfs-ctl [-json] MOUNTPOINT status|reload|cache|evict PATH|verify|debug|order SERVICE
 *
 * A relative PATH of evict is taken from the mountpoint. -json turns the answer of status and cache
 * into one JSON object (ipc/ctl_json.c), here in the client: the status worker sends text for
 * people; its /debug/status.json is the same conversion of the same text. Messages of its own: "aysfs-ctl: LEVEL: message".
 *
 * Exit status: 0 done; 1 usage, or the command failed (the reason on stderr); 2 no supervisor
 * answers for that mountpoint (or the caller may not talk to it).
 */
#include "ipc/ctl_parse.h"
#include "ipc/ctl_json.h"

#include <errno.h>
#include <limits.h>
#include <libgen.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
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
	"usage: aysfs-ctl [-json] MOUNTPOINT COMMAND\n"
	"Talks to the aysfs-supervisor serving MOUNTPOINT (root only).\n"
	"\n"
	"  status       workers (pid, restarts, last exit), tree, layers, local cache\n"
	"  reload       read the configuration and the flists again (as SIGHUP does)\n"
	"  cache        what the local cache holds\n"
	"  evict PATH   drop the cached blob of PATH (a relative PATH is taken from MOUNTPOINT)\n"
	"  verify       re-hash the local cache, dropping blobs that do not match\n"
	"  debug        debug mode: the files changed on the mount (path, md5, size, time)\n"
	"  order SERVICE  the files of SERVICE in the order first opened, one flist path a line:\n"
	"               the list aysfs-pack -order reads\n"
	"\n"
	"  -json        the answer of status or cache as a JSON object\n"
	"  -h, -v       this text; the version\n"
	"\n"
	"The control socket is " CTL_RUN_DIR "/NAME.sock, NAME made from the mountpoint's real path.\n"
	"Exit status: 0 done, 1 usage error or the command failed, 2 no mount answers there.\n";

__attribute__((format(printf, 1, 2)))
static void error(const char *fmt, ...)
{
	va_list ap;

	fputs("aysfs-ctl: ERROR: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

__attribute__((noreturn))
static void usage(const char *why)
{
	if (why)
		error("%s", why);
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
	const char *arg[3];
	int narg = 0, fd, rc, len;
	bool json = false, opts = true;
	ssize_t n;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!opts || a[0] != '-' || a[1] == '\0') {
			if (narg == 3)
				usage("too many arguments");
			arg[narg++] = a;
		} else if (!strcmp(a, "--")) {
			opts = false;
		} else if (!strcmp(a, "-h") || !strcmp(a, "-help") || !strcmp(a, "--help")) {
			usage(NULL);
		} else if (!strcmp(a, "-v") || !strcmp(a, "-version") || !strcmp(a, "--version")) {
			printf("aysfs-ctl %s\n", AYSFS_VERSION);
			return 0;
		} else if (!strcmp(a, "-json") || !strcmp(a, "--json")) {
			json = true;
		} else {
			error("unknown option %s", a);
			return 1;
		}
	}
	if (narg < 2)
		usage("a mountpoint and a command are needed");
	if ((rc = mount_path(arg[0], mnt, sizeof mnt)) ||
	    (rc = ctl_socket_path(mnt, sa.sun_path, sizeof sa.sun_path))) {
		error("%s: %s", arg[0], strerror(-rc));
		return 2;
	}
	if (narg == 3) {
		const char *a = arg[2];

		/* evict's path: a relative one is taken from the mountpoint. */
		if (a[0] != '/' && strcmp(arg[1], "order")) {
			if ((size_t)snprintf(path, sizeof path, "%s/%s", strcmp(mnt, "/") ? mnt : "", a) >=
			    sizeof path)
				usage("the path is too long");
			a = path;
		}
		len = snprintf(req, sizeof req, "%s %s", arg[1], a);
	} else {
		len = snprintf(req, sizeof req, "%s", arg[1]);
	}
	if (len < 0 || (size_t)len >= sizeof req || ctl_parse(req, (size_t)len, &parsed, err, sizeof err))
		usage(len < 0 || (size_t)len >= sizeof req ? "the request is too long" : err);
	if (json && parsed.cmd != CTL_STATUS && parsed.cmd != CTL_CACHE)
		usage("-json is for status and cache");

	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa)) {
		int e = errno;

		if (e == EACCES || e == EPERM)
			error("%s: permission denied (only root may control a mount)", sa.sun_path);
		else if (e == ENOENT || e == ECONNREFUSED)
			error("no aysfs-supervisor serves %s (%s: %s)", mnt, sa.sun_path, strerror(e));
		else
			error("%s: %s", sa.sun_path, strerror(e));
		return 2;
	}
	/* A refusal may come before the request is sent (and close the connection): read it all
	 * the same. */
	if (send(fd, req, (size_t)len, MSG_NOSIGNAL) != len && errno != EPIPE && errno != ECONNRESET) {
		error("cannot send the request: %s", strerror(errno));
		return 2;
	}
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	rc = poll(&p, 1, parsed.cmd == CTL_VERIFY ? VERIFY_WAIT_MS : WAIT_MS);
	if (rc <= 0) {
		error("no answer from the supervisor%s", rc == 0 ? " in time" : "");
		return 2;
	}
	n = recv(fd, reply, sizeof reply - 1, 0);
	if (n < 4) {
		error("the supervisor closed the connection without an answer");
		return 2;
	}
	for (int i = 0; i < 4; i++)
		status |= (uint32_t)reply[i] << (8 * i);
	reply[n] = '\0';
	if (status) {
		/* The reason, each line as a message of this program. */
		for (char *line = (char *)reply + 4, *nl; *line; line = nl) {
			nl = line + strcspn(line, "\n");
			if (*nl)
				*nl++ = '\0';
			error("%s", line);
		}
		return status == EPERM ? 2 : 1;
	}
	if (json && strlen((char *)reply + 4) == (size_t)n - 4) {
		if (ctl_json_print(stdout, (char *)reply + 4)) {
			error("out of memory");
			return 1;
		}
	} else if (json) {
		error("the answer holds a NUL byte; it cannot be shown as JSON");
		return 1;
	} else {
		fwrite(reply + 4, 1, (size_t)n - 4, stdout);
	}
	return fflush(stdout) ? 1 : 0;
}
