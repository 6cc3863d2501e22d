/* blob.c — finding a blob, proving it, caching it, and writing it back.
 *
 * One direction: the sources, tried in order (the local cache, then each layer: folders and runs
 * of network layers), each yield a candidate copy, streamed into an unnamed temporary file in the
 * cache's root folder while it is hashed (and decompressed when it is a HASH.bro); then admit(),
 * the one step every copy goes through, compares length and hash with the flist, gives a copy that
 * matches the blob's name by rename (replacing whatever stood there: the verified copy wins), records
 * its identity as verified by this node (cache.c), and hands back a read-only fd of that very
 * inode, which is what the fuser receives: never a fresh open by name. So no partial or unverified
 * file ever stands under a blob's name, whatever crashes, and no unverified byte reaches the fuser.
 *
 * The local cache's own file is served as it is only when this node verified it and it has not
 * changed since (cache_trusted: device, inode, size and change time of fstat on the fd); any other
 * file under a blob's name is a candidate like a layer's, and a bad one is removed. Cache files are
 * opened below the cache's root without following a symlink.
 *
 * Write-back to writable folder caches before the layer that had the blob happens on a background
 * thread, off the path of the open.
 *
 * The layer list may change while the mount runs (-auto's re-discovery): each open and each
 * write-back works on the list it started with (a reference-counted `struct layer_set`), so a
 * layer that goes away never pulls the ground from under a read in progress. Layer URLs are
 * interned and never freed: the fuser is handed the name of the layer a blob came from.
 *
 * What the local cache holds, its quota, recency and pins are cache.c's: callers bracket
 * blob_get() with cache_acquire() and cache_done().
 */
#include "indexer/blob.h"

#include "indexer/cache.h"
#include "indexer/fetch.h"
#include "indexer/hash.h"
#include "indexer/indexer.h"
#include "indexer/flist.h"
#include "ipc/log.h"

#include <brotli/decode.h>
#include <linux/openat2.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define COPY_BUF (256 * 1024)
#define BLOB_MODE 0444

/* One version of the layer list. */
struct layer_set {
	unsigned refs;                  /* under blobs.lock */
	uint32_t n;
	struct set_layer {
		const char *url;        /* interned */
		uint32_t flags;         /* WL_* */
	} layer[WCONF_MAX_LAYERS];
	bool writable[WCONF_MAX_LAYERS];
	int cache_layer;                /* the layer that is the local cache, or -1 (cache_dir) */
};

struct blobs {
	const struct worker_conf *conf; /* namespace and cache_dir; its layers are the first set's */
	char cache_root[PATH_MAX];      /* CACHE/NAMESPACE */
	int root_fd;                    /* it, for lookups below it (O_PATH), or -1 */
	const char *cache_url;          /* how logs and xattrs name the local cache (interned) */
	struct layer_set *set;          /* the current layers, under lock */

	/* Write-back queue, served by one background thread. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct writeback *wb_head, **wb_tail;
	bool wb_stop;
	pthread_t wb_thread;
	bool wb_running;

	/* Blobs already pushed to HTTP caches in this mount (first 8 bytes of the hash; a collision
	 * only costs a skipped upload). Touched by the write-back thread alone. */
	uint64_t *pushed;
	size_t npushed, cap_pushed;
};

struct writeback {
	struct writeback *next;
	int fd;                         /* the verified blob (its own open file description) */
	char rel[8 + 2 * FLIST_HASH_MAX]; /* H0/H1/HASH */
	int upto;                       /* layers [0, upto) that are writable caches get it */
	uint64_t bad;                   /* those whose copy failed verification: replaced */
	struct layer_set *set;          /* held */
};

/* ---- layer sets ------------------------------------------------------------------------------- */

static pthread_mutex_t intern_lock = PTHREAD_MUTEX_INITIALIZER;
static struct interned {
	struct interned *next;
	char url[];
} *interned;

/* A copy of url that lives as long as the process (one per distinct URL: the layers of the
 * configuration and of discovery are few). NULL when out of memory. */
static const char *url_intern(const char *url)
{
	struct interned *i;

	pthread_mutex_lock(&intern_lock);
	for (i = interned; i && strcmp(i->url, url); i = i->next)
		;
	if (!i && (i = malloc(sizeof *i + strlen(url) + 1))) {
		strcpy(i->url, url);
		i->next = interned;
		interned = i;
	}
	pthread_mutex_unlock(&intern_lock);
	return i ? i->url : NULL;
}

static struct layer_set *set_hold(struct blobs *b)
{
	struct layer_set *s;

	pthread_mutex_lock(&b->lock);
	s = b->set;
	s->refs++;
	pthread_mutex_unlock(&b->lock);
	return s;
}

static void set_drop(struct blobs *b, struct layer_set *s)
{
	bool last;

	pthread_mutex_lock(&b->lock);
	last = --s->refs == 0;
	pthread_mutex_unlock(&b->lock);
	if (last)
		free(s);
}

/* snprintf for paths: -ENAMETOOLONG instead of a silently cut path. */
__attribute__((format(printf, 3, 4)))
static int pathf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* The path of a blob below a store's namespace folder: "H0/H1/HASH". */
static void blob_rel(const uint8_t *hash, size_t len, char *out)
{
	char hex[2 * FLIST_HASH_MAX + 1];

	flist_hash_hex(hash, len, hex);
	sprintf(out, "%c/%c/%s", hex[0], hex[1], hex);
}

static int mkdirs(char *path, size_t from)
{
	for (char *p = path + from; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) && errno != EEXIST) {
			*p = '/';
			return -errno;
		}
		*p = '/';
	}
	return 0;
}

/* Can the workers create files in dir (creating it if needed)? */
static bool dir_writable(const char *dir)
{
	char path[PATH_MAX];

	if (snprintf(path, sizeof path, "%s/", dir) >= (int)sizeof path)
		return false;
	if (mkdirs(path, 1))
		return false;
	return access(dir, W_OK | X_OK) == 0;
}

/* The 16 + 256 folders H0/ and H0/H1/ of the local cache, made now rather than one by one on the
 * path of the opens that first need them (a mkdir costs an ext4 inode and a journal entry). */
static void make_fanout(const char *root)
{
	static const char hex[] = "0123456789abcdef";
	char path[PATH_MAX];

	if (pathf(path, sizeof path, "%s/0/0/", root) || mkdirs(path, 1))
		return;         /* not writable: said when the cache was chosen */
	for (int i = 0; i < 16; i++) {
		snprintf(path, sizeof path, "%s/%c", root, hex[i]);
		if (mkdir(path, 0755) && errno != EEXIST)
			return;
		for (int j = 0; j < 16; j++) {
			snprintf(path, sizeof path, "%s/%c/%c", root, hex[i], hex[j]);
			if (mkdir(path, 0755) && errno != EEXIST)
				return;
		}
	}
}

/* Remove everything below the folder fd (then closed), never following a symlink. */
static int remove_below(int dfd)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	int rc = 0;

	if (!d) {
		close(dfd);
		return -errno;
	}
	while ((de = readdir(d))) {
		int sub;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0)
			continue;
		if (errno != EISDIR && errno != EPERM) {
			rc = -errno;
			continue;
		}
		sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0) {
			rc = -errno;
			continue;
		}
		if (remove_below(sub) || unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR))
			rc = -EIO;
	}
	closedir(d);
	return rc;
}

static void purge(const char *url, const char *dir, const char *ns)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof path, "%s/%s", dir, ns);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT)
			log_warn("%s: cannot purge %s: %s", url, path, strerror(errno));
		return;
	}
	if (remove_below(fd))
		log_warn("%s: purge of %s was incomplete", url, path);
	else
		log_info("%s: purged %s", url, path);
}

/* ---- copying a candidate into the cache ------------------------------------------------------- */

/* Copy src into dst (both fds), hashing what is written. When `bro`, src is brotli and is
 * decompressed. Fails when the content is longer than `size`. */
static int copy_hashing(int src, int dst, bool bro, uint64_t size, struct hasher *h,
			uint64_t *written, char *why, size_t whylen)
{
	static __thread uint8_t *in, *out;
	BrotliDecoderState *st = NULL;
	int rc = 0;

	if ((!in && !(in = malloc(COPY_BUF))) || (!out && !(out = malloc(COPY_BUF))))
		return -ENOMEM;
	if (bro && !(st = BrotliDecoderCreateInstance(NULL, NULL, NULL)))
		return -ENOMEM;
	*written = 0;
	for (;;) {
		ssize_t n = read(src, in, COPY_BUF);
		const uint8_t *next_in = in;
		size_t avail_in = n > 0 ? (size_t)n : 0;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			snprintf(why, whylen, "read: %s", strerror(errno));
			rc = -EIO;
			break;
		}
		if (n == 0 && !bro)
			break;
		do {
			const uint8_t *chunk = next_in;
			size_t len = avail_in;

			if (bro) {
				uint8_t *next_out = out;
				size_t avail_out = COPY_BUF;
				BrotliDecoderResult r = BrotliDecoderDecompressStream(st, &avail_in, &next_in,
					&avail_out, &next_out, NULL);

				if (r == BROTLI_DECODER_RESULT_ERROR) {
					snprintf(why, whylen, "corrupt brotli data");
					rc = -EIO;
					goto out;
				}
				chunk = out;
				len = COPY_BUF - avail_out;
				if (r == BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT && n == 0) {
					snprintf(why, whylen, "truncated brotli data");
					rc = -EIO;
					goto out;
				}
				if (r == BROTLI_DECODER_RESULT_SUCCESS && avail_in == 0 && len == 0)
					n = 0;  /* finished: stop after this chunk */
			} else {
				avail_in = 0;
			}
			/* A copy longer than the flist says is wrong, and a bomb must not fill the disk. */
			if (len > size - *written) {
				snprintf(why, whylen, "larger than the listed %llu bytes",
					 (unsigned long long)size);
				rc = -EIO;
				goto out;
			}
			for (size_t off = 0; off < len;) {
				ssize_t w = write(dst, chunk + off, len - off);

				if (w < 0) {
					if (errno == EINTR)
						continue;
					snprintf(why, whylen, "cache write: %s", strerror(errno));
					rc = -errno;
					goto out;
				}
				off += (size_t)w;
			}
			hasher_update(h, chunk, len);
			*written += len;
		} while (bro && (avail_in > 0 || BrotliDecoderHasMoreOutput(st)));
		if (n == 0)
			break;
	}
out:
	if (st)
		BrotliDecoderDestroyInstance(st);
	return rc;
}

/* A temporary file in dir, unnamed when the filesystem allows it. Blobs for the local cache are
 * all begun in its root, CACHE/NAMESPACE, not in their own H0/H1 folder: ext4 places a new inode
 * near its folder's, and 256 folders spread over as many block groups cost a bitmap and an inode
 * table read each on a cold cache (about twice the time of a tmpfile in one folder, measured). */
static int tmp_open(const char *dir, char *named, size_t namedsz)
{
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, BLOB_MODE);

	named[0] = '\0';
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR))
		return fd < 0 ? -errno : fd;
	snprintf(named, namedsz, "%s/.tmp-XXXXXX", dir);
	fd = mkostemp(named, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	fchmod(fd, BLOB_MODE);
	return fd;
}

static void tmp_discard(int fd, const char *named)
{
	if (named[0])
		unlink(named);
	close(fd);
}

/* A fetch's file, made by fetch_urls once the request is on its way (struct fetch_sink). Then
 * the blob's name is looked up, which nothing needs yet: on a cold disk that reads its H0/H1
 * folder (about half a millisecond, measured), which the rename after the download would read
 * otherwise, on the open's path. */
struct tmp_req {
	const char *dir, *final;
	char *named;
	size_t namedsz;
};

static int tmp_open_req(void *arg)
{
	struct tmp_req *t = arg;
	int fd = tmp_open(t->dir, t->named, t->namedsz);
	struct stat st;

	if (fd >= 0)
		(void)!lstat(t->final, &st);
	return fd;
}

/* A new read-only open file description of the file fd is open on: the very inode, never a
 * lookup by name (an offset of its own, for readers that do not give one). */
static int reopen_ro(int fd)
{
	char proc[64];

	snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
	return open(proc, O_RDONLY | O_CLOEXEC);
}

/* ---- sources: candidate copies ---------------------------------------------------------------- */

/* A candidate copy of the blob from one source (the local cache, a folder layer, the network), in a
 * temporary file of the cache, with what its bytes hash to. Nothing in it is trusted: admit()
 * decides. */
struct copy {
	int fd;                         /* read-write; -1 when none */
	char named[PATH_MAX];           /* its name where O_TMPFILE is not supported, else "" */
	uint8_t got[FLIST_HASH_MAX];
	uint64_t len;
};

static void copy_discard(struct copy *c)
{
	if (c->fd >= 0)
		tmp_discard(c->fd, c->named);
	c->fd = -1;
	c->named[0] = '\0';
}

/* Copy `in` (brotli when bro) into a new temporary file of the cache, hashing what is written. */
static int copy_from(struct blobs *b, int in, bool bro, size_t hash_len, uint64_t size,
		     struct copy *c, char *why, size_t whylen)
{
	struct hasher h;
	int rc;

	c->fd = tmp_open(b->cache_root, c->named, sizeof c->named);
	if (c->fd < 0) {
		rc = c->fd;
		snprintf(why, whylen, "cache: %s", strerror(-rc));
		return rc;
	}
	if ((rc = hasher_init(&h, hash_len))) {
		copy_discard(c);
		return rc;
	}
	rc = copy_hashing(in, c->fd, bro, size, &h, &c->len, why, whylen);
	if (rc) {
		hasher_abort(&h);
		copy_discard(c);
		return rc;
	}
	hasher_final(&h, c->got);
	return 0;
}

/* A folder layer's copy (HASH, else HASH.bro). Returns 0 with *c, 1 when the layer does not have
 * it, or -errno with the reason in why. */
static int from_folder(struct blobs *b, const char *dir, const char *rel, size_t hash_len,
		       uint64_t size, struct copy *c, char *why, size_t whylen)
{
	char src[PATH_MAX];
	struct stat st;
	bool bro = false;
	int in, rc;

	if (pathf(src, sizeof src - 4, "%s/%s/%s", dir, b->conf->namespace, rel)) {
		snprintf(why, whylen, "path too long");
		return -ENAMETOOLONG;
	}
	/* O_NONBLOCK: a FIFO planted in a store must not hang the open. */
	in = open(src, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (in < 0 && errno == ENOENT) {
		strcat(src, ".bro");
		bro = true;
		in = open(src, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	}
	if (in < 0) {
		if (errno == ENOENT)
			return 1;
		snprintf(why, whylen, "%s", strerror(errno));
		return -errno;
	}
	if (fstat(in, &st) || !S_ISREG(st.st_mode)) {
		close(in);
		snprintf(why, whylen, "not a regular file");
		return -EIO;
	}
	if (!bro && (uint64_t)st.st_size != size) {
		close(in);
		snprintf(why, whylen, "size %lld, listed %llu", (long long)st.st_size,
			 (unsigned long long)size);
		return -EIO;
	}
	fcntl(in, F_SETFL, 0);
	posix_fadvise(in, 0, 0, POSIX_FADV_SEQUENTIAL);
	rc = copy_from(b, in, bro, hash_len, size, c, why, whylen);
	close(in);
	return rc;
}

/* The network layers [first, last] in one request to the fetcher (each layer as HASH, then
 * HASH.bro); kind FETCH_BLOB, or FETCH_BLOB_AHEAD for read-ahead. The body is hashed as it
 * arrives; a .bro body is decompressed into a second file, hashing as it goes. Returns 0 with *c
 * and *found set to its layer, -EBADMSG when that layer's .bro did not decompress (why says so),
 * 1 when none had it, -EAGAIN when read-ahead stopped at a layer not known to answer, or -errno;
 * every layer tried is appended to `tried`. */
static int from_network(struct blobs *b, const struct layer_set *s, uint32_t first,
			uint32_t last, int kind, const char *rel, size_t hash_len, uint64_t size,
			struct copy *c, uint32_t *found, char *tried, size_t *tlen, size_t tsize,
			char *why, size_t whylen)
{
	const char *urls[2 * WCONF_MAX_LAYERS];
	char (*urls_buf)[PATH_MAX] = calloc(2 * (last - first + 1), PATH_MAX), final[PATH_MAX];
	unsigned n = 0, start = 0, restarts = 0;
	struct fetch_result res;
	int rc = 1, broke = 0;

	if (!urls_buf)
		return -ENOMEM;
	for (uint32_t i = first; i <= last && n + 2 <= 2 * WCONF_MAX_LAYERS; i++) {
		const char *url = s->layer[i].url;
		size_t ul = strlen(url);

		/* "http://host/store/" and "http://host/store" name one store. */
		while (ul > 0 && url[ul - 1] == '/')
			ul--;
		if (pathf(urls_buf[n], PATH_MAX, "%.*s/%s/%s", (int)ul, url, b->conf->namespace, rel) ||
		    pathf(urls_buf[n + 1], PATH_MAX, "%s.bro", urls_buf[n])) {
			free(urls_buf);
			return -ENAMETOOLONG;   /* URL i must stay layer first + i / 2 */
		}
		urls[n] = urls_buf[n];
		urls[n + 1] = urls_buf[n + 1];
		n += 2;
	}
	if (pathf(final, sizeof final, "%s/%s", b->cache_root, rel)) {
		free(urls_buf);
		return -ENAMETOOLONG;
	}
	while (start < n) {
		/* The fetcher bounds a request by 30 s + max_size at 1 MiB/s; wait a margin longer. */
		unsigned deadline = 90 + (unsigned)((size + size / 8 + 4096) >> 20);
		struct tmp_req t = { b->cache_root, final, c->named, sizeof c->named };
		struct fetch_sink out = { .fd = -1, .open = tmp_open_req, .arg = &t };
		struct hasher h;

		c->named[0] = '\0';
		if ((rc = hasher_init(&h, hash_len)))
			break;
		/* A .bro body may be a little larger than the content in the worst case. */
		rc = fetch_urls(&out, &h, kind, size + size / 8 + 4096, urls + start, n - start,
				deadline, &res);
		hasher_final(&h, c->got);
		c->fd = out.fd;
		c->len = res.bytes;
		if (*tlen < tsize)
			*tlen += (size_t)snprintf(tried + *tlen, tsize - *tlen, "; %s", res.reason);
		if (c->fd < 0) {                /* the file could not be made (said in res.reason) */
			rc = rc ? rc : -EIO;
			break;
		}
		if (rc == -ECONNRESET && res.url_index >= n - start && restarts++ < 2) {
			copy_discard(c);        /* the fetcher restarted: ask the next one */
			continue;
		}
		if (rc && res.url_index < n - start) {
			/* That body broke off (its layer is down now): the next layer, new file. */
			copy_discard(c);
			broke = rc;
			start = ((start + res.url_index) / 2 + 1) * 2;
			continue;
		}
		if (rc || res.url_index >= n - start) {
			copy_discard(c);
			rc = rc == -ENOENT ? (broke ? broke : 1) : rc ? rc : -EIO;
			break;
		}
		start += res.url_index;
		*found = first + start / 2;
		if (start % 2) {                /* HASH.bro: the content is what it decompresses to */
			struct copy body = *c;

			c->fd = -1;
			c->named[0] = '\0';
			rc = lseek(body.fd, 0, SEEK_SET) ? -EIO :
			     copy_from(b, body.fd, true, hash_len, size, c, why, whylen);
			copy_discard(&body);
			if (rc)
				rc = -EBADMSG;  /* that layer's copy is bad */
			break;
		}
		rc = 0;
		break;
	}
	free(urls_buf);
	if (start >= n)                 /* every layer asked: none had it, or their bodies broke off */
		rc = broke ? broke : 1;
	return rc;
}

/* ---- admission -------------------------------------------------------------------------------- */

/* Give the temporary file fd (`named`, or unnamed when that is "") the name final, replacing
 * whatever stands there, by a rename, so that final never names a partial file; the temporary name
 * is made in tmpdir, final's folder is made when it is missing. Returns 0 or -errno; `named` is
 * "" afterwards (the file is final's, or gone). */
static int tmp_rename(int fd, char *named, const char *tmpdir, const char *final)
{
	static unsigned long seq;
	char tmp[PATH_MAX], dir[PATH_MAX], proc[64];
	int rc = 0;

	if (named[0]) {
		snprintf(tmp, sizeof tmp, "%s", named);
	} else {
		snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
		snprintf(tmp, sizeof tmp, "%s/.tmp-%d-%lu", tmpdir, getpid(),
			 __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED));
		if (linkat(AT_FDCWD, proc, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW))
			return -errno;
	}
	if (rename(tmp, final)) {
		rc = -errno;
		snprintf(dir, sizeof dir, "%s", final);
		strrchr(dir, '/')[1] = '\0';
		if (rc == -ENOENT && mkdirs(dir, 1) == 0)
			rc = rename(tmp, final) ? -errno : 0;
	}
	if (rc)
		unlink(tmp);
	named[0] = '\0';
	return rc;
}

/* The one way into the local cache and to the fuser, whatever the source: the copy's length and
 * hash against the flist's; a copy that matches gets the blob's name, is recorded as verified by
 * this node (cache_trust), and *fd is a read-only fd of that very file (no lookup by name between
 * the hashing and the fuser). Returns 0, or -EIO with the reason in why. */
static int admit(struct blobs *b, struct copy *c, const uint8_t *hash, size_t hash_len,
		 uint64_t size, const char *rel, int *fd, char *why, size_t whylen)
{
	char hex[2 * FLIST_HASH_MAX + 1], final[PATH_MAX];
	struct stat st;
	int rc;

	if (c->len != size) {
		snprintf(why, whylen, "%llu bytes, listed %llu", (unsigned long long)c->len,
			 (unsigned long long)size);
		return -EIO;
	}
	if (memcmp(c->got, hash, hash_len)) {
		flist_hash_hex(c->got, hash_len, hex);
		snprintf(why, whylen, "hash mismatch (content hashes to %s)", hex);
		return -EIO;
	}
	*fd = -1;
	if ((rc = pathf(final, sizeof final, "%s/%s", b->cache_root, rel)) ||
	    (rc = tmp_rename(c->fd, c->named, b->cache_root, final)) ||
	    (*fd = reopen_ro(c->fd)) < 0 || fstat(*fd, &st)) {
		rc = rc ? rc : -errno;
		snprintf(why, whylen, "cache: %s", strerror(-rc));
		if (*fd >= 0)
			close(*fd);
		return rc;
	}
	/* After the rename: a link and a rename change the change time. */
	cache_trust(hash, hash_len, &st);
	return 0;
}

/* ---- write-back ------------------------------------------------------------------------------- */

/* Write the verified blob (fd) into the folder cache dir, unless it has it; `replace`: its copy
 * failed verification, and the verified one takes its place. */
static void copy_into(int in, const char *dir, const char *ns, const char *rel, bool replace)
{
	char final[PATH_MAX], tmpdir[PATH_MAX], named[PATH_MAX];
	off_t len, off = 0;
	struct stat st;
	int out;

	if (pathf(final, sizeof final, "%s/%s/%s", dir, ns, rel) ||
	    (!replace && access(final, F_OK) == 0))
		return;
	snprintf(tmpdir, sizeof tmpdir, "%s", final);
	*strrchr(tmpdir, '/') = '\0';
	strcat(tmpdir, "/");
	if (mkdirs(tmpdir, strlen(dir)))
		return;
	tmpdir[strlen(tmpdir) - 1] = '\0';
	out = tmp_open(tmpdir, named, sizeof named);
	if (out < 0 || fstat(in, &st)) {
		if (out >= 0)
			tmp_discard(out, named);
		return;
	}
	for (len = st.st_size; len > 0;) {
		ssize_t n = copy_file_range(in, &off, out, NULL, (size_t)len, 0);

		if (n <= 0)
			break;
		len -= n;
	}
	if (len == 0 && tmp_rename(out, named, tmpdir, final) == 0) {
		if (replace)
			log_notice("%s: the bad copy of %s was replaced by the verified blob", dir, rel);
		else
			log_debug("%s: written back %s", dir, rel);
	}
	tmp_discard(out, named);
}

/* Record that a blob is pushed; false when it already was. An open-addressing set of 64-bit keys. */
static bool pushed_add(struct blobs *b, const char *rel)
{
	char hex[17];
	uint64_t key;
	size_t i;

	/* 16 hex digits from the middle of the name: enough to tell blobs apart, never 0. */
	memcpy(hex, strrchr(rel, '/') + 1 + 8, 16);
	hex[16] = '\0';
	key = strtoull(hex, NULL, 16) | 1;

	if (b->npushed * 2 >= b->cap_pushed) {
		size_t cap = b->cap_pushed ? b->cap_pushed * 2 : 1024;
		uint64_t *n = calloc(cap, sizeof *n);

		if (!n)
			return true;
		for (size_t j = 0; j < b->cap_pushed; j++) {
			if (!b->pushed[j])
				continue;
			for (i = b->pushed[j] & (cap - 1); n[i]; i = (i + 1) & (cap - 1))
				;
			n[i] = b->pushed[j];
		}
		free(b->pushed);
		b->pushed = n;
		b->cap_pushed = cap;
	}
	for (i = key & (b->cap_pushed - 1); b->pushed[i]; i = (i + 1) & (b->cap_pushed - 1))
		if (b->pushed[i] == key)
			return false;
	b->pushed[i] = key;
	b->npushed++;
	return true;
}

static bool is_push_cache(const struct layer_set *s, int i)
{
	const struct set_layer *l = &s->layer[i];

	return (l->flags & (WL_CACHE | WL_PUSH)) == (WL_CACHE | WL_PUSH) && !layer_local_path(l->url);
}

static void push(struct blobs *b, int in, const char *url_base, const char *rel)
{
	char url[PATH_MAX];
	size_t ul = strlen(url_base);
	struct stat st;
	int fd, rc;

	while (ul > 0 && url_base[ul - 1] == '/')
		ul--;
	if (pathf(url, sizeof url, "%.*s/%s/%s", (int)ul, url_base, b->conf->namespace, rel))
		return;
	if ((fd = reopen_ro(in)) < 0)   /* an offset of its own for the fetcher */
		return;
	if (fstat(fd, &st) == 0 && (rc = fetch_push(fd, (uint64_t)st.st_size, url)))
		log_warn("%s: cannot hand the blob to the fetcher: %s", url, strerror(-rc));
	close(fd);
}

static void *writeback_main(void *arg)
{
	struct blobs *b = arg;

	pthread_mutex_lock(&b->lock);
	for (;;) {
		struct writeback *w;

		while (!b->wb_head && !b->wb_stop)
			pthread_cond_wait(&b->cond, &b->lock);
		if (!b->wb_head)
			break;
		w = b->wb_head;
		b->wb_head = w->next;
		if (!b->wb_head)
			b->wb_tail = &b->wb_head;
		pthread_mutex_unlock(&b->lock);
		bool first_push = true, fresh = false;
		const struct layer_set *s = w->set;

		for (int i = 0; i < w->upto; i++) {
			const char *dir = layer_local_path(s->layer[i].url);

			if (dir && s->writable[i] && i != s->cache_layer)
				copy_into(w->fd, dir, b->conf->namespace, w->rel, w->bad >> i & 1);
			if (is_push_cache(s, i)) {
				if (first_push)
					fresh = pushed_add(b, w->rel);
				first_push = false;
				if (fresh)
					push(b, w->fd, s->layer[i].url, w->rel);
			}
		}
		close(w->fd);
		set_drop(b, w->set);
		free(w);
		pthread_mutex_lock(&b->lock);
	}
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

/* Queue the write-back of the verified blob (fd) into the writable caches before layer upto; bad:
 * those whose copy failed verification, replaced. */
static void writeback_queue(struct blobs *b, struct layer_set *s, int fd, const char *rel,
			    int upto, uint64_t bad)
{
	struct writeback *w;
	bool any = false;

	for (int i = 0; i < upto; i++)
		any |= (s->writable[i] && i != s->cache_layer) || is_push_cache(s, i);
	if (!any || !(w = calloc(1, sizeof *w)))
		return;
	if ((w->fd = reopen_ro(fd)) < 0) {
		free(w);
		return;
	}
	snprintf(w->rel, sizeof w->rel, "%s", rel);
	w->upto = upto;
	w->bad = bad;
	w->set = s;
	pthread_mutex_lock(&b->lock);
	s->refs++;
	*b->wb_tail = w;
	b->wb_tail = &w->next;
	pthread_cond_signal(&b->cond);
	pthread_mutex_unlock(&b->lock);
}

/* ---- the interface ---------------------------------------------------------------------------- */

/* A layer set from a layer list: which folder caches the workers can write (purged first when
 * `purge`). Layers that `old` had already are not logged again. NULL when out of memory. */
static struct layer_set *set_build(const struct worker_conf *c, const struct wire_layer *layers,
				   uint32_t n, bool purge_caches, const struct layer_set *old)
{
	struct layer_set *s = calloc(1, sizeof *s);

	if (!s)
		return NULL;
	s->refs = 1;
	s->cache_layer = -1;
	for (uint32_t i = 0; i < n && i < WCONF_MAX_LAYERS; i++) {
		const char *dir = layer_local_path(layers[i].url);
		bool known = false;
		char ns[PATH_MAX];

		s->layer[i].url = url_intern(layers[i].url);
		s->layer[i].flags = layers[i].flags;
		if (!s->layer[i].url) {
			free(s);
			return NULL;
		}
		s->n = i + 1;
		for (uint32_t j = 0; old && j < old->n; j++)
			known |= old->layer[j].url == s->layer[i].url;
		/* Writable folder caches; stores are never written. */
		if (!dir || !(layers[i].flags & WL_CACHE))
			continue;
		snprintf(ns, sizeof ns, "%s/%s", dir, c->namespace);
		s->writable[i] = access(dir, F_OK) == 0 && dir_writable(ns);
		if (s->writable[i] && layers[i].flags & WL_PURGE && purge_caches)
			purge(layers[i].url, dir, c->namespace);
		if (!s->writable[i] && !known)
			log_info("%s: not writable by the workers; used read-only", layers[i].url);
	}
	return s;
}

struct blobs *blobs_new(const struct worker_conf *c, bool purge_caches)
{
	struct blobs *b = calloc(1, sizeof *b);
	struct layer_set *s;

	if (!b)
		return NULL;
	b->conf = c;
	b->root_fd = -1;
	b->wb_tail = &b->wb_head;
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->cond, NULL);

	s = set_build(c, c->layers, c->nlayers, purge_caches, NULL);
	if (!s) {
		free(b);
		return NULL;
	}
	b->set = s;
	/* The local cache: the first writable folder cache, else cache_dir. It stays for the life
	 * of the process, whatever later layer lists say. */
	for (uint32_t i = 0; i < s->n; i++)
		if (s->writable[i]) {
			s->cache_layer = (int)i;
			b->cache_url = s->layer[i].url;
			snprintf(b->cache_root, sizeof b->cache_root, "%s/%s",
				 layer_local_path(s->layer[i].url), c->namespace);
			break;
		}
	if (s->cache_layer < 0) {
		snprintf(b->cache_root, sizeof b->cache_root, "%s/%s", c->cache_dir, c->namespace);
		b->cache_url = url_intern(c->cache_dir);
		if (!b->cache_url) {
			free(s);
			free(b);
			return NULL;
		}
		if (!dir_writable(b->cache_root))
			log_warn("local cache %s is not writable: blobs cannot be cached", b->cache_root);
	}
	log_info("local cache: %s", b->cache_root);
	make_fanout(b->cache_root);
	b->root_fd = open(b->cache_root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (pthread_create(&b->wb_thread, NULL, writeback_main, b) == 0)
		b->wb_running = true;
	return b;
}

int blobs_set_layers(struct blobs *b, const struct wire_layer *layers, uint32_t n)
{
	struct layer_set *old = set_hold(b), *s = set_build(b->conf, layers, n, false, old);

	if (!s) {
		set_drop(b, old);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < s->n; i++)
		if (s->layer[i].url == b->cache_url)
			s->cache_layer = (int)i;
	pthread_mutex_lock(&b->lock);
	b->set = s;
	pthread_mutex_unlock(&b->lock);
	set_drop(b, old);       /* ours */
	set_drop(b, old);       /* the blobs' own: in-flight opens and write-backs keep theirs */
	return 0;
}

const char *blobs_cache_root(const struct blobs *b)
{
	return b->cache_root;
}

void blobs_free(struct blobs *b)
{
	if (!b)
		return;
	if (b->wb_running) {
		pthread_mutex_lock(&b->lock);
		b->wb_stop = true;
		pthread_cond_signal(&b->cond);
		pthread_mutex_unlock(&b->lock);
		pthread_join(b->wb_thread, NULL);
	}
	pthread_mutex_destroy(&b->lock);
	pthread_cond_destroy(&b->cond);
	if (b->root_fd >= 0)
		close(b->root_fd);
	free(b->set);
	free(b->pushed);
	free(b);
}

/* Open the blob's file in the local cache, read-only, below its root and through no symlink (a
 * link planted at a blob's name is not followed); resolve: more RESOLVE_* flags. Returns 0 with *fd
 * and *st, -EBADMSG for something that is not a regular file (left in place), or -errno. */
static int cache_file_open(struct blobs *b, const char *rel, uint64_t resolve, int *fd,
			   struct stat *st)
{
	struct open_how how = {
		.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | resolve,
	};

	if (b->root_fd < 0)
		return -ENOENT;
	*fd = (int)syscall(SYS_openat2, b->root_fd, rel, &how, sizeof how);
	if (*fd < 0)
		return errno == ELOOP ? -EBADMSG : -errno;
	if (fstat(*fd, st) == 0 && S_ISREG(st->st_mode)) {
		fcntl(*fd, F_SETFL, 0);
		return 0;
	}
	close(*fd);
	*fd = -1;
	return -EBADMSG;
}

int blob_cached(struct blobs *b, const uint8_t *hash, size_t hash_len, uint64_t size, int *fd,
		const char **layer)
{
	char rel[8 + 2 * FLIST_HASH_MAX];
	struct stat st;
	int rc;

	blob_rel(hash, hash_len, rel);
	/* RESOLVE_CACHED: only when every component is in the dentry cache, so no disk I/O. Anything
	 * but the very file this node verified is left to blob_get, which hashes or drops it. */
	rc = cache_file_open(b, rel, RESOLVE_CACHED, fd, &st);
	if (rc == 0 && ((uint64_t)st.st_size != size || !cache_trusted(hash, hash_len, &st))) {
		close(*fd);
		rc = -ENOENT;
	}
	if (rc == 0)
		*layer = b->cache_url;
	return rc == -EBADMSG ? -ENOENT : rc;
}

/* The local cache as a source: 0 with *fd when it holds the blob, hashed now unless this node
 * verified that very file (SPEC §6); 1 when it does not hold it; -EIO when what stands under the
 * blob's name is not the blob (removed, and said in why). */
static int from_cache(struct blobs *b, const uint8_t *hash, size_t hash_len, uint64_t size,
		      const char *rel, const char *path, int *fd, char *why, size_t whylen)
{
	struct copy c = { .fd = -1 };
	struct stat st;
	int in, rc = cache_file_open(b, rel, 0, &in, &st);

	if (rc == -ENOENT)
		return 1;
	if (rc == 0 && (uint64_t)st.st_size == size && cache_trusted(hash, hash_len, &st)) {
		*fd = in;
		return 0;
	}
	if (rc == 0 && (uint64_t)st.st_size == size) {
		log_info("%s: cached blob %s was not verified by this node, or changed since: hashing it",
			 path, rel);
		cache_count_rehash();
		rc = copy_from(b, in, false, hash_len, size, &c, why, whylen);
		if (rc == 0)
			rc = admit(b, &c, hash, hash_len, size, rel, fd, why, whylen);
		copy_discard(&c);
	} else if (rc == 0) {
		snprintf(why, whylen, "size %lld, listed %llu", (long long)st.st_size,
			 (unsigned long long)size);
		rc = -EIO;
	} else {
		snprintf(why, whylen, "%s", rc == -EBADMSG ? "not a regular file" : strerror(-rc));
	}
	if (in >= 0)
		close(in);
	if (rc == 0)
		return 0;
	cache_distrust(hash, hash_len);
	/* Whatever it is (a symlink included: unlinkat does not follow it), it is not the blob. */
	if (unlinkat(b->root_fd, rel, 0) == 0)
		log_warn("%s: local cache %s: blob %s: %s; removed", path, b->cache_url, rel, why);
	else
		log_warn("%s: local cache %s: blob %s: %s; cannot remove it: %s", path, b->cache_url,
			 rel, why, strerror(errno));
	return -EIO;
}

static int get_in(struct blobs *b, struct layer_set *s, const uint8_t *hash, size_t hash_len,
		  uint64_t size, const char *path, unsigned flags, int *fd, const char **layer,
		  bool *hit);

int blob_get(struct blobs *b, const uint8_t *hash, size_t hash_len, uint64_t size,
	     const char *path, unsigned flags, int *fd, const char **layer, bool *hit)
{
	struct layer_set *s = set_hold(b);
	int rc = get_in(b, s, hash, hash_len, size, path, flags, fd, layer, hit);

	set_drop(b, s);
	return rc;
}

/* Every source in order, the local cache first; every copy through admit(). */
static int get_in(struct blobs *b, struct layer_set *s, const uint8_t *hash, size_t hash_len,
		  uint64_t size, const char *path, unsigned flags, int *fd, const char **layer,
		  bool *hit)
{
	char rel[8 + 2 * FLIST_HASH_MAX], tried[1024], why[256];
	bool prefetch = flags & BLOB_AHEAD;
	struct copy c = { .fd = -1 };
	uint64_t bad = 0;               /* writable layers whose copy failed verification */
	size_t tlen;
	int rc = 1;

	*hit = false;
	blob_rel(hash, hash_len, rel);
	if (!(flags & BLOB_NOT_CACHED))
		rc = from_cache(b, hash, hash_len, size, rel, path, fd, why, sizeof why);
	if (rc == 0) {
		*layer = b->cache_url;
		*hit = true;
		return 0;
	}
	tlen = (size_t)snprintf(tried, sizeof tried, "local cache: %s", rc == 1 ? "not there" : why);
	for (uint32_t i = 0; i < s->n; i++) {
		const char *dir = layer_local_path(s->layer[i].url);
		uint32_t last = i, from = i;
		bool copied;

		if ((int)i == s->cache_layer)
			continue;
		if (dir) {
			rc = from_folder(b, dir, rel, hash_len, size, &c, why, sizeof why);
		} else {
			while (last + 1 < s->n && !layer_local_path(s->layer[last + 1].url))
				last++;
			/* A prefetch is read-ahead: the fetcher takes it only from layers that have
			 * answered, after every open, and stops (-EAGAIN) before any other. */
			rc = from_network(b, s, i, last, prefetch ? FETCH_BLOB_AHEAD : FETCH_BLOB, rel,
					  hash_len, size, &c, &from, tried, &tlen, sizeof tried, why,
					  sizeof why);
		}
		copied = rc == 0;
		if (copied)
			rc = admit(b, &c, hash, hash_len, size, rel, fd, why, sizeof why);
		copy_discard(&c);
		if (rc == 0) {
			*layer = s->layer[from].url;
			writeback_queue(b, s, *fd, rel, (int)from, bad);
			return 0;
		}
		if (rc == -EAGAIN) {
			log_debug("%s: read-ahead of %s left to the open (%s)", path,
				  strrchr(rel, '/') + 1, tried);
			return rc;
		}
		if (rc == 1 && dir && tlen < sizeof tried)
			tlen += (size_t)snprintf(tried + tlen, sizeof tried - tlen, "; %s: not there",
						 s->layer[i].url);
		if (rc == 1 || (!dir && !copied && rc != -EBADMSG)) {
			i = last;               /* not there, or the network failed (said in tried) */
			continue;
		}
		/* A copy that is not the blob: the next layer, and a writable cache gets the good one. */
		log_warn("%s: %s: blob %s: %s", path, s->layer[from].url, rel, why);
		if (tlen < sizeof tried)
			tlen += (size_t)snprintf(tried + tlen, sizeof tried - tlen, "; %s: %s",
						 s->layer[from].url, why);
		if (s->writable[from] && (copied || rc == -EIO || rc == -EBADMSG))
			bad |= 1ull << from;
		i = from;
	}
	if (prefetch)    /* no one has opened it yet: an open that comes will say it */
		log_debug("%s: prefetch: no valid copy of %s (%s)", path, strrchr(rel, '/') + 1, tried);
	else
		log_err("%s: no valid copy of %s in any layer (%s)", path, strrchr(rel, '/') + 1, tried);
	return -EIO;
}
