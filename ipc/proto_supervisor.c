/* proto_supervisor.c — the supervisor's side of the protocol: what it accepts from the workers and
 * from aysfs-config and the one payload it writes (its request to aysfs-config). The workers'
 * configurations are written by aysfs-config and relayed by root undecoded (ipc/proto_workers.c,
 * config/relay.c); aysfs-ctl's commands and answers pass through it unread (MSG_RELAY). */
#include "ipc/proto.h"
#include "ipc/proto_supervisor.h"


#define N(a) (sizeof(a) / sizeof((a)[0]))
#define STR(max) (4 + (max))

/* The list is ipc/proto_supervisor.h's; the rest of each row (sender, once, handler) is root's
 * (supervisor/main.c). */
#define WIRE(type, fds, min, max, name, from, once, handler) { type, fds, min, max, name },
const struct ipc_type proto_supervisor_from_worker[] = { PROTO_SUPERVISOR_FROM_WORKER(WIRE) };
const size_t proto_supervisor_from_worker_n = N(proto_supervisor_from_worker);

const struct ipc_type proto_supervisor_from_config[] = {
	{ MSG_CONFIG_WORKERS, 0, 16, IPC_MAX_PAYLOAD, "config-workers" },
	{ MSG_CONFIG_FUSER, 0, FUSER_CONF_LEN, FUSER_CONF_LEN, "config-fuser" },
	{ MSG_CONFIG_DEBUG, 0, 0, IPC_MAX_PAYLOAD, "config-debug" },
	{ MSG_CONFIG_S3, 0, 4, IPC_MAX_PAYLOAD, "config-s3" },
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
