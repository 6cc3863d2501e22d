/* serve.h — the fuser's requests for blobs, and read-ahead (serve.c). */
#ifndef AYSFS_INDEXER_SERVE_H
#define AYSFS_INDEXER_SERVE_H

#include "indexer/blob.h"
#include "ipc/index.h"

#include <stddef.h>
#include <stdint.h>

/* Start the threads that answer opens and those that read ahead, which take blobs from b. Returns
 * 0 or -EAGAIN. */
int serve_start(struct blobs *b);

/* A MSG_OPEN of the fuser (request id, payload), from the main thread: answered now when the local
 * cache has the blob and finding it needs no disk I/O, else by a pool thread; it tells read-ahead
 * and the published order what was opened in `ix`, the tree served (NULL: none yet). A
 * MSG_PREFETCH (SERVE_PREFETCH) is answered only in the first way, else refused, and tells nobody;
 * a MSG_OPENED (SERVE_OPENED: the fuser had the fd) is answered to nobody and tells them.
 * Returns 0, or -EPROTO for a malformed request, -ENOMEM. */
enum serve_kind { SERVE_OPEN, SERVE_PREFETCH, SERVE_OPENED };
int serve_open(uint64_t id, const void *payload, size_t len, const struct ix *ix,
	       enum serve_kind kind);

/* A restarted fuser's channel `peer` becomes FD_PEER1 (peer is closed); answers meant for the one
 * before are dropped from now on. Returns 0 or -errno. */
int serve_new_fuser(int peer);

/* The cache's callbacks (cache.h): it is full of pinned blobs (the fuser unpins those it keeps
 * idle, MSG_BLOB_UNPIN); a blob left it (the fuser closes the fd it may keep, MSG_BLOB_GONE). */
void serve_cache_full(void);
void serve_blob_gone(const uint8_t *hash, size_t len);

#endif
