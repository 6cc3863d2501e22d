/* proto_debug.c — debug mode's payloads (proto_debug.h), both sides. */
#include "ipc/proto_debug.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define REQ_MIN (4 + 8 + 4)
#define REQ_MAX (REQ_MIN + DBG_PATH_MAX)
#define REPLY_LEN (4 + 4 + 8)

const struct ipc_type proto_fuser_from_debug[] = {
	{ MSG_DBG_ENTRY, 1, 8 + 8 + 4, 8 + 8 + 4 + DBG_PATH_MAX, "dbg-entry" },
	{ MSG_DBG_LOADED, 0, REPLY_LEN, REPLY_LEN, "dbg-loaded" },
	{ MSG_DBG_REPLY, 0, REPLY_LEN, REPLY_LEN, "dbg-reply" },
	{ MSG_DBG_REPLY_FD, 1, REPLY_LEN, REPLY_LEN, "dbg-reply-fd" },
};
const size_t proto_fuser_from_debug_n = N(proto_fuser_from_debug);

const struct ipc_type proto_debug_from_fuser[] = {
	{ MSG_DBG_OPEN, 0, REQ_MIN, REQ_MAX, "dbg-open" },
	{ MSG_DBG_OPEN_FROM, 1, REQ_MIN, REQ_MAX, "dbg-open-from" },
	{ MSG_DBG_COMMIT, 1, REQ_MIN, REQ_MAX, "dbg-commit" },
	{ MSG_DBG_UNLINK, 0, REQ_MIN, REQ_MAX, "dbg-unlink" },
};
const size_t proto_debug_from_fuser_n = N(proto_debug_from_fuser);

void dbg_req_encode(struct ipc_wr *w, uint32_t flags, int64_t mtime, const char *path)
{
	ipc_wr_u32(w, flags);
	ipc_wr_i64(w, mtime);
	ipc_wr_cstr(w, path);
}

void dbg_reply_encode(struct ipc_wr *w, uint32_t status, uint32_t kind, uint64_t size)
{
	ipc_wr_u32(w, status);
	ipc_wr_u32(w, kind);
	ipc_wr_u64(w, size);
}

void dbg_entry_encode(struct ipc_wr *w, int64_t mtime, uint64_t size, const char *path,
		      size_t path_len)
{
	ipc_wr_i64(w, mtime);
	ipc_wr_u64(w, size);
	ipc_wr_str(w, path, path_len);
}

static bool good_path(const char *p, size_t n)
{
	return p && n >= 1 && p[0] == '/' && !memchr(p, '\0', n);
}

int dbg_req_decode(const void *buf, size_t len, struct dbg_req *q)
{
	struct ipc_rd r;

	ipc_rd_init(&r, buf, len);
	q->flags = ipc_rd_u32(&r);
	q->mtime = ipc_rd_i64(&r);
	q->path = ipc_rd_str(&r, DBG_PATH_MAX, &q->path_len);
	if (!ipc_rd_done(&r) || !good_path(q->path, q->path_len) ||
	    (q->flags & ~(DBG_F_TRUNC | DBG_F_CHECK)))
		return -EPROTO;
	return 0;
}

int dbg_reply_decode(const void *buf, size_t len, struct dbg_reply *p)
{
	struct ipc_rd r;

	ipc_rd_init(&r, buf, len);
	p->status = ipc_rd_u32(&r);
	p->kind = ipc_rd_u32(&r);
	p->size = ipc_rd_u64(&r);
	if (!ipc_rd_done(&r) || p->status > 4095 || p->kind > DBG_K_SCRATCH)
		return -EPROTO;
	return 0;
}

int dbg_entry_decode(const void *buf, size_t len, struct dbg_entry *e)
{
	struct ipc_rd r;

	ipc_rd_init(&r, buf, len);
	e->mtime = ipc_rd_i64(&r);
	e->size = ipc_rd_u64(&r);
	e->path = ipc_rd_str(&r, DBG_PATH_MAX, &e->path_len);
	if (!ipc_rd_done(&r) || !good_path(e->path, e->path_len) || e->size > (1ull << 40))
		return -EPROTO;
	return 0;
}
