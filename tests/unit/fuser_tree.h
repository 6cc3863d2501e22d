/* fuser_tree.h — an index image made from flist text, for the fuser's unit tests. */
#ifndef AYSFS_TEST_FUSER_TREE_H
#define AYSFS_TEST_FUSER_TREE_H

#include "indexer/tree.h"
#include "ipc/index.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define LOAD_TIME 1700000000

struct img {
	void *base;
	size_t size;
	struct ix ix;
};

/* The image of one service's flist `text`, numbered against `prev` (NULL: a first image); exits
 * when anything fails. */
static void img_make(struct img *im, const char *text, const struct ix *prev, uint64_t generation)
{
	struct tree *t = tree_new("/", LOAD_TIME);
	struct tree_flist_stats st;
	char err[256];
	int fd = memfd_create("test-image", MFD_CLOEXEC);

	if (!t || fd < 0 || tree_add_flist(t, "s", "s", text, strlen(text), &st, err, sizeof err) ||
	    tree_number(t, prev) < 0)
		abort();
	im->size = tree_image_size(t);
	im->base = aligned_alloc(8, (im->size + 7) & ~(size_t)7);
	if (!im->base || ftruncate(fd, (off_t)im->size) || tree_image_write(t, generation, fd) ||
	    pread(fd, im->base, im->size, 0) != (ssize_t)im->size ||
	    ix_open(&im->ix, im->base, im->size, err, sizeof err))
		abort();
	close(fd);
	tree_free(t);
}

/* The inode at a path ("/a/b"), or NULL. */
static const struct ix_inode *img_at(const struct img *im, const char *path)
{
	const struct ix_inode *in = ix_inode(&im->ix, 1);

	while (in && *path) {
		const char *start = ++path;

		while (*path && *path != '/')
			path++;
		in = ix_lookup(&im->ix, in, start, (size_t)(path - start));
	}
	return in;
}

#endif
