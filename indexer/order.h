/* order.h — the published order of first opens (order.c): what the flists' order=N fields say
 * comes next, read ahead into the local cache; and the order this mount's programs opened files
 * in, per service, for `aysfs-ctl MNT order SERVICE`. */
#ifndef AYSFS_INDEXER_ORDER_H
#define AYSFS_INDEXER_ORDER_H

#include "ipc/index.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define ORDER_WINDOW 16         /* files of the order asked for ahead of the last one opened */
#define ORDER_RECORD_MAX 65536  /* first opens recorded per mount, all services together */

/* A file of a flist with order=N (tree.c collects them while the flists are parsed). */
struct order_item {
	uint32_t order;         /* N */
	uint32_t service;       /* its flist's place in the tree (ix_service) */
	uint64_t size;
	uint8_t hash_len;
	uint8_t hash[32];
	bool asked;             /* already handed out by order_next */
};

/* The items of a new tree `ix` (order.c takes v, which may be NULL with n 0). */
void order_set(const struct ix *ix, struct order_item *v, size_t n);

/* An application opened the file `in` of the tree `ix`, at `path` (below the mount's root, as the
 * fuser names it), whose content is `hash`: recorded once per path; and the next files of the
 * order after it that were not asked for yet, up to ORDER_WINDOW, are copied into out (at most
 * max). Returns how many. */
size_t order_opened(const struct ix *ix, const struct ix_inode *in, const char *path,
		    const uint8_t *hash, size_t hash_len, struct order_item *out, size_t max);

/* `aysfs-ctl MNT order SERVICE`: the flist paths (prefix + path, percent-encoded as in a flist)
 * of the service's files in the order first opened, one a line: the format aysfs-pack -order
 * reads. `prefix` is the configuration's. Returns 0, or -ENOENT for a service not served. */
int order_print(const char *prefix, const char *service, FILE *out);

#endif
