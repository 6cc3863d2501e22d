/* aysfs-status — serves aysfs-ctl's control socket and -pprof's status server (status.h).
 *
 * Started by the supervisor as its own unprivileged user with fd 3 (supervisor), fd 4 (the
 * control socket, listening) and, with -pprof, fd 5 (the TCP socket, listening on loopback), in an
 * empty environment. It reads its configuration (MSG_CONF), takes an empty Landlock ruleset (no
 * path, no TCP bind or connect) and its seccomp list (accept4 on fds 4 and 5 only), then runs one
 * poll loop in which nothing blocks.
 */
#include "status/status.h"

#include "ipc/log.h"
#include "ipc/proto_workers.h"
#include "policy/landlock.h"
#include "policy/policy.h"
#include "policy/seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONF_DEADLINE_MS 10000
#define POLL_MAX (1 + 1 + CONTROL_MAX_CLIENTS + 1 + HTTP_MAX_CONNS)

static struct ipc_msg msg;

/* The supervisor's channel. Returns false at end of file. */
static bool on_supervisor(void)
{
	int rc = ipc_recv(FD_SUPERVISOR, proto_status_from_supervisor, proto_status_from_supervisor_n,
			  &msg);
	uint32_t event, role, st;
	struct ipc_rd r;
	char why[ST_WHY_MAX + 1];

	if (rc == -EAGAIN)
		return true;
	if (rc == 0)
		return false;
	if (rc < 0)
		die(68, "supervisor channel: %s", strerror(-rc));
	switch (msg.hdr.type) {
	case MSG_CONF:
		return true;
	case MSG_ST_FACTS:
		if (facts_decode(msg.payload, msg.hdr.len, &facts, &event, &role))
			die(68, "supervisor channel: malformed %s", msg.desc->name);
		control_event(event, role);
		return true;
	case MSG_RELAY_REPLY:
		if (ask_on_reply(msg.hdr.id, msg.payload, msg.hdr.len))
			die(68, "supervisor channel: malformed %s", msg.desc->name);
		return true;
	case MSG_ST_RELOADED:
		ipc_rd_init(&r, msg.payload, msg.hdr.len);
		st = ipc_rd_u32(&r);
		if (!ipc_rd_cstr(&r, why, sizeof why) || !ipc_rd_done(&r))
			die(68, "supervisor channel: malformed %s", msg.desc->name);
		for (char *q = why; *q; q++)
			if ((unsigned char)*q < 0x20 || *q == 0x7f)
				*q = '?';
		control_reloaded(msg.hdr.id, st, why);
		return true;
	}
	return true;
}

int main(int argc, char **argv)
{
	struct worker_conf conf;
	bool ctl_on, http_on;
	int rc;

	log_init("status", argc > 2 && strcmp(argv[1], "-l") == 0 ? atoi(argv[2]) : LOG_INFO);
	policy_worker_start("status");
	if ((rc = proto_recv_conf(FD_SUPERVISOR, CONF_DEADLINE_MS, &conf)))
		die(64, "no valid configuration from the supervisor: %s", strerror(-rc));
	log_init("status", (int)conf.log_level);
	control_init(conf.mountpoint);
	proto_conf_free(&conf);
	ctl_on = fcntl(FD_CTL_LISTEN, F_GETFD) >= 0;
	http_on = fcntl(FD_HTTP_LISTEN, F_GETFD) >= 0;
	http_init(http_on ? FD_HTTP_LISTEN : -1);
	if (fcntl(FD_SUPERVISOR, F_SETFL, fcntl(FD_SUPERVISOR, F_GETFL) | O_NONBLOCK) ||
	    (ctl_on && fcntl(FD_CTL_LISTEN, F_SETFL, O_NONBLOCK)) ||
	    (http_on && fcntl(FD_HTTP_LISTEN, F_SETFL, O_NONBLOCK)))
		die(65, "fcntl: %s", strerror(errno));
	if (landlock_restrict(NULL, 0) < 0)
		die(70, "cannot restrict this process with Landlock");
	seccomp_lockdown(SECCOMP_STATUS, "status");

	for (;;) {
		struct pollfd p[POLL_MAX];
		int n = 1, nc = 0, nh, timeout = -1;

		p[0] = (struct pollfd){ .fd = FD_SUPERVISOR, .events = POLLIN };
		if (ctl_on)
			nc = control_pollfds(p + n, &timeout);
		n += nc;
		nh = http_pollfds(p + n, POLL_MAX - n, &timeout);
		n += nh;
		if (poll(p, (nfds_t)n, timeout) < 0) {
			if (errno == EINTR)
				continue;
			die(66, "poll: %s", strerror(errno));
		}
		if (p[0].revents && !on_supervisor())
			return 0;       /* the supervisor stops */
		if (ctl_on)
			control_process(p + 1, nc);
		http_process(p + 1 + nc, nh);
	}
}
