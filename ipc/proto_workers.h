/* proto_workers.h — what only the workers (the indexer, the fetcher, the status worker,
 * aysfs-config) and the tools use of the protocol (proto_workers.c, proto_status.c): their accept
 * tables, fds and bounds, the fetch payloads, the decoding of the worker configuration and of
 * aysfs-ctl's commands. Neither the supervisor nor the fuser includes it. */
#ifndef AYSFS_PROTO_WORKERS_H
#define AYSFS_PROTO_WORKERS_H

#include "ipc/proto.h"

#define FD_PEER2        5       /* indexer: the fetcher */
#define FD_SSH_KEY      5       /* fetcher: [main] ssh_key, opened by the supervisor */

/* Bounds of MSG_S3's fields (ipc/proto.h). */
#define S3_URL_MAX      1024
#define S3_ENDPOINT_MAX 256
#define S3_REGION_MAX   64

/* MSG_ST_FACTS's roles (ipc/proto.h): as many as the supervisor's ROLE_*, in their order. */
#define ST_ROLES        5       /* fuser, indexer, fetcher, status, debug */
#define ST_ROLE_STATUS  3

/* The status worker's side (ipc/proto_status.c): encode a MSG_CTL payload; decode a MSG_CTL_REPLY
 * one (0 or -EPROTO; *text points into buf, not NUL-terminated). */
void proto_ctl_encode(struct ipc_wr *w, const char *cmd, const char *arg);
int proto_ctl_reply_decode(const void *buf, size_t len, uint32_t *status, const char **text,
			   size_t *text_len);
extern const struct ipc_type proto_status_from_supervisor[];
extern const size_t proto_status_from_supervisor_n;

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

/* Layer flags on the wire. */
#define WL_CACHE        1u      /* [[cache]] (may be written back); else a [[store]] */
#define WL_PURGE        2u
#define WL_PUSH         4u

/* Service flags. */
#define WS_PREFETCH     1u

#define WCONF_MAX_LAYERS    64
#define WCONF_MAX_SERVICES  1024

struct wire_layer {
	char *url;
	uint32_t flags;
	char **proxy;           /* this layer's own proxies (else the [main] ones), tried in order */
	uint32_t nproxy;
};

struct wire_service {
	char *id;
	char *flist;            /* "" unless given */
	uint32_t flags;
};

struct worker_conf {
	uint32_t log_level;
	char *mountpoint;
	char *prefix;           /* flist paths under it appear under the mountpoint */
	char *namespace;
	char *flist_dir;
	char *cache_dir;
	char *state_dir;        /* the node's state, the indexer's alone (SPEC §6) */
	uint32_t entry_ttl, attr_ttl, negative_ttl;
	uint64_t cache_size;
	uint32_t cache_expiration;
	uint64_t flist_max_size;        /* bytes of one flist, and its entries: beyond, it is refused */
	uint32_t flist_max_entries;
	struct wire_layer *layers;
	uint32_t nlayers;
	struct wire_service *services;
	uint32_t nservices;
	/* For the fetcher, read at its start-up: */
	char *cafile;           /* CA bundle: -cafile, else config cafile, else "" (the system's) */
	char *resolv;           /* resolver configuration (-resolv, default /etc/resolv.conf) */
	char **proxy;           /* [main] proxy: HTTP proxies tried in order */
	uint32_t nproxy;
	uint32_t flags;         /* WC_* */
	/* -auto (SPEC section 5): the root of the well-known paths ("" without -auto), the ports
	 * probed, and the seconds between re-discoveries (0: at start-up and reload only). */
	char *auto_root;
	uint32_t cache_port, master_port, rediscover_s;
	char *ssh_known_hosts;  /* known host keys of sftp:// layers ("": the default) */
	/* SPEC §8: the folder of trusted *.pub keys ("": flists need no signature), the shortest
	 * hash a signed flist may list (16 any, 32 SHA-256 only), and the seconds between asking
	 * again for remote flists (0: never). */
	char *trusted_keys;
	uint32_t min_hash_len, refresh_s;
	/* The configuration file, absolute ("": the defaults): the indexer watches it (with
	 * flist_dir and the flists named by path) and tells root when it changes. */
	char *config_file;
};

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

/* Serialise into w (sets w->bad when it does not fit): aysfs-config's side. */
void proto_conf_encode(struct ipc_wr *w, const struct worker_conf *c);
/* A MSG_FUSER_CONF payload into buf. Returns its length, FUSER_CONF_LEN. */
size_t proto_fuser_conf_encode(uint8_t buf[FUSER_CONF_LEN], uint32_t log_level, uint32_t entry_ttl,
			       uint32_t attr_ttl, uint32_t negative_ttl, uint32_t flags);

/* Free n strings and the array that holds them (NULL is fine). */
void strv_free(char **v, size_t n);

/* struct config_req as aysfs-config receives it (ipc/proto.h): strings copied, bounded. */
#define CONFIG_REQ_MIN (4 + 4 + 5 * 4 + 4 + 4)
#define CONFIG_REQ_MAX (CONFIG_REQ_MIN + 5 * 4096)
struct config_req_in {
	uint32_t log_level, flags;
	char mountpoint[4096], cafile[4096], resolv[4096], auto_root[4096], config_file[4096];
	uint32_t cache_port, master_port;
};

/* Read the rest of r as a struct config_req: 0, or -EPROTO (no mountpoint, a port over 65535,
 * unknown flags, bytes left over). */
int proto_config_req_decode(struct ipc_rd *r, struct config_req_in *q);

/* The folder a layer's URL names (an absolute path, or file:///path), or NULL for a network
 * layer: the one rule for "is this layer local" (the indexer's, aysfs-config's). */
const char *layer_local_path(const char *url);

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
