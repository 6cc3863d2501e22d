/* supervisor.h — the privileged core's pieces: mounting (mount.c) and starting workers (spawn.c). */
#ifndef AYSFS_SUPERVISOR_H
#define AYSFS_SUPERVISOR_H

#include "ipc/proto.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define EXIT_USAGE      1
#define EXIT_MOUNT      2
#define EXIT_WORKER     3

/* ---- args.c ---- */

struct options {
	const char *config;
	bool config_given;
	bool auto_discover;
	bool pprof;
	const char *pprof_addr;
	const char *root;
	const char *resolv;
	const char *cafile;
	long master_port, cache_port;
	int log_level;
	const char *pidfile;
	bool verify_cache;
	bool check;
	const char *mountpoint;
};

/* Fill *o from argv; a usage error exits 1 with the usage text's first line, -h and -v exit 0. */
void parse_args(int argc, char **argv, struct options *o);

/* ---- mount.c ---- */

/* If `mnt` is a dead FUSE mount left by a crash ("Transport endpoint is not connected"), detach
 * it. Returns 0, or -errno when the mountpoint is unusable. */
int mount_clear_stale(const char *mnt);

/* How many entries the folder `mnt` has (0 when it cannot be read), with a warning when warn: the
 * mount hides them. */
unsigned long mount_not_empty(const char *mnt, bool warn);

/* Open /dev/fuse and mount it at mnt, read-only unless mount_read_write(true) was called (debug
 * mode, SPEC §7). Returns the fd, or -errno. */
int mount_fuse(const char *mnt);
void mount_read_write(bool rw);

/* Unmount; lazily when busy. Returns 0 or -errno. */
int mount_remove(const char *mnt);

/* ---- cachedir.c ---- */

/* Make `dir` (cache_dir with its namespace `ns`, or state_dir with ns NULL) with `mode` for
 * uid:gid, or check the one that exists: theirs, or root's holding only what aysfs writes there
 * (then given to them); anything else (a symlink, another owner, other files) exits 1. */
void cachedir_prepare(const char *key, const char *dir, const char *ns, mode_t mode, uid_t uid,
		      gid_t gid);

/* ---- confread.c, rootconf.c ---- */

/* The configuration as root holds it: its own few values, decoded (rootconf.c), and the workers'
 * payloads, relayed as aysfs-config wrote them. */
struct rootconf {
	char user[64], namespace[256];
	char cache_dir[PATH_MAX], state_dir[PATH_MAX], ssh_key[PATH_MAX];
	uint32_t warnings;
	uint64_t folders;               /* differs when the indexer's folders differ */
	uint8_t conf[IPC_MAX_PAYLOAD];  /* MSG_CONF for the indexer and the fetcher */
	size_t conf_len;
	uint8_t fconf[FUSER_CONF_LEN];  /* MSG_FUSER_CONF */
	uint8_t dconf[IPC_MAX_PAYLOAD]; /* MSG_DEBUG_CONF for aysfs-debug; none without [debug] */
	size_t dconf_len;
	uint32_t ns3;                   /* s3:// layers, and their credentials files ("": none) */
	char s3cred[S3_MAX_LAYERS][PATH_MAX];
	/* MSG_S3 for the fetcher: aysfs-config's part, then the files' bytes (s3keys.c). It holds
	 * keys: kept out of core dumps. */
	uint8_t s3[IPC_MAX_PAYLOAD] __attribute__((aligned(4096)));
	size_t s3_len;
};

/* Read the configuration file at `path` (the defaults when it is missing and need not exist)
 * with aysfs-config, started as uid:gid, told what the command line says (q).
 * Returns 0, or -errno with err holding the reason ("FILE:LINE:COLUMN: …"). */
int config_read(const char *path, bool must_exist, uid_t uid, gid_t gid, int log_level,
		const struct config_req *q, struct rootconf *c, char *err, size_t errlen);

/* MSG_CONFIG_DONE's payload into *c (its fields other than the payloads relayed). 0 or -EPROTO. */
int rootconf_decode(const void *buf, size_t len, struct rootconf *c);

/* Append to c->s3 (aysfs-config's part of MSG_S3) the bytes of each credentials file c->s3cred
 * names, read as root (s3keys.c). Returns 0, or -errno with err saying which file. */
int s3keys_append(struct rootconf *c, char *err, size_t errlen);

/* ---- spawn.c ---- */

#define LOGRELAY_MAX 1100       /* a line of log.c's (1 + 1,023 + newline), or a cut (logrelay.c) */

/* ROLE_DEBUG runs only when the configuration has [debug] (aysfs-debug, SPEC §7). */
enum worker_role { ROLE_FUSER, ROLE_INDEXER, ROLE_FETCHER, ROLE_STATUS, ROLE_DEBUG, ROLE_COUNT };

struct worker {
	enum worker_role role;
	const char *name;       /* "fuser", … */
	const char *exe;        /* the binary's name after "aysfs-", when not the name ("fuser-debug") */
	int exe_fd;             /* O_PATH fd of the binary, opened as root at start-up */
	uid_t uid;
	gid_t gid;
	int ctl;                /* the supervisor's end of the worker's channel */
	pid_t pid;
	int fds[3];             /* what the worker gets as fds 3, 4, 5 (-1: none) */
	time_t deaths[5];       /* when it last died (a ring), for crash-loop detection */
	int ndeaths;
	int recent_deaths;      /* of those, within the crash-loop window */
	int64_t restart_at;     /* monotonic ms; 0: none due */
	time_t started;         /* when it was last started */
	int backoff;            /* the fetcher: its deaths in the crash loop it is in (0: none) */
	bool drained;           /* killed for not reading its channel (worker_send) */
	bool planned;           /* stopped on purpose (a reload that changes the indexer's folders) */
	bool refused_known;     /* MSG_SYSCALL received: the call its seccomp filter refused */
	uint32_t said;          /* the rows of proto_supervisor_from_worker received from this start */
	int log;                /* root's end of the worker's stderr (logrelay.c); -1: none */
	size_t log_len;
	char log_buf[LOGRELAY_MAX];     /* a line not yet whole */
	uint32_t refused_arch;
	int refused_nr;
};

/* ---- msgs.c ---- */

/* A message from worker w: its row's rule, then its handler. Returns 1 when the fuser reported
 * ready, 2 when the indexer saw the configuration file change, 0 otherwise (nothing waiting
 * included), -1 for a hostile message or a closed channel (the caller kills the worker). */
int msgs_on_worker(struct worker *w);

/* ---- notify.c: systemd and the pid file ---- */

/* One datagram to $NOTIFY_SOCKET; the first call (text NULL at start-up) makes the socket. */
void sd_notify_text(const char *text);
/* RELOADING=1 as a reload starts (start), READY=1 with `status` as it ends; only once serving. */
void notify_reload(bool start, const char *status);
void notify_serving(void);
/* Half of WATCHDOG_USEC in ms; 0 when not asked, or asked of another process. */
int64_t watchdog_interval_ms(void);
/* -pidfile: opened at start-up, never through a symlink; written once the tree is served. */
void open_pidfile(const char *path);
void write_pidfile(void);

/* ---- logrelay.c: the workers' stderr ---- */

/* A new pipe for w's stderr (the old one closed): returns the worker's end, or -errno. */
int logrelay_open(struct worker *w);
/* Relay the whole lines waiting on w's pipe, each as a line of w->name's; `all`: until the pipe
 * is empty (w is dead), else at most 16 reads (one worker cannot hold up root). */
void logrelay_read(struct worker *w, bool all);
/* Relay what is left (the pipe emptied, and a line not yet whole), close. */
void logrelay_close(struct worker *w);
/* Wait up to ms for lines of the n workers ws[], and relay them (root's loops that wait on a
 * worker's end rather than on its messages). */
void logrelay_poll(struct worker *ws, int n, int ms);

/* ---- start.c ---- */

/* What a start gives each worker (ROLE_* index): its fds 4 and 5 that are not channels to a peer
 * (fds[r][0] is its channel to root, made by start_workers), up to two messages sent as it starts
 * (type 0: none), and whether it is told it is a restart ("-restarted"). */
struct start_msg {
	uint16_t type;
	const void *p;
	size_t len;
};
struct start_plan {
	int fds[ROLE_COUNT][3];
	struct start_msg msgs[ROLE_COUNT][2];
	bool restarted[ROLE_COUNT];
};

/* Start the workers of `batch` (bits 1 << ROLE_*) of ws[ROLE_COUNT], in ROLE_* order, with their
 * channels to root and to their peers (start.c says how), then send each its messages. Returns 0,
 * or -errno (logged) when one of them could not be started. */
int start_workers(struct worker *ws, unsigned batch, const struct start_plan *plan, int log_level);

/* ---- deaths.c ---- */

#define CRASH_LOOP_DEATHS 5     /* deaths of one worker … */
#define CRASH_LOOP_SECONDS 60   /* … within this many seconds: exit 3 (the fetcher: back-off) */
#define BACKOFF_MAX_MS  60000   /* the fetcher's restart delay in a crash loop: 1 s doubling to this */

/* Record a death at `now`; true when it makes a crash loop (CRASH_LOOP_DEATHS within
 * CRASH_LOOP_SECONDS). */
bool deaths_note(struct worker *w, time_t now);
/* The fetcher and the status worker back off in a crash loop rather than stop the mount: true
 * when w backs off (loop: what deaths_note said). */
bool deaths_backoff(struct worker *w, bool loop, time_t now);
/* The delay before w's restart, in ms. */
int deaths_restart_delay_ms(const struct worker *w);

/* Find and open the worker binary: beside our own executable, else in AYSFS_LIBEXEC. */
int spawn_open_exe(struct worker *w);

/* fork + exec the worker as its user, with fds 0-2 (stdin /dev/null, stderr a pipe to root), 3.. from
 * w->fds and nothing else, and an empty environment; `restarted` adds "-restarted" to its argv
 * (a restarted indexer neither purges nor sends a new index). Returns 0 or -errno. */
int spawn_worker(struct worker *w, int log_level, bool restarted);

/* Start the launcher (spawn.c): from then on spawn_worker asks it, so that root can hold a
 * seccomp filter of its own. Call once every binary is open (spawn_open_exe) and before the
 * filter. Returns 0 or -errno. */
int spawn_launcher_start(void);

/* ipc_send on the worker's channel. Root's ends are non-blocking (spawn_worker makes them so):
 * root never waits on a worker, and one that does not drain its channel (-EAGAIN) is killed,
 * to be restarted as after any death. */
int worker_send(struct worker *w, uint16_t type, uint64_t id, const void *payload,
		size_t len, const int *fds, unsigned nfds);

/* takeover.c: restarting the fuser. */
/* The mount's /dev/fuse fd, kept open by the supervisor so that the kernel's connection outlives
 * a fuser (requests wait instead of failing). */
void takeover_keep_fd(int fd);

/* The fuser's copy of the kernel's FUSE_INIT (MSG_FUSE_INIT); kept for its successor. */
void takeover_note_init(const void *p, size_t len);

int takeover_kept_fd(void);

/* Before a new fuser starts (start_workers) on the mount at mnt: with the fd and a FUSE_INIT kept,
 * it is to take the same connection over (*take; nothing is unmounted, waiting requests are
 * served) and *init is the MSG_FUSE_INIT to send it after its configuration; else the mount is
 * detached and made again (*init has type 0), and the new fuser serves the fresh one. Returns 0;
 * -EAGAIN while the indexer is down (try again after its restart, since the new fuser's tree
 * comes from it); or -errno (the mount must stop). */
int takeover_prepare(bool indexer_running, const char *mnt, struct start_msg *init, bool *take);

/* The indexer is being restarted. Without a running fuser it gets no base tree, and a tree it
 * builds numbers inodes afresh, which the kernel's caches of the old mount must never see: the
 * next fuser then gets a fresh mount instead of taking the old one over. */
void takeover_indexer_restarted(bool fuser_running);

/* Close the kept fd (after unmounting). */
void takeover_close(void);

#endif
