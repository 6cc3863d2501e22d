/* tree.h — the union of several flists, turned into an index image (ipc/index.h).
 *
 *   t = tree_new(prefix, load_time);
 *   tree_add_flist(t, "svc1", "svc1.flist", buf, len, err, sizeof err);   for each service in order
 *   size = tree_image_size(t);  ftruncate(fd, size);  tree_image_write(t, generation, fd);
 *   tree_free(t);
 *
 * Rules (SPEC section 4): paths outside `prefix` (by whole components) are skipped; parent
 * directories are implied; directories listed by several services merge; for any other clash the
 * service added first keeps the path and the later one's entry, with everything below it, is
 * skipped. A malformed flist adds nothing at all.
 */
#ifndef AYSFS_TREE_H
#define AYSFS_TREE_H

#include <stddef.h>
#include <stdint.h>

struct ix;

struct tree;

struct tree_flist_stats {
	unsigned long added;            /* entries that made it into the tree */
	unsigned long outside_prefix;   /* skipped: not under the prefix */
	unsigned long conflicts;        /* skipped: clash with an earlier entry */
	unsigned first_conflict_line;
	char first_conflict_path[4096]; /* the first one's path, as the flist has it */
	const char *first_conflict_winner;      /* the service that has that path (or a file in
						 * its way), valid while the tree lives; NULL
						 * when the path is the root */
	unsigned long unknown_keys;
	unsigned first_unknown_line;
	char first_unknown_key[32];
};

struct tree *tree_new(const char *prefix, int64_t load_time);
void tree_free(struct tree *t);

/* The files with order=N read so far (struct order_item, order.h), handed to the caller, who
 * frees them; *n their count. */
struct order_item;
struct order_item *tree_take_order(struct tree *t, size_t *n);

/* The inode at a path below the root of an image ("a/b" or "/a/b"), or NULL. */
struct ix;
struct ix_inode;
const struct ix_inode *tree_ix_resolve(const struct ix *ix, const char *path);

/* Add one service's flist. Returns 0, -EINVAL when the flist is malformed (err holds
 * "NAME:LINE: reason" and the tree is unchanged), -ENOMEM, or -E2BIG past the limits of the
 * image format. Warnings are the caller's to log, from *st. */
int tree_add_flist(struct tree *t, const char *service, const char *name, const char *buf,
		   size_t len, struct tree_flist_stats *st, char *err, size_t errlen);

/* The same, reading the flist from fd in windows of a few MiB (twice: validate, then add), so
 * that a large flist never has to be held in memory whole. */
int tree_add_flist_fd(struct tree *t, const char *service, const char *name, int fd,
		      struct tree_flist_stats *st, char *err, size_t errlen);

/* Bound every later flist: at most max_bytes (read from an fd) and max_entries entries (0: no
 * bound); one past them is refused as a malformed flist is (-EINVAL, err naming the limit). */
void tree_set_limits(struct tree *t, uint64_t max_bytes, uint64_t max_entries);
/* From now on, refuse (as malformed) a flist that lists an MD5 hash: len 32; 16 allows both. */
void tree_set_min_hash(struct tree *t, unsigned len);

/* Number of entries, the root included. */
size_t tree_count(const struct tree *t);

/* Give every entry its inode number: the number it had in `prev` (the image being served, or NULL
 * for the first) when the path still has the same type and content there, else a number never
 * used before. Call it after the last tree_add_flist and before tree_image_size (which numbers the
 * tree as a first image when this was not called). Returns the
 * number of entries that kept their number, or -ENOMEM / -E2BIG. */
long tree_number(struct tree *t, const struct ix *prev);

/* The image's size in bytes, and the image itself written into fd (a memfd of that size) with
 * pwrite through a small buffer: the indexer never maps the image, so its pages are counted once,
 * in the fuser that serves them. Adding is over once this is called (the lookup table is freed).
 * Returns 0, -ENOMEM or -errno of the writes. */
size_t tree_image_size(struct tree *t);
int tree_image_write(struct tree *t, uint64_t generation, int fd);

#endif
