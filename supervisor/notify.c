/* notify.c — telling the system about the mount: systemd's notify socket (readiness, reloads,
 * the watchdog, stopping) and the pid file. Both are opened at start-up, before root's seccomp
 * filter, which has no socket(2) and opens nothing for writing. */
#include "supervisor/supervisor.h"

#include "ipc/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* -pidfile: opened at start-up (root's seccomp filter opens nothing for writing later), written
 * once the tree is served. In a folder others may write (/run, /tmp): never through a symlink. */
static int pidfile_fd = -1;

void open_pidfile(const char *path)
{
	pidfile_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0644);
	if (pidfile_fd < 0)
		log_warn("cannot write pid file %s: %s", path, strerror(errno));
}

void write_pidfile(void)
{
	char line[24];
	int n = snprintf(line, sizeof line, "%d\n", (int)getpid());

	if (pidfile_fd >= 0 && (write(pidfile_fd, line, (size_t)n) != n || close(pidfile_fd)))
		log_warn("cannot write the pid file: %s", strerror(errno));
	pidfile_fd = -1;
}

/* Readiness and status the systemd way: one datagram to $NOTIFY_SOCKET ("@name" is abstract). */
void sd_notify_text(const char *text)
{
	static struct sockaddr_un sa = { .sun_family = AF_UNIX };
	static const char *path;
	static size_t len;
	static int fd = -2;     /* -2: not looked at yet; -1: no NOTIFY_SOCKET */

	/* The socket is made at the first call, at start-up: root's seccomp filter has no socket(2). */
	if (fd == -2) {
		path = getenv("NOTIFY_SOCKET");
		fd = -1;
		if (!path || (path[0] != '/' && path[0] != '@') ||
		    (len = strlen(path)) >= sizeof sa.sun_path)
			return;
		memcpy(sa.sun_path, path, len);
		if (path[0] == '@')
			sa.sun_path[0] = '\0';
		fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	}
	if (fd < 0 || !text)
		return;
	if (sendto(fd, text, strlen(text), MSG_NOSIGNAL, (struct sockaddr *)&sa,
		   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0)
		log_warn("cannot notify %s: %s", path, strerror(errno));
}

/* A reload the systemd way: RELOADING=1 (with the time, as systemd 253 and later want it) as it
 * starts, READY=1 once the indexer answered with a tree or a failure (msgs.c) or the
 * reload failed before reaching it; only once serving. */
static bool serving, reload_pending;

void notify_reload(bool start, const char *status)
{
	char note[1200];
	struct timespec ts;

	if (!serving || start == reload_pending)
		return;
	reload_pending = start;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (start)
		snprintf(note, sizeof note, "RELOADING=1\nMONOTONIC_USEC=%lld",
			 (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
	else
		snprintf(note, sizeof note, "READY=1\nSTATUS=%.1100s", status);
	sd_notify_text(note);
}

/* systemd's watchdog: the main loop sends WATCHDOG=1 every half of WATCHDOG_USEC, so a loop that
 * stops turning stops the pings. 0 when not asked, or asked of another process (WATCHDOG_PID). */
int64_t watchdog_interval_ms(void)
{
	const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	long long us = usec ? strtoll(usec, NULL, 10) : 0;

	if (us <= 0 || (pid && strtoll(pid, NULL, 10) != (long long)getpid()))
		return 0;
	return us < 2000 ? 1 : us / 2000 > 3600000 ? 3600000 : us / 2000;
}

void notify_serving(void)
{
	serving = true;
}
