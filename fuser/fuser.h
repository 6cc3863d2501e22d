/* fuser.h — state shared by the fuser's loop (main.c) and its request handlers (ops.c). */
#ifndef AYSFS_FUSER_H
#define AYSFS_FUSER_H

#define FUSE_USE_VERSION 314

#include "ipc/index.h"

#include <fuse_lowlevel.h>
#include <stdbool.h>
#include <stdint.h>

#define BLOB_BUCKETS 4096
#define PENDING_BUCKETS 256     /* blobs asked of the indexer, by request id */
#define IDLE_FDS_MAX 65536      /* fds of blobs no handle uses, kept for the next open */
#define IDLE_BYTES_MAX (4ull << 30)  /* and the most content they may keep alive */
#define PREFETCH_SIBLINGS 32    /* on a miss, the next files of the folder asked for too */
#define PREFETCH_MAX_SIZE (4u << 20)  /* if that small: latency, not bandwidth, is their cost */

/* An open request waiting for its blob. */
struct waiter {
	fuse_req_t req;
	struct fuse_file_info fi;
	struct waiter *next;
};

enum blob_state {
	BLOB_PENDING,           /* asked the indexer; opens wait */
	BLOB_OPEN,              /* fd held, shared by every open handle of that content; with no
				 * handle (refs 0) it waits on the idle list for the next open */
	BLOB_IDLE,              /* no handle: fd closed, only where it came from is remembered */
};

/* One blob the fuser has served. */
struct blob {
	uint8_t hash[32];
	uint8_t hash_len;
	bool speculative;       /* asked with MSG_PREFETCH (from the cache only) */
	enum blob_state state;
	uint64_t size;
	int fd;                 /* BLOB_OPEN only */
	unsigned refs;          /* open handles, plus one per waiter */
	uint64_t req_id;        /* the MSG_OPEN that asked for it, while pending */
	uint64_t ino;           /* an inode with this content, to ask again for it */
	struct waiter *waiters;
	char *layer;            /* where it came from (xattr user.aysfs.layer) */
	struct blob *next;      /* hash bucket chain */
	struct blob *pnext;     /* pending chain, while BLOB_PENDING */
	struct blob *older, *newer;  /* idle list, while BLOB_OPEN with no handle */
};

struct fuser {
	struct fuse_session *se;
	int idx_fd;

	struct ix ix;           /* the tree being served */
	void *map;
	size_t map_size;
	int index_fd;           /* its sealed memfd, handed to a restarted indexer */
	uint64_t blocks;        /* statfs: 4 KiB blocks of all files */

	double entry_ttl, attr_ttl, negative_ttl;
	bool no_opendir;        /* the kernel opens directories by itself when opendir says ENOSYS */

	struct blob *buckets[BLOB_BUCKETS];
	struct blob *pending[PENDING_BUCKETS];
	struct blob *idle_newest, *idle_oldest;
	unsigned nidle, idle_max;
	uint64_t idle_bytes;
	uint64_t next_req_id;
};

extern const struct fuse_lowlevel_ops fuser_ops;

/* Replies from the indexer to a MSG_OPEN (main.c reads them, ops.c answers the parked opens). */
void blob_ready(struct fuser *f, uint64_t req_id, int fd, const char *layer, size_t layer_len);
void blob_failed(struct fuser *f, uint64_t req_id, int err);

/* A restarted indexer: ask it again for every blob still pending. Returns how many. */
unsigned blobs_ask_again(struct fuser *f);

/* reload.c: start the thread that sends invalidations; queue those that a change from `old` to
 * `new` needs (returns how many). */
int reload_start(struct fuse_session *se);
unsigned reload_invalidate(const struct ix *old, const struct ix *new);

/* Install a validated index (main.c), computing what statfs reports. */
void fuser_set_index(struct fuser *f, void *map, size_t size, const struct ix *ix);

#endif
