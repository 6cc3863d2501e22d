/* s3keys.c — the bytes of the s3:// layers' credentials files, for the fetcher (MSG_S3, proto.h).
 * Those files are root's (mode 0600), so root reads them — bytes only: the fetcher parses them —
 * and appends them to what aysfs-config wrote of the layers; the fetcher alone receives them, the
 * indexer never sees a key. Nothing here logs a byte of a file.
 */
#include "supervisor/supervisor.h"

#include "ipc/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* One credentials file into buf (at most S3_KEYFILE_MAX bytes). Returns its length or -errno. */
static ssize_t read_keyfile(const char *path, char *buf, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW);
	struct stat st;
	ssize_t n = -1;

	if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size > S3_KEYFILE_MAX) {
		snprintf(err, errlen, "credentials %s: %s", path, fd < 0 || errno ? strerror(errno) :
			 "not a regular file of at most 1024 bytes");
		goto out;
	}
	if (st.st_mode & (S_IRGRP | S_IROTH) || st.st_uid != 0)
		log_warn("credentials %s can be read by %s (chown root and chmod 600 it)", path,
			 st.st_uid != 0 ? "its owner, not root" : "other accounts");
	do
		n = pread(fd, buf, S3_KEYFILE_MAX, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		snprintf(err, errlen, "credentials %s: %s", path, strerror(errno));
out:
	if (fd >= 0)
		close(fd);
	return n;
}

int s3keys_append(struct rootconf *c, char *err, size_t errlen)
{
	char key[S3_KEYFILE_MAX];
	struct ipc_wr w;
	int rc = 0;

	ipc_wr_init(&w, c->s3 + c->s3_len, sizeof c->s3 - c->s3_len);
	for (uint32_t i = 0; i < c->ns3 && !rc; i++) {
		ssize_t kl = 0;

		if (c->s3cred[i][0] && (kl = read_keyfile(c->s3cred[i], key, err, errlen)) < 0)
			rc = -EACCES;
		ipc_wr_str(&w, key, kl > 0 ? (size_t)kl : 0);
	}
	explicit_bzero(key, sizeof key);
	if (!rc && w.bad) {
		snprintf(err, errlen, "the s3:// layers' settings are too long");
		rc = -E2BIG;
	}
	if (rc)
		explicit_bzero(c->s3, sizeof c->s3);
	else
		c->s3_len += w.len;
	return rc;
}
