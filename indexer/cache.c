/* cache.c — the local cache's bookkeeping.
 *
 * What is on disk is the truth: at start-up every blob under CACHE/NAMESPACE/H0/H1/ is counted
 * (apparent size), temporary files of a crash are removed, and from then on every change the
 * indexer makes goes through here, so the table matches the folder; so a blob it lacks is fetched
 * without a look in the folder first (CACHE_ABSENT), a directory read on a cold disk. Blobs that
 * appear or vanish behind aysfs' back are noticed when an open finds them different: one that
 * appeared is fetched once more, and its name, already taken, is kept.
 *
 * Recency: the table keeps the blobs in least-recently-used order. Each use (an open served, a
 * blob stored, the fuser's last close) is appended to a journal, CACHE/NAMESPACE/.recency, as a
 * 16-byte record (first 8 bytes of the hash, Unix time, check word); at most one record per blob
 * per second. At start-up the journal is read (the last record of a blob wins, a torn or foreign
 * record is skipped), blobs it does not know count as used at that moment, and it is rewritten
 * compacted (a temporary file, fsync, rename), as it is when it grows past twice the blobs. A
 * crash loses nothing but records not yet written; the journal never decides what exists.
 *
 * Trust: a blob is served as it is only when this node verified that very file and it has not
 * changed since (SPEC §6). Whoever verifies a blob (blob.c's admission, a verify) records its file's
 * identity (device, inode, size, change time in ns) here, in memory and as an 80-byte record
 * (the full hash, the identity, a check word) appended to a file of the node's state folder,
 * STATE/verified-KEY (KEY from the cache's path), which only the workers' account can write: never
 * in the cache's folder, which other nodes or accounts may share. At start-up a blob found on disk
 * is trusted only when its record names the file found (a copy put there by hand, by another node,
 * restored or changed in place is not, and is hashed at its first open); the file is rewritten
 * compacted then, and when it grows past twice the blobs. Each open compares fstat of its fd.
 *
 * Pins: a blob being fetched or looked up, and a blob whose fd the fuser holds (from MSG_BLOB
 * until MSG_BLOB_CLOSED), is pinned and never evicted. An open fd stays valid after an unlink
 * anyway; the pin keeps the space accounting honest and the blob cached for the next open.
 *
 * Eviction: when a blob to be stored would take the cache past its limit, the thread storing it
 * evicts what it needs at once (least recently used first), and the background thread takes the
 * cache down to CACHE_LOW_WATER percent, so that later misses seldom wait for an unlink. Victims
 * are chosen under the lock, marked, and unlinked outside it.
 *
 * Prefetch: PREFETCH_THREADS threads walk the served tree's files of services with prefetch and
 * fetch what the cache lacks. They start a blob only while no application open is being
 * served, run at a lower CPU and I/O priority, never evict (a blob that would not fit under the
 * limit stops the prefetch), and never use the pool that serves opens.
 *
 * Longer than our usual files: the table, the journal, eviction, prefetch and the control commands
 * share one state under one lock, which a split would have to expose in a header.
 */
#include "indexer/cache.h"

#include "indexer/hash.h"
#include "indexer/tree.h"
#include "ipc/index.h"
#include "ipc/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define JOURNAL         ".recency"
#define JOURNAL_TMP     ".recency.tmp"
#define JOURNAL_MAGIC   "aysfsLRU"
#define JOURNAL_VERSION 1u
#define REC_SIZE        16
#define TICK_SECONDS    60      /* expiry is checked this often */
#define BATCH           256     /* victims unlinked per round, outside the lock */
#define PREFETCH_THREADS 2
#define VERIFY_LOG_SECONDS 5
#define TRUST_MAGIC     "aysfsVFY"
#define TRUST_VERSION   1u
#define TREC_SIZE       80

struct centry {
	struct centry *prev, *next;     /* LRU list, least recent first: present blobs only */
	uint64_t size;                  /* bytes on disk, when present */
	uint64_t reserved;              /* room held for it while it is fetched */
	uint32_t time;                  /* last use, Unix seconds */
	uint32_t pins;                  /* lookups in progress + fds the fuser holds */
	bool present;                   /* on disk under its name */
	bool fetching;                  /* a thread is looking it up or fetching it */
	bool evicting;                  /* chosen as a victim; being unlinked */
	bool trusted;                   /* this node verified the file of identity t_* */
	uint8_t hash_len;
	uint64_t t_dev, t_ino, t_size, t_ctime;
	uint8_t hash[32];
};

/* The served tree, for prefetch and evict-by-path: the caller's mapping, shared (so its pages are
 * mapped once in this process) and unmapped when neither the caller nor the cache uses it. */
struct ctree {
	struct ctree *next;             /* every tree still mapped */
	unsigned refs;
	void *map;
	size_t size;
	struct ix ix;
	bool *prefetch;                 /* per service of the image */
	uint64_t *entries;              /* per service of the image: its entries (status, /metrics) */
	uint64_t files;                 /* files with a blob in prefetch services */
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t changed;         /* a fetch or an eviction ended; app opens ended */
	pthread_cond_t work;            /* the background thread has something to do */
	bool opened, stop;

	char root[PATH_MAX];
	int root_fd;
	uint64_t limit;
	uint32_t expiration;            /* seconds; 0 = never */
	char *mountpoint;
	cache_fetch_fn fetch;
	cache_gone_fn gone;             /* a blob left the cache: the fuser lets go of its fd */
	cache_full_fn full;             /* past a limit, all pinned: the fuser unpins its idle fds */

	struct centry **tab;            /* open addressing on the hash's first 8 bytes */
	size_t cap, n;
	struct centry *head, *tail;
	uint64_t bytes, reserved;
	uint64_t nblobs;                /* present */
	uint64_t hits, misses, evictions, expired, wrong_size;
	uint64_t evicted_bytes;         /* by evictions for the limit */
	bool trim;                      /* take the cache down to the low-water mark */
	bool trim_short;                /* the last trim stopped above it: the rest was pinned */
	time_t next_expiry;

	int jfd;
	uint64_t jrecords;
	int state_fd;                   /* the state folder, or -1: trust is kept in memory only */
	char trust_name[32];            /* verified-KEY, in it */
	int tfd;
	uint64_t trecords, ntrusted, rehashed;

	struct ctree *tree, *trees;
	uint64_t tree_gen;
	bool size_check;                /* the new tree's sizes are still to be checked */
	uint32_t pf_next;               /* next inode slot for the prefetchers */
	uint64_t pf_done, pf_failed, pf_total;
	bool pf_full, pf_logged;
	unsigned app_active;            /* application opens being served */
	pthread_cond_t pf_cond;         /* the prefetchers wait on it: a new tree, its sizes
					 * checked, no application open left, or stop */

	pthread_t bg, pf[PREFETCH_THREADS];
	unsigned npf;
	bool bg_running;
} C = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.changed = PTHREAD_COND_INITIALIZER,
	.pf_cond = PTHREAD_COND_INITIALIZER,
	.work = PTHREAD_COND_INITIALIZER,
	.root_fd = -1,
	.jfd = -1,
	.state_fd = -1,
	.tfd = -1,
};

static uint32_t now32(void)
{
	return (uint32_t)time(NULL);
}

static void rel_of(const uint8_t *hash, size_t len, char *out)
{
	static const char hex[] = "0123456789abcdef";
	char *p = out + 4;

	for (size_t i = 0; i < len; i++) {
		*p++ = hex[hash[i] >> 4];
		*p++ = hex[hash[i] & 15];
	}
	*p = '\0';
	out[0] = out[4];
	out[1] = '/';
	out[2] = out[5];
	out[3] = '/';
}

/* ---- the table -------------------------------------------------------------------------------- */

static uint64_t key_of(const uint8_t *hash)
{
	uint64_t k;

	memcpy(&k, hash, sizeof k);
	return k;
}

static size_t slot_of(const uint8_t *hash, size_t len)
{
	size_t i = (size_t)key_of(hash) & (C.cap - 1);

	for (; C.tab[i]; i = (i + 1) & (C.cap - 1))
		if (C.tab[i]->hash_len == len && !memcmp(C.tab[i]->hash, hash, len))
			break;
	return i;
}

static struct centry *tab_find(const uint8_t *hash, size_t len)
{
	return C.cap ? C.tab[slot_of(hash, len)] : NULL;
}

static int tab_grow(void)
{
	size_t cap = C.cap ? C.cap * 2 : 1024;
	struct centry **t = calloc(cap, sizeof *t), **old = C.tab;
	size_t oldcap = C.cap;

	if (!t)
		return -ENOMEM;
	C.tab = t;
	C.cap = cap;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i])
			C.tab[slot_of(old[i]->hash, old[i]->hash_len)] = old[i];
	free(old);
	return 0;
}

/* The entry of a blob, created (not present, not pinned) when there is none. */
static struct centry *tab_get(const uint8_t *hash, size_t len)
{
	struct centry *e = tab_find(hash, len);

	if (e)
		return e;
	if ((C.n + 1) * 2 > C.cap && tab_grow())
		return NULL;
	if (!(e = calloc(1, sizeof *e)))
		return NULL;
	memcpy(e->hash, hash, len);
	e->hash_len = (uint8_t)len;
	C.tab[slot_of(hash, len)] = e;
	C.n++;
	return e;
}

/* Linear probing: removal shifts the rest of the cluster back, so no tombstones. */
static void tab_remove(struct centry *e)
{
	size_t i = slot_of(e->hash, e->hash_len), j = i;

	C.tab[i] = NULL;
	for (;;) {
		size_t home;

		j = (j + 1) & (C.cap - 1);
		if (!C.tab[j])
			break;
		home = (size_t)key_of(C.tab[j]->hash) & (C.cap - 1);
		/* Move it to the hole when the hole lies between its home and where it is. */
		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			C.tab[i] = C.tab[j];
			C.tab[j] = NULL;
			i = j;
		}
	}
	C.n--;
}

static void lru_unlink(struct centry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		C.head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		C.tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_append(struct centry *e)
{
	e->prev = C.tail;
	e->next = NULL;
	if (C.tail)
		C.tail->next = e;
	else
		C.head = e;
	C.tail = e;
}

static void trust_clear(struct centry *e);

/* Forget an entry that is neither on disk nor in use. */
static void maybe_free(struct centry *e)
{
	if (e->present || e->pins || e->fetching || e->evicting)
		return;
	trust_clear(e);
	tab_remove(e);
	free(e);
}

static void set_present(struct centry *e, uint64_t size)
{
	if (e->present) {
		C.bytes = C.bytes - e->size + size;
	} else {
		C.bytes += size;
		C.nblobs++;
		e->present = true;
		lru_append(e);
	}
	e->size = size;
}

static void set_absent(struct centry *e)
{
	if (!e->present)
		return;
	C.bytes -= e->size;
	C.nblobs--;
	e->present = false;
	trust_clear(e);
	lru_unlink(e);
}

/* ---- record files: the recency journal and the trust records ---------------------------------- */

/* Both are a header record (magic, version) and fixed-size records whose last 4 bytes check the
 * rest, so that a torn or foreign record is skipped. */
static uint32_t rec_check(const uint8_t *rec, size_t size)
{
	uint32_t h = 2166136261u;       /* FNV-1a over all but the check word */

	for (size_t i = 0; i + 4 < size; i++)
		h = (h ^ rec[i]) * 16777619u;
	return h ^ 0x5a5a5a5au;         /* so a record of zeros never passes */
}

static void rec_seal(uint8_t *rec, size_t size)
{
	uint32_t c = rec_check(rec, size);

	memcpy(rec + size - 4, &c, 4);
}

static void rec_header(uint8_t *rec, size_t size, const char *magic, uint32_t version)
{
	memset(rec, 0, size);
	memcpy(rec, magic, 8);
	memcpy(rec + 8, &version, 4);
}

/* Append one record; *count grows when it was written whole. */
static void rec_append(int fd, const uint8_t *rec, size_t size, uint64_t *count)
{
	if (fd >= 0 && write(fd, rec, size) == (ssize_t)size)
		++*count;
}

/* Replace dirfd/name by buf (len bytes) through name.tmp, fsync, rename; returns the new file
 * opened for appending, or -1 (logged: `what` is kept in memory only). */
static int rec_rewrite(int dirfd, const char *dir, const char *name, const uint8_t *buf,
		       size_t len, const char *what)
{
	char tmp[64];
	int fd;

	snprintf(tmp, sizeof tmp, "%s.tmp", name);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || write(fd, buf, len) != (ssize_t)len || fsync(fd) ||
	    renameat(dirfd, tmp, dirfd, name)) {
		log_warn("cache: cannot write %s/%s: %s; %s is kept in memory only", dir, name,
			 strerror(errno), what);
		if (fd >= 0)
			close(fd);
		unlinkat(dirfd, tmp, 0);
		return -1;
	}
	close(fd);
	return openat(dirfd, name, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
}

/* The valid records of dirfd/name (a malloc'd array of *n records, the header left out), or NULL
 * when there is none or it is not such a file. */
static uint8_t *rec_read(int dirfd, const char *dir, const char *name, const char *magic,
			 uint32_t version, size_t size, size_t *n, const char *what)
{
	uint8_t *buf = NULL;
	struct stat st;
	size_t m = 0;
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);

	*n = 0;
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || (size_t)st.st_size < size ||
	    !(buf = malloc((size_t)st.st_size)) ||
	    pread(fd, buf, (size_t)st.st_size, 0) != st.st_size ||
	    memcmp(buf, magic, 8) || memcmp(buf + 8, &version, 4)) {
		if (buf)
			log_warn("cache: %s/%s is not a %s file; ignored", dir, name, what);
		free(buf);
		close(fd);
		return NULL;
	}
	close(fd);
	for (size_t off = size; off + size <= (size_t)st.st_size; off += size) {
		uint32_t c;

		memcpy(&c, buf + off + size - 4, 4);
		if (c == rec_check(buf + off, size))
			memmove(buf + m++ * size, buf + off, size);
	}
	*n = m;
	return buf;
}

/* The recency journal's record: first 8 bytes of the hash, Unix time, check word. */
static void rec_make(uint8_t *rec, const struct centry *e)
{
	memcpy(rec, e->hash, 8);
	memcpy(rec + 8, &e->time, 4);
	rec_seal(rec, REC_SIZE);
}

static void touch(struct centry *e)
{
	uint32_t t = now32();
	uint8_t rec[REC_SIZE];

	if (e->present && C.tail != e) {
		lru_unlink(e);
		lru_append(e);
	}
	if (e->time == t)
		return;
	e->time = t;
	rec_make(rec, e);
	rec_append(C.jfd, rec, sizeof rec, &C.jrecords);
	if (C.jrecords > 2 * C.nblobs + 4096)
		pthread_cond_signal(&C.work);           /* time to compact */
}

/* Rewrite the journal with one record per blob, in LRU order. Called with the lock held. */
static void journal_compact(void)
{
	size_t len = REC_SIZE;
	uint8_t *buf = malloc(REC_SIZE * (C.nblobs + 1));

	if (!buf)
		return;
	rec_header(buf, REC_SIZE, JOURNAL_MAGIC, JOURNAL_VERSION);
	for (struct centry *e = C.head; e; e = e->next, len += REC_SIZE)
		rec_make(buf + len, e);
	if (C.jfd >= 0)
		close(C.jfd);
	C.jfd = rec_rewrite(C.root_fd, C.root, JOURNAL, buf, len, "recency");
	C.jrecords = C.nblobs;
	free(buf);
}

/* Times from the journal: a sorted array of (key, time), the last record of a key winning. */
struct jtime {
	uint64_t key;
	uint32_t time;
	uint32_t order;
};

static int jtime_cmp(const void *a, const void *b)
{
	const struct jtime *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->order < y->order ? 1 : x->order > y->order ? -1 : 0;     /* latest first */
}

static struct jtime *journal_read(size_t *n)
{
	uint8_t *buf = rec_read(C.root_fd, C.root, JOURNAL, JOURNAL_MAGIC, JOURNAL_VERSION,
				REC_SIZE, n, "recency journal");
	struct jtime *t = buf ? calloc(*n + 1, sizeof *t) : NULL;

	for (size_t i = 0; t && i < *n; i++) {
		memcpy(&t[i].key, buf + i * REC_SIZE, 8);
		memcpy(&t[i].time, buf + i * REC_SIZE + 8, 4);
		t[i].order = (uint32_t)i;
	}
	free(buf);
	if (!t) {
		*n = 0;
		return NULL;
	}
	qsort(t, *n, sizeof *t, jtime_cmp);
	return t;
}

static bool journal_time(const struct jtime *t, size_t n, uint64_t key, uint32_t *time_out)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t[mid].key < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < n && t[lo].key == key) {
		*time_out = t[lo].time;
		return true;
	}
	return false;
}

/* ---- trust ------------------------------------------------------------------------------------ */

/* A trust record: hash (32 bytes), its length, 7 zero bytes, then device, inode, size and change
 * time in ns (8 bytes each), 4 zero bytes, the check word. */
static uint64_t ctime_ns(const struct stat *st)
{
	return (uint64_t)st->st_ctim.tv_sec * 1000000000u + (uint64_t)st->st_ctim.tv_nsec;
}

static void trust_make(uint8_t *rec, const struct centry *e)
{
	memset(rec, 0, TREC_SIZE);
	memcpy(rec, e->hash, e->hash_len);
	rec[32] = e->hash_len;
	memcpy(rec + 40, &e->t_dev, 8);
	memcpy(rec + 48, &e->t_ino, 8);
	memcpy(rec + 56, &e->t_size, 8);
	memcpy(rec + 64, &e->t_ctime, 8);
	rec_seal(rec, TREC_SIZE);
}

static void trust_set(struct centry *e, const struct stat *st)
{
	if (!e->trusted)
		C.ntrusted++;
	e->trusted = true;
	e->t_dev = (uint64_t)st->st_dev;
	e->t_ino = (uint64_t)st->st_ino;
	e->t_size = (uint64_t)st->st_size;
	e->t_ctime = ctime_ns(st);
}

static void trust_clear(struct centry *e)
{
	if (e->trusted)
		C.ntrusted--;
	e->trusted = false;
}

static bool trust_matches(const struct centry *e, const struct stat *st)
{
	return e->trusted && e->t_dev == (uint64_t)st->st_dev && e->t_ino == (uint64_t)st->st_ino &&
	       e->t_size == (uint64_t)st->st_size && e->t_ctime == ctime_ns(st);
}

/* Rewrite the trust records: one per trusted blob. Called with the lock held. */
static void trust_compact(void)
{
	size_t len = TREC_SIZE;
	uint8_t *buf;

	if (C.state_fd < 0 || !(buf = malloc(TREC_SIZE * (C.ntrusted + 1))))
		return;
	rec_header(buf, TREC_SIZE, TRUST_MAGIC, TRUST_VERSION);
	for (struct centry *e = C.head; e; e = e->next)
		if (e->trusted && len < TREC_SIZE * (C.ntrusted + 1)) {
			trust_make(buf + len, e);
			len += TREC_SIZE;
		}
	if (C.tfd >= 0)
		close(C.tfd);
	C.tfd = rec_rewrite(C.state_fd, "state folder", C.trust_name, buf, len, "trust");
	C.trecords = C.ntrusted;
	free(buf);
}

/* Records compare by hash and length (bytes 0..32); read ones also by the order they were written
 * (kept in bytes 36..39, zero in the file), the latest first. */
static int trec_cmp(const void *a, const void *b)
{
	return memcmp(a, b, 33);
}

static int trec_sort_cmp(const void *a, const void *b)
{
	uint32_t x, y;
	int c = trec_cmp(a, b);

	if (c)
		return c;
	memcpy(&x, (const uint8_t *)a + 36, 4);
	memcpy(&y, (const uint8_t *)b + 36, 4);
	return x < y ? 1 : x > y ? -1 : 0;
}

/* The trust records, sorted by hash, one per hash (the last written wins). */
static uint8_t *trust_read(size_t *n)
{
	uint8_t *buf;
	size_t m = 0;

	*n = 0;
	if (C.state_fd < 0 || !(buf = rec_read(C.state_fd, "state folder", C.trust_name,
					       TRUST_MAGIC, TRUST_VERSION, TREC_SIZE, n, "trust")))
		return NULL;
	for (size_t i = 0; i < *n; i++)
		memcpy(buf + i * TREC_SIZE + 36, &(uint32_t){ (uint32_t)i }, 4);
	qsort(buf, *n, TREC_SIZE, trec_sort_cmp);
	for (size_t i = 0; i < *n; i++)
		if (m == 0 || trec_cmp(buf + (m - 1) * TREC_SIZE, buf + i * TREC_SIZE))
			memmove(buf + m++ * TREC_SIZE, buf + i * TREC_SIZE, TREC_SIZE);
	*n = m;
	return buf;
}

/* Does the record of `hash` in t (n records) name the file st? */
static bool trust_found(const uint8_t *t, size_t n, const uint8_t *hash, size_t len,
			const struct stat *st)
{
	uint8_t key[33] = { 0 };
	const uint8_t *r;
	uint64_t v[4];

	memcpy(key, hash, len);
	key[32] = (uint8_t)len;
	if (!t || !(r = bsearch(key, t, n, TREC_SIZE, trec_cmp)))
		return false;
	memcpy(v, r + 40, sizeof v);
	return v[0] == (uint64_t)st->st_dev && v[1] == (uint64_t)st->st_ino &&
	       v[2] == (uint64_t)st->st_size && v[3] == ctime_ns(st);
}

/* ---- start-up --------------------------------------------------------------------------------- */

/* Is name a blob's name: 32 or 64 lowercase hex digits? Returns the hash length, or 0. */
static size_t name_hash(const char *name, uint8_t *hash)
{
	size_t n = strlen(name);

	if (n != 32 && n != 64)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;

		if (v < 0)
			return 0;
		if (i % 2 == 0)
			hash[i / 2] = (uint8_t)(v << 4);
		else
			hash[i / 2] |= (uint8_t)v;
	}
	return n / 2;
}

static int entry_time_cmp(const void *a, const void *b)
{
	const struct centry *x = *(struct centry *const *)a, *y = *(struct centry *const *)b;

	return x->time < y->time ? -1 : x->time > y->time;
}

/* Remove the named temporary files (where O_TMPFILE is not supported) that a crash left in the
 * folder d: the cache's root now, its H0/H1 folders in earlier versions. */
static bool tmp_left(DIR *d, const char *name, unsigned long *tmps)
{
	if (strncmp(name, ".tmp-", 5))
		return false;
	if (unlinkat(dirfd(d), name, 0) == 0)
		++*tmps;
	return true;
}

/* Count every blob on disk, trusting those whose record (tr, ntr) names the file found; remove
 * temporary files that a crash left. */
static int scan(const struct jtime *jt, size_t njt, const uint8_t *tr, size_t ntr)
{
	static const char hex[] = "0123456789abcdef";
	uint32_t t0 = now32();
	unsigned long tmps = 0, unknown = 0;
	struct centry **all;
	size_t nall = 0;
	int rfd = openat(C.root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *rd = rfd >= 0 ? fdopendir(rfd) : NULL;

	if (rd) {
		for (struct dirent *de; (de = readdir(rd));)
			tmp_left(rd, de->d_name, &tmps);
		closedir(rd);
	} else if (rfd >= 0) {
		close(rfd);
	}
	for (int i = 0; i < 16; i++)
		for (int j = 0; j < 16; j++) {
			char sub[4] = { hex[i], '/', hex[j], '\0' };
			int dfd = openat(C.root_fd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			struct dirent *de;
			DIR *d;

			if (dfd < 0)
				continue;
			if (!(d = fdopendir(dfd))) {
				close(dfd);
				continue;
			}
			while ((de = readdir(d))) {
				uint8_t hash[32];
				struct centry *e;
				struct stat st;
				size_t len;

				if (tmp_left(d, de->d_name, &tmps))
					continue;
				if (!(len = name_hash(de->d_name, hash)) || hash[0] >> 4 != i ||
				    (hash[0] & 15) != j)
					continue;
				if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) ||
				    !S_ISREG(st.st_mode))
					continue;
				if (!(e = tab_get(hash, len))) {
					closedir(d);
					return -ENOMEM;
				}
				if (e->present)
					continue;
				e->present = true;
				e->size = (uint64_t)st.st_size;
				if (!journal_time(jt, njt, key_of(hash), &e->time)) {
					e->time = t0;
					unknown++;
				}
				if (trust_found(tr, ntr, hash, len, &st))
					trust_set(e, &st);
				C.bytes += e->size;
				C.nblobs++;
			}
			closedir(d);
		}
	if (tmps)
		log_info("cache: removed %lu temporary files left by a crash", tmps);
	if (unknown && njt)
		log_info("cache: %lu blobs had no recency record; counted as used now", unknown);
	if (C.nblobs > C.ntrusted)
		log_info("cache: %llu blobs this node did not verify (or changed since): each is hashed "
			 "at its first open", (unsigned long long)(C.nblobs - C.ntrusted));
	/* The LRU list, oldest first. */
	if (!(all = malloc((C.nblobs + 1) * sizeof *all)))
		return -ENOMEM;
	for (size_t i = 0; i < C.cap; i++)
		if (C.tab[i] && C.tab[i]->present)
			all[nall++] = C.tab[i];
	qsort(all, nall, sizeof *all, entry_time_cmp);
	for (size_t i = 0; i < nall; i++)
		lru_append(all[i]);
	free(all);
	return 0;
}

/* ---- eviction --------------------------------------------------------------------------------- */

enum why { WHY_LIMIT, WHY_EXPIRED, WHY_SIZE, WHY_ASKED };

static bool evictable(const struct centry *e)
{
	return e->present && !e->pins && !e->fetching && !e->evicting;
}

/* Unlink the victims (marked evicting, already out of the accounting) with the lock released,
 * then forget them. A victim that cannot be unlinked is counted again and goes to the end. */
static void drop(struct centry **v, unsigned n, enum why why)
{
	int *err = calloc(n ? n : 1, sizeof *err);

	pthread_mutex_unlock(&C.lock);
	for (unsigned i = 0; i < n; i++) {
		char rel[8 + 64];

		rel_of(v[i]->hash, v[i]->hash_len, rel);
		if (unlinkat(C.root_fd, rel, 0) && errno != ENOENT && err) {
			err[i] = errno;
			continue;
		}
		if (C.gone)
			C.gone(v[i]->hash, v[i]->hash_len);
		if (why != WHY_LIMIT)
			log_debug("cache: %s removed (%s)", rel, why == WHY_EXPIRED ? "expired" :
				  why == WHY_SIZE ? "wrong size" : "evicted on request");
	}
	pthread_mutex_lock(&C.lock);
	for (unsigned i = 0; i < n; i++) {
		struct centry *e = v[i];

		e->evicting = false;
		if (err && err[i]) {
			char rel[8 + 64];

			rel_of(e->hash, e->hash_len, rel);
			log_warn("cache: cannot remove %s/%s: %s", C.root, rel, strerror(err[i]));
			e->present = false;
			set_present(e, e->size);
			continue;
		}
		if (why == WHY_LIMIT) {
			C.evictions++;
			C.evicted_bytes += e->size;
		}
		else if (why == WHY_EXPIRED)
			C.expired++;
		else if (why == WHY_SIZE)
			C.wrong_size++;
		maybe_free(e);
	}
	free(err);
	pthread_cond_broadcast(&C.changed);
}

/* Mark a present, unpinned blob as a victim and take it out of the accounting. */
static void choose(struct centry *e)
{
	set_absent(e);
	e->evicting = true;
}

/* Evict least recently used blobs until the cache plus what is reserved fits in `target`, or
 * nothing evictable is left. Called with the lock held (released while unlinking). Returns how
 * many were evicted. */
static unsigned long evict_to(uint64_t target)
{
	unsigned long total = 0, tried = 0, limit = C.nblobs;

	while (C.bytes + C.reserved > target && tried <= limit) {
		struct centry *v[BATCH], *e = C.head, *next;
		unsigned n = 0;

		for (; e && n < BATCH && C.bytes + C.reserved > target; e = next) {
			next = e->next;
			if (evictable(e)) {
				choose(e);
				v[n++] = e;
			}
		}
		if (!n) {
			/* The rest is pinned: idle fds of the fuser among them, which it lets go of
			 * when asked; their MSG_BLOB_CLOSED wakes the trim again (cache_closed). */
			C.trim_short = true;
			if (C.full) {
				pthread_mutex_unlock(&C.lock);
				C.full();
				pthread_mutex_lock(&C.lock);
			}
			break;
		}
		tried += n;
		total += n;
		drop(v, n, WHY_LIMIT);
	}
	return total;
}

static void expire(void)
{
	uint32_t now = now32();
	unsigned long total = 0, limit = C.nblobs;

	/* Bounded: a blob that cannot be unlinked comes back at the end of the list. */
	while (total <= limit) {
		struct centry *v[BATCH], *e = C.head, *next;
		unsigned n = 0;

		for (; e && n < BATCH; e = next) {
			next = e->next;
			if (evictable(e) && now - e->time > C.expiration && (int32_t)(now - e->time) > 0) {
				choose(e);
				v[n++] = e;
			}
		}
		if (!n)
			break;
		total += n;
		drop(v, n, WHY_EXPIRED);
	}
	if (total)
		log_info("cache: %lu blobs unused for more than %u hours removed", total,
			 C.expiration / 3600);
}

/* ---- the served tree -------------------------------------------------------------------------- */

/* Called with the lock held. */
static void tree_put(struct ctree *t)
{
	struct ctree **pp;

	if (!t || --t->refs)
		return;
	for (pp = &C.trees; *pp != t; pp = &(*pp)->next)
		;
	*pp = t->next;
	munmap(t->map, t->size);
	free(t->prefetch);
	free(t->entries);
	free(t);
}

static bool file_with_blob(const struct ix_inode *in)
{
	return S_ISREG(in->mode) && (in->b == 16 || in->b == 32) && in->size > 0;
}

/* Remove blobs whose size is not what the tree lists (damage, or a crash of an older version):
 * a stat per file the tree lists, no hashing. Runs on the background thread, lock held. */
static void check_sizes(struct ctree *t)
{
	unsigned long removed = 0;

	for (uint32_t i = 0; i < t->ix.ninodes && !C.stop;) {
		struct centry *v[BATCH];
		unsigned n = 0;

		for (; i < t->ix.ninodes && n < BATCH; i++) {
			const struct ix_inode *in = &t->ix.inodes[i];
			struct centry *e;
			char rel[8 + 64];

			if (i % 4096 == 4095) {
				/* A large tree: let opens in between. */
				pthread_mutex_unlock(&C.lock);
				sched_yield();
				pthread_mutex_lock(&C.lock);
			}

			if (!file_with_blob(in) ||
			    !(e = tab_find(ix_bytes(&t->ix, in->a), in->b)) || !evictable(e) ||
			    e->size == in->size)
				continue;
			rel_of(e->hash, e->hash_len, rel);
			log_warn("cache: %s is %llu bytes, the flist lists %llu; removed", rel,
				 (unsigned long long)e->size, (unsigned long long)in->size);
			choose(e);
			v[n++] = e;
		}
		removed += n;
		if (n)
			drop(v, n, WHY_SIZE);
	}
	if (removed)
		log_info("cache: %lu blobs of the wrong size removed", removed);
}

/* ---- the background thread -------------------------------------------------------------------- */

static void *background(void *arg)
{
	pthread_mutex_lock(&C.lock);
	while (!C.stop) {
		time_t now = time(NULL);
		struct timespec until;

		if (C.size_check && C.tree) {
			struct ctree *t = C.tree;

			t->refs++;
			check_sizes(t);
			C.size_check = false;
			tree_put(t);
			pthread_cond_broadcast(&C.pf_cond);     /* the prefetchers may start */
		}
		if (C.trim || C.bytes + C.reserved > C.limit) {
			uint64_t before = C.evicted_bytes;
			struct timespec t0, t1;
			unsigned long n;

			C.trim = false;
			clock_gettime(CLOCK_MONOTONIC, &t0);
			n = evict_to(C.limit / 100 * CACHE_LOW_WATER);
			clock_gettime(CLOCK_MONOTONIC, &t1);
			if (n)
				log_info("cache: %lu blobs (%llu bytes) evicted, least recently used first, in "
					 "%.1f ms; %llu of %llu bytes used", n,
					 (unsigned long long)(C.evicted_bytes - before),
					 (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
					 (double)(t1.tv_nsec - t0.tv_nsec) / 1e6,
					 (unsigned long long)C.bytes, (unsigned long long)C.limit);
		}
		if (C.expiration && now >= C.next_expiry) {
			C.next_expiry = now + TICK_SECONDS;
			expire();
		}
		if (C.jrecords > 2 * C.nblobs + 4096)
			journal_compact();
		if (C.trecords > 2 * C.ntrusted + 4096)
			trust_compact();
		if (C.stop || C.trim || (C.size_check && C.tree))
			continue;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += TICK_SECONDS;
		pthread_cond_timedwait(&C.work, &C.lock, &until);
	}
	pthread_mutex_unlock(&C.lock);
	return NULL;
}

/* ---- prefetch --------------------------------------------------------------------------------- */

void cache_thread_background(void)
{
	/* Best-effort I/O class, lowest level: reads that applications wait for go first. who = 0:
	 * the calling thread, the only one the indexer's filter lets it change. */
	syscall(SYS_ioprio_set, 1 /* IOPRIO_WHO_PROCESS */, 0, (2 << 13) | 7);
	setpriority(PRIO_PROCESS, 0, 10);
}

static void *prefetcher(void *arg)
{
	cache_thread_background();
	pthread_mutex_lock(&C.lock);
	while (!C.stop) {
		struct ctree *t = C.tree;
		uint64_t gen = C.tree_gen;
		const struct ix_inode *in = NULL;
		uint8_t hash[32];
		char path[4097];
		uint64_t size;
		uint32_t len;
		bool ok, hit = false;
		int rc;

		if (!t || !C.pf_total || C.size_check || C.pf_full || C.app_active ||
		    C.pf_next >= t->ix.ninodes) {
			if (t && !C.pf_logged && C.pf_total && C.pf_done + C.pf_failed >= C.pf_total) {
				C.pf_logged = true;
				log_info("prefetch: %llu files in the cache, %llu failed",
					 (unsigned long long)C.pf_done, (unsigned long long)C.pf_failed);
			}
			pthread_cond_wait(&C.pf_cond, &C.lock);
			continue;
		}
		while (C.pf_next < t->ix.ninodes) {
			const struct ix_inode *cand = &t->ix.inodes[C.pf_next++];

			if (file_with_blob(cand) && t->prefetch[cand->service]) {
				in = cand;
				break;
			}
		}
		if (!in)
			continue;
		t->refs++;
		len = in->b;
		memcpy(hash, ix_bytes(&t->ix, in->a), len);
		size = in->size;
		if (ix_path(&t->ix, in, path, sizeof path) < 0)
			strcpy(path, "(prefetch)");
		pthread_mutex_unlock(&C.lock);

		/* Only a blob the books lack goes on (C.fetch does not look in the folder). */
		rc = cache_acquire(hash, len, size, CACHE_PREFETCH);
		if (rc == CACHE_ABSENT) {
			rc = C.fetch(hash, len, size, path, &hit);
			cache_done(hash, len, size, rc, hit, false, CACHE_PREFETCH);
		}
		ok = rc >= 0;

		pthread_mutex_lock(&C.lock);
		tree_put(t);
		if (gen != C.tree_gen)
			continue;
		if (rc == -ENOSPC) {
			if (!C.pf_full)
				log_warn("prefetch stopped: the cache is at its limit (%llu bytes); %llu of "
					 "%llu files fetched", (unsigned long long)C.limit,
					 (unsigned long long)C.pf_done, (unsigned long long)C.pf_total);
			C.pf_full = true;
		} else if (ok) {
			C.pf_done++;
		} else {
			C.pf_failed++;
		}
	}
	pthread_mutex_unlock(&C.lock);
	return NULL;
}

/* ---- the interface ---------------------------------------------------------------------------- */

static uint64_t default_limit(void)
{
	struct statvfs sv;
	uint64_t l;

	if (fstatvfs(C.root_fd, &sv))
		return CACHE_MAX_DEFAULT;
	l = (uint64_t)sv.f_blocks * sv.f_frsize / 10;
	return l < CACHE_MAX_DEFAULT ? l : CACHE_MAX_DEFAULT;
}

/* The trust records' file for this cache: verified-KEY, KEY the first 8 bytes of the SHA-256 of
 * the cache's path, so that the caches of several mounts share one state folder. */
static int trust_open(const char *state_dir)
{
	uint8_t d[32];
	struct hasher h;

	if (!state_dir || !state_dir[0] || hasher_init(&h, 32))
		return -1;
	hasher_update(&h, C.root, strlen(C.root));
	hasher_final(&h, d);
	snprintf(C.trust_name, sizeof C.trust_name, "verified-%02x%02x%02x%02x%02x%02x%02x%02x",
		 d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]);
	C.state_fd = open(state_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (C.state_fd < 0)
		log_warn("cache: state folder %s: %s; what this node verified is kept in memory "
			 "only (blobs are hashed again after a restart)", state_dir, strerror(errno));
	return C.state_fd;
}

int cache_open(const char *root, const char *state_dir, uint64_t limit, uint32_t expiration_h,
	       const char *mountpoint, cache_fetch_fn fetch)
{
	struct timespec t0, t1;
	struct jtime *jt;
	uint8_t *tr;
	size_t njt, ntr;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (snprintf(C.root, sizeof C.root, "%s", root) >= (int)sizeof C.root)
		return -ENAMETOOLONG;
	C.root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (C.root_fd < 0)
		return -errno;
	C.limit = limit ? limit : default_limit();
	C.expiration = expiration_h > UINT32_MAX / 3600 ? UINT32_MAX : expiration_h * 3600;
	C.mountpoint = strdup(mountpoint ? mountpoint : "");
	C.fetch = fetch;
	unlinkat(C.root_fd, JOURNAL_TMP, 0);
	trust_open(state_dir);

	pthread_mutex_lock(&C.lock);
	jt = journal_read(&njt);
	tr = trust_read(&ntr);
	rc = scan(jt, njt, tr, ntr);
	free(jt);
	free(tr);
	if (rc == 0) {
		journal_compact();
		trust_compact();
	}
	C.opened = rc == 0;
	pthread_mutex_unlock(&C.lock);
	if (rc)
		return rc;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	log_info("cache: %llu blobs, %llu bytes; limit %llu bytes%s; expiry %s (%.0f ms)",
		 (unsigned long long)C.nblobs, (unsigned long long)C.bytes,
		 (unsigned long long)C.limit, limit ? "" : " (10% of the filesystem, at most 10 GiB)",
		 expiration_h ? "after unused hours" : "never",
		 (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	if (expiration_h)
		log_info("cache: blobs unused for %u hours are removed", expiration_h);
	if (pthread_create(&C.bg, NULL, background, NULL) == 0)
		C.bg_running = true;
	if (fetch)
		for (C.npf = 0; C.npf < PREFETCH_THREADS; C.npf++)
			if (pthread_create(&C.pf[C.npf], NULL, prefetcher, NULL))
				break;
	return C.bg_running ? 0 : -EAGAIN;
}

void cache_close(void)
{
	pthread_mutex_lock(&C.lock);
	C.stop = true;
	pthread_cond_broadcast(&C.work);
	pthread_cond_broadcast(&C.changed);
	pthread_cond_broadcast(&C.pf_cond);
	pthread_mutex_unlock(&C.lock);
	if (C.bg_running)
		pthread_join(C.bg, NULL);
	for (unsigned i = 0; i < C.npf; i++)
		pthread_join(C.pf[i], NULL);
	pthread_mutex_lock(&C.lock);
	for (size_t i = 0; i < C.cap; i++)
		free(C.tab[i]);
	free(C.tab);
	C.tab = NULL;
	C.cap = C.n = 0;
	C.head = C.tail = NULL;
	C.bytes = C.reserved = C.nblobs = 0;
	C.hits = C.misses = C.evictions = C.expired = C.wrong_size = 0;
	while (C.trees) {                       /* the callers' shares too */
		C.trees->refs = 1;
		tree_put(C.trees);
	}
	C.tree = NULL;
	if (C.jfd >= 0)
		close(C.jfd);
	if (C.root_fd >= 0)
		close(C.root_fd);
	if (C.tfd >= 0)
		close(C.tfd);
	if (C.state_fd >= 0)
		close(C.state_fd);
	C.jfd = C.root_fd = C.tfd = C.state_fd = -1;
	C.ntrusted = C.trecords = C.rehashed = 0;
	free(C.mountpoint);
	C.mountpoint = NULL;
	C.opened = C.stop = C.bg_running = false;
	C.npf = 0;
	C.pf_done = C.pf_failed = C.pf_total = 0;
	C.pf_next = 0;
	C.pf_full = C.pf_logged = C.size_check = false;
	C.app_active = 0;
	pthread_mutex_unlock(&C.lock);
}

static bool for_app(enum cache_use use)
{
	return use == CACHE_APP || use == CACHE_APP_AHEAD;
}

int cache_acquire(const uint8_t *hash, size_t hash_len, uint64_t size, enum cache_use use)
{
	struct centry *e;
	bool absent;

	pthread_mutex_lock(&C.lock);
	if (for_app(use))
		C.app_active++;
	if (!C.opened || !(e = tab_get(hash, hash_len))) {
		pthread_mutex_unlock(&C.lock);
		return 0;       /* not accounted: the open still goes on */
	}
	/* One lookup of a blob at a time (an open and the prefetcher), and never one that is
	 * being unlinked. */
	e->pins++;
	while (e->fetching || e->evicting)
		pthread_cond_wait(&C.changed, &C.lock);
	/* Prefetches never evict: what would not fit under the limit is not fetched; the fuser's
	 * guesses fill the cache up to the low-water mark only. */
	if ((use == CACHE_PREFETCH && e->present) ||
	    (!for_app(use) && !e->present &&
	     C.bytes + C.reserved + size > (use == CACHE_PEEK ? C.limit / 100 * CACHE_LOW_WATER : C.limit))) {
		bool there = e->present;

		e->pins--;
		maybe_free(e);
		pthread_mutex_unlock(&C.lock);
		return there ? 1 : -ENOSPC;
	}
	e->fetching = true;
	absent = !e->present;
	if (absent) {
		e->reserved = size;
		C.reserved += size;
		if (C.bytes + C.reserved > C.limit) {
			/* Room now for this one; the background thread goes on to the low-water mark. */
			evict_to(C.limit);
			C.trim = true;
			pthread_cond_signal(&C.work);
		}
	}
	pthread_mutex_unlock(&C.lock);
	return absent ? CACHE_ABSENT : 0;
}

void cache_done(const uint8_t *hash, size_t hash_len, uint64_t size, int rc, bool hit,
		bool keep_pin, enum cache_use use)
{
	struct centry *e;

	pthread_mutex_lock(&C.lock);
	if (for_app(use)) {
		/* The prefetchers wait for the last application open to end; only they are woken,
		 * and only then: a broadcast per blob to threads with nothing to do was 2 wake-ups
		 * and a contended lock on the path of every open. */
		if (--C.app_active == 0 && C.pf_total)
			pthread_cond_broadcast(&C.pf_cond);
		if (use == CACHE_APP_AHEAD)
			;
		else if (rc == 0 && hit)
			C.hits++;
		else
			C.misses++;
	}
	if (!C.opened || !(e = tab_find(hash, hash_len)) || !e->fetching) {
		pthread_mutex_unlock(&C.lock);
		return;
	}
	C.reserved -= e->reserved;
	e->reserved = 0;
	e->fetching = false;
	if (rc == 0 && use == CACHE_PEEK) {
		/* A guess, not a use: a blob it brought in is the first to go, until it is used. */
		if (!hit) {
			set_present(e, size);
			e->time = now32();      /* its age, for expiry; no record: it was not used */
			lru_unlink(e);
			e->next = C.head;
			if (C.head)
				C.head->prev = e;
			else
				C.tail = e;
			C.head = e;
		}
	} else if (rc == 0) {
		set_present(e, size);
		touch(e);
	} else {
		/* Whatever blob_get left: what is on disk now is the truth. */
		char rel[8 + 64];
		struct stat st;

		rel_of(hash, hash_len, rel);
		if (fstatat(C.root_fd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
			set_present(e, (uint64_t)st.st_size);
		else
			set_absent(e);
	}
	if (!keep_pin && e->pins)
		e->pins--;
	if (C.bytes + C.reserved > C.limit) {
		C.trim = true;
		pthread_cond_signal(&C.work);
	}
	maybe_free(e);
	pthread_cond_broadcast(&C.changed);
	pthread_mutex_unlock(&C.lock);
}

void cache_on_gone(cache_gone_fn fn)
{
	C.gone = fn;
}

void cache_on_full(cache_full_fn fn)
{
	C.full = fn;
}

bool cache_pin_present(const uint8_t *hash, size_t hash_len)
{
	struct centry *e;
	bool ok = true;         /* no books kept: nothing to pin */

	pthread_mutex_lock(&C.lock);
	if (C.opened) {
		e = tab_find(hash, hash_len);
		ok = e && e->present && !e->fetching && !e->evicting;
		if (ok) {
			e->pins++;
			touch(e);
		}
	}
	pthread_mutex_unlock(&C.lock);
	return ok;
}

bool cache_present(const uint8_t *hash, size_t hash_len)
{
	struct centry *e;
	bool there;

	pthread_mutex_lock(&C.lock);
	there = C.opened && (e = tab_find(hash, hash_len)) && e->present && !e->evicting;
	pthread_mutex_unlock(&C.lock);
	return there;
}

void cache_count_hit(void)
{
	pthread_mutex_lock(&C.lock);
	C.hits++;
	pthread_mutex_unlock(&C.lock);
}

bool cache_trusted(const uint8_t *hash, size_t hash_len, const struct stat *st)
{
	struct centry *e;
	bool ok;

	pthread_mutex_lock(&C.lock);
	ok = C.opened && (e = tab_find(hash, hash_len)) && trust_matches(e, st);
	pthread_mutex_unlock(&C.lock);
	return ok;
}

void cache_count_rehash(void)
{
	pthread_mutex_lock(&C.lock);
	C.rehashed++;
	pthread_mutex_unlock(&C.lock);
}

void cache_trust(const uint8_t *hash, size_t hash_len, const struct stat *st)
{
	uint8_t rec[TREC_SIZE];
	struct centry *e;

	pthread_mutex_lock(&C.lock);
	if (C.opened && (e = tab_get(hash, hash_len))) {
		trust_set(e, st);
		trust_make(rec, e);
		rec_append(C.tfd, rec, sizeof rec, &C.trecords);
		if (C.trecords > 2 * C.ntrusted + 4096)
			pthread_cond_signal(&C.work);
	}
	pthread_mutex_unlock(&C.lock);
}

void cache_distrust(const uint8_t *hash, size_t hash_len)
{
	struct centry *e;

	pthread_mutex_lock(&C.lock);
	if (C.opened && (e = tab_find(hash, hash_len)))
		trust_clear(e);
	pthread_mutex_unlock(&C.lock);
}

void cache_held(const uint8_t *hash, size_t hash_len)
{
	struct centry *e;

	pthread_mutex_lock(&C.lock);
	/* Gone already (evicted while idle): the fuser is being told to let go of it. */
	if (C.opened && (e = tab_find(hash, hash_len)) && e->present && !e->evicting) {
		e->pins++;
		touch(e);
	}
	pthread_mutex_unlock(&C.lock);
}

void cache_closed(const uint8_t *hash, size_t hash_len)
{
	struct centry *e;

	pthread_mutex_lock(&C.lock);
	/* Unknown to this indexer (it was restarted while the fuser held the fd): nothing pinned. */
	if (C.opened && (e = tab_find(hash, hash_len))) {
		if (e->pins && !e->fetching)
			e->pins--;
		else if (e->pins > 1)
			e->pins--;
		if (e->present)
			touch(e);
		if (!e->pins && (C.bytes + C.reserved > C.limit ||
				 (C.trim_short && C.bytes + C.reserved > C.limit / 100 * CACHE_LOW_WATER))) {
			C.trim_short = false;
			C.trim = true;
			pthread_cond_signal(&C.work);
		}
		if (!e->pins)
			pthread_cond_broadcast(&C.changed);     /* an evict may wait for it */
		maybe_free(e);
	}
	pthread_mutex_unlock(&C.lock);
}

int cache_set_tree(void *map, size_t size, const struct ix *ix, const struct worker_conf *c)
{
	struct ctree *t = calloc(1, sizeof *t), *old;

	if (!t || !(t->prefetch = calloc(ix->hdr->nservices + 1, sizeof *t->prefetch)) ||
	    !(t->entries = calloc(ix->hdr->nservices + 1, sizeof *t->entries))) {
		if (t)
			free(t->prefetch);
		free(t);
		return -ENOMEM;
	}
	t->refs = 2;            /* the cache's, and the caller's until cache_unmap_tree */
	t->map = map;
	t->size = size;
	t->ix = *ix;
	for (uint32_t s = 0; s < t->ix.hdr->nservices; s++) {
		const struct ix_service *sv = &t->ix.services[s];

		for (uint32_t k = 0; k < c->nservices; k++)
			if (c->services[k].flags & WS_PREFETCH && strlen(c->services[k].id) == sv->id_len &&
			    !memcmp(c->services[k].id, ix_bytes(&t->ix, sv->id_off), sv->id_len))
				t->prefetch[s] = true;
	}
	for (uint32_t i = 0; i < t->ix.ninodes; i++) {
		if (t->ix.inodes[i].service < t->ix.hdr->nservices)
			t->entries[t->ix.inodes[i].service]++;
		if (file_with_blob(&t->ix.inodes[i]) && t->prefetch[t->ix.inodes[i].service])
			t->files++;
	}

	pthread_mutex_lock(&C.lock);
	t->next = C.trees;
	C.trees = t;
	old = C.tree;
	C.tree = t;
	C.tree_gen++;
	C.size_check = true;
	C.pf_next = 0;
	C.pf_done = C.pf_failed = 0;
	C.pf_total = t->files;
	C.pf_full = C.pf_logged = false;
	if (t->files && C.npf)
		log_info("prefetch: %llu files to bring into the cache",
			 (unsigned long long)t->files);
	else if (t->files)
		log_warn("prefetch: no local cache to fetch into; %llu files not prefetched",
			 (unsigned long long)t->files);
	pthread_cond_signal(&C.work);
	pthread_cond_broadcast(&C.changed);
	pthread_cond_broadcast(&C.pf_cond);
	tree_put(old);
	pthread_mutex_unlock(&C.lock);
	return 0;
}

void cache_unmap_tree(void *map, size_t size)
{
	struct ctree *t;

	pthread_mutex_lock(&C.lock);
	for (t = C.trees; t && t->map != map; t = t->next)
		;
	if (t)
		tree_put(t);
	else
		munmap(map, size);
	pthread_mutex_unlock(&C.lock);
}

/* ---- control ---------------------------------------------------------------------------------- */

int cache_ctl_report(FILE *out)
{
	uint64_t open = 0;

	pthread_mutex_lock(&C.lock);
	for (struct centry *e = C.head; e; e = e->next)
		open += e->pins > 0;
	fprintf(out, "blobs %llu\nbytes %llu\nlimit %llu\nhits %llu\nmisses %llu\nhit_rate %.3f\n"
		"evictions %llu\nexpired %llu\nwrong_size %llu\nopen %llu\nprefetch_done %llu\n"
		"prefetch_failed %llu\nprefetch_total %llu\ntrusted %llu\nrehashed %llu\n",
		(unsigned long long)C.nblobs, (unsigned long long)C.bytes,
		(unsigned long long)C.limit, (unsigned long long)C.hits,
		(unsigned long long)C.misses,
		C.hits + C.misses ? (double)C.hits / (double)(C.hits + C.misses) : 0.0,
		(unsigned long long)C.evictions, (unsigned long long)C.expired,
		(unsigned long long)C.wrong_size, (unsigned long long)open,
		(unsigned long long)C.pf_done, (unsigned long long)C.pf_failed,
		(unsigned long long)C.pf_total, (unsigned long long)C.ntrusted,
		(unsigned long long)C.rehashed);
	pthread_mutex_unlock(&C.lock);
	return ferror(out) ? -EIO : 0;
}

/* A blob pinned by nothing but an fd the fuser keeps idle (fuser/blobs.c): the fuser is asked to
 * let go of its pins, and the pin waited for, up to a second. Called with the lock held, which it
 * releases meanwhile; returns the entry again (NULL: it left the cache meanwhile). */
static struct centry *unpinned(const uint8_t *hash, size_t len)
{
	struct timespec until;
	struct centry *e;

	if (!C.full)
		return tab_find(hash, len);
	pthread_mutex_unlock(&C.lock);
	C.full();
	pthread_mutex_lock(&C.lock);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 1;
	while ((e = tab_find(hash, len)) && e->present && !evictable(e) &&
	       pthread_cond_timedwait(&C.changed, &C.lock, &until) == 0)
		;
	return e && e->present ? e : NULL;
}

int cache_ctl_evict(const char *path, FILE *out)
{
	size_t ml = C.mountpoint ? strlen(C.mountpoint) : 0;
	const char *p = path;
	const struct ix_inode *in;
	struct centry *e;
	struct ctree *t;
	uint8_t hash[32];
	size_t len = 0;
	char rel[8 + 64];
	int rc = 0;

	while (ml > 1 && C.mountpoint[ml - 1] == '/')
		ml--;
	if (ml > 1 && !strncmp(path, C.mountpoint, ml) && (path[ml] == '/' || !path[ml]))
		p = path + ml;
	pthread_mutex_lock(&C.lock);
	if (!(t = C.tree)) {
		pthread_mutex_unlock(&C.lock);
		fprintf(out, "%s: no tree is served yet\n", path);
		return -ENOENT;
	}
	in = tree_ix_resolve(&t->ix, p);
	if (in && file_with_blob(in)) {
		len = in->b;
		memcpy(hash, ix_bytes(&t->ix, in->a), len);
	}
	if (!in) {
		fprintf(out, "%s: no such file in the mount\n", path);
		rc = -ENOENT;
	} else if (!len) {
		fprintf(out, "%s: not a file with content; nothing to evict\n", path);
		rc = -EINVAL;
	} else if (!(e = tab_find(hash, len)) || !e->present) {
		fprintf(out, "%s: not in the local cache\n", path);
		rc = -ENOENT;
	} else if (!evictable(e) && !(e = unpinned(hash, len))) {
		fprintf(out, "%s: not in the local cache\n", path);
		rc = -ENOENT;
	} else if (!evictable(e)) {
		fprintf(out, "%s: open or being fetched; not evicted\n", path);
		rc = -EBUSY;
	} else {
		uint64_t bytes = e->size;

		rel_of(hash, len, rel);
		choose(e);
		drop(&e, 1, WHY_ASKED);
		/* drop() put it back if the unlink failed. */
		if ((e = tab_find(hash, len)) && e->present) {
			fprintf(out, "%s: cannot remove %s from the local cache\n", path, rel);
			rc = -EIO;
		} else {
			fprintf(out, "evicted %s (%s, %llu bytes)\n", path, rel,
				(unsigned long long)bytes);
			log_info("cache: %s evicted on request (%s)", rel, path);
		}
	}
	pthread_mutex_unlock(&C.lock);
	return rc;
}

int cache_ctl_verify(FILE *out)
{
	struct { uint8_t hash[32]; uint8_t len; } *list;
	unsigned long checked = 0, removed = 0;
	time_t last = time(NULL);
	size_t n = 0;

	pthread_mutex_lock(&C.lock);
	if (!C.opened) {
		pthread_mutex_unlock(&C.lock);
		return -ENOENT;
	}
	if (!(list = malloc((C.nblobs + 1) * sizeof *list))) {
		pthread_mutex_unlock(&C.lock);
		return -ENOMEM;
	}
	for (struct centry *e = C.head; e; e = e->next, n++) {
		memcpy(list[n].hash, e->hash, e->hash_len);
		list[n].len = e->hash_len;
	}
	pthread_mutex_unlock(&C.lock);
	log_info("verifying the local cache %s (%zu blobs)", C.root, n);

	for (size_t i = 0; i < n; i++) {
		uint8_t got[32];
		char rel[8 + 64];
		uint64_t len = UINT64_MAX;
		struct stat before = { 0 }, after;
		struct centry *e;
		int fd;

		rel_of(list[i].hash, list[i].len, rel);
		fd = openat(C.root_fd, rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
		if (fd < 0)
			continue;       /* evicted meanwhile */
		checked++;
		if (fstat(fd, &before) == 0 && hasher_fd(fd, list[i].len, got, &len) == 0 &&
		    !memcmp(got, list[i].hash, list[i].len) && fstat(fd, &after) == 0 &&
		    ctime_ns(&before) == ctime_ns(&after) && before.st_size == after.st_size) {
			cache_trust(list[i].hash, list[i].len, &after);
		} else if (len == (uint64_t)before.st_size &&
			   memcmp(got, list[i].hash, list[i].len)) {
			/* Bad bytes under a blob's name: gone, even if the fuser holds an fd (the next
			 * open fetches a good copy). */
			pthread_mutex_lock(&C.lock);
			if ((e = tab_find(list[i].hash, list[i].len)) && e->present && !e->evicting &&
			    !e->fetching && unlinkat(C.root_fd, rel, 0) == 0) {
				set_absent(e);
				maybe_free(e);
				removed++;
				log_warn("cache: %s does not match its name; removed", rel);
				pthread_mutex_unlock(&C.lock);
				if (C.gone)
					C.gone(list[i].hash, list[i].len);
				continue;
			}
			pthread_mutex_unlock(&C.lock);
		}
		close(fd);
		if (time(NULL) - last >= VERIFY_LOG_SECONDS) {
			last = time(NULL);
			log_info("verifying the cache: %lu of %zu blobs checked", checked, n);
		}
	}
	free(list);
	log_info("cache verified: %lu blobs, %lu removed", checked, removed);
	fprintf(out, "checked %lu\nremoved %lu\n", checked, removed);
	return ferror(out) ? -EIO : 0;
}

void cache_service_stats(FILE *out)
{
	pthread_mutex_lock(&C.lock);
	for (uint32_t s = 0; C.tree && s < C.tree->ix.hdr->nservices; s++) {
		const struct ix_service *sv = &C.tree->ix.services[s];

		fprintf(out, "service_entries %.*s %llu\n", (int)sv->id_len,
			(const char *)ix_bytes(&C.tree->ix, sv->id_off),
			(unsigned long long)C.tree->entries[s]);
	}
	pthread_mutex_unlock(&C.lock);
}
