/* logrelay.c — every worker's stderr is a pipe that root reads, and each line a worker writes
 * reaches root's stderr with the name root knows it by: one worker cannot write a line in
 * another's name (nor root's).
 *
 * Root does not read the text. A line (ipc/log.c, LOG_RELAYED) starts with its level as one byte;
 * a line without it (a library's message, a sanitizer's report) is shown as WARN. Root cuts at
 * newlines, or every LOGRELAY_MAX bytes, and log_line shows control characters as '?'. A worker
 * that writes faster than root's stderr takes it waits in its own write(2), never root. */
#include "supervisor/supervisor.h"

#include "ipc/log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

int logrelay_open(struct worker *w)
{
	int p[2];

	logrelay_close(w);
	if (pipe2(p, O_CLOEXEC))
		return -errno;
	fcntl(p[0], F_SETFL, O_NONBLOCK);       /* root's end only: the worker's writes wait */
	w->log = p[0];
	return p[1];
}

static void relay(const struct worker *w, const char *s, size_t n)
{
	if (n && (unsigned char)s[0] <= LOG_DEBUG)
		log_line((enum log_level)s[0], w->name, s + 1, n - 1);
	else
		log_line(LOG_WARN, w->name, s, n);
}

/* The end of w's stderr: what is left of a line, then the pipe. */
static void done(struct worker *w)
{
	if (w->log_len)
		relay(w, w->log_buf, w->log_len);
	w->log_len = 0;
	close(w->log);
	w->log = -1;
}

void logrelay_read(struct worker *w, bool all)
{
	for (int reads = 0; w->log >= 0 && (all || reads < 16); reads++) {
		ssize_t n = read(w->log, w->log_buf + w->log_len, sizeof w->log_buf - w->log_len);
		char *nl;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0 || errno != EAGAIN)
				done(w);
			return;
		}
		w->log_len += (size_t)n;
		while ((nl = memchr(w->log_buf, '\n', w->log_len))) {
			relay(w, w->log_buf, (size_t)(nl - w->log_buf));
			w->log_len -= (size_t)(nl + 1 - w->log_buf);
			memmove(w->log_buf, nl + 1, w->log_len);
		}
		if (w->log_len == sizeof w->log_buf) {
			relay(w, w->log_buf, w->log_len);
			w->log_len = 0;
		}
	}
}

void logrelay_close(struct worker *w)
{
	logrelay_read(w, true);
	if (w->log >= 0)
		done(w);
}

void logrelay_poll(struct worker *ws, int n, int ms)
{
	struct pollfd p[ROLE_COUNT];

	for (int i = 0; i < n && i < ROLE_COUNT; i++)
		p[i] = (struct pollfd){ .fd = ws[i].log, .events = POLLIN };
	if (poll(p, (nfds_t)(n < ROLE_COUNT ? n : ROLE_COUNT), ms) > 0)
		for (int i = 0; i < n && i < ROLE_COUNT; i++)
			if (p[i].revents)
				logrelay_read(&ws[i], false);
}
