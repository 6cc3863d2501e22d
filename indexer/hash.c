/* hash.c — MD5 and SHA-256 through OpenSSL's EVP interface. */
#include "indexer/hash.h"

#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#define HASH_BUF (256 * 1024)

/* The two digests, fetched from the default provider once: EVP_md5() and EVP_sha256() make
 * EVP_DigestInit_ex look the algorithm up again at every blob (a lock and a name search). */
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;
static EVP_MD *md5, *sha256;

static void fetch_digests(void)
{
	md5 = EVP_MD_fetch(NULL, "MD5", NULL);
	sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

int hasher_init(struct hasher *h, size_t len)
{
	const EVP_MD *md;

	pthread_once(&fetch_once, fetch_digests);
	md = len == 16 ? md5 ? md5 : EVP_md5() : len == 32 ? sha256 ? sha256 : EVP_sha256() : NULL;

	h->ctx = NULL;
	h->len = len;
	if (!md)
		return -EINVAL;
	h->ctx = EVP_MD_CTX_new();
	if (!h->ctx)
		return -ENOMEM;
	if (!EVP_DigestInit_ex(h->ctx, md, NULL)) {
		hasher_abort(h);
		return -ENOMEM;
	}
	return 0;
}

void hasher_update(struct hasher *h, const void *p, size_t n)
{
	EVP_DigestUpdate(h->ctx, p, n);
}

void hasher_final(struct hasher *h, uint8_t *out)
{
	unsigned n = 0;

	EVP_DigestFinal_ex(h->ctx, out, &n);
	hasher_abort(h);
}

void hasher_abort(struct hasher *h)
{
	EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
}

int hasher_fd(int fd, size_t len, uint8_t *out, uint64_t *n)
{
	static __thread uint8_t *buf;
	struct hasher h;
	off_t off = 0;
	int rc;

	if (!buf && !(buf = malloc(HASH_BUF)))
		return -ENOMEM;
	if ((rc = hasher_init(&h, len)))
		return rc;
	for (;;) {
		ssize_t r = pread(fd, buf, HASH_BUF, off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			hasher_abort(&h);
			return rc;
		}
		if (r == 0)
			break;
		hasher_update(&h, buf, (size_t)r);
		off += r;
	}
	hasher_final(&h, out);
	*n = (uint64_t)off;
	return 0;
}
