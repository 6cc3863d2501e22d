/* test_index.c — the union tree (indexer/tree.c) and the index image (ipc/index.c). */
#include "indexer/tree.h"
#include "ipc/index.h"
#include "tests/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOAD_TIME 1700000000

struct img {
	void *base;
	size_t size;
	struct ix ix;
	int rc;
	char err[256];
};

/* Write the image into a memfd, as the indexer does, and read it back. */
static void build(struct tree *t, struct img *im)
{
	int fd = memfd_create("test-index", MFD_CLOEXEC);

	im->size = tree_image_size(t);
	im->base = aligned_alloc(8, (im->size + 7) & ~(size_t)7);
	if (fd < 0 || ftruncate(fd, (off_t)im->size) || tree_image_write(t, 1, fd) ||
	    pread(fd, im->base, im->size, 0) != (ssize_t)im->size)
		abort();
	close(fd);
	im->rc = ix_open(&im->ix, im->base, im->size, im->err, sizeof im->err);
}

static int add(struct tree *t, const char *svc, const char *text, struct tree_flist_stats *st,
	       char *err, size_t errlen)
{
	struct tree_flist_stats tmp;

	return tree_add_flist(t, svc, svc, text, strlen(text), st ? st : &tmp, err, errlen);
}

/* The inode at a path ("/a/b"), or NULL. */
static const struct ix_inode *at(const struct img *im, const char *path)
{
	const struct ix_inode *in = ix_inode(&im->ix, 1);

	while (in && *path) {
		const char *start = ++path;

		while (*path && *path != '/')
			path++;
		in = ix_lookup(&im->ix, in, start, (size_t)(path - start));
	}
	return in;
}

static const char *svc_of(const struct img *im, const struct ix_inode *in)
{
	static char buf[64];
	const struct ix_service *s = &im->ix.services[in->service];

	snprintf(buf, sizeof buf, "%.*s", (int)s->id_len, (const char *)ix_bytes(&im->ix, s->id_off));
	return buf;
}

static void test_shape(void)
{
	struct tree *t = tree_new("/opt", LOAD_TIME);
	struct img im;
	char err[256], path[256];
	const struct ix_inode *in;

	is_int(add(t, "base",
		   "/opt/app/bin/tool|8a3e5e03a10ecc3601a1f14fbc371019|4857\n"
		   "/opt/app/etc/app.conf|76f87551c60336da45c379f38625144b|1553|mode=0644|mtime=1600000000\n"
		   "/opt/app/bin/python3||0|type=l|link=python3.11\n"
		   "/opt/app/empty-dir||0|type=d|mode=0700\n"
		   "/opt/app/zero||0\n"
		   "/usr/bin/outside|8a3e5e03a10ecc3601a1f14fbc371019|1\n"
		   "/optx/nope|8a3e5e03a10ecc3601a1f14fbc371019|1\n", NULL, err, sizeof err),
	       0, "a valid flist is added");
	build(t, &im);
	is_int(im.rc, 0, "the image validates (%s)", im.err);
	in = at(&im, "/app/bin/tool");
	ok(in && S_ISREG(in->mode) && (in->mode & 07777) == 0555 && in->size == 4857,
	   "file: regular, default mode 0555, size");
	ok(in && in->mtime == LOAD_TIME, "default mtime is the load time");
	ok(in && in->b == 16 && ix_bytes(&im.ix, in->a)[0] == 0x8a, "md5 kept as 16 bytes");
	in = at(&im, "/app/etc/app.conf");
	ok(in && (in->mode & 07777) == 0644 && in->mtime == 1600000000, "mode and mtime fields");
	in = at(&im, "/app/bin/python3");
	ok(in && S_ISLNK(in->mode) && in->b == 10 &&
	   memcmp(ix_bytes(&im.ix, in->a), "python3.11", 10) == 0, "symlink and its target");
	in = at(&im, "/app/empty-dir");
	ok(in && S_ISDIR(in->mode) && in->b == 0 && (in->mode & 07777) == 0700, "empty directory");
	in = at(&im, "/app/zero");
	ok(in && S_ISREG(in->mode) && in->size == 0 && in->b == 0, "empty file needs no hash");
	ok(!at(&im, "/usr") && !at(&im, "/bin") && !at(&im, "/nope"), "entries outside the prefix skipped");
	in = at(&im, "/app");
	ok(in && S_ISDIR(in->mode) && (in->mode & 07777) == 0555, "implied directory, mode 0555");
	is_int(in ? in->nlink : 0, 5, "directory nlink is 2 + subdirectories");
	ok(ix_path(&im.ix, at(&im, "/app/etc/app.conf"), path, sizeof path) > 0 &&
	   strcmp(path, "/app/etc/app.conf") == 0, "ix_path rebuilds the path");
	ok(ix_path(&im.ix, ix_inode(&im.ix, 1), path, sizeof path) == 1 && strcmp(path, "/") == 0,
	   "ix_path of the root");
	/* Children are sorted: readdir order is name order. */
	in = at(&im, "/app");
	ok(in && in->b == 4, "four children in /app");
	for (uint32_t i = 1; in && i < in->b; i++) {
		const struct ix_inode *a = &im.ix.inodes[in->a + i - 1], *b = &im.ix.inodes[in->a + i];

		ok(ix_name_cmp(ix_name(&im.ix, a), a->name_len, ix_name(&im.ix, b), b->name_len) < 0,
		   "children sorted (%u)", i);
	}
	free(im.base);
	tree_free(t);
}

static void test_union(void)
{
	struct tree *t = tree_new("/", LOAD_TIME);
	struct tree_flist_stats st;
	struct img im;
	char err[256];
	const struct ix_inode *in;

	is_int(add(t, "first",
		   "/shared/dir/a|8a3e5e03a10ecc3601a1f14fbc371019|1\n"
		   "/same|8a3e5e03a10ecc3601a1f14fbc371019|1\n"
		   "/x|8a3e5e03a10ecc3601a1f14fbc371019|1\n"
		   "/d/sub/f|8a3e5e03a10ecc3601a1f14fbc371019|1\n", NULL, err, sizeof err), 0, "first");
	is_int(add(t, "second",
		   "/shared/dir/b|76f87551c60336da45c379f38625144b|2\n"
		   "/same|76f87551c60336da45c379f38625144b|2\n"
		   "/x/below|76f87551c60336da45c379f38625144b|2\n"
		   "/x/below/deeper|76f87551c60336da45c379f38625144b|2\n"
		   "/d|76f87551c60336da45c379f38625144b|2\n"
		   "/d/sub/g|76f87551c60336da45c379f38625144b|2\n", &st, err, sizeof err), 0, "second");
	is_int(st.conflicts, 4, "four conflicting entries counted");
	is_int(st.first_conflict_line, 2, "first conflict's line");
	is_str(st.first_conflict_path, "/same", "first conflict's path");
	is_str(st.first_conflict_winner ? st.first_conflict_winner : "(null)", "first",
	       "and the service that has it");
	is_int(st.added, 2, "two entries of the second service added");
	is_int(add(t, "third", "/x/z/deeper|76f87551c60336da45c379f38625144b|2\n", &st, err, sizeof err),
	       0, "third");
	is_str(st.first_conflict_path, "/x/z/deeper", "a path below another service's file clashes");
	is_str(st.first_conflict_winner ? st.first_conflict_winner : "(null)", "first",
	       "and names the service of the file in its way");
	build(t, &im);
	is_int(im.rc, 0, "union image validates (%s)", im.err);
	ok(at(&im, "/shared/dir/a") && at(&im, "/shared/dir/b"), "directories of both services merge");
	in = at(&im, "/same");
	ok(in && in->size == 1 && strcmp(svc_of(&im, in), "first") == 0, "same path: the first service wins");
	in = at(&im, "/x");
	ok(in && S_ISREG(in->mode) && !at(&im, "/x/below"), "file beats a later directory and what is below it");
	in = at(&im, "/d");
	ok(in && S_ISDIR(in->mode) && at(&im, "/d/sub/g"), "directory beats a later file; other entries still merge");
	in = at(&im, "/d/sub/g");
	ok(in && strcmp(svc_of(&im, in), "second") == 0, "xattr service of a merged entry");
	free(im.base);
	tree_free(t);
}

static void test_reject(void)
{
	struct tree *t = tree_new("/", LOAD_TIME);
	struct img im;
	char err[256];

	is_int(add(t, "good", "/a|8a3e5e03a10ecc3601a1f14fbc371019|1\n", NULL, err, sizeof err), 0, "good");
	is_int(add(t, "bad", "/b|8a3e5e03a10ecc3601a1f14fbc371019|1\n/c|zz|1\n", NULL, err, sizeof err),
	       -EINVAL, "a malformed flist is rejected");
	ok(strncmp(err, "bad:2: ", 7) == 0, "the message names file:line (%s)", err);
	build(t, &im);
	ok(im.rc == 0 && at(&im, "/a") && !at(&im, "/b"), "a rejected flist adds nothing");
	free(im.base);
	tree_free(t);
}

/* A valid image, altered one field at a time, must be refused. */
static void test_validator(void)
{
	struct tree *t = tree_new("/", LOAD_TIME);
	struct img im;
	char err[256];
	struct ix_inode *inodes;
	struct ix_header *h;
	uint8_t *copy;

	add(t, "s", "/a/b|8a3e5e03a10ecc3601a1f14fbc371019|1\n/a/c||0|type=l|link=b\n/d||0|type=d\n",
	    NULL, err, sizeof err);
	build(t, &im);
	is_int(im.rc, 0, "base image validates");
	copy = aligned_alloc(8, (im.size + 7) & ~(size_t)7);
	h = (struct ix_header *)copy;
	inodes = (struct ix_inode *)(copy + ((struct ix_header *)im.base)->inodes_off);

#define MUTATE(what, stmt) do {                                                        \
		struct ix v;                                                            \
		memcpy(copy, im.base, im.size);                                         \
		stmt;                                                                   \
		ok(ix_open(&v, copy, im.size, err, sizeof err) == -EINVAL, "refused: %s (%s)", what, err); \
	} while (0)

	MUTATE("bad magic", h->magic[0] = 'X');
	MUTATE("total size differs", h->total_size++);
	MUTATE("inodes beyond the end", h->ninodes = 1000000);
	MUTATE("strings beyond the end", h->strings_size += 8);
	MUTATE("root with a name", inodes[0].name_len = 1);
	MUTATE("child run misplaced", inodes[0].a = 2);
	MUTATE("child count too big", inodes[0].b = 5);
	MUTATE("parent mismatch", inodes[1].parent = 1);
	MUTATE("unsorted children", { struct ix_inode x = inodes[1]; inodes[1] = inodes[2]; inodes[2] = x; });
	MUTATE("name out of range", inodes[1].name_off = 0xfffffff0u);
	MUTATE("bad hash length", { for (int i = 0; i < 5; i++) if (S_ISREG(inodes[i].mode)) inodes[i].b = 7; });
	MUTATE("unknown type", inodes[2].mode = S_IFCHR | 0555);
	MUTATE("link target out of range", { for (int i = 0; i < 5; i++) if (S_ISLNK(inodes[i].mode)) inodes[i].b = 0; });
	MUTATE("service out of range", inodes[1].service = 9);
	MUTATE("zero nlink", inodes[1].nlink = 0);
	MUTATE("inode number out of the map", inodes[1].ino = 999);
	MUTATE("two inodes with one number", inodes[2].ino = inodes[1].ino);
	MUTATE("root not number 1", { uint32_t x = inodes[0].ino; inodes[0].ino = inodes[1].ino; inodes[1].ino = x; });
	MUTATE("map entry names another slot", { uint32_t *m = (uint32_t *)(copy + h->inomap_off); uint32_t x = m[0]; m[0] = m[1]; m[1] = x; });
	MUTATE("map past the end", h->max_ino = 1u << 30);
	ok(ix_open(&(struct ix){ 0 }, im.base, im.size - 8, err, sizeof err) == -EINVAL, "short image refused");
	free(copy);
	free(im.base);
	tree_free(t);
}

static void test_empty(void)
{
	struct tree *t = tree_new("/opt", LOAD_TIME);
	struct img im;

	build(t, &im);
	ok(im.rc == 0 && im.ix.ninodes == 1 && im.ix.inodes[0].b == 0, "an empty tree is a valid image");
	free(im.base);
	tree_free(t);
}

/* A flist larger than the 4 MiB read window: every entry arrives, line numbers run on across
 * windows, and a bad line far down still rejects the whole flist, naming its line. */
static void test_windows(void)
{
	const unsigned n = 120000, bad = 101234;
	struct tree_flist_stats st;
	struct tree *t = tree_new("/", LOAD_TIME);
	char line[128], err[256];
	struct img im;
	int fd = memfd_create("test-flist", MFD_CLOEXEC);
	FILE *f = fdopen(dup(fd), "w");

	for (unsigned i = 1; i <= n; i++)
		fprintf(f, "/dir%03u/file-with-a-longish-name-%06u|8a3e5e03a10ecc3601a1f14fbc371019|%u%s\n",
			i % 500, i, i, i % 1000 == 0 ? "|color=red" : "");
	fclose(f);
	ok(lseek(fd, 0, SEEK_END) > 4 << 20, "the flist is larger than one window");
	is_int(tree_add_flist_fd(t, "big", "big.flist", fd, &st, err, sizeof err), 0, "a large flist is added");
	is_int(st.added, n, "every entry added");
	is_int(st.unknown_keys, n / 1000, "unknown keys counted across windows");
	is_int(st.first_unknown_line, 1000, "first unknown key's line");
	build(t, &im);
	snprintf(line, sizeof line, "/dir%03u/file-with-a-longish-name-%06u", n % 500, n);
	ok(im.rc == 0 && at(&im, line) && at(&im, line)->size == n, "the last entry is in the tree");
	free(im.base);
	tree_free(t);

	/* The same with one malformed line far down. */
	t = tree_new("/", LOAD_TIME);
	f = fdopen(dup(fd), "w");
	fseek(f, 0, SEEK_SET);
	for (unsigned i = 1; i <= n; i++)
		fprintf(f, "/dir%03u/file-with-a-longish-name-%06u|8a3e5e03a10ecc3601a1f14fbc371019|%s\n",
			i % 500, i, i == bad ? "12x456" : "123456");
	fclose(f);
	is_int(tree_add_flist_fd(t, "big", "big.flist", fd, &st, err, sizeof err), -EINVAL,
	       "a malformed line in a later window rejects the flist");
	snprintf(line, sizeof line, "big.flist:%u: ", bad);
	ok(strncmp(err, line, strlen(line)) == 0, "and names its line (%s)", err);
	build(t, &im);
	ok(im.rc == 0 && im.ix.ninodes == 1, "nothing of it was added");
	free(im.base);
	tree_free(t);
	close(fd);
}

/* Reload: numbers stay with paths whose type and content did not change. */
static void test_numbering(void)
{
	struct tree *t = tree_new("/", LOAD_TIME);
	struct img a, b;
	char err[256];
	const struct ix_inode *x;
	uint64_t same, changed, gone, dir, link;

	add(t, "s", "/d/same|8a3e5e03a10ecc3601a1f14fbc371019|1\n"
		    "/d/changed|8a3e5e03a10ecc3601a1f14fbc371019|1\n"
		    "/d/gone|8a3e5e03a10ecc3601a1f14fbc371019|1\n"
		    "/d/mode|8a3e5e03a10ecc3601a1f14fbc371019|1|mode=0644\n"
		    "/l||0|type=l|link=d\n", NULL, err, sizeof err);
	build(t, &a);
	tree_free(t);
	same = at(&a, "/d/same")->ino;
	changed = at(&a, "/d/changed")->ino;
	gone = at(&a, "/d/gone")->ino;
	dir = at(&a, "/d")->ino;
	link = at(&a, "/l")->ino;

	t = tree_new("/", LOAD_TIME);
	add(t, "s", "/d/same|8a3e5e03a10ecc3601a1f14fbc371019|1\n"
		    "/d/changed|76f87551c60336da45c379f38625144b|1\n"
		    "/d/mode|8a3e5e03a10ecc3601a1f14fbc371019|1|mode=0600\n"
		    "/d/new|8a3e5e03a10ecc3601a1f14fbc371019|1\n"
		    "/l||0|type=l|link=elsewhere\n", NULL, err, sizeof err);
	is_int(tree_number(t, &a.ix), 3, "/d, /d/same and /d/mode keep their numbers (the root is always 1)");
	build(t, &b);
	is_int(b.rc, 0, "the reloaded image validates (%s)", b.err);
	is_int(at(&b, "/d/same")->ino, same, "an unchanged file keeps its number");
	is_int(at(&b, "/d")->ino, dir, "a directory keeps its number");
	ok(at(&b, "/d/mode")->ino == at(&a, "/d/mode")->ino && (at(&b, "/d/mode")->mode & 07777) == 0600,
	   "a change of mode alone keeps the number");
	ok(at(&b, "/d/changed")->ino > a.ix.max_ino, "changed content gets a number never used");
	ok(at(&b, "/l")->ino != link, "a changed link target gets a new number");
	ok(at(&b, "/d/new")->ino > a.ix.max_ino, "a new path gets a number never used");
	ok(!ix_inode(&b.ix, gone) && !ix_inode(&b.ix, changed), "numbers of what is gone answer nothing");
	x = ix_inode(&b.ix, same);
	ok(x && x == at(&b, "/d/same"), "lookup by number finds the entry");
	free(a.base);
	free(b.base);
	tree_free(t);
}

/* An image from another process is mapped only when sealed and of the size its message says. */
static void test_sealed(void)
{
	struct tree *t = tree_new("/", LOAD_TIME);
	char err[256];
	struct ix ix;
	void *map;

	add(t, "s", "/a|d41d8cd98f00b204e9800998ecf8427e|0\n", NULL, err, sizeof err);
	for (int step = 0; step < 3; step++) {
		int fd = memfd_create("test-sealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		size_t size = tree_image_size(t);

		if (fd < 0 || ftruncate(fd, (off_t)size) || tree_image_write(t, 1, fd))
			abort();
		if (step == 0) {
			ok(ix_map_sealed(&ix, fd, size, &map, err, sizeof err) == -EPROTO,
			   "an image without seals is refused (%s)", err);
		} else if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL)) {
			abort();
		} else if (step == 1) {
			ok(ix_map_sealed(&ix, fd, size + 8, &map, err, sizeof err) == -EPROTO,
			   "a size other than the memfd's is refused (%s)", err);
		} else {
			ok(ix_map_sealed(&ix, fd, size, &map, err, sizeof err) == 0 && ix.ninodes >= 2,
			   "a sealed image of its size is mapped");
			munmap(map, size);
		}
		close(fd);
	}
	tree_free(t);
}

int main(void)
{
	test_sealed();
	test_numbering();
	test_windows();
	test_shape();
	test_union();
	test_reject();
	test_validator();
	test_empty();
	return done_testing();
}
