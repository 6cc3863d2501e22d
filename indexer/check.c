/* check.c — `-check` (SPEC §1): the folders and layers of the configuration as the workers see
 * them, without mounting and without changing anything: the local cache and state folders (there
 * or can be made, the indexer's to write, room for cache_size), flist_dir and the flists named by
 * path, each layer (reachable, and which configured flists it holds), and with trusted_keys the
 * keys and whether each flist found would be accepted (SPEC §8). One log line per finding,
 * "check: …", a problem at ERROR level; the supervisor makes its own (the workers' accounts, the
 * mountpoint) and exits 1 when anyone found a problem.
 *
 * Runs in the indexer, under its Landlock rules and seccomp list, with the fetcher for the network
 * layers: what it finds is what the mount would find.
 */
#include "indexer/indexer.h"

#include "indexer/accept.h"
#include "indexer/fetch.h"
#include "indexer/hash.h"
#include "indexer/refresh.h"
#include "ipc/log.h"

#include <dirent.h>
#include <stdlib.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define CHECK_DEADLINE_S 20

/* A folder the indexer must write: there and writable, or missing (the supervisor makes it at
 * start-up). With `need` bytes (0: no figure), also the room its
 * filesystem has. Returns the problems found (0 or 1). */
static int check_folder(const char *key, const char *dir, uint64_t need)
{
	struct statvfs vfs;
	struct stat st;

	if (lstat(dir, &st) && errno == ENOENT) {
		log_info("check: %s %s does not exist; it is made at start-up", key, dir);
		return 0;
	}
	if (S_ISLNK(st.st_mode) || !S_ISDIR(st.st_mode)) {
		log_err("check: %s %s is not a folder%s", key, dir, S_ISLNK(st.st_mode) ? " (a symlink)" : "");
		return 1;
	}
	if (access(dir, W_OK | X_OK)) {
		log_err("check: %s %s is not writable by the workers' user (owner uid %u, mode %04o)", key,
			dir, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
		return 1;
	}
	if (need && statvfs(dir, &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < need) {
		log_err("check: %s %s: %llu bytes free on its filesystem, less than cache_size (%llu)",
			key, dir, (unsigned long long)vfs.f_bavail * vfs.f_frsize,
			(unsigned long long)need);
		return 1;
	}
	log_info("check: %s %s: writable by the workers", key, dir);
	return 0;
}

/* With trusted_keys: would the flist `name` of service id (its bytes hashed: sha) be accepted with
 * its .sig (sig, len)? Nothing is committed. Returns the problems (0 or 1). */
static int check_signed(const char *id, const char *name, const uint8_t sha[32], const char *sig,
			size_t len)
{
	char why[600];

	if (!accept_required())
		return 0;
	if (accept_check(id, name, sha, sig, len, false, why, sizeof why)) {
		log_err("check: service %s: %s would be refused: %s", id, name, why);
		return 1;
	}
	log_info("check: service %s: %s is signed by a trusted key", id, name);
	return 0;
}

/* check_signed for a local flist file and its .sig beside it. */
static int check_signed_file(const char *id, const char *path)
{
	char sigpath[PATH_MAX + 8], *sig = NULL;
	uint8_t sha[32];
	uint64_t n;
	long len;
	int fd, rc;

	if (!accept_required())
		return 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0 || hasher_fd(fd, 32, sha, &n)) {
		if (fd >= 0)
			close(fd);
		log_err("check: service %s: %s: cannot be read", id, path);
		return 1;
	}
	close(fd);
	snprintf(sigpath, sizeof sigpath, "%s.sig", path);
	len = accept_read_small(AT_FDCWD, sigpath, 4096, &sig);
	rc = check_signed(id, path, sha, len > 0 ? sig : NULL, len > 0 ? (size_t)len : 0);
	free(sig);
	return rc;
}

/* The trusted keys' folder: readable, with how many keys. Returns the problems (0 or 1). */
static int check_keys(const char *dir)
{
	unsigned keys = 0;
	struct dirent *de;
	DIR *d;

	if (!dir || !dir[0])
		return 0;
	if (!(d = opendir(dir))) {
		log_err("check: trusted_keys %s: %s", dir, strerror(errno));
		return 1;
	}
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);

		keys += l > 4 && !strcmp(de->d_name + l - 4, ".pub");
	}
	closedir(d);
	if (!keys) {
		log_err("check: trusted_keys %s holds no *.pub key: every flist would be refused", dir);
		return 1;
	}
	log_info("check: trusted_keys %s: %u keys", dir, keys);
	return 0;
}

/* What one network layer says of URL/NAMESPACE/md/ID.flist: 0 there, 1 not there (a 404), -1 not
 * reachable (why in the log). */
static int remote_flist(const struct worker_conf *c, const char *layer, const char *id,
			int *problems)
{
	char url[PATH_MAX], why[600], *sig = NULL;
	const char *const urls[1] = { url };
	struct fetch_result fr;
	size_t ul = strlen(layer), len = 0;
	struct hasher h;
	uint8_t sha[32];
	int fd, rc;

	while (ul > 0 && layer[ul - 1] == '/')
		ul--;
	if (snprintf(url, sizeof url, "%.*s/%s/md/%s.flist", (int)ul, layer, c->namespace, id) >=
	    (int)sizeof url)
		return -1;
	fd = memfd_create("aysfs-check", MFD_CLOEXEC);
	if (fd < 0 || hasher_init(&h, 32)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	rc = fetch_urls(&(struct fetch_sink){ .fd = fd }, &h, FETCH_FLIST, c->flist_max_size, urls, 1,
			CHECK_DEADLINE_S, &fr);
	hasher_final(&h, sha);
	close(fd);
	if (rc == -ENOENT)
		return 1;
	if (rc) {
		log_err("check: layer %s: not reachable: %s", layer, fr.reason);
		return -1;
	}
	if (accept_required() && problems) {
		if (refresh_fetch_sig(url, &sig, &len, why, sizeof why) && sig)
			free(sig), sig = NULL;
		*problems += check_signed(id, url, sha, sig, len);
		free(sig);
	}
	return 0;
}

int check_run(const struct worker_conf *c)
{
	char path[PATH_MAX];
	bool found[WCONF_MAX_SERVICES] = { false };  /* nservices is at most that (proto.c) */
	int problems = 0;
	bool local_cache = false;

	accept_configure(c);
	problems += check_keys(c->trusted_keys);

	for (uint32_t i = 0; i < c->nlayers; i++) {
		const char *dir = layer_local_path(c->layers[i].url);

		if (dir && c->layers[i].flags & WL_CACHE && access(dir, W_OK | X_OK) == 0) {
			log_info("check: the local cache is the folder cache %s", dir);
			local_cache = true;
			break;
		}
	}
	if (!local_cache)
		problems += check_folder("cache_dir", c->cache_dir, c->cache_size);
	problems += check_folder("state_dir", c->state_dir, 0);
	if (c->flist_dir[0] && access(c->flist_dir, R_OK | X_OK) && errno != ENOENT) {
		log_err("check: flist_dir %s: %s", c->flist_dir, strerror(errno));
		problems++;
	}
	for (uint32_t s = 0; s < c->nservices; s++) {
		const struct wire_service *sv = &c->services[s];

		if (sv->flist[0]) {
			found[s] = access(sv->flist, R_OK) == 0;
			if (!found[s])
				log_err("check: service %s: flist %s: %s", sv->id, sv->flist, strerror(errno));
			else
				problems += check_signed_file(sv->id, sv->flist);
			continue;
		}
		snprintf(path, sizeof path, "%s/%s.flist", c->flist_dir, sv->id);
		if (c->flist_dir[0] && access(path, R_OK) == 0) {
			log_info("check: service %s: %s", sv->id, path);
			found[s] = true;
			problems += check_signed_file(sv->id, path);
		}
	}
	for (uint32_t i = 0; i < c->nlayers; i++) {
		const char *url = c->layers[i].url, *dir = layer_local_path(url);
		unsigned have = 0, lack = 0;
		int down = 0;

		if (dir && access(dir, R_OK | X_OK)) {
			log_err("check: layer %s: %s", url, strerror(errno));
			problems++;
			continue;
		}
		for (uint32_t s = 0; s < c->nservices && !down; s++) {
			const struct wire_service *sv = &c->services[s];
			int rc;

			if (sv->flist[0])
				continue;
			if (dir) {
				snprintf(path, sizeof path, "%s/%s/md/%s.flist", dir, c->namespace, sv->id);
				rc = access(path, R_OK) ? 1 : 0;
				if (rc == 0)
					problems += check_signed_file(sv->id, path);
			} else {
				rc = remote_flist(c, url, sv->id, &problems);
			}
			if (rc < 0)
				down = 1;
			else if (rc == 0)
				have++, found[s] = true;
			else
				lack++;
		}
		if (down) {
			problems++;
			continue;
		}
		if (!dir && have + lack == 0 && remote_flist(c, url, ".check", NULL) < 0) {
			problems++;
			continue;
		}
		log_info("check: layer %s: reachable; holds %u of the %u flists looked up there", url,
			 have, have + lack);
	}
	for (uint32_t s = 0; s < c->nservices; s++)
		if (!found[s] && !c->services[s].flist[0]) {
			log_err("check: service %s: its flist is in no place (flist_dir, any layer)",
				c->services[s].id);
			problems++;
		}
	return problems;
}
