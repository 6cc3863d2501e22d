/* sum.c — see sum.h. Four independent lanes of multiply-rotate rounds over 32-byte stripes (the
 * structure of xxHash64, several GB/s in portable C), then every output word mixes all four lanes
 * and the length, so that any changed, missing or added byte changes the whole result. */
#include "indexer/sum.h"

#include <string.h>

#define P1 0x9e3779b185ebca87ull
#define P2 0xc2b2ae3d27d4eb4full
#define P3 0x165667b19e3779f9ull

static uint64_t rotl(uint64_t x, int r)
{
	return x << r | x >> (64 - r);
}

static uint64_t word(const uint8_t *p)
{
	uint64_t w;

	memcpy(&w, p, sizeof w);        /* little-endian hosts only write and read these files */
	return w;
}

static uint64_t round64(uint64_t acc, uint64_t w)
{
	return rotl(acc + w * P2, 31) * P1;
}

static void stripe(struct sum *s, const uint8_t *p)
{
	for (int i = 0; i < 4; i++)
		s->acc[i] = round64(s->acc[i], word(p + 8 * i));
}

void sum_init(struct sum *s)
{
	memset(s, 0, sizeof *s);
	for (int i = 0; i < 4; i++)
		s->acc[i] = P1 * (uint64_t)(i + 1) + P3;
}

void sum_update(struct sum *s, const void *data, size_t n)
{
	const uint8_t *p = data;

	s->total += n;
	if (s->ntail) {
		size_t k = 32 - s->ntail < n ? 32 - s->ntail : n;

		memcpy(s->tail + s->ntail, p, k);
		s->ntail += k;
		p += k;
		n -= k;
		if (s->ntail < 32)
			return;
		stripe(s, s->tail);
		s->ntail = 0;
	}
	for (; n >= 32; p += 32, n -= 32)
		stripe(s, p);
	memcpy(s->tail, p, n);
	s->ntail = n;
}

static uint64_t avalanche(uint64_t h)
{
	h ^= h >> 33;
	h *= P2;
	h ^= h >> 29;
	h *= P3;
	return h ^ (h >> 32);
}

void sum_final(struct sum *s, uint8_t out[32])
{
	uint64_t h[4];

	/* The last partial stripe, zero-padded: the length below tells it from real zeros. */
	if (s->ntail) {
		memset(s->tail + s->ntail, 0, 32 - s->ntail);
		stripe(s, s->tail);
	}
	for (int i = 0; i < 4; i++) {
		uint64_t x = s->total * P3 + (uint64_t)i;

		for (int j = 0; j < 4; j++)
			x = round64(x ^ s->acc[(i + j) & 3], rotl(s->acc[j], 7 * i + 1));
		h[i] = avalanche(x);
	}
	memcpy(out, h, sizeof h);
	memset(s, 0, sizeof *s);
}
