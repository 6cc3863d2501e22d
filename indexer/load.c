/* load.c — find the configured flists, parse them into one tree, and seal its image in a memfd.
 *
 * Where a service's flist comes from, first found wins: its `flist = "FILE"`; FLIST_DIR/ID.flist;
 * then LAYER/NAMESPACE/md/ID.flist of each local-folder layer in order. With no service
 * configured, every *.flist below FLIST_DIR (recursively) is a service, in byte order of paths.
 */
#include "indexer/indexer.h"

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
	if (st->conflicts)
		log_warn("%s: %lu entries clash with earlier services and were skipped (first at line %u)",
			 name, st->conflicts, st->first_conflict_line);
	if (st->unknown_keys)
		log_warn("%s: %lu fields with unknown keys were ignored (first: '%s' at line %u)",
			 name, st->unknown_keys, st->first_unknown_key, st->first_unknown_line);
}

static int add_one(struct tree *t, const char *id, const char *path, struct load_result *res)
{
	struct tree_flist_stats st;
	char err[512];
	struct stat sb;
	int rc, fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0 || fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
		log_err("service %s: cannot read %s: %s", id, path, fd < 0 ? strerror(errno) : "not a file");
		if (fd >= 0)
			close(fd);
		res->rejected++;
		return 0;
	}
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	rc = tree_add_flist_fd(t, id, path, fd, &st, err, sizeof err);
	close(fd);
	if (rc == -EINVAL) {
		log_err("%s; service %s is not mounted", err, id);
		res->rejected++;
		return 0;
	}
	if (rc) {
		log_err("service %s: %s", id, strerror(-rc));
		return rc;
	}
	warn_stats(path, &st);
	log_info("service %s: %lu entries from %s", id, st.added, path);
	res->services++;
	return 0;
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

int load_tree(const struct worker_conf *c, uint64_t generation, struct load_result *res)
{
	struct tree *t = tree_new(c->prefix, (int64_t)time(NULL));
	struct found *v = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	memset(res, 0, sizeof *res);
	if (!t)
		return -ENOMEM;
	if (c->nservices) {
		for (uint32_t i = 0; i < c->nservices && !rc; i++) {
			char *path = locate(c, &c->services[i]);

			if (!path) {
				log_err("service %s: no flist in %s nor in any local layer; not mounted",
					c->services[i].id, c->flist_dir);
				res->rejected++;
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
		qsort(v, n, sizeof *v, by_path);
		for (size_t i = 0; i < n && !rc; i++)
			rc = add_one(t, v[i].id, v[i].path, res);
		if (n == 0)
			log_warn("no service configured and no *.flist in %s: the tree is empty",
				 c->flist_dir);
	}
	for (size_t i = 0; i < n; i++) {
		free(v[i].id);
		free(v[i].path);
	}
	free(v);
	if (!rc) {
		res->entries = tree_count(t);
		rc = seal_image(t, generation, &res->size);
		if (rc >= 0) {
			res->fd = rc;
			rc = 0;
		}
	}
	tree_free(t);
	return rc;
}
