/* watch.c — the configuration file, the flists named by path and flist_dir, watched with inotify
 * (SPEC section 6): a flist's change makes a new tree here; the configuration's is told to the
 * supervisor, which reads the file again as on SIGHUP. Root watches nothing itself.
 *
 * Files (the configuration, and flists given by path in [[ays]]) are watched through their folders,
 * since editors and configuration tools replace a file by renaming a new one over it. flist_dir is searched recursively by the indexer, so each of its
 * folders is watched (up to WATCH_MAX_DIRS). Changes come in bursts (a copy is a create, writes
 * and a close): a reload starts once WATCH_DEBOUNCE_MS pass without a change, and never later than
 * WATCH_MAX_WAIT_MS after the first. After each reload the watches are set again from the new
 * configuration (flist_dir may have moved, folders may have appeared).
 */
#include "indexer/watch.h"

#include "ipc/ipc.h"
#include "ipc/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define WATCH_MAX_DIRS  256
#define WATCH_MAX_DEPTH 16
#define WATCH_MAX_FILES 64

enum { W_FILES = 1, W_FLISTS = 2 };

static int ifd = -1;
static struct {
	int wd;
	unsigned kind;
} dirs[WATCH_MAX_DIRS + 1];
static int ndirs;
static struct {
	int wd;
	unsigned what;                  /* WATCH_TREE or WATCH_CONFIG */
	char name[NAME_MAX + 1];
} files_watched[WATCH_MAX_FILES];
static unsigned pending;
static int nfiles_watched;
static int64_t first_at, due_at;        /* 0: nothing pending */
static bool warned_full;

static int add(const char *dir, unsigned kind, uint32_t mask)
{
	int wd;

	if (ndirs >= WATCH_MAX_DIRS) {
		if (!warned_full)
			log_warn("%s: over %d folders to watch; changes below the others need a reload "
				 "(SIGHUP or aysfs-ctl reload)", dir, WATCH_MAX_DIRS);
		warned_full = true;
		return -1;
	}
	/* A folder watched for two reasons gets one wd with both masks (IN_MASK_ADD). */
	wd = inotify_add_watch(ifd, dir, mask | IN_ONLYDIR | IN_DONT_FOLLOW | IN_MASK_ADD);
	if (wd < 0) {
		if (errno != ENOENT)
			log_warn("cannot watch %s: %s", dir, strerror(errno));
		return -1;
	}
	for (int i = 0; i < ndirs; i++)
		if (dirs[i].wd == wd) {
			dirs[i].kind |= kind;
			return wd;
		}
	dirs[ndirs].wd = wd;
	dirs[ndirs++].kind = kind;
	return wd;
}

static void add_file(const char *path, unsigned what)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/'), *name = slash ? slash + 1 : path;
	int wd;

	if (!*name || strlen(name) > NAME_MAX || nfiles_watched >= WATCH_MAX_FILES)
		return;
	if (!slash)
		snprintf(dir, sizeof dir, ".");
	else
		snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
	wd = add(dir, W_FILES, IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE);
	if (wd < 0)
		return;
	files_watched[nfiles_watched].wd = wd;
	files_watched[nfiles_watched].what = what;
	memcpy(files_watched[nfiles_watched++].name, name, strlen(name) + 1);
}

static void add_tree(const char *dir, int depth)
{
	struct dirent *e;
	DIR *d;

	add(dir, W_FLISTS, IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE |
			   IN_DELETE_SELF | IN_MOVE_SELF);
	if (depth >= WATCH_MAX_DEPTH || !(d = opendir(dir)))
		return;
	while ((e = readdir(d))) {
		char sub[PATH_MAX];
		struct stat st;

		if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
			continue;
		if ((size_t)snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name) >= sizeof sub)
			continue;
		if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
			add_tree(sub, depth + 1);
	}
	closedir(d);
}

int watch_set(const char *config_file, const char *const *files, size_t nfiles,
	      const char *flist_dir)
{
	if (ifd < 0) {
		ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		if (ifd < 0) {
			int err = errno;

			log_warn("no inotify (%s): changes reload only on SIGHUP or aysfs-ctl reload",
				 strerror(err));
			return -err;
		}
	}
	/* Changes seen so far are in the reload that just happened (or in the first tree). */
	first_at = due_at = 0;
	pending = 0;
	/* Start over: removing every watch is simpler than working out which ones changed. */
	for (int i = 0; i < ndirs; i++)
		inotify_rm_watch(ifd, dirs[i].wd);
	ndirs = 0;
	nfiles_watched = 0;
	warned_full = false;
	if (config_file && config_file[0])
		add_file(config_file, WATCH_CONFIG);
	for (size_t i = 0; i < nfiles; i++)
		if (files[i] && files[i][0])
			add_file(files[i], WATCH_TREE);
	if (flist_dir && flist_dir[0])
		add_tree(flist_dir, 0);
	return 0;
}

void watch_close(void)
{
	if (ifd >= 0)
		close(ifd);
	ifd = -1;
	ndirs = 0;
}

int watch_pollfd(struct pollfd *p, int *timeout_ms)
{
	if (ifd < 0)
		return 0;
	p->fd = ifd;
	p->events = POLLIN;
	p->revents = 0;
	if (due_at) {
		int64_t left = due_at - mono_ms();

		if (left < 0)
			left = 0;
		if (*timeout_ms < 0 || left < *timeout_ms)
			*timeout_ms = (int)left;
	}
	return 1;
}

/* What an event changes: WATCH_TREE, WATCH_CONFIG, both (a lost event: anything), or 0. */
static unsigned relevant(const struct inotify_event *ev)
{
	unsigned kind = 0, what = 0;
	size_t len;

	if (ev->mask & IN_Q_OVERFLOW)
		return WATCH_TREE | WATCH_CONFIG;
	for (int i = 0; i < ndirs; i++)
		if (dirs[i].wd == ev->wd)
			kind = dirs[i].kind;
	if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF))
		return kind & W_FLISTS ? WATCH_TREE : 0;
	if (!ev->len)
		return 0;
	if (kind & W_FILES)
		for (int i = 0; i < nfiles_watched; i++)
			if (files_watched[i].wd == ev->wd && strcmp(ev->name, files_watched[i].name) == 0)
				what |= files_watched[i].what;
	if (!(kind & W_FLISTS))
		return what;
	len = strlen(ev->name);
	/* A folder coming or going may hold flists; a file counts when it is a flist. */
	if (ev->mask & IN_ISDIR || (len > 6 && strcmp(ev->name + len - 6, ".flist") == 0))
		what |= WATCH_TREE;
	return what;
}

unsigned watch_process(const struct pollfd *p, int n)
{
	unsigned what;
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	int64_t now = mono_ms();

	if (n > 0 && p->revents & POLLIN) {
		ssize_t len;

		while ((len = read(ifd, buf, sizeof buf)) > 0) {
			for (char *q = buf; q < buf + len;) {
				const struct inotify_event *ev = (const struct inotify_event *)q;

				unsigned now_what = relevant(ev);

				if (now_what) {
					pending |= now_what;
					if (!first_at)
						first_at = now;
					due_at = now + WATCH_DEBOUNCE_MS;
					if (due_at > first_at + WATCH_MAX_WAIT_MS)
						due_at = first_at + WATCH_MAX_WAIT_MS;
				}
				q += sizeof *ev + ev->len;
			}
		}
	}
	if (!due_at || now < due_at)
		return 0;
	first_at = due_at = 0;
	what = pending;
	pending = 0;
	return what;
}
