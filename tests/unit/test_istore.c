/* test_istore.c — the stored index (indexer/istore.c): the header check, the messages' check, the
 * order records, and a round trip through state_dir: what is stored is loaded into a sealed memfd
 * with the new generation; a flipped byte, a truncated file, another key, another base are refused;
 * at most ISTORE_KEEP images stay. */
#include "indexer/istore.h"
#include "indexer/order.h"
#include "indexer/tree.h"
#include "ipc/index.h"
#include "tests/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const uint8_t key[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };

static struct istore_header good(void)
{
	struct istore_header h = { .version = ISTORE_VERSION, .ix_version = IX_VERSION,
				   .image_size = 4096, .norder = 2, .services = 1, .notes_size = 10 };

	memcpy(h.magic, ISTORE_MAGIC, sizeof h.magic);
	memcpy(h.key, key, sizeof h.key);
	return h;
}

static uint64_t fsize(const struct istore_header *h)
{
	return sizeof *h + h->image_size + h->norder * ISTORE_ORDER_REC + h->notes_size;
}

static int check(struct istore_header h, size_t len, uint64_t file_size, const uint8_t *k)
{
	struct istore_header out;
	char why[256];

	return istore_check_header(&h, len, file_size, k, &out, why, sizeof why);
}

static void header_tests(void)
{
	struct istore_header h = good(), out;
	uint8_t other[32] = { 9 };
	char why[256];

	is_int(istore_check_header(&h, sizeof h, fsize(&h), key, &out, why, sizeof why), 0,
	       "a good header passes");
	ok(memcmp(&out, &h, sizeof h) == 0, "and is copied out");
	is_int(check(h, sizeof h - 1, fsize(&h), key), -EINVAL, "a short header is refused");
	h.magic[0] ^= 1;
	is_int(check(h, sizeof h, fsize(&h), key), -EINVAL, "a bad magic is refused");
	h = good();
	h.version++;
	is_int(check(h, sizeof h, fsize(&h), key), -EINVAL, "another store format is refused");
	h = good();
	h.ix_version++;
	is_int(check(h, sizeof h, fsize(&h), key), -EINVAL, "another image format is refused");
	h = good();
	is_int(check(h, sizeof h, fsize(&h), other), -EINVAL, "another key is refused");
	istore_check_header(&h, sizeof h, fsize(&h), other, &out, why, sizeof why);
	is_str(why, "built from other flists or another configuration", "and says so");
	is_int(check(h, sizeof h, fsize(&h) - 1, key), -EINVAL, "a truncated file is refused");
	is_int(check(h, sizeof h, fsize(&h) + 1, key), -EINVAL, "a longer file is refused");
	h.image_size = 8;
	is_int(check(h, sizeof h, fsize(&h), key), -EINVAL, "an image smaller than its header is refused");
	h = good();
	h.image_size = UINT64_MAX / 2;
	is_int(check(h, sizeof h, fsize(&h), key), -EINVAL, "a huge image size is refused");
	h = good();
	h.norder = UINT64_MAX / ISTORE_ORDER_REC;
	is_int(check(h, sizeof h, fsize(&h), key), -EINVAL, "a huge order count is refused (no wrap)");
	h = good();
	h.notes_size = ISTORE_MAX_NOTES + 1;
	is_int(check(h, sizeof h, fsize(&h), key), -EINVAL, "messages past their bound are refused");

	is_int(istore_check_notes("4service s: 3 entries\n2a warning\n", 33), 0, "messages pass");
	is_int(istore_check_notes("", 0), 0, "no messages pass");
	is_int(istore_check_notes("9x\n", 3), -EINVAL, "a bad level is refused");
	is_int(istore_check_notes("4a\033[2Jb\n", 8), -EINVAL, "a control character is refused");
	is_int(istore_check_notes("4abc", 4), -EINVAL, "a last line without its newline is refused");
}

static void order_tests(void)
{
	struct order_item o = { .order = 7, .service = 2, .size = 12345, .hash_len = 16,
				.hash = { 0xaa, 0xbb } }, back;
	uint8_t rec[ISTORE_ORDER_REC];

	istore_order_put(rec, &o);
	is_int(istore_order_get(rec, &back), 0, "an order record reads back");
	ok(back.order == 7 && back.service == 2 && back.size == 12345 && back.hash_len == 16 &&
	   memcmp(back.hash, o.hash, 16) == 0 && !back.asked, "with its fields");
	rec[16] = 20;
	is_int(istore_order_get(rec, &back), -EINVAL, "a bad hash length is refused");
}

/* A sealed image of a small tree, as load.c makes it. */
static int image(const char *text, uint64_t generation, size_t *size)
{
	struct tree *t = tree_new("/", 1700000000);
	struct tree_flist_stats st;
	char err[256];
	int fd = memfd_create("test-istore", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (!t || fd < 0 || tree_add_flist(t, "s", "s", text, strlen(text), &st, err, sizeof err) ||
	    tree_number(t, NULL) < 0)
		abort();
	*size = tree_image_size(t);
	if (ftruncate(fd, (off_t)*size) || tree_image_write(t, generation, fd) ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL))
		abort();
	tree_free(t);
	return fd;
}

static char path_of[4200];

static const char *stored_file(const char *dir, const uint8_t *k)
{
	snprintf(path_of, sizeof path_of, "%s/index-%02x%02x%02x%02x%02x%02x%02x%02x", dir, k[0], k[1],
		 k[2], k[3], k[4], k[5], k[6], k[7]);
	return path_of;
}

static int count_stored(const char *dir)
{
	char cmd[4200];
	FILE *p;
	int n = -1;

	snprintf(cmd, sizeof cmd, "ls '%s' | grep -c '^index-[0-9a-f]*$'", dir);
	if ((p = popen(cmd, "r"))) {
		if (fscanf(p, "%d", &n) != 1)
			n = -1;
		pclose(p);
	}
	return n;
}

static void round_trip(void)
{
	char dir[] = "/tmp/test-istore.XXXXXX";
	const char *flist = "/a|d41d8cd98f00b204e9800998ecf8427e|0\n/b/c||0|type=l|link=../a\n";
	struct order_item order[1] = { { .order = 1, .service = 0, .size = 5, .hash_len = 16 } };
	struct order_item *o;
	struct istore_header h;
	uint8_t sum[32], other_sum[32] = { 0 }, key2[32] = { 2 }, key3[32] = { 3 };
	size_t size, no;
	char *notes;
	int fd, got, f;
	void *a, *b, *lm;
	struct ix ix, lix;
	char err[256];

	if (!mkdtemp(dir))
		abort();
	fd = image(flist, 5, &size);
	is_int(istore_save(dir, key, key, fd, size, order, 1, "4hello\n", 7, 3, 1, 0, sum), 0,
	       "an image is stored");
	is_int(istore_load(dir, key, key, NULL, 9, &got, &h, &o, &no, &notes, &lm, &lix), 0, "and loaded");
	ok(h.entries == 3 && h.services == 1 && no == 1 && o[0].order == 1 && o[0].size == 5 &&
	   h.notes_size == 7 && memcmp(notes, "4hello\n", 7) == 0 && memcmp(h.sum, sum, 32) == 0,
	   "with its counts, order records and messages");
	is_int(fcntl(got, F_GET_SEALS) & (F_SEAL_WRITE | F_SEAL_SEAL | F_SEAL_GROW | F_SEAL_SHRINK),
	       F_SEAL_WRITE | F_SEAL_SEAL | F_SEAL_GROW | F_SEAL_SHRINK, "into a sealed memfd");
	ok(lm && lix.ninodes == 4 && lix.hdr->generation == 9, "mapped and validated");
	munmap(lm, size);
	is_int(ix_map_sealed(&ix, got, size, &b, err, sizeof err), 0, "which the fuser's check takes");
	is_int((int)ix.hdr->generation, 9, "with the generation of this load");
	a = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	ok(memcmp((uint8_t *)a + sizeof(struct ix_header), (uint8_t *)b + sizeof(struct ix_header),
		  size - sizeof(struct ix_header)) == 0, "and the bytes of the image stored");
	munmap(a, size);
	munmap(b, size);
	close(got);
	free(o);
	free(notes);
	is_int(istore_load(dir, key, key, sum, 9, &got, &h, &o, &no, &notes, &lm, &lix), 0,
	       "a reload whose base is that image takes it");
	munmap(lm, size);
	close(got);
	free(o);
	free(notes);
	is_int(istore_load(dir, key, key, other_sum, 9, &got, &h, &o, &no, &notes, &lm, &lix), 1,
	       "a reload whose base is another image does not");
	is_int(istore_load(dir, key2, key2, NULL, 9, &got, &h, &o, &no, &notes, &lm, &lix), 1, "nor another name");
	is_int(istore_load(dir, key, key2, NULL, 9, &got, &h, &o, &no, &notes, &lm, &lix), 1,
	       "nor a file of that name with another key");
	is_int(istore_load(dir, key, NULL, NULL, 9, &got, &h, &o, &no, &notes, &lm, &lix), 0,
	       "a load whose key is not known yet takes the file");
	ok(memcmp(h.key, key, 32) == 0, "and hands out its key to compare");
	munmap(lm, size);
	close(got);
	free(o);
	free(notes);

	/* A flipped byte in the image, then in the messages; a truncated file. */
	f = open(stored_file(dir, key), O_RDWR);
	{
		uint8_t c;

		if (pread(f, &c, 1, sizeof h + 100) != 1)
			abort();
		c ^= 0x40;
		if (pwrite(f, &c, 1, sizeof h + 100) != 1)
			abort();
	}
	is_int(istore_load(dir, key, key, NULL, 9, &got, &h, &o, &no, &notes, &lm, &lix), 1, "a flipped byte is refused");
	ok(got == -1 && o == NULL && notes == NULL, "and nothing is handed out");
	close(f);
	is_int(istore_save(dir, key, key, fd, size, order, 1, "4hello\n", 7, 3, 1, 0, sum), 0, "stored again");
	f = open(stored_file(dir, key), O_RDWR);
	if (ftruncate(f, (off_t)(sizeof h + size)))
		abort();
	close(f);
	is_int(istore_load(dir, key, key, NULL, 9, &got, &h, &o, &no, &notes, &lm, &lix), 1, "a truncated file is refused");

	/* At most ISTORE_KEEP. */
	is_int(istore_save(dir, key, key, fd, size, NULL, 0, NULL, 0, 3, 1, 0, sum), 0, "stored once more");
	usleep(20000);
	is_int(istore_save(dir, key2, key2, fd, size, NULL, 0, NULL, 0, 3, 1, 0, sum), 0, "a second key");
	usleep(20000);
	is_int(istore_save(dir, key3, key3, fd, size, NULL, 0, NULL, 0, 3, 1, 0, sum), 0, "a third key");
	is_int(count_stored(dir), ISTORE_KEEP, "only the newest are kept");
	ok(access(stored_file(dir, key), F_OK) != 0 && access(stored_file(dir, key3), F_OK) == 0,
	   "the oldest went");
	close(fd);
	snprintf(path_of, sizeof path_of, "rm -rf '%s'", dir);
	if (system(path_of))
		diag("cannot remove %s", dir);
}

int main(void)
{
	header_tests();
	order_tests();
	round_trip();
	return done_testing();
}
