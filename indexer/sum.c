/* sum.c — see sum.h. */
#include "indexer/sum.h"

#include <string.h>
#include <xxhash.h>

void sum_init(struct sum *s)
{
	s->state = XXH3_createState();
	if (s->state && XXH3_128bits_reset(s->state) != XXH_OK) {
		XXH3_freeState(s->state);
		s->state = NULL;
	}
}

void sum_update(struct sum *s, const void *p, size_t n)
{
	if (s->state && XXH3_128bits_update(s->state, p, n) != XXH_OK) {
		XXH3_freeState(s->state);
		s->state = NULL;
	}
}

int sum_final(struct sum *s, uint8_t out[32])
{
	XXH128_canonical_t c;

	memset(out, 0, 32);
	if (!s->state)
		return -1;
	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(s->state));
	XXH3_freeState(s->state);
	s->state = NULL;
	memcpy(out, c.digest, sizeof c.digest);
	return 0;
}
