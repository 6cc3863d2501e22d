/* ahead.h — read-ahead (ahead.c): which files come after an open, and what became of each guess.
 * The decisions only; main.c runs the guesses on its read-ahead threads. Thread-safe. */
#ifndef AYSFS_INDEXER_AHEAD_H
#define AYSFS_INDEXER_AHEAD_H

#include "ipc/index.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The next files of a depth-first walk from the file opened, AHEAD_START after a miss, twice as
 * many after each right guess up to AHEAD_FILES; at most AHEAD_BYTES together, each at most
 * AHEAD_MAX_SIZE (if that small, latency, not bandwidth, is their cost); the walk visits
 * AHEAD_STEPS slots at most; AHEAD_PENDING guesses queued or being fetched at once. */
#define AHEAD_START 2
#define AHEAD_FILES 64
#define AHEAD_BYTES (32ull << 20)
#define AHEAD_MAX_SIZE (4u << 20)
#define AHEAD_STEPS (4 * AHEAD_FILES)
#define AHEAD_PENDING 48
/* A miss starts read-ahead only when its file is one of the AHEAD_NEAR files that come after
 * the file opened before it: a walk through the tree, not a program picking files of its own. */
#define AHEAD_NEAR 4

/* The slot after `slot` in a depth-first walk of the tree in name order (a directory's children
 * right after it, then its next sibling), which is readdir order (the image's layout, ipc/index.h); UINT32_MAX after the last. */
uint32_t ix_walk_next(const struct ix *ix, uint32_t slot);

/* What an open says to read-ahead (ahead_opened). */
enum ahead_verdict {
	AHEAD_NONE,     /* away from the walk and not guessed: guess nothing */
	AHEAD_MISS,     /* not guessed, in the walk: read ahead of it once its blob is here */
	AHEAD_RIGHT,    /* read-ahead had guessed it: read ahead of it now, with a larger window */
};

/* A new tree: its slots mean nothing in the old one, so the walk starts again from the root. */
void ahead_new_tree(void);

/* What ahead_opened says of an open. */
struct ahead_open {
	enum ahead_verdict verdict;
	/* Its guess was still queued: forgotten (the caller takes its job off the queue, and serves
	 * the open as any other). */
	bool dropped;
	/* A read-ahead thread is fetching it: the open finds it in the cache once it is done, and
	 * then asks ahead_took() where it came from. */
	bool in_flight;
	/* Read ahead into the cache from that layer (NULL: not read ahead, or from the cache
	 * itself): what the open says it came from (user.aysfs.layer), as when the fuser asked. */
	const char *came_from;
};

/* An application opened the file at `slot` of ix (a file with content) and the fuser asked for
 * its blob `hash`. */
void ahead_opened(const struct ix *ix, uint32_t slot, const uint8_t *hash, size_t hash_len,
		  struct ahead_open *out);

/* An open whose guess was in flight waits until that guess is over. */
void ahead_wait(const uint8_t *hash, size_t hash_len);

/* An open whose guess was in flight found its blob in the cache: the layer that guess fetched it
 * from (NULL: it did not, or failed). The guess is forgotten. */
const char *ahead_took(const uint8_t *hash, size_t hash_len);

/* The files to fetch ahead of `slot` (verdict: ahead_opened's, not AHEAD_NONE): the slots of
 * those not guessed yet whose blob `present` says the local cache lacks, each counted queued from
 * now, at most max, in out. Those the cache has are noted as guessed, not fetched, and their
 * slots put in have when it is not NULL (*nhave of them, at most max: the fuser may ask for their
 * fds ahead, MSG_AHEAD). Returns how many. */
size_t ahead_plan(const struct ix *ix, uint32_t slot, enum ahead_verdict verdict,
		  bool (*present)(const uint8_t *hash, size_t hash_len), uint32_t *out, size_t max,
		  uint32_t *have, size_t *nhave);

/* A read-ahead thread is about to fetch a guess: false when it is no longer wanted (an open took
 * it over: the job is dropped). */
bool ahead_start(const uint8_t *hash, size_t hash_len);

/* A guess that ahead_start let go on is over: rc 0, its blob is in the local cache, from `layer`
 * (an open of it will be a right guess); otherwise it failed, and is forgotten. Called before the
 * cache's books say the blob is there, so that an open waiting for it finds this too. */
void ahead_done(const uint8_t *hash, size_t hash_len, int rc, const char *layer);
/* A queued guess will not be run after all (the open it was to follow failed): forgotten. */
void ahead_cancel(const uint8_t *hash, size_t hash_len);

/* Guesses queued or being fetched, and the window in files (for the unit tests). */
void ahead_counts(unsigned *queued, unsigned *files);

#endif
