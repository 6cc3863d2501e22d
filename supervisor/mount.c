/* mount.c — the mount itself: made with mount(2) on an fd of /dev/fuse that the fuser inherits. */
#include "supervisor/supervisor.h"

#include "ipc/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

int mount_clear_stale(const char *mnt)
{
	struct stat st;

	if (stat(mnt, &st) == 0)
		return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
	if (errno != ENOTCONN)
		return -errno;
	log_warn("%s: clearing a stale mount left by an earlier run", mnt);
	if (umount2(mnt, MNT_DETACH) && errno != EINVAL)
		return -errno;
	if (stat(mnt, &st))
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int mount_fuse(const char *mnt)
{
	char opts[160];
	int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	/* Permissions are the kernel's (default_permissions) from the modes in the index; every
	 * user may read (allow_other); nothing on it can gain privileges or be a device. */
	snprintf(opts, sizeof opts,
		 "fd=%d,rootmode=40000,user_id=0,group_id=0,allow_other,default_permissions", fd);
	if (mount("aysfs", mnt, "fuse.aysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOATIME,
		  opts)) {
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
