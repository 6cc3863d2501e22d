/* upload.h — aysfs-pack's publication into a remote store (tools/upload.c). */
#ifndef AYSFS_UPLOAD_H
#define AYSFS_UPLOAD_H

#include <stdbool.h>
#include <stdint.h>

struct upload_opts {
	const char *endpoint;           /* s3://: NULL for https://s3.amazonaws.com */
	const char *region;             /* s3://: NULL for us-east-1 */
	const char *credentials;        /* s3://: a file of access_key = …, secret_key = …; NULL: anonymous */
	bool quiet;
};

/* Is this STORE a remote one (s3://, http://, https://)? */
bool upload_is_remote(const char *store);

/* Check the options for remote (credentials read and parsed now). Returns 0, or 1 (a usage
 * error, said). */
int upload_prepare(const char *remote, const struct upload_opts *o);

/* Publish the store laid out in the folder `local` (NS/H0/H1/HASH…, NS/md/ID.flist[.sig]) into
 * remote: the blobs it lacks (asked with HEAD, in parallel), then the flist, then its .sig.
 * Returns 0, or 2 (an I/O error, said: the flist was not written). *uploaded and *present
 * count the blobs. */
int upload_store(const char *local, const char *remote, const char *ns, const char *id,
		 unsigned long *uploaded, unsigned long *present, uint64_t *bytes);

#endif
