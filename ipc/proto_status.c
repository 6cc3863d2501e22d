/* proto_status.c — the status worker's side of its channel to the supervisor (ipc/proto.h): what
 * it accepts, the MSG_CTL payloads it has relayed and the answers that come back. */
#include "ipc/proto.h"

#include <errno.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define STR(max) (4 + (max))

const struct ipc_type proto_status_from_supervisor[] = {
	{ MSG_CONF, 0, 1, IPC_MAX_PAYLOAD, "conf" },
	{ MSG_ST_FACTS, 0, 8, ST_FACTS_MAX, "facts" },
	{ MSG_RELAY_REPLY, 0, 4, RELAY_REPLY_MAX, "relay-reply" },
	{ MSG_ST_RELOADED, 0, 8, 4 + STR(ST_WHY_MAX), "reloaded" },
};
const size_t proto_status_from_supervisor_n = N(proto_status_from_supervisor);

void proto_ctl_encode(struct ipc_wr *w, const char *cmd, const char *arg)
{
	ipc_wr_cstr(w, cmd);
	ipc_wr_cstr(w, arg);
}

int proto_ctl_reply_decode(const void *buf, size_t len, uint32_t *status, const char **text,
			   size_t *text_len)
{
	struct ipc_rd r;

	ipc_rd_init(&r, buf, len);
	*status = ipc_rd_u32(&r);
	*text = ipc_rd_str(&r, CTL_TEXT_MAX, text_len);
	if (!*text || !ipc_rd_done(&r) || *status > 4095)
		return -EPROTO;
	return 0;
}
