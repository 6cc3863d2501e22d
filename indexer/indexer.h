/* indexer.h — the indexer's pieces: loading the tree (load.c) and layers (layer.c). */
#ifndef AYSFS_INDEXER_H
#define AYSFS_INDEXER_H

#include "ipc/index.h"
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
	/* The stored image (istore.h): `stored` when the image is that of `key` (then `sum` is its
	 * checksum); `store` when it was built and should be stored under `key`. */
	bool stored, store;
	uint8_t key[32];
	uint8_t name[32];               /* where it is stored (istore.h) */
	uint8_t sum[32];
	uint32_t parse_rejected;        /* of `rejected`, the flists the parse refused */
	char *notes;                    /* what the parse logged (istore.h; the caller frees it) */
	void *map;                      /* stored: the image mapped and validated (ix), or NULL */
	size_t notes_len;
	struct ix ix;
};

/* Parse every flist of the configuration into one sealed image, numbered against `prev` (the
 * image being served, or NULL), or take the image stored for the same flists and configuration
 * (istore.h) when no prev, or when prev is that very image (prev_sum: its checksum, NULL when
 * unknown). Returns 0 (even when some services were rejected: they are logged) or -errno when no
 * image could be made. */
struct ix;
int load_tree(const struct worker_conf *c, const char *cache_root, uint64_t generation,
	      const struct ix *prev, const uint8_t *prev_sum, struct load_result *res);

/* Limit file access to the configuration's folders (sandbox.c, Landlock); before any thread. */
void indexer_landlock(const struct worker_conf *c);

/* -check (check.c): log what the configuration's folders and layers are, as the workers see them;
 * returns the number of problems found. */
int check_run(const struct worker_conf *c);

#endif
