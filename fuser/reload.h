/* reload.h — a new tree while the mount is served (reload.c). */
#ifndef AYSFS_FUSER_RELOAD_H
#define AYSFS_FUSER_RELOAD_H

#include "ipc/index.h"

#include <stdint.h>

struct fuse_session;

/* One kernel cache entry to invalidate. */
struct inval {
	struct inval *next;
	uint64_t ino;           /* the inode, or the parent of `name` */
	int attrs_only;         /* inode: attributes only (else also its cached data or listing) */
	uint16_t len;           /* name length; 0: an inode invalidation */
	char name[];
};

/* Start the thread that sends invalidations. Returns 0 or -1. */
int reload_start(struct fuse_session *se);
/* Queue for that thread the invalidations a change from `old` to `new` needs. Returns how many. */
unsigned reload_invalidate(const struct ix *old, const struct ix *new);
/* One inode's attributes and cached content (debug mode: a file written on the mount). */
void reload_queue_inode(uint64_t ino);
/* Those invalidations, pushed on *list (the last found first). Returns how many were found (an
 * entry that could not be allocated is left to the kernel's cache lifetimes). */
unsigned reload_diff(const struct ix *old, const struct ix *new, struct inval **list);

#endif
