/* ctl.c — the control socket: aysfs-ctl's requests, answered from root's facts and from the
 * workers (MSG_CTL to the indexer and the fetcher, relayed by root).
 *
 * A caller is served only when SO_PEERCRED says uid 0 (the socket's folder and mode already keep
 * others out; this is the second lock). A request is one datagram, parsed strictly (ipc/ctl.h);
 * the answer is one datagram, after which the connection is closed. Nothing here waits: clients
 * are non-blocking, each has a deadline, and answers arrive through main.c's loop. Text from a
 * worker is untrusted: it is bounded and its control characters are replaced before it reaches
 * the caller's terminal.
 */
#include "status/status.h"

#include "ipc/ctl_parse.h"
#include "ipc/log.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define READ_DEADLINE_MS   2000         /* a caller has this long to send its request */
#define WORKER_DEADLINE_MS 10000        /* a worker has this long to answer */
#define RELOAD_DEADLINE_MS 120000       /* building a large tree takes a while */
#define VERIFY_DEADLINE_MS (30 * 60 * 1000)     /* re-hashing a large cache takes longer */

struct client {
	struct query q;                 /* first: the query's done() finds its client */
	int fd;                         /* -1: free slot */
	bool refused;                   /* not root: refused once its request is read */
	bool waiting;                   /* request parsed; waiting for workers or the tree */
	bool reload_wait;
	uint64_t reload_id;
	int64_t deadline;
	struct ctl_req req;
};

static struct client clients[CONTROL_MAX_CLIENTS];
static int slot_of[CONTROL_MAX_CLIENTS];   /* pollfd entry 1 + i is clients[slot_of[i]] */
static char mountpoint[PATH_MAX];
static uint64_t next_reload;

void control_init(const char *mnt)
{
	snprintf(mountpoint, sizeof mountpoint, "%s", mnt);
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
		clients[i].fd = -1;
}

/* ---- answers -------------------------------------------------------------------------------- */

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

static void client_free(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	ask_forget(&c->q);
	memset(c, 0, sizeof *c);
	c->fd = -1;
}

static void reply_text(struct client *c, uint32_t status, const char *text)
{
	reply_raw(c->fd, status, text, strlen(text));
	client_free(c);
}

static void ago(FILE *out, int64_t then)
{
	long s = (long)(time(NULL) - then);

	if (s < 120)
		fprintf(out, "%ld s ago", s);
	else if (s < 7200)
		fprintf(out, "%ld min ago", s / 60);
	else
		fprintf(out, "%ld h ago", s / 3600);
}

void control_own_status(FILE *out)
{
	const struct st_facts *f = &facts;

	fprintf(out, "mount %s\nsupervisor: pid %d, started ", mountpoint, (int)f->sup_pid);
	ago(out, f->started);
	fprintf(out, ", config %s\n", f->config[0] ? f->config : "(none: defaults)");
	if (f->tree_have) {
		fprintf(out, "tree: generation %llu, %llu entries, %u services (%u rejected), built ",
			(unsigned long long)f->generation, (unsigned long long)f->entries,
			f->services, f->rejected);
		ago(out, f->tree_at);
		fputc('\n', out);
	} else {
		fprintf(out, "tree: not built yet\n");
	}
	if (f->fail_at && f->fail_at >= f->tree_at) {
		fprintf(out, "last reload failed (");
		ago(out, f->fail_at);
		fprintf(out, "): %s\n", f->fail);
	}
	fprintf(out, "workers:\n");
	for (int r = 0; r < ST_ROLES; r++) {
		const struct st_role *w = &f->role[r];

		if (r == ST_ROLES - 1 && !facts.debug)     /* the debug worker */
			continue;
		fprintf(out, "  %-8s ", st_role_name[r]);
		if (r == ST_ROLE_STATUS)
			fprintf(out, "pid %d", (int)getpid());
		else if (w->pid > 0)
			fprintf(out, "pid %d", (int)w->pid);
		else if (w->backoff && w->restart_in_ms >= 0)
			fprintf(out, "backing off after repeated crashes, restart in %lld s",
				(long long)((w->restart_in_ms - (mono_ms() - f->received_ms) + 999) / 1000));
		else
			fprintf(out, "not running");
		fprintf(out, ", restarts %u", w->restarts);
		if (w->exit_at) {
			fprintf(out, ", last exit: %s, ", w->last_exit);
			ago(out, w->exit_at);
		}
		fputc('\n', out);
	}
}

void control_status_text(FILE *out, const struct query *q)
{
	control_own_status(out);
	fprintf(out, "indexer:\n%s", q->text[RELAY_INDEXER] ? q->text[RELAY_INDEXER] : "  (no answer)\n");
	fprintf(out, "fetcher:\n%s", q->text[RELAY_FETCHER] ? q->text[RELAY_FETCHER] : "  (no answer)\n");
}

/* Everything awaited is in (or will not come): answer the caller. */
static void finish(struct query *q)
{
	struct client *c = (struct client *)q;
	char *text = NULL;
	size_t len = 0;
	uint32_t status = 0;
	FILE *out = open_memstream(&text, &len);

	if (!out) {
		reply_text(c, ENOMEM, "out of memory\n");
		return;
	}
	if (c->req.cmd == CTL_STATUS) {
		control_status_text(out, q);
	} else if (c->req.cmd == CTL_DEBUG) {
		status = q->status[RELAY_DEBUG];
		fputs(q->text[RELAY_DEBUG] ? q->text[RELAY_DEBUG] : "no answer from the debug worker\n",
		      out);
	} else {
		status = q->status[RELAY_INDEXER];
		fputs(q->text[RELAY_INDEXER] ? q->text[RELAY_INDEXER] : "no answer from the indexer\n",
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

static void on_request(struct client *c, const void *buf, size_t len)
{
	char err[ST_WHY_MAX];
	int rc;

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
		ask(&c->q, ASK_INDEXER | ASK_FETCHER, c->req.name, c->req.arg, finish);
		break;
	case CTL_RELOAD:
		c->reload_id = ++next_reload;
		c->deadline = mono_ms() + RELOAD_DEADLINE_MS;
		if ((rc = ipc_send(FD_SUPERVISOR, MSG_ST_RELOAD, c->reload_id, NULL, 0, NULL, 0)))
			reply_text(c, EAGAIN, "the supervisor cannot be asked; try again\n");
		break;
	case CTL_VERIFY:
		c->deadline = mono_ms() + VERIFY_DEADLINE_MS;
		ask(&c->q, ASK_INDEXER, c->req.name, c->req.arg, finish);
		break;
	case CTL_CACHE:
	case CTL_EVICT:
	case CTL_ORDER:
		ask(&c->q, ASK_INDEXER, c->req.name, c->req.arg, finish);
		break;
	case CTL_DEBUG:
		/* The journal of debug mode (SPEC §7), which only aysfs-debug reads. */
		if (!facts.debug) {
			reply_text(c, EINVAL, "this mount has no [debug] section\n");
			return;
		}
		ask(&c->q, ASK_DEBUG, c->req.name, c->req.arg, finish);
		break;
	}
}

/* ---- root's answers and events -------------------------------------------------------------- */

void control_reloaded(uint64_t id, uint32_t status, const char *why)
{
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
		struct client *c = &clients[i];

		if (c->fd < 0 || c->req.cmd != CTL_RELOAD || c->reload_id != id || c->reload_wait)
			continue;
		if (status)
			reply_text(c, status, why);
		else
			c->reload_wait = true;
	}
}

void control_event(uint32_t event, uint32_t role)
{
	char line[ST_WHY_MAX + 128];

	if (event == ST_EV_DIED && role < ST_ROLES && role != ST_ROLE_STATUS)   /* the fuser is 0 */
		ask_worker_died(role == 0 ? RELAY_FUSER : role);
	if (event == ST_EV_TREE_DONE)
		snprintf(line, sizeof line,
			 "reloaded: generation %llu, %llu entries from %u services (%u rejected)\n",
			 (unsigned long long)facts.generation, (unsigned long long)facts.entries,
			 facts.services, facts.rejected);
	else if (event == ST_EV_TREE_FAIL)
		snprintf(line, sizeof line, "reload failed, the tree being served is kept: %s\n",
			 facts.fail);
	else if (event == ST_EV_DIED && role == RELAY_INDEXER)
		snprintf(line, sizeof line, "the indexer died during the reload; see the log\n");
	else
		return;
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
		if (clients[i].fd >= 0 && clients[i].reload_wait)
			reply_text(&clients[i], event == ST_EV_TREE_DONE ? 0 : EIO, line);
}

/* ---- the loop's share ----------------------------------------------------------------------- */

static void on_accept(void)
{
	struct ucred cred;
	socklen_t clen = sizeof cred;
	struct client *c = NULL;
	bool refused;
	int fd = accept4(FD_CTL_LISTEN, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return;
	refused = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) || clen != sizeof cred ||
		  cred.uid != 0;
	if (refused)
		log_warn("control: refused a caller with uid %d (pid %d): root only",
			 clen == sizeof cred ? (int)cred.uid : -1, clen == sizeof cred ? (int)cred.pid : -1);
	for (int i = 0; i < CONTROL_MAX_CLIENTS && !c; i++)
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

int control_pollfds(struct pollfd *p, int *timeout_ms)
{
	int n = 0;
	int64_t now = mono_ms();

	p[n++] = (struct pollfd){ .fd = FD_CTL_LISTEN, .events = POLLIN };
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
		struct client *c = &clients[i];

		if (c->fd < 0)
			continue;
		/* While waiting, only a hang-up matters (POLLHUP is always reported). */
		slot_of[n - 1] = i;
		p[n++] = (struct pollfd){ .fd = c->fd, .events = c->waiting ? 0 : POLLIN };
		timeout_lower(timeout_ms, c->deadline, now);
	}
	return n;
}

void control_process(const struct pollfd *p, int n)
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
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
		struct client *c = &clients[i];

		if (c->fd < 0 || c->deadline > now)
			continue;
		if (!c->waiting)
			client_free(c);
		else if (c->req.cmd == CTL_RELOAD)
			reply_text(c, ETIMEDOUT, "the reload did not finish in time; see the log\n");
		else
			ask_give_up(&c->q, ASK_INDEXER | ASK_FETCHER, ETIMEDOUT, "no answer in time");
	}
	if (p[0].revents & POLLIN)
		on_accept();
}
