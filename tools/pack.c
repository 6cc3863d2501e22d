/* aysfs-pack — publishes a folder into a store: its blobs as NS/H0/H1/HASH and its flist as
 * NS/md/ID.flist (SPEC sections 1, 2 and 4).
 *
 * The main thread walks SRC_DIR through directory fds only (fstatat/openat relative to the parent,
 * AT_SYMLINK_NOFOLLOW, O_NOFOLLOW): no symlink below SRC_DIR is followed, nothing outside it is
 * read. It opens each regular file and hands the fd to a pool of workers through a bounded queue;
 * a worker hashes the file and, when the store lacks the blob, writes it. The flist comes last,
 * after syncfs() of the store, so that a published flist never names a blob a crash could lose.
 * One file although past 800 lines: walker, workers and store share one small state (P) that no
 * other program uses.
 *
 * Where the brief is silent:
 *  - SRC_DIR itself may be a symlink (the command line's choice, as with find -H). STORE is
 *    created when missing, but not its parent: a mistyped path fails instead of growing a tree.
 *  - A blob is written to an O_TMPFILE file linked into place, so a crash or ^C leaves nothing;
 *    where O_TMPFILE or /proc is missing, to "H0/H1/.HASH.PID.N.tmp" renamed into place.
 *  - A file of up to CHUNK bytes is read once; a larger one twice (hash, then copy), and the copy
 *    is hashed again: a file that changes meanwhile is an error, never a blob under a wrong name.
 *  - A blob is present when a regular file of its name and size exists; with -bro, a non-empty
 *    HASH.bro (its compressed size is not known without compressing). Others are replaced.
 *  - STORE and STORE/NS are skipped if they lie inside SRC_DIR; entries that vanish during the
 *    walk are skipped with a warning. -q drops the progress line and the summary.
 *  - Lines are sorted by the bytes of the path as written (percent-encoded).
 *  - -sign: the key is read before anything is written (a wrong key costs no blob); the .sig is
 *    written, as the flist is, through a temporary file renamed into place, after the flist. The
 *    revision defaults to the publish time, so that it grows with each publication from one
 *    machine; a publisher with several machines gives -revision. keygen never replaces a file.
 *  - Messages are "aysfs-pack: LEVEL: message" on stderr; control characters in them (say, a
 *    newline in a file name) are shown as '?'. The progress line's totals grow while the walk
 *    runs; its ETA (bytes left at the rate so far) is shown once the walk is over. */
#include "indexer/flist.h"
#include "indexer/hash.h"
#include "indexer/sig.h"
#include "ipc/log.h"
#include "tools/upload.h"

#include <brotli/encode.h>
#include <dirent.h>
#include <ftw.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CHUNK           (1u << 20)      /* read size; a file that fits is read only once */
#define BRO_OUT         (64u << 10)
#define BRO_QUALITY     9
#define QUEUE_LEN       64              /* opened files waiting for a worker */
#define MAX_JOBS        1024

static const char usage_text[] =
	"usage: aysfs-pack [options] SRC_DIR STORE ID\n"
	"       aysfs-pack keygen NAME\n"
	"Writes the blobs of SRC_DIR into STORE/NS/H0/H1/ and its flist as STORE/NS/md/ID.flist.\n"
	"STORE is a folder, s3://BUCKET/PATH, or an http(s):// URL that accepts PUT: the blobs it\n"
	"lacks are uploaded (asked for with HEAD), then the flist, then its signature.\n"
	"keygen writes an Ed25519 key pair: NAME.key (private, mode 0600) and NAME.pub, PEM.\n"
	"  -prefix P          the absolute path SRC_DIR stands for in the flist (default /)\n"
	"  -hash md5|sha256   content hash (default sha256; md5 for readers of the original format)\n"
	"  -namespace NS      store namespace (default dedupe)\n"
	"  -bro               store blobs brotli-compressed, as HASH.bro\n"
	"  -j N               hashing threads (default: the number of online CPUs)\n"
	"  -sign KEYFILE      sign the flist: writes STORE/NS/md/ID.flist.sig last\n"
	"  -revision N        the signed revision (default: now, in Unix seconds); must grow\n"
	"  -expires DAYS      the signature expires after DAYS days (default 30)\n"
	"  -endpoint URL      s3://: the S3 endpoint (default https://s3.amazonaws.com)\n"
	"  -region R          s3://: the region requests are signed for (default us-east-1)\n"
	"  -credentials FILE  s3://: access_key = ... and secret_key = ... (default: anonymous)\n"
	"  -order FILE        write order=N on the lines of the files FILE lists (flist paths, one a\n"
	"                     line, as aysfs-ctl MNT order SERVICE prints them): nodes fetch the\n"
	"                     next files of that order into their cache when one of them is opened\n"
	"  -q                 no progress line, no summary\n"
	"  -h, --help         this text\n"
	"Options take one or two dashes. Exit status: 0 done, 1 usage error, 2 I/O error.\n";

static struct {
	const char *src, *store, *ns, *id;
	char prefix[FLIST_PATH_MAX + 1];        /* normalised, no trailing '/': "" stands for "/" */
	size_t prefix_len, hash_len;            /* hash_len 16 (MD5) or 32 (SHA-256) */
	unsigned jobs;
	bool bro, quiet;
	const char *sign;               /* -sign KEYFILE */
	uint64_t revision;
	bool has_revision;
	uint64_t expires_days;
	struct upload_opts up;          /* a remote STORE */
	const char *order;              /* -order FILE */
} opt = { .ns = "dedupe", .hash_len = 32, .expires_days = 30 };
static struct sig_key sign_key;
static char sign_fp[SIG_FP_HEX + 1];

struct entry {
	char *path, *link;      /* percent-encoded */
	uint64_t size;          /* files: set by a worker */
	int64_t mtime;
	unsigned mode;
	char type;              /* enum flist_type */
	char hash[2 * FLIST_HASH_MAX + 1];      /* "" for an empty file */
	uint32_t order;         /* -order: its place in FILE, 0 none */
};

struct job {
	struct entry *e;
	int fd;
	char *where;            /* path on disk, for messages */
};

struct worker {
	pthread_t tid;
	uint8_t *buf;           /* CHUNK bytes: the whole file when it fits */
	uint8_t *out;           /* BRO_OUT bytes of compressed output */
};

/* Shared by the walker, the workers and the progress thread. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t not_empty, not_full;
	struct job q[QUEUE_LEN];
	unsigned head, n;
	bool closed, tmpfile, progress;
	int ns_fd, md_fd;
	struct stat store_st[2];        /* STORE and STORE/NS, never packed */
	double t0;
	atomic_bool failed, done;
	atomic_ulong files_done, files_found, blobs_new, blobs_old, tmp_seq;
	atomic_ullong bytes_done, bytes_found;
	atomic_bool walked;             /* the walk is over: the totals are final */
} P = { .lock = PTHREAD_MUTEX_INITIALIZER, .not_empty = PTHREAD_COND_INITIALIZER,
	.not_full = PTHREAD_COND_INITIALIZER };

struct walk {
	struct entry **v;
	size_t n, cap, src_len;
	unsigned long files, dirs, links;
	char rel[FLIST_PATH_MAX + 1];           /* path below SRC_DIR: "" or "/a/b" */
	char where[PATH_MAX + FLIST_PATH_MAX + 2];      /* SRC_DIR + rel, for messages */
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void clear_progress(void)
{
	if (P.progress)
		(void)!write(STDERR_FILENO, "\r\033[K", 4);
}

/* Report an error naming `where` (err 0: no errno text) and make every thread stop. */
static int fail(const char *where, const char *what, int err)
{
	clear_progress();
	log_err("%s: %s%s%s", where, what, err ? ": " : "", err ? strerror(-err) : "");
	atomic_store(&P.failed, true);
	return err ? err : -EIO;
}

static int skip(const char *where, const char *why)
{
	clear_progress();
	log_warn("%s: %s: skipped", where, why);
	return 0;
}

static ssize_t pread_full(int fd, void *buf, size_t n, off_t off)
{
	size_t got = 0;
	ssize_t r;

	while (got < n && (r = pread(fd, (char *)buf + got, n - got, off + (off_t)got)) != 0) {
		if (r < 0 && errno != EINTR)
			return -errno;
		got += r > 0 ? (size_t)r : 0;
	}
	return (ssize_t)got;
}

static int write_full(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t r = write(fd, p, n);

		if (r < 0 && errno != EINTR)
			return -errno;
		p += r > 0 ? r : 0;
		n -= r > 0 ? (size_t)r : 0;
	}
	return 0;
}

/* ---- blobs ------------------------------------------------------------------------------------ */

/* Where blob bytes go: the temporary file, through the brotli encoder with -bro. */
struct sink {
	int fd;
	BrotliEncoderState *enc;
	uint8_t *out;
};

static int sink_put(struct sink *s, const uint8_t *p, size_t n, bool last)
{
	BrotliEncoderOperation op = last ? BROTLI_OPERATION_FINISH : BROTLI_OPERATION_PROCESS;
	int r;

	if (!s->enc)
		return write_full(s->fd, p, n);
	for (;;) {
		size_t avail = BRO_OUT;
		uint8_t *next = s->out;

		if (!BrotliEncoderCompressStream(s->enc, op, &n, &p, &avail, &next, NULL))
			return -EPROTO;
		if ((r = write_full(s->fd, s->out, BRO_OUT - avail)))
			return r;
		if (n == 0 && !BrotliEncoderHasMoreOutput(s->enc) &&
		    (!last || BrotliEncoderIsFinished(s->enc)))
			return 0;
	}
}

/* Hash fd from its start, feeding every byte to s when s is set. Without s, the last chunk read
 * stays in wk->buf: the whole file when *size <= CHUNK. */
static int hash_fd(struct worker *wk, int fd, uint8_t *bin, uint64_t *size, struct sink *s)
{
	struct hasher h;
	uint64_t off = 0;
	ssize_t n;
	int r = hasher_init(&h, opt.hash_len);

	if (r)
		return r;
	do {
		n = pread_full(fd, wk->buf, CHUNK, (off_t)off);
		if (n >= 0 && s && (r = sink_put(s, wk->buf, (size_t)n, n < (ssize_t)CHUNK)))
			n = r;
		if (n < 0) {
			hasher_abort(&h);
			return (int)n;
		}
		hasher_update(&h, wk->buf, (size_t)n);
		off += (uint64_t)n;
		if (!s)
			atomic_fetch_add(&P.bytes_done, (unsigned long long)n);
	} while (n == (ssize_t)CHUNK);
	hasher_final(&h, bin);
	*size = off;
	return 0;
}

/* Does the store hold blob `name` (relative to the namespace folder)? */
static bool blob_present(const char *name, uint64_t size)
{
	struct stat st;

	if (fstatat(P.ns_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
		return false;
	return opt.bro ? st.st_size > 0 : (uint64_t)st.st_size == size;
}

/* Give the finished temporary file its blob name: 0 (new blob), 1 (another worker stored the
 * same content first) or -errno. */
static int blob_publish(int fd, const char *tmp, const char *name, uint64_t size)
{
	char proc[40];

	if (tmp[0])     /* rename(2) replaces a wrong blob atomically */
		return renameat(P.ns_fd, tmp, P.ns_fd, name) < 0 ? -errno : 0;
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
	for (int tries = 0;; tries++) {
		if (linkat(AT_FDCWD, proc, P.ns_fd, name, AT_SYMLINK_FOLLOW) == 0)
			return 0;
		if (errno != EEXIST || tries > 0)
			return -errno;
		if (blob_present(name, size))
			return 1;
		/* a blob of the wrong size: until the link, readers just find no blob */
		if (unlinkat(P.ns_fd, name, 0) < 0 && errno != ENOENT)
			return -errno;
	}
}

/* Write blob `name` of the file (hash bin, size bytes): 0, 1 (see blob_publish) or -errno. */
static int blob_write(struct worker *wk, int src, const char *name, const uint8_t *bin,
		      uint64_t size)
{
	char dir[4] = { name[0], 0, 0, 0 }, tmp[160] = "";
	struct sink s = { .fd = -1, .out = wk->out };
	uint8_t again[FLIST_HASH_MAX];
	uint64_t size2;
	uint32_t lgwin = BROTLI_DEFAULT_WINDOW;
	int r = 0;

	/* H0 then H0/H1; another worker may be creating them too */
	if (mkdirat(P.ns_fd, dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	memcpy(dir, name, 3);
	if (mkdirat(P.ns_fd, dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	if (P.tmpfile)
		s.fd = openat(P.ns_fd, dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0444);
	if (s.fd < 0) {
		snprintf(tmp, sizeof tmp, "%s/.%s.%ld.%lu.tmp", dir, name + 4, (long)getpid(),
			 atomic_fetch_add(&P.tmp_seq, 1));
		s.fd = openat(P.ns_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
		if (s.fd < 0)
			return -errno;
	}
	if (opt.bro && !(s.enc = BrotliEncoderCreateInstance(NULL, NULL, NULL)))
		r = -ENOMEM;
	if (s.enc) {
		/* a window no larger than the file: the encoder's tables grow with it, and
		 * setting them up would cost small files more than compressing them */
		while (lgwin > BROTLI_MIN_WINDOW_BITS && (1u << (lgwin - 1)) - 16 >= size)
			lgwin--;
		BrotliEncoderSetParameter(s.enc, BROTLI_PARAM_QUALITY, BRO_QUALITY);
		BrotliEncoderSetParameter(s.enc, BROTLI_PARAM_LGWIN, lgwin);
		BrotliEncoderSetParameter(s.enc, BROTLI_PARAM_SIZE_HINT,
					  size > UINT32_MAX ? UINT32_MAX : (uint32_t)size);
	}
	if (!r && size <= CHUNK)
		r = sink_put(&s, wk->buf, (size_t)size, true);
	else if (!r && !(r = hash_fd(wk, src, again, &size2, &s)))
		r = size2 != size || memcmp(again, bin, opt.hash_len) ? -ESTALE : 0;
	if (!r)
		r = blob_publish(s.fd, tmp, name, size);
	if (r < 0 && tmp[0])
		unlinkat(P.ns_fd, tmp, 0);
	if (s.enc)
		BrotliEncoderDestroyInstance(s.enc);
	close(s.fd);
	return r;
}

static void pack_file(struct worker *wk, struct job *j)
{
	struct entry *e = j->e;
	uint8_t bin[FLIST_HASH_MAX];
	char name[2 * FLIST_HASH_MAX + 16];
	uint64_t size;
	int r = hash_fd(wk, j->fd, bin, &size, NULL);

	if (r) {
		fail(j->where, "reading", r);
		return;
	}
	atomic_fetch_add(&P.files_done, 1);
	e->size = size;
	if (size == 0)
		return;         /* an empty file needs no blob */
	flist_hash_hex(bin, opt.hash_len, e->hash);
	snprintf(name, sizeof name, "%c/%c/%s%s", e->hash[0], e->hash[1], e->hash,
		 opt.bro ? ".bro" : "");
	r = blob_present(name, size) ? 1 : blob_write(wk, j->fd, name, bin, size);
	if (r >= 0)
		atomic_fetch_add(r ? &P.blobs_old : &P.blobs_new, 1);
	else if (r == -ESTALE)
		fail(j->where, "changed while being packed", 0);
	else
		fail(j->where, r == -EPROTO ? "brotli encoder" : "storing its blob", r);
}

/* ---- the queue between the walker and the workers --------------------------------------------- */

static void queue_push(const struct job *j)
{
	pthread_mutex_lock(&P.lock);
	while (P.n == QUEUE_LEN)
		pthread_cond_wait(&P.not_full, &P.lock);
	P.q[(P.head + P.n++) % QUEUE_LEN] = *j;
	pthread_cond_signal(&P.not_empty);
	pthread_mutex_unlock(&P.lock);
}

static bool queue_pop(struct job *j)
{
	bool got;

	pthread_mutex_lock(&P.lock);
	while (P.n == 0 && !P.closed)
		pthread_cond_wait(&P.not_empty, &P.lock);
	if ((got = P.n > 0)) {
		*j = P.q[P.head];
		P.head = (P.head + 1) % QUEUE_LEN;
		P.n--;
		pthread_cond_signal(&P.not_full);
	}
	pthread_mutex_unlock(&P.lock);
	return got;
}

static void queue_close(void)
{
	pthread_mutex_lock(&P.lock);
	P.closed = true;
	pthread_cond_broadcast(&P.not_empty);
	pthread_mutex_unlock(&P.lock);
}

/* After a failure, workers still drain the queue (closing fds) so that the walker never blocks. */
static void *worker_main(void *arg)
{
	struct job j;

	while (queue_pop(&j)) {
		if (!atomic_load(&P.failed))
			pack_file(arg, &j);
		close(j.fd);
		free(j.where);
	}
	return NULL;
}

static void *progress_main(void *arg)
{
	const struct timespec tick = { 0, 100 * 1000 * 1000 };  /* at most 10 updates a second */

	while (!atomic_load(&P.done)) {
		bool walked = atomic_load(&P.walked);
		double mib = atomic_load(&P.bytes_done) / 1048576.0, t = now() - P.t0;
		double total = atomic_load(&P.bytes_found) / 1048576.0, rate = t > 0 ? mib / t : 0.0;
		char eta[32] = "ETA --";

		if (walked && rate > 0 && total >= mib) {
			unsigned long s = (unsigned long)((total - mib) / rate + 0.5);

			snprintf(eta, sizeof eta, "ETA %lu:%02lu", s / 60, s % 60);
		}
		dprintf(STDERR_FILENO, "\r\033[K%lu/%lu%s files, %.1f/%.1f%s MiB, %.1f MiB/s, %s",
			atomic_load(&P.files_done), atomic_load(&P.files_found), walked ? "" : "+",
			mib, total, walked ? "" : "+", rate, eta);
		nanosleep(&tick, NULL);
	}
	return NULL;
}

/* ---- the walk --------------------------------------------------------------------------------- */

static struct entry *entry_add(struct walk *w, char type, const struct stat *st)
{
	char path[FLIST_PATH_MAX + 1];
	size_t rel_len = strlen(w->rel), n = opt.prefix_len + rel_len, need;
	struct entry *e, **v;

	/* walk_dir checked that prefix + rel fits */
	memcpy(path, opt.prefix, opt.prefix_len);
	memcpy(path + opt.prefix_len, w->rel, rel_len + 1);
	if (w->n == w->cap) {
		if (!(v = realloc(w->v, (w->cap ? 2 * w->cap : 1024) * sizeof *v)))
			return NULL;
		w->v = v;
		w->cap = w->cap ? 2 * w->cap : 1024;
	}
	need = flist_encode(path, n, NULL, 0) + 1;
	if (!(e = calloc(1, sizeof *e)) || !(e->path = malloc(need))) {
		free(e);
		return NULL;
	}
	flist_encode(path, n, e->path, need);
	e->type = type;
	e->mode = st->st_mode & 07777;
	e->mtime = st->st_mtim.tv_sec;
	return w->v[w->n++] = e;
}

static int walk_dir(struct walk *w, int dfd);

static int walk_subdir(struct walk *w, int dfd, const char *name)
{
	struct stat st;
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return errno == ENOENT ? skip(w->where, "vanished") : fail(w->where, "opening", -errno);
	if (fstat(fd, &st) < 0) {
		close(fd);
		return fail(w->where, "stat", -errno);
	}
	for (int i = 0; i < 2; i++) {
		if (st.st_dev == P.store_st[i].st_dev && st.st_ino == P.store_st[i].st_ino) {
			close(fd);
			return skip(w->where, "the store being written");
		}
	}
	if (!entry_add(w, FLIST_DIR, &st)) {
		close(fd);
		return fail(w->where, "adding", -ENOMEM);
	}
	w->dirs++;
	return walk_dir(w, fd);
}

static int walk_file(struct walk *w, int dfd, const char *name)
{
	struct stat st;
	struct job j = { .fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
						 O_CLOEXEC) };

	if (j.fd < 0)
		return errno == ENOENT ? skip(w->where, "vanished") : fail(w->where, "opening", -errno);
	if (fstat(j.fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(j.fd);
		return skip(w->where, "changed type while packing");
	}
	if (!(j.e = entry_add(w, FLIST_FILE, &st)) || !(j.where = strdup(w->where))) {
		close(j.fd);
		return fail(w->where, "adding", -ENOMEM);
	}
	w->files++;
	atomic_fetch_add(&P.files_found, 1);
	atomic_fetch_add(&P.bytes_found, (unsigned long long)st.st_size);
	queue_push(&j);
	return 0;
}

static int walk_link(struct walk *w, int dfd, const char *name, const struct stat *st)
{
	char target[FLIST_PATH_MAX + 1];
	ssize_t n = readlinkat(dfd, name, target, sizeof target);
	struct entry *e;
	size_t need;

	if (n < 0)
		return errno == ENOENT ? skip(w->where, "vanished") : fail(w->where, "readlink", -errno);
	if (n == 0 || (size_t)n >= sizeof target)
		return fail(w->where, "symlink target", -ENAMETOOLONG);
	need = flist_encode(target, (size_t)n, NULL, 0) + 1;
	if (!(e = entry_add(w, FLIST_LINK, st)) || !(e->link = malloc(need)))
		return fail(w->where, "adding", -ENOMEM);
	flist_encode(target, (size_t)n, e->link, need);
	w->links++;
	return 0;
}

static int walk_one(struct walk *w, int dfd, const char *name)
{
	struct stat st;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? skip(w->where, "vanished") : fail(w->where, "stat", -errno);
	switch (st.st_mode & S_IFMT) {
	case S_IFDIR:
		return walk_subdir(w, dfd, name);
	case S_IFREG:
		return walk_file(w, dfd, name);
	case S_IFLNK:
		return walk_link(w, dfd, name, &st);
	case S_IFSOCK:
		return skip(w->where, "a socket");
	case S_IFIFO:
		return skip(w->where, "a fifo");
	default:
		return skip(w->where, "a device");
	}
}

/* Walk the folder open as dfd (closed here), whose path below SRC_DIR is w->rel. */
static int walk_dir(struct walk *w, int dfd)
{
	size_t rel_len = strlen(w->rel), n;
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	int r = 0;

	if (!d) {
		close(dfd);
		return fail(w->where, "reading the folder", -errno);
	}
	while (!r && !atomic_load(&P.failed)) {
		errno = 0;
		if (!(de = readdir(d))) {
			r = errno ? fail(w->where, "reading the folder", -errno) : 0;
			break;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		n = strlen(de->d_name);
		/* SRC_DIR was opened, so it is shorter than PATH_MAX */
		snprintf(w->where + w->src_len + rel_len, sizeof w->where - w->src_len - rel_len,
			 "/%s", de->d_name);
		if (opt.prefix_len + rel_len + 1 + n > FLIST_PATH_MAX) {
			r = fail(w->where, "path in the flist", -ENAMETOOLONG);
		} else {
			w->rel[rel_len] = '/';
			memcpy(w->rel + rel_len + 1, de->d_name, n + 1);
			r = walk_one(w, dirfd(d), de->d_name);
		}
		w->rel[rel_len] = '\0';
		w->where[w->src_len + rel_len] = '\0';
	}
	closedir(d);
	return atomic_load(&P.failed) ? -ECANCELED : r;
}

/* ---- the store and the flist ------------------------------------------------------------------ */

static int open_subdir(int dfd, const char *name, const char *shown)
{
	int fd;

	if (mkdirat(dfd, name, 0755) < 0 && errno != EEXIST)
		return fail(shown, "creating", -errno);
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? fail(shown, "opening", -errno) : fd;
}

static int store_open(void)
{
	char shown[PATH_MAX + 300];
	int r, root = open_subdir(AT_FDCWD, opt.store, opt.store);

	if (root < 0)
		return root;
	snprintf(shown, sizeof shown, "%s/%s", opt.store, opt.ns);
	r = P.ns_fd = open_subdir(root, opt.ns, shown);
	if (r >= 0 && (fstat(root, &P.store_st[0]) < 0 || fstat(P.ns_fd, &P.store_st[1]) < 0))
		r = fail(shown, "stat", -errno);
	close(root);
	if (r < 0)
		return r;
	snprintf(shown, sizeof shown, "%s/%s/md", opt.store, opt.ns);
	P.md_fd = open_subdir(P.ns_fd, "md", shown);
	return P.md_fd < 0 ? P.md_fd : 0;
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp((*(struct entry *const *)a)->path, (*(struct entry *const *)b)->path);
}

static void entry_line(FILE *f, const struct entry *e)
{
	if (e->type == FLIST_DIR)
		fprintf(f, "%s||0|type=d|mode=%04o|mtime=%" PRId64 "\n", e->path, e->mode, e->mtime);
	else if (e->type == FLIST_LINK)
		fprintf(f, "%s||0|type=l|link=%s|mtime=%" PRId64 "\n", e->path, e->link, e->mtime);
	else if (e->order)
		fprintf(f, "%s|%s|%" PRIu64 "|mode=%04o|mtime=%" PRId64 "|order=%" PRIu32 "\n",
			e->path, e->hash, e->size, e->mode, e->mtime, e->order);
	else    /* mode in at most 4 octal digits, as flist_parse wants */
		fprintf(f, "%s|%s|%" PRIu64 "|mode=%04o|mtime=%" PRId64 "\n", e->path, e->hash,
			e->size, e->mode, e->mtime);
}

/* -order FILE: flist paths, one a line (blank lines and '#' comments skipped), in the order a
 * program first opened them. Each file with content that FILE names gets order=N, N the place
 * of its first mention. Returns 0, or 1 (the reason logged). */
static int order_apply(struct walk *w)
{
	FILE *f = fopen(opt.order, "re");
	char *line = NULL;
	size_t cap = 0, named = 0, matched = 0;
	ssize_t len;
	int r = 0;

	if (!f) {
		log_err("-order %s: %s", opt.order, strerror(errno));
		return 1;
	}
	/* w->v is sorted by path (flist_write): one binary search per line. */
	while ((len = getline(&line, &cap, f)) >= 0) {
		struct entry key = { .path = line }, *kp = &key, **hit;

		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len == 0 || line[0] == '#')
			continue;
		if (named == FLIST_ORDER_MAX) {
			log_err("-order %s: more than %d paths", opt.order, FLIST_ORDER_MAX);
			r = 1;
			break;
		}
		named++;
		hit = bsearch(&kp, w->v, w->n, sizeof *w->v, entry_cmp);
		if (hit && (*hit)->type == FLIST_FILE && (*hit)->hash[0] && !(*hit)->order) {
			(*hit)->order = (uint32_t)named;
			matched++;
		}
	}
	if (ferror(f)) {
		log_err("-order %s: %s", opt.order, strerror(errno));
		r = 1;
	}
	free(line);
	fclose(f);
	if (!r && matched < named)
		log_warn("-order %s: %zu of %zu paths are not files with content of this flist",
			 opt.order, named - matched, named);
	return r;
}

/* Write md/ID.flist through a temporary file renamed into place: readers see the old or the new. */
static int flist_write(struct walk *w)
{
	char name[300], tmp[340], shown[PATH_MAX + 640];
	FILE *f;
	int fd, r = 0;

	snprintf(name, sizeof name, "%s.flist", opt.id);
	snprintf(tmp, sizeof tmp, ".%s.%ld.tmp", name, (long)getpid());
	snprintf(shown, sizeof shown, "%s/%s/md/%s", opt.store, opt.ns, name);
	qsort(w->v, w->n, sizeof *w->v, entry_cmp);
	if (opt.order && order_apply(w))
		return -EINVAL;
	if (atomic_load(&P.blobs_new) && syncfs(P.ns_fd) < 0)
		return fail(shown, "syncing the store", -errno);
	fd = openat(P.md_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return fail(shown, "creating", -errno);
	if (!(f = fdopen(fd, "w"))) {
		close(fd);
		r = -ENOMEM;
	}
	for (size_t i = 0; f && i < w->n; i++)
		entry_line(f, w->v[i]);
	if (f && (fflush(f) == EOF || fsync(fd) < 0))
		r = -errno;
	if (f && fclose(f) == EOF && !r)
		r = -errno;
	if (!r && renameat(P.md_fd, tmp, P.md_fd, name) < 0)
		r = -errno;
	if (r) {
		unlinkat(P.md_fd, tmp, 0);
		return fail(shown, "writing", r);
	}
	fsync(P.md_fd);
	return 0;
}

/* Replace md/name by len bytes of buf, through a temporary file, fsync and rename. */
static int md_replace(const char *name, const char *buf, size_t len)
{
	char tmp[400];
	int fd, r;

	snprintf(tmp, sizeof tmp, ".%s.%ld.tmp", name, (long)getpid());
	fd = openat(P.md_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	r = write_full(fd, (const uint8_t *)buf, len);
	if (!r && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && !r)
		r = -errno;
	if (!r && renameat(P.md_fd, tmp, P.md_fd, name) < 0)
		r = -errno;
	if (r)
		unlinkat(P.md_fd, tmp, 0);
	else
		fsync(P.md_fd);
	return r;
}

/* md/ID.flist.sig for the flist just written (SPEC section 8): after it, as the last file. */
static int sig_write(void)
{
	char name[320], sig_name[330], shown[PATH_MAX + 640], body[SIG_FILE_MAX], file[SIG_FILE_MAX];
	uint8_t sha[32];
	uint64_t n;
	size_t blen, flen;
	int64_t t = (int64_t)time(NULL);
	int fd, r;

	snprintf(name, sizeof name, "%s.flist", opt.id);
	snprintf(sig_name, sizeof sig_name, "%s.sig", name);
	snprintf(shown, sizeof shown, "%s/%s/md/%s", opt.store, opt.ns, sig_name);
	fd = openat(P.md_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return fail(shown, "reading the flist back", -errno);
	r = hasher_fd(fd, 32, sha, &n);
	close(fd);
	if (r)
		return fail(shown, "hashing the flist", r);
	blen = sig_body(body, sizeof body, opt.id, opt.has_revision ? opt.revision : (uint64_t)t,
			t + (int64_t)opt.expires_days * 86400, sha, sign_key.fp);
	flen = blen ? sig_sign(&sign_key, body, blen, file, sizeof file) : 0;
	if (!flen)
		return fail(shown, blen ? "signing" : "the id cannot be signed", 0);
	if ((r = md_replace(sig_name, file, flen)))
		return fail(shown, "writing", r);
	return 0;
}

/* Read a whole small file (a key) into buf; its length, or -errno. */
static ssize_t read_small(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	size_t got = 0;
	ssize_t n;

	if (fd < 0)
		return -errno;
	while (got < size && (n = read(fd, buf + got, size - got)) != 0) {
		if (n < 0 && errno != EINTR) {
			n = -errno;
			close(fd);
			return n;
		}
		got += n > 0 ? (size_t)n : 0;
	}
	close(fd);
	return got == size ? -EFBIG : (ssize_t)got;
}

/* aysfs-pack keygen NAME: NAME.key (0600) and NAME.pub, never over an existing file. */
static int keygen(const char *name)
{
	char *priv, *pub, fp[SIG_FP_HEX + 1], path[PATH_MAX], key_path[PATH_MAX];
	const char *what = "writing";
	int r = 0, fd;

	if (!*name || strlen(name) > PATH_MAX - 8) {
		log_err("keygen: NAME must not be empty or so long");
		return 1;
	}
	if (sig_keygen(&priv, &pub, fp)) {
		log_err("keygen: cannot make an Ed25519 key");
		return 2;
	}
	snprintf(key_path, sizeof key_path, "%s.key", name);
	for (int i = 0; i < 2 && !r; i++) {
		const char *text = i ? pub : priv;

		snprintf(path, sizeof path, "%s.%s", name, i ? "pub" : "key");
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, i ? 0644 : 0600);
		if (fd < 0 || (r = write_full(fd, (const uint8_t *)text, strlen(text))) ||
		    fsync(fd) < 0) {
			r = r ? r : -errno;
			what = fd < 0 && errno == EEXIST ? "exists: not replaced" : "writing";
		}
		if (fd >= 0 && close(fd) < 0 && !r)
			r = -errno;
		if (r && fd >= 0)
			unlink(path);
		if (r && i)     /* no half pair */
			unlink(key_path);
	}
	free(priv);
	free(pub);
	if (r) {
		log_err("%s: %s%s%s", path, what, r == -EEXIST ? "" : ": ",
		    r == -EEXIST ? "" : strerror(-r));
		return 2;
	}
	printf("wrote %s.key (private, mode 0600) and %s.pub; fingerprint %s\n", name, name, fp);
	return 0;
}

/* ---- main ------------------------------------------------------------------------------------- */

static int usage_error(const char *what, const char *arg)
{
	log_err("%s%s%s (see aysfs-pack -h)", what, arg ? ": " : "", arg ? arg : "");
	return 1;
}

/* A name inside the store: one component. */
static bool name_ok(const char *s)
{
	return *s && !strchr(s, '/') && strcmp(s, ".") && strcmp(s, "..") && strlen(s) <= 200;
}

/* -prefix: absolute and normalised, as flist paths must be; trailing slashes are dropped. */
static bool prefix_set(const char *p)
{
	size_t n = strlen(p), len;
	const char *c, *end;

	while (n > 1 && p[n - 1] == '/')
		n--;
	if (p[0] != '/' || n > FLIST_PATH_MAX)
		return false;
	n = n == 1 ? 0 : n;
	for (c = p + 1; c < p + n; c = end + 1) {
		end = memchr(c, '/', (size_t)(p + n - c));
		end = end ? end : p + n;
		len = (size_t)(end - c);
		if (!len || len > FLIST_NAME_MAX || !strncmp(c, ".", len) || !strncmp(c, "..", len))
			return false;
	}
	memcpy(opt.prefix, p, n);
	opt.prefix[n] = '\0';
	opt.prefix_len = n;
	return true;
}

/* Returns 0, or the exit status: -1 stands for 0 after -h. */
static int parse_args(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1] && strcmp(argv[i], "--"); i++) {
		const char *a = argv[i] + 1 + (argv[i][1] == '-'), *eq = strchr(a, '=');
		size_t n = eq ? (size_t)(eq - a) : strlen(a);
		const char *v = eq ? eq + 1 : NULL;
		unsigned long j;
		char *end;
#define IS(s) (n == strlen(s) && !memcmp(a, s, n))
		if (IS("h") || IS("help") || IS("bro") || IS("q")) {
			if (v)
				return usage_error("option takes no value", argv[i]);
			if (IS("h") || IS("help"))
				return fputs(usage_text, stdout) == EOF ? 2 : -1;
			if (IS("bro"))
				opt.bro = true;
			else
				opt.quiet = true;
			continue;
		}
		if (!IS("prefix") && !IS("hash") && !IS("namespace") && !IS("j") && !IS("sign") &&
		    !IS("revision") && !IS("expires") && !IS("endpoint") && !IS("region") &&
		    !IS("credentials") && !IS("order"))
			return usage_error("unknown option", argv[i]);
		if (!v && i + 1 == argc)
			return usage_error("option needs a value", argv[i]);
		v = v ? v : argv[++i];
		if (IS("prefix") && !prefix_set(v))
			return usage_error("-prefix must be an absolute, normalised path", v);
		if (IS("namespace") && !name_ok(v))
			return usage_error("-namespace must be one path component", v);
		if (IS("namespace"))
			opt.ns = v;
		if (IS("hash") && strcmp(v, "md5") && strcmp(v, "sha256"))
			return usage_error("-hash must be md5 or sha256", v);
		if (IS("hash"))
			opt.hash_len = strcmp(v, "md5") ? 32 : 16;
		if (IS("sign"))
			opt.sign = v;
		if (IS("endpoint"))
			opt.up.endpoint = v;
		if (IS("region"))
			opt.up.region = v;
		if (IS("credentials"))
			opt.up.credentials = v;
		if (IS("order"))
			opt.order = v;
		if (IS("revision") || IS("expires")) {
			unsigned long long x = strtoull(v, &end, 10);

			if (v[0] < '0' || v[0] > '9' || *end || x > (IS("revision") ? INT64_MAX : 36500))
				return usage_error(IS("revision") ? "-revision must be a number below 2^63" :
						   "-expires must be a number of days up to 36500", v);
			if (IS("revision")) {
				opt.revision = x;
				opt.has_revision = true;
			} else {
				opt.expires_days = x;
			}
		}
		if (IS("j")) {
			j = strtoul(v, &end, 10);
			if (v[0] < '0' || v[0] > '9' || *end || j < 1 || j > MAX_JOBS)
				return usage_error("-j must be a number from 1 to 1024", v);
			opt.jobs = (unsigned)j;
		}
#undef IS
	}
	i += i < argc && !strcmp(argv[i], "--");
	if ((opt.has_revision || opt.expires_days != 30) && !opt.sign)
		return usage_error("-revision and -expires go with -sign", NULL);
	if (argc - i != 3)
		return usage_error("expected SRC_DIR STORE ID", NULL);
	opt.src = argv[i];
	opt.store = argv[i + 1];
	opt.id = argv[i + 2];
	if (!*opt.src || !*opt.store)
		return usage_error("SRC_DIR and STORE must not be empty", NULL);
	opt.up.quiet = opt.quiet;
	if (upload_is_remote(opt.store))
		return upload_prepare(opt.store, &opt.up);
	if (opt.up.endpoint || opt.up.region || opt.up.credentials)
		return usage_error("-endpoint, -region and -credentials are for s3:// stores", NULL);
	return name_ok(opt.id) ? 0 : usage_error("ID must be one path component", opt.id);
}

static int stage_entry_remove(const char *path, const struct stat *st, int type, struct FTW *f)
{
	return remove(path) ? -1 : 0;
}

/* The staging folder of a remote publication, with everything in it. */
static void stage_remove(const char *dir)
{
	if (nftw(dir, stage_entry_remove, 32, FTW_DEPTH | FTW_PHYS))
		log_warn("%s: cannot remove the staging folder: %s", dir, strerror(errno));
}

/* Start the workers: how many started (all of them, or a failure was reported). */
static unsigned workers_start(struct worker *wk)
{
	unsigned i;
	int r;

	for (i = 0; wk && i < opt.jobs; i++) {
		wk[i].buf = malloc(CHUNK);
		wk[i].out = opt.bro ? malloc(BRO_OUT) : NULL;
		r = !wk[i].buf || (opt.bro && !wk[i].out) ? ENOMEM :
		    pthread_create(&wk[i].tid, NULL, worker_main, &wk[i]);
		if (r) {
			free(wk[i].buf);
			free(wk[i].out);
			fail(opt.src, "starting a worker", -r);
			break;
		}
	}
	return i;
}

int main(int argc, char **argv)
{
	static struct walk w;
	static char stage[PATH_MAX];
	const char *remote = NULL;
	unsigned long up_new = 0, up_old = 0;
	uint64_t up_bytes = 0;
	struct worker *wk;
	pthread_t progress;
	struct stat st;
	uint64_t bytes = 0;
	unsigned started;
	size_t n;
	long cpus;
	int r, src_fd;

	log_init("aysfs-pack", LOG_INFO | LOG_TOOL);
	if (argc >= 2 && !strcmp(argv[1], "keygen")) {
		if (argc != 3)
			return usage_error("usage: aysfs-pack keygen NAME", NULL);
		return keygen(argv[2]);
	}
	if ((r = parse_args(argc, argv)))
		return r < 0 ? 0 : r;
	if (opt.order && access(opt.order, R_OK)) {
		log_err("-order %s: %s", opt.order, strerror(errno));
		return 1;
	}
	if (opt.sign) {
		static char key[16384];
		ssize_t klen = read_small(opt.sign, key, sizeof key);

		if (klen < 0) {
			log_err("-sign %s: %s", opt.sign, strerror((int)-klen));
			return 1;
		}
		r = sig_key_read(key, (size_t)klen, true, &sign_key);
		explicit_bzero(key, sizeof key);
		if (r) {
			log_err("-sign %s: not an Ed25519 private key in PEM", opt.sign);
			return 1;
		}
	}
	/* A remote store: packed into a folder of the same layout first, published from there. */
	if (upload_is_remote(opt.store)) {
		const char *tmp = getenv("TMPDIR");

		remote = opt.store;
		snprintf(stage, sizeof stage, "%s/aysfs-pack.XXXXXX", tmp && *tmp ? tmp : "/tmp");
		if (!mkdtemp(stage)) {
			log_err("%s: cannot make a staging folder: %s", stage, strerror(errno));
			return 2;
		}
		opt.store = stage;
	}
	P.t0 = now();
	umask(022);
	cpus = sysconf(_SC_NPROCESSORS_ONLN);
	opt.jobs = opt.jobs ? opt.jobs : cpus < 1 ? 1 : cpus > MAX_JOBS ? MAX_JOBS : (unsigned)cpus;
	src_fd = open(opt.src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (src_fd < 0 || fstat(src_fd, &st) < 0 || store_open() < 0) {
		if (!atomic_load(&P.failed))
			fail(opt.src, "opening", -errno);
		return 2;
	}
	P.tmpfile = access("/proc/self/fd", X_OK) == 0;
	w.src_len = strlen(opt.src);
	while (w.src_len > 1 && opt.src[w.src_len - 1] == '/')
		w.src_len--;
	memcpy(w.where, opt.src, w.src_len);
	if (opt.prefix_len && !entry_add(&w, FLIST_DIR, &st)) {
		fail(opt.src, "adding", -ENOMEM);
		return 2;
	}
	w.dirs = w.n;

	P.progress = !opt.quiet && isatty(STDERR_FILENO);
	if (P.progress && pthread_create(&progress, NULL, progress_main, NULL))
		P.progress = false;
	wk = calloc(opt.jobs, sizeof *wk);
	started = workers_start(wk);
	if (started == opt.jobs && wk) {
		r = walk_dir(&w, src_fd);
		atomic_store(&P.walked, true);
	} else {
		r = wk ? -ECANCELED : fail(opt.src, "starting", -ENOMEM);
		close(src_fd);
	}
	queue_close();
	for (unsigned i = 0; i < started; i++) {
		pthread_join(wk[i].tid, NULL);
		free(wk[i].buf);
		free(wk[i].out);
	}
	free(wk);
	atomic_store(&P.done, true);
	if (P.progress) {
		pthread_join(progress, NULL);
		clear_progress();
	}
	if (!r && !atomic_load(&P.failed))
		r = flist_write(&w);
	else
		r = r ? r : -ECANCELED;
	if (!r && opt.sign)
		r = sig_write();
	if (remote) {
		if (!r && upload_store(stage, remote, opt.ns, opt.id, &up_new, &up_old, &up_bytes))
			r = -EIO;
		stage_remove(stage);
		opt.store = remote;
	}
	memcpy(sign_fp, sign_key.fp, sizeof sign_fp);
	sig_key_free(&sign_key);
	for (size_t i = 0; i < w.n; i++)
		bytes += w.v[i]->size;
	for (n = strlen(opt.store); n > 1 && opt.store[n - 1] == '/';)
		n--;
	if (!r && !opt.quiet)
		printf("packed %lu files (%" PRIu64 " bytes), %lu directories, %lu symlinks into "
		       "%.*s/%s: %lu new blobs, %lu existing, in %.2f s%s%s\n", w.files, bytes, w.dirs,
		       w.links, (int)n, opt.store, opt.ns, atomic_load(&P.blobs_new),
		       atomic_load(&P.blobs_old), now() - P.t0, opt.sign ? "; signed with key " : "",
		       opt.sign ? sign_fp : "");
	if (!r && !opt.quiet && remote)
		printf("uploaded %lu blobs (%" PRIu64 " bytes) into %s, %lu were there; then the "
		       "flist%s\n", up_new, up_bytes, remote, up_old, opt.sign ? " and its signature" : "");
	for (size_t i = 0; i < w.n; i++) {
		free(w.v[i]->path);
		free(w.v[i]->link);
		free(w.v[i]);
	}
	free(w.v);
	return r ? 2 : 0;
}
