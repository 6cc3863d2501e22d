/* proto_supervisor.c — the supervisor's side of the protocol: what it accepts from the workers and
 * from aysfs-config, the payloads it writes (its request to aysfs-config, aysfs-ctl's commands) and
 * the one it reads back (a command's answer). The workers' configurations are written by
 * aysfs-config and relayed by root undecoded (ipc/proto_workers.c, config/relay.c). */
#include "ipc/proto.h"

#include <errno.h>
#include <stdlib.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define STR(max) (4 + (max))

const struct ipc_type proto_supervisor_from_worker[] = {
	{ MSG_READY, 0, 0, 0, "ready" },
	{ MSG_TREE_DONE, 0, 24, 24, "tree-done" },
	{ MSG_TREE_FAIL, 0, 4, STR(1024), "tree-fail" },
	{ MSG_CONFIG_CHANGED, 0, 0, 0, "config-changed" },
	{ MSG_CTL_REPLY, 0, 8, 4 + STR(CTL_TEXT_MAX), "ctl-reply" },
	{ MSG_FUSE_INIT, 0, FUSE_INIT_MIN, FUSE_INIT_MAX, "fuse-init" },
	{ MSG_SYSCALL, 0, 8, 8, "syscall" },
};
const size_t proto_supervisor_from_worker_n = N(proto_supervisor_from_worker);

const struct ipc_type proto_supervisor_from_config[] = {
	{ MSG_CONFIG_WORKERS, 0, 16, IPC_MAX_PAYLOAD, "config-workers" },
	{ MSG_CONFIG_FUSER, 0, FUSER_CONF_LEN, FUSER_CONF_LEN, "config-fuser" },
	{ MSG_CONFIG_DONE, 0, 1, IPC_MAX_PAYLOAD, "config-done" },
	{ MSG_CONFIG_FAIL, 0, 4, STR(1024), "config-fail" },
};
const size_t proto_supervisor_from_config_n = N(proto_supervisor_from_config);

void proto_config_req_encode(struct ipc_wr *w, const struct config_req *q)
{
	ipc_wr_u32(w, q->log_level);
	ipc_wr_u32(w, q->flags);
	ipc_wr_cstr(w, q->mountpoint);
	ipc_wr_cstr(w, q->cafile);
	ipc_wr_cstr(w, q->resolv);
	ipc_wr_cstr(w, q->auto_root);
	ipc_wr_cstr(w, q->config_file);
	ipc_wr_u32(w, q->cache_port);
	ipc_wr_u32(w, q->master_port);
}

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
