/* load.c — find the configured flists, parse them into one tree, and seal its image in a memfd.
 *
 * Where a service's flist comes from, first found wins: its `flist = "FILE"`; FLIST_DIR/ID.flist;
 * then LAYER/NAMESPACE/md/ID.flist of each local-folder layer in order. With no service
 * configured, every *.flist below FLIST_DIR (recursively) is a service, in byte order of paths.
 *
 * With trusted_keys (SPEC §8), each flist is first copied into a memfd while it is hashed, its
 * .sig (beside it, or its URL + ".sig") checked against those bytes (accept.c), and the tree
 * parsed from that very copy, so no byte can change between the check and the parse. A remote
 * flist that is refused does not stop the search: the next layer is asked (a forged or stale
 * copy on a LAN cache does not hide the store's), then the last accepted copy is used.
 */
#include "indexer/indexer.h"

#include "indexer/accept.h"
#include "indexer/fetch.h"
#include "indexer/hash.h"
#include "indexer/istore.h"
#include "indexer/order.h"
#include "indexer/refresh.h"
#include "indexer/sig.h"
#include "indexer/tree.h"
#include "ipc/log.h"

#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct found {
	char *id;
	char *path;
};

static bool is_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* A configured service's flist, or NULL when none of the places has it. */
static char *locate(const struct worker_conf *c, const struct wire_service *s)
{
	char path[PATH_MAX];

	if (s->flist[0])
		return strdup(s->flist);
	if (c->flist_dir[0]) {
		snprintf(path, sizeof path, "%s/%s.flist", c->flist_dir, s->id);
		if (is_file(path))
			return strdup(path);
	}
	for (uint32_t i = 0; i < c->nlayers; i++) {
		const char *dir = layer_local_path(c->layers[i].url);

		if (!dir)
			continue;
		snprintf(path, sizeof path, "%s/%s/md/%s.flist", dir, c->namespace, s->id);
		if (is_file(path))
			return strdup(path);
	}
	return NULL;
}

static int by_path(const void *a, const void *b)
{
	return strcmp(((const struct found *)a)->path, ((const struct found *)b)->path);
}

/* Every *.flist below dir, recursively (symlinks not followed, depth bounded). */
static int scan(const char *dir, int depth, struct found **v, size_t *n, size_t *cap)
{
	DIR *d;
	struct dirent *de;

	if (depth > 16 || !(d = opendir(dir)))
		return depth == 0 && errno != ENOENT ? -errno : 0;
	while ((de = readdir(d))) {
		char path[PATH_MAX];
		size_t len = strlen(de->d_name);

		if (de->d_name[0] == '.')
			continue;
		if (snprintf(path, sizeof path, "%s/%s", dir, de->d_name) >= (int)sizeof path)
			continue;
		if (de->d_type == DT_DIR) {
			scan(path, depth + 1, v, n, cap);
		} else if ((de->d_type == DT_REG || de->d_type == DT_UNKNOWN) && len > 6 &&
			   strcmp(de->d_name + len - 6, ".flist") == 0 && is_file(path)) {
			if (*n == *cap) {
				struct found *nv = realloc(*v, (*cap ? *cap * 2 : 16) * sizeof *nv);

				if (!nv)
					break;
				*v = nv;
				*cap = *cap ? *cap * 2 : 16;
			}
			(*v)[*n].id = strndup(de->d_name, len - 6);
			(*v)[*n].path = strdup(path);
			if (!(*v)[*n].id || !(*v)[*n].path) {
				free((*v)[*n].id);
				free((*v)[*n].path);
				break;
			}
			(*n)++;
		}
	}
	closedir(d);
	return 0;
}

/* What the parse of the flists said (counts, warnings, rejections), one "LEVEL text" a line: kept
 * with the stored image and said again when it is used, so that a load from it logs what the
 * parse would have. */
static struct {
	char *buf;
	size_t len, cap;
} N;

__attribute__((format(printf, 2, 3)))
static void note(enum log_level lvl, const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof line)
		n = sizeof line - 1;
	log_msg(lvl, "%s", line);
	for (int i = 0; i < n; i++)
		if (line[i] == '\n')
			line[i] = ' ';
	if (N.len + (size_t)n + 2 > ISTORE_MAX_NOTES)
		return;
	if (N.len + (size_t)n + 2 > N.cap) {
		size_t cap = (N.len + (size_t)n + 2) * 2;
		char *nb = realloc(N.buf, cap);

		if (!nb)
			return;
		N.buf = nb;
		N.cap = cap;
	}
	N.buf[N.len++] = (char)('0' + lvl);
	memcpy(N.buf + N.len, line, (size_t)n);
	N.len += (size_t)n;
	N.buf[N.len++] = '\n';
}

/* Say again what a stored image's parse said (istore_load checked the lines' form). */
static void replay(const char *buf, size_t len)
{
	for (size_t i = 0; i < len;) {
		const char *end = memchr(buf + i, '\n', len - i);
		size_t l = end ? (size_t)(end - (buf + i)) : len - i;

		if (l > 0)
			log_msg((enum log_level)(buf[i] - '0'), "%.*s", (int)(l - 1), buf + i + 1);
		i += l + 1;
	}
}

static void warn_stats(const char *name, const struct tree_flist_stats *st)
{
	if (st->outside_prefix)
		note(LOG_WARN, "%s: %lu entries outside the prefix were skipped", name, st->outside_prefix);
	if (st->conflicts) {
		char who[160];

		if (st->first_conflict_winner)
			snprintf(who, sizeof who, "service %s has it", st->first_conflict_winner);
		else
			snprintf(who, sizeof who, "it is the root of the tree");
		if (st->conflicts == 1)
			note(LOG_WARN, "%s: 1 entry clashes with an earlier service and was skipped: %s "
				 "(line %u; %s)", name, st->first_conflict_path, st->first_conflict_line, who);
		else
			note(LOG_WARN, "%s: %lu entries clash with earlier services and were skipped, the first "
				 "%s (line %u; %s)", name, st->conflicts, st->first_conflict_path,
				 st->first_conflict_line, who);
	}
	if (st->unknown_keys)
		note(LOG_WARN, "%s: %lu fields with unknown keys were ignored (first: '%s' at line %u)",
			 name, st->unknown_keys, st->first_unknown_key, st->first_unknown_line);
}

/* Add the flist on fd as service `id`; `name` is how messages call it. Returns 0 when it was added,
 * 1 when it was rejected (logged), or -errno when the tree itself failed. */
static int add_now(struct tree *t, const char *id, const char *name, int fd, struct load_result *res)
{
	struct tree_flist_stats st;
	char err[512];
	int rc;

	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	rc = tree_add_flist_fd(t, id, name, fd, &st, err, sizeof err);
	if (rc == -EINVAL) {
		note(LOG_ERROR, "%s; service %s is not mounted", err, id);
		res->rejected++;
		return 1;
	}
	if (rc) {
		note(LOG_ERROR, "service %s: %s", id, strerror(-rc));
		return rc;
	}
	warn_stats(name, &st);
	note(LOG_INFO, "service %s: %lu entries from %s", id, st.added, name);
	res->services++;
	return 0;
}

/* [main] flist_max_size of the load in progress: a signed flist's private copy is bounded by it. */
static uint64_t copy_max = 512ull << 20;

/* The flists of the load in progress, in service order: found and checked, but parsed only when
 * the stored image of what they hash to (istore.h) cannot be used. `direct`: a flist was parsed
 * as it came (a network layer's fresh copy, kept only if it parses), so this load neither uses
 * nor stores an image. `name` hashes what tells where the stored image is (istore.h), `key` what
 * it must have been built from. */
struct pending {
	char *id, *name;
	int fd;
	bool hashed, has_sig;
	uint8_t sha[32], sig_sha[32];
};

static struct {
	struct pending *v;
	size_t n, cap;
	bool direct;
	struct hasher name, key;
	bool ok;
} P;

static void mix(struct hasher *h, const void *p, size_t len)
{
	uint64_t l = len;

	hasher_update(h, &l, sizeof l);
	hasher_update(h, p, len);
}

static void key_begin(const struct worker_conf *c)
{
	uint32_t v[2] = { ISTORE_VERSION, IX_VERSION };
	uint64_t lim[3] = { c->flist_max_size, c->flist_max_entries, accept_min_hash() };

	P.n = 0;
	P.direct = false;
	N.len = 0;
	P.ok = c->state_dir && c->state_dir[0] && hasher_init(&P.key, 32) == 0;
	if (P.ok && hasher_init(&P.name, 32)) {
		hasher_abort(&P.key);
		P.ok = false;
	}
	for (int i = 0; P.ok && i < 2; i++) {
		struct hasher *h = i ? &P.name : &P.key;

		mix(h, v, sizeof v);
		mix(h, c->prefix, strlen(c->prefix));
		mix(h, lim, sizeof lim);
	}
}

static void pending_free(void)
{
	for (size_t i = 0; i < P.n; i++) {
		close(P.v[i].fd);
		free(P.v[i].id);
		free(P.v[i].name);
	}
	P.n = 0;
}

/* Parse the flists found so far, in order. Returns 0 or the first -errno of the tree. */
static int parse_pending(struct tree *t, struct load_result *res)
{
	int rc = 0;

	for (size_t i = 0; i < P.n && rc == 0; i++) {
		int r = add_now(t, P.v[i].id, P.v[i].name, P.v[i].fd, res);

		rc = r < 0 ? r : 0;
	}
	return rc;
}

static int flush(struct tree *t, struct load_result *res)
{
	int rc = parse_pending(t, res);

	pending_free();
	return rc;
}

/* Parse now, after those found before, and use no stored image for this load. */
static int add_direct(struct tree *t, const char *id, const char *name, int fd,
		      struct load_result *res)
{
	int rc = flush(t, res);

	P.direct = true;
	return rc < 0 ? rc : add_now(t, id, name, fd, res);
}

/* The flist on fd (SHA-256 sha, or NULL: hashed later; sig_sha its .sig's, or NULL) as the next
 * service: kept for the parse, or parsed at once when the load cannot use a stored image. */
static int add_fd(struct tree *t, const char *id, const char *name, int fd, const uint8_t *sha,
		  const uint8_t *sig_sha, struct load_result *res)
{
	struct pending *p;
	struct stat st;
	int dfd;

	if (P.direct || !P.ok)
		return add_now(t, id, name, fd, res);
	/* One larger than the limit is refused by the parse, which reads no more of it. */
	if (fstat(fd, &st) || (uint64_t)st.st_size > copy_max)
		return add_direct(t, id, name, fd, res);
	if (P.n == P.cap) {
		struct pending *nv = realloc(P.v, (P.cap ? P.cap * 2 : 8) * sizeof *nv);

		if (!nv)
			return add_direct(t, id, name, fd, res);
		P.v = nv;
		P.cap = P.cap ? P.cap * 2 : 8;
	}
	if ((dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0)
		return add_direct(t, id, name, fd, res);
	p = &P.v[P.n];
	*p = (struct pending){ .id = strdup(id), .name = strdup(name), .fd = dfd, .hashed = sha != NULL,
			       .has_sig = sig_sha != NULL };
	if (!p->id || !p->name) {
		free(p->id);
		free(p->name);
		close(dfd);
		return add_direct(t, id, name, fd, res);
	}
	if (sha)
		memcpy(p->sha, sha, 32);
	if (sig_sha)
		memcpy(p->sig_sha, sig_sha, 32);
	P.n++;
	mix(&P.name, id, strlen(id));
	mix(&P.name, name, strlen(name));
	if (sha) {
		mix(&P.name, sha, 32);
	} else {
		uint64_t ident[7] = { st.st_dev, st.st_ino, (uint64_t)st.st_size,
				      (uint64_t)st.st_mtim.tv_sec, (uint64_t)st.st_mtim.tv_nsec,
				      (uint64_t)st.st_ctim.tv_sec, (uint64_t)st.st_ctim.tv_nsec };

		mix(&P.name, ident, sizeof ident);
	}
	return 0;
}

/* SHA-256 of what fd holds (pread: the parse's reads are not moved). Returns 0 or -1. */
static int sha_fd(int fd, uint8_t out[32])
{
	enum { BUF = 256 << 10 };
	uint8_t *buf = malloc(BUF);
	struct hasher h;
	off_t off = 0;
	ssize_t n;

	if (!buf || hasher_init(&h, 32)) {
		free(buf);
		return -1;
	}
	while ((n = pread(fd, buf, BUF, off)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		hasher_update(&h, buf, (size_t)n);
		off += n;
	}
	hasher_final(&h, out);
	free(buf);
	return n < 0 ? -1 : 0;
}

/* The key of the flists found: each one's SHA-256 (hashed here when it was not yet). Returns 0,
 * or -1 when one cannot be read (the parse will say why). */
static int key_end(uint8_t key[32])
{
	uint8_t none[32] = { 0 };
	int rc = 0;

	for (size_t i = 0; i < P.n && rc == 0; i++) {
		struct pending *p = &P.v[i];

		if (!p->hashed && sha_fd(p->fd, p->sha)) {
			rc = -1;
			break;
		}
		mix(&P.key, p->id, strlen(p->id));
		mix(&P.key, p->name, strlen(p->name));
		mix(&P.key, p->sha, 32);
		mix(&P.key, p->has_sig ? p->sig_sha : none, 32);
	}
	hasher_final(&P.key, key);
	return rc;
}

static int open_flist(const char *path)
{
	struct stat sb;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd >= 0 && (fstat(fd, &sb) || !S_ISREG(sb.st_mode))) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	return fd;
}

/* A private copy of what fd holds (a memfd, which no other process can change), and its
 * SHA-256. Returns the memfd or -errno (-EFBIG past flist_max_size). */
static int copy_hashed(int fd, uint8_t sha[32])
{
	enum { CHUNK = 1 << 20 };
	char *buf = malloc(CHUNK);
	int mfd = memfd_create("aysfs-flist", MFD_CLOEXEC), rc = 0;
	uint64_t total = 0;
	struct hasher h;
	ssize_t n;

	if (!buf || mfd < 0 || hasher_init(&h, 32)) {
		free(buf);
		if (mfd >= 0)
			close(mfd);
		return -ENOMEM;
	}
	while ((n = pread(fd, buf, CHUNK, (off_t)total)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || (uint64_t)n > copy_max - total) {
			rc = n < 0 ? -errno : -EFBIG;
			break;
		}
		if (write(mfd, buf, (size_t)n) != n) {
			rc = -EIO;
			break;
		}
		hasher_update(&h, buf, (size_t)n);
		total += (uint64_t)n;
	}
	hasher_final(&h, sha);
	free(buf);
	if (rc) {
		close(mfd);
		return rc;
	}
	return mfd;
}

/* The flist open as *fd, named `name`, with its .sig's bytes (NULL: none): checked, and *fd
 * replaced by a private copy. Returns 0, or 1 when it was refused (logged, counted). */
static int signed_copy(const char *id, const char *name, int *fd, const char *sig, size_t len,
		       uint8_t sha[32], struct load_result *res)
{
	char why[600];
	int mfd = copy_hashed(*fd, sha);

	if (mfd < 0) {
		log_err("service %s: %s: %s; not mounted", id, name, strerror(-mfd));
		res->rejected++;
		return 1;
	}
	if (accept_check(id, name, sha, sig, len, true, why, sizeof why)) {
		log_err("service %s: %s refused: %s", id, name, why);
		close(mfd);
		res->rejected++;
		return 1;
	}
	close(*fd);
	*fd = mfd;
	return 0;
}

/* SHA-256 of len bytes. */
static int hash_bytes(const void *p, size_t len, uint8_t out[32])
{
	struct hasher h;

	if (hasher_init(&h, 32))
		return -ENOMEM;
	hasher_update(&h, p, len);
	hasher_final(&h, out);
	return 0;
}

static int add_one(struct tree *t, const char *id, const char *path, struct load_result *res)
{
	uint8_t sha[32], sig_sha[32];
	bool hashed = false, sig_given = false;
	int rc, fd = open_flist(path);

	if (fd < 0) {
		log_err("service %s: cannot read %s: %s", id, path, strerror(errno));
		res->rejected++;
		return 0;
	}
	if (accept_required()) {
		char sig_path[PATH_MAX + 8], *sig = NULL;
		long len;

		snprintf(sig_path, sizeof sig_path, "%s.sig", path);
		len = accept_read_small(AT_FDCWD, sig_path, SIG_FILE_MAX, &sig);
		if (len < 0 && len != -ENOENT)
			log_warn("service %s: %s: %s", id, sig_path, strerror((int)-len));
		rc = signed_copy(id, path, &fd, sig, len < 0 ? 0 : (size_t)len, sha, res);
		if (rc == 0 && sig && hash_bytes(sig, (size_t)len, sig_sha) == 0)
			sig_given = true;
		free(sig);
		if (rc) {
			close(fd);
			return 0;
		}
		hashed = true;
	}
	rc = add_fd(t, id, path, fd, hashed ? sha : NULL, sig_given ? sig_sha : NULL, res);
	close(fd);
	return rc < 0 ? rc : 0;
}

/* Replace path by len bytes of buf, or by what fd holds, through path.tmp and rename. */
static int keep_write(const char *path, int fd, const char *buf, size_t len)
{
	char tmp[PATH_MAX + 8], chunk[65536];
	int out, rc = 0;
	off_t off = 0;
	ssize_t n;

	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (out < 0)
		return -errno;
	if (buf && write(out, buf, len) != (ssize_t)len)
		rc = -EIO;
	while (!buf && !rc && (n = pread(fd, chunk, sizeof chunk, off)) > 0) {
		if (write(out, chunk, (size_t)n) != n)
			rc = -EIO;
		off += n;
	}
	if (close(out) && !rc)
		rc = -errno;
	if (!rc && rename(tmp, path))
		rc = -errno;
	if (rc)
		unlink(tmp);
	return rc;
}

/* A service found in no local place: URL/NAMESPACE/md/ID.flist from each network layer in order.
 * A copy that parses (and, with trusted_keys, is accepted) becomes the last good copy in the
 * local cache (CACHE/md/ID.flist, its .sig beside it); the layer it came from is asked with that
 * copy's validators next time, and a 304 takes the copy. When no layer gives an acceptable
 * copy, that copy is used, with a warning. Returns 0 when added, 1 when not found, -errno. */
static int add_remote(struct tree *t, const struct worker_conf *c, const char *cache_root,
		      const char *id, struct load_result *res)
{
	char md[PATH_MAX], keep[PATH_MAX], keep_sig[PATH_MAX + 8], url[PATH_MAX], tried[1024] = "";
	size_t tlen = 0;
	bool refused = false;
	int rc;

	snprintf(md, sizeof md, "%s/md", cache_root);
	mkdir(md, 0755);
	if (snprintf(keep, sizeof keep, "%s/%s.flist", md, id) >= (int)sizeof keep)
		return 1;
	snprintf(keep_sig, sizeof keep_sig, "%s.sig", keep);
	for (uint32_t i = 0; i < c->nlayers; i++) {
		const char *u = c->layers[i].url, *why_layer = NULL;
		struct fetch_validators v;
		struct fetch_result fr;
		struct hasher h;
		uint8_t sha[32];
		size_t ul = strlen(u), sig_len = 0;
		char *sig = NULL, why[1200];
		bool cond;
		int fd;

		if (layer_local_path(u))
			continue;
		while (ul > 0 && u[ul - 1] == '/')
			ul--;
		if (snprintf(url, sizeof url, "%.*s/%s/md/%s.flist", (int)ul, u, c->namespace, id) >=
		    (int)sizeof url)
			continue;
		cond = access(keep, R_OK) == 0 && refresh_validators(id, url, &v);
		fd = memfd_create("aysfs-flist", MFD_CLOEXEC);
		if (fd < 0 || hasher_init(&h, 32)) {
			if (fd >= 0)
				close(fd);
			break;
		/* A body longer than flist_max_size is cut off by the fetcher ("too long"). */
		}
		rc = fetch_flist(&(struct fetch_sink){ .fd = fd }, &h, c->flist_max_size, url,
				 cond ? &v : NULL, 90 + (unsigned)(c->flist_max_size >> 20), &fr);
		hasher_final(&h, sha);
		if (rc == 0 && fr.not_modified) {
			/* The copy kept is the layer's: nothing was sent, nothing to parse twice. */
			close(fd);
			refresh_note(id, url, &v, NULL);
			accept_note_check(id, "not modified");
			return add_one(t, id, keep, res) < 0 ? -EIO : 0;
		}
		if (rc == 0 && accept_required()) {
			rc = refresh_fetch_sig(url, &sig, &sig_len, why, sizeof why);
			if (rc && rc != -ENOENT)
				why_layer = "its .sig could not be fetched";
			else if ((rc = accept_check(id, url, sha, sig, sig_len, true, why, sizeof why)))
				why_layer = "refused";
			if (rc)
				log_err("service %s: %s %s: %s", id, url, why_layer, why);
			refused |= rc != 0;
		}
		if (rc == 0) {
			/* Kept as the last good copy only if it parses: parsed now. */
			rc = add_direct(t, id, url, fd, res);
			if (rc == 0) {
				if ((sig ? keep_write(keep_sig, -1, sig, sig_len) : 0) ||
				    keep_write(keep, fd, NULL, 0))
					log_warn("service %s: cannot keep a copy in %s", id, md);
				if (!sig)
					unlink(keep_sig);
				refresh_note(id, url, &fr.got, sha);
				accept_note_check(id, "fetched");
			}
			free(sig);
			close(fd);
			return rc < 0 ? rc : 0;
		}
		free(sig);
		close(fd);
		if (tlen < sizeof tried)
			tlen += (size_t)snprintf(tried + tlen, sizeof tried - tlen, "%s%s%s%s",
						 tlen ? "; " : "", why_layer ? url : fr.reason,
						 why_layer ? ": " : "", why_layer ? why_layer : "");
	}
	if (access(keep, R_OK) == 0) {
		log_warn("service %s: %s (%s); using the last good copy %s", id,
			 refused ? "no layer gave an acceptable copy" : "no layer answered",
			 tlen ? tried : "no network layer", keep);
		return add_one(t, id, keep, res) < 0 ? -EIO : 0;
	}
	if (tlen)
		log_err("service %s: flist not found in any layer (%s)", id, tried);
	return 1;
}

/* -auto: every *.flist under ROOT/etc/ays/local (recursively, in byte order of paths) after what
 * the configuration mounts (SPEC section 5). A flist whose id is a configured service's, or whose
 * id or path was mounted already (`done`: the flist_dir scan), is not added again. */
static int add_auto(struct tree *t, const struct worker_conf *c, const struct found *done,
		    size_t ndone, struct load_result *res)
{
	char dir[PATH_MAX];
	struct found *v = NULL;
	size_t n = 0, cap = 0;
	int rc;

	if (snprintf(dir, sizeof dir, "%s/etc/ays/local",
		     strcmp(c->auto_root, "/") ? c->auto_root : "") >= (int)sizeof dir)
		return 0;
	/* Its error is said once when it is the flist_dir just scanned. */
	if ((rc = scan(dir, 0, &v, &n, &cap)) && (c->nservices || strcmp(dir, c->flist_dir)))
		log_err("auto: %s: %s", dir, strerror(-rc));
	rc = 0;
	qsort(v, n, sizeof *v, by_path);
	for (size_t i = 0; i < n && !rc; i++) {
		bool seen = false;

		for (uint32_t j = 0; j < c->nservices && !seen; j++)
			seen = strcmp(c->services[j].id, v[i].id) == 0;
		for (size_t j = 0; j < ndone && !seen; j++)
			seen = strcmp(done[j].id, v[i].id) == 0 || strcmp(done[j].path, v[i].path) == 0;
		for (size_t j = 0; j < i && !seen; j++)
			seen = strcmp(v[j].id, v[i].id) == 0;
		if (seen)
			log_debug("auto: %s: service %s is mounted already", v[i].path, v[i].id);
		else
			rc = add_one(t, v[i].id, v[i].path, res);
	}
	for (size_t i = 0; i < n; i++) {
		free(v[i].id);
		free(v[i].path);
	}
	free(v);
	return rc;
}

/* Write the image into a memfd sealed against any change. Returns the fd or -errno. */
static int seal_image(struct tree *t, uint64_t generation, size_t *size)
{
	int fd = memfd_create("aysfs-index", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	int rc;

	*size = tree_image_size(t);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)*size)) {
		rc = -errno;
		goto fail;
	}
	rc = tree_image_write(t, generation, fd);
	if (rc)
		goto fail;
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL)) {
		rc = -errno;
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return rc;
}

/* The key is hashed on a thread of its own, while the stored image is read (its file's name is
 * known before the key) or, when there is none, while the flists are parsed (the key is needed
 * only to store the build). The thread reads P.v, which stays until key_wait. */
static struct {
	pthread_t th;
	bool running;
	int rc;
	uint8_t *out;
} K;

static void *keyer_main(void *arg)
{
	K.rc = key_end(K.out);
	return NULL;
}

static void key_start(uint8_t *out)
{
	K.out = out;
	K.running = pthread_create(&K.th, NULL, keyer_main, NULL) == 0;
	if (!K.running)
		keyer_main(NULL);
}

/* Returns 0 when the key is there, -1 when a flist could not be hashed. */
static int key_wait(void)
{
	if (K.running)
		pthread_join(K.th, NULL);
	K.running = false;
	return K.rc;
}

/* The stored image, read while the key is hashed. */
struct loader {
	const char *state_dir;
	uint8_t name[32];
	const uint8_t *want_sum;
	uint64_t generation;
	int rc, fd;
	struct istore_header h;
	struct order_item *order;
	size_t norder;
	char *notes;
	void *map;
	struct ix ix;
};

static void loader_main(struct loader *l)
{
	l->rc = istore_load(l->state_dir, l->name, NULL, l->want_sum, l->generation, &l->fd, &l->h,
			    &l->order, &l->norder, &l->notes, &l->map, &l->ix);
}

/* The image stored for the flists found (P), when it can stand for a build numbered against
 * prev. Returns 1 with res filled; 0 when it cannot (then res->name is set, and res->key once
 * key_wait returns 0). */
static int use_stored(const struct worker_conf *c, uint64_t generation, const struct ix *prev,
		      const uint8_t *prev_sum, struct load_result *res)
{
	struct loader l = { .state_dir = c->state_dir, .want_sum = prev ? prev_sum : NULL,
			    .generation = generation, .rc = 1, .fd = -1 };
	char file[64];

	hasher_final(&P.name, res->name);
	memcpy(l.name, res->name, sizeof l.name);
	key_start(res->key);
	if (prev && !prev_sum)
		log_info("index: the tree served has no stored image; building from the flists");
	else
		loader_main(&l);
	if (l.rc < 0)
		log_warn("index: the stored image in %s cannot be read: %s", c->state_dir,
			 strerror(-l.rc));
	if (l.rc)
		return 0;
	if (key_wait() || memcmp(l.h.key, res->key, sizeof res->key)) {
		istore_file_name(file, sizeof file, l.name);
		log_warn("index: %s/%s is not used (built from other flists or another configuration); "
			 "building from the flists", c->state_dir, file);
		close(l.fd);
		munmap(l.map, (size_t)l.h.image_size);
		free(l.order);
		free(l.notes);
		return 0;
	}
	res->fd = l.fd;
	res->map = l.map;
	res->ix = l.ix;
	res->order = l.order;
	res->norder = l.norder;
	res->size = (size_t)l.h.image_size;
	res->entries = l.h.entries;
	res->services = l.h.services;
	res->rejected += l.h.rejected;
	res->stored = true;
	memcpy(res->sum, l.h.sum, sizeof res->sum);
	log_info("index: unchanged flists, the stored image is used (%llu entries, %u services)",
		 (unsigned long long)l.h.entries, l.h.services);
	replay(l.notes, (size_t)l.h.notes_size);
	free(l.notes);
	pending_free();
	return 1;
}

int load_tree(const struct worker_conf *c, const char *cache_root, uint64_t generation,
	      const struct ix *prev, const uint8_t *prev_sum, struct load_result *res)
{
	uint32_t rejected_before;
	bool keying = false;
	int frc;
	struct tree *t = tree_new(c->prefix, (int64_t)time(NULL));
	struct found *v = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	memset(res, 0, sizeof *res);
	if (!t)
		return -ENOMEM;
	tree_set_limits(t, c->flist_max_size, c->flist_max_entries);
	copy_max = c->flist_max_size;
	accept_configure(c);
	refresh_configure(c, -1);
	refresh_load_begin();
	tree_set_min_hash(t, accept_min_hash());
	key_begin(c);
	if (c->nservices) {
		for (uint32_t i = 0; i < c->nservices && !rc; i++) {
			char *path = locate(c, &c->services[i]);

			if (!path) {
				rc = add_remote(t, c, cache_root, c->services[i].id, res);
				if (rc == 1) {
					log_err("service %s: no flist in %s nor in any layer; not mounted",
						c->services[i].id, c->flist_dir);
					res->rejected++;
					rc = 0;
				}
				continue;
			}
			rc = add_one(t, c->services[i].id, path, res);
			free(path);
		}
	} else {
		rc = scan(c->flist_dir, 0, &v, &n, &cap);
		if (rc)
			log_err("flist_dir %s: %s", c->flist_dir, strerror(-rc));
		rc = 0;
		/* qsort of a NULL array is undefined even when empty. An empty tree is the caller's
		 * warning (ictl_note_tree), in the log and in status. */
		if (n)
			qsort(v, n, sizeof *v, by_path);
		for (size_t i = 0; i < n && !rc; i++)
			rc = add_one(t, v[i].id, v[i].path, res);
	}
	if (!rc && c->auto_root[0])
		rc = add_auto(t, c, v, n, res);
	for (size_t i = 0; i < n; i++) {
		free(v[i].id);
		free(v[i].path);
	}
	free(v);
	refresh_load_end();
	if (P.ok && !rc && !P.direct) {
		if (use_stored(c, generation, prev, prev_sum, res)) {
			tree_free(t);
			P.ok = false;
			return 0;
		}
		keying = true;
	} else if (P.ok) {
		hasher_abort(&P.key);
		hasher_abort(&P.name);
	}
	P.ok = false;
	rejected_before = res->rejected;
	frc = parse_pending(t, res);
	/* Stored only with its key: every flist hashed. */
	if (keying)
		res->store = key_wait() == 0;
	pending_free();
	if (!rc)
		rc = frc;
	res->parse_rejected = res->rejected - rejected_before;
	if (res->store && N.len && (res->notes = malloc(N.len))) {
		memcpy(res->notes, N.buf, N.len);
		res->notes_len = N.len;
	}
	if (!rc) {
		long kept = tree_number(t, prev);

		res->entries = tree_count(t);
		if (kept < 0)
			rc = (int)kept;
		else if (prev)
			log_info("generation %llu: %lu of %llu entries keep their inode numbers",
				 (unsigned long long)generation, (unsigned long)kept + 1,
				 (unsigned long long)res->entries);
		if (!rc)
			rc = seal_image(t, generation, &res->size);
		if (rc >= 0)
			res->order = tree_take_order(t, &res->norder);
		if (rc >= 0) {
			res->fd = rc;
			rc = 0;
		}
	}
	tree_free(t);
	return rc;
}
