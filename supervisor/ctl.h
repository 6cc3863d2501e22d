/* ctl.h — the supervisor's side of aysfs-ctl (supervisor/ctl.c): the control socket, its clients,
 * and the questions forwarded to the workers (MSG_CTL / MSG_CTL_REPLY). main.c calls the hooks
 * below; everything else stays in ctl.c. */
#ifndef AYSFS_SUP_CTL_H
#define AYSFS_SUP_CTL_H

#include "supervisor/supervisor.h"

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCTL_MAX_CLIENTS 8
/* Why a reload failed: the configuration reader's message (up to 1,024 bytes) or the indexer's
 * (as long), and the words that follow it. */
#define SCTL_WHY_MAX 1152

struct sctl_ops {
	/* Start a reload now. Returns 0 when the indexer builds the new tree (its outcome arrives
	 * through sctl_tree_done / sctl_tree_fail), or -1 with the reason in why. */
	int (*reload)(char *why, size_t size);
	const struct worker *workers;   /* ROLE_COUNT of them */
	const char *config;             /* the configuration file, or NULL */
};

/* Bind the mount's control socket (ipc/ctl.h). A socket left by a dead supervisor is replaced;
 * one that answers means another supervisor serves mnt: -EADDRINUSE. Returns 0 or -errno. */
int sctl_open(const char *mnt, const struct sctl_ops *ops);
/* Close every client and remove the socket. */
void sctl_close(void);

/* The loop's share: fill pollfds (returns how many, at most 1 + SCTL_MAX_CLIENTS), lower
 * *timeout_ms to the next deadline; then handle what poll reported in the same entries. */
int sctl_pollfds(struct pollfd *p, int *timeout_ms);
void sctl_process(const struct pollfd *p, int n);

/* From main.c's worker handling. */
/* Returns 0, or -EPROTO for a malformed answer (a hostile worker). */
int sctl_on_reply(enum worker_role role, uint64_t id, const void *payload, size_t len);
void sctl_worker_died(enum worker_role role, const char *why);
void sctl_worker_restarted(enum worker_role role);
void sctl_tree_done(uint64_t generation, uint64_t entries, uint32_t services, uint32_t rejected);
void sctl_tree_fail(const char *why);

#endif
