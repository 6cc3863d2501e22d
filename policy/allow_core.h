/* allow_core.h — the lists of the privileged core's processes (and the base every process has),
 * included by both tables (allow_core.c, allow_workers.c). Each list holds what the process calls
 * *after* its start-up, measured with the whole test suite on glibc 2.36, libcurl 7.88, c-ares
 * 1.18, libfuse 3.14 and OpenSSL 3.0 (docs/SECURITY.md says how to measure again). */
#ifndef AYSFS_ALLOW_CORE_H
#define AYSFS_ALLOW_CORE_H

#include "policy/allow.h"

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
	/* glibc's malloc counts the CPUs (__get_nprocs) once more threads allocate than it has
	 * arenas for (8): with a server thread per CPU (fuser/main.c) that can happen. Reads this
	 * thread's CPU mask, nothing else. */
	ANY(sched_getaffinity),
};

/* ---- debug mode (SPEC §7): the fuser of a mount with [debug] ----------------------------------
 * It writes into memfds aysfs-debug hands it (pwrite is in the base list): a truncate of an open
 * file is an ftruncate of that memfd. Blob fds stay read-only, so ftruncate cannot touch them. */
static const struct sc_allow fuser_debug[] = {
	ANY(ftruncate),
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
	ANY(pipe2),                                     /* … and its stderr (supervisor/logrelay.c) */
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

#endif
