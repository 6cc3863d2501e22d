/* proto_fuser.c — the fuser's side of the protocol: the accept tables of its two channels and the
 * blob-hash payload (which the indexer decodes too). The supervisor's side is proto_supervisor.c,
 * the other workers' proto_workers.c. */
#include "ipc/proto.h"

#include <errno.h>
#include <string.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define STR(max) (4 + (max))

const struct ipc_type proto_fuser_from_supervisor[] = {
	{ MSG_FUSER_CONF, 0, FUSER_CONF_LEN, FUSER_CONF_LEN, "fuser-conf" },
	{ MSG_PEER, 1, 4, 4, "peer" },
	{ MSG_FUSE_INIT, 0, 4 + FUSE_INIT_MIN, 4 + FUSE_INIT_MAX, "fuse-init" },
	{ MSG_CTL, 0, 8, STR(CTL_CMD_MAX) + STR(CTL_ARG_MAX), "ctl" },
};
const size_t proto_fuser_from_supervisor_n = N(proto_fuser_from_supervisor);

const struct ipc_type proto_fuser_from_indexer[] = {
	{ MSG_INDEX, 1, 16, 16, "index" },
	{ MSG_BLOB, 1, 4, STR(WCONF_MAX_STR), "blob" },
	{ MSG_BLOB_ERR, 0, 4, 4, "blob-err" },
	{ MSG_BLOB_GONE, 0, 1 + 16, 1 + 32, "blob-gone" },
	{ MSG_BLOB_UNPIN, 0, 0, 0, "blob-unpin" },
	{ MSG_AHEAD, 0, 4 + 8, 4 + 8 * AHEAD_HINT_MAX, "ahead" },
};
const size_t proto_fuser_from_indexer_n = N(proto_fuser_from_indexer);

int proto_blob_closed_decode(const void *buf, size_t len, uint8_t *hash)
{
	struct ipc_rd r;
	const void *h;
	uint8_t n;

	ipc_rd_init(&r, buf, len);
	n = ipc_rd_u8(&r);
	h = ipc_rd_bytes(&r, n);
	if ((n != 16 && n != 32) || !h || !ipc_rd_done(&r))
		return -EPROTO;
	memcpy(hash, h, n);
	return n;
}

