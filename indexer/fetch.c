/* fetch.c — asking the fetcher for a download, from any thread of the indexer.
 *
 * A request is one MSG_FETCH carrying the fd to fill; the caller then sleeps on its own condition
 * until the reader thread, the only one that reads the fetcher's channel, hands it the matching
 * MSG_FETCH_DONE. When the fetcher dies, the supervisor starts another and hands us its channel
 * (fetch_reconnect): every request still waiting is sent again, so a caller sees a delay, never
 * an error. Every wait has a deadline.
 */
#include "indexer/fetch.h"

#include "ipc/log.h"
#include "fetcher/probe_wire.h"
#include "ipc/proto.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct waiting {
	struct waiting *next;
	uint64_t id;
	bool done;
	struct fetch_result *res;
	pthread_cond_t cond;
	int fd;                 /* the caller's, open for the whole wait */
	uint8_t *payload;       /* kept to send again to a new fetcher */
	size_t len;
	uint16_t type;          /* MSG_FETCH (with fd), or MSG_PROBE (no fd) */
	struct probe_done *probe;       /* MSG_PROBE: where the answer goes */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t chan_cond = PTHREAD_COND_INITIALIZER;
static struct waiting *waiting;
static uint64_t next_id;
static int chan = -1;           /* -1 while no fetcher is connected */

static void finish(struct waiting *w, int status, const char *why)
{
	w->res->status = status;
	w->res->url_index = UINT32_MAX;
	w->res->bytes = 0;
	snprintf(w->res->reason, sizeof w->res->reason, "%s", why);
	w->done = true;
	pthread_cond_signal(&w->cond);
}

/* A MSG_PROBE_DONE: to the probe that waits for it. Returns 0 or -EPROTO. */
static int take_probe(const struct ipc_msg *m)
{
	static struct probe_done d;
	struct waiting *w;

	if (probe_done_decode(m->payload, m->hdr.len, &d))
		return -EPROTO;
	pthread_mutex_lock(&lock);
	for (w = waiting; w && w->id != m->hdr.id; w = w->next)
		;
	if (w && !w->done && w->type == MSG_PROBE && w->probe->n == d.n) {
		*w->probe = d;
		w->res->status = 0;
		w->done = true;
		pthread_cond_signal(&w->cond);
	}
	pthread_mutex_unlock(&lock);
	return 0;
}

/* Read replies until the channel closes or misbehaves. */
static void read_replies(int fd)
{
	static struct ipc_msg m;

	for (;;) {
		struct ipc_rd r;
		struct waiting *w;
		uint32_t status, idx;
		uint64_t bytes;
		char why[1025];
		int rc = ipc_recv(fd, proto_indexer_from_fetcher, proto_indexer_from_fetcher_n, &m);

		if (rc == -EINTR)
			continue;
		if (rc <= 0) {
			log_warn("fetcher channel: %s", rc == 0 ? "closed" : strerror(-rc));
			return;
		}
		if (m.hdr.type == MSG_PROBE_DONE) {
			if (take_probe(&m)) {
				log_err("fetcher sent a malformed probe reply");
				return;
			}
			continue;
		}
		ipc_rd_init(&r, m.payload, m.hdr.len);
		status = ipc_rd_u32(&r);
		idx = ipc_rd_u32(&r);
		bytes = ipc_rd_u64(&r);
		if (!ipc_rd_cstr(&r, why, sizeof why) || !ipc_rd_done(&r) || status > 4095) {
			log_err("fetcher sent a malformed reply");
			return;
		}
		pthread_mutex_lock(&lock);
		for (w = waiting; w && w->id != m.hdr.id; w = w->next)
			;
		if (w && !w->done && w->type == MSG_FETCH) {
			w->res->status = (int)status;
			w->res->url_index = idx;
			w->res->bytes = bytes;
			memcpy(w->res->reason, why, sizeof why);
			w->done = true;
			pthread_cond_signal(&w->cond);
		}
		pthread_mutex_unlock(&lock);
	}
}

static void *reader(void *arg)
{
	for (;;) {
		int fd;

		pthread_mutex_lock(&lock);
		while (chan < 0)
			pthread_cond_wait(&chan_cond, &lock);
		fd = chan;
		pthread_mutex_unlock(&lock);
		read_replies(fd);
		/* The fetcher is gone: requests wait (each with its own deadline) for the next one. */
		pthread_mutex_lock(&lock);
		if (chan == fd)
			chan = -1;
		close(fd);
		pthread_mutex_unlock(&lock);
	}
	return NULL;
}

int fetch_start(int fd)
{
	pthread_t t;

	chan = fd;
	return pthread_create(&t, NULL, reader, NULL) ? -EAGAIN : 0;
}

void fetch_reconnect(int fd)
{
	pthread_mutex_lock(&lock);
	if (chan >= 0)
		shutdown(chan, SHUT_RDWR);      /* the reader leaves the old channel, then takes fd */
	chan = fd;
	for (struct waiting *w = waiting; w; w = w->next)
		if (!w->done && ipc_send(fd, w->type, w->id, w->payload, w->len, &w->fd,
					 w->type == MSG_FETCH))
			finish(w, EIO, "cannot ask the new fetcher");
	pthread_cond_signal(&chan_cond);
	pthread_mutex_unlock(&lock);
	log_info("a new fetcher is connected");
}

/* Send w's request (the fetcher answers by id) and wait for the answer until `until`. */
static void send_and_wait(struct waiting *w, const struct timespec *until)
{
	int c, rc = 0;

	pthread_cond_init(&w->cond, NULL);
	pthread_mutex_lock(&lock);
	w->id = ++next_id;
	w->next = waiting;
	waiting = w;
	/* Send on a duplicate, outside the lock: a full channel must not stop the reader from
	 * delivering replies, and the reader may close the channel meanwhile. With no fetcher
	 * connected, the request goes out when the next one connects. */
	c = chan >= 0 ? fcntl(chan, F_DUPFD_CLOEXEC, 0) : -1;
	pthread_mutex_unlock(&lock);
	if (c >= 0) {
		rc = ipc_send(c, w->type, w->id, w->payload, w->len, &w->fd, w->type == MSG_FETCH);
		close(c);
	}
	pthread_mutex_lock(&lock);
	if (rc && rc != -EPIPE && rc != -ECONNRESET && !w->done)
		finish(w, EIO, "cannot ask the fetcher");
	while (!w->done)
		if (pthread_cond_timedwait(&w->cond, &lock, until) == ETIMEDOUT) {
			finish(w, ETIMEDOUT, chan < 0 ? "the fetcher is not running" :
			       "no answer from the fetcher in time");
			break;
		}
	for (struct waiting **pp = &waiting; *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	pthread_mutex_unlock(&lock);
	pthread_cond_destroy(&w->cond);
}

int fetch_urls(int fd, int kind, uint64_t max_size, const char *const *urls, unsigned n,
	       unsigned deadline_s, struct fetch_result *res)
{
	struct waiting w = { .res = res, .fd = fd, .type = MSG_FETCH };
	struct ipc_wr wr;
	struct timespec until;

	memset(res, 0, sizeof *res);
	res->url_index = UINT32_MAX;
	if (n == 0 || n > FETCH_MAX_URLS)
		return -EINVAL;
	w.payload = malloc(IPC_MAX_PAYLOAD);
	if (!w.payload)
		return -ENOMEM;
	ipc_wr_init(&wr, w.payload, IPC_MAX_PAYLOAD);
	ipc_wr_u8(&wr, (uint8_t)kind);
	ipc_wr_u64(&wr, max_size);
	ipc_wr_u32(&wr, n);
	for (unsigned i = 0; i < n; i++)
		ipc_wr_cstr(&wr, urls[i]);
	w.len = wr.len;
	if (wr.bad) {
		free(w.payload);
		return -EMSGSIZE;
	}
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += deadline_s;
	send_and_wait(&w, &until);
	free(w.payload);
	return res->status ? -res->status : 0;
}

int fetch_push(int fd, uint64_t size, const char *url)
{
	uint8_t buf[8 + 4 + WCONF_MAX_STR];
	struct ipc_wr w;
	int c, rc;

	ipc_wr_init(&w, buf, sizeof buf);
	ipc_wr_u64(&w, size);
	ipc_wr_cstr(&w, url);
	if (w.bad)
		return -EMSGSIZE;
	pthread_mutex_lock(&lock);
	c = chan >= 0 ? fcntl(chan, F_DUPFD_CLOEXEC, 0) : -1;
	pthread_mutex_unlock(&lock);
	if (c < 0)
		return -EIO;
	rc = ipc_send(c, MSG_PUSH, 0, buf, w.len, &fd, 1);
	close(c);
	return rc;
}

int fetch_probe(const struct probe_req *r, struct probe_done *d, unsigned wait_ms)
{
	struct fetch_result res;
	struct waiting w = { .res = &res, .fd = -1, .type = MSG_PROBE, .probe = d };
	struct ipc_wr wr;
	struct timespec until;

	memset(&res, 0, sizeof res);
	d->n = r->n;
	w.payload = malloc(IPC_MAX_PAYLOAD);
	if (!w.payload)
		return -ENOMEM;
	ipc_wr_init(&wr, w.payload, IPC_MAX_PAYLOAD);
	probe_req_encode(&wr, r);
	w.len = wr.len;
	if (wr.bad) {
		free(w.payload);
		return -EINVAL;
	}
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += wait_ms / 1000;
	until.tv_nsec += (long)(wait_ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	send_and_wait(&w, &until);
	free(w.payload);
	return res.status ? -res.status : 0;
}
