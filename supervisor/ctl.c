/* ctl.c — the supervisor's control socket: aysfs-ctl's requests, answered from what the supervisor
 * knows (workers, tree) and from the workers (MSG_CTL to the indexer and the fetcher).
 *
 * A caller is served only when SO_PEERCRED says uid 0 (the socket's folder and mode already keep
 * others out; this is the second lock). A request is one datagram, parsed strictly (ipc/ctl.c);
 * the answer is one datagram, after which the connection is closed. Nothing here waits: clients
 * are non-blocking, each has a deadline, and answers from workers arrive through main.c's loop.
 * Text from a worker is untrusted: it is bounded and its control characters are replaced before
 * it reaches the caller's terminal.
 */
#include "supervisor/ctl.h"

#include "ipc/ctl.h"
#include "ipc/log.h"
#include "ipc/proto.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define READ_DEADLINE_MS   2000         /* a caller has this long to send its request */
#define WORKER_DEADLINE_MS 10000        /* a worker has this long to answer */
#define RELOAD_DEADLINE_MS 120000       /* building a large tree takes a while */
#define VERIFY_DEADLINE_MS (30 * 60 * 1000)     /* re-hashing a large cache takes longer */

struct client {
	int fd;                         /* -1: free slot */
	bool refused;                   /* not root: refused once its request is read */
	bool waiting;                   /* request parsed; waiting for workers or the tree */
	bool reload_wait;
	int64_t deadline;
	struct ctl_req req;
	uint64_t id;
	unsigned pending;               /* bit per role still to answer */
	uint32_t status[ROLE_COUNT];
	char *text[ROLE_COUNT];         /* each worker's answer (sanitised), or NULL */
};

static struct client clients[SCTL_MAX_CLIENTS];
static int slot_of[SCTL_MAX_CLIENTS];   /* pollfd entry 1 + i is clients[slot_of[i]] */
static int listen_fd = -1;
static char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static const struct sctl_ops *ops;
static char mountpoint[PATH_MAX];
static uint64_t next_id;
static time_t started;

static struct {
	unsigned restarts;
	char last_exit[160];
	time_t at;
} wstat[ROLE_COUNT];

static struct {
	bool have;
	uint64_t generation, entries;
	uint32_t services, rejected;
	time_t at, fail_at;
	char fail[SCTL_WHY_MAX];
} tree;

static const char *const role_name[ROLE_COUNT] = { "fuser", "indexer", "fetcher" };

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the socket --------------------------------------------------------------------------------- */

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

int sctl_open(const char *mnt, const struct sctl_ops *o)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	mode_t old;
	int fd, rc;

	ops = o;
	started = time(NULL);
	snprintf(mountpoint, sizeof mountpoint, "%s", mnt);
	for (int i = 0; i < SCTL_MAX_CLIENTS; i++)
		clients[i].fd = -1;
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
	if (rc || listen(fd, SCTL_MAX_CLIENTS)) {
		rc = -errno;
		close(fd);
		return rc;
	}
	listen_fd = fd;
	atexit(sctl_close);             /* a stop through die() removes it too */
	log_info("control socket %s", sock_path);
	return 0;
}

static void client_free(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	for (int r = 0; r < ROLE_COUNT; r++)
		free(c->text[r]);
	memset(c, 0, sizeof *c);
	c->fd = -1;
}

void sctl_close(void)
{
	for (int i = 0; i < SCTL_MAX_CLIENTS; i++)
		if (clients[i].fd >= 0)
			client_free(&clients[i]);
	if (listen_fd >= 0) {
		close(listen_fd);
		unlink(sock_path);
		listen_fd = -1;
	}
}

/* ---- answers ------------------------------------------------------------------------------------ */

/* One datagram: u32 status, then the text (cut when too long), which ends with a newline (added
 * here, so that no caller appends to a buffer it filled). The connection ends with it. */
static void reply_raw(int fd, uint32_t status, const char *text, size_t len)
{
	static uint8_t buf[CTL_REPLY_MAX];

	if (len > sizeof buf - 5)
		len = sizeof buf - 5;
	for (int i = 0; i < 4; i++)
		buf[i] = (uint8_t)(status >> (8 * i));
	memcpy(buf + 4, text, len);
	if (!len || text[len - 1] != '\n')
		buf[4 + len++] = '\n';
	if (send(fd, buf, 4 + len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		log_debug("control: cannot answer: %s", strerror(errno));
}

static void reply_text(struct client *c, uint32_t status, const char *text)
{
	reply_raw(c->fd, status, text, strlen(text));
	client_free(c);
}

/* Worker text is untrusted: bounded, and no control characters but newline and tab. */
static char *sanitise(const char *text, size_t len)
{
	char *s = malloc(len + 2);

	if (!s)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)text[i];

		s[i] = (ch < 0x20 && ch != '\n' && ch != '\t') || ch == 0x7f ? '?' : (char)ch;
	}
	if (len && s[len - 1] != '\n')
		s[len++] = '\n';
	s[len] = '\0';
	return s;
}

static void ago(FILE *out, time_t then)
{
	long s = (long)(time(NULL) - then);

	if (s < 120)
		fprintf(out, "%ld s ago", s);
	else if (s < 7200)
		fprintf(out, "%ld min ago", s / 60);
	else
		fprintf(out, "%ld h ago", s / 3600);
}

/* What the supervisor itself knows. */
static void own_status(FILE *out)
{
	fprintf(out, "mount %s\nsupervisor: pid %d, started ", mountpoint, (int)getpid());
	ago(out, started);
	fprintf(out, ", config %s\n", ops->config ? ops->config : "(none: defaults)");
	if (tree.have) {
		fprintf(out, "tree: generation %llu, %llu entries, %u services (%u rejected), built ",
			(unsigned long long)tree.generation, (unsigned long long)tree.entries,
			tree.services, tree.rejected);
		ago(out, tree.at);
		fputc('\n', out);
	} else {
		fprintf(out, "tree: not built yet\n");
	}
	if (tree.fail_at && tree.fail_at >= tree.at) {
		fprintf(out, "last reload failed (");
		ago(out, tree.fail_at);
		fprintf(out, "): %s\n", tree.fail);
	}
	fprintf(out, "workers:\n");
	for (int r = 0; r < ROLE_COUNT; r++) {
		const struct worker *w = &ops->workers[r];

		fprintf(out, "  %-8s ", role_name[r]);
		if (w->pid > 0)
			fprintf(out, "pid %d", (int)w->pid);
		else if (w->backoff && w->restart_at)
			fprintf(out, "backing off after repeated crashes, restart in %lld s",
				(long long)((w->restart_at - mono_ms() + 999) / 1000));
		else
			fprintf(out, "not running");
		fprintf(out, ", restarts %u", wstat[r].restarts);
		if (wstat[r].at) {
			fprintf(out, ", last exit: %s, ", wstat[r].last_exit);
			ago(out, wstat[r].at);
		}
		fputc('\n', out);
	}
}

/* Everything awaited is in (or will not come): answer the caller. */
static void finish(struct client *c)
{
	char *text = NULL;
	size_t len = 0;
	uint32_t status = 0;
	FILE *out = open_memstream(&text, &len);

	if (!out) {
		reply_text(c, ENOMEM, "out of memory\n");
		return;
	}
	if (c->req.cmd == CTL_STATUS) {
		own_status(out);
		for (int r = ROLE_INDEXER; r < ROLE_COUNT; r++)
			fprintf(out, "%s:\n%s", role_name[r],
				c->text[r] ? c->text[r] : "  (no answer)\n");
	} else {
		status = c->status[ROLE_INDEXER];
		fputs(c->text[ROLE_INDEXER] ? c->text[ROLE_INDEXER] : "no answer from the indexer\n",
		      out);
	}
	if (fclose(out)) {
		free(text);
		reply_text(c, ENOMEM, "out of memory\n");
		return;
	}
	reply_raw(c->fd, status, text, len);
	free(text);
	client_free(c);
}

/* A worker will not answer c: note why in its place. */
static void give_up(struct client *c, enum worker_role r, uint32_t status, const char *why)
{
	char line[256];

	if (!(c->pending & (1u << r)))
		return;
	c->pending &= ~(1u << r);
	snprintf(line, sizeof line, "  (%s)", why);
	free(c->text[r]);
	c->text[r] = sanitise(line, strlen(line));
	c->status[r] = status;
	if (!c->pending && !c->reload_wait)
		finish(c);
}

/* Forward c's request to the workers in `roles`. */
static void ask(struct client *c, unsigned roles)
{
	static uint8_t buf[8 + CTL_CMD_MAX + CTL_ARG_MAX + 8];
	struct ipc_wr w;

	c->id = ++next_id;
	c->pending = roles;
	ipc_wr_init(&w, buf, sizeof buf);
	proto_ctl_encode(&w, c->req.name, c->req.arg);
	for (int r = 0; r < ROLE_COUNT; r++) {
		if (!(roles & (1u << r)))
			continue;
		if (w.bad || worker_send(&ops->workers[r], MSG_CTL, c->id, buf, w.len, NULL, 0))
			give_up(c, (enum worker_role)r, EAGAIN, "not running right now; try again");
		if (c->fd < 0)
			return;         /* answered already */
	}
}

static void on_request(struct client *c, const void *buf, size_t len)
{
	char err[SCTL_WHY_MAX];

	/* Refused only now that its request is read: closing a socket with unread data would reset
	 * the connection, and the caller would not see why. */
	if (c->refused) {
		reply_text(c, EPERM, "refused: only root may control a mount\n");
		return;
	}

	if (ctl_parse(buf, len, &c->req, err, sizeof err)) {
		reply_text(c, EINVAL, err);
		return;
	}
	log_info("control: %s%s%s", c->req.name, c->req.arg[0] ? " " : "", c->req.arg);
	c->waiting = true;
	c->deadline = mono_ms() + WORKER_DEADLINE_MS;
	switch (c->req.cmd) {
	case CTL_STATUS:
		ask(c, 1u << ROLE_INDEXER | 1u << ROLE_FETCHER);
		break;
	case CTL_RELOAD:
		if (ops->reload(err, sizeof err)) {
			reply_text(c, EINVAL, err);
			return;
		}
		c->reload_wait = true;
		c->deadline = mono_ms() + RELOAD_DEADLINE_MS;
		break;
	case CTL_VERIFY:
		c->deadline = mono_ms() + VERIFY_DEADLINE_MS;
		ask(c, 1u << ROLE_INDEXER);
		break;
	case CTL_CACHE:
	case CTL_EVICT:
	case CTL_ORDER:
		ask(c, 1u << ROLE_INDEXER);
		break;
	}
}

/* ---- the loop's share ----------------------------------------------------------------------------- */

static void on_accept(void)
{
	struct ucred cred;
	socklen_t clen = sizeof cred;
	struct client *c = NULL;
	bool refused;
	int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return;
	refused = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) || clen != sizeof cred ||
		  cred.uid != 0;
	if (refused)
		log_warn("control: refused a caller with uid %d (pid %d): root only",
			 clen == sizeof cred ? (int)cred.uid : -1, clen == sizeof cred ? (int)cred.pid : -1);
	for (int i = 0; i < SCTL_MAX_CLIENTS && !c; i++)
		if (clients[i].fd < 0)
			c = &clients[i];
	if (!c) {
		reply_raw(fd, EBUSY, "busy: too many control requests at once\n", 40);
		close(fd);
		return;
	}
	c->fd = fd;
	c->refused = refused;
	c->deadline = mono_ms() + READ_DEADLINE_MS;
}

int sctl_pollfds(struct pollfd *p, int *timeout_ms)
{
	int n = 0;
	int64_t now = mono_ms();

	if (listen_fd < 0)
		return 0;
	p[n++] = (struct pollfd){ .fd = listen_fd, .events = POLLIN };
	for (int i = 0; i < SCTL_MAX_CLIENTS; i++) {
		struct client *c = &clients[i];
		int64_t left;

		if (c->fd < 0)
			continue;
		/* While waiting, only a hang-up matters (POLLHUP is always reported). */
		slot_of[n - 1] = i;
		p[n++] = (struct pollfd){ .fd = c->fd, .events = c->waiting ? 0 : POLLIN };
		left = c->deadline - now;
		if (left < 0)
			left = 0;
		if (*timeout_ms < 0 || left < *timeout_ms)
			*timeout_ms = (int)left;
	}
	return n;
}

void sctl_process(const struct pollfd *p, int n)
{
	static uint8_t buf[CTL_REQ_MAX + 1];
	int64_t now = mono_ms();

	if (n <= 0)
		return;
	for (int k = 1; k < n; k++) {
		struct client *c = &clients[slot_of[k - 1]];
		ssize_t len;

		if (c->fd != p[k].fd || !p[k].revents)
			continue;
		if (c->waiting || !(p[k].revents & POLLIN)) {
			client_free(c);         /* the caller went away */
			continue;
		}
		len = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT | MSG_TRUNC);
		if (len < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (len <= 0) {
			client_free(c);
			continue;
		}
		/* MSG_TRUNC: len is the datagram's real size, which ctl_parse refuses when too large. */
		on_request(c, buf, (size_t)len > sizeof buf ? sizeof buf : (size_t)len);
	}
	for (int i = 0; i < SCTL_MAX_CLIENTS; i++) {
		struct client *c = &clients[i];

		if (c->fd < 0 || c->deadline > now)
			continue;
		if (!c->waiting) {
			client_free(c);
		} else if (c->reload_wait) {
			reply_text(c, ETIMEDOUT, "the reload did not finish in time; see the log\n");
		} else {
			for (int r = 0; r < ROLE_COUNT && c->fd >= 0; r++)
				give_up(c, (enum worker_role)r, ETIMEDOUT, "no answer in time");
		}
	}
	if (p[0].revents & POLLIN)
		on_accept();
}

/* ---- from main.c ------------------------------------------------------------------------------------ */

int sctl_on_reply(enum worker_role role, uint64_t id, const void *payload, size_t len)
{
	uint32_t status;
	const char *text;
	size_t tlen;

	if (proto_ctl_reply_decode(payload, len, &status, &text, &tlen))
		return -EPROTO;
	for (int i = 0; i < SCTL_MAX_CLIENTS; i++) {
		struct client *c = &clients[i];

		if (c->fd < 0 || c->id != id || !(c->pending & (1u << role)))
			continue;
		c->pending &= ~(1u << role);
		c->status[role] = status;
		c->text[role] = sanitise(text, tlen);
		if (!c->pending)
			finish(c);
		return 0;
	}
	return 0;               /* its caller left or timed out */
}

void sctl_worker_died(enum worker_role role, const char *why)
{
	snprintf(wstat[role].last_exit, sizeof wstat[role].last_exit, "%s", why);
	wstat[role].at = time(NULL);
	for (int i = 0; i < SCTL_MAX_CLIENTS; i++) {
		struct client *c = &clients[i];

		if (c->fd < 0)
			continue;
		if (c->reload_wait && role == ROLE_INDEXER)
			reply_text(c, EIO, "the indexer died during the reload; see the log\n");
		else
			give_up(c, role, EIO, "it died before answering");
	}
}

void sctl_worker_restarted(enum worker_role role)
{
	wstat[role].restarts++;
}

void sctl_tree_done(uint64_t generation, uint64_t entries, uint32_t services, uint32_t rejected)
{
	char line[256];

	tree.have = true;
	tree.generation = generation;
	tree.entries = entries;
	tree.services = services;
	tree.rejected = rejected;
	tree.at = time(NULL);
	snprintf(line, sizeof line, "reloaded: generation %llu, %llu entries from %u services (%u rejected)\n",
		 (unsigned long long)generation, (unsigned long long)entries, services, rejected);
	for (int i = 0; i < SCTL_MAX_CLIENTS; i++)
		if (clients[i].fd >= 0 && clients[i].reload_wait)
			reply_text(&clients[i], 0, line);
}

void sctl_tree_fail(const char *why)
{
	char line[SCTL_WHY_MAX + 64];

	snprintf(tree.fail, sizeof tree.fail, "%s", why);
	for (char *q = tree.fail; *q; q++)     /* the indexer's words: no control characters */
		if ((unsigned char)*q < 0x20 || *q == 0x7f)
			*q = '?';
	tree.fail_at = time(NULL);
	snprintf(line, sizeof line, "reload failed, the tree being served is kept: %s\n", tree.fail);
	for (int i = 0; i < SCTL_MAX_CLIENTS; i++)
		if (clients[i].fd >= 0 && clients[i].reload_wait)
			reply_text(&clients[i], EIO, line);
}
