/* debug.c — debug mode's worker, aysfs-debug (SPEC §7), started only when the configuration has a
 * [debug] section: its configuration (written by aysfs-config, relayed as it is), and its channel
 * to the fuser, made again whenever either of the two is restarted. Root neither compiles the
 * filter nor speaks to Redis. */
#include "supervisor/supervisor.h"

#include "ipc/log.h"
#include "ipc/proto.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A new channel between the fuser and the debug worker; each is handed its end (MSG_PEER).
 * A peer that is not running gets its end when it starts. */
int debug_connect(struct worker *dbg, struct worker *fuser)
{
	uint8_t to_fuser[4], to_debug[4];
	struct ipc_wr w;
	int sp[2], rc = 0;

	if (dbg->ctl < 0 || fuser->ctl < 0)
		return 0;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp))
		return -errno;
	ipc_wr_init(&w, to_fuser, sizeof to_fuser);
	ipc_wr_u32(&w, PEER_DEBUG);
	ipc_wr_init(&w, to_debug, sizeof to_debug);
	ipc_wr_u32(&w, PEER_FUSER);
	if (worker_send(dbg, MSG_PEER, 0, to_debug, 4, &sp[0], 1) ||
	    worker_send(fuser, MSG_PEER, 0, to_fuser, 4, &sp[1], 1))
		rc = -EIO;
	close(sp[0]);
	close(sp[1]);
	return rc;
}

int debug_start(struct worker *dbg, struct worker *fuser, const uint8_t *conf, size_t len,
		int log_level)
{
	int sp[2], rc;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp))
		return -errno;
	if (dbg->ctl >= 0)
		close(dbg->ctl);
	dbg->ctl = sp[0];
	memcpy(dbg->fds, (int[]){ sp[1], -1, -1 }, sizeof(int[3]));
	rc = spawn_worker(dbg, log_level, false);
	close(sp[1]);
	dbg->fds[0] = -1;
	if (rc)
		return rc;
	if (worker_send(dbg, MSG_DEBUG_CONF, 0, conf, len, NULL, 0))
		log_err("cannot send the configuration to the debug worker");
	return debug_connect(dbg, fuser);
}
