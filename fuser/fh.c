/* fh.c — file handles: a blob pointer below FH_TAG_SHIFT, the fuser's instance above. */
#include "fuser/fh.h"

#include <stdlib.h>

#define FH_TAG_SHIFT    48
#define FH_PTR_MASK     ((1ull << FH_TAG_SHIFT) - 1)

static uint64_t tag = 1ull << FH_TAG_SHIFT;

void fh_set_instance(uint16_t instance)
{
	tag = (uint64_t)(instance ? instance : 1) << FH_TAG_SHIFT;
}

uint64_t fh_of(const struct blob *b)
{
	uintptr_t p = (uintptr_t)b;

	/* User-space pointers fit in 47 bits on x86-64 (and 48 on arm64); a wider one would lose
	 * its top, so it must never happen. */
	if ((uint64_t)p & ~FH_PTR_MASK)
		abort();
	return (uint64_t)p | tag;
}

bool fh_foreign(uint64_t fh)
{
	return fh != 0 && (fh & ~FH_PTR_MASK) != tag;
}

struct blob *fh_blob(uint64_t fh)
{
	return fh ? (struct blob *)(uintptr_t)(fh & FH_PTR_MASK) : NULL;
}
