/* fh.h — file handles (fh.c). A handle is a blob pointer tagged, in its top 16 bits, with the
 * instance of the fuser that made it, so that a handle made by a dead fuser is recognised
 * (takeover.c) and served from its inode's content. 0 is the handle of an empty file. */
#ifndef AYSFS_FUSER_FH_H
#define AYSFS_FUSER_FH_H

#include <stdbool.h>
#include <stdint.h>

struct blob;

void fh_set_instance(uint16_t instance);        /* 0 counts as 1, the first fuser's */
uint64_t fh_of(const struct blob *b);
bool fh_foreign(uint64_t fh);                   /* made by another instance */
struct blob *fh_blob(uint64_t fh);              /* one of ours (0: none) */

#endif
