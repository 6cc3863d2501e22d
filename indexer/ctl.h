/* ctl.h — the indexer's answers to aysfs-ctl (MSG_CTL from the supervisor; indexer/ctl.c). */
#ifndef AYSFS_INDEXER_CTL_H
#define AYSFS_INDEXER_CTL_H

#include "ipc/proto_workers.h"

#include <stdint.h>

/* What the answers draw on: the configuration (its layers) and the local cache's folder
 * (CACHE/NAMESPACE); both must outlive the process's use of them. */
void ictl_init(const struct worker_conf *c, const char *cache_root);

/* A blob served from `layer` (a layer URL, or the local cache's), for the hit counts. Any thread. */
void ictl_note_blob(const char *layer, uint64_t size);

/* The tree of `c` was built with `entries` (the root included) from `services` (`rejected` not
 * mounted): an empty one is a warning, in the log now and in `status` while it is served. */
void ictl_note_tree(const struct worker_conf *c, uint64_t entries, uint32_t services,
		    uint32_t rejected);

/* A MSG_CTL: answered with MSG_CTL_REPLY on the supervisor's channel from a thread of its own (a
 * walk of a large cache must not hold up opens). Returns 0, or -EPROTO when malformed. */
int ictl_request(uint64_t id, const void *payload, size_t len);

#endif
