/* takeover.c — a new fuser when the fuser dies.
 *
 * Preferred: the new fuser takes the same /dev/fuse connection over (fuser/takeover.c says how),
 * so applications see a pause, not an error, and keep their open files and working folders. The
 * fallback, when no FUSE_INIT was kept (the fuser died before the kernel's INIT) or the takeover
 * cannot be started: detach the mount and mount again at once, so the mountpoint is never left
 * dead; processes that had something open under the old mount lose it (ENOTCONN).
 */

#include "supervisor/supervisor.h"

#include "ipc/log.h"
#include "ipc/proto.h"

#include <errno.h>
#include <string.h>
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

int takeover_kept_fd(void)
{
	return kept_fd;
}

int takeover_prepare(bool indexer_running, const char *mnt, struct start_msg *init, bool *take)
{
	static uint8_t msg[4 + FUSE_INIT_MAX];
	struct ipc_wr w;
	int rc;

	/* The new fuser's tree comes from the indexer: wait for the indexer's own restart. */
	if (!indexer_running)
		return -EAGAIN;
	*take = kept_fd >= 0 && init_len > 0 && !tree_lost;
	*init = (struct start_msg){ 0 };
	if (tree_lost)
		log_warn("the indexer restarted while no fuser ran: the tree's inode numbers are lost, "
			 "so the mount is made again");
	tree_lost = false;
	if (*take) {
		/* File handles of the new instance differ from every earlier one (16 bits). */
		instance = instance % 0xffff + 1;
		ipc_wr_init(&w, msg, sizeof msg);
		ipc_wr_u32(&w, instance);
		ipc_wr_bytes(&w, init_copy, init_len);
		*init = (struct start_msg){ MSG_FUSE_INIT, msg, w.len };
		return 0;
	}
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
	return 0;
}
