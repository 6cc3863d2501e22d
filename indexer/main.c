/* aysfs-indexer — parses flists, builds the index, and owns the blob caches.
 *
 * Started by the supervisor as an unprivileged user with fd 3 (supervisor), fd 4 (fuser) and
 * fd 5 (fetcher). It has no network. It takes the configuration, builds the tree from the
 * flists (untrusted input, parsed defensively), hands the sealed image to the fuser, and then
 * answers the fuser's requests for blobs.
 */
#include "indexer/indexer.h"

#include "ipc/log.h"
#include "ipc/proto.h"
#include "policy/policy.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONF_DEADLINE_MS 10000

static struct ipc_msg msg;
static struct worker_conf conf;

static void send_tree(uint64_t generation)
{
	struct load_result res;
	uint8_t buf[24];
	struct ipc_wr w;
	int rc = load_tree(&conf, generation, &res);

	if (rc) {
		char why[256];

		uint8_t fail[4 + sizeof why];

		snprintf(why, sizeof why, "%s", strerror(-rc));
		ipc_wr_init(&w, fail, sizeof fail);
		ipc_wr_cstr(&w, why);
		ipc_send(FD_SUPERVISOR, MSG_TREE_FAIL, 0, fail, w.len, NULL, 0);
		die(70, "cannot build the tree: %s", why);
	}
	ipc_wr_init(&w, buf, sizeof buf);
	ipc_wr_u64(&w, generation);
	ipc_wr_u64(&w, res.size);
	rc = ipc_send(FD_PEER1, MSG_INDEX, generation, buf, w.len, &res.fd, 1);
	close(res.fd);
	if (rc)
		die(71, "cannot send the index to the fuser: %s", strerror(-rc));
	ipc_wr_init(&w, buf, sizeof buf);
	ipc_wr_u64(&w, generation);
	ipc_wr_u64(&w, res.entries);
	ipc_wr_u32(&w, res.services);
	ipc_wr_u32(&w, res.rejected);
	ipc_send(FD_SUPERVISOR, MSG_TREE_DONE, 0, buf, w.len, NULL, 0);
}

/* A request for a blob from the fuser. */
static int on_open(void)
{
	struct ipc_rd r;
	uint8_t hash_len;
	size_t path_len;
	const char *path;
	uint32_t err = EIO;

	ipc_rd_init(&r, msg.payload, msg.hdr.len);
	hash_len = ipc_rd_u8(&r);
	if (hash_len != 16 && hash_len != 32)
		return -EPROTO;
	ipc_rd_bytes(&r, hash_len);
	ipc_rd_u64(&r);
	path = ipc_rd_str(&r, 4096, &path_len);
	if (!ipc_rd_done(&r))
		return -EPROTO;
	log_err("%.*s: cannot open: reading file contents is not available in this version yet",
		(int)path_len, path);
	return ipc_send(FD_PEER1, MSG_BLOB_ERR, msg.hdr.id, &err, sizeof err, NULL, 0);
}

int main(int argc, char **argv)
{
	struct pollfd p = { .fd = FD_SUPERVISOR, .events = POLLIN };
	int rc;

	log_init("indexer", argc > 2 && strcmp(argv[1], "-l") == 0 ? atoi(argv[2]) : LOG_INFO);
	policy_worker_start("indexer");
	if (poll(&p, 1, CONF_DEADLINE_MS) != 1 ||
	    ipc_recv(FD_SUPERVISOR, proto_from_supervisor, proto_from_supervisor_n, &msg) != 1 ||
	    proto_conf_decode(msg.payload, msg.hdr.len, &conf))
		die(64, "no valid configuration from the supervisor");
	log_init("indexer", (int)conf.log_level);

	send_tree(1);

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
			rc = ipc_recv(FD_PEER1, proto_indexer_from_fuser, proto_indexer_from_fuser_n, &msg);
			if (rc == 0)
				break;          /* the fuser is gone: so is the mount */
			if (rc < 0 || (rc = on_open()) == -EPROTO)
				die(67, "fuser channel: %s", strerror(rc < 0 ? -rc : EPROTO));
		}
		if (fds[1].revents) {
			char c;

			if (read(FD_SUPERVISOR, &c, 1) <= 0)
				break;
		}
	}
	proto_conf_free(&conf);
	return 0;
}
