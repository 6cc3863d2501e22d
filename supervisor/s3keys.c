/* s3keys.c — what the fetcher needs of the s3:// layers (MSG_S3, proto.h): their endpoints and
 * regions, and the bytes of their credentials files. Those files are root's (mode 0600), so root
 * reads them — bytes only: the fetcher parses them — and hands them to the fetcher alone; the
 * indexer, which builds the URLs, never sees a key. Nothing here logs a byte of a file.
 */
#include "supervisor/supervisor.h"

#include "config/config.h"

#include "ipc/ipc.h"
#include "ipc/log.h"
#include "ipc/proto.h"

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

int s3keys_build(const struct config *c, uint8_t *buf, size_t size, size_t *len, char *err,
		 size_t errlen)
{
	char key[S3_KEYFILE_MAX];
	struct ipc_wr w;
	uint32_t n = 0;
	int rc = 0;

	for (size_t i = 0; i < c->nlayers; i++)
		n += strncmp(c->layers[i].url, "s3://", 5) == 0;
	if (n > S3_MAX_LAYERS) {
		snprintf(err, errlen, "more than %d s3:// layers", S3_MAX_LAYERS);
		return -E2BIG;
	}
	ipc_wr_init(&w, buf, size);
	ipc_wr_u32(&w, n);
	for (size_t i = 0; i < c->nlayers && !rc; i++) {
		const struct cfg_layer *l = &c->layers[i];
		ssize_t kl = 0;

		if (strncmp(l->url, "s3://", 5))
			continue;
		if (l->credentials && (kl = read_keyfile(l->credentials, key, err, errlen)) < 0)
			rc = -EACCES;
		ipc_wr_cstr(&w, l->url);
		ipc_wr_cstr(&w, l->endpoint ? l->endpoint : "");
		ipc_wr_cstr(&w, l->region ? l->region : "");
		ipc_wr_cstr(&w, l->credentials ? l->credentials : "");
		ipc_wr_str(&w, key, kl > 0 ? (size_t)kl : 0);
		if (strlen(l->url) > S3_URL_MAX || (l->endpoint && strlen(l->endpoint) > S3_ENDPOINT_MAX) ||
		    (l->region && strlen(l->region) > S3_REGION_MAX) ||
		    (l->credentials && strlen(l->credentials) > S3_URL_MAX))
			w.bad = true;
	}
	explicit_bzero(key, sizeof key);
	if (!rc && w.bad) {
		snprintf(err, errlen, "the s3:// layers' settings are too long");
		rc = -E2BIG;
	}
	if (rc)
		explicit_bzero(buf, size);
	else
		*len = w.len;
	return rc;
}
