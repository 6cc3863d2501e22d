/* blobs.c — the blob fds: what an open of a file with content needs.
 *
 * One record per content (hash) served. If a handle already holds its fd, an open shares it;
 * otherwise the request is parked, one MSG_OPEN goes to the indexer for the blob, and every open
 * of that blob that arrives meanwhile joins the same wait. The fd comes back in a MSG_BLOB and is
 * checked (a regular file, read-only, of the listed size) before any open is answered with it.
 * When the last handle closes, the fd waits on an idle list (most recently used first, bounded in
 * fds and bytes) for the next open of that content, which then needs no round trip; the indexer is
 * told (MSG_BLOB_CLOSED, _HELD) so that it evicts only what no handle uses. MSG_BLOB_CLOSED goes
 * out only once the fd has been idle for IDLE_UNPIN_MS: a program that opens the same files again
 * and again (interpreters, builds, a tar run twice) then costs the indexer nothing, where each
 * open and each release used to wake it. Late is the safe side: the indexer just keeps the blob a
 * few seconds longer.
 */
#include "fuser/blobs.h"
#include "fuser/fh.h"
#include "fuser/fuser.h"

#include "ipc/log.h"
#include "ipc/proto.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Idle blob fds may use half of the fd table, up to IDLE_FDS_MAX: the rest is for the handles
 * that programs hold open and the blobs being asked for. */
void blobs_init(struct blobs *c)
{
	struct rlimit r;
	rlim_t half;

	c->idle_max = 0;
	if (getrlimit(RLIMIT_NOFILE, &r) || r.rlim_cur < 256)
		return;
	half = (r.rlim_cur - 128) / 2;
	c->idle_max = half < IDLE_FDS_MAX ? (unsigned)half : IDLE_FDS_MAX;
}

static unsigned bucket_of(const uint8_t *hash)
{
	return ((unsigned)hash[0] << 8 | hash[1]) % BLOB_BUCKETS;
}

struct blob *blob_find(struct fuser *f, const uint8_t *hash, uint8_t len)
{
	for (struct blob *b = f->blobs.buckets[bucket_of(hash)]; b; b = b->next)
		if (b->hash_len == len && memcmp(b->hash, hash, len) == 0)
			return b;
	return NULL;
}

/* Tell the indexer that no handle uses a blob any more (MSG_BLOB_CLOSED: it may evict it), or
 * that one does again (MSG_BLOB_HELD). The two alternate for a blob: one that waits in the outbox
 * when the other comes is taken back instead, since the indexer's count is right without both. */
static void tell_indexer(struct fuser *f, struct blob *b, uint16_t type)
{
	uint8_t buf[1 + 32];
	struct ipc_wr w;

	if (f->idx_fd < 0)
		return;
	if (b->pin_msg && b->pin_msg->type != type) {
		outbox_cancel(&f->out, b->pin_msg);
		return;
	}
	ipc_wr_init(&w, buf, sizeof buf);
	ipc_wr_u8(&w, b->hash_len);
	ipc_wr_bytes(&w, b->hash, b->hash_len);
	if (outbox_send(&f->out, f->idx_fd, type, 0, buf, w.len, b->pin_msg ? NULL : &b->pin_msg) ==
	    -ENOMEM)
		log_err("out of memory: the indexer may keep a blob pinned");
}

/* A record freed: what it said that still waits goes out all the same. */
static void blob_free(struct blob *b)
{
	if (b->pin_msg)
		b->pin_msg->owner = NULL;
	free(b->layer);
	free(b);
}

/* ---- the idle list: blob fds that no handle uses, most recently used first ---- */


static void idle_remove(struct blobs *c, struct blob *b)
{
	if (c->unpin_next == b)
		c->unpin_next = b->newer;
	*(b->newer ? &b->newer->older : &c->idle_newest) = b->older;
	*(b->older ? &b->older->newer : &c->idle_oldest) = b->newer;
	b->older = b->newer = NULL;
	c->nidle--;
	c->idle_bytes -= b->size;
}

/* Close the fd of a blob no handle uses: the record stays (user.aysfs.layer keeps answering);
 * the next open asks the indexer again. */
static void fd_close(struct blob *b)
{
	close(b->fd);
	b->fd = -1;
	b->state = BLOB_IDLE;
}

/* The indexer may evict b from now on. */
static void unpin(struct fuser *f, struct blob *b)
{
	if (b->pinned)
		tell_indexer(f, b, MSG_BLOB_CLOSED);
	b->pinned = false;
}

static void idle_close(struct fuser *f, struct blob *b)
{
	idle_remove(&f->blobs, b);
	unpin(f, b);
	fd_close(b);
}

/* No handle uses b now: its fd waits on the idle list unless the blob has left the cache; the
 * indexer is told after IDLE_UNPIN_MS (blobs_unpin). */
static void idle_add(struct fuser *f, struct blob *b)
{
	struct blobs *c = &f->blobs;

	if (b->gone) {
		unpin(f, b);
		fd_close(b);
		return;
	}
	b->idle_since = (uint64_t)mono_ms();
	/* No idle blob older than unpin_next is pinned. */
	if (b->pinned && !c->unpin_next)
		c->unpin_next = b;
	b->older = c->idle_newest;
	b->newer = NULL;
	*(c->idle_newest ? &c->idle_newest->newer : &c->idle_oldest) = b;
	c->idle_newest = b;
	c->nidle++;
	c->idle_bytes += b->size;
	while (c->nidle && (c->nidle > c->idle_max || c->idle_bytes > IDLE_BYTES_MAX))
		idle_close(f, c->idle_oldest);
}

int blobs_unpin(struct fuser *f, bool all)
{
	struct blobs *c = &f->blobs;
	uint64_t now = (uint64_t)mono_ms();

	while (c->unpin_next && (all || now - c->unpin_next->idle_since >= IDLE_UNPIN_MS)) {
		struct blob *b = c->unpin_next;

		c->unpin_next = b->newer;
		unpin(f, b);
	}
	return c->unpin_next ? (int)(IDLE_UNPIN_MS - (now - c->unpin_next->idle_since)) : -1;
}

void blob_hold(struct fuser *f, struct blob *b)
{
	if (b->refs++ == 0 && b->state == BLOB_OPEN) {
		idle_remove(&f->blobs, b);
		if (!b->pinned)
			tell_indexer(f, b, MSG_BLOB_HELD);
		b->pinned = true;
	}
}

void blob_gone(struct fuser *f, const uint8_t *hash, uint8_t len)
{
	struct blob *b = blob_find(f, hash, len);

	if (!b || b->state != BLOB_OPEN)
		return;
	if (b->refs == 0)
		idle_close(f, b);
	else
		b->gone = true;
}

static void table_remove(struct fuser *f, struct blob *b)
{
	struct blob **pp;

	for (pp = &f->blobs.buckets[bucket_of(b->hash)]; *pp != b; pp = &(*pp)->next)
		;
	*pp = b->next;
	b->next = NULL;
}

/* Drop one reference. With the last one, a blob that has its fd keeps it on the idle list (a
 * warm open of the same content then needs no round trip to the indexer); one that never got an
 * fd is forgotten unless it was served once (user.aysfs.layer keeps answering). */
void blob_put(struct fuser *f, struct blob *b)
{
	/* A pending blob's answer decides what becomes of it (blob_ready, blob_failed). */
	if (--b->refs || b->state == BLOB_PENDING)
		return;
	if (b->detached) {      /* its last handle: nobody can find it any more */
		unpin(f, b);
		close(b->fd);
		blob_free(b);
		return;
	}
	if (b->state == BLOB_OPEN) {
		idle_add(f, b);
		return;
	}
	if (b->fd >= 0)
		close(b->fd);
	b->fd = -1;
	if (b->layer) {
		b->state = BLOB_IDLE;
		return;
	}
	table_remove(f, b);
	blob_free(b);
}

/* ---- pending blobs: asked of the indexer ---- */

/* Pending blobs are found by the request id of their MSG_OPEN, which the indexer echoes: ids are
 * sequential, so the low bits spread them over the buckets. */
static struct blob **pending_slot(struct blobs *c, uint64_t req_id)
{
	return &c->pending[req_id % PENDING_BUCKETS];
}

/* The pending blob asked with req_id, unlinked from the pending table; NULL for an id that is not
 * pending (a reply to a request the fuser no longer waits for, or a lying indexer). */
static struct blob *pending_take(struct fuser *f, uint64_t req_id)
{
	for (struct blob **pp = pending_slot(&f->blobs, req_id); *pp; pp = &(*pp)->pnext) {
		struct blob *b = *pp;

		if (b->req_id == req_id) {
			*pp = b->pnext;
			b->pnext = NULL;
			return b;
		}
	}
	return NULL;
}

/* MSG_OPEN's payload for b, the content of inode ino (also MSG_PREFETCH's and MSG_OPENED's). */
static int send_open(struct fuser *f, struct blob *b, fuse_ino_t ino, uint16_t type)
{
	uint8_t buf[1 + 32 + 8 + 4 + 4096];
	char path[4096];
	struct ipc_wr w;
	int n = ix_path(&f->ix, ix_inode(&f->ix, ino), path, sizeof path);

	ipc_wr_init(&w, buf, sizeof buf);
	ipc_wr_u8(&w, b->hash_len);
	ipc_wr_bytes(&w, b->hash, b->hash_len);
	ipc_wr_u64(&w, b->size);
	ipc_wr_str(&w, path, n < 0 ? 0 : (size_t)n);
	return outbox_send(&f->out, f->idx_fd, type, b->req_id, buf, w.len, NULL);
}

int blob_ask(struct fuser *f, struct blob *b, fuse_ino_t ino)
{
	struct blob **slot;
	int rc;

	b->req_id = ++f->blobs.next_req_id;
	b->ino = ino;
	b->state = BLOB_PENDING;
	slot = pending_slot(&f->blobs, b->req_id);
	b->pnext = *slot;
	*slot = b;
	if (f->idx_fd < 0)
		return 0;       /* no indexer right now: asked when the new one connects */
	rc = send_open(f, b, ino, b->ahead ? MSG_PREFETCH : MSG_OPEN);
	/* A dead indexer: its successor is asked when the supervisor hands over its channel. */
	if (rc == -EPIPE || rc == -ECONNRESET)
		return 0;
	if (rc) {
		pending_take(f, b->req_id);
		b->state = BLOB_IDLE;
	}
	return rc;
}

void blobs_ahead(struct fuser *f, const void *payload, size_t len)
{
	struct ipc_rd r;
	uint32_t n;

	ipc_rd_init(&r, payload, len);
	n = ipc_rd_u32(&r);
	/* Each fd that arrives is idle until an open takes it: the oldest idle ones make room. */
	for (uint32_t i = 0; i < n && !r.bad && f->blobs.idle_max; i++) {
		uint64_t ino = ipc_rd_u64(&r);
		const struct ix_inode *in = ix_inode(&f->ix, ino);
		struct blob *b = in && S_ISREG(in->mode) && in->size ? blob_for(f, in) : NULL;

		if (!b || b->state != BLOB_IDLE)
			continue;
		b->ahead = true;
		if (blob_ask(f, b, ino))
			b->ahead = false;
	}
}

/* Every open waiting for b fails with err; the next open asks again. */
static void fail_waiters(struct fuser *f, struct blob *b, int err)
{
	struct waiter *w;

	b->state = BLOB_IDLE;
	b->ahead = false;       /* the next open asks as an open */
	b->refs++;
	while ((w = b->waiters)) {
		b->waiters = w->next;
		fuse_reply_err(w->req, err);
		free(w);
		b->refs--;
	}
	blob_put(f, b);
}

unsigned blobs_ask_again(struct fuser *f)
{
	struct blob *all = NULL;
	unsigned n = 0;

	/* Take every pending blob out first: asking again gives each a new id, hence a new bucket. */
	for (unsigned i = 0; i < PENDING_BUCKETS; i++)
		while (f->blobs.pending[i]) {
			struct blob *b = f->blobs.pending[i];

			f->blobs.pending[i] = b->pnext;
			b->pnext = all;
			all = b;
		}
	while (all) {
		struct blob *b = all;

		all = b->pnext;
		b->pnext = NULL;
		n++;
		if (blob_ask(f, b, b->ino)) {
			log_err("cannot ask the new indexer for a blob");
			fail_waiters(f, b, EIO);
		}
	}
	/* The pins the dead indexer counted, the new one counts too: else it could evict what is held,
	 * and a later MSG_BLOB_CLOSED would take away a pin of its own. */
	for (unsigned i = 0; i < BLOB_BUCKETS; i++)
		for (struct blob *b = f->blobs.buckets[i]; b; b = b->next)
			if (b->pinned)
				tell_indexer(f, b, MSG_BLOB_HELD);
	return n;
}

struct blob *blob_for(struct fuser *f, const struct ix_inode *in)
{
	const uint8_t *hash = ix_bytes(&f->ix, in->a);
	struct blob *b = blob_find(f, hash, (uint8_t)in->b);

	if (b || !(b = calloc(1, sizeof *b)))
		return b;
	memcpy(b->hash, hash, in->b);
	b->hash_len = (uint8_t)in->b;
	b->size = in->size;
	b->fd = -1;
	b->state = BLOB_IDLE;
	b->next = f->blobs.buckets[bucket_of(b->hash)];
	f->blobs.buckets[bucket_of(b->hash)] = b;
	return b;
}

/* ---- opens ---- */

/* The fd must be what the index promises: a regular file, read-only, of the listed size. Its
 * change time is kept in *ctime_ns. */
static int check_blob_fd(int fd, uint64_t size, uint64_t *ctime_ns)
{
	struct stat st;
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || (fl & O_ACCMODE) != O_RDONLY)
		return -EBADF;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != size)
		return -EIO;
	*ctime_ns = (uint64_t)st.st_ctim.tv_sec * 1000000000u + (uint64_t)st.st_ctim.tv_nsec;
	return 0;
}

/* Is b's file still as it was when the indexer handed it over? One fstat: the fd's access mode
 * cannot change, and was checked when it came. */
static bool blob_unchanged(const struct blob *b)
{
	struct stat st;

	return fstat(b->fd, &st) == 0 && (uint64_t)st.st_size == b->size &&
	       (uint64_t)st.st_ctim.tv_sec * 1000000000u + (uint64_t)st.st_ctim.tv_nsec == b->ctime_ns;
}

/* Answer an open with b's fd: the one place where a handle gets its blob. Kernel FUSE passthrough
 * (Linux 6.9, libfuse 3.16: FUSE_CAP_PASSTHROUGH; Debian 12 has libfuse 3.14) would go here: the
 * blob's fd registered once (fuse_passthrough_open, its backing id kept in the record and closed
 * with the fd) and named in fi->backing_id, so that the kernel reads the blob file itself and no
 * READ reaches the fuser; README, "Performance". */
static int reply_open(fuse_req_t req, struct fuse_file_info *fi, struct blob *b)
{
	fi->fh = fh_of(b);
	fi->keep_cache = 1;
	return fuse_reply_open(req, fi);
}

void blob_open(struct fuser *f, fuse_req_t req, fuse_ino_t ino, const struct ix_inode *in,
	       struct fuse_file_info *fi)
{
	struct blob *b = blob_for(f, in);
	int rc;

	/* A held fd is served again only while its file is the one the indexer verified (SPEC §6):
	 * one fstat. A file changed since (written in place, or unlinked by an eviction) is asked
	 * for again. The handles that use it keep the fd they read from (detach: its bytes are what
	 * they were shown); this open and the next get the content anew, as a blob of their own. */
	if (b && b->state == BLOB_OPEN && !blob_unchanged(b)) {
		log_warn("%s: the blob's file changed after it was verified; asked for again",
			 b->layer ? b->layer : "local cache");
		if (b->refs) {
			/* Out of the table: its handles keep it (its fd, its pin in the indexer's
			 * count) until the last of them goes (blob_put). */
			table_remove(f, b);
			b->detached = true;
			b = blob_for(f, in);
		} else {
			idle_close(f, b);
		}
	}
	if (b && b->state == BLOB_OPEN) {
		/* Read-ahead and the published order hear of an open of a hinted fd, as of any other. */
		if (b->hinted && f->idx_fd >= 0)
			send_open(f, b, ino, MSG_OPENED);
		b->hinted = false;
		blob_hold(f, b);
		reply_open(req, fi, b);
		return;
	}
	rc = b ? blob_wait(f, b, ino, &(struct waiter){ .req = req, .fi = *fi }) : -ENOMEM;
	f->n_waited += rc == 0;
	if (rc == -EIO) {
		b->refs++;
		blob_put(f, b);         /* forgotten, unless it was served once */
	}
	if (rc)
		fuse_reply_err(req, -rc);
}

int blob_wait(struct fuser *f, struct blob *b, fuse_ino_t ino, const struct waiter *how)
{
	struct waiter *w = malloc(sizeof *w);
	int rc;

	if (!w)
		return -ENOMEM;
	if (b->state == BLOB_IDLE && (rc = blob_ask(f, b, ino))) {
		log_err("cannot ask the indexer for a blob: %s", strerror(-rc));
		free(w);
		return -EIO;
	}
	*w = *how;
	w->next = b->waiters;
	b->waiters = w;
	b->refs++;
	return 0;
}

void blob_ready(struct fuser *f, uint64_t req_id, int fd, const char *layer, size_t layer_len)
{
	struct blob *b = pending_take(f, req_id);
	struct waiter *w;
	bool unasked;

	if (!b) {
		close(fd);
		return;
	}
	if (check_blob_fd(fd, b->size, &b->ctime_ns)) {
		log_err("indexer sent an fd that is not a read-only file of %llu bytes",
			(unsigned long long)b->size);
		close(fd);
		tell_indexer(f, b, MSG_BLOB_CLOSED);     /* it pinned what we refuse */
		fail_waiters(f, b, EIO);
		return;
	}
	b->fd = fd;
	b->hinted = b->ahead;
	b->ahead = false;
	b->state = BLOB_OPEN;
	b->gone = false;
	b->pinned = true;       /* the indexer pins what it answers to MSG_OPEN */
	free(b->layer);
	b->layer = strndup(layer, layer_len);
	unasked = !b->waiters;
	while ((w = b->waiters)) {
		b->waiters = w->next;
		if (w->read_size) {
			blob_reply_read(w->req, b, w->read_size, w->read_off);
			b->refs--;      /* the handle's own reference stays (takeover.c) */
			free(w);
			continue;
		}
		if (reply_open(w->req, &w->fi, b))
			blob_put(f, b);         /* interrupted: the handle will never be released */
		free(w);
	}
	/* Asked with no open waiting (ahead, debug.c) and no handle: kept for one. (With opens that
	 * the kernel gave up on, the last one's blob_put made it idle.) */
	if (unasked && b->refs == 0)
		idle_add(f, b);
}

void blob_failed(struct fuser *f, uint64_t req_id, int err)
{
	struct blob *b = pending_take(f, req_id);

	if (!b)
		return;
	/* Not in the local cache after all: an open that waits for it asks as an open (the layers). */
	if (b->ahead && b->waiters) {
		b->ahead = false;
		if (blob_ask(f, b, b->ino) == 0)
			return;
	}
	fail_waiters(f, b, err);
}

void blob_reply_read(fuse_req_t req, const struct blob *b, size_t size, off_t off)
{
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT(size);

	if (!b) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	bv.buf[0].fd = b->fd;
	bv.buf[0].pos = off;
	fuse_reply_data(req, &bv, FUSE_BUF_SPLICE_MOVE);
}
