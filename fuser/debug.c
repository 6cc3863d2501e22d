/* debug.c — debug mode (SPEC §7): the requests that change files, and an overlay of the files
 * changed, over the immutable index. Used only when the configuration has [debug] (the
 * supervisor says so in MSG_FUSER_CONF, and mounts read-write): fuser_debug_ops is then the ops
 * table; without [debug] none of this is reachable and the mount is read-only.
 *
 * The fuser decides nothing here: aysfs-debug says whether a path may be written (the filter,
 * editors' temporary names), hands a writable memfd for each handle opened for writing, and on
 * flush, fsync or the last release stores what was written (Redis) and hands back a sealed copy,
 * which readers see from then on. The fuser writes only into those memfds and opens no path.
 * Each request waits for aysfs-debug's answer (a development node; Redis answers within its
 * timeouts), so a slow Redis holds up the mount's other requests meanwhile.
 *
 * The overlay is a list of nodes by path (a development node changes a few files): a node names a
 * file written on the mount (its content), or one removed (a whiteout of the index's entry).
 * Inode numbers: a file of the index keeps its number; a new one gets one above every number
 * the index can use (DBG_INO_BASE). New files live in directories of the index. Changed files
 * are served with direct I/O and no attribute caching, so every process sees a commit at once.
 */
#include "fuser/fh.h"
#include "fuser/fuser.h"
#include "fuser/reload.h"

#include "ipc/log.h"
#include "ipc/proto.h"
#include "ipc/proto_debug.h"
#include "ipc/ipc_workers.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DBG_CALL_MS     15000
#define DBG_INO_BASE    (1ull << 32)

struct content {                /* a sealed memfd from aysfs-debug, shared by handles */
	int fd;
	uint64_t size;
	unsigned refs;
};

struct handle;

struct node {
	struct node *next;
	char *path;
	const char *name;       /* into path */
	uint64_t ino, parent;
	struct content *content;        /* NULL: the index's content (or none, for a new file) */
	int64_t mtime;
	bool removed;           /* a whiteout: the name is gone */
	bool in_index;          /* ino is the index's */
	bool orphan;            /* removed, and no whiteout needed: freed with its last handle */
	unsigned handles;       /* open handles on it */
	struct handle *writer;  /* the handle written last, for stat */
};

struct handle {
	struct node *node;
	struct content *content;        /* read-only handles: what they opened */
	int fd;                 /* handles open for writing: their memfd (-1: none) */
	uint64_t size, max_size;
	int64_t mtime;
	bool dirty;
};

static struct node *nodes;
static uint64_t next_ino = DBG_INO_BASE, next_id;
static struct ipc_msg reply_msg;

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

static void content_put(struct content *c)
{
	if (c && --c->refs == 0) {
		close(c->fd);
		free(c);
	}
}

/* A content from aysfs-debug: a regular file of the size it says. NULL: refused (fd closed). */
static struct content *content_new(int fd, uint64_t size)
{
	struct content *c = malloc(sizeof *c);
	struct stat st;

	if (!c || fstat(fd, &st) || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != size) {
		free(c);
		close(fd);
		return NULL;
	}
	*c = (struct content){ .fd = fd, .size = size, .refs = 1 };
	return c;
}

static uint64_t handle_fh(struct handle *h)
{
	return fh_of((const struct blob *)h) | 1;       /* bit 0: a debug handle */
}

static struct handle *handle_of(uint64_t fh)
{
	return fh & 1 && !fh_foreign(fh & ~1ull) ? (struct handle *)fh_blob(fh & ~1ull) : NULL;
}

/* The node named `name` in directory `parent`: a live one first, else a whiteout. */
static struct node *by_name(uint64_t parent, const char *name)
{
	struct node *gone = NULL;

	for (struct node *n = nodes; n; n = n->next)
		if (n->parent == parent && !strcmp(n->name, name)) {
			if (!n->removed)
				return n;
			gone = n;
		}
	return gone;
}

static struct node *by_ino(uint64_t ino)
{
	for (struct node *n = nodes; n; n = n->next)
		if (n->ino == ino && !n->removed)
			return n;
	return NULL;
}

static struct node *node_new(const char *path, uint64_t parent, uint64_t ino, bool in_index)
{
	struct node *n = calloc(1, sizeof *n);

	if (!n || !(n->path = strdup(path))) {
		free(n);
		return NULL;
	}
	n->name = strrchr(n->path, '/') + 1;
	n->parent = parent;
	n->ino = ino ? ino : next_ino++;
	n->in_index = in_index;
	n->mtime = now_s();
	n->next = nodes;
	nodes = n;
	return n;
}

/* n leaves the list (a refused create; a removed file no handle uses and whose name hides
 * nothing of the index), so that edits over a long session do not pile up nodes. */
static void node_drop(struct node *n)
{
	for (struct node **pp = &nodes; *pp; pp = &(*pp)->next)
		if (*pp == n) {
			*pp = n->next;
			free(n->path);
			free(n);
			return;
		}
}

/* n's name is gone: a whiteout when `hides` (the index has that name), else dropped once no
 * handle uses it. */
static void node_remove(struct node *n, bool hides)
{
	n->removed = true;
	content_put(n->content);
	n->content = NULL;
	n->orphan = !hides;
	if (n->orphan && !n->handles)
		node_drop(n);
}

static int set_path(struct node *n, const char *path, uint64_t parent)
{
	char *p = strdup(path);

	if (!p)
		return -ENOMEM;
	free(n->path);
	n->path = p;
	n->name = strrchr(p, '/') + 1;
	n->parent = parent;
	return 0;
}

/* The path of `name` in index directory `parent` (a directory of the index: new files go only
 * there). Returns 0, -ENOENT, -ENOTDIR or -ENAMETOOLONG. */
static int child_path(struct fuser *f, uint64_t parent, const char *name, char *buf, size_t cap)
{
	const struct ix_inode *dir = ix_inode(&f->ix, parent);
	int n;

	if (!dir)
		return by_ino(parent) ? -ENOTDIR : -ENOENT;
	if (!S_ISDIR(dir->mode))
		return -ENOTDIR;
	n = ix_path(&f->ix, dir, buf, cap);
	if (n < 0 || (size_t)n + 1 + strlen(name) >= cap)
		return -ENAMETOOLONG;
	snprintf(buf + n, cap - (size_t)n, "%s%s", n == 1 ? "" : "/", name);
	return 0;
}

/* Ask aysfs-debug; wait for its answer. Returns 0 or -errno (-EIO when it is gone); *fd_out gets
 * the fd that came with the answer (-1: none). */
static int call(struct fuser *f, uint16_t type, uint32_t flags, int64_t mtime, const char *path,
		int fd, struct dbg_reply *rep, int *fd_out)
{
	static uint8_t buf[4 + 8 + 4 + DBG_PATH_MAX];
	struct ipc_wr w;
	uint64_t id = ++next_id;
	int rc;

	*fd_out = -1;
	if (f->dbg_fd < 0) {
		log_err("%s: no debug worker to write it (it is restarting)", path);
		return -EIO;
	}
	ipc_wr_init(&w, buf, sizeof buf);
	dbg_req_encode(&w, flags, mtime, path);
	if (w.bad)
		return -ENAMETOOLONG;
	rc = ipc_send(f->dbg_fd, type, id, buf, w.len, fd >= 0 ? &fd : NULL, fd >= 0);
	if (!rc)
		rc = ipc_recv_wait(f->dbg_fd, proto_fuser_from_debug, proto_fuser_from_debug_n,
				   &reply_msg, DBG_CALL_MS);
	if (rc == 1 && reply_msg.hdr.id == id &&
	    (reply_msg.hdr.type == MSG_DBG_REPLY || reply_msg.hdr.type == MSG_DBG_REPLY_FD) &&
	    !dbg_reply_decode(reply_msg.payload, reply_msg.hdr.len, rep) &&
	    (reply_msg.hdr.type == MSG_DBG_REPLY || rep->status == 0)) {
		if (reply_msg.hdr.nfds)
			*fd_out = reply_msg.fds[0];
		return -(int)rep->status;
	}
	if (rc == 1)
		ipc_msg_close_fds(&reply_msg);
	log_err("%s: the debug worker %s; it is dropped until it is restarted", path,
		rc == 1 ? "answered out of turn" : rc == 0 ? "is gone" : strerror(-rc));
	close(f->dbg_fd);
	f->dbg_fd = -1;
	return -EIO;
}

/* ---- the contents aysfs-debug loaded from Redis ---------------------------------------------- */

/* Put a stored content at `path`, when its folder is in the index. */
static void place(struct fuser *f, const char *path, size_t len, int fd, uint64_t size, int64_t mtime)
{
	char buf[DBG_PATH_MAX + 1], *slash;
	const struct ix_inode *dir = &f->ix.inodes[IX_ROOT], *in = NULL;
	struct node *n;
	struct content *c;
	const char *p;

	memcpy(buf, path, len);
	buf[len] = '\0';
	slash = strrchr(buf, '/');
	/* Walk the folders of the index down to the file's. */
	for (p = buf + 1; dir && p < slash; ) {
		const char *e = strchr(p, '/');

		dir = ix_lookup(&f->ix, dir, p, (size_t)(e - p));
		if (dir && !S_ISDIR(dir->mode))
			dir = NULL;
		p = e + 1;
	}
	if (!dir || !slash[1] || !(c = content_new(fd, size))) {
		if (dir && slash[1])
			return;         /* content_new closed it */
		close(fd);
		log_warn("%s: stored in Redis, but its folder is not in the tree: not shown", buf);
		return;
	}
	in = ix_lookup(&f->ix, dir, slash + 1, strlen(slash + 1));
	if (in && !S_ISREG(in->mode)) {
		content_put(c);
		log_warn("%s: stored in Redis, but the tree has a folder or a link there: not shown", buf);
		return;
	}
	n = by_name(dir->ino, slash + 1);
	if (!n || n->removed)
		n = node_new(buf, dir->ino, in ? in->ino : 0, in);
	if (!n) {
		content_put(c);
		return;
	}
	content_put(n->content);
	n->content = c;
	n->mtime = mtime;
}

int debug_connect(struct fuser *f, int fd)
{
	unsigned placed = 0;
	int rc;

	if (f->dbg_fd >= 0)
		close(f->dbg_fd);
	f->dbg_fd = fd;
	for (;;) {
		struct dbg_entry e;
		struct dbg_reply r;

		rc = ipc_recv_wait(fd, proto_fuser_from_debug, proto_fuser_from_debug_n, &reply_msg,
				   DBG_CALL_MS * 2);
		if (rc != 1)
			break;
		if (reply_msg.hdr.type == MSG_DBG_LOADED) {
			if (dbg_reply_decode(reply_msg.payload, reply_msg.hdr.len, &r))
				break;
			log_info("debug mode: %u stored files shown%s", placed,
				 r.status ? "; Redis was unreachable: writes fail with EIO" : "");
			return 0;
		}
		if (reply_msg.hdr.type != MSG_DBG_ENTRY ||
		    dbg_entry_decode(reply_msg.payload, reply_msg.hdr.len, &e)) {
			ipc_msg_close_fds(&reply_msg);
			break;
		}
		place(f, e.path, e.path_len, reply_msg.fds[0], e.size, e.mtime);
		placed++;
	}
	log_err("the debug worker's stored files: %s", rc < 0 ? strerror(-rc) : "malformed");
	close(fd);
	f->dbg_fd = -1;
	return -EPROTO;
}

/* ---- attributes ------------------------------------------------------------------------------ */

static void node_attr(struct fuser *f, const struct node *n, struct stat *st)
{
	const struct ix_inode *in = n->in_index ? ix_inode(&f->ix, n->ino) : NULL;
	const struct handle *w = n->writer && n->writer->dirty ? n->writer : NULL;

	memset(st, 0, sizeof *st);
	st->st_ino = n->ino;
	st->st_mode = in && S_ISREG(in->mode) ? in->mode : S_IFREG | 0644;
	st->st_nlink = 1;
	st->st_size = (off_t)(w ? w->size : n->content ? n->content->size : in ? in->size : 0);
	st->st_blksize = 4096;
	st->st_blocks = (st->st_size + 511) / 512;
	st->st_mtim.tv_sec = w ? w->mtime : n->content || !in ? n->mtime : in->mtime;
	st->st_ctim = st->st_atim = st->st_mtim;
}

static void reply_node(struct fuser *f, fuse_req_t req, const struct node *n)
{
	struct fuse_entry_param e = { .ino = n->ino, .generation = 1 };

	node_attr(f, n, &e.attr);
	fuse_reply_entry(req, &e);
}

static void dbg_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuser *f = fuse_req_userdata(req);
	struct node *n = by_name(parent, name);

	if (!n) {
		fuser_ops.lookup(req, parent, name);
	} else if (n->removed) {
		struct fuse_entry_param e = { 0 };

		fuse_reply_entry(req, &e);      /* absent, and not remembered */
	} else {
		reply_node(f, req, n);
	}
}

static void dbg_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fuser *f = fuse_req_userdata(req);
	struct node *n = by_ino(ino);
	struct stat st;

	if (!n) {
		fuser_ops.getattr(req, ino, fi);
		return;
	}
	node_attr(f, n, &st);
	fuse_reply_attr(req, &st, 0);
}

/* ---- opening, reading, writing --------------------------------------------------------------- */

/* The node for index file `ino` (made when there is none yet), or NULL (errno-style in *err). */
static struct node *node_for(struct fuser *f, uint64_t ino, int *err)
{
	const struct ix_inode *in;
	struct node *n = by_ino(ino);
	char path[DBG_PATH_MAX + 1];

	if (n)
		return n;
	in = ix_inode(&f->ix, ino);
	*err = !in ? ESTALE : S_ISDIR(in->mode) ? EISDIR : !S_ISREG(in->mode) ? EROFS : 0;
	if (*err)
		return NULL;
	if (ix_path(&f->ix, in, path, sizeof path) < 0) {
		*err = ENAMETOOLONG;
		return NULL;
	}
	n = node_new(path, f->ix.inodes[in->parent].ino, in->ino, true);
	if (!n)
		*err = ENOMEM;
	return n;
}

/* The current content of n as an fd to start a writable copy from: -1 for none (empty), -2 when
 * the index's blob is not at hand. */
static int base_fd(struct fuser *f, const struct node *n)
{
	const struct ix_inode *in;
	struct blob *b;

	if (n->content)
		return n->content->fd;
	in = n->in_index ? ix_inode(&f->ix, n->ino) : NULL;
	if (!in || in->size == 0)
		return -1;
	b = blob_find(f, ix_bytes(&f->ix, in->a), (uint8_t)in->b);
	return b && b->state == BLOB_OPEN ? b->fd : -2;
}

/* A handle open for writing on n. Returns 0 or -errno. */
static int open_write(struct fuser *f, struct node *n, bool trunc, struct handle **out)
{
	struct dbg_reply r;
	struct handle *h;
	int base = trunc ? -1 : base_fd(f, n), fd, rc;

	if (base == -2)
		return -EAGAIN;         /* dbg_open parks the request until the blob is here */
	rc = call(f, base >= 0 ? MSG_DBG_OPEN_FROM : MSG_DBG_OPEN, trunc ? DBG_F_TRUNC : 0, 0, n->path,
		  base, &r, &fd);
	if (rc)
		return rc;
	h = calloc(1, sizeof *h);
	if (!h) {
		close(fd);
		return -ENOMEM;
	}
	*h = (struct handle){ .node = n, .fd = fd, .max_size = r.size, .mtime = now_s() };
	n->handles++;
	struct stat st;

	h->size = fstat(fd, &st) ? 0 : (uint64_t)st.st_size;
	h->dirty = trunc;       /* an O_TRUNC open stores the empty file even if nothing follows */
	n->writer = h;
	*out = h;
	return 0;
}

/* Store what h holds under its node's path; its content is what readers see from then on. */
static int commit(struct fuser *f, struct handle *h)
{
	struct node *n = h->node;
	struct dbg_reply r;
	struct content *c;
	int fd, rc;

	if (!h->dirty)
		return 0;
	rc = call(f, MSG_DBG_COMMIT, 0, h->mtime, n->path, h->fd, &r, &fd);
	reload_queue_inode(n->ino);     /* whatever the kernel holds of it: ask again */
	if (rc)
		return rc;
	if (!(c = content_new(fd, r.size)))
		return -EIO;
	content_put(n->content);
	n->content = c;
	n->mtime = h->mtime;
	n->removed = false;
	h->dirty = false;
	return 0;
}

static void release_handle(struct handle *h)
{
	struct node *n = h->node;

	if (n->writer == h)
		n->writer = NULL;
	if (h->fd >= 0)
		close(h->fd);
	content_put(h->content);
	free(h);
	if (--n->handles == 0 && n->orphan)
		node_drop(n);
}

static void reply_open(fuse_req_t req, struct fuse_file_info *fi, struct handle *h)
{
	fi->fh = handle_fh(h);
	fi->direct_io = 1;      /* every read comes here: a commit is seen at once */
	fi->keep_cache = 0;
	if (fuse_reply_open(req, fi) == -ENOENT)
		release_handle(h);      /* interrupted: the kernel will never release it */
}

/* Opens for writing that wait for the index's blob to copy from (asked of the indexer as a read
 * would be); debug_retry() goes through them after each message of the indexer. */
struct parked {
	struct parked *next;
	fuse_req_t req;
	fuse_ino_t ino;
	struct fuse_file_info fi;
};

static struct parked *parked;

static void park(struct fuser *f, fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	const struct ix_inode *in = ix_inode(&f->ix, ino);
	struct blob *b = in ? blob_for(f, in) : NULL;
	struct parked *p = malloc(sizeof *p);

	if (!p || !b || (b->state == BLOB_IDLE && blob_ask(f, b, ino))) {
		free(p);
		fuse_reply_err(req, EIO);
		return;
	}
	*p = (struct parked){ .next = parked, .req = req, .ino = ino, .fi = *fi };
	parked = p;
}

void debug_retry(struct fuser *f)
{
	for (struct parked **pp = &parked, *p; (p = *pp);) {
		struct node *n = by_ino(p->ino);
		const struct ix_inode *in = ix_inode(&f->ix, p->ino);
		struct blob *b = in ? blob_find(f, ix_bytes(&f->ix, in->a), (uint8_t)in->b) : NULL;
		struct handle *h;
		int rc;

		if (n && b && b->state == BLOB_PENDING) {
			pp = &p->next;
			continue;
		}
		rc = n ? open_write(f, n, false, &h) : -ESTALE;
		if (rc)
			fuse_reply_err(p->req, rc == -EAGAIN ? EIO : -rc);
		else
			reply_open(p->req, &p->fi, h);
		*pp = p->next;
		free(p);
	}
}

static void dbg_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fuser *f = fuse_req_userdata(req);
	struct node *n = by_ino(ino);
	struct handle *h;
	int err = 0, rc;

	if ((fi->flags & O_ACCMODE) == O_RDONLY && !(fi->flags & O_TRUNC)) {
		if (!n || (!n->content && n->in_index)) {
			fuser_ops.open(req, ino, fi);   /* the index's content */
			return;
		}
		if (!(h = calloc(1, sizeof *h))) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		h->node = n;
		n->handles++;
		h->fd = -1;
		h->content = n->content;
		if (h->content)
			h->content->refs++;
		reply_open(req, fi, h);
		return;
	}
	if (!n && !(n = node_for(f, ino, &err))) {
		fuse_reply_err(req, err);
		return;
	}
	rc = open_write(f, n, fi->flags & O_TRUNC, &h);
	if (rc == -EAGAIN && n->in_index)
		park(f, req, ino, fi);
	else if (rc)
		fuse_reply_err(req, -rc);
	else
		reply_open(req, fi, h);
}

static void dbg_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		       struct fuse_file_info *fi)
{
	struct fuser *f = fuse_req_userdata(req);
	char path[DBG_PATH_MAX + 1];
	struct node *n = by_name(parent, name);
	const struct ix_inode *in;
	struct fuse_entry_param e = { .generation = 1 };
	struct handle *h;
	int rc = child_path(f, parent, name, path, sizeof path);

	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	in = ix_lookup(&f->ix, ix_inode(&f->ix, parent), name, strlen(name));
	if ((n && !n->removed) || (!n && in)) {
		if (fi->flags & O_EXCL) {
			fuse_reply_err(req, EEXIST);
			return;
		}
		if (!n && (!S_ISREG(in->mode) || !(n = node_for(f, in->ino, &rc)))) {
			fuse_reply_err(req, !S_ISREG(in->mode) ? EISDIR : rc);
			return;
		}
	} else {
		/* A new file (or one made again after its removal): a number of its own. */
		n = node_new(path, parent, 0, false);
		if (!n) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		n->removed = true;      /* until aysfs-debug agrees */
	}
	rc = open_write(f, n, n->removed || (fi->flags & O_TRUNC), &h);
	if (rc) {
		if (n->removed)
			node_drop(n);   /* refused: leave no trace of the name */
		fuse_reply_err(req, -rc);
		return;
	}
	n->removed = false;
	h->dirty = true;        /* a new file is stored even if nothing is written into it */
	e.ino = n->ino;
	node_attr(f, n, &e.attr);
	fi->fh = handle_fh(h);
	fi->direct_io = 1;
	fuse_reply_create(req, &e, fi);
}

static void dbg_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi->fh);
	struct node *changed = h ? NULL : by_ino(ino);
	int fd = h ? (h->fd >= 0 ? h->fd : h->content ? h->content->fd : -1) : -1;
	char *buf;
	ssize_t n;

	/* A handle of a fuser that died (takeover.c) of a file changed here: its stored content. */
	if (!h && fh_foreign(fi->fh & ~1ull) && changed && changed->content)
		fd = changed->content->fd;
	else if (!h) {
		fuser_ops.read(req, ino, size, off, fi);
		return;
	}
	if (fd < 0) {
		fuse_reply_buf(req, NULL, 0);   /* a new file, nothing stored yet */
		return;
	}
	if (size > 1 << 20)
		size = 1 << 20;
	buf = malloc(size ? size : 1);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	n = pread(fd, buf, size, off);
	if (n < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

static void dbg_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi->fh);
	ssize_t n;

	if (!h || h->fd < 0) {
		fuse_reply_err(req, EBADF);
		return;
	}
	if (off < 0 || (uint64_t)off + size > h->max_size) {
		fuse_reply_err(req, EFBIG);
		return;
	}
	n = pwrite(h->fd, buf, size, off);
	if (n < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	if ((uint64_t)off + (uint64_t)n > h->size)
		h->size = (uint64_t)off + (uint64_t)n;
	h->dirty = true;
	h->mtime = now_s();
	h->node->writer = h;
	fuse_reply_write(req, (size_t)n);
}

static void dbg_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi->fh);

	fuse_reply_err(req, h && h->fd >= 0 ? -commit(fuse_req_userdata(req), h) : 0);
}

static void dbg_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	dbg_flush(req, ino, fi);
}

static void dbg_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fuser *f = fuse_req_userdata(req);
	struct handle *h = handle_of(fi->fh);

	if (!h) {
		fuser_ops.release(req, ino, fi);
		return;
	}
	if (h->fd >= 0 && h->dirty && commit(f, h))
		log_err("%s: the last close could not store it; what was written is lost", h->node->path);
	release_handle(h);
	fuse_reply_err(req, 0);
}

/* truncate, and the times and modes editors set on what they saved (kept as they are). */
static void dbg_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
			struct fuse_file_info *fi)
{
	struct fuser *f = fuse_req_userdata(req);
	struct handle *h = fi ? handle_of(fi->fh) : NULL, *tmp = NULL;
	struct node *n = by_ino(ino);
	struct stat st;
	int rc = 0;

	if (!n && !(to_set & FUSE_SET_ATTR_SIZE)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (!n && !(n = node_for(f, ino, &rc))) {
			fuse_reply_err(req, rc);
			return;
		}
		if ((!h || h->fd < 0) && (rc = open_write(f, n, attr->st_size == 0, &tmp))) {
			fuse_reply_err(req, -rc);
			return;
		}
		if (!h || h->fd < 0)
			h = tmp;
		if ((uint64_t)attr->st_size > h->max_size)
			rc = -EFBIG;
		else if (ftruncate(h->fd, attr->st_size))
			rc = -errno;
		if (!rc) {
			h->size = (uint64_t)attr->st_size;
			h->dirty = true;
			h->mtime = now_s();
			n->writer = h;
		}
		if (tmp) {
			if (!rc)
				rc = commit(f, tmp);
			release_handle(tmp);
		}
	}
	if (!rc && (to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW))) {
		int64_t t = to_set & FUSE_SET_ATTR_MTIME_NOW ? now_s() : (int64_t)attr->st_mtim.tv_sec;

		n->mtime = t;
		if (n->writer)
			n->writer->mtime = t;
	}
	if (rc) {
		fuse_reply_err(req, -rc);
		return;
	}
	node_attr(f, n, &st);
	fuse_reply_attr(req, &st, 0);
}

/* ---- names ----------------------------------------------------------------------------------- */

static void dbg_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuser *f = fuse_req_userdata(req);
	struct node *n = by_name(parent, name);
	const struct ix_inode *dir = ix_inode(&f->ix, parent);
	const struct ix_inode *in = dir ? ix_lookup(&f->ix, dir, name, strlen(name)) : NULL;
	char path[DBG_PATH_MAX + 1];
	struct dbg_reply r;
	int fd, rc;

	if ((n && n->removed) || (!n && !in)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (!n && !S_ISREG(in->mode)) {
		fuse_reply_err(req, S_ISDIR(in->mode) ? EISDIR : EROFS);
		return;
	}
	if ((rc = child_path(f, parent, name, path, sizeof path)) ||
	    (rc = call(f, MSG_DBG_UNLINK, 0, 0, path, -1, &r, &fd))) {
		fuse_reply_err(req, -rc);
		return;
	}
	if (!n && !(n = node_new(path, parent, in->ino, true))) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	node_remove(n, in);
	fuse_reply_err(req, 0);
}

/* rename(2) as editors save: the content moves to the new name, stored there (a path the filter
 * matches) or kept in memory (a temporary name); the old name goes. */
static void dbg_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		       const char *newname, unsigned int flags)
{
	struct fuser *f = fuse_req_userdata(req);
	char from[DBG_PATH_MAX + 1], to[DBG_PATH_MAX + 1];
	const struct ix_inode *dir = ix_inode(&f->ix, parent);
	const struct ix_inode *in = dir ? ix_lookup(&f->ix, dir, name, strlen(name)) : NULL;
	struct node *n = by_name(parent, name), *old = by_name(newparent, newname);
	struct handle h = { .fd = -1 }, *empty = NULL;
	struct dbg_reply r;
	int fd = -1, rc, err = 0;

	if (flags & ~RENAME_NOREPLACE) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if ((n && n->removed) || (!n && !in)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if ((rc = child_path(f, parent, name, from, sizeof from)) ||
	    (rc = child_path(f, newparent, newname, to, sizeof to))) {
		fuse_reply_err(req, -rc);
		return;
	}
	if ((flags & RENAME_NOREPLACE) &&
	    ((old && !old->removed) || (!old && ix_lookup(&f->ix, ix_inode(&f->ix, newparent), newname,
							   strlen(newname))))) {
		fuse_reply_err(req, EEXIST);
		return;
	}
	if (!n && !(n = node_for(f, in->ino, &err))) {
		fuse_reply_err(req, err == EISDIR ? EROFS : err);
		return;
	}
	/* May the old name go? Then the content under the new name, then the old name removed. */
	if ((rc = call(f, MSG_DBG_UNLINK, DBG_F_CHECK, 0, from, -1, &r, &fd)))
		goto out;
	h.fd = base_fd(f, n);
	if (h.fd == -2) {
		rc = -EXDEV;    /* its blob is not here: mv copies it instead */
		goto out;
	}
	if (h.fd == -1) {       /* empty: an empty memfd to store */
		struct handle *writer = n->writer;

		if ((rc = open_write(f, n, true, &empty)))
			goto out;
		h.fd = empty->fd;
		n->writer = writer;
	}
	h.node = n;
	h.dirty = true;
	h.mtime = n->mtime;
	{
		char *keep = n->path;

		n->path = to;
		rc = commit(f, &h);
		n->path = keep;
	}
	if (rc)
		goto out;
	if ((rc = call(f, MSG_DBG_UNLINK, 0, 0, from, -1, &r, &fd)))
		log_err("%s: stored as %s, but the old name could not be removed", from, to);
	rc = 0;
	if (old && old != n && !old->removed)
		node_remove(old, false);        /* n takes its name */
	/* The node moves (the kernel moved its inode); the old name is a whiteout when the index
	 * has it. */
	if (in && node_new(from, parent, in->ino, true))
		nodes->removed = true;
	rc = set_path(n, to, newparent);
out:
	if (empty)
		release_handle(empty);
	fuse_reply_err(req, -rc);
}

/* ---- directories ----------------------------------------------------------------------------- */

/* readdir (ops.c) through the overlay: names removed are left out, files written answer for
 * themselves, and the new files of this directory come after the index's entries. */
static int dir_overlay(struct fuser *f, const struct ix_inode *dir, uint64_t i, char name[256],
		       struct fuse_entry_param *e)
{
	struct node *n = NULL;

	if (i < 2 + (uint64_t)dir->b) {
		const struct ix_inode *in = &f->ix.inodes[dir->a + i - 2];

		memcpy(name, ix_name(&f->ix, in), in->name_len);
		name[in->name_len] = '\0';
		n = by_name(dir->ino, name);
		if (!n)
			return DIR_INDEX;
		if (n->removed)
			return DIR_SKIP;
	} else {
		uint64_t k = i - 2 - (uint64_t)dir->b;  /* the k-th new file of this directory */

		for (n = nodes; n; n = n->next)
			if (n->parent == dir->ino && !n->removed &&
			    !ix_lookup(&f->ix, dir, n->name, strlen(n->name)) && k-- == 0)
				break;
		if (!n)
			return DIR_END;
		snprintf(name, 256, "%s", n->name);
	}
	*e = (struct fuse_entry_param){ .ino = n->ino, .generation = 1 };
	node_attr(f, n, &e->attr);
	return DIR_OWN;
}

static void dbg_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			struct fuse_file_info *fi)
{
	fuser_ops.readdir(req, ino, size, off, fi);     /* through dir_overlay */
}

static void dbg_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			    struct fuse_file_info *fi)
{
	fuser_ops.readdirplus(req, ino, size, off, fi);
}

static void dbg_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fuser *f = fuse_req_userdata(req);
	const struct ix_inode *in = ix_inode(&f->ix, ino);

	if (!in || !S_ISDIR(in->mode)) {
		fuse_reply_err(req, in ? ENOTDIR : by_ino(ino) ? ENOTDIR : ESTALE);
		return;
	}
	fuse_reply_open(req, fi);       /* listings change: the kernel keeps none */
}

static void dbg_init(void *userdata, struct fuse_conn_info *conn)
{
	struct fuser *f = userdata;

	fuser_ops.init(userdata, conn);
	f->no_opendir = false;
	f->dir_overlay = dir_overlay;
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;  /* O_TRUNC comes with the open */
}

/* What stays read-only in debug mode: folders, links, special files, attributes. */
static void dbg_mkdir(fuse_req_t req, fuse_ino_t p, const char *name, mode_t mode)
{
	fuse_reply_err(req, EROFS);
}

static void dbg_rmdir(fuse_req_t req, fuse_ino_t p, const char *name)
{
	fuse_reply_err(req, EROFS);
}

static void dbg_symlink(fuse_req_t req, const char *link, fuse_ino_t p, const char *name)
{
	fuse_reply_err(req, EROFS);
}

static void dbg_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t p, const char *name)
{
	fuse_reply_err(req, EROFS);
}

static void dbg_mknod(fuse_req_t req, fuse_ino_t p, const char *name, mode_t mode, dev_t rdev)
{
	fuse_reply_err(req, EROFS);
}

/* A file written here takes no attribute (ENOTSUP: what tools that copy ACLs, as sed -i does,
 * take for "none here"); the tree's files none either (EROFS). */
static void dbg_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			 size_t size, int flags)
{
	fuse_reply_err(req, by_ino(ino) ? ENOTSUP : EROFS);
}

static void dbg_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	fuse_reply_err(req, by_ino(ino) ? ENOTSUP : EROFS);
}

static void dbg_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	if (by_ino(ino))
		fuse_reply_err(req, ENODATA);   /* its hash and layer are the index's no more */
	else
		fuser_ops.getxattr(req, ino, name, size);
}

static void dbg_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	if (by_ino(ino))
		size ? fuse_reply_buf(req, NULL, 0) : fuse_reply_xattr(req, 0);
	else
		fuser_ops.listxattr(req, ino, size);
}

const struct fuse_lowlevel_ops fuser_debug_ops = {
	.init = dbg_init,
	.lookup = dbg_lookup,
	.getattr = dbg_getattr,
	.setattr = dbg_setattr,
	.opendir = dbg_opendir,
	.readdir = dbg_readdir,
	.readdirplus = dbg_readdirplus,
	.open = dbg_open,
	.create = dbg_create,
	.read = dbg_read,
	.write = dbg_write,
	.flush = dbg_flush,
	.fsync = dbg_fsync,
	.release = dbg_release,
	.unlink = dbg_unlink,
	.rename = dbg_rename,
	.mkdir = dbg_mkdir,
	.rmdir = dbg_rmdir,
	.symlink = dbg_symlink,
	.link = dbg_link,
	.mknod = dbg_mknod,
	.setxattr = dbg_setxattr,
	.removexattr = dbg_removexattr,
	.getxattr = dbg_getxattr,
	.listxattr = dbg_listxattr,
};
