/* allow_workers.c — the lists of the unprivileged workers (indexer, fetcher, status, debug,
 * aysfs-config) and the table of every role, linked by the workers and the tests, not by the
 * privileged core (policy/allow.h). Arguments are checked where the check means something:
 * sockets only of the families a role uses, no clone but a thread, signals only to this process. */
#include "policy/allow_core.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/resource.h>

#define ARG2(name, a, va, b, vb) { SCMP_SYS(name), 2, { { .arg = (a), .op = SCMP_CMP_EQ, .datum_a = (va) }, \
					{ .arg = (b), .op = SCMP_CMP_EQ, .datum_a = (vb) } } }

/* ---- aysfs-indexer: flists, the local cache, local-folder layers; no network ---------------- */
static const struct sc_allow indexer[] = {
	/* Paths: Landlock (policy/landlock.c) limits which ones. */
	ANY(openat), ANY(openat2), ANY(mkdir), ANY(mkdirat), ANY(unlink), ANY(unlinkat), ANY(rmdir),
	ANY(rename), ANY(renameat), ANY(renameat2),     /* flist copies; purge; eviction */
	ANY(linkat),                                    /* an O_TMPFILE blob gets its name */
	ANY(copy_file_range),                           /* write-back copies a verified blob */
	ANY(access), ANY(faccessat), ANY(faccessat2), ANY(stat), ANY(lstat),
	ANY(getdents64), ANY(fchmod), ANY(ftruncate), ANY(fadvise64), ANY(fsync), ANY(fdatasync),
	ANY(statfs), ANY(fstatfs),                      /* eviction: room left in the cache */
	ANY(utimensat),                                 /* eviction: last use of a cached blob */
	ANY(memfd_create), FCNTL(F_ADD_SEALS),          /* the index image, sealed */
	FCNTL(F_GET_SEALS),                             /* the fuser's image is sealed (ipc/index.c) */
	ANY(pipe2), FCNTL(F_SETPIPE_SZ),                /* each download's body, from the fetcher */
	ANY(shutdown),                                  /* fetch_reconnect() leaves the old channel */
	ANY(dup2), ANY(dup3),                           /* a restarted fuser's channel at FD_PEER1 */
	FCNTL(F_DUPFD_CLOEXEC),                         /* the fetcher's channel, per transfer (fetch.c) */
	/* The cache's prefetch threads lower their own CPU and I/O priority as they start: who = 0,
	 * the calling thread, never another process (cache_thread_background). */
	ARG2(ioprio_set, 0, 1 /* IOPRIO_WHO_PROCESS */, 1, 0), ARG2(setpriority, 0, PRIO_PROCESS, 1, 0),
	/* aysfs-ctl: each request runs on a thread of its own (a verify reads the whole cache);
	 * threads only, never a process. */
	MASKED(clone, 0, CLONE_THREAD, CLONE_THREAD),
	/* glibc's malloc counts the CPUs (__get_nprocs) the first time more threads allocate at
	 * once than it has arenas for: the read-ahead pool has more threads than that. Reads this
	 * thread's CPU mask, nothing else. */
	ANY(sched_getaffinity),
	/* indexer/watch.c: the configuration file, flist_dir and the flists named by path */
	ANY(inotify_init1), ANY(inotify_add_watch), ANY(inotify_rm_watch),
};

/* ---- aysfs-fetcher: the network, and fds it is handed; it opens no path ------------------- */
static const struct sc_allow fetcher[] = {
	/* TCP and UDP over IPv4 and IPv6 only: libcurl's transfers, c-ares' queries and the
	 * -auto probes (non-blocking connects). No AF_UNIX, no netlink, no raw sockets. */
	ARG(socket, 0, SCMP_CMP_EQ, AF_INET),
	ARG(socket, 0, SCMP_CMP_EQ, AF_INET6),
	ANY(connect), ANY(getsockname), ANY(getpeername), ANY(getsockopt),
	ANY(sendto), ANY(recvfrom),
	/* The only option set (measured with strace under the tests): TCP_NODELAY, by libcurl on each
	 * connection (CURLOPT_TCP_NODELAY's default) and by c-ares on its TCP sockets. */
	ARG2(setsockopt, 1, IPPROTO_TCP, 2, TCP_NODELAY),
};

/* ---- aysfs-status: the control socket and -pprof's TCP socket, both bound by root ------------- */
static const struct sc_allow status[] = {
	/* Only on fd 4 (the control socket) and fd 5 (-pprof's), the listening sockets it was given:
	 * it makes no socket, binds and connects nothing. */
	ARG(accept4, 0, SCMP_CMP_EQ, 4), ARG(accept4, 0, SCMP_CMP_EQ, 5),
	ARG2(getsockopt, 1, SOL_SOCKET, 2, SO_PEERCRED),        /* the control socket's callers */
	ANY(sendto), ANY(recvfrom),                             /* send(2), recv(2) */
	ARG(shutdown, 1, SCMP_CMP_EQ, SHUT_WR),                 /* an HTTP answer is over */
};

/* ---- sftp:// layers (libcurl + libssh2): the fetcher's role when one is configured ---------------
 * libcurl 7.88 takes the client key only by name and libssh2 opens it at each login: the
 * fetcher copies the key (fd 5, opened by the supervisor) into a sealed memfd of its own and
 * names it /proc/self/fd/N. seccomp cannot tell one path from another, so this role may open any
 * file read-only, as far as the fetcher's own user may: a weaker list, used only when a layer is
 * sftp://. Known hosts are read at start-up, never at connect time. */
static const struct sc_allow fetcher_sftp[] = {
	MASKED(openat, 2, O_ACCMODE | O_CREAT | O_TRUNC, O_RDONLY),
};

/* ---- aysfs-debug: Redis (TCP or a Unix socket, through hiredis) and memfds; it opens no path --- */
static const struct sc_allow debug[] = {
	ARG(socket, 0, SCMP_CMP_EQ, AF_INET),
	ARG(socket, 0, SCMP_CMP_EQ, AF_INET6),
	ARG(socket, 0, SCMP_CMP_EQ, AF_UNIX),           /* redis = "/path/of/redis.sock" */
	ANY(connect), ANY(getsockopt),                  /* hiredis: a connect with a deadline */
	ANY(sendto), ANY(recvfrom),
	/* hiredis: TCP_NODELAY on a TCP connection; redisSetTimeout: SO_RCVTIMEO, SO_SNDTIMEO. */
	ARG2(setsockopt, 1, IPPROTO_TCP, 2, TCP_NODELAY),
	ARG2(setsockopt, 1, SOL_SOCKET, 2, SO_RCVTIMEO),
	ARG2(setsockopt, 1, SOL_SOCKET, 2, SO_SNDTIMEO),
	ANY(memfd_create), FCNTL(F_ADD_SEALS),          /* contents: writable copies, sealed ones */
};

const struct sc_group seccomp_roles[SECCOMP_ROLES][3] = {
	[SECCOMP_FUSER] = { GROUP(base), GROUP(fuser) },
	[SECCOMP_INDEXER] = { GROUP(base), GROUP(indexer) },
	[SECCOMP_FETCHER] = { GROUP(base), GROUP(fetcher) },
	[SECCOMP_CONFIG] = { GROUP(base) },
	[SECCOMP_SUPERVISOR] = { GROUP(base), GROUP(supervisor) },
	[SECCOMP_FETCHER_SFTP] = { GROUP(base), GROUP(fetcher), GROUP(fetcher_sftp) },
	[SECCOMP_STATUS] = { GROUP(base), GROUP(status) },
	[SECCOMP_DEBUG] = { GROUP(base), GROUP(debug) },
	[SECCOMP_FUSER_DEBUG] = { GROUP(base), GROUP(fuser), GROUP(fuser_debug) },
};

