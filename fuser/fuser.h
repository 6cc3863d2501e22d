/* fuser.h — state shared by the fuser's loop (main.c), its request handlers (ops.c) and its
 * blob fds (blobs.c). The fuser answers the kernel and nothing else: what to fetch before it is
 * opened (read-ahead) is decided by the indexer, from the opens the fuser asks it for
 * (indexer/ahead.c). */
#ifndef AYSFS_FUSER_H
#define AYSFS_FUSER_H

#define FUSE_USE_VERSION 314

#include "fuser/blobs.h"
#include "ipc/index.h"

#include <fuse_lowlevel.h>
#include <stdbool.h>
#include <stdint.h>

struct fuser {
	struct fuse_session *se;
	int idx_fd;             /* the indexer's channel (-1: none now), non-blocking */
	struct outbox out;      /* what waits for room on it (outbox.c), under serve_lock */

	struct ix ix;           /* the tree being served */
	void *map;
	size_t map_size;
	int index_fd;           /* its sealed memfd, handed to a restarted indexer */
	uint64_t blocks;        /* statfs: 4 KiB blocks of all files (UINT64_MAX: not counted yet) */

	double entry_ttl, attr_ttl, negative_ttl;
	bool no_opendir;        /* the kernel opens directories by itself when opendir says ENOSYS */

	struct blobs blobs;     /* blobs.c */
	uint64_t n_opens, n_reads, read_bytes;  /* "stats", for the status worker (main.c) */
	uint64_t n_waited;              /* opens that waited for the indexer (no fd of the blob held) */

	bool debug;             /* [debug] (SPEC §7): fuser_debug_ops serve, over debug.c's overlay */
	/* readdir's entry at offset i (≥ 2) of dir, when debug mode's overlay changes it: DIR_INDEX
	 * (the index's child, as without it), DIR_OWN (name and *e filled), DIR_SKIP, DIR_END. */
	int (*dir_overlay)(struct fuser *f, const struct ix_inode *dir, uint64_t i, char name[256],
			   struct fuse_entry_param *e);
	int dbg_fd;             /* the channel to aysfs-debug (-1: none yet, or it is restarting) */
};

enum { DIR_INDEX, DIR_OWN, DIR_SKIP, DIR_END };

extern const struct fuse_lowlevel_ops fuser_ops;
/* debug.c, linked only into aysfs-fuser-debug (weak: absent from aysfs-fuser, where they are NULL).
 * fuser_debug_ops: the ops of a mount with [debug], writes to what aysfs-debug allows, over
 * fuser_ops. debug_connect: a (new) channel to aysfs-debug, whose stored contents come first; 0 or
 * -EPROTO. debug_retry: opens for writing that waited for a blob, answered now that it came. */
extern const struct fuse_lowlevel_ops fuser_debug_ops __attribute__((weak));
int debug_connect(struct fuser *f, int fd) __attribute__((weak));
void debug_retry(struct fuser *f) __attribute__((weak));

/* takeover.c: a fuser taking over the mount of one that died; a handle made by the dead fuser
 * (fh_foreign) is served from its inode's content. */
void handle_read_foreign(struct fuser *f, fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			 uint64_t fh);
void handle_release_foreign(struct fuser *f, uint64_t fh);
/* True (and the bytes copied out) when buf is the kernel's FUSE_INIT request. */
bool takeover_is_init(const struct fuse_buf *buf, size_t len, uint8_t *out, size_t *outlen);
/* Bring a new session to the state the INIT in `init` gave the old one, then have the kernel send
 * again every request the dead fuser had read and not answered. Returns 0 or -errno. */
int takeover_start(struct fuse_session *se, const uint8_t *init, size_t len);

/* Install a validated index (main.c); statfs counts its blocks when first asked. */
void fuser_set_index(struct fuser *f, void *map, size_t size, const struct ix *ix);

#endif
