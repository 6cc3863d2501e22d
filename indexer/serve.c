/* serve.c — the fuser's requests for blobs (MSG_OPEN): checked, answered on the main thread when
 * the local cache has the blob and the kernel has its path cached, else by a pool of threads; and
 * what an open sets off, read-ahead (ahead.c decides, the published order, order.c), on a pool of
 * its own, into the local cache only. The fuser's channel, shared by the threads that answer, is
 * here too.
 */
#include "indexer/serve.h"
#include "indexer/ahead.h"
#include "indexer/cache.h"
#include "indexer/ctl.h"
#include "indexer/order.h"
#include "indexer/tree.h"

#include "ipc/log.h"
#include "ipc/proto_workers.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define OPEN_THREADS 4          /* opens served at once; the fuser sends one request per blob */
/* Read-ahead (ahead.c's guesses, the published order's next files) served at once, on threads of
 * its own: most of them wait on the network, where the fetcher serves them after every open
 * (FETCH_MAX_AHEAD transfers at most). */
#define AHEAD_THREADS 16

static struct blobs *blobs;

/* A request for a blob, queued for a pool. */
struct open_job {
	struct open_job *next;
	/* Read-ahead, on the AHEAD_THREADS: into the local cache only, answered to nobody; `guess`:
	 * one of ahead.c's (the others are the published order's). */
	bool ahead, guess;
	/* An open that missed: ahead.c's guesses after it, queued once its blob is here (on two
	 * cores, guesses beside the open it follows would slow it: each process on its way would
	 * serve several requests instead of one). */
	struct open_job *after;
	/* An open of a guess (ahead.c): in the cache from that layer, or being fetched by a
	 * read-ahead thread (ahead_took then says from where): guess_layer(). */
	const char *came_from;
	bool guess_in_flight;
	bool promoted;          /* an open that took over a queued guess (CACHE_APP_AHEAD) */
	uint64_t id;
	uint64_t size;
	uint8_t hash[32];
	uint8_t hash_len;
	unsigned fuser_epoch;           /* which fuser asked (see fuser_lock) */
	char path[4097];
};

/* The fuser's channel is FD_PEER1; a restarted fuser's channel replaces it (dup2) under this lock,
 * and each new fuser gets a new epoch, so that an answer meant for a dead fuser never reaches its
 * successor (whose request ids start again). */
static pthread_mutex_t fuser_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned fuser_epoch;
#define NO_FUSER UINT_MAX       /* the epoch of jobs nobody waits for (read-ahead) */

/* The two pools' queues: opens, and read-ahead. */
static struct pool {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct open_job *head, **tail;
} opens = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, &opens.head },
  aheads = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, &aheads.head };

/* Send the fuser of `epoch` the blob (rc 0, fd, size bytes) or the failure of request id.
 * Returns 0 when the fuser got the blob's fd. */
static int answer_with(uint64_t id, unsigned epoch, int rc, int fd, const char *layer,
		       uint64_t size)
{
	int sent = -1;
	uint8_t buf[4 + WCONF_MAX_STR];
	struct ipc_wr w;

	ipc_wr_init(&w, buf, sizeof buf);
	pthread_mutex_lock(&fuser_lock);
	if (epoch != fuser_epoch) {
		rc = 0;         /* its fuser is gone: nobody waits for this answer */
		if (fd >= 0)
			close(fd);
	} else if (rc == 0) {
		ictl_note_blob(layer, size);
		ipc_wr_cstr(&w, layer);
		rc = sent = ipc_send(FD_PEER1, MSG_BLOB, id, buf, w.len, &fd, 1);
		close(fd);
	} else {
		ipc_wr_u32(&w, EIO);
		rc = ipc_send(FD_PEER1, MSG_BLOB_ERR, id, buf, w.len, NULL, 0);
	}
	pthread_mutex_unlock(&fuser_lock);
	if (rc)
		log_err("cannot answer the fuser: %s", strerror(-rc));
	return sent;
}

/* An open found its blob in the local cache (`layer`): what it says it came from, the layer a
 * guess fetched it from if it was one (user.aysfs.layer, as when the fuser asked for guesses). */
static const char *guess_layer(struct open_job *j, const char *layer)
{
	if (j->guess_in_flight) {
		j->came_from = ahead_took(j->hash, j->hash_len);
		j->guess_in_flight = false;
	}
	return j->came_from ? j->came_from : layer;
}

/* The blob stays pinned in the cache while the fuser holds its fd (until MSG_BLOB_CLOSED).
 * Returns 0 when the blob was found or fetched. */
static int answer(struct open_job *j)
{
	const char *layer = NULL;
	bool hit = false;
	int fd = -1, rc;

	enum cache_use use = j->ahead ? CACHE_PEEK : j->promoted ? CACHE_APP_AHEAD : CACHE_APP;
	unsigned flags = j->ahead ? BLOB_AHEAD : 0;
	bool pin;

	/* The guess read-ahead is fetching for it: it waits for that, not beside it (once it has
	 * the blob in the cache, the open is a hit; had the open won the lookup, it would have
	 * fetched the blob itself, a miss that read-ahead saw coming). */
	if (j->guess_in_flight)
		ahead_wait(j->hash, j->hash_len);
	rc = cache_acquire(j->hash, j->hash_len, j->size, use);
	if (rc == -ENOSPC) {
		if (j->guess)
			ahead_done(j->hash, j->hash_len, -ENOSPC, NULL);
		answer_with(j->id, j->fuser_epoch, -ENOSPC, -1, NULL, j->size);
		return -ENOSPC;
	}
	if (rc == CACHE_ABSENT)
		flags |= BLOB_NOT_CACHED;
	rc = blob_get(blobs, j->hash, j->hash_len, j->size, j->path, flags, &fd, &layer, &hit);
	if (j->guess)
		ahead_done(j->hash, j->hash_len, rc, layer);
	if (rc == 0 && hit)
		layer = guess_layer(j, layer);
	/* Pinned before the send: the fuser's MSG_BLOB_CLOSED may come back at once. */
	pin = rc == 0 && use != CACHE_PEEK;
	cache_done(j->hash, j->hash_len, j->size, rc, hit, pin, use);
	if (answer_with(j->id, j->fuser_epoch, rc, fd, layer, j->size) && pin)
		cache_closed(j->hash, j->hash_len);     /* the fuser holds nothing */
	return rc;
}

static void pool_add(struct pool *p, struct open_job *j)
{
	pthread_mutex_lock(&p->lock);
	*p->tail = j;
	p->tail = &j->next;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

/* Read-ahead's guesses (a list through `next`) go to the read-ahead threads once the open they
 * follow has its blob (ok), or are forgotten. */
static void queue_guesses(struct open_job *list, bool ok)
{
	while (list) {
		struct open_job *a = list;

		list = a->next;
		a->next = NULL;
		if (ok) {
			pool_add(&aheads, a);
		} else {
			ahead_cancel(a->hash, a->hash_len);
			free(a);
		}
	}
}

/* A thread of a pool: its jobs in the order they came. */
static void *pool_thread(void *arg)
{
	struct pool *p = arg;
	int rc;

	if (p == &aheads)
		cache_thread_background();
	for (;;) {
		struct open_job *j;

		pthread_mutex_lock(&p->lock);
		while (!p->head)
			pthread_cond_wait(&p->cond, &p->lock);
		j = p->head;
		if (!(p->head = j->next))
			p->tail = &p->head;
		pthread_mutex_unlock(&p->lock);
		/* An open took this guess over while it was queued. */
		if (j->guess && !ahead_start(j->hash, j->hash_len)) {
			free(j);
			continue;
		}
		rc = answer(j);
		queue_guesses(j->after, rc == 0);
		free(j);
	}
	return NULL;
}

/* The cache is full of pinned blobs: the fuser unpins those it keeps idle. */
void serve_cache_full(void)
{
	pthread_mutex_lock(&fuser_lock);
	ipc_send(FD_PEER1, MSG_BLOB_UNPIN, 0, NULL, 0, NULL, 0);
	pthread_mutex_unlock(&fuser_lock);
}

/* A blob left the cache: the fuser closes the fd it may keep for it (else the disk space stays
 * taken until it does). */
void serve_blob_gone(const uint8_t *hash, size_t len)
{
	uint8_t buf[1 + 32];
	struct ipc_wr w;

	ipc_wr_init(&w, buf, sizeof buf);
	ipc_wr_u8(&w, (uint8_t)len);
	ipc_wr_bytes(&w, hash, len);
	pthread_mutex_lock(&fuser_lock);
	ipc_send(FD_PEER1, MSG_BLOB_GONE, 0, buf, w.len, NULL, 0);
	pthread_mutex_unlock(&fuser_lock);
}

/* An application opens j's file `in`: recorded for `aysfs-ctl order`; when it is one of the
 * published order (order=N), the next files of the order are asked for on the read-ahead threads,
 * answered to nobody (an epoch no fuser has): they only go into the local cache. */
static void order_ahead(const struct ix *ix, const struct open_job *j, const struct ix_inode *in)
{
	struct order_item next[ORDER_WINDOW];
	size_t n = order_opened(ix, in, j->path, j->hash, j->hash_len, next, ORDER_WINDOW);

	for (size_t i = 0; i < n; i++) {
		struct open_job *a = calloc(1, sizeof *a);

		if (!a)
			return;
		a->ahead = true;
		a->fuser_epoch = NO_FUSER;
		a->size = next[i].size;
		a->hash_len = next[i].hash_len;
		memcpy(a->hash, next[i].hash, next[i].hash_len);
		strcpy(a->path, "(published order)");
		pool_add(&aheads, a);
	}
}

/* An open took over a guess still queued: its job leaves the read-ahead queue (unless a thread
 * has just taken it: ahead_start then drops it), and the open is served as any other, by the open
 * pool and a FETCH_BLOB. The queue holds at most AHEAD_PENDING guesses. */
static void promote(const struct open_job *j)
{
	struct open_job *a, **pp;

	pthread_mutex_lock(&aheads.lock);
	for (pp = &aheads.head; (a = *pp) && !(a->guess && a->hash_len == j->hash_len &&
					     memcmp(a->hash, j->hash, j->hash_len) == 0);
	     pp = &a->next)
		;
	if (a && !(*pp = a->next))
		aheads.tail = pp;
	pthread_mutex_unlock(&aheads.lock);
	free(a);
	log_debug("%s: read-ahead job promoted to an open", j->path);
}

/* What read-ahead makes of the open j of `in` (ahead.c decides; j learns whether it was a
 * guess). */
static enum ahead_verdict note_open(const struct ix *ix, struct open_job *j, const struct ix_inode *in)
{
	struct ahead_open o;

	ahead_opened(ix, (uint32_t)(in - ix->inodes), j->hash, j->hash_len, &o);
	if ((j->promoted = o.dropped))
		promote(j);
	j->came_from = o.came_from;
	j->guess_in_flight = o.in_flight;
	return o.verdict;
}

/* The files of a walk that the local cache holds: the fuser may ask for their fds now, so that
 * the program's opens of them, warm, need no round trip (MSG_AHEAD; its MSG_PREFETCH). */
static void hint_fuser(const struct ix *ix, const uint32_t *slots, size_t n)
{
	uint8_t buf[4 + 8 * AHEAD_HINT_MAX];
	struct ipc_wr w;

	if (n == 0)
		return;
	ipc_wr_init(&w, buf, sizeof buf);
	ipc_wr_u32(&w, (uint32_t)(n < AHEAD_HINT_MAX ? n : AHEAD_HINT_MAX));
	for (size_t i = 0; i < n && i < AHEAD_HINT_MAX; i++)
		ipc_wr_u64(&w, ix->inodes[slots[i]].ino);
	pthread_mutex_lock(&fuser_lock);
	ipc_send(FD_PEER1, MSG_AHEAD, 0, buf, w.len, NULL, 0);
	pthread_mutex_unlock(&fuser_lock);
}

/* The jobs of read-ahead's guesses after an open of `in`, a list through `next` (NULL: none). */
static struct open_job *guesses_after(const struct ix *ix, const struct ix_inode *in,
				      enum ahead_verdict v)
{
	uint32_t next[AHEAD_FILES], have[AHEAD_FILES];
	struct open_job *list = NULL, **tail = &list;
	size_t nhave = 0, n = v == AHEAD_NONE ? 0 :
		ahead_plan(ix, (uint32_t)(in - ix->inodes), v, cache_present, next, AHEAD_FILES,
			   have, &nhave), i;

	hint_fuser(ix, have, nhave);

	for (i = 0; i < n; i++) {
		const struct ix_inode *s = &ix->inodes[next[i]];
		struct open_job *a = calloc(1, sizeof *a);

		if (!a)
			break;
		a->ahead = a->guess = true;
		a->fuser_epoch = NO_FUSER;
		a->size = s->size;
		a->hash_len = (uint8_t)s->b;
		memcpy(a->hash, ix_bytes(ix, s->a), a->hash_len);
		if (ix_path(ix, s, a->path, sizeof a->path) < 0)
			strcpy(a->path, "(read-ahead)");
		*tail = a;
		tail = &a->next;
	}
	for (; i < n; i++)      /* out of memory: those not made are not guessed */
		ahead_cancel(ix_bytes(ix, ix->inodes[next[i]].a), ix->inodes[next[i]].b);
	return list;
}

int serve_open(uint64_t id, const void *payload, size_t len, const struct ix *ix,
	       enum serve_kind kind)
{
	struct open_job *j = calloc(1, sizeof *j);
	enum ahead_verdict v = AHEAD_NONE;
	const struct ix_inode *in = NULL;
	const char *layer = NULL;
	struct ipc_rd r;
	const void *hash;
	int fd;

	if (!j)
		return -ENOMEM;
	ipc_rd_init(&r, payload, len);
	j->id = id;
	j->hash_len = ipc_rd_u8(&r);
	hash = ipc_rd_bytes(&r, j->hash_len);
	j->size = ipc_rd_u64(&r);
	if ((j->hash_len != 16 && j->hash_len != 32) || !hash || !ipc_rd_cstr(&r, j->path, sizeof j->path) ||
	    !ipc_rd_done(&r) || j->size == 0 || j->size > INT64_MAX) {
		free(j);
		return -EPROTO;
	}
	memcpy(j->hash, hash, j->hash_len);
	j->fuser_epoch = fuser_epoch;   /* written by this (the main) thread only */
	if (kind == SERVE_PREFETCH) {
		/* A hint's: answered from the local cache or not at all; the program opened nothing. */
		int rc = -ENOENT;

		fd = -1;
		if (cache_pin_present(j->hash, j->hash_len) &&
		    (rc = blob_cached(blobs, j->hash, j->hash_len, j->size, &fd, &layer))) {
			fd = -1;
			cache_closed(j->hash, j->hash_len);
		}
		if (answer_with(j->id, j->fuser_epoch, rc, fd, layer, j->size) && rc == 0)
			cache_closed(j->hash, j->hash_len);     /* the fuser holds nothing */
		free(j);
		return 0;
	}
	if (ix && (in = tree_ix_resolve(ix, j->path)) && S_ISREG(in->mode) && in->size > 0)
		v = note_open(ix, j, in);
	if (kind == SERVE_OPENED) {
		if (in)
			order_ahead(ix, j, in);
		free(j);
		queue_guesses(in ? guesses_after(ix, in, v) : NULL, true);
		return 0;
	}
	/* No thread hand-off on the path of a warm open: pinned, as the pool would. What the open
	 * sets off is worked out after the answer: the fuser waits for it. */
	if (cache_pin_present(j->hash, j->hash_len)) {
		if (blob_cached(blobs, j->hash, j->hash_len, j->size, &fd, &layer) == 0) {
			cache_count_hit();
			layer = guess_layer(j, layer);
			if (answer_with(j->id, j->fuser_epoch, 0, fd, layer, j->size))
				cache_closed(j->hash, j->hash_len);
			if (in)
				order_ahead(ix, j, in);
			free(j);
			queue_guesses(in ? guesses_after(ix, in, v) : NULL, true);
			return 0;
		}
		cache_closed(j->hash, j->hash_len);
	}
	if (in)
		order_ahead(ix, j, in);
	if (v == AHEAD_RIGHT) {
		pool_add(&opens, j);
		queue_guesses(guesses_after(ix, in, v), true);
	} else {
		j->after = in ? guesses_after(ix, in, v) : NULL;
		pool_add(&opens, j);
	}
	return 0;
}

int serve_new_fuser(int peer)
{
	int rc = 0;

	pthread_mutex_lock(&fuser_lock);
	if (dup2(peer, FD_PEER1) < 0)
		rc = -errno;
	fuser_epoch++;
	pthread_mutex_unlock(&fuser_lock);
	close(peer);
	return rc;
}

int serve_start(struct blobs *b)
{
	blobs = b;
	for (int i = 0; i < OPEN_THREADS + AHEAD_THREADS; i++) {
		pthread_t t;

		if (pthread_create(&t, NULL, pool_thread, i < OPEN_THREADS ? &opens : &aheads))
			return -EAGAIN;
	}
	return 0;
}
