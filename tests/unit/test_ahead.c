/* test_ahead.c — the walk of the tree that read-ahead follows (ix_walk_next in indexer/ahead.c) and
 * what read-ahead decides after an open (indexer/ahead.c): which files it guesses, how its window
 * moves, and what becomes of a guess. */
#include "indexer/ahead.h"
#include "tests/tap.h"
#include "tests/unit/fuser_tree.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

/* Every file its own content but /c/dup, which has /d's: read-ahead guesses a content once. */
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

static unsigned pending(void)
{
	unsigned queued, files;

	ahead_counts(&queued, &files);
	return queued;
}

static unsigned window(void)
{
	unsigned queued, files;

	ahead_counts(&queued, &files);
	return files;
}

static const struct ix_inode *at(const char *path)
{
	return img_at(&im, path);
}

static uint32_t slot_of(const char *path)
{
	return (uint32_t)(at(path) - im.ix.inodes);
}

static const uint8_t *hash_of(const char *path)
{
	return ix_bytes(&im.ix, at(path)->a);
}

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

static bool none(const uint8_t *hash, size_t len)
{
	(void)hash;
	(void)len;
	return false;
}

static bool all(const uint8_t *hash, size_t len)
{
	(void)hash;
	(void)len;
	return true;
}

static struct ahead_open said;  /* of the last open */

static const char *verdict(const char *path)
{
	static const char *names[] = { "none", "miss", "right" };

	ahead_opened(&im.ix, slot_of(path), hash_of(path), 16, &said);
	return names[said.verdict];
}

/* The guesses after an open of path, as paths joined by spaces. */
static const char *plan(const char *path, const char *v, bool (*present)(const uint8_t *, size_t))
{
	static char out[1024];
	uint32_t next[AHEAD_FILES];
	size_t n = ahead_plan(&im.ix, slot_of(path), strcmp(v, "right") == 0 ? AHEAD_RIGHT : AHEAD_MISS,
			      present, next, AHEAD_FILES, NULL, NULL), len = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		char p[256];

		ix_path(&im.ix, &im.ix.inodes[next[i]], p, sizeof p);
		len += (size_t)snprintf(out + len, sizeof out - len, "%s%s", i ? " " : "", p);
	}
	return out;
}

/* A guess runs on a read-ahead thread: rc its result. */
static bool run(const char *path, int rc)
{
	if (!ahead_start(hash_of(path), 16))
		return false;
	ahead_done(hash_of(path), 16, rc, rc ? NULL : "http://store");
	return true;
}

/* An open that waits for its guess in flight (ahead_wait), on a thread of its own. */
static atomic_bool waited;

static void *open_waits(void *arg)
{
	ahead_wait(hash_of(arg), 16);
	atomic_store(&waited, true);
	return NULL;
}

/* 2,000 files in 20 folders, each its own content: the table of guesses fills up. */
static void big_tree(void)
{
	size_t cap = 2000 * 64, n = 0;
	char *text = malloc(cap);

	if (!text)
		abort();
	for (unsigned i = 0; i < 2000; i++)
		n += (size_t)snprintf(text + n, cap - n, "/f%02u/g%04u|%08x%024x|10\n", i / 100, i,
				      (i * 2654435761u) ^ 0x5bd1e995u, i);
	free(im.base);
	img_make(&im, text, NULL, 2);
	free(text);
	ahead_new_tree();
}

int main(void)
{
	img_make(&im, flist, NULL, 1);
	is_str(walk_all(), "/ /a /a/sub /a/sub/z /a/x /a/y /b /c /c/big /c/dup /c/e /c/empty /d",
	       "the walk is depth first, each folder's entries in name order (readdir's)");
	is_int(ix_walk_next(&im.ix, slot_of("/c/e")), slot_of("/c/empty"),
	       "an empty folder is followed by its next sibling");
	is_int(ix_walk_next(&im.ix, slot_of("/a/y")), slot_of("/b"),
	       "the last entry of a folder is followed by the folder's next sibling");
	is_int(ix_walk_next(&im.ix, slot_of("/d")), UINT32_MAX,
	       "the walk ends after the last entry of the root");

	ahead_new_tree();
	is_str(verdict("/a/x"), "miss", "/a/x is among the files that come after the root: a miss in the walk");
	is_str(plan("/a/x", "miss", none), "/a/y /b", "a miss guesses the next AHEAD_START files of the walk");
	is_int(pending(), 2, "both are pending");
	ok(run("/a/y", 0) && run("/b", -EIO), "a read-ahead thread takes each");
	is_int(pending(), 0, "done or failed, they are no longer pending");

	is_str(verdict("/a/y"), "right", "an open of a file read-ahead brought in is a right guess");
	is_str(said.came_from, "http://store", "... which says it came from the layer the guess fetched it from");
	is_str(plan("/a/y", "right", none), "/b /c/dup",
	       "a right guess doubles the window; a guess that failed is made again; files too large or "
	       "empty are passed over; a content already guessed (/d's) is not guessed again");
	is_int(window(), 2 * AHEAD_START, "the window doubled");

	is_str(verdict("/c/dup"), "right", "an open of a file whose guess is still queued is a right guess");
	ok(said.dropped && !said.came_from, "... and its guess is dropped: the open takes it over");
	ok(!run("/c/dup", 0), "... so no read-ahead thread fetches it");
	is_int(pending(), 1, "only /b's guess is pending");
	ok(ahead_start(hash_of("/b"), 16), "a thread takes /b's guess");
	is_str(verdict("/b"), "right", "an open of a file being fetched by read-ahead is a right guess");
	ok(!said.dropped && said.in_flight, "... which it leaves to the thread (the open waits for it in the cache)");
	ok(!ahead_took(hash_of("/b"), 16), "... which has not said where it came from yet");
	pthread_t t;

	if (pthread_create(&t, NULL, open_waits, "/b"))
		abort();
	usleep(100000);
	ok(!atomic_load(&waited), "an open of it waits while the guess is in flight");
	ahead_done(hash_of("/b"), 16, 0, "http://other");
	pthread_join(t, NULL);
	ok(atomic_load(&waited), "... and goes on once it is over");
	is_int(pending(), 0, "once fetched, it is no longer pending");
	is_str(ahead_took(hash_of("/b"), 16), "http://other", "the open that waited for it learns where it came from");
	is_str(verdict("/b"), "none", "... nor a right guess a second time (and /b, opened last, is not in the walk)");

	ahead_new_tree();
	is_str(verdict("/a/sub/z"), "miss", "after a new tree the walk starts again from the root");
	is_str(verdict("/a/sub/z"), "none", "the file opened last is not in the walk after itself");
	is_str(verdict("/c/dup"), "none", "nor is a file more than AHEAD_NEAR files further (/c/dup: 5th)");
	is_str(verdict("/a/x"), "none", "nor a file before the one opened last");
	is_str(verdict("/c/dup"), "miss", "one of the next AHEAD_NEAR files is (/c/dup: the 4th after /a/x)");
	is_str(verdict("/d"), "miss", "folders and empty files are not counted (/d: the 1st after /c/dup)");
	is_str(plan("/d", "miss", none), "", "nothing comes after the last file");
	is_int(window(), AHEAD_START, "a miss closes the window again");

	ahead_new_tree();
	verdict("/a/sub/z");
	is_str(plan("/a/sub/z", "miss", all), "", "blobs the local cache holds are not fetched");
	is_str(verdict("/a/x"), "right", "... but an open of one is a right guess");
	ok(!said.came_from, "... from the cache itself");
	is_int(pending(), 0, "nothing is pending");

	/* Guesses no open takes pile up: the oldest go, the latest stay. */
	big_tree();
	for (unsigned i = 0; i + 64 < 2000; i += 64) {
		char p[32];

		snprintf(p, sizeof p, "/f%02u/g%04u", i / 100, i);
		ahead_opened(&im.ix, slot_of(p), hash_of(p), 16, &said);
		plan(p, "right", all);
	}
	is_str(verdict("/f00/g0001"), "none", "a guess no open took is let go of once many more were made");
	is_str(verdict("/f19/g1930"), "right", "... and the latest are kept");
	is_str(verdict("/f19/g1921"), "right", "... all of the last window");
	is_int(pending(), 0, "nothing is pending");

	free(im.base);
	return done_testing();
}
