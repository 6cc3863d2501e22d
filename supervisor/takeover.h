/* takeover.h — restarting the fuser (supervisor/takeover.c). */
#ifndef AYSFS_SUP_TAKEOVER_H
#define AYSFS_SUP_TAKEOVER_H

#include "supervisor/supervisor.h"

#include <stddef.h>
#include <stdint.h>

/* The mount's /dev/fuse fd, kept open by the supervisor so that the kernel's connection outlives
 * a fuser (requests wait instead of failing). */
void takeover_keep_fd(int fd);

/* The fuser's copy of the kernel's FUSE_INIT (MSG_FUSE_INIT); kept for its successor. */
void takeover_note_init(const void *p, size_t len);

int takeover_kept_fd(void);

/* Before a new fuser starts (start_workers) on the mount at mnt: with the fd and a FUSE_INIT kept,
 * it is to take the same connection over (*take; nothing is unmounted, waiting requests are
 * served) and *init is the MSG_FUSE_INIT to send it after its configuration; else the mount is
 * detached and made again (*init has type 0), and the new fuser serves the fresh one. Returns 0;
 * -EAGAIN while the indexer is down (try again after its restart, since the new fuser's tree
 * comes from it); or -errno (the mount must stop). */
int takeover_prepare(bool indexer_running, const char *mnt, struct start_msg *init, bool *take);

/* The indexer is being restarted. Without a running fuser it gets no base tree, and a tree it
 * builds numbers inodes afresh, which the kernel's caches of the old mount must never see: the
 * next fuser then gets a fresh mount instead of taking the old one over. */
void takeover_indexer_restarted(bool fuser_running);

/* Close the kept fd (after unmounting). */
void takeover_close(void);

#endif
