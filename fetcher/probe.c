/* probe.c — -auto's host probes: which of a list of names resolve and accept a TCP connection.
 *
 * The indexer asks with one MSG_PROBE (fetcher/probe_wire.h); every host is looked up (dns.c: the hosts
 * file, then DNS) and connected to with non-blocking sockets, all at once, in the fetcher's poll
 * loop; whatever has not answered by the request's deadline counts as "no answer". A connection
 * that completes is closed at once: nothing is sent. One MSG_PROBE_DONE answers, with one result
 * per host in the order asked. One probe runs at a time; another that arrives meanwhile is
 * answered EBUSY for every host.
 */
#include "fetcher/fetcher.h"

#include "ipc/log.h"
#include "fetcher/probe_wire.h"
#include "ipc/proto_workers.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PROBE_ADDRS 2           /* addresses of one name tried at once */

enum { P_RESOLVE, P_CONNECT, P_DONE };

struct target {
	int state;
	int fd[PROBE_ADDRS];
	char addr[PROBE_ADDRS][INET6_ADDRSTRLEN + 2];
	int last_err;
};

static struct {
	bool active;
	uint64_t id, deadline;
	struct probe_req req;
	struct probe_done done;
	struct target t[PROBE_MAX_HOSTS];
} cur;

static void reply(uint64_t id, const struct probe_done *d)
{
	static uint8_t buf[4 + PROBE_MAX_HOSTS * (4 + 4 + PROBE_DETAIL_MAX)];
	struct ipc_wr w;
	int rc;

	ipc_wr_init(&w, buf, sizeof buf);
	probe_done_encode(&w, d);
	if (w.bad)
		die(67, "indexer channel: cannot encode probe %llu", (unsigned long long)id);
	rc = ipc_send(FD_PEER1, MSG_PROBE_DONE, id, buf, w.len, NULL, 0);
	if (rc)
		die(67, "indexer channel: cannot answer probe %llu: %s", (unsigned long long)id,
		    strerror(-rc));
}

static void close_fds(struct target *t)
{
	for (int i = 0; i < PROBE_ADDRS; i++)
		if (t->fd[i] >= 0) {
			close(t->fd[i]);
			t->fd[i] = -1;
		}
}

static void __attribute__((format(printf, 3, 4))) target_done(uint32_t i, int status,
							       const char *fmt, ...)
{
	struct target *t = &cur.t[i];
	va_list ap;

	close_fds(t);
	t->state = P_DONE;
	cur.done.status[i] = (uint32_t)status;
	va_start(ap, fmt);
	vsnprintf(cur.done.detail[i], sizeof cur.done.detail[i], fmt, ap);
	va_end(ap);
	log_debug("probe %s:%u: %s%s", cur.req.host[i], cur.req.port[i], status ? "" : "answers from ",
		  cur.done.detail[i]);
}

/* Start a non-blocking connect to one address ("192.0.2.1" or "[2001:db8::1]"). Returns the fd,
 * or -errno (0 is never returned: a connect that completes at once still gives its fd). */
static int connect_to(const char *addr, uint16_t port, bool *connected)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	char a[INET6_ADDRSTRLEN + 2];
	int fd;

	*connected = false;
	if (addr[0] == '[') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		size_t n = strlen(addr);

		if (n < 3 || n - 2 >= sizeof a || addr[n - 1] != ']')
			return -EINVAL;
		memcpy(a, addr + 1, n - 2);
		a[n - 2] = '\0';
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		if (inet_pton(AF_INET6, a, &s6->sin6_addr) != 1)
			return -EINVAL;
		len = sizeof *s6;
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		if (inet_pton(AF_INET, addr, &s4->sin_addr) != 1)
			return -EINVAL;
		len = sizeof *s4;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&ss, len) == 0) {
		*connected = true;
		return fd;
	}
	if (errno == EINPROGRESS || errno == EINTR)
		return fd;
	{
		int err = errno;

		close(fd);
		return -err;
	}
}

/* A name resolved: connect to its first PROBE_ADDRS addresses. */
static void start_connects(uint32_t i, char *list)
{
	struct target *t = &cur.t[i];
	char *save, *a;
	int n = 0, err = 0;

	for (a = strtok_r(list, ",", &save); a && n < PROBE_ADDRS; a = strtok_r(NULL, ",", &save)) {
		bool connected;
		int fd = connect_to(a, cur.req.port[i], &connected);

		if (fd < 0) {
			err = -fd;
			continue;
		}
		snprintf(t->addr[n], sizeof t->addr[n], "%s", a);
		t->fd[n++] = fd;
		if (connected) {
			target_done(i, 0, "%s", a);
			return;
		}
	}
	if (n == 0) {
		target_done(i, err ? err : EHOSTUNREACH, "connect: %s", strerror(err ? err : EHOSTUNREACH));
		return;
	}
	t->state = P_CONNECT;
}

/* Names whose lookup was waiting: ask again (dns.c answers from its cache once c-ares has). */
static void resolve_step(void)
{
	for (uint32_t i = 0; i < cur.req.n; i++) {
		char list[DNS_ADDRS_MAX];
		int rc;

		if (cur.t[i].state != P_RESOLVE)
			continue;
		rc = dns_lookup(cur.req.host[i], list, sizeof list);
		if (rc == 0)
			start_connects(i, list);
		else if (rc != -EINPROGRESS)
			target_done(i, rc == -EINVAL ? EINVAL : EHOSTUNREACH, "%s", list);
	}
}

/* Answer when every host is done, or the deadline has come. */
static void maybe_finish(void)
{
	bool late = now_ms() >= cur.deadline;

	for (uint32_t i = 0; i < cur.req.n; i++) {
		if (cur.t[i].state == P_DONE)
			continue;
		if (!late)
			return;
		target_done(i, ETIMEDOUT, cur.t[i].state == P_RESOLVE ?
			    "no name lookup answer within %u ms" : "no connection within %u ms",
			    cur.req.deadline_ms);
	}
	reply(cur.id, &cur.done);
	cur.active = false;
}

int probe_take(const struct ipc_msg *m)
{
	static struct probe_req r;

	if (probe_req_decode(m->payload, m->hdr.len, &r))
		return -EPROTO;
	if (cur.active) {
		static struct probe_done busy;

		busy.n = r.n;
		for (uint32_t i = 0; i < r.n; i++) {
			busy.status[i] = EBUSY;
			snprintf(busy.detail[i], sizeof busy.detail[i], "another probe is running");
		}
		reply(m->hdr.id, &busy);
		return 0;
	}
	memset(&cur, 0, sizeof cur);
	cur.active = true;
	cur.id = m->hdr.id;
	cur.req = r;
	cur.done.n = r.n;
	cur.deadline = now_ms() + r.deadline_ms;
	for (uint32_t i = 0; i < r.n; i++) {
		cur.t[i].state = P_RESOLVE;
		for (int j = 0; j < PROBE_ADDRS; j++)
			cur.t[i].fd[j] = -1;
	}
	log_debug("probe %llu: %u hosts within %u ms", (unsigned long long)cur.id, r.n, r.deadline_ms);
	resolve_step();
	maybe_finish();
	return 0;
}

int probe_pollfds(struct pollfd *pfd, int max, int *timeout_ms)
{
	uint64_t now = now_ms();
	int n = 0;

	if (!cur.active)
		return 0;
	for (uint32_t i = 0; i < cur.req.n; i++)
		for (int j = 0; j < PROBE_ADDRS; j++)
			if (cur.t[i].state == P_CONNECT && cur.t[i].fd[j] >= 0 && n < max)
				pfd[n++] = (struct pollfd){ .fd = cur.t[i].fd[j], .events = POLLOUT };
	{
		int left = cur.deadline > now ? (int)(cur.deadline - now) : 0;

		if (*timeout_ms < 0 || left < *timeout_ms)
			*timeout_ms = left;
	}
	return n;
}

void probe_process(const struct pollfd *pfd, int n)
{
	if (!cur.active)
		return;
	for (int k = 0; k < n; k++) {
		if (!pfd[k].revents)
			continue;
		for (uint32_t i = 0; i < cur.req.n; i++) {
			struct target *t = &cur.t[i];

			for (int j = 0; j < PROBE_ADDRS && t->state == P_CONNECT; j++) {
				int err = 0;
				socklen_t len = sizeof err;

				if (t->fd[j] != pfd[k].fd)
					continue;
				if (getsockopt(t->fd[j], SOL_SOCKET, SO_ERROR, &err, &len))
					err = errno;
				if (err == 0) {
					target_done(i, 0, "%s", t->addr[j]);
					break;
				}
				close(t->fd[j]);
				t->fd[j] = -1;
				t->last_err = err;
				if (t->fd[0] < 0 && t->fd[1] < 0)
					target_done(i, err, "%s: %s", t->addr[j], strerror(err));
			}
		}
	}
	resolve_step();
	maybe_finish();
}
