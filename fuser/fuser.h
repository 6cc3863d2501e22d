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
/* Read-ahead (ahead.c): the next files of a depth-first walk from the file opened, AHEAD_START
 * after a miss, twice as many after each right guess up to AHEAD_FILES; at most AHEAD_BYTES
 * together, each at most AHEAD_MAX_SIZE (if that small, latency, not bandwidth, is their cost);
 * the walk visits AHEAD_STEPS slots at most; AHEAD_PENDING guesses asked at once. */
#define AHEAD_START 2
#define AHEAD_FILES 64
#define AHEAD_BYTES (32ull << 20)
#define AHEAD_MAX_SIZE (4u << 20)
#define AHEAD_STEPS (4 * AHEAD_FILES)
#define AHEAD_PENDING 48
/* A miss starts read-ahead only when its file is one of the AHEAD_NEAR files that come after
 * the file opened before it: a walk through the tree, not a program picking files of its own. */
#define AHEAD_NEAR 4

/* The kernel's FUSE_INIT request: fuse_in_header (40 bytes) and fuse_init_in (16 … 64 bytes). */
#define FUSE_INIT_MIN_LEN 56
#define FUSE_INIT_MAX_LEN 512

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
	bool speculative;       /* asked with MSG_PREFETCH (read-ahead, served after every open) */
	bool ahead;             /* brought in by read-ahead and not opened since */
	bool ahead_counted;     /* counted in ahead_pending while its MSG_PREFETCH is pending */
	bool promoted;          /* an open waits for its MSG_PREFETCH: MSG_PROMOTE sent */
	bool ahead_after;       /* an open missed it: read-ahead from b->ino once it is here */
	bool gone;              /* no longer in the indexer's cache: no idle life after the handles */
	bool pinned;            /* the indexer counts it in use: an fd for a MSG_OPEN, or HELD */
	enum blob_state state;
	uint64_t size;
	int fd;                 /* BLOB_OPEN only */
	uint64_t ctime_ns;      /* its file's change time when the indexer handed it over */
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
	unsigned ahead_pending; /* read-ahead requests the indexer has not answered */
	unsigned ahead_window;  /* files read-ahead covers now (AHEAD_START … AHEAD_FILES) */
	uint32_t ahead_last;    /* slot of the file opened last (the root at first and after a reload) */
};

extern const struct fuse_lowlevel_ops fuser_ops;

/* Replies from the indexer to a MSG_OPEN (main.c reads them, ops.c answers the parked opens). */
void blob_ready(struct fuser *f, uint64_t req_id, int fd, const char *layer, size_t layer_len);
void blob_failed(struct fuser *f, uint64_t req_id, int err);
/* The blob left the indexer's cache: its fd is closed now if idle, else at its last release. */
void blob_gone(struct fuser *f, const uint8_t *hash, uint8_t len);

/* A restarted indexer: ask it again for every blob still pending. Returns how many. */
unsigned blobs_ask_again(struct fuser *f);

/* reload.c: start the thread that sends invalidations; queue those that a change from `old` to
 * `new` needs (returns how many). */
int reload_start(struct fuse_session *se);
unsigned reload_invalidate(const struct ix *old, const struct ix *new);

/* ops.c, for takeover.c: the blob record of a file's content (found, or made idle); ask the
 * indexer for it (MSG_OPEN or MSG_PREFETCH); take and drop a reference. */
struct blob *blob_for(struct fuser *f, const struct ix_inode *in);
int ask_indexer(struct fuser *f, struct blob *b, fuse_ino_t ino, uint32_t type);
void pending_drop(struct fuser *f, struct blob *b);     /* after ask_indexer failed */
void blob_hold(struct fuser *f, struct blob *b);        /* one more reference */
void blob_put(struct fuser *f, struct blob *b);

/* takeover.c: a fuser taking over the mount of one that died.
 * File handles carry the instance that made them in their top 16 bits (a blob pointer below), so
 * that a handle made by a dead fuser is recognised and served from its inode's content. */
void handle_set_instance(uint16_t instance);
uint64_t fh_of(const struct blob *b);
bool fh_foreign(uint64_t fh);
struct blob *fh_blob(uint64_t fh);      /* one of ours (0: none) */
void handle_read_foreign(struct fuser *f, fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			 uint64_t fh);
void handle_release_foreign(struct fuser *f, uint64_t fh);
/* Serve a read of size bytes at off from the blob's fd. */
void reply_read(fuse_req_t req, const struct blob *b, size_t size, off_t off);
/* True (and the bytes copied out) when buf is the kernel's FUSE_INIT request. */
bool takeover_is_init(const struct fuse_buf *buf, size_t len, uint8_t *out, size_t *outlen);
/* Bring a new session to the state the INIT in `init` gave the old one, then have the kernel send
 * again every request the dead fuser had read and not answered. Returns 0 or -errno. */
int takeover_start(struct fuse_session *se, const uint8_t *init, size_t len);

/* ahead.c: ask for the blobs of the files that come after `in`, which an open missed (guessed
 * false) or found read-ahead had guessed (true). */
void ahead_from(struct fuser *f, const struct ix_inode *in, bool guessed);
/* ahead.c: an open of `in` (a file with content): whether it is one of the AHEAD_NEAR files
 * after the file opened before it, which `in` now is. */
bool ahead_in_walk(struct fuser *f, const struct ix_inode *in);

/* Install a validated index (main.c), computing what statfs reports. */
void fuser_set_index(struct fuser *f, void *map, size_t size, const struct ix *ix);

#endif
