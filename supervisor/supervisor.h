/* supervisor.h — the privileged core's pieces: mounting (mount.c) and starting workers (spawn.c). */
#ifndef AYSFS_SUPERVISOR_H
#define AYSFS_SUPERVISOR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* ---- mount.c ---- */

/* If `mnt` is a dead FUSE mount left by a crash ("Transport endpoint is not connected"), detach
 * it. Returns 0, or -errno when the mountpoint is unusable. */
int mount_clear_stale(const char *mnt);

/* A warning when the folder `mnt` has entries: the mount hides them. */
void mount_warn_not_empty(const char *mnt);

/* Open /dev/fuse and mount it read-only at mnt. Returns the fd, or -errno. */
int mount_fuse(const char *mnt);

/* Unmount; lazily when busy. Returns 0 or -errno. */
int mount_remove(const char *mnt);

/* ---- cachedir.c ---- */

/* Make `dir` (cache_dir with its namespace `ns`, or state_dir with ns NULL) with `mode` for
 * uid:gid, or check the one that exists: theirs, or root's holding only what aysfs writes there
 * (then given to them); anything else (a symlink, another owner, other files) exits 1. */
void cachedir_prepare(const char *key, const char *dir, const char *ns, mode_t mode, uid_t uid,
		      gid_t gid);

/* ---- spawn.c ---- */

enum worker_role { ROLE_FUSER, ROLE_INDEXER, ROLE_FETCHER, ROLE_COUNT };

struct worker {
	enum worker_role role;
	const char *name;       /* "fuser", … */
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
	bool planned;           /* stopped on purpose (a reload that changes the indexer's folders) */
	bool refused_known;     /* MSG_SYSCALL received: the call its seccomp filter refused */
	uint32_t refused_arch;
	int refused_nr;
};

/* Find and open the worker binary: beside our own executable, else in AYSFS_LIBEXEC. */
int spawn_open_exe(struct worker *w);

/* fork + exec the worker as its user, with fds 0-2 (stdin /dev/null, stderr shared), 3.. from
 * w->fds and nothing else, and an empty environment; `restarted` adds "-restarted" to its argv
 * (a restarted indexer neither purges nor sends a new index). Returns 0 or -errno. */
int spawn_worker(struct worker *w, int log_level, bool restarted);

/* ipc_send on the worker's channel. Root's ends are non-blocking (spawn_worker makes them so):
 * root never waits on a worker, and one that does not drain its channel (-EAGAIN) is killed,
 * to be restarted as after any death. */
int worker_send(const struct worker *w, uint16_t type, uint64_t id, const void *payload,
		size_t len, const int *fds, unsigned nfds);

/* ---- confread.c ---- */

struct config;

/* Read the configuration file at path through aysfs-config, run as `user` (else nobody). A
 * missing file gives the defaults unless must_exist. Returns 0, or -errno with `err` saying why
 * ("FILE:LINE:COLUMN: reason" for a syntax error). */
int config_read(const char *path, bool must_exist, const char *user, int log_level,
		struct config *c, char *err, size_t errlen);

/* ---- s3keys.c ---- */

/* The fetcher's MSG_S3 payload for c's s3:// layers into buf (their credentials files read
 * now). Returns 0 with *len set, or -errno with `err` saying why (naming no key). */
int s3keys_build(const struct config *c, uint8_t *buf, size_t size, size_t *len, char *err,
		 size_t errlen);

#endif
