/* seccomp.c — the workers' system call allow-lists, one table per role (see seccomp.h).
 *
 * Each list holds what the process calls *after* its start-up (configuration read, files opened,
 * threads started), measured with the whole test suite on glibc 2.36, libcurl 7.88, c-ares 1.18,
 * libfuse 3.14 and OpenSSL 3.0 (docs/SECURITY.md says how to measure again). An entry that is not
 * obvious says which library call needs it. Groups marked "for" a feature hold what that feature
 * needs; a new feature adds a group rather than widening another one.
 *
 * Arguments are checked where the check means something: sockets only of the families a role
 * uses, no executable mappings, no clone but a thread, no change of SIGSYS's handler, signals only
 * to this process.
 */
#include "policy/seccomp.h"
#include "policy/testhook.h"

#include "ipc/proto.h"
#include "ipc/log.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <seccomp.h>
#ifdef AYSFS_SANITIZE
#include <sanitizer/lsan_interface.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

/* One allowed call: any arguments, or only when every listed argument test holds. */
struct sc_allow {
	int nr;
	unsigned nargs;
	struct scmp_arg_cmp arg[2];
};

#define ANY(name)               { SCMP_SYS(name), 0, { { 0 } } }
#define ARG(name, a, cmp, v)    { SCMP_SYS(name), 1, { { .arg = (a), .op = (cmp), .datum_a = (v) } } }
#define MASKED(name, a, m, v)   { SCMP_SYS(name), 1, \
				  { { .arg = (a), .op = SCMP_CMP_MASKED_EQ, .datum_a = (m), .datum_b = (v) } } }
#define ARG2(name, a, va, b, vb) { SCMP_SYS(name), 2, { { .arg = (a), .op = SCMP_CMP_EQ, .datum_a = (va) }, \
					{ .arg = (b), .op = SCMP_CMP_EQ, .datum_a = (vb) } } }
/* fcntl with one command: none of F_SETOWN, F_SETSIG (which would signal another process of the
 * same user), locks or leases unless a list names it. */
#define FCNTL(cmd)              ARG(fcntl, 1, SCMP_CMP_EQ, cmd)

/* ---- every worker ------------------------------------------------------------------------- */
static const struct sc_allow base[] = {
	ANY(read), ANY(write), ANY(readv), ANY(writev), ANY(pread64), ANY(pwrite64), ANY(close),
	ANY(lseek), ANY(fstat), ANY(newfstatat),
	/* O_NONBLOCK on the channels and pipes (ipc/, libfuse, libcurl, c-ares), FD_CLOEXEC (glibc,
	 * libcurl's and c-ares' sockets) */
	FCNTL(F_GETFL), FCNTL(F_SETFL), FCNTL(F_GETFD), FCNTL(F_SETFD),
	ANY(poll), ANY(ppoll),
	ANY(recvmsg), ANY(sendmsg),                     /* the ipc/ channels */
	ANY(futex), ANY(brk), ANY(munmap), ANY(mremap), ANY(madvise),
	/* Memory never becomes executable: no PROT_EXEC in a mapping or a change of protection. */
	MASKED(mmap, 2, PROT_EXEC, 0),
	MASKED(mprotect, 2, PROT_EXEC, 0),
	ANY(rt_sigreturn), ANY(rt_sigprocmask),
	/* Any handler but SIGSYS's, which the filter keeps (see sigsys_trap below). */
	ARG(rt_sigaction, 0, SCMP_CMP_NE, SIGSYS),
	ANY(getpid), ANY(gettid), ANY(getrandom),
	ANY(clock_gettime), ANY(clock_nanosleep), ANY(nanosleep),   /* the vDSO aside */
	ANY(sched_yield), ANY(restart_syscall), ANY(exit), ANY(exit_group),
	/* glibc's qsort, the first time it sorts over 1 KiB: sysconf(_SC_PHYS_PAGES) sizes its
	 * buffer (and ignores a failure, so refusing it with an errno would be wrong too). */
	ANY(sysinfo),
	/* glibc's start_thread, in a thread created just before the filter came (TSYNC applies it
	 * to threads still starting). */
	ANY(set_robust_list), ANY(rseq),
	/* tgkill to this process only is added at load time (abort() and raise() need it). */
};

/* ---- aysfs-fuser: /dev/fuse, the index memfd, blob fds from the indexer --------------------- */
static const struct sc_allow fuser[] = {
	/* libfuse's fuse_session_receive_buf reads requests by splice from /dev/fuse into a pipe
	 * and replies to reads with vmsplice+splice (FUSE_BUF_IS_FD, our blob fds); the pipe of
	 * each thread is made on its first request. */
	ANY(splice), ANY(vmsplice), ANY(pipe2),
	FCNTL(F_SETPIPE_SZ),                            /* libfuse: that pipe holds a whole request */
	FCNTL(F_GET_SEALS),                             /* a new index must be sealed (ipc/index.c) */
};

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

/* ---- debug mode (SPEC §7): the fuser of a mount with [debug] ----------------------------------
 * It writes into memfds aysfs-debug hands it (pwrite is in the base list): a truncate of an open
 * file is an ftruncate of that memfd. Blob fds stay read-only, so ftruncate cannot touch them. */
static const struct sc_allow fuser_debug[] = {
	ANY(ftruncate),
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

/* ---- aysfs-supervisor, once mounted and its workers started (supervisor/main.c) --------------
 * Root keeps CAP_SYS_ADMIN, CAP_KILL and the ids' capabilities; this list bounds what it can do
 * with them. It starts no process itself (the launcher, forked before this filter, does: a filter is
 * inherited) and opens nothing for writing: the pid file and the notify socket are opened before.
 * On top of the base list: */
static const struct sc_allow supervisor[] = {
	ANY(wait4), ANY(waitid),                        /* reaping workers and aysfs-config */
	ANY(kill),                                      /* stopping and killing workers */
	ARG(socketpair, 0, SCMP_CMP_EQ, AF_UNIX),       /* a restarted worker's channels */
	/* the configuration file and the s3:// credentials at a reload, read-only */
	MASKED(openat, 2, O_ACCMODE | O_CREAT | O_TRUNC, O_RDONLY),
	ANY(sendto),                                    /* systemd's notify socket, opened before */
	ARG(shutdown, 1, SCMP_CMP_EQ, SHUT_RDWR),
	ANY(umount2),                                   /* the unmount at the end */
	/* A fresh mount for a new fuser (supervisor/takeover.c), on the folder and a /dev/fuse fd
	 * opened before the filter, with the flags of the first mount and no others (no bind, move or
	 * remount): read-only, or read-write in debug mode. */
	ARG(mount, 3, SCMP_CMP_EQ, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOATIME),
	ARG(mount, 3, SCMP_CMP_EQ, MS_NOSUID | MS_NODEV | MS_NOATIME),
	ANY(unlink), ANY(unlinkat),                     /* the pid file and the control socket */
	FCNTL(F_DUPFD_CLOEXEC),
};

/* ---- sanitizer builds only: what the ASan/UBSan runtime calls to write a report -------------- */
#ifdef AYSFS_SANITIZE
static const struct sc_allow sanitizer[] = {
	/* /proc/self/maps and the executable, read-only, to print a stack; nothing is created. The
	 * runtime's own open() is the old system call. */
	MASKED(openat, 2, O_ACCMODE | O_CREAT | O_TRUNC, O_RDONLY),
	MASKED(open, 1, O_ACCMODE | O_CREAT | O_TRUNC, O_RDONLY),
	ANY(readlink), ANY(readlinkat), ANY(getdents), ANY(getdents64), ANY(sigaltstack),
	ANY(prctl), ANY(getrlimit), ANY(prlimit64), ANY(sched_getaffinity), ANY(getppid),
	ARG(ioctl, 1, SCMP_CMP_EQ, TCGETS),             /* isatty(2): colours or not */
};
#endif

struct sc_group {
	const struct sc_allow *list;
	size_t n;
};

#define GROUP(a) { (a), sizeof(a) / sizeof((a)[0]) }

/* Each role: the base, its own list, and room for a feature's group. */
static const struct sc_group roles[SECCOMP_ROLES][3] = {
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

/* ---- SIGSYS: say which call, then die of it ------------------------------------------------ */

#define NAMES_MAX 512
static char names[NAMES_MAX][24];       /* filled before the filter: the handler only reads */
static char role_label[16];
static bool sigsys_is_root;

/* Async-signal-safe helpers: no stdio in a handler. */
static size_t put_str(char *p, const char *s)
{
	size_t n = strlen(s);

	memcpy(p, s, n);
	return n;
}

static size_t put_uint(char *p, unsigned long v)
{
	char tmp[24];
	size_t n = 0, i = 0;

	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10) && n < sizeof tmp);
	while (n)
		p[i++] = tmp[--n];
	return i;
}

static void sigsys_trap(int sig, siginfo_t *si, void *uc)
{
	char line[160];
	size_t n = 0;
	int nr = si->si_syscall, saved = errno;
	struct {
		struct ipc_hdr h;
		uint32_t arch, nr;
	} m = { { IPC_MAGIC, MSG_SYSCALL, 0, 8, 0, 0 }, si->si_arch, (uint32_t)nr };
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t sys;

	(void)sig;
	(void)uc;
	n += put_str(line + n, "CRIT ");
	n += put_str(line + n, role_label);
	n += put_str(line + n, ": system call ");
	n += put_str(line + n, nr >= 0 && nr < NAMES_MAX && names[nr][0] ? names[nr] : "#");
	n += put_str(line + n, " (");
	n += put_uint(line + n, (unsigned long)(unsigned)nr);
	n += put_str(line + n, ") is not in the seccomp allow-list: killed\n");
	(void)!write(STDERR_FILENO, line, n);
	/* The supervisor names the call in its own line from this (ipc framing, built by hand;
	 * sendmsg, as the base list has no sendto). Root itself has no supervisor on fd 3. */
	if (!sigsys_is_root)
		sendmsg(3, &(struct msghdr){ .msg_iov = &(struct iovec){ &m, sizeof m },
					     .msg_iovlen = 1 }, MSG_DONTWAIT | MSG_NOSIGNAL);
	errno = saved;
	/* The default action again: the filter answers this rt_sigaction with KILL_PROCESS. */
	sigaction(SIGSYS, &dfl, NULL);
	/* Only reached when no filter is loaded (try-syscall's own checks): die the same way. */
	sigemptyset(&sys);
	sigaddset(&sys, SIGSYS);
	sigprocmask(SIG_UNBLOCK, &sys, NULL);
	raise(SIGSYS);
	_exit(128 + SIGSYS);
}

static void fill_names(void)
{
	for (int nr = 0; nr < NAMES_MAX; nr++) {
		char *s = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);

		if (s) {
			snprintf(names[nr], sizeof names[nr], "%s", s);
			free(s);
		}
	}
}

static int add_group(scmp_filter_ctx ctx, const struct sc_group *g)
{
	for (size_t i = 0; i < g->n; i++) {
		const struct sc_allow *a = &g->list[i];
		int rc = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, a->nr, a->nargs,
						a->nargs ? a->arg : NULL);

		/* A call this kernel or architecture does not have is simply not allowed. */
		if (rc && rc != -EDOM && rc != -EFAULT)
			return rc;
	}
	return 0;
}

void seccomp_lockdown(enum seccomp_role role, const char *role_name)
{
	struct sigaction sa = { .sa_sigaction = sigsys_trap, .sa_flags = SA_SIGINFO };
	scmp_filter_ctx ctx;
	int rc = -ENOMEM;

	snprintf(role_label, sizeof role_label, "%s", role_name);
	sigsys_is_root = role == SECCOMP_SUPERVISOR;
	fill_names();
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL))
		die(70, "%s: sigaction(SIGSYS): %s", role_name, strerror(errno));
	testhook_install(role);

	/* Anything not listed: SIGSYS to the handler above. AYSFS_SECCOMP_LOG (a developer's build,
	 * never a release) lets it run and has the kernel log it instead: how a list is measured. */
#ifdef AYSFS_SECCOMP_LOG
	ctx = seccomp_init(SCMP_ACT_LOG);
#else
	ctx = seccomp_init(SCMP_ACT_TRAP);
#endif
	if (!ctx)
		goto fail;
	/* Another architecture's calling convention (x32, i386) bypasses nothing: it kills. */
	if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS)) ||
	    (rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1)))
		goto fail;
	for (size_t i = 0; i < sizeof roles[role] / sizeof roles[role][0]; i++)
		if ((rc = add_group(ctx, &roles[role][i])))
			goto fail;
#ifdef AYSFS_SANITIZE
	if ((rc = add_group(ctx, &(struct sc_group)GROUP(sanitizer))))
		goto fail;
	/* LeakSanitizer's check at exit clones a tracer that ptraces this process: what the lock-down
	 * exists to forbid. Check now instead, which also turns the exit-time check off. */
	__lsan_do_leak_check();
#endif
	/* The handler's last step, and what an intruder would need to keep running past a refused
	 * call: changing SIGSYS's disposition kills. */
	if ((rc = seccomp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, SCMP_SYS(rt_sigaction), 1,
				   SCMP_A0(SCMP_CMP_EQ, SIGSYS))) ||
	    (rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
				   SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid()))))
		goto fail;
	/* Threads and processes: none after the lock-down, so no list has clone. clone3 hides its
	 * flags from the filter; ENOSYS makes glibc fall back to clone, which a role that must start
	 * threads later can allow for threads only: MASKED(clone, 0, CLONE_THREAD, CLONE_THREAD). */
	if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0)))
		goto fail;
	if ((rc = seccomp_load(ctx)))
		goto fail;
	seccomp_release(ctx);
	log_info("seccomp allow-list loaded%s", seccomp_relaxed() ? " (relaxed for the sanitizer)" : "");
	return;
fail:
	if (ctx)
		seccomp_release(ctx);
	die(70, "%s: cannot load the seccomp filter: %s", role_name, strerror(-rc));
}

bool seccomp_relaxed(void)
{
#ifdef AYSFS_SANITIZE
	return true;
#else
	return false;
#endif
}

const char *seccomp_syscall_name(uint32_t arch, int nr, char *buf, size_t len)
{
	char *s = seccomp_syscall_resolve_num_arch(arch ? arch : SCMP_ARCH_NATIVE, nr);

	if (s)
		snprintf(buf, len, "%s", s);
	else
		snprintf(buf, len, "#%d", nr);
	free(s);
	return buf;
}
