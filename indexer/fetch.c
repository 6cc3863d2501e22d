/* fetch.c — asking the fetcher for a download, from any thread of the indexer.
 *
 * A request is one MSG_FETCH carrying the write end of a pipe; the caller reads the body from the
 * other end as it arrives, hashing it and writing it into its own file, which the fetcher never
 * sees: a compromised fetcher can send wrong bytes (the hash refuses them) but cannot change a
 * blob once it is verified. Hashing while the body arrives also takes the hash off the open's
 * path (MD5 runs at about the speed of a loopback download). Then the caller waits on its own
 * condition until the reader thread, the only one that reads the fetcher's channel, hands it the
 * matching MSG_FETCH_DONE.
 *
 * When the fetcher dies, the supervisor starts another and hands us its channel
 * (fetch_reconnect): a request not sent yet is sent to it; one that was sent is asked again from
 * the start, with a new pipe, when no byte of it had arrived, so a caller sees a delay, never an
 * error; one cut in the middle of its body ends as such a body does (-ECONNRESET, the caller asks
 * again). Every wait has a deadline.
 *
 * A fetcher that stops answering (stopped, wedged in a loop) must not hang opens: while it holds
 * requests it sends MSG_FETCH_ALIVE every second, and a request that has waited FETCH_SILENT_MS
 * while no fetcher said anything at all (no reply, no sign of life, no new channel) ends with EIO;
 * after that, and while no fetcher has been connected for that long (one being restarted after
 * repeated crashes), requests fail at once, until a fetcher speaks. The channel is non-blocking, so that a full one (a fetcher
 * that does not read) holds a sender no longer than that either. When the fetcher speaks again,
 * requests go to it as before.
 */
#include "indexer/fetch.h"

#include "indexer/hash.h"
#include "ipc/log.h"
#include "fetcher/probe_wire.h"
#include "ipc/proto_workers.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
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
	int fd;                 /* MSG_FETCH: the pipe's write end, until it is sent (then -1) */
	bool sent;              /* MSG_FETCH: in a fetcher's hands */
	uint8_t *payload;       /* kept to send again to a new fetcher */
	size_t len;
	uint16_t type;          /* MSG_FETCH (with fd), or MSG_PROBE (no fd) */
	struct probe_done *probe;       /* MSG_PROBE: where the answer goes */
	uint64_t start_ms;      /* when it was registered (monotonic) */
	bool gave_up;           /* ended for want of a fetcher that answers: no body will come */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t chan_cond = PTHREAD_COND_INITIALIZER;
static struct waiting *waiting;
static uint64_t next_id;
static int chan = -1;           /* -1 while no fetcher is connected */
static uint64_t heard_ms;       /* the last sign of life of a fetcher (monotonic ms) */
static bool silent;             /* requests were given up since, for want of one */

/* A fetcher spoke (called with the lock held). */
static void heard(void)
{
	heard_ms = (uint64_t)mono_ms();
	if (silent)
		log_notice("the fetcher answers again");
	silent = false;
}

static void finish(struct waiting *w, int status, const char *why)
{
	w->res->status = status;
	w->res->url_index = UINT32_MAX;
	w->res->bytes = 0;
	snprintf(w->res->reason, sizeof w->res->reason, "%s", why);
	w->done = true;
	pthread_cond_signal(&w->cond);
}

/* Called with the lock held: has w waited FETCH_SILENT_MS with no word from any fetcher (or been
 * made while none has been connected for that long)? Then it ends with EIO. True when w's answer
 * or body will not come. */
static bool given_up(struct waiting *w)
{
	uint64_t now = (uint64_t)mono_ms();
	char why[160];

	if (w->done)
		return w->gave_up || !w->sent;
	/* Once a fetcher is known to be silent, later requests fail at once (each is still sent:
	 * the fetcher answers it when it wakes up, which ends the silence). */
	if (now - heard_ms < FETCH_SILENT_MS ||
	    (chan >= 0 && !silent && now - w->start_ms < FETCH_SILENT_MS))
		return false;
	if (chan < 0)
		snprintf(why, sizeof why, "no fetcher has been running for %llu s (it is being "
			 "restarted): network layers are not reachable",
			 (unsigned long long)(now - heard_ms) / 1000);
	else
		snprintf(why, sizeof why, "the fetcher has not answered for %llu s (stopped or wedged)",
			 (unsigned long long)(now - heard_ms) / 1000);
	if (!silent)
		log_warn("%s: requests to it fail until it answers", why);
	silent = true;
	finish(w, EIO, why);
	w->gave_up = true;
	return true;
}

/* Wait up to ms for fd to be ready for `events`; 1 when it is, 0 when not yet, -errno. */
static int wait_fd(int fd, short events, int ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int rc = poll(&p, 1, ms);

	return rc < 0 ? (errno == EINTR ? 0 : -errno) : rc;
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

/* A validator as the fetcher must send it: printable ASCII (it may become a request header). */
static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return false;
	return true;
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
		uint8_t not_modified;
		char why[1025];
		struct fetch_validators v;
		int rc = ipc_recv(fd, proto_indexer_from_fetcher, proto_indexer_from_fetcher_n, &m);

		if (rc == -EAGAIN)      /* the channel is non-blocking (send_one) */
			rc = wait_fd(fd, POLLIN, -1) < 0 ? -EIO : -EINTR;
		if (rc == -EINTR)
			continue;
		if (rc <= 0) {
			log_warn("fetcher channel: %s", rc == 0 ? "closed" : strerror(-rc));
			return;
		}
		pthread_mutex_lock(&lock);
		heard();
		pthread_mutex_unlock(&lock);
		if (m.hdr.type == MSG_FETCH_ALIVE)
			continue;
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
		if (!ipc_rd_cstr(&r, why, sizeof why))
			status = UINT32_MAX;
		not_modified = ipc_rd_u8(&r);
		if (!ipc_rd_cstr(&r, v.etag, sizeof v.etag) ||
		    !ipc_rd_cstr(&r, v.last_modified, sizeof v.last_modified) || !ipc_rd_done(&r) ||
		    status > 4095 || not_modified > 1 || (not_modified && (status || bytes)) ||
		    !printable(v.etag) || !printable(v.last_modified)) {
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
			w->res->not_modified = not_modified;
			w->res->got = v;
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
		if (chan == fd) {
			chan = -1;
			heard_ms = (uint64_t)mono_ms();   /* its death is its last word */
		}
		close(fd);
		pthread_mutex_unlock(&lock);
	}
	return NULL;
}

int fetch_start(int fd)
{
	pthread_t t;

	chan = fd;
	fcntl(fd, F_SETFL, O_NONBLOCK);
	heard_ms = (uint64_t)mono_ms();
	return pthread_create(&t, NULL, reader, NULL) ? -EAGAIN : 0;
}

/* w went out (called with the lock held): a MSG_FETCH's pipe is the fetcher's alone now, so its
 * reader sees the end of the body when the fetcher closes it. */
static void mark_sent(struct waiting *w)
{
	if (w->type != MSG_FETCH)
		return;
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	w->sent = true;
}

void fetch_reconnect(int fd)
{
	pthread_mutex_lock(&lock);
	if (chan >= 0)
		shutdown(chan, SHUT_RDWR);      /* the reader leaves the old channel, then takes fd */
	chan = fd;
	fcntl(fd, F_SETFL, O_NONBLOCK);
	heard();
	for (struct waiting *w = waiting; w; w = w->next) {
		if (w->done)
			continue;
		if (w->sent) {
			/* Its pipe went with the old fetcher: the caller asks again. */
			finish(w, ECONNRESET, "the fetcher was restarted");
			continue;
		}
		if (ipc_send(fd, w->type, w->id, w->payload, w->len, &w->fd, w->type == MSG_FETCH))
			finish(w, EIO, "cannot ask the new fetcher");
		mark_sent(w);
	}
	pthread_cond_signal(&chan_cond);
	pthread_mutex_unlock(&lock);
	log_info("a new fetcher is connected");
}

static int ms_until(const struct timespec *until);

/* Register w (the fetcher answers by id) and send it; a full channel is waited on until `until`
 * or until w is given up. */
static void send_one(struct waiting *w, const struct timespec *until)
{
	int c, rc = 0;

	pthread_cond_init(&w->cond, NULL);
	pthread_mutex_lock(&lock);
	w->id = ++next_id;
	w->start_ms = (uint64_t)mono_ms();
	w->gave_up = false;
	w->next = waiting;
	waiting = w;
	/* Send on a duplicate, outside the lock: a full channel must not stop the reader from
	 * delivering replies, and the reader may close the channel meanwhile. With no fetcher
	 * connected, the request goes out when the next one connects. */
	c = chan >= 0 ? fcntl(chan, F_DUPFD_CLOEXEC, 0) : -1;
	pthread_mutex_unlock(&lock);
	while (c >= 0) {
		bool stop;

		rc = ipc_send(c, w->type, w->id, w->payload, w->len, &w->fd, w->type == MSG_FETCH);
		if (rc != -EAGAIN)
			break;
		wait_fd(c, POLLOUT, 1000);
		pthread_mutex_lock(&lock);
		stop = given_up(w) || ms_until(until) == 0;
		pthread_mutex_unlock(&lock);
		if (stop) {
			rc = -ETIMEDOUT;
			break;
		}
	}
	if (c >= 0)
		close(c);
	pthread_mutex_lock(&lock);
	/* Sent, or lost with a fetcher that died (the next one hears of it again, as sent ones). */
	if (c >= 0 && (rc == 0 || rc == -EPIPE || rc == -ECONNRESET))
		mark_sent(w);
	else if (rc && !w->done)
		finish(w, rc == -ETIMEDOUT ? ETIMEDOUT : EIO, rc == -ETIMEDOUT ?
		       "the fetcher does not take requests (its channel is full)" :
		       "cannot ask the fetcher");
	pthread_mutex_unlock(&lock);
}

/* Wait for w's answer until `until` (or until it is given up), then forget w. */
static void wait_one(struct waiting *w, const struct timespec *until)
{
	pthread_mutex_lock(&lock);
	while (!w->done && !given_up(w)) {
		struct timespec next;

		/* In steps of a second, to see a fetcher that has gone silent. */
		clock_gettime(CLOCK_REALTIME, &next);
		next.tv_sec++;
		if (next.tv_sec > until->tv_sec ||
		    (next.tv_sec == until->tv_sec && next.tv_nsec > until->tv_nsec))
			next = *until;
		if (pthread_cond_timedwait(&w->cond, &lock, &next) == ETIMEDOUT && !w->done &&
		    ms_until(until) == 0) {
			finish(w, ETIMEDOUT, chan < 0 ? "the fetcher is not running" :
			       "no answer from the fetcher in time");
			break;
		}
	}
	for (struct waiting **pp = &waiting; *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	if (w->fd >= 0)
		close(w->fd);           /* never sent */
	w->fd = -1;
	pthread_mutex_unlock(&lock);
	pthread_cond_destroy(&w->cond);
}

static void send_and_wait(struct waiting *w, const struct timespec *until)
{
	send_one(w, until);
	wait_one(w, until);
}

static int ms_until(const struct timespec *until)
{
	struct timespec now;
	long long ms;

	clock_gettime(CLOCK_REALTIME, &now);
	ms = (long long)(until->tv_sec - now.tv_sec) * 1000 +
	     (until->tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : ms > INT32_MAX ? INT32_MAX : (int)ms;
}

/* Read w's body from the pipe until its end (the fetcher closed it), `until`, or until w is
 * given up: into fd from offset 0 (pwrite: the file offset is not moved), into h when not NULL.
 * Returns the bytes read, or -errno: -EFBIG past max_size, -ETIMEDOUT, or fd's write error. */
static int64_t pump(struct waiting *w, int rd, int fd, struct hasher *h, uint64_t max_size,
		    const struct timespec *until)
{
	enum { CHUNK = 64 << 10 };
	uint8_t *buf = malloc(CHUNK);
	uint64_t got = 0;
	int64_t rc = 0;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		struct pollfd p = { .fd = rd, .events = POLLIN };
		ssize_t n = read(rd, buf, CHUNK);

		if (n == 0)
			break;
		if (n < 0 && errno == EAGAIN) {
			int left = ms_until(until);
			int pr = poll(&p, 1, left < 1000 ? left : 1000);
			bool stop;

			if (pr == 0) {
				pthread_mutex_lock(&lock);
				stop = given_up(w);
				pthread_mutex_unlock(&lock);
				if (stop || left <= 1000) {
					rc = -ETIMEDOUT;
					break;
				}
				continue;
			}
			if (pr < 0 && errno != EINTR) {
				rc = -errno;
				break;
			}
			continue;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		if ((uint64_t)n > max_size - got) {
			rc = -EFBIG;
			break;
		}
		for (ssize_t done = 0; done < n;) {
			ssize_t wr = pwrite(fd, buf + done, (size_t)(n - done),
					    (off_t)(got + (uint64_t)done));

			if (wr < 0 && errno == EINTR)
				continue;
			if (wr <= 0) {
				rc = wr < 0 ? -errno : -EIO;
				goto out;
			}
			done += wr;
		}
		if (h)
			hasher_update(h, buf, (size_t)n);
		got += (uint64_t)n;
	}
out:
	free(buf);
	return rc ? rc : (int64_t)got;
}

/* One MSG_FETCH and its body. Returns the bytes that came through the pipe, or -errno. */
static int64_t fetch_once(struct waiting *w, struct fetch_sink *out, struct hasher *h,
			  uint64_t max_size, const struct timespec *until)
{
	int p[2];
	int64_t got;

	/* Both ends non-blocking: the fetcher's poll loop must never wait on a full pipe. 256 KiB
	 * rather than 64: fewer pauses for a large blob. Not more: the kernel counts pipe capacity
	 * per user (pipe-user-pages-soft, 64 MiB), and every mount's workers share the aysfs user;
	 * past that, new pipes get two pages. */
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK))
		return -errno;
	fcntl(p[1], F_SETPIPE_SZ, 256 << 10);
	w->fd = p[1];
	w->sent = w->done = false;
	send_one(w, until);
	/* The file is made while the fetcher and the server work: on a cold disk that is a
	 * directory and an inode read. */
	if (out->fd < 0 && (out->fd = out->open(out->arg)) < 0) {
		got = out->fd;
		out->fd = -1;
	} else {
		got = pump(w, p[0], out->fd, h, max_size, until);
	}
	close(p[0]);            /* a fetcher still writing gets EPIPE */
	wait_one(w, until);
	return got;
}

static int fetch_any(struct fetch_sink *out, struct hasher *h, int kind, uint64_t max_size,
		     const char *const *urls, unsigned n, const struct fetch_validators *cond,
		     unsigned deadline_s, struct fetch_result *res)
{
	struct waiting w = { .res = res, .fd = -1, .type = MSG_FETCH };
	struct ipc_wr wr;
	struct timespec until;
	int64_t got;

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
	if (kind == FETCH_FLIST) {
		ipc_wr_cstr(&wr, cond ? cond->etag : "");
		ipc_wr_cstr(&wr, cond ? cond->last_modified : "");
	}
	w.len = wr.len;
	if (wr.bad) {
		free(w.payload);
		return -EMSGSIZE;
	}
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += deadline_s;
	/* A fetcher that died before any byte of the body: the same request to the next one. */
	while ((got = fetch_once(&w, out, h, max_size, &until)) == 0 &&
	       res->status == ECONNRESET && ms_until(&until) > 0)
		;
	free(w.payload);
	if (got < 0 && out->fd < 0) {
		/* No file to write into: whatever the fetcher said of the body it could not pass on. */
		res->status = (int)-got;
		snprintf(res->reason, sizeof res->reason, "cache: %s", strerror((int)-got));
		res->url_index = UINT32_MAX;
	} else if (got < 0 && (!res->status || res->status == ECONNRESET)) {
		/* The pipe failed us where the fetcher did not (or not yet): that is the answer. */
		res->status = (int)-got;
		snprintf(res->reason, sizeof res->reason, "%s: %s", urls[0],
			 got == -EFBIG ? "body too long" : got == -ETIMEDOUT ?
			 "the body did not end before the deadline" : strerror((int)-got));
		res->url_index = UINT32_MAX;
	} else if (!res->status && (uint64_t)got != res->bytes) {
		res->status = EIO;
		snprintf(res->reason, sizeof res->reason,
			 "the fetcher reported %llu bytes, the pipe carried %lld",
			 (unsigned long long)res->bytes, (long long)got);
		res->url_index = UINT32_MAX;
	}
	return res->status ? -res->status : 0;
}

int fetch_urls(struct fetch_sink *out, struct hasher *h, int kind, uint64_t max_size,
	       const char *const *urls, unsigned n, unsigned deadline_s, struct fetch_result *res)
{
	return fetch_any(out, h, kind, max_size, urls, n, NULL, deadline_s, res);
}

int fetch_flist(struct fetch_sink *out, struct hasher *h, uint64_t max_size, const char *url,
		const struct fetch_validators *cond, unsigned deadline_s, struct fetch_result *res)
{
	const char *const urls[1] = { url };

	return fetch_any(out, h, FETCH_FLIST, max_size, urls, 1, cond, deadline_s, res);
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
	/* A background job: a full channel is waited on, for a while. */
	for (int waited = 0; (rc = ipc_send(c, MSG_PUSH, 0, buf, w.len, &fd, 1)) == -EAGAIN &&
	     waited < FETCH_SILENT_MS; waited += 1000)
		wait_fd(c, POLLOUT, 1000);
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
