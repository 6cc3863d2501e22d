/* ipc_workers.h — the parts of the framing (ipc/ipc.c) that only the unprivileged workers, the
 * tools and the tests use. Root and the fuser do not link ipc_workers.c, so these lines are not
 * in the privileged core (`make tcb`; tests/integration/tcb.t checks that every function of the
 * core's files is linked into root or the fuser). */
#ifndef AYSFS_IPC_WORKERS_H
#define AYSFS_IPC_WORKERS_H

#include "ipc/ipc.h"

#include <stddef.h>
#include <stdint.h>

/* As ipc_recv, waiting at most ms milliseconds for the message (-ETIMEDOUT). */
int ipc_recv_wait(int sock, const struct ipc_type *accept, size_t n, struct ipc_msg *m, int ms);

/* Check a received datagram held in memory (the part of ipc_recv that needs no socket; the
 * fuzz harnesses drive it). `nfds` is how many fds arrived. Returns 0 or -EPROTO. */
int ipc_check(const void *buf, size_t len, unsigned nfds, const struct ipc_type *accept,
	      size_t n, const struct ipc_type **desc);

uint16_t ipc_rd_u16(struct ipc_rd *r);
int64_t ipc_rd_i64(struct ipc_rd *r);
void ipc_wr_i64(struct ipc_wr *w, int64_t v);
void ipc_wr_u16(struct ipc_wr *w, uint16_t v);
/* As ipc_rd_cstr into a fresh malloc'd string of at most `max` bytes (NULL on failure). */
char *ipc_rd_strdup(struct ipc_rd *r, size_t max);

/* ipc.c's own, shared with this file only. */
int ipc_check_hdr(const struct ipc_hdr *h, size_t paylen, unsigned nfds,
		  const struct ipc_type *accept, size_t n, const struct ipc_type **desc);
const char *ipc_rd_text(struct ipc_rd *r, size_t max, size_t *len);

#endif
