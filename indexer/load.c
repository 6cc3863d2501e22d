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
#include "indexer/refresh.h"
#include "indexer/sig.h"
#include "indexer/tree.h"
#include "ipc/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

static void warn_stats(const char *name, const struct tree_flist_stats *st)
{
	if (st->outside_prefix)
		log_warn("%s: %lu entries outside the prefix were skipped", name, st->outside_prefix);
	if (st->conflicts) {
		char who[160];

		if (st->first_conflict_winner)
			snprintf(who, sizeof who, "service %s has it", st->first_conflict_winner);
		else
			snprintf(who, sizeof who, "it is the root of the tree");
		if (st->conflicts == 1)
			log_warn("%s: 1 entry clashes with an earlier service and was skipped: %s "
				 "(line %u; %s)", name, st->first_conflict_path, st->first_conflict_line, who);
		else
			log_warn("%s: %lu entries clash with earlier services and were skipped, the first "
				 "%s (line %u; %s)", name, st->conflicts, st->first_conflict_path,
				 st->first_conflict_line, who);
	}
	if (st->unknown_keys)
		log_warn("%s: %lu fields with unknown keys were ignored (first: '%s' at line %u)",
			 name, st->unknown_keys, st->first_unknown_key, st->first_unknown_line);
}

/* Add the flist on fd as service `id`; `name` is how messages call it. Returns 0 when it was added,
 * 1 when it was rejected (logged), or -errno when the tree itself failed. */
static int add_fd(struct tree *t, const char *id, const char *name, int fd, struct load_result *res)
{
	struct tree_flist_stats st;
	char err[512];
	int rc;

	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	rc = tree_add_flist_fd(t, id, name, fd, &st, err, sizeof err);
	if (rc == -EINVAL) {
		log_err("%s; service %s is not mounted", err, id);
		res->rejected++;
		return 1;
	}
	if (rc) {
		log_err("service %s: %s", id, strerror(-rc));
		return rc;
	}
	warn_stats(name, &st);
	log_info("service %s: %lu entries from %s", id, st.added, name);
	res->services++;
	return 0;
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

/* [main] flist_max_size of the load in progress: a signed flist's private copy is bounded by it. */
static uint64_t copy_max = 512ull << 20;

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
		       struct load_result *res)
{
	uint8_t sha[32];
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

static int add_one(struct tree *t, const char *id, const char *path, struct load_result *res)
{
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
		rc = signed_copy(id, path, &fd, sig, len < 0 ? 0 : (size_t)len, res);
		free(sig);
		if (rc) {
			close(fd);
			return 0;
		}
	}
	rc = add_fd(t, id, path, fd, res);
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
			rc = add_fd(t, id, url, fd, res);
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

int load_tree(const struct worker_conf *c, const char *cache_root, uint64_t generation,
	      const struct ix *prev, struct load_result *res)
{
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
