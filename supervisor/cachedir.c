/* cachedir.c — cache_dir and state_dir, made ready for the indexer before it starts.
 *
 * A missing folder is made for the indexer's account. One that exists must be that account's,
 * else the mount would run without a cache it can write: a folder root made beforehand (by hand,
 * by a package, from a backup) is given to the account when it holds nothing but the layout
 * aysfs itself writes there (cache: NAMESPACE/H0/H1/HASH, NAMESPACE/md/ID.flist, .recency,
 * .tmp-*; state: verified-*, index-*, revision-*), every entry root's, no symlink, no file with another link, nothing
 * mounted below; anything else is refused, naming what is in the way, as is a folder whose mode
 * keeps its owner from writing or that is on a read-only filesystem.
 *
 * The check walks everything first, then the second walk gives each entry away, children before
 * their folder: until then every folder is root's, so no other account can change what was
 * checked. A file given away gets a new change time, so the indexer hashes it again before
 * serving it (SPEC section 6).
 */
#include "supervisor/supervisor.h"

#include "ipc/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

enum kind { K_CACHE, K_NS, K_H0, K_H1, K_MD, K_STATE, K_FILE, K_SKIP, K_BAD };

struct walk {
	const char *ns;
	dev_t dev;
	uid_t uid;
	gid_t gid;
	bool give;              /* the second walk: chown (everything is still root's) */
	char bad[PATH_MAX + 64];
};

static bool hex_name(const char *s, size_t want)
{
	size_t n = strspn(s, "0123456789abcdef");

	return s[n] == '\0' && (want ? n == want : n == 32 || n == 64);
}

/* What `name` (of type dir or not) may be inside a folder of kind k. */
static enum kind child_kind(enum kind k, const char *name, bool dir, const char *ns)
{
	bool tmp = !dir && strncmp(name, ".tmp-", 5) == 0;

	switch (k) {
	case K_CACHE:
		if (dir && strcmp(name, ns) == 0)
			return K_NS;
		/* A cache on a filesystem of its own has one; fsck's, not ours to give away. */
		return dir && strcmp(name, "lost+found") == 0 ? K_SKIP : K_BAD;
	case K_NS:
		if (dir)
			return hex_name(name, 1) ? K_H0 : strcmp(name, "md") == 0 ? K_MD : K_BAD;
		return tmp || !strcmp(name, ".recency") || !strcmp(name, ".recency.tmp") ? K_FILE : K_BAD;
	case K_H0:
		return dir && hex_name(name, 1) ? K_H1 : K_BAD;
	case K_H1:
		return !dir && (tmp || hex_name(name, 0)) ? K_FILE : K_BAD;
	case K_MD: {
		size_t n = strlen(name);

		return !dir && (tmp || (n > 6 && !strcmp(name + n - 6, ".flist"))) ? K_FILE : K_BAD;
	}
	case K_STATE:
		return !dir && (!strncmp(name, "verified-", 9) || !strncmp(name, "index-", 6) ||
				!strncmp(name, "revision-", 9)) ? K_FILE : K_BAD;
	default:
		return K_BAD;
	}
}

/* One folder (dfd, consumed) of kind k at `path`: 0, or -1 with w->bad saying why. */
static int walk_dir(struct walk *w, int dfd, enum kind k, const char *path)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	int rc = 0;

	if (!d) {
		snprintf(w->bad, sizeof w->bad, "%s: %s", path, strerror(errno));
		close(dfd);
		return -1;
	}
	while (rc == 0 && (errno = 0, de = readdir(d))) {
		char sub[PATH_MAX];
		struct stat st;
		enum kind ck;
		int fd;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW)) {
			snprintf(w->bad, sizeof w->bad, "%s: %s", sub, strerror(errno));
			rc = -1;
			break;
		}
		ck = S_ISDIR(st.st_mode) || S_ISREG(st.st_mode) ?
		     child_kind(k, de->d_name, S_ISDIR(st.st_mode), w->ns) : K_BAD;
		if (ck == K_SKIP)
			continue;
		if (ck == K_BAD)
			snprintf(w->bad, sizeof w->bad, "%s, which is not the cache's", sub);
		else if (st.st_uid != 0)
			snprintf(w->bad, sizeof w->bad, "%s, which is uid %u's", sub, (unsigned)st.st_uid);
		else if (S_ISREG(st.st_mode) && st.st_nlink != 1)
			snprintf(w->bad, sizeof w->bad, "%s, which has other links", sub);
		else if (st.st_dev != w->dev)
			snprintf(w->bad, sizeof w->bad, "%s, which is another filesystem", sub);
		else
			w->bad[0] = '\0';
		if (w->bad[0]) {
			rc = -1;
			break;
		}
		if (S_ISDIR(st.st_mode)) {
			fd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			rc = fd < 0 ? -1 : walk_dir(w, fd, ck, sub);
			if (fd < 0)
				snprintf(w->bad, sizeof w->bad, "%s: %s", sub, strerror(errno));
		}
		if (rc == 0 && w->give &&
		    fchownat(dirfd(d), de->d_name, w->uid, w->gid, AT_SYMLINK_NOFOLLOW)) {
			snprintf(w->bad, sizeof w->bad, "%s: cannot give it away: %s", sub, strerror(errno));
			rc = -1;
		}
	}
	if (rc == 0 && errno) {
		snprintf(w->bad, sizeof w->bad, "%s: %s", path, strerror(errno));
		rc = -1;
	}
	closedir(d);
	return rc;
}

/* Give `dir` (fd, O_PATH), a folder of kind k that root owns, to uid:gid if it holds only our
 * layout; exits 1 otherwise. */
static void adopt(const char *key, const char *dir, int fd, enum kind k, const char *ns,
		  uid_t uid, gid_t gid)
{
	struct walk w = { .ns = ns, .uid = uid, .gid = gid };
	struct stat st;
	int rd = -1;

	if (fstat(fd, &st))
		die(1, "%s %s: %s", key, dir, strerror(errno));
	w.dev = st.st_dev;
	for (int pass = 0; pass < 2; pass++) {
		/* A folder of its own for each walk: a dup would share the first one's offset. */
		int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		w.give = pass == 1;
		if (dfd < 0)
			die(1, "%s %s: %s", key, dir, strerror(errno));
		if (rd < 0)
			rd = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
		if (walk_dir(&w, dfd, k, dir))
			die(1, "%s %s is root's and holds %s: refused (move that away, or give the "
			    "folder to uid %u)", key, dir, w.bad, (unsigned)uid);
	}
	/* The state folder is the indexer's alone. */
	if (rd < 0 || fchown(rd, uid, gid) || (k == K_STATE && fchmod(rd, 0700)))
		die(1, "%s %s: cannot give it to the indexer: %s", key, dir, strerror(errno));
	close(rd);
	log_notice("%s %s was root's, with only the cache's own files: given to uid %u", key, dir,
		   (unsigned)uid);
}

/* The folder `path` (made or found) is the indexer's, or the supervisor exits 1. O_PATH: root
 * has no CAP_DAC_OVERRIDE under the units, and the indexer's folders are 0700 or 0750. */
static void check_dir(const char *key, const char *path, enum kind k, const char *ns, uid_t uid,
		      gid_t gid)
{
	int fd = open(path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct statvfs sv;
	struct stat st;

	if (fd < 0 && (errno == ELOOP || errno == ENOTDIR) && lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
		die(1, "%s %s is a symlink: refused (name the folder itself)", key, path);
	if (fd < 0 || fstat(fd, &st))
		die(1, "%s %s: %s", key, path, strerror(errno ? errno : ENOTDIR));
	if (fstatvfs(fd, &sv) == 0 && sv.f_flag & ST_RDONLY)
		die(1, "%s %s is on a read-only filesystem: refused", key, path);
	if (st.st_uid == 0 && uid != 0)
		adopt(key, path, fd, k, ns, uid, gid);
	else if (st.st_uid != uid)
		die(1, "%s %s belongs to uid %u, not to the indexer's uid %u: refused", key, path,
		    (unsigned)st.st_uid, (unsigned)uid);
	if ((st.st_mode & 0300) != 0300)
		die(1, "%s %s: its mode %04o does not let its owner write there: refused", key, path,
		    (unsigned)(st.st_mode & 07777));
	close(fd);
}

void cachedir_prepare(const char *key, const char *dir, const char *ns, mode_t mode, uid_t uid,
		      gid_t gid)
{
	char path[PATH_MAX];
	size_t len = strlen(dir);
	struct stat st;

	if (len >= sizeof path - 256 || dir[0] != '/')
		die(1, "%s must be an absolute path: %s", key, dir);
	memcpy(path, dir, len + 1);
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) && errno != EEXIST)
			die(1, "cannot create %s: %s", path, strerror(errno));
		*p = '/';
	}
	if (mkdir(path, mode) == 0) {
		if (chown(path, uid, gid))
			die(1, "cannot give %s to the indexer: %s", path, strerror(errno));
		return;
	}
	if (errno != EEXIST)
		die(1, "cannot create %s: %s", path, strerror(errno));
	check_dir(key, path, ns ? K_CACHE : K_STATE, ns, uid, gid);
	/* The indexer's cache_dir may hold a namespace folder that root made (when root may look:
	 * without CAP_DAC_OVERRIDE, a cache_dir of mode 0750 is the indexer's to see into). */
	if (ns && snprintf(path + len, sizeof path - len, "/%s", ns) > 0 && lstat(path, &st) == 0)
		check_dir(key, path, K_NS, ns, uid, gid);
}
