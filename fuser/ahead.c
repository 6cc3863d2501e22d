/* ahead.c — read-ahead: the blobs of the files a program is about to open, asked for before it
 * opens them.
 *
 * Programs that go through a tree (tar, cp -r, rsync, an installer, an interpreter loading a
 * package) open its files in readdir order, depth first. Here readdir is name order and each
 * folder's children are one sorted run of slots of the index, so "the files that come next" are
 * the next files of a depth-first walk of the index from the one being opened, across folder
 * boundaries. When an open misses a file that is one of the AHEAD_NEAR files of that walk after the
 * file opened before it (a program going through the tree), and when a program opens a file that
 * read-ahead brought in (the guess was right), the fuser asks the indexer (MSG_PREFETCH) for the
 * blobs of the next files, at most AHEAD_BYTES in all, that it neither holds nor waits for. The
 * window opens as the kernel's page read-ahead does: AHEAD_START files after a miss, twice as many
 * after each right guess, up to AHEAD_FILES; so one that goes through the tree soon has
 * AHEAD_FILES asked for ahead of it, one more with each open. A miss away from the walk guesses
 * nothing: a program picking files of its own, as an interpreter importing modules does, would
 * make only wrong guesses, and they take the disk, the server and both cores from the opens it
 * waits on.
 *
 * A guess costs an open nothing: the indexer serves read-ahead on threads of its own and the
 * fetcher after every other request, only from layers that have answered (ipc/proto.h,
 * FETCH_BLOB_AHEAD). What comes back waits on the idle list (blobs.c) for the open; a guess that
 * fails is forgotten, and the open asks again for real. At most AHEAD_PENDING guesses are asked at
 * once, so a program that jumps around the tree does not flood the indexer.
 */
#include "fuser/fuser.h"

#include "ipc/proto.h"

#include <sys/stat.h>

bool ahead_in_walk(struct fuser *f, const struct ix_inode *in)
{
	uint32_t slot = (uint32_t)(in - f->ix.inodes), s = f->ahead_last;
	unsigned files = 0, steps = 0;

	f->ahead_last = slot;
	if (s >= f->ix.ninodes)
		return false;   /* never: fuser_set_index resets it */
	while (files < AHEAD_NEAR && steps++ < AHEAD_STEPS &&
	       (s = ix_walk_next(&f->ix, s)) != UINT32_MAX) {
		const struct ix_inode *n = &f->ix.inodes[s];

		if (s == slot)
			return true;
		if (S_ISREG(n->mode) && n->size > 0)
			files++;
	}
	return false;
}

void ahead_from(struct fuser *f, const struct ix_inode *in, bool guessed)
{
	uint32_t slot = (uint32_t)(in - f->ix.inodes), files = 0, steps = 0;
	uint64_t bytes = 0;

	/* A miss says the walk went wrong, unless read-ahead could not have guessed that file. */
	if (!guessed && in->size <= AHEAD_MAX_SIZE)
		f->ahead_window = AHEAD_START;
	else if (f->ahead_window < AHEAD_FILES)
		f->ahead_window = f->ahead_window < AHEAD_START ? AHEAD_START : 2 * f->ahead_window;
	if (f->ahead_window > AHEAD_FILES)
		f->ahead_window = AHEAD_FILES;
	/* The idle list makes room by closing its oldest fds; a tiny one has none to give. */
	if (f->blobs.idle_max < 4 * AHEAD_FILES || f->idx_fd < 0)
		return;
	while (files < f->ahead_window && bytes < AHEAD_BYTES && steps++ < AHEAD_STEPS &&
	       f->ahead_pending < AHEAD_PENDING && (slot = ix_walk_next(&f->ix, slot)) != UINT32_MAX) {
		const struct ix_inode *s = &f->ix.inodes[slot];
		struct blob *b;

		if (!S_ISREG(s->mode) || s->size == 0 || s->size > AHEAD_MAX_SIZE)
			continue;
		files++;
		bytes += s->size;
		if (!(b = blob_for(f, s)))
			return;
		if (b->state != BLOB_IDLE)
			continue;
		b->state = BLOB_PENDING;
		b->speculative = true;
		b->ahead = true;
		if (blob_ask(f, b, ix_ino(&f->ix, s), MSG_PREFETCH)) {
			blob_unask(f, b);
			b->state = BLOB_IDLE;
			b->refs++;
			blob_put(f, b);
			return;
		}
		b->ahead_counted = true;
		f->ahead_pending++;
	}
}
