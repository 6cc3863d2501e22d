/* watch.h — reloads without a signal: the configuration file and flist_dir, watched with inotify
 * (supervisor/watch.c). */
#ifndef AYSFS_SUP_WATCH_H
#define AYSFS_SUP_WATCH_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>

#define WATCH_DEBOUNCE_MS 1000  /* quiet time after the last change before reloading */
#define WATCH_MAX_WAIT_MS 3000  /* … but no longer than this after the first one */

/* (Re)arm the watches, forgetting changes seen so far (a reload has just read everything):
 * each of `files` (the configuration, the flists given by path) through its folder (written,
 * replaced, removed), and `flist_dir` with its subfolders (any *.flist or folder appearing,
 * changing or going). NULL entries and a NULL flist_dir are skipped. Returns 0, or -errno when
 * inotify is not available (logged). */
int watch_set(const char *const *files, size_t nfiles, const char *flist_dir);
void watch_close(void);

/* The loop's share: one pollfd (returns 0 or 1) and the debounce deadline; after poll, true
 * when a reload is due now. */
int watch_pollfd(struct pollfd *p, int *timeout_ms);
bool watch_process(const struct pollfd *p, int n);

#endif
