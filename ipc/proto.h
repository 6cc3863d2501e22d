/* proto.h — the messages of each channel, and the worker configuration the supervisor sends.
 *
 * Channels (all SOCK_SEQPACKET socketpairs made by the supervisor) and their fixed fds in each worker:
 *
 *   fuser:    3 supervisor   4 indexer   5 /dev/fuse
 *   indexer:  3 supervisor   4 fuser     5 fetcher
 *   fetcher:  3 supervisor   4 indexer   5 [main] ssh_key, read-only (only when configured)
 *   status:   3 supervisor   4 the control socket, listening   5 -pprof's TCP socket, listening
 *             (only with -pprof)
 *
 * Each receiver accepts only its channel's types: the tables of proto_supervisor.c, proto_fuser.c
 * and proto_workers.c (the indexer's, the fetcher's and aysfs-config's), each process's own side.
 */
#ifndef AYSFS_PROTO_H
#define AYSFS_PROTO_H

#include "ipc/ipc.h"

#define FD_SUPERVISOR   3
#define FD_PEER1        4       /* fuser: indexer; indexer: fuser; fetcher: indexer */

enum msg_type {
	/* supervisor → a worker */
	MSG_CONF = 1,           /* struct worker_conf (the indexer, the fetcher) */
	/* supervisor → the fuser, in place of MSG_CONF (the fuser decodes nothing else of the
	 * configuration): u32 log level (0 … 5), u32 entry_ttl, u32 attr_ttl, u32 negative_ttl
	 * (seconds), u32 flags (FUSER_DEBUG: [debug] is set, wait for aysfs-debug and serve writes);
	 * exactly FUSER_CONF_LEN bytes */
	MSG_FUSER_CONF = 7,
	/* supervisor → the fetcher only, after each MSG_CONF and at each reload: the s3:// layers
	 * (SPEC §9) with their credentials file's bytes (the indexer never sees them). Payload:
	 * u32 n (≤ S3_MAX_LAYERS), n × { str url (≤ S3_URL_MAX), str endpoint ("": the default),
	 * str region ("": the default), str credentials file name ("": anonymous) } — written by
	 * aysfs-config (MSG_CONFIG_S3), relayed as it is — then n × str the credentials file's bytes
	 * (≤ S3_KEYFILE_MAX; "" for none), which root reads and appends */
	MSG_S3 = 9,
	/* supervisor → a worker: a new channel to a restarted peer; fd: the socket; u32 PEER_* */
	MSG_PEER = 5,
	/* every worker → supervisor */
	MSG_READY = 2,          /* empty: initialised (the fuser: serving the tree) */
	/* indexer → supervisor */
	MSG_TREE_DONE = 3,      /* u64 generation, u64 entries, u32 services mounted, u32 rejected
				 * (TREE_DONE_LEN bytes): root relays them in MSG_ST_FACTS unread */
	MSG_TREE_FAIL = 4,      /* str reason */
	/* indexer → supervisor, empty: the configuration file changed (indexer/watch.c) */
	MSG_CONFIG_CHANGED = 8,
	/* a worker → supervisor, from its SIGSYS handler just before it dies: u32 audit arch, u32
	 * number of the system call its seccomp filter refused (policy/seccomp.c) */
	MSG_SYSCALL = 6,
	/* indexer → fuser (and fuser → a restarted indexer, as the base of its next reload) */
	MSG_INDEX = 10,         /* fd: sealed memfd; u64 generation, u64 size */
	MSG_BLOB = 11,          /* fd: read-only blob; id = MSG_OPEN's; str layer url */
	MSG_BLOB_ERR = 12,      /* id = MSG_OPEN's; i32 errno (positive) */
	/* fuser → indexer: an open of a file whose blob's fd the fuser does not hold (read-ahead,
	 * indexer/ahead.c, decides from these what to fetch next); id chosen by the fuser; u8 hash
	 * len, hash, u64 size, str path */
	MSG_OPEN = 13,
	/* fuser → indexer: no handle uses the blob any more (the fuser may keep its fd on its idle
	 * list; the indexer may evict the blob from now on); u8 hash len (16 or 32), hash */
	MSG_BLOB_CLOSED = 50,
	/* fuser → indexer: a blob whose fd it kept with no handle is used again (pinned again); as
	 * MSG_BLOB_CLOSED */
	MSG_BLOB_HELD = 51,
	/* indexer → fuser: the blob left the local cache (evicted, expired, removed by a verify):
	 * close its fd once no handle uses it; as MSG_BLOB_CLOSED */
	MSG_BLOB_GONE = 52,
	/* indexer → fuser: files a walk reaches next whose blobs the local cache holds (read-ahead's
	 * guesses, indexer/ahead.c): ask for their fds now, ahead of the program's opens (warm, an
	 * open of one is then answered without a round trip). u32 n (1 … AHEAD_HINT_MAX), n × u64
	 * inode number. Only a hint: the fuser asks by the hash its own index gives. */
	MSG_AHEAD = 54,
	/* fuser → indexer: as MSG_OPEN, for a file of a MSG_AHEAD: answered (MSG_BLOB, pinned) only
	 * when the local cache has the blob, else MSG_BLOB_ERR; not an open of the program's (no
	 * read-ahead, no published order, no cache hit counted). */
	MSG_PREFETCH = 55,
	/* fuser → indexer, no answer: the program opened a file whose fd came by MSG_PREFETCH (as
	 * MSG_OPEN): read-ahead and the published order take it as the open it is. */
	MSG_OPENED = 56,
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
	 * root; str the file's name, for messages, then struct config_req. Or, without a file, give
	 * the defaults: struct config_req alone. */
	MSG_CONFIG_READ = 60,
	MSG_CONFIG_DEFAULTS = 63,
	/* aysfs-config → supervisor, in this order: the indexer's and the fetcher's MSG_CONF payload,
	 * the fuser's MSG_FUSER_CONF payload and aysfs-debug's, relayed by root as they are (root
	 * decodes none), then root's own few values (supervisor/rootconf.c). Or, at any point, why
	 * not. */
	MSG_CONFIG_WORKERS = 64,
	MSG_CONFIG_FUSER = 65,
	MSG_CONFIG_DEBUG = 66,  /* aysfs-debug's MSG_DEBUG_CONF payload; empty without [debug] */
	/* supervisor → aysfs-debug (fd 3), as aysfs-config wrote it: u64 max_size, str id, str redis,
	 * str passwd, u32 n, then n str filters (ipc/proto_debug.h has the rest of debug mode's) */
	MSG_DEBUG_CONF = 88,
	MSG_CONFIG_S3 = 67,     /* the first part of the fetcher's MSG_S3 (below) */
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
	/* The status worker (aysfs-status) and the supervisor, which relays without reading: see
	 * below. */
	MSG_RELAY = 70,         /* status → supervisor */
	MSG_RELAY_REPLY = 71,   /* supervisor → status */
	MSG_ST_RELOAD = 72,     /* status → supervisor: empty; a reload, as SIGHUP */
	MSG_ST_RELOADED = 73,   /* supervisor → status: u32 status (0: started), str why */
	MSG_ST_FACTS = 74,      /* supervisor → status: what root knows (below) */
};

#define FUSER_CONF_LEN  20
#define AHEAD_HINT_MAX  64
#define FUSER_DEBUG     1u

#define FUSE_INIT_MIN   (40 + 16)       /* fuse_in_header + the oldest fuse_init_in */
#define FUSE_INIT_MAX   512

/* MSG_CTL — payload: str command (≤ CTL_CMD_MAX: "status", "cache", "evict", "verify"), str
 * argument (≤ CTL_ARG_MAX; "" when the command takes none).
 * MSG_CTL_REPLY — payload: u32 status (0, or a positive errno), str text (≤ CTL_TEXT_MAX; lines for
 * people, shown by aysfs-ctl as they are once the supervisor has replaced control characters). */
#define CTL_CMD_MAX     16
#define CTL_ARG_MAX     4095
#define CTL_TEXT_MAX    (32 * 1024)

/* MSG_RELAY — id chosen by the status worker; u32 RELAY_* (who is asked), then a MSG_CTL payload,
 * which the supervisor sends on as MSG_CTL with the same id, unread.
 * MSG_RELAY_REPLY — id the same; u32 RELAY_* (who answered), then that worker's MSG_CTL_REPLY
 * payload as it came (the status worker decodes it; root only checks the frame's bounds).
 * MSG_ST_FACTS — root's own numbers, sent whenever one changes (an event) and to a started status
 * worker: u32 event (ST_EV_*), u32 event role (a ROLE_*), u32 supervisor pid, i64 started (unix
 * s), str config file ("" for none), u32 n roles (ST_ROLES), n × { u32 pid (0: not running),
 * u32 restarts, i64 last exit (unix s; 0: none), str last exit (≤ 160), i64 restart in ms (-1:
 * none due), u32 back-off (its deaths in a crash loop), ST_CAUSES × u32 restarts after a death
 * of that cause (ST_CAUSE_*) }, then the tree: u8 built, MSG_TREE_DONE's payload as the indexer
 * sent it (u64 generation, u64 entries, u32 services, u32 rejected), i64 built at, i64 last
 * failure at, str the failure (≤ ST_WHY_MAX), u8 debug mode, u32 trees built, u32 reloads
 * failed. Root writes it from its own variables; what the indexer wrote (the tree's numbers,
 * its failure's words) is copied unread. */
#define RELAY_INDEXER   1
#define RELAY_FETCHER   2
#define RELAY_FUSER     3       /* asked only "stats" (its counters of opens and reads) */
#define RELAY_DEBUG     4       /* aysfs-debug, asked "debug" (its journal); only with [debug] */
#define RELAY_LAST      RELAY_DEBUG
#define ST_WHY_MAX      1152
#define TREE_DONE_LEN   24      /* MSG_TREE_DONE's payload */
/* Why a worker died before a restart (root knows it when it reaps). */
#define ST_CAUSE_EXITED  0      /* it exited */
#define ST_CAUSE_SIGNAL  1      /* a signal killed it (not root, not its seccomp filter) */
#define ST_CAUSE_SECCOMP 2      /* its seccomp filter refused a system call (SIGSYS) */
#define ST_CAUSE_DRAIN   3      /* root killed it: it did not read its channel */
#define ST_CAUSE_RELOAD  4      /* stopped for a reload (the indexer's folders changed) */
#define ST_CAUSE_PEER    5      /* the fetcher, stopped with the indexer */
#define ST_CAUSES        6
#define ST_EV_NONE      0
#define ST_EV_DIED      1       /* the event role died (its pending questions will not be answered) */
#define ST_EV_TREE_DONE 2
#define ST_EV_TREE_FAIL 3
#define RELAY_MAX       (4 + 4 + CTL_CMD_MAX + 4 + CTL_ARG_MAX)
#define RELAY_REPLY_MAX (4 + 4 + 4 + CTL_TEXT_MAX)
#define ST_FACTS_MAX    (8 * 1024)

#define PEER_FETCHER    1
#define PEER_INDEXER    2
#define PEER_FUSER      3       /* to the indexer: a restarted fuser (send it the tree served);
				 * to aysfs-debug: a fuser (send it the stored contents) */
#define PEER_DEBUG      4       /* to the fuser: aysfs-debug (ipc/proto_debug.h) */

#define WCONF_MAX_STR   4096    /* a string of a configuration or a layer URL */

#define S3_MAX_LAYERS   16
#define S3_KEYFILE_MAX  1024

#define WC_VERIFY_CACHE 1u      /* -verify-cache: re-hash the local cache before serving */
#define WC_CHECK        2u      /* -check: the indexer checks folders and layers, then exits */

/* What root tells aysfs-config besides the file: what the command line says of the workers'
 * configuration (aysfs-config puts it into the payloads it writes for them). Strings: "" = none. */
struct config_req {
	uint32_t log_level;
	uint32_t flags;         /* WC_VERIFY_CACHE, WC_CHECK */
	const char *mountpoint; /* resolved */
	const char *cafile;     /* -cafile */
	const char *resolv;     /* -resolv */
	const char *auto_root;  /* -auto: -root; "" without -auto */
	const char *config_file;        /* the file's absolute path, watched ("": none) */
	uint32_t cache_port, master_port;
};

/* MSG_CONFIG_DONE — root's part of the configuration: str user, str namespace, str cache_dir,
 * str state_dir, str ssh_key ("" when no sftp:// layer needs it), u32 warnings (aysfs-config
 * logged them), u64 a number that differs when the indexer's folders differ, u32 n (the s3://
 * layers of MSG_CONFIG_S3, ≤ S3_MAX_LAYERS), n × str the absolute path of its credentials file
 * ("" for an anonymous layer), which root reads. */

/* Append a struct config_req to w (root's side; aysfs-config decodes it, proto_workers.c). */
void proto_config_req_encode(struct ipc_wr *w, const struct config_req *q);

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
