/* indexer.h — the indexer's pieces: loading the tree (load.c) and layers (layer.c). */
#ifndef AYSFS_INDEXER_H
#define AYSFS_INDEXER_H

#include "ipc/proto_workers.h"

#include <stddef.h>
#include <stdint.h>

struct load_result {
	int fd;                 /* sealed memfd of the image */
	size_t size;
	uint64_t entries;
	uint32_t services;      /* mounted */
	uint32_t rejected;      /* configured or found but not mounted */
	struct order_item *order;       /* files with order=N (the caller frees them) */
	size_t norder;
};

/* Parse every flist of the configuration into one sealed image, numbered against `prev` (the
 * image being served, or NULL). Returns 0 (even when some services were rejected: they are logged)
 * or -errno when no image could be made. */
struct ix;
int load_tree(const struct worker_conf *c, const char *cache_root, uint64_t generation,
	      const struct ix *prev, struct load_result *res);

/* Limit file access to the configuration's folders (sandbox.c, Landlock); before any thread. */
void indexer_landlock(const struct worker_conf *c);

/* -check (check.c): log what the configuration's folders and layers are, as the workers see them;
 * returns the number of problems found. */
int check_run(const struct worker_conf *c);

#endif
