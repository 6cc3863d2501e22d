/* accept.h — which flists this node accepts (SPEC §8): signatures by trusted keys, the revision
 * floor kept in the node's state, expiry; and what `status` says of each service's flist. */
#ifndef AYSFS_ACCEPT_H
#define AYSFS_ACCEPT_H

#include "ipc/proto_workers.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Take the configuration's trusted_keys, min_hash and state_dir (copied). Any thread after. */
void accept_configure(const struct worker_conf *c);

/* Do flists need a signature (trusted_keys is set)? */
bool accept_required(void);
/* The shortest hash a signed flist may list: 16 (any) or 32 (SHA-256 only). */
unsigned accept_min_hash(void);

/* Check the flist `name` (a path or URL, for messages) of service `id`, whose bytes have the
 * SHA-256 `sha`, against its .sig (sig, len bytes; NULL when there is none). With `commit`, an
 * accepted flist raises the floor in the state folder (written before this returns) and becomes
 * the service's entry in `status`. Returns 0 (accepted; a warning is logged when it expired but
 * is the copy last accepted), or -EPERM with the exact reason in why (not logged here). */
int accept_check(const char *id, const char *name, const uint8_t sha[32], const char *sig,
		 size_t len, bool commit, char *why, size_t whylen);

/* The last check of a service's remote flist, for `status` ("not modified", a failure, …). */
void accept_note_check(const char *id, const char *what);

/* Once a day per served flist whose signature has expired: one warning (called periodically). */
void accept_expiry_warnings(void);

/* The services' flists for `status`: revision, key, expiry, last check. Returns 0. */
int accept_report(FILE *out);

/* Read a small file (a .sig, a key) of at most max bytes from dirfd/path into a malloc'd buffer.
 * Returns its length, -ENOENT, -EFBIG or another -errno. */
long accept_read_small(int dirfd, const char *path, size_t max, char **out);

/* "service_revision ID N" for each service whose signed flist was accepted (the indexer's "stats"). */
void accept_stats(FILE *out);

#endif
