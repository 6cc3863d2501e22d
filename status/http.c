/* http.c — the -pprof server: a bounded HTTP/1.x reader, GET and HEAD only, for the few pages of
 * pages.c. Hand-written rather than a library: it needs a request line and the end of the headers,
 * nothing else (no bodies, no keep-alive, no chunks), which is less code to trust than any
 * library's; README says so.
 *
 * Limits: HTTP_REQ_MAX bytes of request line and headers, HTTP_MAX_CONNS connections at once (one
 * more is answered 503 and closed at once), HTTP_DEADLINE_MS for a connection's whole life (a
 * client that sends nothing, or reads nothing, is closed then). Every socket is non-blocking and
 * driven by main.c's poll loop; one answer per connection, then it is closed.
 */
#include "status/status.h"

#include "ipc/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum conn_state { C_FREE, C_READ, C_WAIT, C_WRITE };

struct conn {
	struct query q;                 /* first: the query's done() finds its connection */
	enum conn_state state;
	int fd;
	int64_t deadline;
	size_t len, off;
	struct http_req req;
	char in[HTTP_REQ_MAX];
	char *out;
	size_t out_len;
};

static struct conn conns[HTTP_MAX_CONNS];
static int slot_of[HTTP_MAX_CONNS];
static int listen_fd = -1;

/* ---- the reader ----------------------------------------------------------------------------- */

static bool is_token(const char *s, size_t n, const char *word)
{
	return strlen(word) == n && memcmp(s, word, n) == 0;
}

int http_parse(const char *buf, size_t len, struct http_req *req)
{
	const char *end = NULL, *eol, *sp1, *sp2, *target, *q;
	size_t tlen;

	memset(req, 0, sizeof *req);
	/* The end of the headers: CRLF CRLF (or LF LF from a sloppy client). */
	for (size_t i = 0; i + 1 < len && !end; i++) {
		if (buf[i] == '\n' && buf[i + 1] == '\n')
			end = buf + i + 2;
		else if (i + 3 < len && !memcmp(buf + i, "\r\n\r\n", 4))
			end = buf + i + 4;
	}
	if (memchr(buf, '\0', len))
		return -400;
	if (!end)
		return len >= HTTP_REQ_MAX ? -431 : 0;
	eol = memchr(buf, '\n', (size_t)(end - buf));
	if (!eol)
		return -400;
	if (eol > buf && eol[-1] == '\r')
		eol--;
	sp1 = memchr(buf, ' ', (size_t)(eol - buf));
	if (!sp1)
		return -400;
	sp2 = memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1));
	if (!sp2 || memchr(sp2 + 1, ' ', (size_t)(eol - sp2 - 1)))
		return -400;
	if (is_token(buf, (size_t)(sp1 - buf), "HEAD"))
		req->head = true;
	else if (!is_token(buf, (size_t)(sp1 - buf), "GET"))
		return -405;
	if (!is_token(sp2 + 1, (size_t)(eol - sp2 - 1), "HTTP/1.1") &&
	    !is_token(sp2 + 1, (size_t)(eol - sp2 - 1), "HTTP/1.0"))
		return -505;
	target = sp1 + 1;
	tlen = (size_t)(sp2 - target);
	if (tlen == 0 || target[0] != '/')
		return -400;
	q = memchr(target, '?', tlen);
	if (q)
		tlen = (size_t)(q - target);
	if (tlen >= sizeof req->path)
		return -414;
	for (size_t i = 0; i < tlen; i++)
		if ((unsigned char)target[i] <= 0x20 || (unsigned char)target[i] >= 0x7f)
			return -400;
	memcpy(req->path, target, tlen);
	req->path[tlen] = '\0';
	return 1;
}

/* ---- connections ---------------------------------------------------------------------------- */

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	ask_forget(&c->q);
	free(c->out);
	memset(c, 0, sizeof *c);
	c->fd = -1;
	c->state = C_FREE;
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 414: return "URI Too Long";
	case 500: return "Internal Server Error";
	case 431: return "Request Header Fields Too Large";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	}
	return "Error";
}

/* The whole answer into c->out; writing starts. */
static void respond(struct conn *c, int status, const char *type, const char *body, size_t blen)
{
	FILE *out = open_memstream(&c->out, &c->out_len);

	if (!out) {
		conn_close(c);
		return;
	}
	fprintf(out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		"Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
		"Connection: close\r\n\r\n", status, reason(status), type, blen);
	if (!c->req.head && body)
		fwrite(body, 1, blen, out);
	if (fclose(out)) {
		conn_close(c);
		return;
	}
	c->off = 0;
	c->state = C_WRITE;
}

static void error_page(struct conn *c, int status)
{
	char body[128];
	int n = snprintf(body, sizeof body, "%d %s\n", status, reason(status));

	respond(c, status, "text/plain; charset=utf-8", body, (size_t)n);
}

static void answered(struct query *q)
{
	struct conn *c = (struct conn *)q;
	char *body = NULL;
	size_t blen = 0;
	const char *type = "text/plain; charset=utf-8";
	FILE *out = open_memstream(&body, &blen);
	int status;

	if (!out) {
		conn_close(c);
		return;
	}
	status = pages_render(c->req.path, q, out, &type);
	if (fclose(out)) {
		free(body);
		conn_close(c);
		return;
	}
	ask_forget(q);
	respond(c, status, type, body, blen);
	free(body);
}

static void on_input(struct conn *c)
{
	ssize_t n = recv(c->fd, c->in + c->len, sizeof c->in - c->len, MSG_DONTWAIT);
	const char *question;
	unsigned roles;
	int rc;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c);
		return;
	}
	c->len += (size_t)n;
	rc = http_parse(c->in, c->len, &c->req);
	if (rc == 0)
		return;
	if (rc < 0) {
		error_page(c, -rc);
		return;
	}
	if (!(question = pages_question(c->req.path, &roles))) {
		error_page(c, 404);
		return;
	}
	c->state = C_WAIT;
	if (c->deadline > mono_ms() + HTTP_DEADLINE_MS / 2)
		c->deadline = mono_ms() + HTTP_DEADLINE_MS / 2;
	ask(&c->q, roles, question, "", answered);
}

static void on_output(struct conn *c)
{
	ssize_t n = send(c->fd, c->out + c->off, c->out_len - c->off, MSG_DONTWAIT | MSG_NOSIGNAL);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c);
		return;
	}
	c->off += (size_t)n;
	if (c->off == c->out_len) {
		shutdown(c->fd, SHUT_WR);
		conn_close(c);
	}
}

static void on_accept(void)
{
	static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
				   "Connection: close\r\n\r\n";
	struct conn *c = NULL;

	for (int tries = 0; tries < 16; tries++) {
		int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return;
		c = NULL;
		for (int i = 0; i < HTTP_MAX_CONNS && !c; i++)
			if (conns[i].state == C_FREE)
				c = &conns[i];
		if (!c) {
			(void)!send(fd, busy, sizeof busy - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
			close(fd);
			continue;
		}
		c->fd = fd;
		c->state = C_READ;
		c->len = 0;
		c->deadline = mono_ms() + HTTP_DEADLINE_MS;
	}
}

void http_init(int fd)
{
	listen_fd = fd;
	for (int i = 0; i < HTTP_MAX_CONNS; i++)
		conns[i].fd = -1;
}

int http_pollfds(struct pollfd *p, int max, int *timeout_ms)
{
	int n = 0;
	int64_t now = mono_ms();

	if (listen_fd < 0 || max < 1 + HTTP_MAX_CONNS)
		return 0;
	p[n++] = (struct pollfd){ .fd = listen_fd, .events = POLLIN };
	for (int i = 0; i < HTTP_MAX_CONNS; i++) {
		struct conn *c = &conns[i];

		if (c->state == C_FREE)
			continue;
		slot_of[n - 1] = i;
		p[n++] = (struct pollfd){ .fd = c->fd, .events = c->state == C_READ ? POLLIN :
					  c->state == C_WRITE ? POLLOUT : 0 };
		timeout_lower(timeout_ms, c->deadline, now);
	}
	return n;
}

void http_process(const struct pollfd *p, int n)
{
	int64_t now = mono_ms();

	if (n <= 0)
		return;
	for (int k = 1; k < n; k++) {
		struct conn *c = &conns[slot_of[k - 1]];

		if (c->fd != p[k].fd || !p[k].revents)
			continue;
		if (c->state == C_READ && (p[k].revents & POLLIN))
			on_input(c);
		else if (c->state == C_WRITE && (p[k].revents & POLLOUT))
			on_output(c);
		else if (p[k].revents & (POLLHUP | POLLERR | POLLNVAL))
			conn_close(c);
	}
	for (int i = 0; i < HTTP_MAX_CONNS; i++) {
		struct conn *c = &conns[i];

		if (c->state == C_FREE || c->deadline > now)
			continue;
		if (c->state == C_WAIT) {
			c->deadline = now + 1000;       /* to write what is known */
			ask_give_up(&c->q, ASK_INDEXER | ASK_FETCHER | ASK_FUSER, ETIMEDOUT, "no answer in time");
		} else
			conn_close(c);
	}
	if (p[0].revents & POLLIN)
		on_accept();
}
