/* cache.h — the local cache's bookkeeping: what it holds, a quota with LRU eviction, expiry,
 * recency that survives restarts, pins for blobs being fetched or held open by the fuser,
 * prefetch, and the control commands (status, evict, verify).
 *
 * One cache per indexer: the functions work on the process's single cache, opened once by
 * cache_open(). Every function is thread-safe unless it says otherwise.
 */
#ifndef AYSFS_CACHE_H
#define AYSFS_CACHE_H

#include "ipc/proto_workers.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

struct ix;

#define CACHE_LOW_WATER 75      /* percent of the limit that eviction brings the cache down to */
#define CACHE_MAX_DEFAULT (10ULL << 30)

/* What a caller of cache_acquire() is: an application's open, the prefetcher of services, or
 * read-ahead (ahead.c, the published order): a guess at the files opened next, fetched into the
 * cache only (no use of the blob, so no recency and no hit counted, and no pin kept: the open
 * that comes for it pins it). */
enum cache_use { CACHE_APP, CACHE_PREFETCH, CACHE_PEEK, CACHE_APP_AHEAD };
/* CACHE_APP_AHEAD: an application's open that took over a guess read-ahead still had queued: an
 * open in every way but the counts, neither hit nor miss (read-ahead had seen it coming, and its
 * own fetch would not have counted either). */

/* How the prefetcher gets a blob into the cache (blob_get without an fd to keep). Returns 0 or
 * -errno; *hit is true when the cache already had it. */
typedef int (*cache_fetch_fn)(const uint8_t *hash, size_t hash_len, uint64_t size,
			      const char *path, bool *hit);

/* Open the cache at `root` (CACHE/NAMESPACE): remove temporary files of a crash, account every
 * blob on disk (apparent sizes), read the recency journal and, from `state_dir` (the node's
 * state folder, only the workers' to write; NULL: none), the records of the files this node
 * verified, and start the background thread that evicts and expires. limit 0 = 10% of the
 * cache's filesystem, at most 10 GiB; expiration_h 0 = never. `mountpoint` names paths for
 * cache_ctl_evict(). Returns 0 or -errno. */
int cache_open(const char *root, const char *state_dir, uint64_t limit, uint32_t expiration_h,
	       const char *mountpoint, cache_fetch_fn fetch);

/* Trust (SPEC §6): is st (fstat of an fd of the blob's file in the cache) the very file this node
 * verified, unchanged since (device, inode, size, change time)? Only then may it be served without
 * hashing it. */
bool cache_trusted(const uint8_t *hash, size_t hash_len, const struct stat *st);

/* The file st was just verified to hold the blob: trusted from now on, recorded in the state
 * folder. */
void cache_trust(const uint8_t *hash, size_t hash_len, const struct stat *st);

/* A blob found in the cache unverified is being hashed (`rehashed` in the report). */
void cache_count_rehash(void);

/* The blob's file is no longer the one verified (it failed a check, or was replaced). */
void cache_distrust(const uint8_t *hash, size_t hash_len);

/* Stop the background threads, close the journal, and unmap every tree given to the cache. */
void cache_close(void);

/* cache_acquire: go on, and the books say the cache's folder lacks the blob. */
#define CACHE_ABSENT 2

/* Before looking a blob up: pins it (it is not evicted until cache_done, or until
 * cache_closed when the pin is kept), waits while another thread fetches the same blob, and
 * when the cache does not hold it makes room for `size` bytes (evicting at once, least recently
 * used first, what the limit needs). Returns 0 (the cache holds it, or keeps no books) or
 * CACHE_ABSENT; for CACHE_PREFETCH also 1 when the cache already holds it (nothing pinned); for
 * CACHE_PREFETCH and CACHE_PEEK -ENOSPC when the cache does not hold it and it would not fit
 * under the limit (nothing pinned). */
int cache_acquire(const uint8_t *hash, size_t hash_len, uint64_t size, enum cache_use use);

/* The calling thread yields to those that serve opens: CPU nice 10, lowest best-effort I/O
 * (for the prefetch of services and the read-ahead pool). */
void cache_thread_background(void);

/* After blob_get (rc its result, hit whether the local cache had it): records what the cache
 * holds now and when it was used; drops the pin unless keep_pin (the fuser got an fd). */
void cache_done(const uint8_t *hash, size_t hash_len, uint64_t size, int rc, bool hit,
		bool keep_pin, enum cache_use use);

/* The fuser closed its last handle of a blob (MSG_BLOB_CLOSED): it may be evicted from now on;
 * the close counts as its last use. Also undoes cache_pin_present(). */
void cache_closed(const uint8_t *hash, size_t hash_len);

/* The fuser uses again a blob whose fd it kept with no handle (MSG_BLOB_HELD): pinned again,
 * unless it has left the cache meanwhile. */
void cache_held(const uint8_t *hash, size_t hash_len);

/* The main thread's warm open: pins the blob and counts it used if the cache holds it (not being
 * fetched or evicted), and returns true; false when only the pool can tell (nothing changed).
 * True too when no books are kept (cache_open failed). cache_count_hit() once it is served. */
bool cache_pin_present(const uint8_t *hash, size_t hash_len);
void cache_count_hit(void);

/* Do the books say the cache holds the blob (false when none are kept)? Nothing pinned, no use
 * counted: read-ahead's question, whether a guess needs fetching. */
bool cache_present(const uint8_t *hash, size_t hash_len);

/* Called (without the cache's lock) for each blob that leaves the cache: evicted, expired,
 * removed for its size or by a verify. */
typedef void (*cache_gone_fn)(const uint8_t *hash, size_t hash_len);
void cache_on_gone(cache_gone_fn fn);
/* Called (without the lock) when the cache is past a limit and nothing left is evictable: the
 * fuser is asked to stop pinning the fds it keeps idle (MSG_BLOB_UNPIN). */
typedef void (*cache_full_fn)(void);
void cache_on_full(cache_full_fn fn);

/* The tree being served, mapped by the caller at `map` (size bytes, validated as `ix`): blobs
 * whose size differs from what the tree lists are removed without hashing, then the services
 * with WS_PREFETCH in `c` are fetched into the cache in the background. The cache shares the
 * mapping: the caller gives it up with cache_unmap_tree(), never munmap(). Returns 0 or -ENOMEM
 * (the caller still owns the mapping then). */
int cache_set_tree(void *map, size_t size, const struct ix *ix, const struct worker_conf *c);

/* The caller is done with a mapping: unmapped now, or once the cache is done with it too. */
void cache_unmap_tree(void *map, size_t size);

/* Control commands. Each writes its answer as text into out and returns 0 or -errno.
 *
 * cache_ctl_report: lines "key value": blobs, bytes, limit, hits, misses, hit_rate, evictions,
 *   expired, wrong_size, open, prefetch_done, prefetch_failed, prefetch_total, trusted (blobs
 *   this node verified, unchanged since), rehashed (blobs found unverified and hashed at an open).
 * cache_ctl_evict: PATH (under the mountpoint, or relative to it) → its blob removed from the
 *   local cache; -ENOENT (no such file, or not cached), -EINVAL (no blob), -EBUSY (open).
 * cache_ctl_verify: re-hash every cached blob now, remove those that do not match their name,
 *   report "checked N", "removed M". Takes as long as reading the whole cache: call it from a
 *   thread that may block (not a loop that serves opens). */
int cache_ctl_report(FILE *out);
int cache_ctl_evict(const char *path, FILE *out);
int cache_ctl_verify(FILE *out);

/* "service_entries ID N" for each service of the tree served (the indexer's "stats"). */
void cache_service_stats(FILE *out);

#endif
