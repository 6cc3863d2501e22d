/* proto_debug.c — debug mode's payloads (proto_debug.h): the fuser's side (its accept table, the
 * requests it writes, the replies and entries it reads). aysfs-debug's side is debug/wire.c. */
#include "ipc/proto_debug.h"
#include "ipc/ipc_workers.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define REPLY_LEN (4 + 4 + 8)

const struct ipc_type proto_fuser_from_debug[] = {
	{ MSG_DBG_ENTRY, 1, 8 + 8 + 4, 8 + 8 + 4 + DBG_PATH_MAX, "dbg-entry" },
	{ MSG_DBG_LOADED, 0, REPLY_LEN, REPLY_LEN, "dbg-loaded" },
	{ MSG_DBG_REPLY, 0, REPLY_LEN, REPLY_LEN, "dbg-reply" },
	{ MSG_DBG_REPLY_FD, 1, REPLY_LEN, REPLY_LEN, "dbg-reply-fd" },
};
const size_t proto_fuser_from_debug_n = N(proto_fuser_from_debug);

void dbg_req_encode(struct ipc_wr *w, uint32_t flags, int64_t mtime, const char *path)
{
	ipc_wr_u32(w, flags);
	ipc_wr_i64(w, mtime);
	ipc_wr_cstr(w, path);
}

bool dbg_good_path(const char *p, size_t n)
{
	return p && n >= 1 && p[0] == '/' && !memchr(p, '\0', n);
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
	if (!ipc_rd_done(&r) || !dbg_good_path(e->path, e->path_len) || e->size > (1ull << 40))
		return -EPROTO;
	return 0;
}
