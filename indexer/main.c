/* aysfs-indexer — parses flists, builds the index, and owns the blob caches.
 *
 * Started by the supervisor as an unprivileged user with fd 3 (supervisor), fd 4 (fuser) and
 * fd 5 (fetcher). It has no network. It takes the configuration, builds the tree from the
 * flists (untrusted input, parsed defensively), hands the sealed image to the fuser, and then
 * answers the fuser's requests for blobs.
 */
#include "indexer/blob.h"
#include "indexer/fetch.h"
#include "indexer/indexer.h"

#include "ipc/index.h"
#include "ipc/log.h"
#include "ipc/proto.h"
#include "policy/policy.h"
#include "policy/seccomp.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONF_DEADLINE_MS 10000
#define OPEN_THREADS 4          /* opens served at once; the fuser sends one request per blob */

static struct ipc_msg msg;
static struct worker_conf conf;
static struct blobs *blobs;

/* A request for a blob, queued for the pool. */
struct open_job {
	struct open_job *next;
	uint64_t id;
	uint64_t size;
	uint8_t hash[32];
	uint8_t hash_len;
	char path[4097];
};

static pthread_mutex_t jobs_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t jobs_cond = PTHREAD_COND_INITIALIZER;
static struct open_job *jobs_head, **jobs_tail = &jobs_head;

static void answer(struct open_job *j)
{
	const char *layer = NULL;
	uint8_t buf[4 + WCONF_MAX_STR];
	struct ipc_wr w;
	int fd, rc = blob_get(blobs, j->hash, j->hash_len, j->size, j->path, &fd, &layer);

	if (rc == 0) {
		ipc_wr_init(&w, buf, sizeof buf);
		ipc_wr_cstr(&w, layer);
		rc = ipc_send(FD_PEER1, MSG_BLOB, j->id, buf, w.len, &fd, 1);
		close(fd);
	} else {
		uint32_t err = EIO;

		ipc_wr_init(&w, buf, sizeof buf);
		ipc_wr_u32(&w, err);
		rc = ipc_send(FD_PEER1, MSG_BLOB_ERR, j->id, buf, w.len, NULL, 0);
	}
	if (rc)
		log_err("cannot answer the fuser: %s", strerror(-rc));
}

static void *open_thread(void *arg)
{
	for (;;) {
		struct open_job *j;

		pthread_mutex_lock(&jobs_lock);
		while (!jobs_head)
			pthread_cond_wait(&jobs_cond, &jobs_lock);
		j = jobs_head;
		jobs_head = j->next;
		if (!jobs_head)
			jobs_tail = &jobs_head;
		pthread_mutex_unlock(&jobs_lock);
		answer(j);
		free(j);
	}
	return NULL;
}

/* The image the fuser serves: the base that the next reload numbers against. */
static struct {
	int fd;
	void *map;
	size_t size;
	struct ix ix;
	uint64_t generation;
} cur = { .fd = -1 };

/* Take fd (a sealed image) as the current tree; fd is kept. Returns 0 or -errno. */
static int set_current(int fd, size_t size, uint64_t generation)
{
	char err[256];
	struct ix ix;
	void *map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);

	if (map == MAP_FAILED)
		return -errno;
	if (ix_open(&ix, map, size, err, sizeof err)) {
		log_err("index: %s", err);
		munmap(map, size);
		return -EINVAL;
	}
	if (cur.map)
		munmap(cur.map, cur.size);
	if (cur.fd >= 0)
		close(cur.fd);
	cur.fd = fd;
	cur.map = map;
	cur.size = size;
	cur.ix = ix;
	cur.generation = generation;
	return 0;
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
	int rc = load_tree(c, blobs_cache_root(blobs), generation, cur.map ? &cur.ix : NULL, &res);

	if (rc || (cur.map && res.rejected)) {
		if (rc)
			snprintf(why, sizeof why, "%s", strerror(-rc));
		else
			snprintf(why, sizeof why, "%u services rejected (see above)", res.rejected);
		if (!rc)
			close(res.fd);
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
	if (rc || set_current(res.fd, res.size, generation)) {
		close(res.fd);
		return;
	}
	ipc_wr_init(&w, buf, sizeof buf);
	ipc_wr_u64(&w, generation);
	ipc_wr_u64(&w, res.entries);
	ipc_wr_u32(&w, res.services);
	ipc_wr_u32(&w, res.rejected);
	ipc_send(FD_SUPERVISOR, MSG_TREE_DONE, 0, buf, w.len, NULL, 0);
}

/* A restarted indexer learns from the fuser which tree is served: the base of the next reload. */
static int on_base_index(void)
{
	struct ipc_rd r;
	uint64_t gen, size;

	ipc_rd_init(&r, msg.payload, msg.hdr.len);
	gen = ipc_rd_u64(&r);
	size = ipc_rd_u64(&r);
	if (!ipc_rd_done(&r) || size == 0 || size > SIZE_MAX / 2 || set_current(msg.fds[0], size, gen)) {
		close(msg.fds[0]);
		log_warn("the fuser's tree could not be taken as a base; the next reload renumbers");
	}
	return 0;
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
	if (c.nlayers != conf.nlayers || strcmp(c.cache_dir, conf.cache_dir))
		log_warn("reload: layer and cache changes take effect at the next start");
	send_tree(&c);
	proto_conf_free(&c);
}

/* A request for a blob from the fuser: checked here, served by the pool. */
static int on_open(void)
{
	struct open_job *j = calloc(1, sizeof *j);
	struct ipc_rd r;
	const void *hash;

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
	pthread_mutex_lock(&jobs_lock);
	*jobs_tail = j;
	jobs_tail = &j->next;
	pthread_cond_signal(&jobs_cond);
	pthread_mutex_unlock(&jobs_lock);
	return 0;
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
	indexer_landlock(&conf);

	if (fetch_start(FD_PEER2))
		die(70, "cannot start a thread");
	/* A restarted indexer serves a mount that is already up: no purge, and the fuser keeps the
	 * tree it serves (so no inode changes under the kernel's feet). */
	blobs = blobs_new(&conf, !restarted);
	if (!blobs)
		die(70, "out of memory");
	if (!restarted && conf.flags & WC_VERIFY_CACHE)
		blobs_verify(blobs);
	if (!restarted)
		send_tree(&conf);
	for (int i = 0; i < OPEN_THREADS; i++) {
		pthread_t t;

		if (pthread_create(&t, NULL, open_thread, NULL))
			die(70, "cannot start a thread");
	}
	seccomp_lockdown(SECCOMP_INDEXER, "indexer");

	for (;;) {
		struct pollfd fds[2] = {
			{ .fd = FD_PEER1, .events = POLLIN },
			{ .fd = FD_SUPERVISOR, .events = POLLIN },
		};

		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			die(66, "poll: %s", strerror(errno));
		}
		if (fds[0].revents) {
			rc = ipc_recv(FD_PEER1, proto_indexer_from_fuser, proto_indexer_from_fuser_n, &msg);
			if (rc == 0)
				break;          /* the fuser is gone: so is the mount */
			if (rc > 0 && msg.hdr.type == MSG_INDEX)
				rc = on_base_index();
			else if (rc > 0)
				rc = on_open();
			if (rc < 0)
				die(67, "fuser channel: %s", strerror(-rc));
		}
		if (fds[1].revents) {
			/* The supervisor: a restarted fetcher's channel, or a reload; EOF means stop. */
			int peer;

			rc = proto_recv_supervisor(FD_SUPERVISOR, PEER_FETCHER, &msg, &peer);
			if (rc == 0)
				break;
			if (rc < 0)
				die(67, "supervisor channel: %s", strerror(-rc));
			if (rc == 1) {
				fetch_reconnect(peer);
			} else {
				reload(msg.payload, msg.hdr.len);
			}
		}
	}
	/* The pool threads may be mid-request; exiting ends them with the process. */
	return 0;
}
