/* proto.h — the messages of each channel, and the worker configuration the supervisor sends.
 *
 * Channels (all SOCK_SEQPACKET socketpairs made by the supervisor) and their fixed fds in each worker:
 *
 *   fuser:    3 supervisor   4 indexer   5 /dev/fuse
 *   indexer:  3 supervisor   4 fuser     5 fetcher
 *   fetcher:  3 supervisor   4 indexer   5 [main] ssh_key, read-only (only when configured)
 *
 * Each receiver accepts only its channel's types: the tables of proto_supervisor.c, proto_fuser.c
 * and proto_workers.c (the indexer's, the fetcher's and aysfs-config's), each process's own side.
 */
#ifndef AYSFS_PROTO_H
#define AYSFS_PROTO_H

#include "ipc/ipc.h"

#include <stdbool.h>
#include <stdint.h>

#define FD_SUPERVISOR   3
#define FD_PEER1        4       /* fuser: indexer; indexer: fuser; fetcher: indexer */
#define FD_PEER2        5       /* fuser: /dev/fuse; indexer: fetcher */
#define FD_DEVFUSE      5
#define FD_SSH_KEY      5       /* fetcher */

enum msg_type {
	/* supervisor → a worker */
	MSG_CONF = 1,           /* struct worker_conf (the indexer, the fetcher) */
	/* supervisor → the fuser, in place of MSG_CONF (the fuser decodes nothing else of the
	 * configuration): u32 log level (0 … 5), u32 entry_ttl, u32 attr_ttl, u32 negative_ttl
	 * (seconds); exactly FUSER_CONF_LEN bytes */
	MSG_FUSER_CONF = 7,
	/* supervisor → a worker: a new channel to a restarted peer; fd: the socket; u32 PEER_* */
	MSG_PEER = 5,
	/* every worker → supervisor */
	MSG_READY = 2,          /* empty: initialised (the fuser: serving the tree) */
	/* indexer → supervisor */
	MSG_TREE_DONE = 3,      /* u64 generation, u64 entries, u32 services mounted, u32 rejected */
	MSG_TREE_FAIL = 4,      /* str reason */
	/* a worker → supervisor, from its SIGSYS handler just before it dies: u32 audit arch, u32
	 * number of the system call its seccomp filter refused (policy/seccomp.c) */
	MSG_SYSCALL = 6,
	/* indexer → fuser (and fuser → a restarted indexer, as the base of its next reload) */
	MSG_INDEX = 10,         /* fd: sealed memfd; u64 generation, u64 size */
	MSG_BLOB = 11,          /* fd: read-only blob; id = MSG_OPEN's; str layer url */
	MSG_BLOB_ERR = 12,      /* id = MSG_OPEN's; i32 errno (positive) */
	/* fuser → indexer */
	MSG_OPEN = 13,          /* id chosen by the fuser; u8 hash len, hash, u64 size, str path */
	/* fuser → indexer: as MSG_OPEN, for a blob no one waits for yet (read-ahead: the files that
	 * come after one being read, fuser/ahead.c): served on threads of its own, at a lower
	 * priority, and by the fetcher after every other request and only from layers that have
	 * answered (FETCH_BLOB_AHEAD); neither pinned nor a use for the cache; a failure is not
	 * logged (an open of that file will ask again) */
	MSG_PREFETCH = 14,
	/* fuser → indexer: an open now waits for the MSG_PREFETCH of this id: if no thread has taken
	 * it yet, serve it as an open would be (the open pool, a FETCH_BLOB); still answered as the
	 * prefetch (not pinned: the fuser sends MSG_BLOB_HELD). Empty. */
	MSG_PROMOTE = 15,
	/* fuser → indexer: no handle uses the blob any more (the fuser may keep its fd on its idle
	 * list; the indexer may evict the blob from now on); u8 hash len (16 or 32), hash */
	MSG_BLOB_CLOSED = 50,
	/* fuser → indexer: a blob whose fd it kept with no handle is used again (pinned again); as
	 * MSG_BLOB_CLOSED */
	MSG_BLOB_HELD = 51,
	/* indexer → fuser: the blob left the local cache (evicted, expired, removed by a verify):
	 * close its fd once no handle uses it; as MSG_BLOB_CLOSED */
	MSG_BLOB_GONE = 52,
	/* indexer → fuser: the cache is past its limit and what is left is pinned: send now the
	 * MSG_BLOB_CLOSED of every idle fd (the fuser sends it IDLE_UNPIN_MS late otherwise). Empty */
	MSG_BLOB_UNPIN = 53,
	/* indexer → fetcher: download the first URL that answers into the pipe (see below) */
	MSG_FETCH = 20,
	/* fetcher → indexer */
	MSG_FETCH_DONE = 21,
	/* indexer → fetcher: upload a verified blob to a push cache (no reply; failures are logged)
	 * fd: the blob, read-only; u64 size, str url (URL/NAMESPACE/H0/H1/HASH, sent with HTTP PUT) */
	MSG_PUSH = 22,
	/* fetcher → indexer, empty: it is alive (every second while it holds requests) */
	MSG_FETCH_ALIVE = 23,
	/* supervisor → aysfs-config (its fd 3): read this configuration file. fd: the file, opened by
	 * root; str the file's name, for messages. Or, without a file, give the defaults (empty). */
	MSG_CONFIG_READ = 60,
	MSG_CONFIG_DEFAULTS = 63,
	/* aysfs-config → supervisor: the configuration (supervisor/confwire.c), or why not */
	MSG_CONFIG_DONE = 61,
	MSG_CONFIG_FAIL = 62,   /* str "FILE:LINE:COLUMN: reason" */
	/* -auto (fetcher/probe_wire.h): indexer → fetcher, which hosts resolve and accept a TCP
	 * connection */
	MSG_PROBE = 40,
	MSG_PROBE_DONE = 41,    /* fetcher → indexer; id = MSG_PROBE's */
	/* supervisor → a worker: a command of aysfs-ctl (see below); id chosen by the supervisor */
	MSG_CTL = 30,
	/* a worker → supervisor: its answer; id = MSG_CTL's */
	MSG_CTL_REPLY = 31,
	/* fuser → supervisor: the kernel's FUSE_INIT request as read from /dev/fuse (kept, opaque);
	 * supervisor → a restarted fuser taking over the same /dev/fuse: u32 instance, then those
	 * bytes, which the new fuser feeds to its session in place of the INIT the kernel sends only
	 * once per mount */
	MSG_FUSE_INIT = 32,
};

#define FUSER_CONF_LEN  16

#define FUSE_INIT_MIN   (40 + 16)       /* fuse_in_header + the oldest fuse_init_in */
#define FUSE_INIT_MAX   512

/* MSG_CTL — payload: str command (≤ CTL_CMD_MAX: "status", "cache", "evict", "verify"), str
 * argument (≤ CTL_ARG_MAX; "" when the command takes none).
 * MSG_CTL_REPLY — payload: u32 status (0, or a positive errno), str text (≤ CTL_TEXT_MAX; lines for
 * people, shown by aysfs-ctl as they are once the supervisor has replaced control characters). */
#define CTL_CMD_MAX     16
#define CTL_ARG_MAX     4095
#define CTL_TEXT_MAX    (32 * 1024)

/* Encode a MSG_CTL payload; decode a MSG_CTL_REPLY one (0 or -EPROTO; *text points into buf, not
 * NUL-terminated). */
void proto_ctl_encode(struct ipc_wr *w, const char *cmd, const char *arg);
int proto_ctl_reply_decode(const void *buf, size_t len, uint32_t *status, const char **text,
			   size_t *text_len);

#define PEER_FETCHER    1
#define PEER_INDEXER    2
#define PEER_FUSER      3       /* to the indexer: a restarted fuser (send it the tree served) */

/* Layer flags on the wire. */
#define WL_CACHE        1u      /* [[cache]] (may be written back); else a [[store]] */
#define WL_PURGE        2u
#define WL_PUSH         4u

/* Service flags. */
#define WS_PREFETCH     1u

#define WCONF_MAX_LAYERS    64
#define WCONF_MAX_SERVICES  1024
#define WCONF_MAX_STR       4096

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
};

#define WC_VERIFY_CACHE 1u      /* -verify-cache: re-hash the local cache before serving */
#define WC_CHECK        2u      /* -check: the indexer checks folders and layers, then exits */

/* Serialise into w (sets w->bad when it does not fit). */
void proto_conf_encode(struct ipc_wr *w, const struct worker_conf *c);
/* A MSG_FUSER_CONF payload into buf. Returns its length, FUSER_CONF_LEN. */
size_t proto_fuser_conf_encode(uint8_t buf[FUSER_CONF_LEN], uint32_t log_level, uint32_t entry_ttl,
			       uint32_t attr_ttl, uint32_t negative_ttl);

/* Free n strings and the array that holds them (NULL is fine). */
void strv_free(char **v, size_t n);

/* A MSG_BLOB_CLOSED, _HELD or _GONE payload: the hash into hash[32]. Returns its length (16 or
 * 32) or -EPROTO. */
int proto_blob_closed_decode(const void *buf, size_t len, uint8_t *hash);

/* The accept tables of the supervisor's and the fuser's channels (the workers': proto_workers.h). */
extern const struct ipc_type proto_fuser_from_supervisor[];
extern const size_t proto_fuser_from_supervisor_n;
extern const struct ipc_type proto_fuser_from_indexer[];
extern const size_t proto_fuser_from_indexer_n;
extern const struct ipc_type proto_supervisor_from_config[];
extern const size_t proto_supervisor_from_config_n;
extern const struct ipc_type proto_supervisor_from_worker[];
extern const size_t proto_supervisor_from_worker_n;

#endif
