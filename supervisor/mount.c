/* mount.c — the mount itself: made with mount(2) on an fd of /dev/fuse that the fuser inherits. */
#include "supervisor/supervisor.h"

#include "ipc/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

int mount_clear_stale(const char *mnt)
{
	struct statfs sf;
	struct stat st;

	/* Dead mounts may be stacked (a crash after a mount over a dead one): clear each. statfs
	 * always reaches a FUSE server; stat may be answered from the kernel's attribute cache even
	 * when the connection is dead. */
	for (int i = 0; i < 8; i++) {
		if (statfs(mnt, &sf) == 0 || (errno != ENOTCONN && errno != ECONNABORTED)) {
			if (stat(mnt, &st) == 0)
				return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
			if (errno != ENOTCONN && errno != ECONNABORTED)
				return -errno;
		}
		log_warn("%s: clearing a stale mount left by an earlier run", mnt);
		if (umount2(mnt, MNT_DETACH | UMOUNT_NOFOLLOW))
			return -errno;
	}
	return -ENOTCONN;
}

unsigned long mount_not_empty(const char *mnt, bool warn)
{
	DIR *d = opendir(mnt);
	struct dirent *de;
	char first[256] = "";
	unsigned long n = 0;

	while (d && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && !n++)
			snprintf(first, sizeof first, "%s", de->d_name);
	if (d)
		closedir(d);
	if (n && warn)
		log_warn("mountpoint %s is not empty: its %lu entries (%s, ...) are hidden while the "
			 "tree is mounted over them", mnt, n, first);
	return n;
}

static bool read_write;

void mount_read_write(bool rw)
{
	read_write = rw;
}

/* A fresh mount after the fuser and the indexer died together (takeover.c) is made when root's
 * seccomp filter is on, which opens nothing read-write: the folder and a few /dev/fuse fds are
 * opened at the first mount and kept. */
#define MOUNT_SPARES 4
static int dir = -1, spare[MOUNT_SPARES], nspare;

int mount_fuse(const char *mnt)
{
	struct open_how how = { .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
				.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS };
	char opts[160], target[32];
	int fd;

	/* mnt was resolved (realpath) before: a symlink in it now is one put there since, and the
	 * mount would land elsewhere. The mount is made on the folder opened here, then and later. */
	if (dir < 0) {
		dir = (int)syscall(SYS_openat2, AT_FDCWD, mnt, &how, sizeof how);
		if (dir < 0)
			return errno == ELOOP ? -ELOOP : -errno;
		while (nspare < MOUNT_SPARES && (fd = open("/dev/fuse", O_RDWR | O_CLOEXEC)) >= 0)
			spare[nspare++] = fd;
		fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	} else if (nspare > 0) {
		fd = spare[--nspare];
	} else {
		log_crit("%s: no /dev/fuse fd is left for another fresh mount (%d made)", mnt,
			 MOUNT_SPARES);
		return -EMFILE;
	}
	if (fd < 0)
		return -errno;
	snprintf(target, sizeof target, "/proc/self/fd/%d", dir);
	/* Permissions are the kernel's (default_permissions) from the modes in the index; every
	 * user may read (allow_other); nothing on it can gain privileges or be a device. */
	snprintf(opts, sizeof opts,
		 "fd=%d,rootmode=40000,user_id=0,group_id=0,allow_other,default_permissions", fd);
	if (mount("aysfs", target, "fuse.aysfs", (read_write ? 0 : MS_RDONLY) | MS_NOSUID | MS_NODEV |
		  MS_NOATIME, opts)) {
		int err = errno;

		close(fd);
		return -err;
	}
	return fd;
}

int mount_remove(const char *mnt)
{
	if (umount2(mnt, UMOUNT_NOFOLLOW) == 0)
		return 0;
	if (errno != EBUSY)
		return -errno;
	log_notice("%s: busy; detaching it (it goes when the last user leaves)", mnt);
	return umount2(mnt, MNT_DETACH | UMOUNT_NOFOLLOW) ? -errno : 0;
}
