/* aysfs-indexer — parses flists, builds the index, and owns the blob caches.
 *
 * Started by the supervisor as an unprivileged user with fd 3 (supervisor), fd 4 (fuser) and
 * fd 5 (fetcher). It has no network. It takes the configuration, builds the tree from the
 * flists (untrusted input, parsed defensively), hands the sealed image to the fuser, and then
 * answers the fuser's requests for blobs (serve.c), reading ahead of them (ahead.c).
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
#include "indexer/serve.h"
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

static struct ipc_msg msg;
static struct worker_conf conf;
/* The configuration of the last reload (the start-up one until then): what a reload asked for
 * by the refresh thread (refresh.c) builds its tree from. */
static struct worker_conf live;
static bool has_live;
static struct blobs *blobs;

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
	log_info("tree generation %llu: %llu entries from %u services (%u rejected)",
		 (unsigned long long)generation, (unsigned long long)res.entries, res.services,
		 res.rejected);
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

/* A restarted fuser (on a fresh mount): its channel becomes FD_PEER1 and it gets the tree being
 * served, or a new one when this indexer has none yet. */
static void on_new_fuser(int peer)
{
	uint8_t buf[16];
	struct ipc_wr w;
	int rc = serve_new_fuser(peer);

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
	cache_on_gone(serve_blob_gone);
	cache_on_full(serve_cache_full);
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
	if (serve_start(blobs))
		die(70, "cannot start a thread");
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
				rc = serve_open(msg.hdr.id, msg.payload, msg.hdr.len, cur.map ? &cur.ix : NULL,
						msg.hdr.type == MSG_PREFETCH ? SERVE_PREFETCH :
						msg.hdr.type == MSG_OPENED ? SERVE_OPENED : SERVE_OPEN);
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
