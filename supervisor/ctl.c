/* ctl.c — root's share of aysfs-ctl and of -pprof: it binds the sockets and hands them to the
 * status worker (aysfs-status), which serves them; it relays that worker's questions to the
 * indexer and the fetcher and their answers back, unread (MSG_RELAY, MSG_RELAY_REPLY: root checks
 * only who may send what and the frame's bounds); and it tells the status worker its own numbers
 * (MSG_ST_FACTS), written from its own variables. No text a worker wrote is parsed here.
 */
#include "supervisor/ctl.h"

#include "ipc/ctl.h"
#include "ipc/log.h"
#include "ipc/proto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LISTEN_BACKLOG 1024     /* -pprof: a flood of clients waits in the kernel's queue, not in limbo */
#define CTL_BACKLOG    8        /* aysfs-ctl: the status worker serves 8 at once */

static int listen_fd = -1, http_fd = -1;
static char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static const struct sctl_ops *ops;
static time_t started;

static struct {
	unsigned restarts;
	char last_exit[160];
	time_t at;
	uint32_t cause;                 /* of the last death (ST_CAUSE_*) */
	uint32_t by_cause[ST_CAUSES];   /* restarts, by the cause of the death before */
} wstat[ROLE_COUNT];

static struct {
	bool have;
	uint8_t numbers[TREE_DONE_LEN]; /* MSG_TREE_DONE's, unread */
	time_t at, fail_at;
	char fail[ST_WHY_MAX];
	uint32_t built, failed;         /* trees built (the first and each reload's), failed reloads */
} tree;

/* ---- the sockets -------------------------------------------------------------------------------- */

/* CTL_RUN_DIR must be root's and closed to others: created so, checked when it exists. */
static int prepare_run_dir(void)
{
	struct stat st;

	if (mkdir(CTL_RUN_DIR, 0700) && errno != EEXIST)
		return -errno;
	if (lstat(CTL_RUN_DIR, &st))
		return -errno;
	if (!S_ISDIR(st.st_mode) || st.st_uid != 0) {
		log_err("%s is not a folder owned by root; no control socket", CTL_RUN_DIR);
		return -EPERM;
	}
	if ((st.st_mode & 077) && chmod(CTL_RUN_DIR, 0700))
		return -errno;
	return 0;
}

int sctl_pprof_parse(const char *addr, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[64];
	const char *colon = strrchr(addr, ':');
	char *end;
	long port;
	size_t hl;

	if (!colon || colon == addr || (hl = (size_t)(colon - addr)) >= sizeof host)
		return -EINVAL;
	port = strtol(colon + 1, &end, 10);
	if (!colon[1] || *end || port < 1 || port > 65535)
		return -EINVAL;
	memcpy(host, addr, hl);
	host[hl] = '\0';
	if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		host[hl - 1] = '\0';
		memset(s6, 0, sizeof *s6);
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) != 1 ||
		    !IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr))
			return -EADDRNOTAVAIL;
		*len = sizeof *s6;
		return 0;
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

	memset(s4, 0, sizeof *s4);
	s4->sin_family = AF_INET;
	s4->sin_port = htons((uint16_t)port);
	if (!strcmp(host, "localhost"))
		snprintf(host, sizeof host, "127.0.0.1");
	if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
		return -EINVAL;
	if ((ntohl(s4->sin_addr.s_addr) >> 24) != 127)
		return -EADDRNOTAVAIL;
	*len = sizeof *s4;
	return 0;
}

int sctl_open_http(const char *addr)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, rc, one = 1;

	if ((rc = sctl_pprof_parse(addr, &ss, &len)))
		return rc;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&ss, len) || listen(fd, LISTEN_BACKLOG)) {
		rc = -errno;
		close(fd);
		return rc;
	}
	http_fd = fd;
	log_info("live status on http://%s/", addr);
	return 0;
}

int sctl_open(const char *mnt, const struct sctl_ops *o)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	mode_t old;
	int fd, rc;

	ops = o;
	started = time(NULL);
	if ((rc = prepare_run_dir()))
		return rc;
	if ((rc = ctl_socket_path(mnt, sock_path, sizeof sock_path)))
		return rc;
	memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);

	/* A socket that answers belongs to a live supervisor of this mountpoint; one that refuses
	 * was left by a dead one. */
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
	close(fd);
	if (rc == 0)
		return -EADDRINUSE;
	if (errno == ECONNREFUSED && unlink(sock_path) == 0)
		log_info("removed the stale control socket %s", sock_path);

	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	old = umask(0177);              /* the socket is born 0600 */
	rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
	umask(old);
	if (rc || listen(fd, CTL_BACKLOG)) {
		rc = -errno;
		close(fd);
		return rc;
	}
	listen_fd = fd;
	atexit(sctl_close);             /* a stop through die() removes it too */
	log_info("control socket %s", sock_path);
	return 0;
}

void sctl_close(void)
{
	if (listen_fd >= 0) {
		close(listen_fd);
		unlink(sock_path);
		listen_fd = -1;
	}
	if (http_fd >= 0) {
		close(http_fd);
		http_fd = -1;
	}
}

/* ---- the status worker ---------------------------------------------------------------------------- */

/* MSG_ST_FACTS, from root's own variables. */
static void push_facts(uint32_t event, uint32_t role)
{
	static uint8_t buf[ST_FACTS_MAX];
	struct ipc_wr w;
	int64_t now = mono_ms();

	if (!ops || ops->workers[ROLE_STATUS].ctl < 0)
		return;
	ipc_wr_init(&w, buf, sizeof buf);
	ipc_wr_u32(&w, event);
	ipc_wr_u32(&w, role);
	ipc_wr_u32(&w, (uint32_t)getpid());
	ipc_wr_u64(&w, (uint64_t)started);
	ipc_wr_cstr(&w, ops->config);
	ipc_wr_u32(&w, ROLE_COUNT);
	for (int r = 0; r < ROLE_COUNT; r++) {
		const struct worker *k = &ops->workers[r];

		ipc_wr_u32(&w, k->pid > 0 ? (uint32_t)k->pid : 0);
		ipc_wr_u32(&w, wstat[r].restarts);
		ipc_wr_u64(&w, (uint64_t)wstat[r].at);
		ipc_wr_cstr(&w, wstat[r].last_exit);
		ipc_wr_u64(&w, (uint64_t)(k->pid <= 0 && k->restart_at ? k->restart_at - now : -1));
		ipc_wr_u32(&w, (uint32_t)k->backoff);
		for (int c = 0; c < ST_CAUSES; c++)
			ipc_wr_u32(&w, wstat[r].by_cause[c]);
	}
	ipc_wr_u8(&w, tree.have);
	ipc_wr_bytes(&w, tree.numbers, sizeof tree.numbers);
	ipc_wr_u64(&w, (uint64_t)tree.at);
	ipc_wr_u64(&w, (uint64_t)tree.fail_at);
	ipc_wr_cstr(&w, tree.fail);
	ipc_wr_u8(&w, ops->workers[ROLE_DEBUG].exe_fd > 0);
	ipc_wr_u32(&w, tree.built);
	ipc_wr_u32(&w, tree.failed);
	if (!w.bad)
		worker_send(&ops->workers[ROLE_STATUS], MSG_ST_FACTS, 0, buf, w.len, NULL, 0);
}

void sctl_fds(int fds[2])
{
	fds[0] = listen_fd;
	fds[1] = http_fd;
}

void sctl_started(void)
{
	push_facts(ST_EV_NONE, 0);
}

/* Who a RELAY_* names. */
static const enum worker_role relay_role[] = {
	[RELAY_INDEXER] = ROLE_INDEXER, [RELAY_FETCHER] = ROLE_FETCHER, [RELAY_FUSER] = ROLE_FUSER,
	[RELAY_DEBUG] = ROLE_DEBUG,
};

/* The MSG_CTL ids root relayed to each worker and not yet answered: a MSG_CTL_REPLY must take
 * one (a reply nobody asked for kills its sender). A worker with RELAY_PENDING of them gets no
 * more until it answers; its death forgets them (the status worker is told, ST_EV_DIED). */
#define RELAY_PENDING 64
static struct {
	uint64_t id[RELAY_PENDING];
	unsigned n;
} pending[ROLE_COUNT];

static bool pending_take(enum worker_role role, uint64_t id)
{
	for (unsigned i = 0; i < pending[role].n; i++)
		if (pending[role].id[i] == id) {
			pending[role].id[i] = pending[role].id[--pending[role].n];
			return true;
		}
	return false;
}

/* Its row of the table (ipc/proto_supervisor.c) has said who may send each. */
int sctl_on_msg(struct worker *from, const struct ipc_msg *m)
{
	static uint8_t buf[IPC_MAX_PAYLOAD];
	struct ipc_wr w;
	uint32_t to, st = 0;
	char why[ST_WHY_MAX];

	switch (m->hdr.type) {
	case MSG_RELAY:         /* status → a worker, as MSG_CTL */
		memcpy(&to, m->payload, 4);
		if (to < RELAY_INDEXER || to > RELAY_LAST)
			return -1;
		if (pending[relay_role[to]].n == RELAY_PENDING ||
		    worker_send(&ops->workers[relay_role[to]], MSG_CTL, m->hdr.id, m->payload + 4,
				m->hdr.len - 4, NULL, 0)) {
			/* Not delivered: an answer without a payload says so. */
			worker_send(from, MSG_RELAY_REPLY, m->hdr.id, &to, 4, NULL, 0);
		} else {
			pending[relay_role[to]].id[pending[relay_role[to]].n++] = m->hdr.id;
		}
		return 0;
	case MSG_CTL_REPLY:     /* a worker → status, unread */
		if (!pending_take(from->role, m->hdr.id)) {
			log_err("%s sent a reply nobody asked for: killed", from->name);
			return -1;
		}
		to = from->role == ROLE_INDEXER ? RELAY_INDEXER : from->role == ROLE_FETCHER ?
		     RELAY_FETCHER : from->role == ROLE_DEBUG ? RELAY_DEBUG : RELAY_FUSER;
		memcpy(buf, &to, 4);
		memcpy(buf + 4, m->payload, m->hdr.len);        /* the table bounds it */
		worker_send(&ops->workers[ROLE_STATUS], MSG_RELAY_REPLY, m->hdr.id, buf, 4 + m->hdr.len, NULL, 0);
		return 0;
	default:                /* MSG_ST_RELOAD */
		why[0] = '\0';
		if (ops->reload(why, sizeof why))
			st = EINVAL;
		ipc_wr_init(&w, buf, sizeof buf);
		ipc_wr_u32(&w, st);
		ipc_wr_cstr(&w, st ? why : "");
		worker_send(from, MSG_ST_RELOADED, m->hdr.id, buf, w.len, NULL, 0);
		return 0;
	}
}

/* ---- from main.c ------------------------------------------------------------------------------------ */

void sctl_worker_died(enum worker_role role, const char *why, int ws, bool planned, bool followed,
		      bool drained)
{
	wstat[role].cause = planned ? ST_CAUSE_RELOAD : followed ? ST_CAUSE_PEER :
			    drained ? ST_CAUSE_DRAIN : !WIFSIGNALED(ws) ? ST_CAUSE_EXITED :
			    WTERMSIG(ws) == SIGSYS ? ST_CAUSE_SECCOMP : ST_CAUSE_SIGNAL;
	pending[role].n = 0;
	snprintf(wstat[role].last_exit, sizeof wstat[role].last_exit, "%s", why);
	wstat[role].at = time(NULL);
	push_facts(ST_EV_DIED, role);
}

void sctl_worker_restarted(enum worker_role role)
{
	wstat[role].restarts++;
	wstat[role].by_cause[wstat[role].cause]++;
	push_facts(ST_EV_NONE, 0);
}

void sctl_tree_done(const uint8_t *numbers)
{
	tree.have = true;
	memcpy(tree.numbers, numbers, sizeof tree.numbers);
	tree.at = time(NULL);
	tree.built++;
	push_facts(ST_EV_TREE_DONE, 0);
}

void sctl_tree_fail(const char *why)
{
	snprintf(tree.fail, sizeof tree.fail, "%s", why);
	tree.fail_at = time(NULL);
	tree.failed++;
	push_facts(ST_EV_TREE_FAIL, 0);
}
