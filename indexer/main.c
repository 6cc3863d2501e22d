/* aysfs-indexer — parses flists, builds the index, and owns the blob caches.
 *
 * Started by the supervisor as an unprivileged user with fd 3 (supervisor), fd 4 (fuser) and
 * fd 5 (fetcher). It has no network. It takes the configuration, builds the tree from the
 * flists (untrusted input, parsed defensively), hands the sealed image to the fuser, and then
 * answers the fuser's requests for blobs.
 */
#include "indexer/ahead.h"
#include "indexer/blob.h"
#include "indexer/cache.h"
#include "indexer/discover.h"
#include "indexer/ctl.h"
#include "indexer/fetch.h"
#include "indexer/indexer.h"
#include "indexer/istore.h"
#include "indexer/order.h"
#include "indexer/refresh.h"
#include "indexer/tree.h"
#include "indexer/watch.h"

#include "ipc/index.h"
#include "ipc/log.h"
#include "ipc/proto_workers.h"
#include "policy/policy.h"
#include "policy/seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONF_DEADLINE_MS 10000
#define OPEN_THREADS 4          /* opens served at once; the fuser sends one request per blob */
/* Read-ahead (ahead.c's guesses, the published order's next files) served at once, on threads of
 * its own: most of them wait on the network, where the fetcher serves them after every open
 * (FETCH_MAX_AHEAD transfers at most). */
#define AHEAD_THREADS 16

static struct ipc_msg msg;
static struct worker_conf conf;
/* The configuration of the last reload (the start-up one until then): what a reload asked for
 * by the refresh thread (refresh.c) builds its tree from. */
static struct worker_conf live;
static bool has_live;
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

	enum cache_use use = j->ahead ? CACHE_PEEK : CACHE_APP;
	unsigned flags = j->ahead ? BLOB_AHEAD : 0;
	bool pin;

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
	pin = rc == 0 && use == CACHE_APP;
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

/* The prefetcher's way into the cache: the same lookup as an open, without an fd to keep. */
static int prefetch_get(const uint8_t *hash, size_t hash_len, uint64_t size, const char *path,
			bool *hit)
{
	const char *layer;
	int fd, rc = blob_get(blobs, hash, hash_len, size, path, BLOB_NOT_CACHED, &fd, &layer, hit);

	if (rc == 0)
		close(fd);
	return rc;
}

/* The image the fuser serves: the base that the next reload numbers against. */
static struct {
	int fd;
	void *map;
	size_t size;
	struct ix ix;
	uint64_t generation;
} cur = { .fd = -1 };

/* Take fd (a sealed image) as the current tree; fd is kept. `checked`: its mapping validated
 * already (a stored image, by istore_load), taken; else it is mapped and validated here. Returns 0
 * or -errno. */
static int set_current(int fd, size_t size, uint64_t generation, const struct worker_conf *c,
		       void *checked, const struct ix *checked_ix)
{
	char err[256];
	struct ix ix;
	void *map = checked;

	/* The fuser's image (a restarted indexer's base) is checked as the fuser checks ours. */
	if (checked)
		ix = *checked_ix;
	else if (ix_map_sealed(&ix, fd, size, &map, err, sizeof err)) {
		log_err("index: %s", err);
		return -EINVAL;
	}
	if (cur.map)
		cache_unmap_tree(cur.map, cur.size);    /* the cache may still use it */
	if (cur.fd >= 0)
		close(cur.fd);
	cur.fd = fd;
	cur.map = map;
	cur.size = size;
	cur.ix = ix;
	cur.generation = generation;
	ahead_new_tree();
	/* The cache checks blob sizes against it and prefetches from it. */
	if (cache_set_tree(map, size, &ix, c))
		log_warn("cache: cannot take the tree: no size check or prefetch for it");
	return 0;
}

/* The stored image of the tree served (istore.h): its checksum once it is known, i.e. once it was
 * taken from state_dir or written there (by the store thread, off the mount's path). */
static pthread_mutex_t stored_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	uint64_t generation;
	bool known;
	uint8_t sum[32];
} stored;
static pthread_t store_thread;
static bool store_started;

struct store_job {
	char *state_dir;
	uint8_t key[32], name[32];
	int fd;
	size_t size;
	struct order_item *order;
	size_t norder;
	char *notes;
	size_t notes_len;
	uint64_t entries, generation;
	uint32_t services, rejected;
};

static void *store_main(void *arg)
{
	struct store_job *j = arg;
	uint8_t sum[32];
	int rc = istore_save(j->state_dir, j->name, j->key, j->fd, j->size, j->order, j->norder, j->notes,
			     j->notes_len, j->entries, j->services, j->rejected, sum);

	if (rc) {
		log_warn("index: cannot store the image in %s: %s", j->state_dir, strerror(-rc));
	} else {
		pthread_mutex_lock(&stored_lock);
		if (stored.generation == j->generation) {
			stored.known = true;
			memcpy(stored.sum, sum, sizeof sum);
		}
		pthread_mutex_unlock(&stored_lock);
		log_info("index: generation %llu stored in %s", (unsigned long long)j->generation,
			 j->state_dir);
	}
	close(j->fd);
	free(j->order);
	free(j->notes);
	free(j->state_dir);
	free(j);
	return NULL;
}

/* The tree of generation (res) is served: note its stored image, or store it (res->notes is
 * taken). */
static void note_stored(const struct worker_conf *c, uint64_t generation, struct load_result *res)
{
	struct store_job *j;

	pthread_mutex_lock(&stored_lock);
	stored.generation = generation;
	stored.known = res->stored;
	memcpy(stored.sum, res->sum, sizeof stored.sum);
	pthread_mutex_unlock(&stored_lock);
	if (!res->store) {
		free(res->notes);
		return;
	}
	if (store_started)
		pthread_join(store_thread, NULL);       /* one writer at a time */
	store_started = false;
	if (!(j = calloc(1, sizeof *j)) || !(j->state_dir = strdup(c->state_dir)) ||
	    (res->norder && !(j->order = malloc(res->norder * sizeof *j->order))) ||
	    (j->fd = fcntl(res->fd, F_DUPFD_CLOEXEC, 0)) < 0) {
		if (j) {
			free(j->state_dir);
			free(j->order);
		}
		free(j);
		free(res->notes);
		log_warn("index: cannot store the image: out of memory");
		return;
	}
	memcpy(j->key, res->key, sizeof j->key);
	memcpy(j->name, res->name, sizeof j->name);
	if (res->norder)
		memcpy(j->order, res->order, res->norder * sizeof *j->order);
	j->notes = res->notes;
	j->notes_len = res->notes_len;
	j->size = res->size;
	j->norder = res->norder;
	j->entries = res->entries;
	j->generation = generation;
	j->services = res->services;
	j->rejected = res->parse_rejected;
	if (pthread_create(&store_thread, NULL, store_main, j)) {
		close(j->fd);
		free(j->order);
		free(j->notes);
		free(j->state_dir);
		free(j);
		log_warn("index: cannot store the image: no thread");
		return;
	}
	store_started = true;
}

static void tree_fail(const char *why)
{
	uint8_t fail[4 + 1024];
	struct ipc_wr w;

	ipc_wr_init(&w, fail, sizeof fail);
	ipc_wr_str(&w, why, strnlen(why, 1024));
	ipc_send(FD_SUPERVISOR, MSG_TREE_FAIL, 0, fail, w.len, NULL, 0);
}

/* Build the tree of `c` and hand it to the fuser. A first tree that cannot be built is fatal; a
 * reload that fails, or that would drop a service (a malformed or missing flist), keeps the tree
 * being served. */
static void send_tree(const struct worker_conf *c)
{
	uint64_t generation = cur.generation + 1;
	struct load_result res;
	uint8_t buf[24];
	char why[512];
	struct ipc_wr w;
	uint8_t prev_sum[32];
	bool has_sum;
	int rc;

	pthread_mutex_lock(&stored_lock);
	has_sum = cur.map && stored.known && stored.generation == cur.generation;
	memcpy(prev_sum, stored.sum, sizeof prev_sum);
	pthread_mutex_unlock(&stored_lock);
	rc = load_tree(c, blobs_cache_root(blobs), generation, cur.map ? &cur.ix : NULL,
		       has_sum ? prev_sum : NULL, &res);

	if (rc || (cur.map && res.rejected)) {
		free(res.order);
		free(res.notes);
		if (rc)
			snprintf(why, sizeof why, "%s", strerror(-rc));
		else
			snprintf(why, sizeof why, "%u services rejected (see above)", res.rejected);
		if (!rc)
			close(res.fd);
		if (!rc && res.map)
			munmap(res.map, res.size);
		if (!cur.map) {
			tree_fail(why);
			die(70, "cannot build the tree: %s", why);
		}
		snprintf(why + strlen(why), sizeof why - strlen(why), "; reload failed, still serving generation %llu",
			 (unsigned long long)cur.generation);
		log_err("%s", why);
		tree_fail(why);
		return;
	}
	ipc_wr_init(&w, buf, sizeof buf);
	ipc_wr_u64(&w, generation);
	ipc_wr_u64(&w, res.size);
	rc = ipc_send(FD_PEER1, MSG_INDEX, generation, buf, w.len, &res.fd, 1);
	if (rc && !cur.map)
		die(71, "cannot send the index to the fuser: %s", strerror(-rc));
	if (rc && res.map)
		munmap(res.map, res.size);
	if (rc || set_current(res.fd, res.size, generation, c, res.map, &res.ix)) {
		close(res.fd);
		free(res.order);
		free(res.notes);
		return;
	}
	note_stored(c, generation, &res);
	order_set(&cur.ix, res.order, res.norder);
	ipc_wr_init(&w, buf, sizeof buf);
	ipc_wr_u64(&w, generation);
	ipc_wr_u64(&w, res.entries);
	ipc_wr_u32(&w, res.services);
	ipc_wr_u32(&w, res.rejected);
	ipc_send(FD_SUPERVISOR, MSG_TREE_DONE, 0, buf, w.len, NULL, 0);
	ictl_note_tree(c, res.entries, res.services, res.rejected);
}

/* A reload that came before a restarted indexer had its base (the supervisor restarts the indexer
 * when a reload changes its folders): done once the base is there, so that unchanged paths keep
 * their inode numbers. */
static uint8_t *deferred;
static size_t deferred_len;
static bool has_base;

static void reload(const void *payload, size_t len);

/* A restarted indexer learns from the fuser which tree is served: the base of the next reload. */
static int on_base_index(void)
{
	struct ipc_rd r;
	uint64_t gen, size;

	ipc_rd_init(&r, msg.payload, msg.hdr.len);
	gen = ipc_rd_u64(&r);
	size = ipc_rd_u64(&r);
	if (!ipc_rd_done(&r) || size == 0 || size > SIZE_MAX / 2 ||
	    set_current(msg.fds[0], size, gen, &conf, NULL, NULL)) {
		close(msg.fds[0]);
		log_warn("the fuser's tree could not be taken as a base; the next reload renumbers");
	}
	has_base = true;
	if (deferred) {
		reload(deferred, deferred_len);
		free(deferred);
		deferred = NULL;
	}
	return 0;
}

/* Watch what a change of reloads, as the configuration in force names it. */
static void watch_conf(const struct worker_conf *c)
{
	const char *files[WCONF_MAX_SERVICES];
	size_t n = 0;

	for (uint32_t i = 0; i < c->nservices; i++)
		if (c->services[i].flist[0])
			files[n++] = c->services[i].flist;
	watch_set(c->config_file, files, n, c->flist_dir);
}

/* A new configuration: a new tree from its services and flists. The layers and the cache stay
 * those the indexer started with (the blob threads use them); a change there needs a restart. */
static void reload(const void *payload, size_t len)
{
	struct worker_conf c;

	if (proto_conf_decode(payload, len, &c)) {
		log_err("reload: malformed configuration from the supervisor");
		return;
	}
	log_init("indexer", (int)c.log_level);
	/* -auto: discover again; the new layer list (discovered + configured) is used at once. */
	if (c.auto_root[0]) {
		int rc = discover_reload(&c, blobs);

		if (rc)
			log_err("reload: auto-discovery: %s", strerror(-rc));
		if (strcmp(c.cache_dir, conf.cache_dir))
			log_warn("reload: a cache change takes effect at the next start");
	} else if (c.nlayers != conf.nlayers || strcmp(c.cache_dir, conf.cache_dir)) {
		log_warn("reload: layer and cache changes take effect at the next start");
	}
	send_tree(&c);
	if (has_live)
		proto_conf_free(&live);
	live = c;
	has_live = true;
	watch_conf(&live);
}

/* No handle of the fuser uses a blob any more (it may be evicted from now on), or one does again
 * (MSG_BLOB_HELD: pinned again). */
static int on_blob_use(bool held)
{
	uint8_t hash[32];
	int n = proto_blob_closed_decode(msg.payload, msg.hdr.len, hash);

	if (n < 0)
		return n;
	if (held)
		cache_held(hash, (size_t)n);
	else
		cache_closed(hash, (size_t)n);
	return 0;
}

/* The cache is full of pinned blobs: the fuser unpins those it keeps idle. */
static void on_cache_full(void)
{
	pthread_mutex_lock(&fuser_lock);
	ipc_send(FD_PEER1, MSG_BLOB_UNPIN, 0, NULL, 0, NULL, 0);
	pthread_mutex_unlock(&fuser_lock);
}

/* A blob left the cache: the fuser closes the fd it may keep for it (else the disk space stays
 * taken until it does). */
static void on_blob_gone(const uint8_t *hash, size_t len)
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
static void order_ahead(const struct open_job *j, const struct ix_inode *in)
{
	struct order_item next[ORDER_WINDOW];
	size_t n = order_opened(&cur.ix, in, j->path, j->hash, j->hash_len, next, ORDER_WINDOW);

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

/* Read-ahead after the open j of `in` (ahead.c decides; j learns whether it was a guess): the jobs
 * of its guesses, a list through `next` (NULL: none). *now: they may go at once (the open was a
 * right guess); else they wait for the open's blob. */
static struct open_job *read_ahead(struct open_job *j, const struct ix_inode *in, bool *now)
{
	uint32_t slot = (uint32_t)(in - cur.ix.inodes), next[AHEAD_FILES];
	struct open_job *list = NULL, **tail = &list;
	struct ahead_open o;
	size_t n, i;

	if (!S_ISREG(in->mode) || in->size == 0)
		return NULL;
	ahead_opened(&cur.ix, slot, j->hash, j->hash_len, &o);
	if (o.dropped)
		promote(j);
	j->came_from = o.came_from;
	j->guess_in_flight = o.in_flight;
	*now = o.verdict == AHEAD_RIGHT;
	if (o.verdict == AHEAD_NONE)
		return NULL;
	n = ahead_plan(&cur.ix, slot, o.verdict, cache_present, next, AHEAD_FILES);
	for (i = 0; i < n; i++) {
		const struct ix_inode *s = &cur.ix.inodes[next[i]];
		struct open_job *a = calloc(1, sizeof *a);

		if (!a)
			break;
		a->ahead = a->guess = true;
		a->fuser_epoch = NO_FUSER;
		a->size = s->size;
		a->hash_len = (uint8_t)s->b;
		memcpy(a->hash, ix_bytes(&cur.ix, s->a), a->hash_len);
		if (ix_path(&cur.ix, s, a->path, sizeof a->path) < 0)
			strcpy(a->path, "(read-ahead)");
		*tail = a;
		tail = &a->next;
	}
	for (; i < n; i++)      /* out of memory: those not made are not guessed */
		ahead_cancel(ix_bytes(&cur.ix, cur.ix.inodes[next[i]].a), cur.ix.inodes[next[i]].b);
	return list;
}

/* A request for a blob from the fuser: checked here; answered here when the local cache has it
 * and the kernel has its path cached, else by the open pool. Read-ahead decides what to fetch
 * next from it. */
static int on_open(void)
{
	struct open_job *j = calloc(1, sizeof *j), *guesses = NULL;
	const struct ix_inode *in = NULL;
	const char *layer = NULL;
	struct ipc_rd r;
	const void *hash;
	bool now = false;
	int fd;

	if (!j)
		return -ENOMEM;
	ipc_rd_init(&r, msg.payload, msg.hdr.len);
	j->id = msg.hdr.id;
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
	if (cur.map && (in = tree_ix_resolve(&cur.ix, j->path))) {
		order_ahead(j, in);
		guesses = read_ahead(j, in, &now);
	}
	/* No thread hand-off on the path of a warm open: pinned, as the pool would. The guesses go
	 * out after the answer: the fuser waits for it. */
	if (cache_pin_present(j->hash, j->hash_len)) {
		if (blob_cached(blobs, j->hash, j->hash_len, j->size, &fd, &layer) == 0) {
			cache_count_hit();
			layer = guess_layer(j, layer);
			if (answer_with(j->id, j->fuser_epoch, 0, fd, layer, j->size))
				cache_closed(j->hash, j->hash_len);
			free(j);
			queue_guesses(guesses, true);
			return 0;
		}
		cache_closed(j->hash, j->hash_len);
	}
	if (!now)
		j->after = guesses;
	pool_add(&opens, j);
	if (now)
		queue_guesses(guesses, true);
	return 0;
}

/* A restarted fuser (on a fresh mount): its channel becomes FD_PEER1 and it gets the tree being
 * served, or a new one when this indexer has none yet. */
static void on_new_fuser(int peer)
{
	uint8_t buf[16];
	struct ipc_wr w;
	int rc = 0;

	pthread_mutex_lock(&fuser_lock);
	if (dup2(peer, FD_PEER1) < 0)
		rc = -errno;
	fuser_epoch++;
	pthread_mutex_unlock(&fuser_lock);
	close(peer);
	if (rc)
		die(70, "cannot take the new fuser's channel: %s", strerror(-rc));
	if (!cur.map) {
		send_tree(&conf);
		return;
	}
	ipc_wr_init(&w, buf, sizeof buf);
	ipc_wr_u64(&w, cur.generation);
	ipc_wr_u64(&w, cur.size);
	rc = ipc_send(FD_PEER1, MSG_INDEX, cur.generation, buf, w.len, &cur.fd, 1);
	if (rc)
		log_err("cannot send the tree to the new fuser: %s", strerror(-rc));
	else
		log_info("a new fuser is connected; it serves generation %llu",
			 (unsigned long long)cur.generation);
}

int main(int argc, char **argv)
{
	bool restarted = argc > 3 && strcmp(argv[3], "-restarted") == 0;
	int rc;

	log_init("indexer", argc > 2 && strcmp(argv[1], "-l") == 0 ? atoi(argv[2]) : LOG_INFO);
	policy_worker_start("indexer");
	if ((rc = proto_recv_conf(FD_SUPERVISOR, CONF_DEADLINE_MS, &conf)))
		die(64, "no valid configuration from the supervisor: %s", strerror(-rc));
	log_init("indexer", (int)conf.log_level);
	/* Landlock before any thread (it binds the calling thread and those it starts later), then
	 * seccomp before any untrusted byte is parsed: the cache's journal, -verify-cache, flists
	 * (from the network too). Threads started from here on are allowed: clone for threads only
	 * (policy/seccomp.c). */
	indexer_landlock(&conf);
	seccomp_lockdown(SECCOMP_INDEXER, "indexer");

	if (fetch_start(FD_PEER2))
		die(70, "cannot start a thread");
	/* -auto: the layers found on this node and its network come before the configured ones. */
	if ((rc = discover_first(&conf)))
		die(70, "auto-discovery: %s", strerror(-rc));
	if (conf.flags & WC_CHECK)
		return check_run(&conf) ? 1 : 0;
	/* A restarted indexer serves a mount that is already up: no purge, and the fuser keeps the
	 * tree it serves (so no inode changes under the kernel's feet). */
	blobs = blobs_new(&conf, !restarted);
	if (!blobs)
		die(70, "out of memory");
	ictl_init(&conf, blobs_cache_root(blobs));
	cache_on_gone(on_blob_gone);
	cache_on_full(on_cache_full);
	if ((rc = cache_open(blobs_cache_root(blobs), conf.state_dir, conf.cache_size, conf.cache_expiration,
			     conf.mountpoint, prefetch_get)))
		log_warn("cache: %s: %s; no quota, expiry or prefetch", blobs_cache_root(blobs),
			 strerror(-rc));
	if (!restarted && conf.flags & WC_VERIFY_CACHE) {
		/* The counts are logged; the text is for aysfs-ctl. */
		char *text = NULL;
		size_t len = 0;
		FILE *out = open_memstream(&text, &len);

		if (out) {
			cache_ctl_verify(out);
			fclose(out);
		}
		free(text);
	}
	if (!restarted)
		send_tree(&conf);
	for (int i = 0; i < OPEN_THREADS + AHEAD_THREADS; i++) {
		pthread_t t;

		if (pthread_create(&t, NULL, pool_thread, i < OPEN_THREADS ? &opens : &aheads))
			die(70, "cannot start a thread");
	}
	if (discover_start(blobs))
		die(70, "cannot start a thread");
	/* SPEC §8: flists of network layers asked for again; a change wakes the loop below. */
	int wake[2];

	if (pipe2(wake, O_CLOEXEC | O_NONBLOCK))
		die(70, "pipe: %s", strerror(errno));
	refresh_configure(&conf, wake[1]);
	if (refresh_start())
		die(70, "cannot start a thread");

	bool fuser_gone = false;

	watch_conf(&conf);
	for (;;) {
		struct pollfd fds[4] = {
			{ .fd = fuser_gone ? -1 : FD_PEER1, .events = POLLIN },
			{ .fd = FD_SUPERVISOR, .events = POLLIN },
			{ .fd = wake[0], .events = POLLIN },
		};
		int timeout = -1, nwatch = watch_pollfd(&fds[3], &timeout);
		unsigned changed;

		if (poll(fds, 3 + (nfds_t)nwatch, timeout) < 0) {
			if (errno == EINTR)
				continue;
			die(66, "poll: %s", strerror(errno));
		}
		changed = watch_process(&fds[3], nwatch);
		if (changed & WATCH_CONFIG) {
			/* Root reads it again and sends it (MSG_CONF), which makes the new tree. */
			log_notice("the configuration file changed: asking the supervisor to reload");
			if (ipc_send(FD_SUPERVISOR, MSG_CONFIG_CHANGED, 0, NULL, 0, NULL, 0))
				log_err("cannot tell the supervisor: %s", strerror(errno));
		} else if (changed && (!restarted || has_base)) {
			log_notice("reloading: a flist or flist_dir changed");
			send_tree(has_live ? &live : &conf);
			watch_conf(has_live ? &live : &conf);
		}
		if (fds[0].revents) {
			rc = ipc_recv(FD_PEER1, proto_indexer_from_fuser, proto_indexer_from_fuser_n, &msg);
			if (rc == 0 || rc == -ECONNRESET) {
				/* The fuser died: the supervisor mounts again and hands us the new one. */
				log_info("the fuser is gone; waiting for a new one");
				fuser_gone = true;
				continue;
			}
			if (rc == -EAGAIN)
				rc = 0;
			else if (rc > 0 && msg.hdr.type == MSG_INDEX)
				rc = on_base_index();
			else if (rc > 0 && (msg.hdr.type == MSG_BLOB_CLOSED || msg.hdr.type == MSG_BLOB_HELD))
				rc = on_blob_use(msg.hdr.type == MSG_BLOB_HELD);
			else if (rc > 0)
				rc = on_open();
			if (rc < 0)
				die(67, "fuser channel: %s", strerror(-rc));
		}
		if (fds[2].revents) {
			char drain[64];

			while (read(wake[0], drain, sizeof drain) > 0)
				;
			/* A restarted indexer without its base yet reloads once it has it. */
			if (!restarted || has_base)
				send_tree(has_live ? &live : &conf);
		}
		if (fds[1].revents) {
			/* The supervisor: a restarted fetcher's or fuser's channel, a reload, or a
			 * question of aysfs-ctl; EOF means stop. */
			uint32_t kind;
			int peer;

			rc = proto_recv_supervisor_any(FD_SUPERVISOR, &msg, &peer, &kind);
			if (rc == 0)
				break;
			if (rc == 3)
				rc = ictl_request(msg.hdr.id, msg.payload, msg.hdr.len);
			if (rc == 1 && kind == PEER_FETCHER) {
				fetch_reconnect(peer);
			} else if (rc == 1 && kind == PEER_FUSER) {
				on_new_fuser(peer);
				fuser_gone = false;
			} else if (rc == 1) {
				close(peer);
				rc = -EPROTO;
			} else if (rc == 2 && restarted && !has_base) {
				free(deferred);
				deferred_len = msg.hdr.len;
				if ((deferred = malloc(deferred_len)))
					memcpy(deferred, msg.payload, deferred_len);
			} else if (rc == 2) {
				reload(msg.payload, msg.hdr.len);
			}
			if (rc < 0)
				die(67, "supervisor channel: %s", strerror(-rc));
		}
	}
	/* The pool threads may be mid-request; exiting ends them with the process. */
	return 0;
}
