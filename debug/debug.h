/* debug.h — aysfs-debug, debug mode's worker (SPEC §7): the filter, Redis and the contents of the
 * files written on the mount. main.c answers the fuser; store.c talks to Redis (hiredis);
 * wire.c decodes its configuration and the journal's lines. */
#ifndef AYSFS_DEBUG_DEBUG_H
#define AYSFS_DEBUG_DEBUG_H

#include "ipc/proto_debug.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct debug_conf {
	uint64_t max_size;
	char *id, *redis, *passwd;
	char *filter[DBG_FILTER_MAX];
	uint32_t nfilter;
};

/* MSG_DEBUG_CONF into *c (strings malloc'd; debug_conf_free). 0 or -EPROTO. */
int debug_conf_decode(const void *buf, size_t len, struct debug_conf *c);
void debug_conf_free(struct debug_conf *c);

#define JOURNAL_LINE_MAX (6 * DBG_PATH_MAX + 64)       /* every byte of a path escaped, \u00XX */

/* One entry of debug:log:MOUNT, the JSON text [epoch,"path","md5"] (md5 "" for a removal):
 * written into buf (≥ JOURNAL_LINE_MAX) returning its length; parsed back (0 or -EINVAL; path
 * NUL-terminated into path[DBG_PATH_MAX + 1], md5 into md5[33]). */
size_t journal_encode(char *buf, int64_t epoch, const char *path, const char *md5);
int journal_parse(const char *s, size_t len, int64_t *epoch, char *path, char *md5);

/* ---- store.c: Redis ---- */

struct stored {                 /* a path of debug:paths:MOUNT, as loaded */
	char *path;
	char md5[33];
	uint64_t size;
	int64_t mtime;          /* of its last journal entry (else the load's time) */
	int fd;                 /* sealed memfd of the content */
};

/* Resolve the address and connect (before the lock-down). Returns 0 or -EIO, logged. */
int store_open(const struct debug_conf *c);
/* Every stored path, with its content. Returns how many (≥ 0) or -EIO. */
int store_load(struct stored **out);
/* One transaction: content under its md5, the path → "md5,size", the journal entry. -EIO. */
int store_commit(const char *path, const void *data, size_t len, const char *md5, int64_t now);
/* The path leaves debug:paths, with a journal entry (md5 ""). -EIO. */
int store_remove(const char *path, int64_t now);
/* A sealed memfd holding data (its fd, or -errno). */
int store_seal(const void *data, size_t len);
/* The md5 of data in lowercase hex. */
void md5_hex(const void *data, size_t len, char hex[33]);
/* aysfs-ctl debug: the changed paths from the journal, one line each, into buf. -EIO. */
int store_list(char *buf, size_t cap, size_t *len);

#endif
