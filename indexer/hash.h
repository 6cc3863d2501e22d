/* hash.h — the two content hashes of flists: MD5 (32 hex digits, the original format) and SHA-256. */
#ifndef AYSFS_HASH_H
#define AYSFS_HASH_H

#include <stddef.h>
#include <stdint.h>

struct hasher {
	void *ctx;              /* EVP_MD_CTX */
	size_t len;             /* 16 or 32 */
};

/* Returns 0, -EINVAL for a length that is neither 16 nor 32, or -ENOMEM. */
int hasher_init(struct hasher *h, size_t len);
void hasher_update(struct hasher *h, const void *p, size_t n);
/* Writes h->len bytes to out and frees the context. */
void hasher_final(struct hasher *h, uint8_t *out);
/* Frees the context without a result (on an error path). */
void hasher_abort(struct hasher *h);

/* Hash what fd holds, from offset 0 to its end (pread: the file offset is not moved), with a hash
 * of len bytes (16 or 32); its length in *n. Returns 0 or -errno. */
int hasher_fd(int fd, size_t len, uint8_t *out, uint64_t *n);

#endif
