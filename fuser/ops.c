/* ops.c — the kernel's requests, answered from the index and from blob fds.
 *
 * Everything but open is answered at once from the immutable index. An open of a file with content
 * needs the blob's fd: if another handle already holds it, the open shares it; otherwise the
 * request is parked, one MSG_OPEN goes to the indexer for the blob, and every open of that blob
 * that arrives meanwhile joins the same wait. Reads then splice from the blob fd to the kernel.
 */
#include "fuser/fuser.h"

#include "ipc/log.h"
#include "ipc/proto.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define XATTR_HASH  "user.aysfs.hash"
#define XATTR_AYS   "user.aysfs.ays"
#define XATTR_LAYER "user.aysfs.layer"

static struct fuser *fuser_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static void fill_attr(const struct fuser *f, const struct ix_inode *in, struct stat *st)
{
	memset(st, 0, sizeof *st);
	st->st_ino = ix_ino(&f->ix, in);
	st->st_mode = in->mode;
	st->st_nlink = in->nlink;
	st->st_size = (off_t)in->size;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((in->size + 511) / 512);
	st->st_mtim.tv_sec = in->mtime;
	st->st_ctim.tv_sec = in->mtime;
	st->st_atim.tv_sec = in->mtime;
}

static void fill_entry(const struct fuser *f, const struct ix_inode *in, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof *e);
	e->ino = ix_ino(&f->ix, in);
	e->generation = 1;
	e->attr_timeout = f->attr_ttl;
	e->entry_timeout = f->entry_ttl;
	fill_attr(f, in, &e->attr);
}

void fuser_set_index(struct fuser *f, void *map, size_t size, const struct ix *ix)
{
	f->map = map;
	f->map_size = size;
	f->ix = *ix;
	f->ahead_last = 0;      /* a slot of the old index means nothing in the new one */
	f->blocks = 0;
	for (uint32_t i = 0; i < ix->ninodes; i++)
		if (S_ISREG(ix->inodes[i].mode))
			f->blocks += (ix->inodes[i].size + 4095) / 4096;
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct fuser *f = userdata;

	/* Content never changes under a name: splice reads straight from blob fds, and never let an
	 * mtime comparison drop the page cache. */
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE;
	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	conn->want &= ~(unsigned)(FUSE_CAP_AUTO_INVAL_DATA | FUSE_CAP_READDIRPLUS_AUTO);
	conn->time_gran = 1000000000;
	/* Nothing to open for a directory: where the kernel can do without OPENDIR and RELEASEDIR, it
	 * keeps listings cached itself (FOPEN_KEEP_CACHE | FOPEN_CACHE_DIR), two round trips less
	 * for every directory a program walks. */
	f->no_opendir = conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuser *f = fuser_of(req);
	const struct ix_inode *dir = ix_inode(&f->ix, parent), *in;
	struct fuse_entry_param e;

	if (!dir) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (!S_ISDIR(dir->mode)) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	in = ix_lookup(&f->ix, dir, name, strlen(name));
	if (!in) {
		/* A negative entry: the kernel remembers the absence for negative_ttl. */
		memset(&e, 0, sizeof e);
		e.entry_timeout = f->negative_ttl;
		fuse_reply_entry(req, &e);
		return;
	}
	fill_entry(f, in, &e);
	fuse_reply_entry(req, &e);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fuser *f = fuser_of(req);
	const struct ix_inode *in = ix_inode(&f->ix, ino);
	struct stat st;

	if (!in) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	fill_attr(f, in, &st);
	fuse_reply_attr(req, &st, f->attr_ttl);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct fuser *f = fuser_of(req);
	const struct ix_inode *in = ix_inode(&f->ix, ino);
	char target[4096];

	if (!in || !S_ISLNK(in->mode)) {
		fuse_reply_err(req, in ? EINVAL : ESTALE);
		return;
	}
	memcpy(target, ix_bytes(&f->ix, in->a), in->b);   /* b <= 4095, validated */
	target[in->b] = '\0';
	fuse_reply_readlink(req, target);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fuser *f = fuser_of(req);
	const struct ix_inode *in = ix_inode(&f->ix, ino);

	if (!in || !S_ISDIR(in->mode)) {
		fuse_reply_err(req, in ? ENOTDIR : ESTALE);
		return;
	}
	if (f->no_opendir) {
		fuse_reply_err(req, ENOSYS);    /* once: the kernel stops asking */
		return;
	}
	/* Listings never change between reloads: let the kernel keep them. */
	fi->cache_readdir = 1;
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

/* Directory offsets: 0 ".", 1 "..", 2 + i the i-th child in name order. */
static void readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus)
{
	struct fuser *f = fuser_of(req);
	const struct ix_inode *dir = ix_inode(&f->ix, ino);
	char *buf, name[256];
	size_t used = 0;

	if (!dir || !S_ISDIR(dir->mode)) {
		fuse_reply_err(req, dir ? ENOTDIR : ESTALE);
		return;
	}
	if (size > 1 << 20)
		size = 1 << 20;
	buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (uint64_t i = off < 0 ? 0 : (uint64_t)off; i < 2 + (uint64_t)dir->b; i++) {
		const struct ix_inode *in;
		struct fuse_entry_param e;
		size_t n;

		if (i < 2) {
			in = i == 0 ? dir : &f->ix.inodes[dir->parent];
			strcpy(name, i == 0 ? "." : "..");
		} else {
			in = &f->ix.inodes[dir->a + i - 2];
			memcpy(name, ix_name(&f->ix, in), in->name_len);
			name[in->name_len] = '\0';
		}
		fill_entry(f, in, &e);
		if (plus)
			n = fuse_add_direntry_plus(req, buf + used, size - used, name, &e, (off_t)i + 1);
		else
			n = fuse_add_direntry(req, buf + used, size - used, name, &e.attr, (off_t)i + 1);
		if (n > size - used)
			break;
		used += n;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	readdir_common(req, ino, size, off, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	readdir_common(req, ino, size, off, true);
}

/* ---- blobs ------------------------------------------------------------------------------------ */

static unsigned bucket_of(const uint8_t *hash)
{
	return ((unsigned)hash[0] << 8 | hash[1]) % BLOB_BUCKETS;
}

static struct blob *blob_find(struct fuser *f, const uint8_t *hash, uint8_t len)
{
	for (struct blob *b = f->buckets[bucket_of(hash)]; b; b = b->next)
		if (b->hash_len == len && memcmp(b->hash, hash, len) == 0)
			return b;
	return NULL;
}

/* Tell the indexer that no handle uses a blob any more (MSG_BLOB_CLOSED: it may evict it), or
 * that one does again (MSG_BLOB_HELD). */
static void tell_indexer(struct fuser *f, const struct blob *b, uint16_t type)
{
	uint8_t buf[1 + 32];
	struct ipc_wr w;

	if (f->idx_fd < 0)
		return;
	ipc_wr_init(&w, buf, sizeof buf);
	ipc_wr_u8(&w, b->hash_len);
	ipc_wr_bytes(&w, b->hash, b->hash_len);
	ipc_send(f->idx_fd, type, 0, buf, w.len, NULL, 0);
}

/* ---- the idle list: blob fds that no handle uses, most recently used first ---- */

static void idle_remove(struct fuser *f, struct blob *b)
{
	*(b->newer ? &b->newer->older : &f->idle_newest) = b->older;
	*(b->older ? &b->older->newer : &f->idle_oldest) = b->newer;
	b->older = b->newer = NULL;
	f->nidle--;
	f->idle_bytes -= b->size;
}

/* Close the fd of a blob no handle uses: the record stays (user.aysfs.layer keeps answering);
 * the next open asks the indexer again. */
static void fd_close(struct blob *b)
{
	close(b->fd);
	b->fd = -1;
	b->state = BLOB_IDLE;
}

static void idle_close(struct fuser *f, struct blob *b)
{
	idle_remove(f, b);
	fd_close(b);
}

/* No handle uses b now: the indexer may evict it; its fd waits on the idle list unless the
 * blob has left the cache. */
static void idle_add(struct fuser *f, struct blob *b)
{
	if (b->pinned)
		tell_indexer(f, b, MSG_BLOB_CLOSED);
	b->pinned = false;
	if (b->gone) {
		fd_close(b);
		return;
	}
	b->older = f->idle_newest;
	b->newer = NULL;
	*(f->idle_newest ? &f->idle_newest->newer : &f->idle_oldest) = b;
	f->idle_newest = b;
	f->nidle++;
	f->idle_bytes += b->size;
	while (f->nidle && (f->nidle > f->idle_max || f->idle_bytes > IDLE_BYTES_MAX))
		idle_close(f, f->idle_oldest);
}

void blob_hold(struct fuser *f, struct blob *b)
{
	if (b->refs++ == 0 && b->state == BLOB_OPEN) {
		idle_remove(f, b);
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

/* Drop one reference. With the last one, a blob that has its fd keeps it on the idle list (a
 * warm open of the same content then needs no round trip to the indexer); one that never got an
 * fd is forgotten unless it was served once (user.aysfs.layer keeps answering). */
void blob_put(struct fuser *f, struct blob *b)
{
	struct blob **pp;

	if (--b->refs)
		return;
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
	for (pp = &f->buckets[bucket_of(b->hash)]; *pp != b; pp = &(*pp)->next)
		;
	*pp = b->next;
	free(b);
}

/* Pending blobs are found by the request id of their MSG_OPEN, which the indexer echoes: ids are
 * sequential, so the low bits spread them over the buckets. */
static struct blob **pending_slot(struct fuser *f, uint64_t req_id)
{
	return &f->pending[req_id % PENDING_BUCKETS];
}

static void pending_add(struct fuser *f, struct blob *b)
{
	struct blob **slot = pending_slot(f, b->req_id);

	b->pnext = *slot;
	*slot = b;
}

/* The pending blob asked with req_id, unlinked from the pending table; NULL for an id that is not
 * pending (a reply to a request the fuser no longer waits for, or a lying indexer). */
static struct blob *pending_take(struct fuser *f, uint64_t req_id)
{
	for (struct blob **pp = pending_slot(f, req_id); *pp; pp = &(*pp)->pnext) {
		struct blob *b = *pp;

		if (b->req_id == req_id) {
			*pp = b->pnext;
			b->pnext = NULL;
			if (b->ahead_counted)
				f->ahead_pending--;
			b->ahead_counted = false;
			return b;
		}
	}
	return NULL;
}

void pending_drop(struct fuser *f, struct blob *b)
{
	pending_take(f, b->req_id);
}

int ask_indexer(struct fuser *f, struct blob *b, fuse_ino_t ino, uint32_t type)
{
	uint8_t buf[1 + 32 + 8 + 4 + 4096];
	char path[4096];
	struct ipc_wr w;
	int rc, n = ix_path(&f->ix, ix_inode(&f->ix, ino), path, sizeof path);

	b->req_id = ++f->next_req_id;
	b->promoted = false;
	b->ino = ino;
	pending_add(f, b);
	if (f->idx_fd < 0)
		return 0;       /* no indexer right now: asked when the new one connects */
	ipc_wr_init(&w, buf, sizeof buf);
	ipc_wr_u8(&w, b->hash_len);
	ipc_wr_bytes(&w, b->hash, b->hash_len);
	ipc_wr_u64(&w, b->size);
	ipc_wr_str(&w, path, n < 0 ? 0 : (size_t)n);
	rc = ipc_send(f->idx_fd, type, b->req_id, buf, w.len, NULL, 0);
	/* A dead indexer: its successor is asked when the supervisor hands over its channel. */
	return rc == -EPIPE || rc == -ECONNRESET ? 0 : rc;
}

unsigned blobs_ask_again(struct fuser *f)
{
	struct blob *all = NULL;
	unsigned n = 0;

	/* Take every pending blob out first: asking again gives each a new id, hence a new bucket. */
	for (unsigned i = 0; i < PENDING_BUCKETS; i++)
		while (f->pending[i]) {
			struct blob *b = f->pending[i];

			f->pending[i] = b->pnext;
			b->pnext = all;
			all = b;
		}
	while (all) {
		struct blob *b = all;

		all = b->pnext;
		b->pnext = NULL;
		n++;
		if (b->waiters)
			b->speculative = false;
		if (ask_indexer(f, b, b->ino, b->speculative ? MSG_PREFETCH : MSG_OPEN))
			log_err("cannot ask the new indexer for a blob");
	}
	return n;
}

/* The record of in's content, made (idle, without fd) when there is none. NULL: out of memory. */
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
	b->next = f->buckets[bucket_of(b->hash)];
	f->buckets[bucket_of(b->hash)] = b;
	return b;
}

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

/* Is b's file still as it was when the indexer handed it over? */
static bool blob_unchanged(const struct blob *b)
{
	uint64_t now;

	return check_blob_fd(b->fd, b->size, &now) == 0 && now == b->ctime_ns;
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fuser *f = fuser_of(req);
	const struct ix_inode *in = ix_inode(&f->ix, ino);
	struct waiter *w;
	struct blob *b;
	bool guessed, walk;
	int rc;

	if (!in || !S_ISREG(in->mode)) {
		fuse_reply_err(req, !in ? ESTALE : S_ISDIR(in->mode) ? EISDIR : EINVAL);
		return;
	}
	if ((fi->flags & O_ACCMODE) != O_RDONLY || fi->flags & (O_TRUNC | O_CREAT)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	fi->keep_cache = 1;
	fi->noflush = 1;
	if (in->size == 0) {
		fi->fh = 0;     /* nothing to read: no blob */
		fuse_reply_open(req, fi);
		return;
	}
	walk = ahead_in_walk(f, in);
	b = blob_for(f, in);
	guessed = b && b->ahead;
	if (b)
		b->ahead = false;
	/* A held fd is served again only while its file is the one the indexer verified (SPEC §6):
	 * one fstat. A file changed since (written in place, or unlinked by an eviction) is let go
	 * of when no handle uses it and asked for again; while handles use it, the open fails. */
	if (b && b->state == BLOB_OPEN && !blob_unchanged(b)) {
		log_warn("%s: the blob's file changed after it was verified; asked for again",
			 b->layer ? b->layer : "local cache");
		if (b->refs) {
			fuse_reply_err(req, EIO);
			return;
		}
		idle_close(f, b);
	}
	if (b && b->state == BLOB_OPEN) {
		blob_hold(f, b);
		fi->fh = fh_of(b);
		fuse_reply_open(req, fi);
		if (guessed)
			ahead_from(f, in, true);        /* read-ahead was right: move its window on */
		return;
	}
	w = calloc(1, sizeof *w);
	if (!w || !b) {
		free(w);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (b->state == BLOB_IDLE) {
		b->state = BLOB_PENDING;
		b->speculative = false;
		rc = ask_indexer(f, b, ino, MSG_OPEN);
		if (rc) {
			log_err("cannot ask the indexer for a blob: %s", strerror(-rc));
			pending_drop(f, b);
			b->state = BLOB_IDLE;
			b->refs++;
			blob_put(f, b);
			free(w);
			fuse_reply_err(req, EIO);
			return;
		}
		/* The guesses go out when this blob is here, not beside it: on two cores they
		 * would slow the open that waits (each process on its way serves three requests
		 * instead of one), and the program has the blob to work on meanwhile. None for
		 * a program that is not walking the tree (ahead.c). */
		b->ahead_after = walk;
	} else {
		/* Read-ahead asked for it, and waits behind every open: if the indexer has not
		 * started on it yet, it serves it as an open now. */
		if (b->speculative && !b->promoted && f->idx_fd >= 0) {
			ipc_send(f->idx_fd, MSG_PROMOTE, b->req_id, NULL, 0, NULL, 0);
			b->promoted = true;
		}
		if (guessed)
			ahead_from(f, in, true);
	}
	w->req = req;
	w->fi = *fi;
	w->next = b->waiters;
	b->waiters = w;
	b->refs++;
}

/* Every open waiting for b fails with err; the next open asks again. */
static void fail_waiters(struct fuser *f, struct blob *b, int err)
{
	struct waiter *w;

	b->state = BLOB_IDLE;
	b->ahead_after = false;
	b->refs++;
	while ((w = b->waiters)) {
		b->waiters = w->next;
		fuse_reply_err(w->req, err);
		free(w);
		b->refs--;
	}
	blob_put(f, b);
}

void blob_ready(struct fuser *f, uint64_t req_id, int fd, const char *layer, size_t layer_len)
{
	struct blob *b = pending_take(f, req_id);
	const struct ix_inode *ahead;
	struct waiter *w;

	if (!b) {
		close(fd);
		return;
	}
	if (check_blob_fd(fd, b->size, &b->ctime_ns)) {
		log_err("indexer sent an fd that is not a read-only file of %llu bytes",
			(unsigned long long)b->size);
		close(fd);
		if (!b->speculative)
			tell_indexer(f, b, MSG_BLOB_CLOSED);     /* it pinned what we refuse */
		fail_waiters(f, b, EIO);
		return;
	}
	b->fd = fd;
	b->state = BLOB_OPEN;
	b->gone = false;
	/* The indexer pins what it answers to MSG_OPEN; a prefetch that an open joined is pinned
	 * now. */
	b->pinned = !b->speculative;
	if (b->speculative && b->waiters) {
		tell_indexer(f, b, MSG_BLOB_HELD);
		b->pinned = true;
	}
	free(b->layer);
	b->layer = strndup(layer, layer_len);
	/* Taken now: a reply that fails below may drop the blob. */
	ahead = b->ahead_after ? ix_inode(&f->ix, b->ino) : NULL;
	b->ahead_after = false;
	while ((w = b->waiters)) {
		b->waiters = w->next;
		if (w->read_size) {
			reply_read(w->req, b, w->read_size, w->read_off);
			b->refs--;      /* the handle's own reference stays (takeover.c) */
			free(w);
			continue;
		}
		w->fi.fh = fh_of(b);
		w->fi.keep_cache = 1;
		if (fuse_reply_open(w->req, &w->fi))
			blob_put(f, b);         /* interrupted: the handle will never be released */
		free(w);
	}
	if (b->refs == 0)
		idle_add(f, b);         /* prefetched: kept for the open that comes next */
	if (ahead)
		ahead_from(f, ahead, false);
}

void blob_failed(struct fuser *f, uint64_t req_id, int err)
{
	struct blob *b = pending_take(f, req_id);

	if (!b)
		return;
	/* Not in the cache, but an open came meanwhile: now ask for it for real. */
	if (b->speculative && b->waiters) {
		b->speculative = false;
		if (ask_indexer(f, b, b->ino, MSG_OPEN) == 0)
			return;
		pending_drop(f, b);
		err = EIO;
	}
	fail_waiters(f, b, err);
}

void reply_read(fuse_req_t req, const struct blob *b, size_t size, off_t off)
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

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	if (fh_foreign(fi->fh))
		handle_read_foreign(fuser_of(req), req, ino, size, off, fi->fh);
	else
		reply_read(req, fh_blob(fi->fh), size, off);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct blob *b = fh_blob(fi->fh);

	if (fh_foreign(fi->fh))
		handle_release_foreign(fuser_of(req), fi->fh);
	else if (b)
		blob_put(fuser_of(req), b);
	fuse_reply_err(req, 0);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fuser *f = fuser_of(req);
	/* The size is the tree's; nothing of it is "used" (it takes no space of its own, and the
	 * local cache is the cache filesystem's to report): a full read-only mount would alert
	 * every disk monitor. */
	struct statvfs sv = {
		.f_bsize = 4096, .f_frsize = 4096, .f_blocks = f->blocks, .f_bfree = f->blocks,
		.f_bavail = f->blocks, .f_files = f->ix.ninodes, .f_ffree = f->ix.ninodes,
		.f_favail = f->ix.ninodes, .f_namemax = 255,
	};

	fuse_reply_statfs(req, &sv);
}

/* ---- extended attributes ---------------------------------------------------------------------- */

static void reply_xattr(fuse_req_t req, size_t size, const void *val, size_t len)
{
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (size < len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, val, len);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct fuser *f = fuser_of(req);
	const struct ix_inode *in = ix_inode(&f->ix, ino);
	char hex[65];

	if (!in) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (strcmp(name, XATTR_AYS) == 0) {
		const struct ix_service *s = &f->ix.services[in->service];

		reply_xattr(req, size, ix_bytes(&f->ix, s->id_off), s->id_len);
	} else if (strcmp(name, XATTR_HASH) == 0 && S_ISREG(in->mode) && in->b) {
		const uint8_t *h = ix_bytes(&f->ix, in->a);

		for (uint32_t i = 0; i < in->b; i++) {
			hex[2 * i] = "0123456789abcdef"[h[i] >> 4];
			hex[2 * i + 1] = "0123456789abcdef"[h[i] & 15];
		}
		reply_xattr(req, size, hex, 2 * in->b);
	} else if (strcmp(name, XATTR_LAYER) == 0 && S_ISREG(in->mode) && in->b) {
		struct blob *b = blob_find(f, ix_bytes(&f->ix, in->a), (uint8_t)in->b);

		if (b && b->layer)
			reply_xattr(req, size, b->layer, strlen(b->layer));
		else
			fuse_reply_err(req, ENODATA);
	} else {
		fuse_reply_err(req, ENODATA);
	}
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct fuser *f = fuser_of(req);
	const struct ix_inode *in = ix_inode(&f->ix, ino);
	static const char with_hash[] = XATTR_HASH "\0" XATTR_AYS;
	static const char without[] = XATTR_AYS;

	if (!in) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (S_ISREG(in->mode) && in->b)
		reply_xattr(req, size, with_hash, sizeof with_hash);
	else
		reply_xattr(req, size, without, sizeof without);
}

/* ---- everything that would modify the tree ---------------------------------------------------- */
/* The mount is read-only, so the kernel already refuses these; answer the same if one arrives. */

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	fuse_reply_err(req, EROFS);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	fuse_reply_err(req, EROFS);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	fuse_reply_err(req, EROFS);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, EROFS);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, EROFS);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	fuse_reply_err(req, EROFS);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	fuse_reply_err(req, EROFS);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	fuse_reply_err(req, EROFS);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			size_t size, int flags)
{
	fuse_reply_err(req, EROFS);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	fuse_reply_err(req, EROFS);
}

const struct fuse_lowlevel_ops fuser_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.getattr = op_getattr,
	.readlink = op_readlink,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.open = op_open,
	.read = op_read,
	.release = op_release,
	.statfs = op_statfs,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.setattr = op_setattr,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_unlink,
	.symlink = op_symlink,
	.rename = op_rename,
	.link = op_link,
	.create = op_create,
	.setxattr = op_setxattr,
	.removexattr = op_removexattr,
};
