/* aysfs-supervisor (also installed as `aysfs`) — the privileged core.
 *
 * Reads argv (args.c) and the configuration (through aysfs-config, confread.c), mounts the tree,
 * starts the workers (through the launcher, spawn.c) with the privileges each needs and no more,
 * loads its own seccomp filter, and stays in the foreground until SIGTERM or SIGINT, when it
 * unmounts (lazily if busy), stops the workers and exits 0. It parses nothing from the network.
 * The workers' messages are msgs.c's, systemd and the pid file notify.c's; the loop and each phase
 * here are functions under 80 lines.
 *
 * Exit status (SPEC section 1): 0 clean stop; 1 usage or configuration error; 2 the mount could
 * not be made (or another supervisor serves the mountpoint); 3 a worker kept crashing (every
 * worker is restarted when it dies; the fuser's successor takes the mount over, takeover.c).
 * aysfs-ctl and -pprof are served by the status worker, root's share of it is ctl.c; the indexer
 * watches the files whose change reloads.
 */
#include "supervisor/ctl.h"
#include "supervisor/supervisor.h"

#include "ipc/log.h"
#include "ipc/proto.h"
#include "policy/policy.h"
#include "policy/seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define READY_DEADLINE_S 60

/* Decided once, at start-up (root's seccomp filter has no access(2) later). */
static const char *config_path(const struct options *o)
{
	static int exists = -1;

	if (exists < 0)
		exists = o->config_given || access(o->config, F_OK) == 0;
	return exists ? o->config : NULL;
}

/* What the command line says of the workers' configuration (aysfs-config writes it). */
static void config_req_from(struct config_req *q, const struct options *o, const char *mnt)
{
	static char file[PATH_MAX];
	static bool made;
	const char *path = config_path(o);
	char cwd[PATH_MAX];

	/* The indexer watches it (it has another working folder): absolute, symlinks kept. Made at
	 * start-up, when root may still ask for its working folder. */
	if (!made) {
		made = true;
		if (path && path[0] == '/')
			snprintf(file, sizeof file, "%s", path);
		else if (path && getcwd(cwd, sizeof cwd) &&
			 snprintf(file, sizeof file, "%s/%s", cwd, path) >= (int)sizeof file)
			file[0] = '\0';
	}
	*q = (struct config_req){
		.config_file = file,
		.log_level = (uint32_t)o->log_level, .mountpoint = mnt,
		.flags = (o->verify_cache ? WC_VERIFY_CACHE : 0) | (o->check ? WC_CHECK : 0),
		.cafile = o->cafile ? o->cafile : "", .resolv = o->resolv ? o->resolv : "",
		.auto_root = o->auto_discover ? o->root : "",
		.cache_port = (uint32_t)o->cache_port, .master_port = (uint32_t)o->master_port,
	};
}

/* The workers' accounts: `user` for the fuser and the indexer, `user`-fetch for the fetcher (so a
 * compromised fetcher cannot touch the indexer's files); nobody when one is missing. */
static void resolve_user(struct worker *w, const char *user)
{
	char name[128];

	snprintf(name, sizeof name, "%s%s", user,
		 w->role == ROLE_FETCHER || w->role == ROLE_DEBUG ? "-fetch" :
		 w->role == ROLE_STATUS ? "-status" : "");
	if (policy_user(name, &w->uid, &w->gid) == 0)
		return;
	if (policy_user("nobody", &w->uid, &w->gid))
		die(EXIT_USAGE, "neither user %s nor nobody exists", name);
	log_warn("user %s does not exist; the %s runs as nobody (make install creates it)", name,
		 w->name);
}

/* The fetcher's fd 5: [main] ssh_key, opened here (it is root's to read) when a layer is sftp://,
 * kept for its restarts; -1 when there is none. */
static int ssh_key_fd = -1;

static void open_ssh_key(const struct rootconf *c, const char *file)
{
	if (!c->ssh_key[0])
		return;
	ssh_key_fd = open(c->ssh_key, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (ssh_key_fd < 0)
		die(EXIT_USAGE, "%s: ssh_key %s: %s", file ? file : "config", c->ssh_key,
		    strerror(errno));
}

#define WORKER(r, n) [r] = { .role = r, .name = n, .ctl = -1, .fds = { -1, -1, -1 }, .log = -1 }
static struct worker workers[ROLE_COUNT] = {
	WORKER(ROLE_FUSER, "fuser"), WORKER(ROLE_INDEXER, "indexer"), WORKER(ROLE_FETCHER, "fetcher"),
	WORKER(ROLE_STATUS, "status"), WORKER(ROLE_DEBUG, "debug"),
};

/* What each worker is given as it starts (start_workers): its fds 4 and 5 that are not channels,
 * and the configuration in force c, as aysfs-config wrote it. */
static void plan_of(struct start_plan *p, const struct rootconf *c, bool restarted)
{
	const struct start_msg conf = { MSG_CONF, c->conf, c->conf_len };

	memset(p->fds, -1, sizeof p->fds);
	p->fds[ROLE_FUSER][2] = takeover_kept_fd();
	p->fds[ROLE_FETCHER][2] = ssh_key_fd;
	sctl_fds(&p->fds[ROLE_STATUS][1]);
	memset(p->msgs, 0, sizeof p->msgs);
	p->msgs[ROLE_FUSER][0] = (struct start_msg){ MSG_FUSER_CONF, c->fconf, FUSER_CONF_LEN };
	p->msgs[ROLE_INDEXER][0] = p->msgs[ROLE_FETCHER][0] = p->msgs[ROLE_STATUS][0] = conf;
	p->msgs[ROLE_FETCHER][1] = (struct start_msg){ MSG_S3, c->s3, c->s3_len };
	p->msgs[ROLE_DEBUG][0] = (struct start_msg){ MSG_DEBUG_CONF, c->dconf, c->dconf_len };
	for (int r = 0; r < ROLE_COUNT; r++)
		p->restarted[r] = restarted && r != ROLE_DEBUG;
}

static void stop_workers(void)
{
	struct timespec ts = { 0, 20 * 1000 * 1000 };

	for (int i = 0; i < ROLE_COUNT; i++) {
		if (workers[i].ctl >= 0)
			close(workers[i].ctl);
		if (workers[i].pid > 0)
			kill(workers[i].pid, SIGTERM);
	}
	/* Two seconds of grace, then SIGKILL: nothing here waits without a deadline. */
	for (int tries = 0; tries < 100; tries++) {
		bool alive = false;

		for (int i = 0; i < ROLE_COUNT; i++) {
			if (workers[i].pid > 0 && waitpid(workers[i].pid, NULL, WNOHANG) == 0)
				alive = true;
			else
				workers[i].pid = 0;
		}
		if (!alive)
			break;
		for (int i = 0; i < ROLE_COUNT; i++)
			logrelay_read(&workers[i], false);      /* their last words, while they end */
		nanosleep(&ts, NULL);
	}
	for (int i = 0; i < ROLE_COUNT; i++)
		if (workers[i].pid > 0) {
			kill(workers[i].pid, SIGKILL);
			waitpid(workers[i].pid, NULL, 0);
		}
	for (int i = 0; i < ROLE_COUNT; i++)
		logrelay_close(&workers[i]);
}

/* Did the fetcher, which exited with status `ws`, follow its indexer out? It exits 0 when its only
 * peer closes the channel, which the indexer's files do before it can be reaped: an indexer with
 * many threads may still be ending when the fetcher is reaped. Waits 100 ms at most, without
 * reaping it (the loop does). */
static bool fetcher_followed_indexer(int ws)
{
	pid_t pid = workers[ROLE_INDEXER].pid;

	if (pid <= 0)
		return true;
	if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
		return false;
	for (int i = 0; i < 50; i++) {
		siginfo_t si = { 0 };

		if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid)
			return true;
		nanosleep(&(struct timespec){ .tv_nsec = 2000000 }, NULL);
	}
	return false;
}

static void describe_exit(const struct worker *w, int status, char *buf, size_t len)
{
	char name[64];

	if (WIFEXITED(status))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS && w->refused_known)
		snprintf(buf, len, "was killed by its seccomp filter (SIGSYS) for system call %s (%d)",
			 seccomp_syscall_name(w->refused_arch, w->refused_nr, name, sizeof name),
			 w->refused_nr);
	else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS)
		snprintf(buf, len, "was killed by its seccomp filter (SIGSYS)");
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "was killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		snprintf(buf, len, "stopped (status 0x%x)", status);
}

/* What main's phases share: the command line, the configuration in force, the mountpoint, and the
 * loop's state. */
static struct {
	struct options o;
	struct rootconf cfg;
	char mnt[PATH_MAX];
	int sfd, status;
	bool ready, stopping;
	time_t ready_deadline;
	int64_t watchdog_ms, watchdog_at, changed_at;
} S;

/* Read the configuration again and hand it to the indexer, which builds the new tree (and keeps
 * the old one when that fails). A configuration that does not load changes nothing. The encoded
 * configuration becomes what restarted workers get. */
/* A reload sent to the indexer once it has been restarted (see reload()). */
static bool reload_after_restart;

static int reload(char *why, size_t whysz)
{
	static struct rootconf next;
	struct rootconf *cfg = &S.cfg;
	const struct options *o = &S.o;
	struct config_req q;
	char err[1024];

	config_req_from(&q, o, S.mnt);
	/* aysfs-config runs as the workers' user, resolved at start-up (root looks up no account
	 * later: its seccomp filter is on by then). */
	if (config_read(o->config, o->config_given, workers[ROLE_INDEXER].uid,
			workers[ROLE_INDEXER].gid, o->log_level, &q, &next, err,
			sizeof err)) {
		log_err("reload: %s; the tree being served is kept", err);
		snprintf(why, whysz, "%s; the tree being served is kept", err);
		return -1;
	}
	/* Debug mode is the mount's, decided at start-up: the fuser and the debug worker keep the
	 * configuration they started with as far as [debug] goes. */
	if (!next.dconf_len != !cfg->dconf_len ||
	    (next.dconf_len && memcmp(next.dconf, cfg->dconf, next.dconf_len))) {
		log_warn("reload: a change of [debug] takes effect at the next start");
		memcpy(next.dconf, cfg->dconf, cfg->dconf_len);
		next.dconf_len = cfg->dconf_len;
		memcpy(next.fconf, cfg->fconf, sizeof next.fconf);
	}
	/* The indexer's file access is fixed at its start (Landlock): new folders need a new
	 * indexer, started with the new configuration, which takes the served tree from the fuser
	 * as the base of this reload (unchanged paths keep their inode numbers). */
	if (workers[ROLE_INDEXER].pid > 0 && next.folders != cfg->folders) {
		log_notice("reload: the indexer's folders change: it is restarted with them");
		workers[ROLE_INDEXER].planned = true;
		reload_after_restart = true;
		kill(workers[ROLE_INDEXER].pid, SIGKILL);
		*cfg = next;
		return 0;
	}
	if (workers[ROLE_FETCHER].ctl >= 0 &&
	    worker_send(&workers[ROLE_FETCHER], MSG_S3, 0, next.s3, next.s3_len, NULL, 0))
		log_err("reload: the fetcher cannot be told the s3:// layers' settings");
	if (workers[ROLE_INDEXER].ctl < 0 ||
	    worker_send(&workers[ROLE_INDEXER], MSG_CONF, 0, next.conf, next.conf_len, NULL, 0)) {
		log_err("reload: the indexer is not there; try again");
		snprintf(why, whysz, "the indexer is not there right now; try again");
		return -1;
	}
	*cfg = next;
	return 0;
}

/* A reload, told to systemd and to aysfs-ctl status. */
static int reload_now(char *why, size_t whysz)
{
	int rc;

	notify_reload(true, NULL);
	rc = reload(why, whysz);
	if (rc) {
		sctl_tree_fail(why);    /* aysfs-ctl status shows it */
		notify_reload(false, why);
	}
	return rc;
}

/* The configuration at start-up, for the mountpoint mnt. Returns 0, or -1 (logged). */
static int read_config(const struct options *o, const char *mnt, struct rootconf *cfg)
{
	struct config_req q;
	char err[1024];
	uid_t uid;
	gid_t gid;

	if (policy_user("aysfs", &uid, &gid) && policy_user("nobody", &uid, &gid)) {
		log_crit("%sneither user aysfs nor nobody exists to read %s", o->check ? "check: " : "",
			 o->config);
		return -1;
	}
	config_req_from(&q, o, mnt);
	if (config_read(o->config, o->config_given, uid, gid, o->log_level, &q, cfg, err, sizeof err)) {
		log_crit("%s%s", o->check ? "check: " : "", err);
		return -1;
	}
	return 0;
}

/* -check: nothing is mounted, made or cleared. What root sees (the configuration's warnings, the
 * workers' accounts, the mountpoint), then what the indexer sees with the fetcher (the cache and
 * state folders, each layer and its flists: indexer/check.c). One line per finding; 0 or 1. */
static int check_main(const struct options *o, struct rootconf *cfg, const char *file)
{
	int problems = cfg->warnings ? 1 : 0, st = 0;
	struct start_plan plan;
	char mnt[PATH_MAX], up[PATH_MAX + 4], name[128];
	struct stat a, b;
	uid_t uid;
	gid_t gid;

	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof name, "%s%s", cfg->user,
			 (const char *[]){ "", "-fetch", "-status" }[i]);
		if (policy_user(name, &uid, &gid) && ++problems)
			log_err("check: user %s does not exist (make install creates it)", name);
	}
	if (!realpath(o->mountpoint, mnt) || stat(mnt, &a) || !S_ISDIR(a.st_mode)) {
		log_err("check: mountpoint %s: %s", o->mountpoint, errno ? strerror(errno) : "not a folder");
		snprintf(mnt, sizeof mnt, "%s", o->mountpoint);
		problems++;
	} else if (snprintf(up, sizeof up, "%s/..", mnt), strcmp(mnt, "/") && stat(up, &b) == 0 &&
		   a.st_dev != b.st_dev) {
		log_err("check: mountpoint %s: something is mounted there already", mnt);
		problems++;
	} else if (mount_not_empty(mnt, false) && ++problems) {
		log_err("check: mountpoint %s is not empty: the mount would hide what is there", mnt);
	}
	for (int i = ROLE_INDEXER; i <= ROLE_FETCHER; i++) {
		resolve_user(&workers[i], cfg->user);
		if (spawn_open_exe(&workers[i]))
			return EXIT_USAGE;
	}
	open_ssh_key(cfg, file);
	/* No fuser: the indexer's fd 4 is none. */
	plan_of(&plan, cfg, false);
	if (start_workers(workers, 1u << ROLE_INDEXER | 1u << ROLE_FETCHER, &plan, o->log_level))
		return EXIT_USAGE;
	/* Each of the indexer's questions to the fetcher has its deadline, so it ends. What both
	 * say is relayed meanwhile: the check's findings are the indexer's lines. */
	while (waitpid(workers[ROLE_INDEXER].pid, &st, WNOHANG) == 0)
		logrelay_poll(workers, ROLE_COUNT, 100);
	kill(workers[ROLE_FETCHER].pid, SIGTERM);
	waitpid(workers[ROLE_FETCHER].pid, NULL, 0);
	logrelay_close(&workers[ROLE_INDEXER]);
	logrelay_close(&workers[ROLE_FETCHER]);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		problems++;
	if (problems)
		log_err("check: problems found (each is a line above)");
	else
		log_notice("check: no problem found");
	return problems ? EXIT_USAGE : 0;
}

/* Until the workers start: the command line, the configuration, the mountpoint cleared of a stale
 * mount, the control socket, the binaries, the cache folders, the capabilities root keeps and the
 * launcher. Returns -1 to go on, else the exit status (-check, a configuration error). */
static int start_up(int argc, char **argv)
{
	char real[PATH_MAX];
	int rc;

	log_init("supervisor", LOG_INFO | LOG_NOWAIT | (log_to_journal() ? 0 : LOG_STAMP));
	/* A log reader that went away costs log lines, not the mount (the workers inherit this). */
	signal(SIGPIPE, SIG_IGN);
	parse_args(argc, argv, &S.o);
	log_init("supervisor", S.o.log_level);
	if (S.o.auto_discover) {
		static char root[PATH_MAX];

		if (!realpath(S.o.root, root))
			die(EXIT_USAGE, "-root %s: %s", S.o.root, strerror(errno));
		S.o.root = root;
	}
	if (geteuid() != 0)
		die(EXIT_MOUNT, "must run as root to mount and to start the workers as their users");
	/* An explicit -config must exist; the default config.toml only when it does. It is parsed
	 * by aysfs-config, as the default workers' user: root parses no TOML. The workers are told
	 * the mountpoint resolved: read again if it resolves otherwise once a stale mount is gone. */
	if (!realpath(S.o.mountpoint, S.mnt))
		snprintf(S.mnt, sizeof S.mnt, "%s", S.o.mountpoint);
	if (read_config(&S.o, S.mnt, &S.cfg))
		return EXIT_USAGE;
	if (S.o.check)
		return check_main(&S.o, &S.cfg, config_path(&S.o));
	if (mount_clear_stale(S.o.mountpoint) || !realpath(S.o.mountpoint, real))
		die(EXIT_MOUNT, "mountpoint %s: %s", S.o.mountpoint, strerror(errno ? errno : ENOTDIR));
	if (strcmp(real, S.mnt)) {
		snprintf(S.mnt, sizeof S.mnt, "%s", real);
		if (read_config(&S.o, S.mnt, &S.cfg))
			return EXIT_USAGE;
	}
	{
		static const struct sctl_ops ctl_ops = { .reload = reload_now, .workers = workers };
		static struct sctl_ops ops;

		ops = ctl_ops;
		ops.config = config_path(&S.o);
		rc = sctl_open(S.mnt, &ops);
		if (rc == -EADDRINUSE)
			die(EXIT_MOUNT, "%s is already served by another aysfs-supervisor", S.mnt);
		if (rc)
			log_warn("no control socket (aysfs-ctl will not reach this mount): %s",
				 strerror(-rc));
		if (S.o.pprof_addr && (rc = sctl_open_http(S.o.pprof_addr)))
			die(EXIT_USAGE, "-pprof-addr %s: %s", S.o.pprof_addr, strerror(-rc));
	}
	/* A mount with [debug] is served by the fuser that has its write handlers. Debug mode (SPEC
	 * §7) is decided here, with the mount: a reload keeps the [debug] it started with. */
	if (S.cfg.dconf_len)
		workers[ROLE_FUSER].exe = "fuser-debug";
	for (int i = 0; i < ROLE_COUNT; i++) {
		if (i == ROLE_DEBUG && !S.cfg.dconf_len)
			continue;
		resolve_user(&workers[i], S.cfg.user);
		if (spawn_open_exe(&workers[i]))
			return EXIT_USAGE;
	}
	if (S.cfg.dconf_len) {
		mount_read_write(true);
		log_notice("debug mode: the mount is read-write; paths the [debug] filter matches are "
			   "written into Redis, every other path stays read-only");
	}
	cachedir_prepare("cache_dir", S.cfg.cache_dir, S.cfg.namespace, 0750,
			 workers[ROLE_INDEXER].uid, workers[ROLE_INDEXER].gid);
	cachedir_prepare("state_dir", S.cfg.state_dir, NULL, 0700, workers[ROLE_INDEXER].uid,
			 workers[ROLE_INDEXER].gid);
	open_ssh_key(&S.cfg, config_path(&S.o));
	if (policy_supervisor_caps())
		die(EXIT_MOUNT, "cannot drop the supervisor's capabilities to the five it keeps");
	if ((rc = spawn_launcher_start()))
		die(EXIT_MOUNT, "cannot start the launcher: %s", strerror(-rc));
	return -1;
}

/* The signals root takes (through a signalfd), the mount, the workers with their channels, then
 * root's own seccomp filter. */
static void mount_and_start(void)
{
	struct start_plan plan;
	int fuse_fd;
	sigset_t sigs;

	sigemptyset(&sigs);
	for (size_t i = 0; i < 5; i++)
		sigaddset(&sigs, (int[]){ SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGCHLD }[i]);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	S.sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	if (S.sfd < 0)
		die(EXIT_MOUNT, "signalfd: %s", strerror(errno));

	mount_not_empty(S.mnt, true);
	fuse_fd = mount_fuse(S.mnt);
	if (fuse_fd < 0)
		die(EXIT_MOUNT, "cannot mount %s: %s", S.mnt, strerror(-fuse_fd));
	log_info("mounted %s", S.mnt);
	/* The /dev/fuse fd is kept: the connection outlives a fuser, whose successor takes it over. */
	takeover_keep_fd(fuse_fd);

	plan_of(&plan, &S.cfg, false);
	if (start_workers(workers, 1u << ROLE_FUSER | 1u << ROLE_INDEXER | 1u << ROLE_FETCHER, &plan,
			  S.o.log_level) ||
	    (S.cfg.dconf_len && start_workers(workers, 1u << ROLE_DEBUG, &plan, S.o.log_level))) {
		S.stopping = true;
		S.status = EXIT_MOUNT;
	} else if (start_workers(workers, 1u << ROLE_STATUS, &plan, S.o.log_level)) {
		log_err("no status worker: aysfs-ctl will not be answered");
	} else {
		sctl_started();
	}

	if (S.o.pidfile)
		open_pidfile(S.o.pidfile);
	sd_notify_text(NULL);   /* makes the notify socket, if any */
	/* From here on root runs under an allow-list of its own (policy/seccomp.c, docs/SECURITY.md):
	 * what is left is relaying, reaping, signalling, asking the launcher, reading the
	 * configuration file again, and the unmount. */
	seccomp_lockdown(SECCOMP_SUPERVISOR, "supervisor");
	S.ready_deadline = time(NULL) + READY_DEADLINE_S;
}

/* A message of worker i (on_worker_msg), and what it means for the mount. */
static void on_message(int i)
{
	char err[1024];
	int rc = msgs_on_worker(&workers[i]);

	if (rc == 2 && S.ready && mono_ms() >= S.changed_at + 1000) {
		/* At most once a second, whatever the indexer sends. */
		S.changed_at = mono_ms();
		log_notice("reloading: the configuration file changed");
		reload_now(err, sizeof err);
	} else if (rc == 1 && !S.ready) {
		char note[PATH_MAX + 64];

		S.ready = true;
		log_notice("serving %s", S.mnt);
		write_pidfile();
		if (snprintf(note, sizeof note, "READY=1\nSTATUS=serving %s\nMAINPID=%d", S.mnt,
			     (int)getpid()) < (int)sizeof note)
			sd_notify_text(note);
		notify_serving();
	} else if (rc < 0) {
		/* A closed or hostile channel: the worker is of no more use. Its death is handled
		 * when it is reaped. */
		if (workers[i].pid > 0)
			kill(workers[i].pid, SIGKILL);
		close(workers[i].ctl);
		workers[i].ctl = -1;
	}
}

static void on_signals(void)
{
	struct signalfd_siginfo si;
	char err[1024];

	while (read(S.sfd, &si, sizeof si) == sizeof si) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			log_notice("stopping on %s", strsignal((int)si.ssi_signo));
			S.stopping = true;
			break;
		case SIGHUP:
		case SIGUSR1:
			log_notice("reloading on %s", strsignal((int)si.ssi_signo));
			reload_now(err, sizeof err);
			break;
		}
	}
}

/* wk has just been reaped with wait status ws: why, and when it starts again (or the mount stops). */
static void on_death(struct worker *wk, int ws)
{
	struct pollfd q = { .fd = wk->ctl, .events = POLLIN };
	char why[192];
	bool followed;

	/* What it sent and wrote before it died (a refused system call) is still queued. */
	while (wk->ctl >= 0 && poll(&q, 1, 0) == 1 && msgs_on_worker(wk) >= 0)
		;
	logrelay_close(wk);
	describe_exit(wk, ws, why, sizeof why);
	wk->refused_known = false;
	wk->pid = 0;
	followed = wk->role == ROLE_FETCHER && fetcher_followed_indexer(ws);
	if (wk->ctl >= 0) {
		close(wk->ctl);
		wk->ctl = -1;
	}
	if (wk->planned) {
		log_info("the %s stopped for the reload; it starts again with the new configuration",
			 wk->name);
		wk->restart_at = mono_ms();
	} else if (followed) {
		/* It followed its only peer; the indexer's restart starts a new one. */
		log_info("the %s stopped with the indexer", wk->name);
	} else if (deaths_backoff(wk, deaths_note(wk, time(NULL)), time(NULL))) {
		log_err("the %s %s, %d deaths in its crash loop: %s; restarting it in %d s", wk->name,
			why, CRASH_LOOP_DEATHS - 1 + wk->backoff,
			wk->role == ROLE_STATUS ? "aysfs-ctl and -pprof wait" :
			"the cache is served, network layers are out of reach",
			deaths_restart_delay_ms(wk) / 1000);
		wk->restart_at = mono_ms() + deaths_restart_delay_ms(wk);
	} else if (wk->recent_deaths >= CRASH_LOOP_DEATHS) {
		log_crit("the %s %s, its %dth death within %d s: stopping", wk->name, why,
			 CRASH_LOOP_DEATHS, CRASH_LOOP_SECONDS);
		S.stopping = true;
		S.status = EXIT_WORKER;
	} else {
		log_err("the %s %s; restarting it in %d ms", wk->name, why, deaths_restart_delay_ms(wk));
		wk->restart_at = mono_ms() + deaths_restart_delay_ms(wk);
	}
	/* The status worker hears of it with the restart time decided. */
	sctl_worker_died(wk->role, followed ? "stopped with the indexer" : why, ws, wk->planned,
			 followed, wk->drained);
	wk->planned = wk->drained = false;
}

/* wk's restart is due. The indexer starts again with a new fetcher (its only peer); a new fuser
 * takes the mount over (takeover.c). */
static void restart(struct worker *wk)
{
	struct worker *f = &workers[ROLE_FETCHER];
	unsigned batch = 1u << wk->role;
	struct start_plan plan;
	bool take = false;
	int rc = 0;

	wk->restart_at = 0;
	plan_of(&plan, &S.cfg, true);
	if (wk->role == ROLE_INDEXER) {
		takeover_indexer_restarted(workers[ROLE_FUSER].pid > 0);
		if (f->pid > 0) {
			kill(f->pid, SIGKILL);
			waitpid(f->pid, NULL, 0);
			f->pid = 0;
		}
		f->restart_at = 0;
		batch |= 1u << ROLE_FETCHER;
	} else if (wk->role == ROLE_FUSER) {
		rc = takeover_prepare(workers[ROLE_INDEXER].pid > 0 && workers[ROLE_INDEXER].ctl >= 0, S.mnt, &plan.msgs[ROLE_FUSER][1],
				      &take);
		plan.fds[ROLE_FUSER][2] = takeover_kept_fd();
		plan.restarted[ROLE_FUSER] = take;
	}
	if (!rc)
		rc = start_workers(workers, batch, &plan, S.o.log_level);
	if (rc == -EAGAIN) {
		wk->restart_at = mono_ms() + 50;
		return;
	}
	if (rc) {
		S.stopping = true;
		S.status = EXIT_WORKER;
		return;
	}
	log_notice("the %s is restarted (pid %d)%s%s", wk->name, (int)wk->pid,
		   wk->role == ROLE_FUSER ? (take ? ", taking the mount over" : ", on a fresh mount") :
		   "", wk->role == ROLE_INDEXER ? ", with a new fetcher" : "");
	sctl_worker_restarted(wk->role);
	if (wk->role == ROLE_INDEXER && reload_after_restart) {
		reload_after_restart = false;
		if (worker_send(wk, MSG_CONF, 0, S.cfg.conf, S.cfg.conf_len, NULL, 0))
			log_err("reload: the new indexer cannot be asked");
	}
}

/* One turn of the loop: wait for a signal, a worker's message or a deadline, then handle them. */
static void loop_once(void)
{
	struct pollfd p[1 + 2 * ROLE_COUNT];
	int n = 0, timeout = S.ready ? -1 : 1000, ws;

	/* Wake for a restart that is due, and for systemd's watchdog. */
	for (int i = 0; i < ROLE_COUNT; i++) {
		int64_t left = workers[i].restart_at - mono_ms();

		if (workers[i].restart_at)
			timeout = left < 0 ? 0 : left < timeout || timeout < 0 ? (int)left : timeout;
	}
	if (S.watchdog_ms) {
		int64_t left = S.watchdog_at - mono_ms();

		timeout = left <= 0 ? 0 : timeout < 0 || left < timeout ? (int)left : timeout;
	}
	p[n++] = (struct pollfd){ .fd = S.sfd, .events = POLLIN };
	for (int i = 0; i < ROLE_COUNT; i++) {
		p[n++] = (struct pollfd){ .fd = workers[i].ctl, .events = POLLIN };
		p[n++] = (struct pollfd){ .fd = workers[i].log, .events = POLLIN };
	}
	if (poll(p, n, timeout) < 0 && errno != EINTR)
		die(EXIT_MOUNT, "poll: %s", strerror(errno));
	if (S.watchdog_ms && mono_ms() >= S.watchdog_at) {
		sd_notify_text("WATCHDOG=1");
		S.watchdog_at = mono_ms() + S.watchdog_ms;
	}
	if (!S.ready && time(NULL) > S.ready_deadline) {
		log_crit("the tree was not served within %d s", READY_DEADLINE_S);
		S.status = EXIT_MOUNT;
		S.stopping = true;
		return;
	}
	for (int i = 0; i < ROLE_COUNT; i++) {
		if (p[2 + 2 * i].revents)
			logrelay_read(&workers[i], false);
		if (p[1 + 2 * i].revents)
			on_message(i);
	}
	if (p[0].revents)
		on_signals();
	for (int i = 0; i < ROLE_COUNT && !S.stopping; i++) {
		struct worker *wk = &workers[i];

		if (wk->pid > 0 && waitpid(wk->pid, &ws, WNOHANG) > 0)
			on_death(wk, ws);
		if (!S.stopping && wk->pid == 0 && wk->restart_at && mono_ms() >= wk->restart_at &&
		    !(wk->role == ROLE_FETCHER && workers[ROLE_INDEXER].pid == 0))
			restart(wk);
	}
}

int main(int argc, char **argv)
{
	int rc = start_up(argc, argv);

	if (rc >= 0)
		return rc;
	S.watchdog_ms = watchdog_interval_ms();
	mount_and_start();
	while (!S.stopping)
		loop_once();
	sd_notify_text("STOPPING=1\nSTATUS=stopping");
	if ((rc = mount_remove(S.mnt)))
		log_err("cannot unmount %s: %s", S.mnt, strerror(-rc));
	stop_workers();
	takeover_close();
	sctl_close();
	if (S.o.pidfile)
		unlink(S.o.pidfile);
	log_info("stopped");
	return S.status;
}
