/* test_fuser_blobs.c — the fuser's blob records through the paths where they change state
 * (fuser/blobs.c): a blob asked for while only a handle holds it, a refused fd, opens that the
 * kernel gave up on. The kernel's side is played by the fuse_reply_* below, which count what the
 * fuser replied in place of libfuse's; the indexer's is the other end of a socketpair, read here. */
#include "fuser/fuser.h"
#include "ipc/proto.h"
#include "tests/tap.h"
#include "tests/unit/fuser_tree.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>

#define H1 "|8a3e5e03a10ecc3601a1f14fbc371019|"

/* ---- the kernel: what the fuser replied (these take the place of libfuse's) ---------------- */
static int replies_open, replies_err, last_err, open_rc;

int fuse_reply_open(fuse_req_t req, const struct fuse_file_info *fi)
{
	replies_open++;
	return open_rc;         /* -ENOENT: the kernel gave up on the open (interrupted) */
}

int fuse_reply_err(fuse_req_t req, int err)
{
	replies_err++;
	last_err = err;
	return 0;
}

int fuse_reply_data(fuse_req_t req, struct fuse_bufvec *bufv, enum fuse_buf_copy_flags flags)
{
	return 0;
}

/* ---- the indexer: the other end of the fuser's channel ------------------------------------- */
static int indexer;

/* The next message the fuser sent the indexer: its type (0: none), its id in *id. */
static unsigned next_sent(uint64_t *id)
{
	static const struct ipc_type any[] = {
		{ MSG_OPEN, 0, 0, IPC_MAX_PAYLOAD, "open" },
		{ MSG_PREFETCH, 0, 0, IPC_MAX_PAYLOAD, "prefetch" },
		{ MSG_OPENED, 0, 0, IPC_MAX_PAYLOAD, "opened" },
		{ MSG_BLOB_HELD, 0, 0, IPC_MAX_PAYLOAD, "held" },
		{ MSG_BLOB_CLOSED, 0, 0, IPC_MAX_PAYLOAD, "closed" },
	};
	static struct ipc_msg m;

	if (ipc_recv(indexer, any, sizeof any / sizeof any[0], &m) != 1)
		return 0;
	if (id)
		*id = m.hdr.id;
	return m.hdr.type;
}

/* The next MSG_OPEN or MSG_PREFETCH sent (the pin messages between skipped). */
static unsigned next_ask(uint64_t *id)
{
	unsigned t;

	while ((t = next_sent(id)) && t != MSG_OPEN && t != MSG_PREFETCH)
		;
	return t;
}

/* A read-only fd of a file of `size` bytes, as the indexer hands over; rw: one it must not. */
static int blob_file(size_t size, bool rw)
{
	char path[] = "/tmp/test_fuser_blobs.XXXXXX";      /* mkstemp's template */
	int fd = mkstemp(path), ro;

	if (fd < 0 || ftruncate(fd, (off_t)size))
		abort();
	ro = rw ? dup(fd) : open(path, O_RDONLY | O_CLOEXEC);
	unlink(path);
	close(fd);
	return ro;
}

static struct fuser f;

static void ahead(uint64_t ino)
{
	uint8_t buf[12];
	struct ipc_wr w;

	ipc_wr_init(&w, buf, sizeof buf);
	ipc_wr_u32(&w, 1);
	ipc_wr_u64(&w, ino);
	blobs_ahead(&f, buf, w.len);
}

int main(void)
{
	struct fuse_file_info fi = { 0 };
	struct img im;
	const struct ix_inode *a, *b;
	struct blob *blob;
	uint64_t id;
	int sv[2];

	img_make(&im, "/a" H1 "5\n/b|76f87551c60336da45c379f38625144b|7\n", NULL, 1);
	a = img_at(&im, "/a");
	b = img_at(&im, "/b");
	f.ix = im.ix;
	blobs_init(&f.blobs);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv))
		abort();
	f.idx_fd = sv[0];
	indexer = sv[1];

	/* A blob that only a handle holds (a dead fuser's, adopted) is asked for ahead of a walk,
	 * and the handle goes before the answer: the record waits for the answer, not freed. */
	blob = blob_for(&f, a);
	blob->refs++;
	ahead(a->ino);
	is_int(next_ask(&id), MSG_PREFETCH, "a file named ahead is asked for as a prefetch");
	is_int(blob->state, BLOB_PENDING, "... and its blob is pending");
	blob_put(&f, blob);
	ok(blob_find(&f, blob->hash, blob->hash_len) == blob,
	   "the last handle of a pending blob going leaves it in the table");
	blob_ready(&f, id, blob_file(5, false), "local", 5);
	is_int(blob->state, BLOB_OPEN, "the answer makes it open");
	is_int(f.blobs.nidle, 1, "... an idle fd, kept for the next open");

	/* A blob served once (it keeps its layer) asked ahead again, and the indexer's fd refused:
	 * the next open asks as an open, not as the prefetch that failed. */
	blob_gone(&f, blob->hash, blob->hash_len);      /* evicted: its idle fd is closed */
	is_int(f.blobs.nidle, 0, "an evicted blob's idle fd is closed");
	ahead(a->ino);
	is_int(next_ask(&id), MSG_PREFETCH, "asked ahead again");
	blob_ready(&f, id, blob_file(5, true), "local", 5);
	is_int(blob->state, BLOB_IDLE, "an fd open for writing is refused");
	blob_open(&f, (fuse_req_t)&fi, a->ino, a, &fi);
	is_int(next_ask(&id), MSG_OPEN, "the next open of it asks as an open");
	blob_ready(&f, id, blob_file(5, false), "local", 5);
	is_int(replies_open, 1, "... and is answered");

	/* Every open that waited was given up by the kernel: the blob goes idle once. */
	open_rc = -ENOENT;
	blob_open(&f, (fuse_req_t)&fi, b->ino, b, &fi);
	blob_open(&f, (fuse_req_t)&fi, b->ino, b, &fi);
	is_int(next_ask(&id), MSG_OPEN, "two opens of another file: one ask");
	is_int(next_ask(NULL), 0, "... only one");
	blob_ready(&f, id, blob_file(7, false), "local", 5);
	is_int(replies_open, 3, "both are answered");
	is_int(f.blobs.nidle, 1, "their blob is idle once, though neither open was taken");
	ok(f.blobs.idle_newest && f.blobs.idle_newest->older != f.blobs.idle_newest,
	   "... and the idle list is a list");
	return done_testing();
}
