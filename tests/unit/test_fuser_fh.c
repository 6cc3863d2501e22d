/* test_fuser_fh.c — file handles (fuser/fh.c): a blob pointer tagged with the fuser's instance. */
#include "fuser/fh.h"
#include "tests/tap.h"

#include <stdlib.h>

int main(void)
{
	struct blob *b = malloc(64), *c = malloc(64);
	uint64_t fb, fc;

	fb = fh_of(b);
	ok(fb != 0 && !fh_foreign(fb), "a handle of the first fuser is its own");
	ok(fh_blob(fb) == b, "and gives back its blob");
	ok(fb >> 48 == 1, "the first fuser is instance 1 (top 16 bits)");
	ok(!fh_foreign(0) && fh_blob(0) == NULL, "0 (an empty file's handle) is nobody's and no blob");

	fh_set_instance(2);
	fc = fh_of(c);
	ok(fh_foreign(fb), "after a takeover, the dead fuser's handle is foreign");
	ok(!fh_foreign(fc) && fh_blob(fc) == c, "the new fuser's own handle is not");
	ok(fc >> 48 == 2 && (fc & ((1ull << 48) - 1)) == (uint64_t)(uintptr_t)c,
	   "the instance is above the pointer, which is kept whole");
	ok(fb != fc, "handles of two instances differ");

	fh_set_instance(0xffff);
	ok(fh_foreign(fb) && fh_foreign(fc) && !fh_foreign(fh_of(b)), "instance 65535 is its own too");
	fh_set_instance(0);
	ok(!fh_foreign(fb), "instance 0 counts as 1, the first fuser's");

	free(b);
	free(c);
	return done_testing();
}
