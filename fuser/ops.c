/* ops.c — the kernel's requests, answered from the index and from blob fds.
 *
 * Everything but open is answered at once from the immutable index. An open of a file with content
 * needs the blob's fd, which blobs.c holds or asks the indexer for (the request is parked until it
 * comes). Reads then splice from the blob fd to the kernel.
 */
#include "fuser/blobs.h"
#include "fuser/fh.h"
#include "fuser/fuser.h"

#include "ipc/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

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
	st->st_ino = in->ino;
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
	e->ino = in->ino;
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
	f->blocks = UINT64_MAX; /* counted at the first statfs: a walk of every inode (a million
				 * take milliseconds) need not delay serving */
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

/* Directory offsets: 0 ".", 1 "..", 2 + i the i-th child in name order; with debug mode's
 * overlay (f->dir_overlay, debug.c), which may leave a child out or answer for it, and adds the
 * new files of the directory after the last child. */
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
	for (uint64_t i = off < 0 ? 0 : (uint64_t)off;; i++) {
		const struct ix_inode *in;
		struct fuse_entry_param e;
		int ov = f->dir_overlay && i >= 2 ? f->dir_overlay(f, dir, i, name, &e) : DIR_INDEX;
		size_t n;

		if (ov == DIR_SKIP)
			continue;
		if (ov == DIR_END || (ov == DIR_INDEX && i >= 2 + (uint64_t)dir->b))
			break;
		if (ov == DIR_INDEX) {
			if (i < 2) {
				in = i == 0 ? dir : &f->ix.inodes[dir->parent];
				strcpy(name, i == 0 ? "." : "..");
			} else {
				in = &f->ix.inodes[dir->a + i - 2];
				memcpy(name, ix_name(&f->ix, in), in->name_len);
				name[in->name_len] = '\0';
			}
			fill_entry(f, in, &e);
		}
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

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fuser *f = fuser_of(req);
	const struct ix_inode *in = ix_inode(&f->ix, ino);

	if (!in || !S_ISREG(in->mode)) {
		fuse_reply_err(req, !in ? ESTALE : S_ISDIR(in->mode) ? EISDIR : EINVAL);
		return;
	}
	fi->keep_cache = 1;
	fi->noflush = 1;
	f->n_opens++;
	if (in->size == 0) {
		fi->fh = 0;     /* nothing to read: no blob */
		fuse_reply_open(req, fi);
		return;
	}
	blob_open(f, req, ino, in, fi);         /* answered, or parked for the indexer's reply */
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fuser *f = fuser_of(req);
	const struct ix_inode *in = ix_inode(&f->ix, ino);

	f->n_reads++;
	if (in && (uint64_t)off < in->size)
		f->read_bytes += in->size - (uint64_t)off < size ? in->size - (uint64_t)off : size;
	if (fh_foreign(fi->fh))
		handle_read_foreign(fuser_of(req), req, ino, size, off, fi->fh);
	else
		blob_reply_read(req, fh_blob(fi->fh), size, off);
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

	if (f->blocks == UINT64_MAX) {
		f->blocks = 0;
		for (uint32_t i = 0; i < f->ix.ninodes; i++)
			if (S_ISREG(f->ix.inodes[i].mode))
				f->blocks += (f->ix.inodes[i].size + 4095) / 4096;
	}
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

/* The attributes, in the order listed. getxattr and listxattr both answer from xattr_value(), so
 * that what is listed is exactly what can be read. */
enum xattr { XA_HASH, XA_AYS, XA_LAYER, XA_COUNT };
static const char *const xattr_names[XA_COUNT] = { XATTR_HASH, XATTR_AYS, XATTR_LAYER };

/* Attribute `which` of `in` (its length in *len), or NULL when it has none: the hash of a file
 * with a blob, the service of a file or folder, the layer of a blob this fuser holds. user.* of
 * anything else (a symlink) the kernel answers itself, with ENODATA: none listed either. */
static const void *xattr_value(struct fuser *f, const struct ix_inode *in, enum xattr which,
			       char hex[64], size_t *len)
{
	const struct ix_service *s = &f->ix.services[in->service];
	bool blob = S_ISREG(in->mode) && in->b;
	struct blob *b;

	if (which == XA_AYS && (S_ISREG(in->mode) || S_ISDIR(in->mode))) {
		*len = s->id_len;
		return ix_bytes(&f->ix, s->id_off);
	}
	if (which == XA_HASH && blob) {
		const uint8_t *h = ix_bytes(&f->ix, in->a);

		for (uint32_t i = 0; i < in->b; i++) {
			hex[2 * i] = "0123456789abcdef"[h[i] >> 4];
			hex[2 * i + 1] = "0123456789abcdef"[h[i] & 15];
		}
		*len = 2 * in->b;
		return hex;
	}
	if (which == XA_LAYER && blob && (b = blob_find(f, ix_bytes(&f->ix, in->a), (uint8_t)in->b)) &&
	    b->layer) {
		*len = strlen(b->layer);
		return b->layer;
	}
	return NULL;
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct fuser *f = fuser_of(req);
	const struct ix_inode *in = ix_inode(&f->ix, ino);
	const void *val = NULL;
	char hex[64];
	size_t len;

	if (!in) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	for (enum xattr i = 0; i < XA_COUNT; i++)
		if (strcmp(name, xattr_names[i]) == 0)
			val = xattr_value(f, in, i, hex, &len);
	if (val)
		reply_xattr(req, size, val, len);
	else
		fuse_reply_err(req, ENODATA);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct fuser *f = fuser_of(req);
	const struct ix_inode *in = ix_inode(&f->ix, ino);
	char list[sizeof XATTR_HASH + sizeof XATTR_AYS + sizeof XATTR_LAYER], hex[64];
	size_t n = 0, len;

	if (!in) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	for (enum xattr i = 0; i < XA_COUNT; i++)
		if (xattr_value(f, in, i, hex, &len)) {
			memcpy(list + n, xattr_names[i], strlen(xattr_names[i]) + 1);
			n += strlen(xattr_names[i]) + 1;
		}
	reply_xattr(req, size, list, n);
}

/* Only what the kernel sends on a read-only mount (MS_RDONLY, supervisor/mount.c). The VFS itself
 * answers EROFS to every modifying call before FUSE sees it: an open for writing or truncating,
 * create, mknod, mkdir, unlink, rmdir, symlink, link, rename, setattr (chmod, chown, utime,
 * truncate) and setxattr/removexattr; O_CREAT never reaches open (tests/integration/readonly.t).
 * Were root to remount it read-write, nothing could change all the same: there is no write
 * handler (libfuse answers ENOSYS) and every blob fd is read-only. Debug mode (SPEC section 7)
 * serves fuser_debug_ops instead (debug.c), on a read-write mount, only with [debug]. */
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
};
