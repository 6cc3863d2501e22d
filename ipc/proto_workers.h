/* proto_workers.h — what only the indexer, the fetcher and aysfs-config use of the protocol
 * (proto_workers.c): their accept tables, the fetch payloads, the decoding of the worker
 * configuration and of aysfs-ctl's commands. Neither the supervisor nor the fuser includes it. */
#ifndef AYSFS_PROTO_WORKERS_H
#define AYSFS_PROTO_WORKERS_H

#include "ipc/proto.h"

/* MSG_FETCH — fd: the write end of a non-blocking pipe made by the indexer, which reads the body
 * from the other end into a file of its own (the fetcher never sees a file of the cache, and never
 * opens a path); the fetcher closes it when the request ends. Payload:
 *   u8  kind          FETCH_BLOB, FETCH_FLIST, or FETCH_BLOB_AHEAD (a blob no one has opened yet:
 *                     read-ahead, below)
 *   u64 max_size      a body longer than this fails ("too long"): a blob's listed size, a flist's cap
 *   u32 n             1 … FETCH_MAX_URLS
 *   n × str url       tried in order; a 404 (or 410) is "not here", go on; a layer that is down (in
 *                     backoff) is skipped; http://, https://, sftp:// only
 *   FETCH_FLIST only: str etag (≤ FETCH_ETAG_MAX), str last_modified (≤ FETCH_DATE_MAX): the
 *                     validators of the copy the indexer holds, sent as If-None-Match and
 *                     If-Modified-Since when not empty (SPEC §8); printable ASCII only
 * MSG_FETCH_DONE — id: the MSG_FETCH's. Payload:
 *   u32 status        0, or a positive errno: ENOENT (no URL had it), ETIMEDOUT, EIO, ENOSYS …
 *   u32 url_index     which URL the body came from (n when none); with an error, the URL whose
 *                     body broke off after some of it went into the pipe (a body in the pipe
 *                     cannot be taken back, so no other URL follows it in the same request)
 *   u64 bytes         bytes written into the pipe
 *   str reason        for the log: each URL tried with what happened, "; "-separated (≤ 1024)
 *   u8  not_modified  1: status 0 and the URL answered 304 to the validators (no body); else 0
 *   str etag, str last_modified   the answer's ETag and Last-Modified ("" when it had none,
 *                     or they are longer than the limits or not printable ASCII), for flists
 * The bytes are unverified: the indexer checks size and hash before anything is served; a body
 * that fails, or broke off, is reported by the indexer, which asks again with a new pipe and the
 * URLs of the layers after url_index's.
 *
 * FETCH_BLOB_AHEAD is read-ahead, which must never cost an open anything: it waits behind every
 * other request, holds at most FETCH_MAX_AHEAD of the fetcher's transfers, and goes only to
 * layers (and proxies) that have answered and not failed since. A layer not known to answer —
 * never tried yet, or due for its retry after a back-off — is left to real opens: the request
 * stops there with status EAGAIN ("not tried"), so a dead layer costs no more attempts than the
 * opens make. A layer that is down is skipped, as for any request. */
#define FETCH_BLOB      1
#define FETCH_FLIST     2
#define FETCH_BLOB_AHEAD 3
#define FETCH_MAX_URLS  64
#define FETCH_ETAG_MAX  256
#define FETCH_DATE_MAX  64

#define WCONF_MAX_PROXIES 16


struct ctl_msg {
	char cmd[CTL_CMD_MAX + 1];
	char arg[CTL_ARG_MAX + 1];
};

/* Decode a MSG_CTL payload (0 or -EPROTO; strings NUL-free and bounded); encode a MSG_CTL_REPLY. */
int proto_ctl_decode(const void *buf, size_t len, struct ctl_msg *c);
void proto_ctl_reply_encode(struct ipc_wr *w, uint32_t status, const char *text, size_t len);

/* Parse a MSG_CONF payload; every string bounded. Returns 0, -EPROTO or -ENOMEM. On failure *c
 * is freed. */
int proto_conf_decode(const void *buf, size_t len, struct worker_conf *c);
void proto_conf_free(struct worker_conf *c);

/* A worker's supervisor channel once it runs: receive one message into *m. Returns 1 with *peer
 * set to the fd of a MSG_PEER of kind `want` (the caller owns it), 2 for a MSG_CONF (a reload; the
 * payload is in *m), 3 for a MSG_CTL (payload in *m), 0 when the supervisor is gone, -EPROTO for
 * anything else (fds closed). */
int proto_recv_supervisor(int fd, uint32_t want, struct ipc_msg *m, int *peer);

/* The same for a worker that takes more than one kind of peer: 1 for a MSG_PEER of any known kind,
 * with *kind set. */
int proto_recv_supervisor_any(int fd, struct ipc_msg *m, int *peer, uint32_t *kind);

/* A worker's first step: wait up to ms for MSG_CONF on fd and decode it. Returns 0 or -errno
 * (-ETIMEDOUT, -EPROTO for anything but a valid MSG_CONF). */
int proto_recv_conf(int fd, int ms, struct worker_conf *c);

extern const struct ipc_type proto_from_supervisor[];   /* what a worker accepts on fd 3 */
extern const size_t proto_from_supervisor_n;
extern const struct ipc_type proto_fetcher_from_supervisor[];   /* the fetcher's fd 3 */
extern const size_t proto_fetcher_from_supervisor_n;
extern const struct ipc_type proto_indexer_from_fuser[];
extern const size_t proto_indexer_from_fuser_n;
extern const struct ipc_type proto_indexer_from_fetcher[];
extern const size_t proto_indexer_from_fetcher_n;
extern const struct ipc_type proto_fetcher_from_indexer[];
extern const size_t proto_fetcher_from_indexer_n;
extern const struct ipc_type proto_config_from_supervisor[];
extern const size_t proto_config_from_supervisor_n;

#endif
