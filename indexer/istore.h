/* istore.h — the built index image kept on disk, keyed by what it was built from.
 *
 * STATE/index-NAME holds a header, the image as the
 * fuser maps it (with generation 0), the files with order=N of that tree, and what its parse
 * logged (one "LEVEL text" a line, LEVEL a digit of enum log_level), said again when it is used. The key is the
 * SHA-256 of the format versions, the configuration that shapes the image (prefix, flist limits,
 * min_hash) and each mounted flist in order (service id, name, SHA-256 of its bytes, of its .sig).
 * NAME (8 bytes in hex) is where to look, known before the flists are hashed: a hash of the same
 * configuration and of each flist's file identity (device, inode, size, times; a signed flist's
 * SHA-256), so that the stored image is read while the flists are hashed; the key in the header
 * decides. A mount or reload whose key did not change copies the stored image into a sealed memfd
 * instead of parsing the flists; the file is checked, not trusted: header, size, checksum, key,
 * then ix_open.
 */
#ifndef AYSFS_ISTORE_H
#define AYSFS_ISTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ISTORE_MAGIC    "AYSFSIS\x01"
#define ISTORE_VERSION  2
#define ISTORE_KEEP     2               /* stored images kept in state_dir at most */
#define ISTORE_ORDER_REC 56             /* bytes of one order=N record */
#define ISTORE_MAX_ORDER (1u << 26)
#define ISTORE_MAX_NOTES (1u << 20)     /* bytes of the parse's messages kept */

struct istore_header {
	char magic[8];
	uint32_t version;       /* ISTORE_VERSION */
	uint32_t ix_version;    /* IX_VERSION of the image */
	uint8_t key[32];
	uint8_t sum[32];        /* checksum (indexer/sum.h) of everything after the header */
	uint64_t image_size;
	uint64_t norder;        /* order records after the image */
	uint64_t entries;
	uint32_t services;      /* mounted by that build */
	uint32_t rejected;      /* rejected by that build's parse (malformed flists) */
	uint64_t notes_size;    /* bytes of the parse's messages after the order records */
};
_Static_assert(sizeof(struct istore_header) == 120, "the stored header's layout");

/* Check a stored header (len bytes at buf, of a file of file_size bytes) against the key the
 * inputs hash to (NULL: not yet known; the caller compares out->key). Returns 0 and copies it to
 * *out, or -EINVAL with the reason in why. */
int istore_check_header(const void *buf, size_t len, uint64_t file_size, const uint8_t key[32],
			struct istore_header *out, char *why, size_t whylen);

/* "index-NAME" of name_key, into buf (64 bytes are enough). */
void istore_file_name(char *buf, size_t len, const uint8_t name_key[32]);

/* One order=N record, little-endian on this host: order, service, size, hash_len, hash. */
struct order_item;
void istore_order_put(uint8_t rec[ISTORE_ORDER_REC], const struct order_item *o);
/* Returns 0, or -EINVAL for a record that cannot be one (hash length). */
int istore_order_get(const uint8_t rec[ISTORE_ORDER_REC], struct order_item *o);

/* Check the parse's messages: lines of a level digit and printable text. Returns 0 or -EINVAL. */
int istore_check_notes(const char *buf, size_t len);

/* The stored image STATE/index-NAME (of name_key) whose key is `key` (NULL: any; the caller
 * compares hdr->key), copied into a sealed memfd with `generation` in its
 * header and validated (ix_open). want_sum (NULL: any) is the checksum the image must have (a
 * reload uses only the image being served, which the numbering would reproduce). Returns 0 with
 * *fd, *hdr, *order (malloc'd, *norder), *notes (malloc'd, hdr->notes_size bytes) and the
 * validated read-only mapping of the memfd (*map, *ix), 1 when there is none to use (a mismatch
 * is logged), or -errno. */
struct ix;
int istore_load(const char *state_dir, const uint8_t name_key[32], const uint8_t *key,
		const uint8_t *want_sum,
		uint64_t generation, int *fd, struct istore_header *hdr, struct order_item **order,
		size_t *norder, char **notes, void **map, struct ix *ix);

/* Write the sealed image on fd (size bytes), its order records and messages as the stored image
 * of `key`, STATE/index-NAME of name_key (temp file, fsync, rename), then remove the oldest stored images beyond ISTORE_KEEP. The
 * checksum goes to sum. Returns 0 or -errno. */
int istore_save(const char *state_dir, const uint8_t name_key[32], const uint8_t key[32], int fd,
		size_t size,
		const struct order_item *order, size_t norder, const char *notes, size_t notes_len,
		uint64_t entries, uint32_t services, uint32_t rejected, uint8_t sum[32]);

#endif
