/* discover.h — -auto: the layers found on this node and its network (SPEC section 5). */
#ifndef AYSFS_DISCOVER_H
#define AYSFS_DISCOVER_H

#include "ipc/proto_workers.h"

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

struct blobs;

#define DISCOVER_PROBE_MS 1000          /* every host probe, all in parallel, within this */

/* One discovered layer. */
struct discovered {
	char url[PATH_MAX];
	uint32_t flags;         /* WL_CACHE for caches (written back when writable), 0 for masters */
	const char *kind;       /* "local cache", "LAN cache folder", "LAN cache", "master folder", "master" */
};

/* With -auto (c->auto_root set): discover, log one line per layer, and put the discovered layers
 * before the configured ones in c->layers. Call before blobs_new. Returns 0 or -ENOMEM; without
 * -auto does nothing. */
int discover_first(struct worker_conf *c);

/* Re-discover every c->rediscover_s seconds in a thread, handing each changed list to b (one log
 * line per layer that appears or goes). */
int discover_start(struct blobs *b);

/* A reload: new settings and configured layers from c; discover again now and put the result in
 * c->layers and in b. Returns 0 or -errno. */
int discover_reload(struct worker_conf *c, struct blobs *b);

/* The layers discovered last (for status output): copies up to max into out, returns how many
 * there are. Safe from any thread; 0 without -auto. */
size_t discover_list(struct discovered *out, size_t max);

/* The same as text, one "KIND URL" line per layer; returns the length written (cut at size). */
size_t discover_format(char *buf, size_t size);

#endif
