/* takeover.h — restarting the fuser (supervisor/takeover.c). */
#ifndef AYSFS_SUP_TAKEOVER_H
#define AYSFS_SUP_TAKEOVER_H

#include "supervisor/supervisor.h"

#include <stddef.h>
#include <stdint.h>

/* The mount's /dev/fuse fd, kept open by the supervisor so that the kernel's connection outlives
 * a fuser (requests wait instead of failing). */
void takeover_keep_fd(int fd);
int takeover_fd(void);

/* The fuser's copy of the kernel's FUSE_INIT (MSG_FUSE_INIT); kept for its successor. */
void takeover_note_init(const void *p, size_t len);

typedef int (*start_fn)(struct worker *w, int log_level, bool restarted);

/* Start a new fuser for the mount at mnt. With the fd and a FUSE_INIT kept, it takes the same
 * connection over (nothing is unmounted; waiting requests are served); else the mount is detached
 * and made again, and the new fuser serves the fresh one. Either way the indexer is handed the new
 * fuser's channel and sends it the tree being served. Returns 0; -EAGAIN while the indexer is
 * down (try again after its restart); or -errno (the mount must stop). conf: the new fuser's
 * configuration, a MSG_FUSER_CONF payload. */
int takeover_restart_fuser(struct worker *fuser, struct worker *idx, const char *mnt,
			   const uint8_t *conf, size_t conf_len, int log_level, start_fn start);

/* The indexer is being restarted. Without a running fuser it gets no base tree, and a tree it
 * builds numbers inodes afresh, which the kernel's caches of the old mount must never see: the
 * next fuser then gets a fresh mount instead of taking the old one over. */
void takeover_indexer_restarted(bool fuser_running);

/* Close the kept fd (after unmounting). */
void takeover_close(void);

#endif
