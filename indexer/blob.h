/* blob.h — the indexer's blob store: local cache, folder layers, verification, write-back. */
#ifndef AYSFS_BLOB_H
#define AYSFS_BLOB_H

#include "ipc/proto_workers.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct blobs;

/* Choose the local cache (the first writable folder [[cache]], else cache_dir), purge the caches
 * that ask for it, and start the write-back thread. `c` must outlive the result. */
struct blobs *blobs_new(const struct worker_conf *c, bool purge);
void blobs_free(struct blobs *b);

/* Replace the layer list (-auto's re-discovery): opens and write-backs already running finish
 * with the list they started with. The local cache stays the one chosen at start. Returns 0 or
 * -ENOMEM (the old list stays). */
int blobs_set_layers(struct blobs *b, const struct wire_layer *layers, uint32_t n);

/* The local cache's namespace folder (CACHE/NAMESPACE). */
const char *blobs_cache_root(const struct blobs *b);

/* The blob if the local cache has it and finding it needs no disk I/O (every path component in the
 * kernel's dentry cache; else -EAGAIN): for the main thread. Returns 0 with a read-only fd in *fd
 * and the cache's URL in *layer; otherwise -errno, and blob_get has the answer. */
int blob_cached(struct blobs *b, const uint8_t *hash, size_t hash_len, uint64_t size, int *fd,
		const char **layer);

/* blob_get's flags. */
enum {
	/* Read-ahead: no one has opened the file yet. The fetcher is asked at low priority and only
	 * of network layers that have answered the opens; blob_get returns -EAGAIN when it stopped
	 * before a layer the opens have not tried yet, and logs its failures at debug level only. */
	BLOB_AHEAD = 1,
	/* The local cache's books say it lacks the blob (cache_acquire returned CACHE_ABSENT): its
	 * folder is not looked in. On a cold disk that lookup is a directory read (about a
	 * millisecond) on the path of every miss. */
	BLOB_NOT_CACHED = 2,
};

/* Find the blob, verified, in the local cache (unless BLOB_NOT_CACHED), then in each layer in
 * order. Blocks on I/O: call it from a pool thread. Returns 0 with a read-only fd in *fd, the
 * layer it came from in *layer and *hit true when the local cache had it, or -EIO when no layer
 * has a valid copy (one log line names `path`, the hash and each layer tried). The local cache's
 * accounting (cache.h) is the caller's. */
int blob_get(struct blobs *b, const uint8_t *hash, size_t hash_len, uint64_t size,
	     const char *path, unsigned flags, int *fd, const char **layer, bool *hit);

#endif
