/* test_cache.c — the local cache's bookkeeping (indexer/cache.c) on a real folder: start-up scan,
 * recency from the journal, LRU eviction with pins, the low-water mark, size check against a
 * tree, expiry, and the control functions (report, evict by path, verify). */
#include "indexer/cache.h"
#include "indexer/tree.h"
#include "ipc/index.h"
#include "ipc/log.h"
#include "tests/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BLOB 1000               /* bytes of each test blob */

static char root[64];

static void like(const char *text, const char *re, const char *name)
{
	regex_t r;
	bool m = regcomp(&r, re, REG_EXTENDED | REG_NEWLINE) == 0 && regexec(&r, text, 0, NULL, 0) == 0;

	regfree(&r);
	if (!ok(m, "%s", name))
		printf("#   \"%s\" does not match /%s/\n", text, re);
}

struct blob {
	char content[BLOB];
	uint8_t hash[16];
	char hex[33];
};

static struct blob blobs[8];

static void make_blob(struct blob *b, int seed)
{
	unsigned n = 16;

	for (int i = 0; i < BLOB; i++)
		b->content[i] = (char)('a' + (seed * 7 + i) % 26);
	EVP_Digest(b->content, BLOB, b->hash, &n, EVP_md5(), NULL);
	for (int i = 0; i < 16; i++)
		sprintf(b->hex + 2 * i, "%02x", b->hash[i]);
}

static void path_of(const struct blob *b, char *out, size_t n)
{
	snprintf(out, n, "%s/%c/%c/%s", root, b->hex[0], b->hex[1], b->hex);
}

/* Write the blob into the cache as blob_get would (content, then its name). */
static void store(const struct blob *b, size_t len)
{
	char p[256];
	int fd;

	snprintf(p, sizeof p, "%s/%c", root, b->hex[0]);
	mkdir(p, 0755);
	snprintf(p, sizeof p, "%s/%c/%c", root, b->hex[0], b->hex[1]);
	mkdir(p, 0755);
	path_of(b, p, sizeof p);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, b->content, len) != (ssize_t)len)
		abort();
	close(fd);
}

static bool cached(const struct blob *b)
{
	char p[256];

	path_of(b, p, sizeof p);
	return access(p, F_OK) == 0;
}

/* The journal the cache reads at start-up: one record per (blob, time). */
static uint32_t check(const uint8_t *rec)
{
	uint32_t h = 2166136261u;

	for (int i = 0; i < 12; i++)
		h = (h ^ rec[i]) * 16777619u;
	return h ^ 0x5a5a5a5au;
}

static void journal(const struct blob *const *bs, const uint32_t *times, int n, bool torn_tail)
{
	char p[256];
	uint8_t rec[16] = "aysfsLRU";
	uint32_t v = 1;
	int fd;

	snprintf(p, sizeof p, "%s/.recency", root);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	memcpy(rec + 8, &v, 4);
	if (write(fd, rec, 16) != 16)
		abort();
	for (int i = 0; i < n; i++) {
		uint32_t c;

		memcpy(rec, bs[i]->hash, 8);
		memcpy(rec + 8, &times[i], 4);
		c = check(rec);
		memcpy(rec + 12, &c, 4);
		if (write(fd, rec, 16) != 16)
			abort();
	}
	if (torn_tail && write(fd, rec, 7) != 7)
		abort();
	close(fd);
}

/* One value of cache_ctl_report. */
static long long report(const char *key)
{
	char *text = NULL, *p;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	long long v = -1;
	size_t kl = strlen(key);

	cache_ctl_report(f);
	fclose(f);
	for (p = text; p && *p; p = strchr(p, '\n') + 1) {
		if (!strncmp(p, key, kl) && p[kl] == ' ') {
			v = atoll(p + kl + 1);
			break;
		}
		if (!strchr(p, '\n'))
			break;
	}
	free(text);
	return v;
}

static int ctl(int (*fn)(const char *, FILE *), const char *arg, char *msg, size_t n)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int rc = fn(arg, f);

	fclose(f);
	snprintf(msg, n, "%s", text ? text : "");
	free(text);
	return rc;
}

/* The background thread's work, awaited for up to 10 s (a loaded machine is slow to run it). */
#define eventually(cond) do { for (int i_ = 0; i_ < 1000 && !(cond); i_++) usleep(10000); } while (0)

/* A use of a blob that is not cached: acquire, "fetch" (write it), done. */
static void fetch(const struct blob *b, bool keep_pin)
{
	cache_acquire(b->hash, 16, BLOB, CACHE_APP);
	store(b, BLOB);
	cache_done(b->hash, 16, BLOB, 0, false, keep_pin, CACHE_APP);
}

static void hit(const struct blob *b, bool keep_pin)
{
	cache_acquire(b->hash, 16, BLOB, CACHE_APP);
	cache_done(b->hash, 16, BLOB, 0, true, keep_pin, CACHE_APP);
}

/* A tree with /d/f<i> for the blobs, and /empty, served through a sealed memfd. */
static int tree_fd(size_t *size, uint64_t wrong_size_of)
{
	char text[4096];
	size_t n = 0;
	struct tree_flist_stats st;
	struct tree *t = tree_new("/", 1700000000);
	char err[256];
	int fd = memfd_create("tree", MFD_CLOEXEC);

	for (int i = 0; i < 8; i++)
		n += (size_t)snprintf(text + n, sizeof text - n, "/d/f%d|%s|%d\n", i, blobs[i].hex,
				      (uint64_t)i == wrong_size_of ? BLOB + 1 : BLOB);
	n += (size_t)snprintf(text + n, sizeof text - n, "/empty||0\n");
	if (!t || tree_add_flist(t, "svc", "svc", text, n, &st, err, sizeof err))
		abort();
	*size = tree_image_size(t);
	if (ftruncate(fd, (off_t)*size) || tree_image_write(t, 1, fd))
		abort();
	tree_free(t);
	return fd;
}

/* Map and validate the image as the indexer does, and hand the mapping to the cache. */
static int set_tree(int fd, size_t size, const struct worker_conf *c)
{
	static void *prev;
	static size_t prev_size;
	void *map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	char err[256];
	struct ix ix;
	int rc;

	if (map == MAP_FAILED || ix_open(&ix, map, size, err, sizeof err))
		abort();
	if (prev)
		cache_unmap_tree(prev, prev_size);
	rc = cache_set_tree(map, size, &ix, c);
	prev = map;
	prev_size = size;
	return rc;
}

int main(void)
{
	struct worker_conf conf = { 0 };
	uint32_t now = (uint32_t)time(NULL);
	char msg[512], p[256];
	size_t tsize;
	int fd;

	log_init("test", LOG_CRIT);
	snprintf(root, sizeof root, "/tmp/aysfs-unit-cache.XXXXXX");
	if (!mkdtemp(root))
		abort();
	for (int i = 0; i < 8; i++)
		make_blob(&blobs[i], i);

	/* Three blobs on disk, a crash's temporary file, a file that is no blob; recency from the
	 * journal: 0 oldest, then 1, then 2 (a torn record at the end is skipped). */
	store(&blobs[0], BLOB);
	store(&blobs[1], BLOB);
	store(&blobs[2], BLOB);
	snprintf(p, sizeof p, "%s/%c/%c/.tmp-crash", root, blobs[0].hex[0], blobs[0].hex[1]);
	close(open(p, O_WRONLY | O_CREAT, 0644));
	snprintf(p, sizeof p, "%s/%c/%c/README", root, blobs[0].hex[0], blobs[0].hex[1]);
	close(open(p, O_WRONLY | O_CREAT, 0644));
	{
		const struct blob *bs[] = { &blobs[2], &blobs[0], &blobs[1] };
		uint32_t t[] = { now - 100, now - 300, now - 200 };

		journal(bs, t, 3, true);
	}
	is_int(cache_open(root, NULL, 3 * BLOB, 0, "/mnt/x", NULL), 0, "cache_open");
	is_int(report("blobs"), 3, "three blobs counted at start-up");
	is_int(report("bytes"), 3 * BLOB, "with their apparent sizes");
	is_int(report("limit"), 3 * BLOB, "the limit given");
	snprintf(p, sizeof p, "%s/%c/%c/.tmp-crash", root, blobs[0].hex[0], blobs[0].hex[1]);
	ok(access(p, F_OK) != 0, "a crash's temporary file is removed");
	snprintf(p, sizeof p, "%s/%c/%c/README", root, blobs[0].hex[0], blobs[0].hex[1]);
	ok(access(p, F_OK) == 0, "a file that is not a blob is left alone");
	{
		struct stat st;

		snprintf(p, sizeof p, "%s/.recency", root);
		ok(stat(p, &st) == 0 && st.st_size == 16 * 4, "the journal is rewritten compacted (%lld bytes)",
		   (long long)(stat(p, &st) == 0 ? st.st_size : -1));
	}

	/* A fourth blob needs room: the least recently used (0, per the journal) goes at once,
	 * then the background thread goes down to 75% (1 is next). */
	cache_acquire(blobs[3].hash, 16, BLOB, CACHE_APP);
	ok(!cached(&blobs[0]), "room is made before the fetch: the least recently used blob is evicted");
	/* Blob 1 is the background thread's, which may have run already. */
	ok(cached(&blobs[2]), "not the most recently used one");
	store(&blobs[3], BLOB);
	cache_done(blobs[3].hash, 16, BLOB, 0, false, true, CACHE_APP);     /* the fuser holds it */
	/* The file goes first, then the books. */
	eventually(!cached(&blobs[1]) && report("evictions") == 2);
	ok(!cached(&blobs[1]), "the background thread evicts down to the low-water mark");
	ok(cached(&blobs[2]) && cached(&blobs[3]), "keeping the most recent");
	is_int(report("evictions"), 2, "two evictions counted");
	is_int(report("misses"), 1, "one miss");
	is_int(report("open"), 1, "one blob held open");

	/* A held blob is never a victim, even the least recently used. */
	hit(&blobs[2], false);          /* 2 is now more recent than 3 */
	fetch(&blobs[4], false);
	fetch(&blobs[5], false);
	/* 2 went at once to make room for 5; the background thread goes on down to the low-water
	 * mark with 4. Its count is awaited, not the files: it unlinks with the lock released, and
	 * would go on evicting whatever came in meanwhile. */
	eventually(report("evictions") == 4);
	ok(cached(&blobs[3]), "the blob held open survives while newer ones come in");
	ok(!cached(&blobs[2]) && !cached(&blobs[4]), "others are evicted instead");
	is_int(report("hits"), 1, "a hit counted");
	ok(report("bytes") <= 3 * BLOB, "the cache stays within its limit (%lld bytes)", report("bytes"));
	/* Closing is a use: 5 is now the least recent, then 3. 6 fits (3000 of 3000 bytes); 7 makes
	 * 5 go at once, and the background thread then takes 3. */
	cache_closed(blobs[3].hash, 16);
	is_int(report("open"), 0, "closed: no blob held");
	fetch(&blobs[6], false);
	fetch(&blobs[7], false);
	eventually(!cached(&blobs[3]));
	ok(!cached(&blobs[3]), "once closed it can be evicted");

	/* The control functions need the served tree. */
	fd = tree_fd(&tsize, 99);
	is_int(set_tree(fd, tsize, &conf), 0, "cache_set_tree");
	ok(cached(&blobs[7]), "blob 7 is cached");
	is_int(ctl(cache_ctl_evict, "/mnt/x/d/f7", msg, sizeof msg), 0, "evict by a path under the mountpoint");
	like(msg, "^evicted /mnt/x/d/f7 \\(.*, 1000 bytes\\)", "it says what it removed");
	ok(!cached(&blobs[7]), "the blob is gone");
	is_int(ctl(cache_ctl_evict, "/mnt/x/d/f7", msg, sizeof msg), -ENOENT, "evicting it again: -ENOENT");
	like(msg, "not in the local cache", "not in the cache");
	is_int(ctl(cache_ctl_evict, "/mnt/x/nope", msg, sizeof msg), -ENOENT, "no such path: -ENOENT");
	is_int(ctl(cache_ctl_evict, "/mnt/x/d", msg, sizeof msg), -EINVAL, "a directory: -EINVAL");
	is_int(ctl(cache_ctl_evict, "/mnt/x/empty", msg, sizeof msg), -EINVAL, "an empty file: -EINVAL");
	hit(&blobs[6], true);
	is_int(ctl(cache_ctl_evict, "d/f6", msg, sizeof msg), -EBUSY, "a path relative to the mount, held open: -EBUSY");
	ok(cached(&blobs[6]), "and it stays");
	cache_closed(blobs[6].hash, 16);
	is_int(ctl(cache_ctl_evict, "/d/f6", msg, sizeof msg), 0, "closed, it can be evicted");

	/* verify: damage a cached blob (same size, other bytes). */
	fetch(&blobs[7], false);
	{
		struct blob bad = blobs[7];

		bad.content[10] ^= 1;
		store(&bad, BLOB);
	}
	{
		char *text = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&text, &len);
		long long before = report("blobs");

		is_int(cache_ctl_verify(f), 0, "cache_ctl_verify");
		fclose(f);
		like(text, "^removed 1$", "one damaged blob found");
		ok(!cached(&blobs[7]), "and removed");
		is_int(report("blobs"), before - 1, "the accounting follows");
		free(text);
	}

	/* A tree that lists a cached blob with another size: removed without hashing. */
	fetch(&blobs[5], false);
	{
		int i = -1;

		for (int k = 0; k < 8; k++)
			if (cached(&blobs[k]))
				i = k;
		ok(i >= 0, "some blob is cached (%d)", i);
		close(fd);
		fd = tree_fd(&tsize, (uint64_t)i);
		set_tree(fd, tsize, &conf);
		eventually(!cached(&blobs[i]) && report("wrong_size") == 1);
		ok(!cached(&blobs[i]), "a blob whose size the tree lists otherwise is removed");
		is_int(report("wrong_size"), 1, "and counted");
	}
	cache_close();
	close(fd);

	/* Expiry: blob 0 last used two hours ago, blob 1 just now; expiration 1 hour. */
	store(&blobs[0], BLOB);
	store(&blobs[1], BLOB);
	{
		const struct blob *bs[] = { &blobs[0], &blobs[1] };
		uint32_t t[] = { now - 7300, now - 10 };

		journal(bs, t, 2, false);
	}
	is_int(cache_open(root, NULL, 0, 1, "/mnt/x", NULL), 0, "cache_open with expiry");
	ok(report("limit") > 0 && report("limit") <= 10LL << 30, "the default limit: 10%% of the filesystem, at most 10 GiB (%lld)",
	   report("limit"));
	eventually(!cached(&blobs[0]) && report("expired") == 1);
	ok(!cached(&blobs[0]), "a blob unused for longer than the expiry is removed");
	ok(cached(&blobs[1]), "a recent one stays");
	is_int(report("expired"), 1, "counted as expired");
	cache_close();

	{
		char cmd[128];

		snprintf(cmd, sizeof cmd, "rm -rf %s", root);
		if (system(cmd))
			return 1;
	}
	return done_testing();
}
