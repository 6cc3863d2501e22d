/* ahead.c — read-ahead: the blobs of the files a program is about to open, fetched into the local
 * cache before it opens them.
 *
 * Programs that go through a tree (tar, cp -r, rsync, an installer, an interpreter loading a
 * package) open its files in readdir order, depth first. Here readdir is name order and each
 * folder's children are one sorted run of slots of the index, so "the files that come next" are
 * the next files of a depth-first walk of the index from the one being opened, across folder
 * boundaries. The indexer sees every open the fuser cannot answer from the fds it holds, which is
 * every first open of a content: the guesses go into the local cache, not to the fuser, so an open
 * of a guessed file comes here too. When an open misses a file that is one of the AHEAD_NEAR files
 * of that walk after the file opened before it (a program going through the tree), and when a
 * program opens a file that read-ahead brought into the cache or has queued (the guess was right),
 * the next files, at most AHEAD_BYTES in all, that were not guessed yet are fetched. The window
 * opens as the kernel's page read-ahead does: AHEAD_START files after a miss, twice as many after
 * each right guess, up to AHEAD_FILES; so one that goes through the tree soon has AHEAD_FILES
 * fetched ahead of it, one more with each open. A miss away from the walk guesses nothing: a
 * program picking files of its own, as an interpreter importing modules does, would make only
 * wrong guesses, and they take the disk, the server and both cores from the opens it waits on.
 *
 * The guesses are remembered by content in a table of their own: queued (a job on the read-ahead
 * threads, main.c), being fetched, or in the cache and not opened since. A guess that fails is
 * forgotten; at most AHEAD_PENDING are queued or fetched at once, so a program that jumps around
 * the tree does not flood the fetcher. Those in the cache and never opened (the fuser already held
 * their content, or the program went elsewhere) are let go of, oldest first, once the table fills.
 */
#include "indexer/ahead.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Each folder's children are one sorted run of slots: the next slot is the first child, else the
 * next sibling of the nearest folder on the way up that has one. */
uint32_t ix_walk_next(const struct ix *ix, uint32_t slot)
{
	const struct ix_inode *in = &ix->inodes[slot];

	if (S_ISDIR(in->mode) && in->b > 0)
		return in->a;
	while (slot != IX_ROOT) {
		const struct ix_inode *dir = &ix->inodes[in->parent];

		if (slot + 1 < dir->a + dir->b)
			return slot + 1;
		slot = in->parent;
		in = dir;
	}
	return UINT32_MAX;
}

#define GUESS_SLOTS 4096                /* open addressing; a power of two */
#define GUESS_MAX (GUESS_SLOTS / 4)     /* past this many, the oldest guesses in the cache go */
#define GUESS_KEEP (4 * AHEAD_FILES)    /* of those, the most recent stay */
#define LAYERS_MAX 64                   /* layer URLs remembered (discovery may find new ones) */

enum { G_EMPTY, G_QUEUED, G_FETCHING, G_DONE };

struct guess {
	uint8_t hash[32];
	uint8_t hash_len;
	uint8_t state;          /* G_* */
	bool opened;            /* an open came while it was being fetched: no right guess twice */
	uint8_t layer;          /* in the cache: where it came from, layers[layer - 1] (0: unknown) */
	uint64_t seq;           /* when it was made */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t settled = PTHREAD_COND_INITIALIZER;      /* a guess in flight is over */
static struct guess tab[GUESS_SLOTS], keep[GUESS_MAX];
static unsigned used, pending, window;
static uint64_t seq;
static uint32_t last;   /* slot of the file opened last (the root at first and after a reload) */
static char *layers[LAYERS_MAX];        /* kept for the process's life: answers point into them */
static unsigned nlayers;

/* Blob hashes are uniform: their first bytes are the slot. */
static size_t home(const uint8_t *hash)
{
	uint64_t v;

	memcpy(&v, hash, sizeof v);
	return (size_t)(v ^ v >> 32) & (GUESS_SLOTS - 1);
}

static struct guess *find(const uint8_t *hash, size_t len)
{
	for (size_t i = home(hash);; i = (i + 1) & (GUESS_SLOTS - 1)) {
		struct guess *g = &tab[i];

		if (g->state == G_EMPTY)
			return NULL;
		if (g->hash_len == len && memcmp(g->hash, hash, len) == 0)
			return g;
	}
}

static struct guess *put(const uint8_t *hash, size_t len, uint8_t state, uint64_t made)
{
	size_t i = home(hash);

	while (tab[i].state != G_EMPTY)
		i = (i + 1) & (GUESS_SLOTS - 1);
	memcpy(tab[i].hash, hash, len);
	tab[i].hash_len = (uint8_t)len;
	tab[i].state = state;
	tab[i].opened = false;
	tab[i].layer = 0;
	tab[i].seq = made;
	used++;
	return &tab[i];
}

/* Linear probing without tombstones: the entries after g that could sit in its slot move back. */
static void del(struct guess *g)
{
	size_t i = (size_t)(g - tab), j = i;

	for (;;) {
		size_t k;

		j = (j + 1) & (GUESS_SLOTS - 1);
		if (tab[j].state == G_EMPTY)
			break;
		k = home(tab[j].hash);
		/* tab[j] stays when its home is cyclically in (i, j]. */
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		tab[i] = tab[j];
		i = j;
	}
	tab[i].state = G_EMPTY;
	used--;
}

/* The table is full of guesses in the cache that no open took: keep the pending ones and the
 * GUESS_KEEP most recent, the window a walk may still reach. */
static void sweep(void)
{
	size_t n = 0;

	for (size_t i = 0; i < GUESS_SLOTS; i++)
		if (tab[i].state != G_EMPTY && n < GUESS_MAX &&
		    (tab[i].state != G_DONE || tab[i].seq + GUESS_KEEP > seq))
			keep[n++] = tab[i];
	memset(tab, 0, sizeof tab);
	used = 0;
	for (size_t i = 0; i < n; i++) {
		struct guess *g = put(keep[i].hash, keep[i].hash_len, keep[i].state, keep[i].seq);

		g->opened = keep[i].opened;
		g->layer = keep[i].layer;
	}
}

void ahead_new_tree(void)
{
	pthread_mutex_lock(&lock);
	last = IX_ROOT;
	pthread_mutex_unlock(&lock);
}

/* Is slot one of the AHEAD_NEAR files of the walk after the file opened last, which it now is? */
static bool in_walk(const struct ix *ix, uint32_t slot)
{
	uint32_t s = last;
	unsigned files = 0, steps = 0;

	last = slot;
	if (s >= ix->ninodes)
		return false;
	while (files < AHEAD_NEAR && steps++ < AHEAD_STEPS && (s = ix_walk_next(ix, s)) != UINT32_MAX) {
		const struct ix_inode *n = &ix->inodes[s];

		if (s == slot)
			return true;
		if (S_ISREG(n->mode) && n->size > 0)
			files++;
	}
	return false;
}

/* The layer URL's place + 1 in layers, where it stays for the process's life (0: none, or too
 * many URLs). */
static uint8_t intern(const char *layer)
{
	unsigned i;

	if (!layer)
		return 0;
	for (i = 0; i < nlayers; i++)
		if (strcmp(layers[i], layer) == 0)
			return (uint8_t)(i + 1);
	if (nlayers == LAYERS_MAX || !(layers[nlayers] = strdup(layer)))
		return 0;
	return (uint8_t)++nlayers;
}

void ahead_opened(const struct ix *ix, uint32_t slot, const uint8_t *hash, size_t hash_len,
		  struct ahead_open *out)
{
	struct guess *g;

	memset(out, 0, sizeof *out);
	pthread_mutex_lock(&lock);
	out->verdict = in_walk(ix, slot) ? AHEAD_MISS : AHEAD_NONE;
	if ((g = find(hash, hash_len))) {
		if (g->state == G_FETCHING) {
			/* The open waits for it in the cache (cache_acquire), then ahead_took(). */
			g->opened = out->in_flight = true;
			out->verdict = AHEAD_RIGHT;
		} else if (g->state == G_QUEUED) {
			out->dropped = true;
			pending--;
			out->verdict = AHEAD_RIGHT;
			del(g);
		} else {
			/* Done: unless an open took it while it was in flight (and was answered
			 * another way: it did not wait for it). */
			if (!g->opened) {
				out->verdict = AHEAD_RIGHT;
				out->came_from = g->layer ? layers[g->layer - 1] : NULL;
			}
			del(g);
		}
	}
	pthread_mutex_unlock(&lock);
}

void ahead_wait(const uint8_t *hash, size_t hash_len)
{
	struct guess *g;

	pthread_mutex_lock(&lock);
	while ((g = find(hash, hash_len)) && g->state == G_FETCHING)
		pthread_cond_wait(&settled, &lock);
	pthread_mutex_unlock(&lock);
}

const char *ahead_took(const uint8_t *hash, size_t hash_len)
{
	const char *from = NULL;
	struct guess *g;

	pthread_mutex_lock(&lock);
	if ((g = find(hash, hash_len)) && g->state == G_DONE && g->opened) {
		from = g->layer ? layers[g->layer - 1] : NULL;
		del(g);
	}
	pthread_mutex_unlock(&lock);
	return from;
}

size_t ahead_plan(const struct ix *ix, uint32_t slot, enum ahead_verdict verdict,
		  bool (*present)(const uint8_t *hash, size_t hash_len), uint32_t *out, size_t max,
		  uint32_t *have, size_t *nhave)
{
	const struct ix_inode *in = &ix->inodes[slot];
	unsigned files = 0, steps = 0;
	uint64_t bytes = 0;
	size_t n = 0;

	pthread_mutex_lock(&lock);
	/* A miss says the walk went wrong, unless read-ahead could not have guessed that file. */
	if (verdict != AHEAD_RIGHT && in->size <= AHEAD_MAX_SIZE)
		window = AHEAD_START;
	else if (window < AHEAD_FILES)
		window = window < AHEAD_START ? AHEAD_START : 2 * window;
	if (window > AHEAD_FILES)
		window = AHEAD_FILES;
	while (files < window && bytes < AHEAD_BYTES && steps++ < AHEAD_STEPS && n < max &&
	       pending < AHEAD_PENDING && (slot = ix_walk_next(ix, slot)) != UINT32_MAX) {
		const struct ix_inode *s = &ix->inodes[slot];
		const uint8_t *hash = ix_bytes(ix, s->a);
		size_t len = s->b;

		if (!S_ISREG(s->mode) || s->size == 0 || s->size > AHEAD_MAX_SIZE)
			continue;
		files++;
		bytes += s->size;
		if (find(hash, len))
			continue;       /* guessed already (a content met twice, or on its way) */
		if (used >= GUESS_MAX)
			sweep();
		if (present(hash, len)) {
			put(hash, len, G_DONE, ++seq);
			if (have && *nhave < max)
				have[(*nhave)++] = slot;
			continue;
		}
		put(hash, len, G_QUEUED, ++seq);
		pending++;
		out[n++] = slot;
	}
	pthread_mutex_unlock(&lock);
	return n;
}

bool ahead_start(const uint8_t *hash, size_t hash_len)
{
	struct guess *g;
	bool go;

	pthread_mutex_lock(&lock);
	g = find(hash, hash_len);
	if ((go = g && g->state == G_QUEUED))
		g->state = G_FETCHING;
	pthread_mutex_unlock(&lock);
	return go;
}

void ahead_done(const uint8_t *hash, size_t hash_len, int rc, const char *layer)
{
	struct guess *g;

	pthread_mutex_lock(&lock);
	g = find(hash, hash_len);
	if (g && g->state == G_FETCHING) {
		if (g->opened)
			pthread_cond_broadcast(&settled);       /* its open waits (ahead_wait) */
		pending--;
		if (rc) {
			del(g);
		} else {
			g->state = G_DONE;
			g->layer = intern(layer);
		}
	}
	pthread_mutex_unlock(&lock);
}

void ahead_cancel(const uint8_t *hash, size_t hash_len)
{
	struct guess *g;

	pthread_mutex_lock(&lock);
	if ((g = find(hash, hash_len)) && g->state == G_QUEUED) {
		pending--;
		del(g);
	}
	pthread_mutex_unlock(&lock);
}

void ahead_counts(unsigned *queued, unsigned *files)
{
	pthread_mutex_lock(&lock);
	*queued = pending;
	*files = window;
	pthread_mutex_unlock(&lock);
}
