/* refresh.h — flists from network layers, asked for again every `refresh` seconds (SPEC §8). */
#ifndef AYSFS_REFRESH_H
#define AYSFS_REFRESH_H

#include "indexer/fetch.h"

#include <stdbool.h>
#include <stdint.h>

/* The configuration's refresh interval; wake_fd is written one byte when a changed flist that
 * would be accepted is there (the main loop then reloads). */
void refresh_configure(const struct worker_conf *c, int wake_fd);

/* Start the thread (before the seccomp lock-down). Returns 0 or -errno. */
int refresh_start(void);

/* Loading the tree: forget what is not noted again before refresh_load_end. */
void refresh_load_begin(void);
void refresh_load_end(void);

/* The validators of the copy of id kept locally, when it came from url. */
bool refresh_validators(const char *id, const char *url, struct fetch_validators *v);

/* id is served from url's copy with these validators and SHA-256 (sha NULL: the copy noted
 * before, which a 304 confirmed). */
void refresh_note(const char *id, const char *url, const struct fetch_validators *v,
		  const uint8_t *sha);

/* url + ".sig" through the fetcher: 0 with the bytes (malloc'd, *len) in *sig, or -errno with
 * the reason in why. */
int refresh_fetch_sig(const char *url, char **sig, size_t *len, char *why, size_t whylen);

#endif
