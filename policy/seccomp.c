/* seccomp.c — loading a role's system call allow-list (see seccomp.h); the lists themselves are
 * policy/allow_core.h (the privileged core's and the base) and policy/allow_workers.c.
 *
 * An entry that is not obvious says which library call needs it. Groups marked "for" a feature
 * hold what that feature needs; a new feature adds a group rather than widening another one.
 * Every role: no executable mappings, no change of SIGSYS's handler, tgkill to itself only.
 */
#include "policy/allow.h"
#include "policy/seccomp.h"
#include "policy/testhook.h"

#include "ipc/proto.h"
#include "ipc/log.h"

#include <errno.h>
#ifdef AYSFS_SANITIZE
#include <sanitizer/lsan_interface.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

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

/* ---- SIGSYS: say which call, then die of it ------------------------------------------------ */

#define NAMES_MAX 512
static char names[NAMES_MAX][24];       /* filled before the filter: the handler only reads */
static char role_label[16];
static bool sigsys_relayed, sigsys_is_root;

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
	/* Relayed by root (ipc/log.c, LOG_RELAYED): the level as a byte, root puts on the name. */
	if (sigsys_relayed) {
		line[n++] = LOG_CRIT;
	} else {
		n += put_str(line + n, "CRIT ");
		n += put_str(line + n, role_label);
		n += put_str(line + n, ": ");
	}
	n += put_str(line + n, "system call ");
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
	sigsys_relayed = log_relayed();
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
	if (!seccomp_roles[role][0].n)
		die(70, "%s: this program has no allow-list for that role", role_name);
	for (size_t i = 0; i < sizeof seccomp_roles[role] / sizeof seccomp_roles[role][0]; i++)
		if ((rc = add_group(ctx, &seccomp_roles[role][i])))
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
