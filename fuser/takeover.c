/* takeover.c — a fuser that takes over the mount of one that died, without unmounting.
 *
 * The supervisor keeps a copy of the /dev/fuse fd, so the kernel's connection outlives a fuser:
 * requests wait in the kernel instead of failing. The new fuser needs three things the old one
 * had:
 *   - An initialised session. The kernel sends FUSE_INIT once per mount; the first fuser hands the
 *     supervisor a copy of it (MSG_FUSE_INIT), and a successor feeds that copy to its own session
 *     with a request id no request has, so libfuse negotiates exactly as before and its reply is
 *     refused by the kernel (ENOENT, which libfuse ignores) without any other effect.
 *   - The requests the dead fuser had read and not answered: FUSE_NOTIFY_RESEND (kernel 6.9 and
 *     later) puts them back in the queue.
 *   - Its open files. A handle (fh) is a blob pointer tagged with the instance of the fuser that
 *     made it (fh.c); a read of a handle from another instance is served from the content of its inode,
 *     asking the indexer for the blob when needed (the read waits like an open does). The first
 *     such read adopts the handle: it holds a reference on the blob until the handle is released.
 */
#include "fuser/fuser.h"
#include "ipc/proto.h"

#include "ipc/log.h"

#include <errno.h>
#include <linux/fuse.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef FUSE_NOTIFY_RESEND
#define FUSE_NOTIFY_RESEND 7    /* linux/fuse.h 7.40; Debian 12's headers are older */
#endif

/* No request of the kernel has this id: even (not an interrupt), below the resend bit. */
#define TAKEOVER_UNIQUE 0x7ffffffffffffff0ull
#define ADOPT_BUCKETS   256

struct adopted {
	uint64_t fh;
	struct blob *b;
	struct adopted *next;
};

static struct adopted *adopted[ADOPT_BUCKETS];

static struct adopted **slot(uint64_t fh)
{
	struct adopted **pp = &adopted[(fh ^ fh >> 17 ^ fh >> 48) % ADOPT_BUCKETS];

	while (*pp && (*pp)->fh != fh)
		pp = &(*pp)->next;
	return pp;
}

void handle_read_foreign(struct fuser *f, fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			 uint64_t fh)
{
	struct adopted **pp = slot(fh), *a = *pp;
	struct blob *b;
	int rc;

	if (!a) {
		const struct ix_inode *in = ix_inode(&f->ix, ino);

		/* A file changed by a reload since it was opened has no inode left to go by. */
		if (!in || !S_ISREG(in->mode) || in->size == 0 || !(b = blob_for(f, in))) {
			fuse_reply_err(req, in ? EIO : ESTALE);
			return;
		}
		if (!(a = calloc(1, sizeof *a))) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		a->fh = fh;
		a->b = b;
		blob_hold(f, b);
		*pp = a;
		b->ino = ino;
	}
	b = a->b;
	if (b->state == BLOB_OPEN) {
		blob_reply_read(req, b, size, off);
		return;
	}
	rc = blob_wait(f, b, ino, &(struct waiter){ .req = req, .read_size = size ? size : 1,
						     .read_off = off });
	if (rc)
		fuse_reply_err(req, -rc);
}

void handle_release_foreign(struct fuser *f, uint64_t fh)
{
	struct adopted **pp = slot(fh), *a = *pp;

	if (!a)
		return;         /* never read since the takeover: nothing held */
	*pp = a->next;
	blob_put(f, a->b);
	free(a);
}

bool takeover_is_init(const struct fuse_buf *buf, size_t len, uint8_t *out, size_t *outlen)
{
	const struct fuse_in_header *h = buf->mem;

	if (buf->flags & FUSE_BUF_IS_FD || !buf->mem || len < FUSE_INIT_MIN ||
	    len > FUSE_INIT_MAX || h->opcode != FUSE_INIT || h->len != len)
		return false;
	memcpy(out, buf->mem, len);
	*outlen = len;
	return true;
}

int takeover_start(struct fuse_session *se, const uint8_t *init, size_t len)
{
	static uint8_t copy[FUSE_INIT_MAX] __attribute__((aligned(8)));
	struct fuse_in_header *h = (struct fuse_in_header *)copy;
	struct fuse_buf buf = { .size = len, .mem = copy };
	struct fuse_out_header resend = {
		.len = sizeof resend, .error = FUSE_NOTIFY_RESEND, .unique = 0,
	};
	struct iovec iov = { .iov_base = &resend, .iov_len = sizeof resend };

	if (len < FUSE_INIT_MIN || len > sizeof copy)
		return -EINVAL;
	memcpy(copy, init, len);
	if (h->opcode != FUSE_INIT || h->len != len)
		return -EINVAL;
	h->unique = TAKEOVER_UNIQUE;
	fuse_session_process_buf(se, &buf);
	if (fuse_session_exited(se))
		return -EPROTO;
	/* Requests the dead fuser read and never answered: queued again by the kernel. writev, as
	 * libfuse writes every reply: no system call the fuser did not already make. */
	if (writev(fuse_session_fd(se), &iov, 1) != (ssize_t)sizeof resend) {
		int err = errno;

		log_err("the kernel cannot resend the dead fuser's requests (FUSE_NOTIFY_RESEND): %s",
			strerror(err));
		return -err;
	}
	return 0;
}
