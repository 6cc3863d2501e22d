/* takeover.c — a new fuser when the fuser dies.
 *
 * Preferred: the new fuser takes the same /dev/fuse connection over (fuser/takeover.c says how),
 * so applications see a pause, not an error, and keep their open files and working folders. The
 * fallback, when no FUSE_INIT was kept (the fuser died before the kernel's INIT) or the takeover
 * cannot be started: detach the mount and mount again at once, so the mountpoint is never left
 * dead; processes that had something open under the old mount lose it (ENOTCONN).
 */
#include "supervisor/takeover.h"

#include "ipc/log.h"
#include "ipc/proto.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int kept_fd = -1;
static uint8_t init_copy[FUSE_INIT_MAX];
static size_t init_len;
static uint32_t instance = 1;   /* of the fuser running; the first is 1 */
static bool tree_lost;          /* the indexer restarted while no fuser ran */

void takeover_indexer_restarted(bool fuser_running)
{
	if (!fuser_running)
		tree_lost = true;
}

void takeover_keep_fd(int fd)
{
	kept_fd = fd;
}

int takeover_fd(void)
{
	return kept_fd;
}

void takeover_note_init(const void *p, size_t len)
{
	if (len > sizeof init_copy)
		return;         /* the accept table bounds it already */
	memcpy(init_copy, p, len);
	init_len = len;
}

void takeover_close(void)
{
	if (kept_fd >= 0)
		close(kept_fd);
	kept_fd = -1;
}

int takeover_restart_fuser(struct worker *fuser, struct worker *idx, const char *mnt,
			   const uint8_t *conf, size_t conf_len, int log_level, start_fn start)
{
	static uint8_t msg[4 + FUSE_INIT_MAX];
	bool take;
	int sp[2], fi[2], rc;
	uint8_t peer[4];
	struct ipc_wr w;

	/* The new fuser's tree comes from the indexer: wait for the indexer's own restart. */
	if (idx->pid <= 0 || idx->ctl < 0)
		return -EAGAIN;
	take = kept_fd >= 0 && init_len > 0 && !tree_lost;
	if (tree_lost)
		log_warn("the indexer restarted while no fuser ran: the tree's inode numbers are lost, "
			 "so the mount is made again");
	tree_lost = false;
	if (!take) {
		/* Fallback: a fresh mount in place of the dead one. */
		if ((rc = mount_remove(mnt)))
			log_err("cannot unmount %s: %s", mnt, strerror(-rc));
		takeover_close();
		rc = mount_fuse(mnt);
		if (rc < 0) {
			log_crit("cannot mount %s again: %s", mnt, strerror(-rc));
			return rc;
		}
		kept_fd = rc;
		init_len = 0;
		log_notice("%s mounted again for a new fuser", mnt);
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp))
		return -errno;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fi)) {
		close(sp[0]);
		close(sp[1]);
		return -errno;
	}
	if (fuser->ctl >= 0)
		close(fuser->ctl);
	fuser->ctl = sp[0];
	memcpy(fuser->fds, (int[]){ sp[1], fi[0], kept_fd }, sizeof fuser->fds);
	rc = start(fuser, log_level, take);
	close(sp[1]);
	close(fi[0]);
	if (!rc)
		rc = worker_send(fuser, MSG_FUSER_CONF, 0, conf, conf_len, NULL, 0);
	if (!rc && take) {
		/* File handles of the new instance differ from every earlier one (16 bits). */
		instance = instance % 0xffff + 1;
		ipc_wr_init(&w, msg, sizeof msg);
		ipc_wr_u32(&w, instance);
		ipc_wr_bytes(&w, init_copy, init_len);
		rc = worker_send(fuser, MSG_FUSE_INIT, 0, msg, w.len, NULL, 0);
	}
	ipc_wr_init(&w, peer, sizeof peer);
	ipc_wr_u32(&w, PEER_FUSER);
	if (!rc && idx->ctl >= 0)
		rc = worker_send(idx, MSG_PEER, 0, peer, w.len, &fi[1], 1);
	close(fi[1]);
	if (rc) {
		log_crit("cannot restart the %s: %s", fuser->name, strerror(-rc));
		return rc;
	}
	log_notice("the %s is restarted (pid %d), %s", fuser->name, (int)fuser->pid,
		   take ? "taking the mount over" : "on a fresh mount");
	return 0;
}
