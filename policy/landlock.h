/* landlock.h — the folders a worker may reach by path (Landlock, Linux 5.13 and later).
 *
 * Seccomp cannot tell one path from another; Landlock can. The indexer opens paths all its life
 * (flists at each reload, blobs in the cache and in local-folder layers), so it locks itself to
 * exactly those folders before it starts its threads: a flist parser that is subverted still
 * cannot read /etc/shadow's neighbours or write outside the cache. On a kernel without Landlock
 * (or with it disabled) the worker logs a warning and goes on with its user's rights and seccomp.
 */
#ifndef AYSFS_LANDLOCK_H
#define AYSFS_LANDLOCK_H

#include <stddef.h>

enum landlock_access {
	LL_READ,        /* read files, list folders */
	LL_WRITE,       /* that, and create, link, rename, truncate and remove below it */
};

struct landlock_path {
	const char *path;       /* a folder, or a single file (LL_READ only) */
	enum landlock_access access;
};

/* Restrict the calling thread (and every thread it starts later) to `paths`: no other file or
 * folder can be opened, created or removed, no TCP port bound or connected (ABI 4), no signal
 * sent and no abstract socket reached outside this process (ABI 6). A path that does not exist
 * is skipped with a notice. Call before any thread starts. Returns the Landlock ABI used (≥ 1),
 * 0 when the kernel has none (a warning is logged), or -errno (the caller must stop). */
int landlock_restrict(const struct landlock_path *paths, size_t n);

#endif
