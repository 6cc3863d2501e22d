/* index.c — validation of an index image and the lookups the fuser makes in it.
 *
 * The image comes from the indexer, which parses untrusted flists; a compromised indexer must not
 * be able to make the fuser read outside the image or loop. ix_open() checks every field that a
 * later accessor uses, once, so that serving a request needs no check but the inode number's range.
 */
#include "ipc/index.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

__attribute__((format(printf, 3, 4)))
static int ix_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int ix_name_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

/* Is [off, off + len) inside a region of `size` bytes? (64-bit sums cannot wrap here.) */
static bool in_range(uint64_t off, uint64_t len, uint64_t size)
{
	return off <= size && len <= size - off;
}

static bool valid_name(const uint8_t *p, size_t len)
{
	if (len == 0 || len > 255)
		return false;
	if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
		return false;
	return !memchr(p, '/', len) && !memchr(p, '\0', len);
}

static int check_inode(const struct ix *ix, uint32_t slot, uint32_t *next_child,
		       char *err, size_t errlen)
{
	const struct ix_inode *in = &ix->inodes[slot];
	uint64_t ssize = ix->hdr->strings_size;

	/* Inode numbers and the map agree both ways: a bijection between slots and numbers. */
	if (in->ino == 0 || in->ino > ix->max_ino || ix->inomap[in->ino - 1] != slot + 1 ||
	    (slot == IX_ROOT) != (in->ino == 1))
		return ix_fail(err, errlen, "inode %u: bad inode number", slot);
	if (in->service >= ix->hdr->nservices)
		return ix_fail(err, errlen, "inode %u: service out of range", slot);
	if (in->mode & ~(uint32_t)(S_IFMT | 07777))
		return ix_fail(err, errlen, "inode %u: bad mode", slot);
	if (slot == IX_ROOT) {
		if (in->name_len || in->parent != IX_ROOT || !S_ISDIR(in->mode))
			return ix_fail(err, errlen, "root is not a nameless directory");
	} else if (!in_range(in->name_off, in->name_len, ssize) ||
		   !valid_name(ix->strings + in->name_off, in->name_len)) {
		return ix_fail(err, errlen, "inode %u: bad name", slot);
	}
	if (in->nlink == 0)
		return ix_fail(err, errlen, "inode %u: no links", slot);

	switch (in->mode & S_IFMT) {
	case S_IFDIR:
		/* Children runs follow each other in slot order, each after its parent: so every slot
		 * but the root is in exactly one run, and parents come before children (no cycle). */
		if (in->a != *next_child || in->a <= slot || in->b > ix->ninodes - in->a ||
		    in->size != in->b)
			return ix_fail(err, errlen, "inode %u: bad child run", slot);
		*next_child += in->b;
		for (uint32_t c = in->a; c < in->a + in->b; c++) {
			const struct ix_inode *ch = &ix->inodes[c];

			if (ch->parent != slot)
				return ix_fail(err, errlen, "inode %u: parent is not %u", c, slot);
			/* Names are checked for range before use; a child's own check comes later. */
			if (!in_range(ch->name_off, ch->name_len, ssize))
				return ix_fail(err, errlen, "inode %u: bad name", c);
			if (c > in->a) {
				const struct ix_inode *pr = ch - 1;

				if (ix_name_cmp(ix->strings + pr->name_off, pr->name_len,
						ix->strings + ch->name_off, ch->name_len) >= 0)
					return ix_fail(err, errlen, "inode %u: children not sorted", slot);
			}
		}
		break;
	case S_IFREG:
		if (in->b != 0 && in->b != 16 && in->b != 32)
			return ix_fail(err, errlen, "inode %u: bad hash length", slot);
		if (!in_range(in->a, in->b, ssize))
			return ix_fail(err, errlen, "inode %u: hash out of range", slot);
		if (in->b == 0 && in->size != 0)
			return ix_fail(err, errlen, "inode %u: file without hash", slot);
		if (in->size > INT64_MAX)
			return ix_fail(err, errlen, "inode %u: bad size", slot);
		break;
	case S_IFLNK:
		if (in->b == 0 || in->b > 4095 || !in_range(in->a, in->b, ssize) ||
		    memchr(ix->strings + in->a, '\0', in->b) || in->size != in->b)
			return ix_fail(err, errlen, "inode %u: bad link target", slot);
		break;
	default:
		return ix_fail(err, errlen, "inode %u: unknown type", slot);
	}
	return 0;
}

int ix_open(struct ix *ix, const void *base, size_t size, char *err, size_t errlen)
{
	const struct ix_header *h = base;
	uint32_t next_child = 1;

	memset(ix, 0, sizeof *ix);
	if (size < sizeof *h || ((uintptr_t)base & 7))
		return ix_fail(err, errlen, "image too small");
	if (memcmp(h->magic, IX_MAGIC, sizeof h->magic) || h->version != IX_VERSION ||
	    h->header_size != sizeof *h)
		return ix_fail(err, errlen, "not an index image of version %d", IX_VERSION);
	if (h->total_size != size)
		return ix_fail(err, errlen, "image size %llu, memfd size %zu",
			       (unsigned long long)h->total_size, size);
	if (h->ninodes == 0 || h->ninodes > IX_MAX_INODES || h->nservices == 0 ||
	    h->nservices > UINT16_MAX + 1u)
		return ix_fail(err, errlen, "bad counts");
	if ((h->inodes_off | h->services_off | h->inomap_off) & 3 || (h->inodes_off | h->services_off) & 7 ||
	    h->reserved || h->max_ino < h->ninodes || h->max_ino > IX_MAX_INO ||
	    !in_range(h->inomap_off, (uint64_t)h->max_ino * sizeof(uint32_t), size) ||
	    h->inomap_off < sizeof *h ||
	    !in_range(h->inodes_off, (uint64_t)h->ninodes * sizeof(struct ix_inode), size) ||
	    !in_range(h->services_off, (uint64_t)h->nservices * sizeof(struct ix_service), size) ||
	    !in_range(h->strings_off, h->strings_size, size) || h->strings_size > UINT32_MAX ||
	    h->inodes_off < sizeof *h || h->services_off < sizeof *h || h->strings_off < sizeof *h)
		return ix_fail(err, errlen, "section out of range");

	ix->hdr = h;
	ix->inodes = (const void *)((const uint8_t *)base + h->inodes_off);
	ix->services = (const void *)((const uint8_t *)base + h->services_off);
	ix->strings = (const uint8_t *)base + h->strings_off;
	ix->inomap = (const void *)((const uint8_t *)base + h->inomap_off);
	ix->ninodes = h->ninodes;
	ix->max_ino = h->max_ino;
	/* Every map entry names a slot whose number is that entry's (the other direction is checked
	 * per inode below). */
	for (uint32_t i = 0; i < h->max_ino; i++)
		if (ix->inomap[i] && (ix->inomap[i] > h->ninodes ||
				      ix->inodes[ix->inomap[i] - 1].ino != i + 1))
			return ix_fail(err, errlen, "inode map entry %u is wrong", i + 1);

	for (uint32_t s = 0; s < h->nservices; s++)
		if (!in_range(ix->services[s].id_off, ix->services[s].id_len, h->strings_size))
			return ix_fail(err, errlen, "service %u: id out of range", s);
	for (uint32_t slot = 0; slot < h->ninodes; slot++) {
		int rc = check_inode(ix, slot, &next_child, err, errlen);

		if (rc)
			return rc;
	}
	if (next_child != h->ninodes)
		return ix_fail(err, errlen, "%u inodes not in any directory", h->ninodes - next_child);
	return 0;
}

const struct ix_inode *ix_lookup(const struct ix *ix, const struct ix_inode *dir,
				 const char *name, size_t len)
{
	uint32_t lo, hi;

	if (!S_ISDIR(dir->mode))
		return NULL;
	lo = dir->a;
	hi = dir->a + dir->b;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const struct ix_inode *in = &ix->inodes[mid];
		int c = ix_name_cmp(name, len, ix_name(ix, in), in->name_len);

		if (c == 0)
			return in;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

int ix_path(const struct ix *ix, const struct ix_inode *in, char *buf, size_t bufsz)
{
	size_t pos = bufsz;

	if (bufsz < 2)
		return -ENAMETOOLONG;
	buf[--pos] = '\0';
	/* Parents come before children (validated), so this walk ends at the root. */
	while (in != ix->inodes) {
		if (pos < (size_t)in->name_len + 1)
			return -ENAMETOOLONG;
		pos -= in->name_len;
		memcpy(buf + pos, ix_name(ix, in), in->name_len);
		buf[--pos] = '/';
		in = &ix->inodes[in->parent];
	}
	if (pos == bufsz - 1)
		buf[--pos] = '/';
	memmove(buf, buf + pos, bufsz - pos);
	return (int)(bufsz - pos - 1);
}

int ix_map_sealed(struct ix *ix, int fd, size_t size, void **map, char *err, size_t errlen)
{
	const int need = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;
	int seals = fcntl(fd, F_GET_SEALS);
	struct stat st;

	if (seals < 0 || (seals & need) != need) {
		snprintf(err, errlen, "the index memfd is not sealed");
		return -EPROTO;
	}
	if (fstat(fd, &st) || (uint64_t)st.st_size != size || size == 0 || size > SIZE_MAX / 2) {
		snprintf(err, errlen, "the index memfd's size differs from the message's");
		return -EPROTO;
	}
	*map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	if (*map == MAP_FAILED) {
		snprintf(err, errlen, "mmap: %s", strerror(errno));
		return -errno;
	}
	if (ix_open(ix, *map, size, err, errlen)) {
		munmap(*map, size);
		return -EPROTO;
	}
	return 0;
}
