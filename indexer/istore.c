/* istore.c — the built index image kept on disk (istore.h).
 *
 * The stored file is the indexer's own (state_dir is writable by its account alone), but it is
 * read as untrusted all the same: a short or altered file, or one from another build, is refused
 * by its header or its checksum, and what passes is validated by ix_open as any image before the
 * fuser gets it. A refused file is logged once and replaced by the next build.
 */
#include "indexer/istore.h"

#include "indexer/sum.h"
#include "indexer/order.h"
#include "ipc/index.h"
#include "ipc/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (256u << 10)     /* stays in the cache between the read, the hash and the write */

__attribute__((format(printf, 3, 4)))
static int refuse(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int istore_check_header(const void *buf, size_t len, uint64_t file_size, const uint8_t key[32],
			struct istore_header *out, char *why, size_t whylen)
{
	struct istore_header h;

	if (len < sizeof h)
		return refuse(why, whylen, "short header (%zu bytes)", len);
	memcpy(&h, buf, sizeof h);
	if (memcmp(h.magic, ISTORE_MAGIC, sizeof h.magic))
		return refuse(why, whylen, "not a stored index");
	if (h.version != ISTORE_VERSION || h.ix_version != IX_VERSION)
		return refuse(why, whylen, "format %u/%u, not %u/%u", h.version, h.ix_version,
			      ISTORE_VERSION, IX_VERSION);
	if (key && memcmp(h.key, key, sizeof h.key))
		return refuse(why, whylen, "built from other flists or another configuration");
	if (h.image_size < sizeof(struct ix_header) || h.image_size > SIZE_MAX / 4 ||
	    h.norder > ISTORE_MAX_ORDER || h.services > UINT16_MAX + 1u ||
	    h.notes_size > ISTORE_MAX_NOTES)
		return refuse(why, whylen, "bad sizes or counts");
	if (file_size != sizeof h + h.image_size + h.norder * ISTORE_ORDER_REC + h.notes_size)
		return refuse(why, whylen, "file size %llu, header says %llu",
			      (unsigned long long)file_size,
			      (unsigned long long)(sizeof h + h.image_size + h.norder * ISTORE_ORDER_REC +
						   h.notes_size));
	*out = h;
	return 0;
}

int istore_check_notes(const char *buf, size_t len)
{
	bool start = true;

	if (len && buf[len - 1] != '\n')
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)buf[i];

		if (start && (ch < '0' + LOG_CRIT || ch > '0' + LOG_DEBUG))
			return -EINVAL;
		if (!start && ch != '\n' && (ch < 0x20 || ch == 0x7f))
			return -EINVAL;
		start = ch == '\n';
	}
	return 0;
}

void istore_order_put(uint8_t rec[ISTORE_ORDER_REC], const struct order_item *o)
{
	memset(rec, 0, ISTORE_ORDER_REC);
	memcpy(rec, &o->order, 4);
	memcpy(rec + 4, &o->service, 4);
	memcpy(rec + 8, &o->size, 8);
	rec[16] = o->hash_len;
	memcpy(rec + 24, o->hash, sizeof o->hash);
}

int istore_order_get(const uint8_t rec[ISTORE_ORDER_REC], struct order_item *o)
{
	memset(o, 0, sizeof *o);
	memcpy(&o->order, rec, 4);
	memcpy(&o->service, rec + 4, 4);
	memcpy(&o->size, rec + 8, 8);
	o->hash_len = rec[16];
	if (o->hash_len != 16 && o->hash_len != 32)
		return -EINVAL;
	memcpy(o->hash, rec + 24, o->hash_len);
	return 0;
}

void istore_file_name(char *buf, size_t len, const uint8_t name_key[32])
{
	snprintf(buf, len, "index-%02x%02x%02x%02x%02x%02x%02x%02x", name_key[0], name_key[1],
		 name_key[2], name_key[3], name_key[4], name_key[5], name_key[6], name_key[7]);
}

/* All len bytes read (or, with `put`, written) at off. Returns 0, -EIO at a short end, or -errno. */
static int io_full(int fd, void *buf, size_t len, uint64_t off, bool put)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = put ? pwrite(fd, (uint8_t *)buf + done, len - done, (off_t)(off + done)) :
				  pread(fd, (uint8_t *)buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (size_t)n;
	}
	return 0;
}

static int read_full(int fd, void *buf, size_t len, uint64_t off)
{
	return io_full(fd, buf, len, off, false);
}

static int write_full(int fd, const void *buf, size_t len, uint64_t off)
{
	return io_full(fd, (void *)buf, len, off, true);
}

/* Copy len bytes from `in` at in_off to `out` at out_off, hashing them; the generation field of
 * the image header (at image offset 0) is written as 0 when `zero_gen`. */
static int copy_hashed(int in, uint64_t in_off, int out, uint64_t out_off, uint64_t len,
		       struct sum *h, bool zero_gen, uint8_t *buf)
{
	for (uint64_t done = 0; done < len;) {
		size_t n = len - done < CHUNK ? (size_t)(len - done) : CHUNK;
		int rc = read_full(in, buf, n, in_off + done);

		if (rc)
			return rc;
		if (zero_gen && done == 0)
			memset(buf + offsetof(struct ix_header, generation), 0, sizeof(uint64_t));
		sum_update(h, buf, n);
		if ((rc = write_full(out, buf, n, out_off + done)))
			return rc;
		done += n;
	}
	return 0;
}

/* The image of a stored file (after its header) into the memfd, hashed on the way, from a mapping
 * of the file: one copy, not two. */
static int copy_mapped(int in, int out, size_t len, struct sum *h)
{
	size_t at = sizeof(struct istore_header);
	uint8_t *map = mmap(NULL, at + len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, in, 0);
	int rc = 0;

	if (map == MAP_FAILED)
		return -errno;
	for (size_t done = 0; done < len && rc == 0; done += CHUNK) {
		size_t n = len - done < CHUNK ? len - done : CHUNK;

		sum_update(h, map + at + done, n);
		rc = write_full(out, map + at + done, n, done);
	}
	munmap(map, at + len);
	return rc;
}

/* The image in the memfd: valid, and its order records name its services. Its mapping and view
 * go to *map and *ix. */
static int check_image(int fd, size_t size, const struct order_item *o, size_t n, void **map,
		       struct ix *ix, char *why, size_t whylen)
{
	int rc;

	*map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	if (*map == MAP_FAILED)
		return refuse(why, whylen, "mmap: %s", strerror(errno));
	rc = ix_open(ix, *map, size, why, whylen);
	for (size_t i = 0; !rc && i < n; i++)
		if (o[i].service >= ix->hdr->nservices)
			rc = refuse(why, whylen, "order record %zu: no such service", i);
	if (rc)
		munmap(*map, size);
	return rc;
}

int istore_load(const char *state_dir, const uint8_t name_key[32], const uint8_t *key,
		const uint8_t *want_sum,
		uint64_t generation, int *fd, struct istore_header *hdr, struct order_item **order,
		size_t *norder, char **notes, void **map, struct ix *ix)
{
	char *nt = NULL;
	char name[64], why[256];
	uint8_t raw[sizeof(struct istore_header)], sum[32], *buf = NULL;
	struct order_item *o = NULL;
	struct sum h;
	struct stat st;
	int dir, in = -1, out = -1, rc;

	*fd = -1;
	*order = NULL;
	*norder = 0;
	*notes = NULL;
	istore_file_name(name, sizeof name, name_key);
	if ((dir = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return 1;
	in = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	close(dir);
	if (in < 0)
		return errno == ENOENT ? 1 : -errno;
	rc = fstat(in, &st) || !S_ISREG(st.st_mode) ? -EINVAL : 0;
	if (rc == 0) {
		ssize_t n = pread(in, raw, sizeof raw, 0);

		rc = istore_check_header(raw, n < 0 ? 0 : (size_t)n, (uint64_t)st.st_size, key, hdr,
					 why, sizeof why);
	} else {
		snprintf(why, sizeof why, "not a regular file");
	}
	if (rc == 0 && want_sum && memcmp(hdr->sum, want_sum, 32)) {
		log_info("index: %s/%s was numbered against another tree than the one served; "
			 "building from the flists", state_dir, name);
		close(in);
		return 1;
	}
	if (rc == 0 && !(buf = malloc(CHUNK))) {
		close(in);
		return -ENOMEM;
	}
	if (rc == 0) {
		sum_init(&h);   /* sum_final below frees it */
		out = memfd_create("aysfs-index", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		rc = out < 0 || ftruncate(out, (off_t)hdr->image_size) ? -errno : 0;
		if (rc == 0)
			rc = copy_mapped(in, out, (size_t)hdr->image_size, &h);
		if (rc == 0 && hdr->norder && !(o = calloc(hdr->norder, sizeof *o)))
			rc = -ENOMEM;
		for (uint64_t i = 0; rc == 0 && i < hdr->norder; i += CHUNK / ISTORE_ORDER_REC) {
			uint64_t k = hdr->norder - i < CHUNK / ISTORE_ORDER_REC ? hdr->norder - i :
				     CHUNK / ISTORE_ORDER_REC;

			rc = read_full(in, buf, (size_t)k * ISTORE_ORDER_REC,
				       sizeof raw + hdr->image_size + i * ISTORE_ORDER_REC);
			if (rc == 0)
				sum_update(&h, buf, (size_t)k * ISTORE_ORDER_REC);
			for (uint64_t j = 0; rc == 0 && j < k; j++)
				if (istore_order_get(buf + j * ISTORE_ORDER_REC, &o[i + j]))
					rc = refuse(why, sizeof why, "order record %llu is malformed",
						    (unsigned long long)(i + j));
		}
		if (rc == 0 && !(nt = malloc(hdr->notes_size + 1)))
			rc = -ENOMEM;
		if (rc == 0)
			rc = read_full(in, nt, (size_t)hdr->notes_size, sizeof raw + hdr->image_size +
				       hdr->norder * ISTORE_ORDER_REC);
		if (rc == 0) {
			sum_update(&h, nt, (size_t)hdr->notes_size);
			if (istore_check_notes(nt, (size_t)hdr->notes_size))
				rc = refuse(why, sizeof why, "malformed messages");
		}
		if (sum_final(&h, sum) && rc == 0)
			rc = -ENOMEM;
		if (rc == -EIO)
			snprintf(why, sizeof why, "short read");
		else if (rc && rc != -EINVAL)
			snprintf(why, sizeof why, "%s", strerror(-rc));
		if (rc == 0 && memcmp(sum, hdr->sum, 32))
			rc = refuse(why, sizeof why, "bad checksum");
	}
	free(buf);
	close(in);
	if (rc == 0) {
		uint64_t g = generation;

		rc = write_full(out, &g, sizeof g, offsetof(struct ix_header, generation));
		if (rc == 0 && fcntl(out, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE |
				     F_SEAL_SEAL))
			rc = -errno;
		if (rc)
			snprintf(why, sizeof why, "%s", strerror(-rc));
		else
			rc = check_image(out, (size_t)hdr->image_size, o, (size_t)hdr->norder, map,
					 ix, why, sizeof why);
	}
	if (rc) {
		if (out >= 0)
			close(out);
		free(o);
		free(nt);
		log_warn("index: %s/%s is not used (%s); building from the flists", state_dir, name,
			 why);
		return 1;
	}
	*fd = out;
	*notes = nt;
	*order = o;
	*norder = (size_t)hdr->norder;
	return 0;
}

struct stored {
	char name[NAME_MAX + 1];
	struct timespec mtime;
};

static int older(const void *a, const void *b)
{
	const struct timespec *x = &((const struct stored *)a)->mtime;
	const struct timespec *y = &((const struct stored *)b)->mtime;

	if (x->tv_sec != y->tv_sec)
		return x->tv_sec < y->tv_sec ? -1 : 1;
	return x->tv_nsec < y->tv_nsec ? -1 : x->tv_nsec > y->tv_nsec;
}

/* Remove the oldest stored images beyond ISTORE_KEEP (and temp files left 10 minutes ago). */
static void prune(int dir, const char *keep)
{
	struct stored v[64];
	size_t n = 0;
	struct dirent *de;
	int dfd = openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;

	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return;
	}
	while ((de = readdir(d))) {
		struct stat st;
		size_t len = strlen(de->d_name);

		if (strncmp(de->d_name, "index-", 6) || strcmp(de->d_name, keep) == 0)
			continue;
		if (len > 4 && strcmp(de->d_name + len - 4, ".tmp") == 0) {
			/* Left by a writer that died; one being written is younger. */
			if (fstatat(dir, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    st.st_mtime < time(NULL) - 600)
				unlinkat(dir, de->d_name, 0);
			continue;
		}
		if (n < sizeof v / sizeof v[0] && fstatat(dir, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(st.st_mode) && len < sizeof v[n].name) {
			memcpy(v[n].name, de->d_name, len + 1);
			v[n++].mtime = st.st_mtim;
		}
	}
	closedir(d);
	qsort(v, n, sizeof *v, older);
	for (size_t i = 0; i + ISTORE_KEEP - 1 < n; i++)
		unlinkat(dir, v[i].name, 0);
}

int istore_save(const char *state_dir, const uint8_t name_key[32], const uint8_t key[32], int fd,
		size_t size,
		const struct order_item *order, size_t norder, const char *notes, size_t notes_len,
		uint64_t entries, uint32_t services, uint32_t rejected, uint8_t sum[32])
{
	struct istore_header hd = { .version = ISTORE_VERSION, .ix_version = IX_VERSION,
				    .image_size = size, .norder = norder, .entries = entries,
				    .services = services, .rejected = rejected,
				    .notes_size = notes_len };
	char name[64], tmp[96];
	uint8_t *buf = malloc(CHUNK);
	struct sum h;
	int dir = -1, out = -1, rc = 0;
	uint64_t off = sizeof hd + size;

	memcpy(hd.magic, ISTORE_MAGIC, sizeof hd.magic);
	memcpy(hd.key, key, sizeof hd.key);
	istore_file_name(name, sizeof name, name_key);
	snprintf(tmp, sizeof tmp, "%s.%ld.tmp", name, (long)getpid());   /* mounts may share state_dir */
	if (!buf || norder > ISTORE_MAX_ORDER || notes_len > ISTORE_MAX_NOTES) {
		free(buf);
		return -ENOMEM;
	}
	sum_init(&h);
	if ((dir = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    (out = openat(dir, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0)
		rc = -errno;
	if (rc == 0)
		rc = copy_hashed(fd, 0, out, sizeof hd, size, &h, true, buf);
	for (size_t i = 0; rc == 0 && i < norder; i++) {
		uint8_t rec[ISTORE_ORDER_REC];

		istore_order_put(rec, &order[i]);
		sum_update(&h, rec, sizeof rec);
		rc = write_full(out, rec, sizeof rec, off);
		off += sizeof rec;
	}
	if (rc == 0 && notes_len) {
		sum_update(&h, notes, notes_len);
		rc = write_full(out, notes, notes_len, off);
	}
	if (sum_final(&h, sum) && rc == 0)
		rc = -ENOMEM;
	memcpy(hd.sum, sum, sizeof hd.sum);
	if (rc == 0)
		rc = write_full(out, &hd, sizeof hd, 0);
	if (rc == 0 && fsync(out))
		rc = -errno;
	if (out >= 0 && close(out) && rc == 0)
		rc = -errno;
	if (rc == 0 && renameat(dir, tmp, dir, name))
		rc = -errno;
	if (rc && out >= 0)
		unlinkat(dir, tmp, 0);
	if (rc == 0) {
		fsync(dir);
		prune(dir, name);
	}
	if (dir >= 0)
		close(dir);
	free(buf);
	return rc;
}
