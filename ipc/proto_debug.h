/* proto_debug.h — debug mode's messages (SPEC §7): the channel between the fuser and aysfs-debug,
 * and the debug worker's configuration from the supervisor. Linked by the fuser and the debug
 * worker only (MSG_DEBUG_CONF, from the supervisor, is in ipc/proto.h).
 *
 * The fuser asks, aysfs-debug answers; every request is answered by one MSG_DBG_REPLY (no fd) or
 * MSG_DBG_REPLY_FD (one memfd), with the request's id. The only messages aysfs-debug sends on its
 * own are those that follow a new channel: one MSG_DBG_ENTRY per stored path, then MSG_DBG_LOADED.
 *
 *   fuser → debug   MSG_DBG_OPEN     request; fd: none, or the current content to start from
 *                   MSG_DBG_OPEN_FROM
 *                   MSG_DBG_COMMIT   request; fd: the content to store under the path
 *                   MSG_DBG_UNLINK   request
 *   debug → fuser   MSG_DBG_ENTRY    fd: sealed memfd; i64 mtime, u64 size, str path
 *                   MSG_DBG_LOADED   reply payload (status: 0, or EIO when Redis was unreachable)
 *                   MSG_DBG_REPLY, MSG_DBG_REPLY_FD
 *
 * A request is: u32 flags (DBG_F_*), i64 mtime (commit: the file's), str path (≤ DBG_PATH_MAX, from
 * "/"). A reply is: u32 status (0 or a positive errno), u32 kind (DBG_K_*), u64 size (open: the
 * largest size allowed; commit: the size stored).
 */
#ifndef AYSFS_PROTO_DEBUG_H
#define AYSFS_PROTO_DEBUG_H

#include "ipc/ipc.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	MSG_DBG_OPEN = 80,
	MSG_DBG_OPEN_FROM = 81,
	MSG_DBG_COMMIT = 82,
	MSG_DBG_UNLINK = 83,
	MSG_DBG_ENTRY = 84,
	MSG_DBG_LOADED = 85,
	MSG_DBG_REPLY = 86,
	MSG_DBG_REPLY_FD = 87,
};

#define DBG_PATH_MAX    4095
#define DBG_FILTER_MAX  64
#define DBG_FILTER_LEN  4096

#define DBG_F_TRUNC     1u      /* open: start empty */
#define DBG_F_CHECK     2u      /* unlink: only say whether it may be removed */

#define DBG_K_STORED    1u      /* a path the filter matches: kept in Redis */
#define DBG_K_SCRATCH   2u      /* an editor's temporary name: kept in memory only */

struct dbg_req {
	uint32_t flags;
	int64_t mtime;
	const char *path;       /* into the payload, not NUL-terminated */
	size_t path_len;
};

struct dbg_reply {
	uint32_t status, kind;
	uint64_t size;
};

struct dbg_entry {
	int64_t mtime;
	uint64_t size;
	const char *path;
	size_t path_len;
};

void dbg_req_encode(struct ipc_wr *w, uint32_t flags, int64_t mtime, const char *path);
void dbg_reply_encode(struct ipc_wr *w, uint32_t status, uint32_t kind, uint64_t size);
void dbg_entry_encode(struct ipc_wr *w, int64_t mtime, uint64_t size, const char *path,
		      size_t path_len);
/* A path on the wire: from "/", no NUL. */
bool dbg_good_path(const char *p, size_t n);
/* (dbg_req_decode, the encoders of replies and entries and aysfs-debug's table: debug/wire.c.)
 * Each returns 0 or -EPROTO: exact lengths, a path that starts with '/' and holds no NUL, a
 * status below 4096. */
int dbg_req_decode(const void *buf, size_t len, struct dbg_req *q);
int dbg_reply_decode(const void *buf, size_t len, struct dbg_reply *r);
int dbg_entry_decode(const void *buf, size_t len, struct dbg_entry *e);

/* The accept tables: the fuser's (replies and the load), aysfs-debug's (requests; the
 * supervisor's MSG_DEBUG_CONF and MSG_PEER, MSG_CTL). */
extern const struct ipc_type proto_fuser_from_debug[];
extern const size_t proto_fuser_from_debug_n;
extern const struct ipc_type proto_debug_from_fuser[];
extern const size_t proto_debug_from_fuser_n;

#endif
