/* index.h — the immutable image of the union tree that the indexer builds and the fuser serves.
 *
 * The indexer writes the image into a memfd, seals it against writes and resizes, and passes the
 * fd to the fuser, which checks the seals, validates every offset and count once (ix_open), maps
 * it read-only and from then on trusts it. Layout, all little-endian host integers:
 *
 *   header   struct ix_header
 *   inodes   struct ix_inode[ninodes]      slot 0 is the root (inode number 1)
 *   inomap   uint32_t[max_ino]             inode number - 1 → slot + 1 (0: no such inode)
 *   services struct ix_service[nservices]  one per flist, in configuration order
 *   strings  bytes: names, symlink targets, binary hashes and service ids, addressed by (off, len)
 *
 * Inode numbers are stable across reloads: a path whose type and content did not change keeps its
 * number; a new or changed one gets a number never used before in this mount (the indexer matches
 * the new tree against the previous image). So the kernel never sees one number name two things.
 *
 * The inodes are in breadth-first order and the children of a directory are one contiguous run
 * of slots [first, first + count), sorted by name (bytes, memcmp order). So there is no separate
 * child table: lookup is a binary search over that run, readdir walks it in a stable order, and
 * the validator proves the image is a tree (each slot belongs to exactly one run, and children come
 * after their parent) in one pass.
 */
#ifndef AYSFS_INDEX_H
#define AYSFS_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IX_MAGIC        "AYSFSIX\x01"
#define IX_VERSION      2
#define IX_MAX_INODES   (UINT32_MAX / 2)
#define IX_MAX_INO      (UINT32_MAX / 2)
#define IX_ROOT         0               /* slot of the root directory */

struct ix_header {
	char magic[8];
	uint32_t version;
	uint32_t header_size;   /* sizeof(struct ix_header) */
	uint64_t generation;    /* grows with every reload */
	uint64_t total_size;    /* bytes of the whole image == the memfd's size */
	uint32_t ninodes;
	uint32_t nservices;
	uint64_t inodes_off;
	uint64_t services_off;
	uint64_t strings_off;
	uint64_t strings_size;
	uint64_t inomap_off;
	uint32_t max_ino;       /* the highest inode number in use; inomap has this many entries */
	uint32_t reserved;      /* zero */
};

/* Kinds, stored in `mode` with the permission bits (the S_IFMT values of <sys/stat.h>). */
struct ix_inode {
	uint64_t size;          /* files: bytes; directories: number of entries; links: target length */
	int64_t mtime;
	uint32_t parent;        /* slot of the parent (the root is its own parent) */
	uint32_t name_off;      /* into strings */
	uint32_t a;             /* dir: first child slot; file: hash offset; link: target offset */
	uint32_t b;             /* dir: child count; file: hash length (0, 16, 32); link: target length */
	uint32_t nlink;
	uint16_t name_len;      /* 0 only for the root */
	uint16_t service;       /* index into services: the flist this entry came from */
	uint32_t mode;          /* S_IFDIR, S_IFREG or S_IFLNK | permission bits */
	uint32_t ino;           /* the inode number the kernel sees */
};

struct ix_service {
	uint32_t id_off;        /* into strings */
	uint32_t id_len;
};

/* A validated image, ready to serve. */
struct ix {
	const struct ix_header *hdr;
	const struct ix_inode *inodes;
	const struct ix_service *services;
	const uint8_t *strings;
	const uint32_t *inomap;
	uint32_t ninodes;
	uint32_t max_ino;
};

/* Validate the image at base (size bytes). Returns 0 and fills *ix, or -EINVAL with the reason in
 * err. Every later accessor relies on what this checked and does no checks of its own beyond the
 * inode number range. */
int ix_open(struct ix *ix, const void *base, size_t size, char *err, size_t errlen);

/* An image received from another process (fd: a memfd, `size` as its message says): sealed
 * against writes, shrinking and growing (so it cannot change once validated), of that size, then
 * mapped read-only and validated (ix_open). Returns 0 with *map set, or -EPROTO (err says why) or
 * -errno of mmap; the fd stays the caller's either way. */
int ix_map_sealed(struct ix *ix, int fd, size_t size, void **map, char *err, size_t errlen);

/* The inode of a FUSE inode number, or NULL when this tree has no such number. */
static inline const struct ix_inode *ix_inode(const struct ix *ix, uint64_t ino)
{
	uint32_t s = ino >= 1 && ino <= ix->max_ino ? ix->inomap[ino - 1] : 0;

	return s ? &ix->inodes[s - 1] : NULL;
}

static inline const char *ix_name(const struct ix *ix, const struct ix_inode *in)
{
	return (const char *)ix->strings + in->name_off;
}

static inline const uint8_t *ix_bytes(const struct ix *ix, uint32_t off)
{
	return ix->strings + off;
}

/* The child of directory `dir` named name[0..len), or NULL. */
const struct ix_inode *ix_lookup(const struct ix *ix, const struct ix_inode *dir,
				 const char *name, size_t len);

/* Write the path of `in` below the root ("/a/b"; "/" for the root) into buf. Returns the length,
 * or -ENAMETOOLONG when it does not fit. */
int ix_path(const struct ix *ix, const struct ix_inode *in, char *buf, size_t bufsz);

/* Names compare as bytes, a shorter name first when one is a prefix of the other. */
int ix_name_cmp(const void *a, size_t alen, const void *b, size_t blen);

#endif
