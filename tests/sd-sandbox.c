/* sd-sandbox — run a command under a seccomp filter that means what the system call directives
 * of a systemd unit mean, for tests/integration/systemd.t, where no systemd runs as PID 1:
 *
 *   sd-sandbox [DIRECTIVE=VALUE…] -- COMMAND [ARG…]
 *
 * Directives: RestrictAddressFamilies=AF_… (an allow-list), SystemCallFilter=~@group… (a deny-list
 * of the groups named below), SystemCallArchitectures=native, and =yes for MemoryDenyWriteExecute,
 * LockPersonality, RestrictRealtime, RestrictSUIDSGID, RestrictNamespaces, ProtectClock,
 * ProtectHostname. What each refuses and how (EPERM, EAFNOSUPPORT, or death) follows systemd 252's
 * own filters; it is a reading of their documented meaning, not systemd's code. An unknown
 * directive or value is an error, so that a unit that grows a directive fails the test until it is
 * reproduced here too.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <seccomp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define EPERM_ACT SCMP_ACT_ERRNO(EPERM)

static scmp_filter_ctx ctx;

static void fail(const char *what, const char *arg)
{
	fprintf(stderr, "sd-sandbox: %s: %s\n", what, arg);
	exit(125);
}

static void rule(uint32_t action, const char *name, unsigned n, const struct scmp_arg_cmp *cmp)
{
	int nr = seccomp_syscall_resolve_name(name);

	if (nr == __NR_SCMP_ERROR)
		return;                 /* not a call of this architecture */
	if (seccomp_rule_add_array(ctx, action, nr, n, cmp))
		fail("cannot add a rule for", name);
}

#define RULE(action, name, ...) \
	rule(action, name, sizeof((struct scmp_arg_cmp[]){ __VA_ARGS__ }) / sizeof(struct scmp_arg_cmp), \
	     (struct scmp_arg_cmp[]){ __VA_ARGS__ })
#define RULE0(action, name) rule(action, name, 0, NULL)

static const struct { const char *name, *calls; } groups[] = {
	{ "@clock", "adjtimex clock_adjtime clock_adjtime64 clock_settime clock_settime64 settimeofday stime" },
	{ "@cpu-emulation", "modify_ldt subpage_prot switch_endian vm86 vm86old" },
	{ "@debug", "lookup_dcookie perf_event_open pidfd_getfd ptrace rtas s390_runtime_instr sys_debug_setcontext" },
	{ "@module", "delete_module finit_module init_module" },
	{ "@obsolete", "_sysctl afs_syscall bdflush break create_module ftime get_kernel_syms getpmsg gtty idle "
		       "lock mpx prof profil putpmsg query_module security sgetmask ssetmask stime stty sysfs "
		       "tuxcall ulimit uselib ustat vserver" },
	{ "@raw-io", "ioperm iopl pciconfig_iobase pciconfig_read pciconfig_write s390_pci_mmio_read "
		     "s390_pci_mmio_write" },
	{ "@reboot", "kexec_file_load kexec_load reboot" },
	{ "@swap", "swapoff swapon" },
};

static void calls(uint32_t action, const char *list)
{
	char buf[512], *save, *name;

	snprintf(buf, sizeof buf, "%s", list);
	for (name = strtok_r(buf, " ", &save); name; name = strtok_r(NULL, " ", &save))
		RULE0(action, name);
}

static void deny_groups(const char *value)
{
	char buf[512], *save, *g;

	if (value[0] != '~')
		fail("only deny-lists (~@group …) are reproduced", value);
	snprintf(buf, sizeof buf, "%s", value + 1);
	for (g = strtok_r(buf, " ", &save); g; g = strtok_r(NULL, " ", &save)) {
		size_t i;

		for (i = 0; i < sizeof groups / sizeof groups[0] && strcmp(groups[i].name, g); i++)
			;
		if (i == sizeof groups / sizeof groups[0])
			fail("unknown system call group", g);
		calls(SCMP_ACT_KILL_PROCESS, groups[i].calls);
	}
}

static void allow_families(const char *value)
{
	static const struct { const char *name; int af; } known[] = {
		{ "AF_UNIX", AF_UNIX }, { "AF_INET", AF_INET }, { "AF_INET6", AF_INET6 },
		{ "AF_NETLINK", AF_NETLINK }, { "AF_PACKET", AF_PACKET },
	};
	bool allowed[AF_MAX] = { false };
	char buf[256], *save, *f;

	snprintf(buf, sizeof buf, "%s", value);
	for (f = strtok_r(buf, " ", &save); f; f = strtok_r(NULL, " ", &save)) {
		size_t i;

		for (i = 0; i < sizeof known / sizeof known[0] && strcmp(known[i].name, f); i++)
			;
		if (i == sizeof known / sizeof known[0])
			fail("unknown address family", f);
		allowed[known[i].af] = true;
	}
	for (int af = 0; af < AF_MAX; af++)
		if (!allowed[af])
			RULE(SCMP_ACT_ERRNO(EAFNOSUPPORT), "socket", SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)af));
	RULE(SCMP_ACT_ERRNO(EAFNOSUPPORT), "socket", SCMP_A0(SCMP_CMP_GE, AF_MAX));
}

static void yes(const char *key)
{
	static const unsigned long ns_flags[] = { CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER,
						  CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP, 0x80 /* TIME */ };

	if (strcmp(key, "MemoryDenyWriteExecute") == 0) {
		RULE(EPERM_ACT, "mmap", SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_WRITE | PROT_EXEC, PROT_WRITE | PROT_EXEC));
		RULE(EPERM_ACT, "mprotect", SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC));
		RULE(EPERM_ACT, "pkey_mprotect", SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC));
		RULE(EPERM_ACT, "shmat", SCMP_A2(SCMP_CMP_MASKED_EQ, SHM_EXEC, SHM_EXEC));
	} else if (strcmp(key, "LockPersonality") == 0) {
		/* Only the personality it started with (PER_LINUX). */
		RULE(EPERM_ACT, "personality", SCMP_A0(SCMP_CMP_NE, 0));
	} else if (strcmp(key, "RestrictRealtime") == 0) {
		static const int rt[] = { SCHED_FIFO, SCHED_RR, SCHED_DEADLINE };

		for (size_t i = 0; i < sizeof rt / sizeof rt[0]; i++)
			RULE(EPERM_ACT, "sched_setscheduler",
			     SCMP_A1(SCMP_CMP_MASKED_EQ, ~(scmp_datum_t)SCHED_RESET_ON_FORK, (scmp_datum_t)rt[i]));
	} else if (strcmp(key, "RestrictSUIDSGID") == 0) {
		static const struct { const char *call; unsigned arg; } modes[] = {
			{ "chmod", 1 }, { "fchmod", 1 }, { "fchmodat", 2 }, { "mkdir", 1 }, { "mkdirat", 2 },
			{ "mknod", 1 }, { "mknodat", 2 }, { "open", 2 }, { "openat", 3 }, { "creat", 1 },
		};

		for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
			for (scmp_datum_t bit = S_ISGID; bit <= S_ISUID; bit <<= 1)
				RULE(EPERM_ACT, modes[i].call,
				     ((struct scmp_arg_cmp){ modes[i].arg, SCMP_CMP_MASKED_EQ, bit, bit }));
	} else if (strcmp(key, "RestrictNamespaces") == 0) {
		for (size_t i = 0; i < sizeof ns_flags / sizeof ns_flags[0]; i++) {
			RULE(EPERM_ACT, "unshare", SCMP_A0(SCMP_CMP_MASKED_EQ, ns_flags[i], ns_flags[i]));
			RULE(EPERM_ACT, "clone", SCMP_A0(SCMP_CMP_MASKED_EQ, ns_flags[i], ns_flags[i]));
		}
		RULE0(EPERM_ACT, "setns");
		RULE0(SCMP_ACT_ERRNO(ENOSYS), "clone3");        /* its flags are out of the filter's sight */
	} else if (strcmp(key, "ProtectClock") == 0) {
		calls(EPERM_ACT, groups[0].calls);
	} else if (strcmp(key, "ProtectHostname") == 0) {
		calls(EPERM_ACT, "sethostname setdomainname");
	} else {
		fail("directive not reproduced", key);
	}
}

int main(int argc, char **argv)
{
	int i;

	ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx)
		fail("seccomp_init", "failed");
	/* SystemCallArchitectures=native: the filter is for the native architecture alone; calls of
	 * any other kill. */
	seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	for (i = 1; i < argc && strcmp(argv[i], "--"); i++) {
		char *eq = strchr(argv[i], '=');

		if (!eq)
			fail("not DIRECTIVE=VALUE", argv[i]);
		*eq = '\0';
		if (strcmp(argv[i], "RestrictAddressFamilies") == 0)
			allow_families(eq + 1);
		else if (strcmp(argv[i], "SystemCallFilter") == 0)
			deny_groups(eq + 1);
		else if (strcmp(argv[i], "SystemCallArchitectures") == 0 && strcmp(eq + 1, "native") == 0)
			;
		else if (strcmp(eq + 1, "yes") == 0)
			yes(argv[i]);
		else
			fail("directive not reproduced", argv[i]);
	}
	if (i + 1 >= argc)
		fail("usage", "sd-sandbox [DIRECTIVE=VALUE…] -- COMMAND [ARG…]");
	if (seccomp_load(ctx))
		fail("seccomp_load", strerror(errno));
	execv(argv[i + 1], argv + i + 1);
	fail(argv[i + 1], strerror(errno));
}
