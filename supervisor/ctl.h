/* ctl.h — root's share of aysfs-ctl and -pprof (supervisor/ctl.c): binding the control socket and
 * the status server's TCP socket, handing them to the status worker (aysfs-status), relaying
 * its questions to the workers unread, and telling it root's own numbers. main.c calls these. */
#ifndef AYSFS_SUP_CTL_H
#define AYSFS_SUP_CTL_H

#include "supervisor/supervisor.h"

#include "ipc/ipc.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct sctl_ops {
	/* Start a reload now. Returns 0 when the indexer builds the new tree (its outcome arrives
	 * through sctl_tree_done / sctl_tree_fail), or -1 with the reason in why. */
	int (*reload)(char *why, size_t size);
	struct worker *workers;         /* ROLE_COUNT of them */
	const char *config;             /* the configuration file, or NULL */
};

/* Bind the mount's control socket (ipc/ctl.h). A socket left by a dead supervisor is replaced;
 * one that answers means another supervisor serves mnt: -EADDRINUSE. Returns 0 or -errno. */
int sctl_open(const char *mnt, const struct sctl_ops *ops);
/* -pprof: parse HOST:PORT (an IPv4 address, [IPv6], or localhost), which must be a loopback
 * address: 0, -EINVAL (not HOST:PORT) or -EADDRNOTAVAIL (not loopback). */
int sctl_pprof_parse(const char *addr, struct sockaddr_storage *ss, socklen_t *len);
/* Parse and bind it, listening. Returns 0 or -errno (those of sctl_pprof_parse first). */
int sctl_open_http(const char *addr);
/* Close both and remove the control socket. */
void sctl_close(void);

/* The status worker's fds 4 and 5 (start_workers): the listening sockets (-1: none). */
void sctl_fds(int fds[2]);
/* The status worker has (re)started: send it root's numbers. */
void sctl_started(void);

/* MSG_RELAY and MSG_ST_RELOAD from the status worker, MSG_CTL_REPLY from the worker a MSG_CTL
 * was relayed to (their handler in root's table, ipc/proto_supervisor.h). Returns 0, or -1
 * for a hostile message (a reply nobody asked for). */
int sctl_on_msg(struct worker *from, const struct ipc_msg *m);

/* From main.c's worker handling. */
/* A death, once root has decided what follows (a restart time, a back-off): `ws` as waitpid gave
 * it, `planned` for a reload, `followed` the fetcher that stopped with the indexer, `drained` one
 * root killed for not reading its channel. */
void sctl_worker_died(enum worker_role role, const char *why, int ws, bool planned, bool followed,
		      bool drained);
void sctl_worker_restarted(enum worker_role role);
/* MSG_TREE_DONE's payload (TREE_DONE_LEN bytes), kept for the status worker unread. */
void sctl_tree_done(const uint8_t *numbers);
void sctl_tree_fail(const char *why);

#endif
