/* test_fuser_reload.c — what the kernel must forget when a reload replaces the tree
 * (reload_diff in fuser/reload.c). */
#include "fuser/reload.h"
#include "tests/tap.h"
#include "tests/unit/fuser_tree.h"

#include <stdio.h>

#define H1 "|8a3e5e03a10ecc3601a1f14fbc371019|"
#define H2 "|76f87551c60336da45c379f38625144b|"

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The invalidations from old to new, one per line in byte order: "entry PARENT NAME", "listing
 * INO" (an inode and its cached listing or data), "attrs INO"; the count in *n. */
static const char *diff(const struct img *old, const struct img *new, unsigned *n)
{
	static char out[2048];
	struct inval *list = NULL, *v;
	char *lines[64];
	size_t k = 0, len = 0;

	*n = reload_diff(&old->ix, &new->ix, &list);
	while ((v = list) && k < 64) {
		char buf[300];

		if (v->len)
			snprintf(buf, sizeof buf, "entry %llu %.*s", (unsigned long long)v->ino, v->len, v->name);
		else
			snprintf(buf, sizeof buf, "%s %llu", v->attrs_only ? "attrs" : "listing",
				 (unsigned long long)v->ino);
		lines[k++] = strdup(buf);
		list = v->next;
		free(v);
	}
	qsort(lines, k, sizeof lines[0], cmp);
	out[0] = '\0';
	for (size_t i = 0; i < k; i++) {
		len += (size_t)snprintf(out + len, sizeof out - len, "%s\n", lines[i]);
		free(lines[i]);
	}
	return out;
}

int main(void)
{
	struct img a, b, c;
	unsigned n;
	char want[512];

	img_make(&a, "/keep" H1 "10\n/gone" H1 "10\n/mode" H1 "10|mode=0644\n/edit" H1 "10\n"
		     "/d/f" H1 "10\n", NULL, 1);
	img_make(&b, "/keep" H1 "10\n/new" H1 "10\n/mode" H1 "10|mode=0755\n/edit" H2 "10\n"
		     "/d/f" H1 "10\n/d/g" H1 "10\n", &a.ix, 2);
	is_str(diff(&a, &a, &n), "", "the same tree: nothing to invalidate");
	is_int(n, 0, "none counted");

	snprintf(want, sizeof want,
		 "attrs %u\n"           /* /mode: same content, so the same number: attributes */
		 "entry 1 edit\n"       /* /edit has new content: a new number, so gone and new */
		 "entry 1 edit\n"
		 "entry 1 gone\n"
		 "entry 1 new\n"
		 "entry %u g\n"         /* /d/g is new */
		 "listing 1\nlisting 1\nlisting 1\nlisting 1\n"
		 "listing %u\n"         /* for /d/g */
		 "listing %u\n",        /* /d itself changed in place (one more entry) */
		 img_at(&b, "/mode")->ino, img_at(&b, "/d")->ino, img_at(&b, "/d")->ino,
		 img_at(&b, "/d")->ino);
	is_str(diff(&a, &b, &n), want, "a reload invalidates names gone or new, their folders' "
	       "listings, and the attributes of what changed in place");
	is_int(n, 12, "each counted");
	ok(img_at(&b, "/keep")->ino == img_at(&a, "/keep")->ino, "an unchanged path keeps its number "
	   "(nothing to invalidate for it)");

	img_make(&c, "/keep" H1 "10\n", &b.ix, 3);
	snprintf(want, sizeof want, "%s", diff(&b, &c, &n));
	ok(strstr(want, "entry 1 d\n") && strstr(want, "entry 1 mode\n") && !strstr(want, " keep"),
	   "a folder that goes is forgotten by its name; what stays is not touched");
	is_int(n, 2 * 6, "each entry gone (new, mode, edit, d, d/f, d/g): its name and its folder's listing");

	free(a.base);
	free(b.base);
	free(c.base);
	return done_testing();
}
