/* fetch.c — asking the fetcher for a download, from any thread of the indexer.
 *
 * A request is one MSG_FETCH carrying the fd to fill; the caller then sleeps on its own condition
 * until the reader thread, the only one that reads the fetcher's channel, hands it the matching
 * MSG_FETCH_DONE. Every wait has a deadline, and when the fetcher goes away every waiter is woken
 * with an error at once.
 */
#include "indexer/fetch.h"

#include "ipc/log.h"
#include "ipc/proto.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct waiting {
	struct waiting *next;
	uint64_t id;
	bool done;
	struct fetch_result *res;
	pthread_cond_t cond;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct waiting *waiting;
static uint64_t next_id;
static bool gone;               /* the fetcher's channel is closed or broke the protocol */
static int chan = -1;

static void finish(struct waiting *w, int status, const char *why)
{
	w->res->status = status;
	w->res->url_index = UINT32_MAX;
	w->res->bytes = 0;
	snprintf(w->res->reason, sizeof w->res->reason, "%s", why);
	w->done = true;
	pthread_cond_signal(&w->cond);
}

static void *reader(void *arg)
{
	static struct ipc_msg m;

	for (;;) {
		struct ipc_rd r;
		struct waiting *w;
		uint32_t status, idx;
		uint64_t bytes;
		char why[1025];
		int rc = ipc_recv(chan, proto_indexer_from_fetcher, proto_indexer_from_fetcher_n, &m);

		if (rc == -EINTR)
			continue;
		if (rc <= 0) {
			log_err("fetcher channel: %s", rc == 0 ? "closed" : strerror(-rc));
			break;
		}
		ipc_rd_init(&r, m.payload, m.hdr.len);
		status = ipc_rd_u32(&r);
		idx = ipc_rd_u32(&r);
		bytes = ipc_rd_u64(&r);
		if (!ipc_rd_cstr(&r, why, sizeof why) || !ipc_rd_done(&r) || status > 4095) {
			log_err("fetcher sent a malformed reply");
			break;
		}
		pthread_mutex_lock(&lock);
		for (w = waiting; w && w->id != m.hdr.id; w = w->next)
			;
		if (w && !w->done) {
			w->res->status = (int)status;
			w->res->url_index = idx;
			w->res->bytes = bytes;
			memcpy(w->res->reason, why, sizeof why);
			w->done = true;
			pthread_cond_signal(&w->cond);
		}
		pthread_mutex_unlock(&lock);
	}
	pthread_mutex_lock(&lock);
	gone = true;
	for (struct waiting *w = waiting; w; w = w->next)
		if (!w->done)
			finish(w, EIO, "the fetcher is not running");
	pthread_mutex_unlock(&lock);
	return NULL;
}

int fetch_start(int fd)
{
	pthread_t t;

	chan = fd;
	return pthread_create(&t, NULL, reader, NULL) ? -EAGAIN : 0;
}

int fetch_urls(int fd, int kind, uint64_t max_size, const char *const *urls, unsigned n,
	       unsigned deadline_s, struct fetch_result *res)
{
	static uint8_t buf[IPC_MAX_PAYLOAD];    /* used under the lock only: no 64 KiB stack frame */
	struct waiting w = { .res = res };
	struct ipc_wr wr;
	struct timespec until;
	int rc = 0;

	memset(res, 0, sizeof *res);
	res->url_index = UINT32_MAX;
	if (n == 0 || n > FETCH_MAX_URLS)
		return -EINVAL;
	pthread_cond_init(&w.cond, NULL);
	pthread_mutex_lock(&lock);
	if (gone || chan < 0) {
		pthread_mutex_unlock(&lock);
		snprintf(res->reason, sizeof res->reason, "the fetcher is not running");
		res->status = EIO;
		return -EIO;
	}
	w.id = ++next_id;
	w.next = waiting;
	waiting = &w;
	ipc_wr_init(&wr, buf, IPC_MAX_PAYLOAD);
	ipc_wr_u8(&wr, (uint8_t)kind);
	ipc_wr_u64(&wr, max_size);
	ipc_wr_u32(&wr, n);
	for (unsigned i = 0; i < n; i++)
		ipc_wr_cstr(&wr, urls[i]);
	rc = wr.bad ? -EMSGSIZE : ipc_send(chan, MSG_FETCH, w.id, buf, wr.len, &fd, 1);
	if (rc) {
		finish(&w, EIO, "cannot ask the fetcher");
	} else {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += deadline_s;
		while (!w.done)
			if (pthread_cond_timedwait(&w.cond, &lock, &until) == ETIMEDOUT) {
				finish(&w, ETIMEDOUT, "no answer from the fetcher in time");
				break;
			}
	}
	for (struct waiting **pp = &waiting; *pp; pp = &(*pp)->next)
		if (*pp == &w) {
			*pp = w.next;
			break;
		}
	pthread_mutex_unlock(&lock);
	pthread_cond_destroy(&w.cond);
	return res->status ? -res->status : 0;
}

int fetch_push(int fd, uint64_t size, const char *url)
{
	uint8_t buf[8 + 4 + WCONF_MAX_STR];
	struct ipc_wr w;

	if (gone || chan < 0)
		return -EIO;
	ipc_wr_init(&w, buf, sizeof buf);
	ipc_wr_u64(&w, size);
	ipc_wr_cstr(&w, url);
	return w.bad ? -EMSGSIZE : ipc_send(chan, MSG_PUSH, 0, buf, w.len, &fd, 1);
}
