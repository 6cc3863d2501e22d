/* proto_supervisor.c — the supervisor's side of the protocol: what it accepts from the workers and
 * from aysfs-config and the one payload it writes (its request to aysfs-config). The workers'
 * configurations are written by aysfs-config and relayed by root undecoded (ipc/proto_workers.c,
 * config/relay.c); aysfs-ctl's commands and answers pass through it unread (MSG_RELAY). */
#include "ipc/proto.h"

#include <errno.h>
#include <stdlib.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define STR(max) (4 + (max))

/* Every message a worker may send root, and nothing else: a type not here, a sender not named,
 * a second one of a once-only type, bounds or fds other than these kill the sender. The handlers
 * check the payload's fields; a MSG_CTL_REPLY must answer a MSG_CTL root relayed (supervisor/ctl.c).
 *
 *   type                fds min            max                  name              from                   once   handler */
#define FROM_WORKER(X) \
	X(MSG_READY,          0, 0,             0,                   "ready",          FROM_FUSER | FROM_DEBUG, true,  sup_on_ready) \
	X(MSG_TREE_DONE,      0, 24,            24,                  "tree-done",      FROM_INDEXER,          false, sup_on_tree_done) \
	X(MSG_TREE_FAIL,      0, 4,             STR(1024),           "tree-fail",      FROM_INDEXER,          false, sup_on_tree_fail) \
	X(MSG_CONFIG_CHANGED, 0, 0,             0,                   "config-changed", FROM_INDEXER,          false, sup_on_config_changed) \
	X(MSG_CTL_REPLY,      0, 8,             RELAY_REPLY_MAX - 4, "ctl-reply",      FROM_ANY & ~FROM_STATUS, false, sctl_on_msg) \
	X(MSG_FUSE_INIT,      0, FUSE_INIT_MIN, FUSE_INIT_MAX,       "fuse-init",      FROM_FUSER,            true,  sup_on_fuse_init) \
	X(MSG_SYSCALL,        0, 8,             8,                   "syscall",        FROM_ANY,              true,  sup_on_syscall) \
	X(MSG_RELAY,          0, 4,             RELAY_MAX,           "relay",          FROM_STATUS,           false, sctl_on_msg) \
	X(MSG_ST_RELOAD,      0, 0,             0,                   "reload",         FROM_STATUS,           false, sctl_on_msg)
#define WIRE(type, fds, min, max, name, from, once, handler) { type, fds, min, max, name },
#define RULE(type, fds, min, max, name, from, once, handler) { from, once, handler },

const struct ipc_type proto_supervisor_from_worker[] = { FROM_WORKER(WIRE) };
const struct ipc_rule proto_supervisor_rules[] = { FROM_WORKER(RULE) };
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
