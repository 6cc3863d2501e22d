/* aysfs-fetcher — the only process that touches the network.
 *
 * Started by the supervisor as its own unprivileged user with fd 3 (supervisor) and fd 4
 * (indexer). This version has no network layer yet: it answers every fetch with a clear error, so
 * that the indexer moves on to the next layer at once.
 */
#include "ipc/log.h"
#include "ipc/proto.h"
#include "policy/policy.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONF_DEADLINE_MS 10000

static struct ipc_msg msg;

static int on_fetch(void)
{
	static const char why[] = "network layers are not available in this version";
	uint8_t buf[32 + sizeof why];
	struct ipc_wr w;

	close(msg.fds[0]);
	ipc_wr_init(&w, buf, sizeof buf);
	ipc_wr_u32(&w, ENOSYS);
	ipc_wr_u32(&w, FETCH_MAX_URLS);
	ipc_wr_u64(&w, 0);
	ipc_wr_str(&w, why, sizeof why - 1);
	return ipc_send(FD_PEER1, MSG_FETCH_DONE, msg.hdr.id, buf, w.len, NULL, 0);
}

int main(int argc, char **argv)
{
	struct worker_conf conf;
	int rc;

	log_init("fetcher", argc > 2 && strcmp(argv[1], "-l") == 0 ? atoi(argv[2]) : LOG_INFO);
	policy_worker_start("fetcher");
	if ((rc = proto_recv_conf(FD_SUPERVISOR, CONF_DEADLINE_MS, &conf)))
		die(64, "no valid configuration from the supervisor: %s", strerror(-rc));
	log_init("fetcher", (int)conf.log_level);
	proto_conf_free(&conf);

	for (;;) {
		struct pollfd fds[2] = {
			{ .fd = FD_PEER1, .events = POLLIN },
			{ .fd = FD_SUPERVISOR, .events = POLLIN },
		};

		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			die(66, "poll: %s", strerror(errno));
		}
		if (fds[0].revents) {
			rc = ipc_recv(FD_PEER1, proto_fetcher_from_indexer, proto_fetcher_from_indexer_n, &msg);
			if (rc == 0)
				break;
			if (rc < 0 || on_fetch())
				die(67, "indexer channel: %s", strerror(rc < 0 ? -rc : EPROTO));
		}
		if (fds[1].revents) {
			char c;

			if (read(FD_SUPERVISOR, &c, 1) <= 0)
				break;
		}
	}
	return 0;
}
