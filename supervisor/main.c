/* aysfs-supervisor (also installed as `aysfs`) — the privileged core.
 *
 * Reads argv and the configuration, mounts the tree, starts the three workers with the
 * privileges each needs and no more, and stays in the foreground until SIGTERM or SIGINT, when it
 * unmounts (lazily if busy), stops the workers and exits 0. It parses nothing from the network.
 *
 * Exit status (SPEC section 1): 0 clean stop; 1 usage or configuration error; 2 the mount could
 * not be made (or another supervisor serves the mountpoint); 3 a worker kept crashing (every
 * worker is restarted when it dies; the fuser's successor takes the mount over, takeover.c).
 * aysfs-ctl and -pprof are served by the status worker, root's share of it is ctl.c; the indexer
 * watches the files whose change reloads.
 */
#include "supervisor/ctl.h"
#include "supervisor/supervisor.h"
#include "supervisor/takeover.h"

#include "ipc/ctl.h"
#include "ipc/log.h"
#include "ipc/proto.h"
#include "policy/policy.h"
#include "policy/seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#define EXIT_USAGE      1
#define EXIT_MOUNT      2
#define EXIT_WORKER     3
#define READY_DEADLINE_S 60
#define CRASH_LOOP_DEATHS 5     /* deaths of one worker … */
#define CRASH_LOOP_SECONDS 60   /* … within this many seconds: exit 3 (the fetcher: back-off) */
#define BACKOFF_MAX_MS  60000   /* the fetcher's restart delay in a crash loop: 1 s doubling to this */

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

static const char usage_text[] =
	"usage: aysfs-supervisor [options] MOUNTPOINT\n"
	"Mounts the read-only tree described by flists and serves it until SIGTERM or SIGINT.\n"
	"\n"
	"  -config FILE, -c FILE  configuration (TOML); default config.toml when it exists\n"
	"  -auto                  auto-discovery of layers (ROOT/mnt/ays/..., hosts ayscache*, aysmaster*)\n"
	"                         and flists (ROOT/etc/ays/local); may be combined with -config\n"
	"  -pprof                 live status on http://127.0.0.1:6060 (/metrics, /debug/status)\n"
	"  -pprof-addr HOST:PORT  the same on another loopback address (127.x.x.x, [::1], localhost)\n"
	"  -root DIR              prefix of -auto's well-known paths (default /)\n"
	"  -resolv FILE           resolver configuration for the network process\n"
	"  -cafile FILE           CA bundle for the network process\n"
	"  -master-port N         port probed by -auto for masters (default 443)\n"
	"  -cache-port N          port probed by -auto for LAN caches (default 9990)\n"
	"  -l LEVEL               log level 0 (critical only) … 4 (info, default) … 5 (debug)\n"
	"  -pidfile FILE          write the supervisor's pid there\n"
	"  -verify-cache          re-hash the local cache at start-up and drop blobs that do not match\n"
	"  -check                 check the configuration, the workers' accounts, the cache, each layer\n"
	"                         and the mountpoint without mounting; exit 0 when nothing is wrong\n"
	"  -v                     print the version and exit\n"
	"  -h, -help              this text\n"
	"Both -name and --name spellings are accepted, and -name=value as well as -name value.\n"
	"Reload: SIGHUP, SIGUSR1, `aysfs-ctl MOUNTPOINT reload`, or a change of the config file or of\n"
	"flist_dir. Control socket for aysfs-ctl (root only): " CTL_RUN_DIR "/NAME.sock.\n"
	"Exit status: 0 clean stop, 1 usage or configuration error, 2 mount failed, 3 a worker kept\n"
	"crashing (5 deaths within 60 s).\n";

__attribute__((format(printf, 1, 2), noreturn))
static void usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "aysfs-supervisor: ERROR: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n%s", usage_text);
	exit(EXIT_USAGE);
}

static long parse_port(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end || v < 1 || v > 65535)
		usage_error("not a port number: %s", s);
	return v;
}

static void parse_args(int argc, char **argv, struct options *o)
{
	*o = (struct options){ .root = "/", .resolv = "/etc/resolv.conf", .master_port = 443,
			       .cache_port = 9990, .log_level = LOG_INFO, .config = "config.toml" };
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL;
		char name[32];
		size_t len;

		if (a[0] != '-' || a[1] == '\0') {
			if (o->mountpoint)
				usage_error("more than one mountpoint: %s", a);
			o->mountpoint = a;
			continue;
		}
		a += a[1] == '-' ? 2 : 1;
		len = strcspn(a, "=");
		if (len >= sizeof name)
			usage_error("unknown option %s", argv[i]);
		memcpy(name, a, len);
		name[len] = '\0';
		if (a[len] == '=')
			val = a + len + 1;

#define FLAG(n) (strcmp(name, n) == 0 && !val)
#define OPT(n) (strcmp(name, n) == 0 && (val || (i + 1 < argc ? (val = argv[++i]) : \
		(usage_error("option needs a value: %s", argv[i]), NULL))))
		if (FLAG("h") || FLAG("help")) {
			fputs(usage_text, stdout);
			exit(0);
		} else if (FLAG("v") || FLAG("version")) {
			printf("aysfs %s\n", AYSFS_VERSION);
			exit(0);
		} else if (FLAG("auto")) {
			o->auto_discover = true;
		} else if (FLAG("pprof")) {
			o->pprof = true;
		} else if (FLAG("check")) {
			o->check = true;
		} else if (FLAG("verify-cache")) {
			o->verify_cache = true;
		} else if (OPT("config") || OPT("c")) {
			o->config = val;
			o->config_given = true;
		} else if (OPT("pprof-addr")) {
			o->pprof_addr = val;
		} else if (OPT("root")) {
			o->root = val;
		} else if (OPT("resolv")) {
			o->resolv = val;
		} else if (OPT("cafile")) {
			o->cafile = val;
		} else if (OPT("master-port")) {
			o->master_port = parse_port(val);
		} else if (OPT("cache-port")) {
			o->cache_port = parse_port(val);
		} else if (OPT("pidfile")) {
			o->pidfile = val;
		} else if (OPT("l")) {
			char *end;

			o->log_level = (int)strtol(val, &end, 10);
			if (*val == '\0' || *end || o->log_level < 0 || o->log_level > 5)
				usage_error("log level must be 0 to 5: %s", val);
		} else {
			usage_error("unknown option %s", argv[i]);
		}
#undef FLAG
#undef OPT
	}
	if (!o->mountpoint)
		usage_error("%s", "no mountpoint given");
	/* Say so rather than run without a feature the operator asked for. */
	if (o->pprof && !o->pprof_addr)
		o->pprof_addr = "127.0.0.1:6060";
	if (o->pprof_addr) {
		struct sockaddr_storage ss;
		socklen_t sl;
		int prc = sctl_pprof_parse(o->pprof_addr, &ss, &sl);

		if (prc)
			usage_error("-pprof-addr %s: %s", o->pprof_addr, prc == -EADDRNOTAVAIL ?
				    "not a loopback address (the status server is for this host only)" :
				    "not HOST:PORT");
	}
}

static const char *config_path(const struct options *o)
{
	return o->config_given || access(o->config, F_OK) == 0 ? o->config : NULL;
}

/* What the command line says of the workers' configuration (aysfs-config writes it). */
static void config_req_from(struct config_req *q, const struct options *o, const char *mnt)
{
	static char file[PATH_MAX];
	const char *path = config_path(o);
	char cwd[PATH_MAX];

	/* The indexer watches it (it has another working folder): absolute, symlinks kept. */
	file[0] = '\0';
	if (path && path[0] == '/')
		snprintf(file, sizeof file, "%s", path);
	else if (path && getcwd(cwd, sizeof cwd) &&
		 snprintf(file, sizeof file, "%s/%s", cwd, path) >= (int)sizeof file)
		file[0] = '\0';
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
 * and kept for restarts; -1 when there is none. */
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

/* The fetcher's MSG_S3 (ipc/proto.h), after each of its MSG_CONF and at reloads. */
static int send_s3(const struct worker *f, const struct rootconf *c)
{
	return worker_send(f, MSG_S3, 0, c->s3, c->s3_len, NULL, 0);
}

/* Written as root in a folder others may write (/run, /tmp): never through a symlink. */
static void write_pidfile(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0644);
	char line[24];
	int n = snprintf(line, sizeof line, "%d\n", (int)getpid());

	if (fd < 0 || write(fd, line, (size_t)n) != n || close(fd))
		log_warn("cannot write pid file %s: %s", path, strerror(errno));
}

/* Readiness and status the systemd way: one datagram to $NOTIFY_SOCKET ("@name" is abstract). */
static void sd_notify_text(const char *text)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len;
	int fd;

	if (!path || (path[0] != '/' && path[0] != '@') || (len = strlen(path)) >= sizeof sa.sun_path)
		return;
	memcpy(sa.sun_path, path, len);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, text, strlen(text), MSG_NOSIGNAL, (struct sockaddr *)&sa,
		   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0)
		log_warn("cannot notify %s: %s", path, strerror(errno));
	close(fd);
}

/* A reload the systemd way: RELOADING=1 (with the time, as systemd 253 and later want it) as it
 * starts, READY=1 once the indexer answered with a tree or a failure (on_worker_msg) or the
 * reload failed before reaching it; only once serving. */
static bool notify_serving, notify_reload_pending;

static void notify_reload(bool start, const char *status)
{
	char note[1200];
	struct timespec ts;

	if (!notify_serving || start == notify_reload_pending)
		return;
	notify_reload_pending = start;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (start)
		snprintf(note, sizeof note, "RELOADING=1\nMONOTONIC_USEC=%lld",
			 (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
	else
		snprintf(note, sizeof note, "READY=1\nSTATUS=%.1100s", status);
	sd_notify_text(note);
}

/* systemd's watchdog: the main loop sends WATCHDOG=1 every half of WATCHDOG_USEC, so a loop that
 * stops turning stops the pings. 0 when not asked, or asked of another process (WATCHDOG_PID). */
static int64_t watchdog_interval_ms(void)
{
	const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	long long us = usec ? strtoll(usec, NULL, 10) : 0;

	if (us <= 0 || (pid && strtoll(pid, NULL, 10) != (long long)getpid()))
		return 0;
	return us < 2000 ? 1 : us / 2000 > 3600000 ? 3600000 : us / 2000;
}

static struct worker workers[ROLE_COUNT] = {
	[ROLE_FUSER] = { .role = ROLE_FUSER, .name = "fuser" },
	[ROLE_INDEXER] = { .role = ROLE_INDEXER, .name = "indexer" },
	[ROLE_FETCHER] = { .role = ROLE_FETCHER, .name = "fetcher" },
	[ROLE_STATUS] = { .role = ROLE_STATUS, .name = "status" },
	[ROLE_DEBUG] = { .role = ROLE_DEBUG, .name = "debug", .ctl = -1, .fds = { -1, -1, -1 } },
};

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
			return;
		nanosleep(&ts, NULL);
	}
	for (int i = 0; i < ROLE_COUNT; i++)
		if (workers[i].pid > 0) {
			kill(workers[i].pid, SIGKILL);
			waitpid(workers[i].pid, NULL, 0);
		}
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

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Record a death; true when it makes a crash loop (CRASH_LOOP_DEATHS within CRASH_LOOP_SECONDS). */
static bool note_death(struct worker *w, time_t now)
{
	int recent = 0;

	w->deaths[w->ndeaths++ % CRASH_LOOP_DEATHS] = now;
	for (int i = 0; i < CRASH_LOOP_DEATHS && i < w->ndeaths; i++)
		recent += now - w->deaths[i] < CRASH_LOOP_SECONDS;
	w->recent_deaths = recent;
	return recent >= CRASH_LOOP_DEATHS;
}

/* The fetcher in a crash loop is no reason to stop: whatever crashes it from the network would
 * take the cached tree down too, which SPEC section 6 keeps serving offline. So it is restarted
 * with a back-off instead, until it has run CRASH_LOOP_SECONDS without dying. The status worker
 * likewise: any local user reaches it through -pprof. True when w backs off. */
static bool fetcher_backoff(struct worker *w, bool loop, time_t now)
{
	if (w->role != ROLE_FETCHER && w->role != ROLE_STATUS)
		return false;
	if (w->backoff && now - w->started >= CRASH_LOOP_SECONDS)
		w->backoff = 0;
	if (loop || w->backoff)
		w->backoff++;
	return w->backoff > 0;
}

/* 100 ms after a first death, doubling with each recent one, never over a second; a fetcher that
 * backs off: 1 s, doubling with each death of its crash loop, up to BACKOFF_MAX_MS. */
static int restart_delay_ms(const struct worker *w)
{
	int d = 100 << (w->recent_deaths > 1 ? w->recent_deaths - 1 : 0);

	if (w->backoff)
		return w->backoff > 7 ? BACKOFF_MAX_MS :
		       (1000 << (w->backoff - 1)) > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : 1000 << (w->backoff - 1);
	return d > 1000 ? 1000 : d;
}

/* A new fetcher with new channels; the indexer is handed its end and sends again what waited. */
static int restart_fetcher(struct worker *f, struct worker *idx, const struct rootconf *c,
			   int log_level)
{
	int sp[2], ip[2], rc;
	uint8_t peer[4];
	struct ipc_wr w;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp))
		return -errno;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ip)) {
		close(sp[0]);
		close(sp[1]);
		return -errno;
	}
	f->ctl = sp[0];
	f->fds[0] = sp[1];
	f->fds[1] = ip[1];
	f->fds[2] = ssh_key_fd;
	rc = spawn_worker(f, log_level, true);
	close(sp[1]);
	close(ip[1]);
	if (!rc)
		rc = worker_send(f, MSG_CONF, 0, c->conf, c->conf_len, NULL, 0);
	if (!rc)
		rc = send_s3(f, c);
	ipc_wr_init(&w, peer, sizeof peer);
	ipc_wr_u32(&w, PEER_FETCHER);
	if (!rc && idx->ctl >= 0)
		rc = worker_send(idx, MSG_PEER, 0, peer, w.len, &ip[0], 1);
	close(ip[0]);
	if (rc)
		log_crit("cannot restart the %s: %s", f->name, strerror(-rc));
	else
		log_notice("the %s is restarted (pid %d)", f->name, (int)f->pid);
	return rc;
}

/* A new indexer, and with it a new fetcher (whose only peer it is): fresh channels for both; the
 * fuser is handed its end and asks again for every blob still pending. */
static int restart_indexer(struct worker *idx, struct worker *f, struct worker *fuser,
			   const struct rootconf *c, int log_level)
{
	int si[2], sf[2], fi[2], xf[2], rc;
	uint8_t peer[4];
	struct ipc_wr w;

	if (f->pid > 0) {
		kill(f->pid, SIGKILL);
		waitpid(f->pid, NULL, 0);
		f->pid = 0;
	}
	f->restart_at = 0;
	if (f->ctl >= 0)
		close(f->ctl);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, si) ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sf) ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fi) ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, xf))
		return -errno;   /* fds of a failed start do not matter: the mount stops */
	idx->ctl = si[0];
	memcpy(idx->fds, (int[]){ si[1], fi[1], xf[0] }, sizeof idx->fds);
	f->ctl = sf[0];
	memcpy(f->fds, (int[]){ sf[1], xf[1], ssh_key_fd }, sizeof f->fds);
	rc = spawn_worker(idx, log_level, true);
	if (!rc)
		rc = spawn_worker(f, log_level, true);
	close(si[1]);
	close(fi[1]);
	close(xf[0]);
	close(sf[1]);
	close(xf[1]);
	if (!rc)
		rc = worker_send(idx, MSG_CONF, 0, c->conf, c->conf_len, NULL, 0);
	if (!rc)
		rc = worker_send(f, MSG_CONF, 0, c->conf, c->conf_len, NULL, 0);
	if (!rc)
		rc = send_s3(f, c);
	ipc_wr_init(&w, peer, sizeof peer);
	ipc_wr_u32(&w, PEER_INDEXER);
	if (!rc && fuser->ctl >= 0)
		rc = worker_send(fuser, MSG_PEER, 0, peer, w.len, &fi[0], 1);
	close(fi[0]);
	if (rc)
		log_crit("cannot restart the %s: %s", idx->name, strerror(-rc));
	else
		log_notice("the %s is restarted (pid %d), with a new %s (pid %d)", idx->name,
			   (int)idx->pid, f->name, (int)f->pid);
	return rc;
}

/* Read the configuration again and hand it to the indexer, which builds the new tree (and keeps
 * the old one when that fails). A configuration that does not load changes nothing. The encoded
 * configuration becomes what restarted workers get. */
/* A reload sent to the indexer once it has been restarted (see reload()). */
static bool reload_after_restart;

static int reload(const struct options *o, struct rootconf *cfg, const char *mnt, char *why,
		  size_t whysz)
{
	static struct rootconf next;
	struct config_req q;
	char err[1024];

	config_req_from(&q, o, mnt);
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
	if (workers[ROLE_FETCHER].ctl >= 0 && send_s3(&workers[ROLE_FETCHER], &next))
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

/* What a reload needs, for the reloads that do not come from the main loop's own variables
 * (aysfs-ctl, the file watcher). */
static struct {
	const struct options *o;
	struct rootconf *cfg;
	const char *mnt;
} reload_ctx;


/* A reload, told to systemd and to aysfs-ctl status. */
static int reload_now(char *why, size_t whysz)
{
	int rc;

	notify_reload(true, NULL);
	rc = reload(reload_ctx.o, reload_ctx.cfg, reload_ctx.mnt, why, whysz);
	if (rc) {
		sctl_tree_fail(why);    /* aysfs-ctl status shows it */
		notify_reload(false, why);
	}
	return rc;
}

/* Debug mode (SPEC §7) is decided at start-up, with the mount: a reload that adds or drops
 * [debug] changes neither (a restarted fuser must match the mount and the debug worker). */
static bool debug_mode;

/* Messages from a worker: only the types of proto_supervisor_from_worker; anything else, or a
 * malformed one, is a hostile worker. Returns 1 when the fuser reported ready, 2 when the indexer saw the configuration file change, 0 otherwise, -1 on
 * a protocol violation or a closed channel. */
static int on_worker_msg(struct worker *w)
{
	static struct ipc_msg m;
	struct ipc_rd r;
	int rc = ipc_recv(w->ctl, proto_supervisor_from_worker, proto_supervisor_from_worker_n, &m);

	if (rc == -EAGAIN)
		return 0;
	if (rc <= 0) {
		if (rc < 0)
			log_err("%s sent a malformed message: %s", w->name, strerror(-rc));
		return -1;
	}
	ipc_rd_init(&r, m.payload, m.hdr.len);
	switch (m.hdr.type) {
	case MSG_READY:
		return w->role == ROLE_FUSER ? 1 : 0;
	case MSG_CONFIG_CHANGED:
		return w->role == ROLE_INDEXER ? 2 : -1;
	case MSG_TREE_DONE: {
		uint64_t gen = ipc_rd_u64(&r), entries = ipc_rd_u64(&r);
		uint32_t ok = ipc_rd_u32(&r), bad = ipc_rd_u32(&r);

		if (!ipc_rd_done(&r) || w->role != ROLE_INDEXER)
			return -1;
		log_info("tree generation %llu: %llu entries from %u services (%u rejected)",
			 (unsigned long long)gen, (unsigned long long)entries, ok, bad);
		sctl_tree_done(gen, entries, ok, bad);
		notify_reload(false, "serving the new tree");
		return 0;
	}
	case MSG_TREE_FAIL: {
		char why[1025];

		if (!ipc_rd_cstr(&r, why, sizeof why) || !ipc_rd_done(&r) || w->role != ROLE_INDEXER)
			return -1;
		log_err("the indexer could not build the tree: %s", why);
		sctl_tree_fail(why);
		notify_reload(false, why);
		return 0;
	}
	case MSG_CTL_REPLY:
	case MSG_RELAY:
	case MSG_ST_RELOAD:
		return sctl_on_msg(w, &m);
	case MSG_FUSE_INIT:
		if (w->role != ROLE_FUSER)
			return -1;
		takeover_note_init(m.payload, m.hdr.len);
		return 0;
	case MSG_SYSCALL:
		/* Sent by the worker's SIGSYS handler as it dies; only ever used in the log line. */
		w->refused_arch = ipc_rd_u32(&r);
		w->refused_nr = (int)ipc_rd_u32(&r);
		if (!ipc_rd_done(&r) || w->refused_nr < 0)
			return -1;
		w->refused_known = true;
		return 0;
	}
	return -1;
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
	int problems = cfg->warnings ? 1 : 0, p[3][2], st = 0;
	char mnt[PATH_MAX], up[PATH_MAX + 4], name[128];
	struct stat a, b;
	uid_t uid;
	gid_t gid;
	DIR *d;

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
	} else if ((d = opendir(mnt))) {
		int n = 0;

		while (readdir(d) && n <= 2)
			n++;
		closedir(d);
		if (n > 2 && ++problems)
			log_err("check: mountpoint %s is not empty: the mount would hide what is there", mnt);
	}
	for (int i = ROLE_INDEXER; i <= ROLE_FETCHER; i++) {
		resolve_user(&workers[i], cfg->user);
		if (spawn_open_exe(&workers[i]))
			return EXIT_USAGE;
	}
	open_ssh_key(cfg, file);
	/* 0: supervisor ↔ indexer, 1: supervisor ↔ fetcher, 2: indexer ↔ fetcher; no fuser. */
	for (int i = 0; i < 3; i++)
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, p[i]))
			die(EXIT_USAGE, "socketpair: %s", strerror(errno));
	workers[ROLE_INDEXER].ctl = p[0][0];
	workers[ROLE_FETCHER].ctl = p[1][0];
	memcpy(workers[ROLE_INDEXER].fds, (int[]){ p[0][1], -1, p[2][0] }, sizeof(int[3]));
	memcpy(workers[ROLE_FETCHER].fds, (int[]){ p[1][1], p[2][1], ssh_key_fd }, sizeof(int[3]));
	for (int i = ROLE_INDEXER; i <= ROLE_FETCHER; i++)
		if (spawn_worker(&workers[i], o->log_level, false) ||
		    ipc_send(p[i - ROLE_INDEXER][0], MSG_CONF, 0, cfg->conf, cfg->conf_len, NULL, 0) ||
		    (i == ROLE_FETCHER && ipc_send(p[1][0], MSG_S3, 0, cfg->s3, cfg->s3_len, NULL, 0)))
			die(EXIT_USAGE, "cannot start the %s", workers[i].name);
	for (int i = 0; i < 3; i++)
		close(p[i][1]);
	close(p[2][0]);
	/* Each of the indexer's questions to the fetcher has its deadline, so it ends. */
	waitpid(workers[ROLE_INDEXER].pid, &st, 0);
	kill(workers[ROLE_FETCHER].pid, SIGTERM);
	waitpid(workers[ROLE_FETCHER].pid, NULL, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		problems++;
	if (problems)
		log_err("check: problems found (each is a line above)");
	else
		log_notice("check: no problem found");
	return problems ? EXIT_USAGE : 0;
}

int main(int argc, char **argv)
{
	struct options o;
	static struct rootconf cfg;
	char err[1024], mnt[PATH_MAX], real[PATH_MAX];
	int pairs[5][2], fuse_fd, sfd, rc, status = 0;
	sigset_t sigs;
	bool ready = false, stopping = false;
	time_t ready_deadline;
	int64_t watchdog_ms = watchdog_interval_ms(), watchdog_at = 0, changed_at = 0;

	log_init("supervisor", LOG_INFO | (log_to_journal() ? 0 : LOG_STAMP));
	/* A log reader that went away costs log lines, not the mount (the workers inherit this). */
	signal(SIGPIPE, SIG_IGN);
	parse_args(argc, argv, &o);
	log_init("supervisor", o.log_level);
	if (o.auto_discover) {
		static char root[PATH_MAX];

		if (!realpath(o.root, root))
			die(EXIT_USAGE, "-root %s: %s", o.root, strerror(errno));
		o.root = root;
	}

	if (geteuid() != 0)
		die(EXIT_MOUNT, "must run as root to mount and to start the workers as their users");
	/* An explicit -config must exist; the default config.toml only when it does. It is parsed
	 * by aysfs-config, as the default workers' user: root parses no TOML. The workers are told
	 * the mountpoint resolved: read again if it resolves otherwise once a stale mount is gone. */
	if (!realpath(o.mountpoint, mnt))
		snprintf(mnt, sizeof mnt, "%s", o.mountpoint);
	if (read_config(&o, mnt, &cfg))
		return EXIT_USAGE;
	if (o.check)
		return check_main(&o, &cfg, config_path(&o));
	if (mount_clear_stale(o.mountpoint) || !realpath(o.mountpoint, real))
		die(EXIT_MOUNT, "mountpoint %s: %s", o.mountpoint, strerror(errno ? errno : ENOTDIR));
	if (strcmp(real, mnt)) {
		snprintf(mnt, sizeof mnt, "%s", real);
		if (read_config(&o, mnt, &cfg))
			return EXIT_USAGE;
	}
	{
		static const struct sctl_ops ctl_ops = { .reload = reload_now, .workers = workers };
		static struct sctl_ops ops;

		ops = ctl_ops;
		ops.config = config_path(&o);
		rc = sctl_open(mnt, &ops);
		if (rc == -EADDRINUSE)
			die(EXIT_MOUNT, "%s is already served by another aysfs-supervisor", mnt);
		if (rc)
			log_warn("no control socket (aysfs-ctl will not reach this mount): %s",
				 strerror(-rc));
		if (o.pprof_addr && (rc = sctl_open_http(o.pprof_addr)))
			die(EXIT_USAGE, "-pprof-addr %s: %s", o.pprof_addr, strerror(-rc));
	}

	/* A mount with [debug] is served by the fuser that has its write handlers. */
	debug_mode = cfg.dconf_len > 0;
	if (debug_mode)
		workers[ROLE_FUSER].exe = "fuser-debug";
	for (int i = 0; i < ROLE_COUNT; i++) {
		if (i == ROLE_DEBUG && !cfg.dconf_len)
			continue;
		resolve_user(&workers[i], cfg.user);
		if (spawn_open_exe(&workers[i]))
			return EXIT_USAGE;
	}
	if (debug_mode) {
		mount_read_write(true);
		log_notice("debug mode: the mount is read-write; paths the [debug] filter matches are "
			   "written into Redis, every other path stays read-only");
	}
	cachedir_prepare("cache_dir", cfg.cache_dir, cfg.namespace, 0750, workers[ROLE_INDEXER].uid,
			 workers[ROLE_INDEXER].gid);
	cachedir_prepare("state_dir", cfg.state_dir, NULL, 0700, workers[ROLE_INDEXER].uid,
			 workers[ROLE_INDEXER].gid);
	open_ssh_key(&cfg, config_path(&o));
	if (policy_supervisor_caps())
		die(EXIT_MOUNT, "cannot drop the supervisor's capabilities to the five it keeps");
	if ((rc = spawn_launcher_start()))
		die(EXIT_MOUNT, "cannot start the launcher: %s", strerror(-rc));

	/* 0-2: supervisor ↔ fuser, indexer, fetcher; 3: fuser ↔ indexer; 4: indexer ↔ fetcher. */
	for (int i = 0; i < 5; i++)
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pairs[i]))
			die(EXIT_MOUNT, "socketpair: %s", strerror(errno));
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGUSR1);
	sigaddset(&sigs, SIGCHLD);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		die(EXIT_MOUNT, "signalfd: %s", strerror(errno));

	mount_warn_not_empty(mnt);
	fuse_fd = mount_fuse(mnt);
	if (fuse_fd < 0)
		die(EXIT_MOUNT, "cannot mount %s: %s", mnt, strerror(-fuse_fd));
	log_info("mounted %s", mnt);

	workers[ROLE_FUSER].ctl = pairs[0][0];
	workers[ROLE_INDEXER].ctl = pairs[1][0];
	workers[ROLE_FETCHER].ctl = pairs[2][0];
	memcpy(workers[ROLE_FUSER].fds, (int[]){ pairs[0][1], pairs[3][0], fuse_fd }, sizeof(int[3]));
	memcpy(workers[ROLE_INDEXER].fds, (int[]){ pairs[1][1], pairs[3][1], pairs[4][0] },
	       sizeof(int[3]));
	memcpy(workers[ROLE_FETCHER].fds, (int[]){ pairs[2][1], pairs[4][1], ssh_key_fd },
	       sizeof(int[3]));

	for (int i = 0; i < ROLE_COUNT; i++) {
		if (i == ROLE_STATUS) {
			if (sctl_start(&workers[i], cfg.conf, cfg.conf_len, o.log_level, false))
				log_err("no status worker: aysfs-ctl will not be answered");
			continue;
		}
		if (i == ROLE_DEBUG) {
			if (debug_mode &&
			    (rc = debug_start(&workers[i], &workers[ROLE_FUSER], cfg.dconf, cfg.dconf_len,
					      o.log_level))) {
				log_crit("cannot start the debug worker: %s", strerror(-rc));
				stopping = true;
				status = EXIT_MOUNT;
			}
			break;
		}
		rc = spawn_worker(&workers[i], o.log_level, false);
		if (rc) {
			log_crit("cannot start the %s: %s", workers[i].name, strerror(-rc));
			stopping = true;
			status = EXIT_MOUNT;
			break;
		}
		if (i == ROLE_FUSER ?
		    worker_send(&workers[i], MSG_FUSER_CONF, 0, cfg.fconf, FUSER_CONF_LEN, NULL, 0) :
		    worker_send(&workers[i], MSG_CONF, 0, cfg.conf, cfg.conf_len, NULL, 0) ||
		    (i == ROLE_FETCHER && send_s3(&workers[i], &cfg)))
			log_err("cannot send the configuration to the %s", workers[i].name);
	}
	/* The workers hold their ends now; ours would keep channels open after a worker died. The
	 * /dev/fuse fd is kept: the connection outlives a fuser, whose successor takes it over. */
	takeover_keep_fd(fuse_fd);
	for (int i = 0; i < 5; i++)
		close(pairs[i][1]);
	close(pairs[3][0]);
	close(pairs[4][0]);

	reload_ctx.o = &o;
	reload_ctx.cfg = &cfg;
	reload_ctx.mnt = mnt;
	ready_deadline = time(NULL) + READY_DEADLINE_S;
	while (!stopping) {
		struct pollfd p[1 + ROLE_COUNT];
		int n = 0, timeout = ready ? -1 : 1000;

		/* Wake for a restart that is due. */
		for (int i = 0; i < ROLE_COUNT; i++) {
			int64_t left = workers[i].restart_at - now_ms();

			if (workers[i].restart_at)
				timeout = left < 0 ? 0 : left < timeout || timeout < 0 ? (int)left : timeout;
		}
		p[n++] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		for (int i = 0; i < ROLE_COUNT; i++)
			p[n++] = (struct pollfd){ .fd = workers[i].ctl, .events = POLLIN };
		if (watchdog_ms) {
			int64_t left = watchdog_at - now_ms();

			timeout = left <= 0 ? 0 : timeout < 0 || left < timeout ? (int)left : timeout;
		}
		if (poll(p, n, timeout) < 0 && errno != EINTR)
			die(EXIT_MOUNT, "poll: %s", strerror(errno));
		if (watchdog_ms && now_ms() >= watchdog_at) {
			sd_notify_text("WATCHDOG=1");
			watchdog_at = now_ms() + watchdog_ms;
		}
		if (!ready && time(NULL) > ready_deadline) {
			log_crit("the tree was not served within %d s", READY_DEADLINE_S);
			status = EXIT_MOUNT;
			break;
		}
		for (int i = 0; i < ROLE_COUNT; i++) {
			if (!p[1 + i].revents)
				continue;
			rc = on_worker_msg(&workers[i]);
			if (rc == 2 && ready && now_ms() >= changed_at + 1000) {
				/* At most once a second, whatever the indexer sends. */
				changed_at = now_ms();
				log_notice("reloading: the configuration file changed");
				reload_now(err, sizeof err);
			} else if (rc == 1 && !ready) {
				ready = true;
				log_notice("serving %s", mnt);
				if (o.pidfile)
					write_pidfile(o.pidfile);
				char note[PATH_MAX + 64];

				if (snprintf(note, sizeof note, "READY=1\nSTATUS=serving %s\nMAINPID=%d", mnt,
					     (int)getpid()) < (int)sizeof note)
					sd_notify_text(note);
				notify_serving = true;
			} else if (rc < 0) {
				/* A closed or hostile channel: the worker is of no more use. Its death is
				 * handled below, when it is reaped. */
				if (workers[i].pid > 0)
					kill(workers[i].pid, SIGKILL);
				close(workers[i].ctl);
				workers[i].ctl = -1;
			}
		}
		if (p[0].revents) {
			struct signalfd_siginfo si;

			while (read(sfd, &si, sizeof si) == sizeof si) {
				switch (si.ssi_signo) {
				case SIGTERM:
				case SIGINT:
					log_notice("stopping on %s", strsignal((int)si.ssi_signo));
					stopping = true;
					break;
				case SIGHUP:
				case SIGUSR1:
					log_notice("reloading on %s", strsignal((int)si.ssi_signo));
					reload_now(err, sizeof err);
					break;
				}
			}
		}
		for (int i = 0; i < ROLE_COUNT && !stopping; i++) {
			struct worker *wk = &workers[i];
			int ws;
			char why[192];
			bool followed;

			if (wk->pid > 0 && waitpid(wk->pid, &ws, WNOHANG) > 0) {
				struct pollfd q = { .fd = wk->ctl, .events = POLLIN };

				/* What it sent before it died (a refused system call) is still queued. */
				while (wk->ctl >= 0 && poll(&q, 1, 0) == 1 && on_worker_msg(wk) >= 0)
					;
				describe_exit(wk, ws, why, sizeof why);
				wk->refused_known = false;
				wk->pid = 0;
				followed = wk->role == ROLE_FETCHER && fetcher_followed_indexer(ws);
				sctl_worker_died(wk->role, followed ? "stopped with the indexer" : why, ws,
						 wk->planned, followed);
				if (wk->ctl >= 0) {
					close(wk->ctl);
					wk->ctl = -1;
				}
				if (wk->planned) {
					wk->planned = false;
					log_info("the %s stopped for the reload; it starts again with the new "
						 "configuration", wk->name);
					wk->restart_at = now_ms();
				} else if (followed) {
					/* It followed its only peer; the indexer's restart starts a new one. */
					log_info("the %s stopped with the indexer", wk->name);
				} else if (fetcher_backoff(wk, note_death(wk, time(NULL)), time(NULL))) {
					log_err("the %s %s, %d deaths in its crash loop: %s; restarting it in %d s",
						wk->name, why, CRASH_LOOP_DEATHS - 1 + wk->backoff,
						wk->role == ROLE_STATUS ? "aysfs-ctl and -pprof wait" :
						"the cache is served, network layers are out of reach",
						restart_delay_ms(wk) / 1000);
					wk->restart_at = now_ms() + restart_delay_ms(wk);
				} else if (wk->recent_deaths >= CRASH_LOOP_DEATHS) {
					log_crit("the %s %s, its %dth death within %d s: stopping", wk->name,
						 why, CRASH_LOOP_DEATHS, CRASH_LOOP_SECONDS);
					stopping = true;
					status = EXIT_WORKER;
				} else {
					log_err("the %s %s; restarting it in %d ms", wk->name, why,
						restart_delay_ms(wk));
					wk->restart_at = now_ms() + restart_delay_ms(wk);
				}
			}
			if (!stopping && wk->pid == 0 && wk->restart_at && now_ms() >= wk->restart_at &&
			    !(wk->role == ROLE_FETCHER && workers[ROLE_INDEXER].pid == 0)) {
				wk->restart_at = 0;
				if (wk->role == ROLE_INDEXER)
					takeover_indexer_restarted(workers[ROLE_FUSER].pid > 0);
				rc = wk->role == ROLE_INDEXER ?
				     restart_indexer(wk, &workers[ROLE_FETCHER], &workers[ROLE_FUSER],
						     &cfg, o.log_level) :
				     wk->role == ROLE_STATUS ?
				     sctl_start(wk, cfg.conf, cfg.conf_len, o.log_level, true) :
				     wk->role == ROLE_FUSER ?
				     takeover_restart_fuser(wk, &workers[ROLE_INDEXER], mnt, cfg.fconf,
							    FUSER_CONF_LEN, o.log_level, spawn_worker) :
				     wk->role == ROLE_DEBUG ?
				     debug_start(wk, &workers[ROLE_FUSER], cfg.dconf, cfg.dconf_len, o.log_level) :
				     restart_fetcher(wk, &workers[ROLE_INDEXER], &cfg, o.log_level);
				if (rc == -EAGAIN) {
					wk->restart_at = now_ms() + 50;
				} else if (rc) {
					stopping = true;
					status = EXIT_WORKER;
				} else {
					sctl_worker_restarted(wk->role);
					if (wk->role == ROLE_FUSER && debug_mode &&
					    debug_connect(&workers[ROLE_DEBUG], wk))
						log_err("the new fuser cannot be connected to the debug worker");
					if (wk->role == ROLE_INDEXER && reload_after_restart) {
						reload_after_restart = false;
						if (worker_send(wk, MSG_CONF, 0, cfg.conf, cfg.conf_len,
								NULL, 0))
							log_err("reload: the new indexer cannot be asked");
					}
				}
			}
		}
		sctl_flush();
	}

	sd_notify_text("STOPPING=1\nSTATUS=stopping");
	if ((rc = mount_remove(mnt)))
		log_err("cannot unmount %s: %s", mnt, strerror(-rc));
	stop_workers();
	takeover_close();
	sctl_close();
	if (o.pidfile)
		unlink(o.pidfile);
	log_info("stopped");
	return status;
}
