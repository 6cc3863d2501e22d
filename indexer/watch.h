/* watch.h — reloads without a signal: the configuration file, the flists named by path and
 * flist_dir, watched with inotify (indexer/watch.c). */
#ifndef AYSFS_INDEXER_WATCH_H
#define AYSFS_INDEXER_WATCH_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>

#define WATCH_DEBOUNCE_MS 1000  /* quiet time after the last change before reloading */
#define WATCH_MAX_WAIT_MS 3000  /* … but no longer than this after the first one */

#define WATCH_TREE   1u         /* a flist named by path, or something under flist_dir */
#define WATCH_CONFIG 2u         /* the configuration file */

/* (Re)arm the watches, forgetting changes seen so far (a reload has just read everything):
 * config_file and each of `files` (the flists given by path) through its folder (written,
 * replaced, removed), and `flist_dir` with its subfolders (any *.flist or folder appearing,
 * changing or going). NULL or empty entries are skipped. Returns 0, or -errno when inotify is
 * not available (logged). */
int watch_set(const char *config_file, const char *const *files, size_t nfiles,
	      const char *flist_dir);
void watch_close(void);

/* The loop's share: one pollfd (returns 0 or 1) and the debounce deadline; after poll, what
 * changed once a change is due (WATCH_* bits), else 0. */
int watch_pollfd(struct pollfd *p, int *timeout_ms);
unsigned watch_process(const struct pollfd *p, int n);

#endif
