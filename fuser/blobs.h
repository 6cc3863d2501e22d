/* blobs.h — the fuser's blob fds (blobs.c): one record per content served, shared by every open
 * handle of that content, asked of the indexer once, kept on an idle list after the last handle.
 */
#ifndef AYSFS_FUSER_BLOBS_H
#define AYSFS_FUSER_BLOBS_H

#define FUSE_USE_VERSION 314

#include "fuser/outbox.h"
#include "ipc/index.h"

#include <fuse_lowlevel.h>
#include <stdbool.h>
#include <stdint.h>

#define BLOB_BUCKETS 4096
#define PENDING_BUCKETS 256     /* blobs asked of the indexer, by request id */
#define IDLE_FDS_MAX 65536      /* fds of blobs no handle uses, kept for the next open */
#define IDLE_BYTES_MAX (4ull << 30)  /* and the most content they may keep alive */
#define IDLE_UNPIN_MS 10000     /* idle this long, a blob's fd no longer pins it in the cache */

struct fuser;

/* An open request waiting for its blob; or a read of a handle opened by an earlier fuser
 * (takeover.c), when read_size is not 0. */
struct waiter {
	fuse_req_t req;
	struct fuse_file_info fi;
	size_t read_size;
	off_t read_off;
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
	bool gone;              /* no longer in the indexer's cache: no idle life after the handles */
	bool pinned;            /* the indexer counts it in use: an fd for a MSG_OPEN, or HELD */
	bool detached;          /* out of the table: its file changed while handles used it */
	bool ahead;             /* asked as MSG_PREFETCH (a walk's next file), not for an open */
	bool hinted;            /* its fd came so, and no open has taken it yet (MSG_OPENED) */
	enum blob_state state;
	uint64_t size;
	int fd;                 /* BLOB_OPEN only */
	uint64_t ctime_ns;      /* its file's change time when the indexer handed it over */
	uint64_t idle_since;    /* when it went on the idle list (ms, monotonic) */
	unsigned refs;          /* open handles, plus one per waiter */
	uint64_t req_id;        /* the MSG_OPEN that asked for it, while pending */
	uint64_t ino;           /* an inode with this content, to ask again for it */
	struct waiter *waiters;
	struct out_msg *pin_msg;        /* its MSG_BLOB_CLOSED or _HELD, while it waits (outbox.c) */
	char *layer;            /* where it came from (xattr user.aysfs.layer) */
	struct blob *next;      /* hash bucket chain */
	struct blob *pnext;     /* pending chain, while BLOB_PENDING */
	struct blob *older, *newer;  /* idle list, while BLOB_OPEN with no handle */
};

struct blobs {
	struct blob *buckets[BLOB_BUCKETS];
	struct blob *pending[PENDING_BUCKETS];
	struct blob *idle_newest, *idle_oldest;
	struct blob *unpin_next;        /* the oldest idle blob still pinned (NULL: none) */
	unsigned nidle, idle_max;
	uint64_t idle_bytes;
	uint64_t next_req_id;
};

/* Size the idle list from the fd limit (before the fuser locks itself down). */
void blobs_init(struct blobs *c);

/* An open of `in` (inode number ino, a file with content): answered at once when its fd is held,
 * else parked until the indexer replies (which reads ahead from it: indexer/ahead.c). */
void blob_open(struct fuser *f, fuse_req_t req, fuse_ino_t ino, const struct ix_inode *in,
	       struct fuse_file_info *fi);

/* Replies from the indexer to a MSG_OPEN (main.c reads them, and answers the parked opens here). */
void blob_ready(struct fuser *f, uint64_t req_id, int fd, const char *layer, size_t layer_len);
void blob_failed(struct fuser *f, uint64_t req_id, int err);
/* The blob left the indexer's cache: its fd is closed now if idle, else at its last release. */
void blob_gone(struct fuser *f, const uint8_t *hash, uint8_t len);
/* Tell the indexer about the blobs idle for IDLE_UNPIN_MS (MSG_BLOB_CLOSED), or about all of them
 * (`all`: the indexer asked, MSG_BLOB_UNPIN). Returns the ms until the next is due, -1 for none
 * (a poll timeout). */
int blobs_unpin(struct fuser *f, bool all);
/* A restarted indexer: ask it again for every blob still pending (returns how many), and tell it
 * of every fd held (MSG_BLOB_HELD), which it pins as the dead one did. */
unsigned blobs_ask_again(struct fuser *f);

/* The record of a content (NULL: none); the record of in's content, made idle when there is none
 * (NULL: out of memory). */
struct blob *blob_find(struct fuser *f, const uint8_t *hash, uint8_t len);
struct blob *blob_for(struct fuser *f, const struct ix_inode *in);
/* Ask the indexer for b (MSG_OPEN, or MSG_PREFETCH when b->ahead), b pending from now; after a
 * failure (-errno) b is idle again and asked of nobody. */
int blob_ask(struct fuser *f, struct blob *b, fuse_ino_t ino);
/* A request waits for b (a copy of how: an open's, or a read's), which is asked for unless it is
 * already; 0, or -ENOMEM or -EIO (not asked; the caller replies). */
int blob_wait(struct fuser *f, struct blob *b, fuse_ino_t ino, const struct waiter *how);
/* MSG_AHEAD: ask now for the fds of those files (inode numbers) the fuser does not hold; each
 * joins the idle fds when it comes (the oldest make room). */
void blobs_ahead(struct fuser *f, const void *payload, size_t len);
void blob_hold(struct fuser *f, struct blob *b);        /* one more reference */
void blob_put(struct fuser *f, struct blob *b);
/* Serve a read of size bytes at off from the blob's fd (NULL: an empty file). */
void blob_reply_read(fuse_req_t req, const struct blob *b, size_t size, off_t off);

#endif
