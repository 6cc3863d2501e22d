/* proto_supervisor.h — every message a worker may send root, in one list, as OpenSSH's monitor
 * table has it: for each type its fd count, payload bounds and name (the accept table,
 * ipc/proto_supervisor.c, which the fuzz harness links too), who may send it (FROM_* bits, the
 * ROLE_* order of supervisor/supervisor.h), whether once only from each start of its sender, and
 * its handler (supervisor/main.c makes root's rules of those, struct sup_rule). A row is
 * X(type, fds, min, max, name, from, once, handler). */
#ifndef AYSFS_PROTO_SUPERVISOR_H
#define AYSFS_PROTO_SUPERVISOR_H

#include "ipc/proto.h"

enum { FROM_FUSER = 1, FROM_INDEXER = 2, FROM_FETCHER = 4, FROM_STATUS = 8, FROM_DEBUG = 16,
       FROM_ANY = 31 };

/* Every message a worker may send root, and nothing else: a type not here, a sender not named,
 * a second one of a once-only type, bounds or fds other than these kill the sender. The handlers
 * check the payload's fields; a MSG_CTL_REPLY must answer a MSG_CTL root relayed (supervisor/ctl.c).
 *
 *   type                fds min            max                  name              from                   once   handler */
#define PROTO_SUPERVISOR_FROM_WORKER(X) \
	X(MSG_READY,          0, 0,             0,                   "ready",          FROM_FUSER | FROM_DEBUG, true,  sup_on_ready) \
	X(MSG_TREE_DONE,      0, TREE_DONE_LEN, TREE_DONE_LEN,       "tree-done",      FROM_INDEXER,          false, sup_on_tree_done) \
	X(MSG_TREE_FAIL,      0, 4,             4 + 1024,            "tree-fail",      FROM_INDEXER,          false, sup_on_tree_fail) \
	X(MSG_CONFIG_CHANGED, 0, 0,             0,                   "config-changed", FROM_INDEXER,          false, sup_on_config_changed) \
	X(MSG_CTL_REPLY,      0, 8,             RELAY_REPLY_MAX - 4, "ctl-reply",      FROM_ANY & ~FROM_STATUS, false, sctl_on_msg) \
	X(MSG_FUSE_INIT,      0, FUSE_INIT_MIN, FUSE_INIT_MAX,       "fuse-init",      FROM_FUSER,            true,  sup_on_fuse_init) \
	X(MSG_SYSCALL,        0, 8,             8,                   "syscall",        FROM_ANY,              true,  sup_on_syscall) \
	X(MSG_RELAY,          0, 4,             RELAY_MAX,           "relay",          FROM_STATUS,           false, sctl_on_msg) \
	X(MSG_ST_RELOAD,      0, 0,             0,                   "reload",         FROM_STATUS,           false, sctl_on_msg)

#endif
