/* test_fuser_walk.c — the walk of the tree that read-ahead follows (ix_walk_next in ipc/index.c) and
 * the blobs read-ahead asks for after an open (fuser/ahead.c). */
#include "fuser/fuser.h"
#include "ipc/proto_workers.h"
#include "tests/tap.h"
#include "tests/unit/fuser_tree.h"

#include <errno.h>
#include <sys/socket.h>

/* Every file its own content: read-ahead asks once per blob, not per path. */
#define H(n) "|8a3e5e03a10ecc3601a1f14fbc37101" #n "|"

static const char flist[] =
	"/d" H(1) "10\n"
	"/a/y" H(2) "10\n"
	"/a/x" H(3) "10\n"
	"/a/sub/z" H(4) "10\n"
	"/b" H(5) "10\n"
	"/c/e||0|type=d\n"
	"/c/big" H(6) "5000000\n"
	"/c/dup" H(1) "10\n"
	"/c/empty||0\n";

static struct img im;
static int indexer;

/* Every slot from the root on, as paths joined by spaces. */
static const char *walk_all(void)
{
	static char out[1024];
	size_t n = 0;

	for (uint32_t s = IX_ROOT; s != UINT32_MAX; s = ix_walk_next(&im.ix, s)) {
		char path[256];

		if (ix_path(&im.ix, &im.ix.inodes[s], path, sizeof path) < 0 || n + strlen(path) + 2 > sizeof out)
			return "(too long)";
		n += (size_t)snprintf(out + n, sizeof out - n, "%s%s", n ? " " : "", path);
	}
	return out;
}

/* The paths of the MSG_PREFETCH the fuser sent, joined by spaces; each answered "not there"
 * (a guess that fails is forgotten: the records go). */
static const char *asked(struct fuser *f)
{
	static struct ipc_msg m;
	static char out[1024];
	size_t n = 0;

	out[0] = '\0';
	while (ipc_recv(indexer, proto_indexer_from_fuser, proto_indexer_from_fuser_n, &m) == 1) {
		struct ipc_rd r;
		size_t len;
		const char *path;

		ipc_rd_init(&r, m.payload, m.hdr.len);
		ipc_rd_bytes(&r, ipc_rd_u8(&r));
		ipc_rd_u64(&r);
		path = ipc_rd_str(&r, 4096, &len);
		if (m.hdr.type != MSG_PREFETCH || !path || !ipc_rd_done(&r))
			return "(not a MSG_PREFETCH)";
		n += (size_t)snprintf(out + n, sizeof out - n, "%s%.*s", n ? " " : "", (int)len, path);
		blob_failed(f, m.hdr.id, ENOENT);
	}
	return out;
}

static const struct ix_inode *at(const char *path)
{
	return img_at(&im, path);
}

int main(void)
{
	struct fuser f = { 0 };
	int sp[2];

	img_make(&im, flist, NULL, 1);
	is_str(walk_all(), "/ /a /a/sub /a/sub/z /a/x /a/y /b /c /c/big /c/dup /c/e /c/empty /d",
	       "the walk is depth first, each folder's entries in name order (readdir's)");
	is_int(ix_walk_next(&im.ix, (uint32_t)(at("/c/e") - im.ix.inodes)),
	       at("/c/empty") - im.ix.inodes, "an empty folder is followed by its next sibling");
	is_int(ix_walk_next(&im.ix, (uint32_t)(at("/a/y") - im.ix.inodes)), at("/b") - im.ix.inodes,
	       "the last entry of a folder is followed by the folder's next sibling");
	is_int(ix_walk_next(&im.ix, (uint32_t)(at("/d") - im.ix.inodes)), UINT32_MAX,
	       "the walk ends after the last entry of the root");

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sp))
		abort();
	f.idx_fd = sp[0];
	indexer = sp[1];
	f.blobs.idle_max = 4 * AHEAD_FILES;
	fuser_set_index(&f, im.base, im.size, &im.ix);

	ok(ahead_in_walk(&f, at("/a/x")), "/a/x is among the files that come after the root");
	ahead_from(&f, at("/a/x"), false);
	is_str(asked(&f), "/a/y /b", "a miss asks for the next AHEAD_START files of the walk");
	is_int(f.ahead_pending, 0, "answered guesses are no longer pending");

	ahead_from(&f, at("/a/y"), true);
	is_str(asked(&f), "/b /c/dup", "a right guess doubles the window; files too large or empty are "
	       "passed over, a content already asked for (/d's) is not asked again");
	is_int(f.ahead_window, 2 * AHEAD_START, "the window doubled");

	ok(!ahead_in_walk(&f, at("/a/sub/z")), "a file before the one opened last is not in the walk");
	ok(ahead_in_walk(&f, at("/a/x")) && ahead_in_walk(&f, at("/c/dup")),
	   "one of the next AHEAD_NEAR files is (/c/dup: the 4th after /a/x)");
	ok(ahead_in_walk(&f, at("/d")), "folders and empty files are not counted (/d: the 1st after /c/dup)");
	ok(!ahead_in_walk(&f, at("/d")), "nor is the file opened last itself");

	f.idx_fd = -1;
	ahead_from(&f, at("/a/x"), false);
	f.idx_fd = sp[0];
	is_str(asked(&f), "", "nothing is guessed while there is no indexer");
	is_int(f.ahead_window, AHEAD_START, "a miss closes the window again");

	close(sp[0]);
	close(sp[1]);
	free(im.base);
	return done_testing();
}
