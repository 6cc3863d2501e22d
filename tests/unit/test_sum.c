/* test_sum.c — the stored image's checksum (indexer/sum.c): the same bytes give the same sum however
 * they are split, and any change of a byte, of the length or of the order gives another. */
#include "indexer/sum.h"
#include "tests/tap.h"

#include <stdlib.h>

static void sum_of(const uint8_t *p, size_t n, size_t step, uint8_t out[32])
{
	struct sum s;

	sum_init(&s);
	for (size_t d = 0; d < n;) {
		size_t k = step ? step : (d % 61) + 1;

		if (k > n - d)
			k = n - d;
		sum_update(&s, p + d, k);
		d += k;
	}
	sum_final(&s, out);
}

int main(void)
{
	enum { N = 100003 };
	uint8_t *b = malloc(N + 64), a[32], x[32], z[32];
	int same = 1, differ = 1;

	for (size_t i = 0; i < N + 64; i++)
		b[i] = (uint8_t)(i * 2654435761u >> 11);
	sum_of(b, N, N, a);
	sum_of(b, N, 0, x);
	ok(memcmp(a, x, 32) == 0, "pieces of 1 to 61 bytes sum as the whole");
	sum_of(b, N, 32, x);
	ok(memcmp(a, x, 32) == 0, "and so do whole stripes");
	for (size_t i = 0; i < N; i += 997) {
		b[i] ^= 0x10;
		sum_of(b, N, N, x);
		differ &= memcmp(a, x, 32) != 0;
		b[i] ^= 0x10;
	}
	ok(differ, "one changed bit anywhere changes the sum");
	for (size_t n = N - 40; n < N; n++) {
		sum_of(b, n, n, x);
		differ &= memcmp(a, x, 32) != 0;
	}
	ok(differ, "so does a shorter input (a truncated file)");
	memset(z, 0, sizeof z);
	sum_of(z, 31, 31, x);
	sum_of(z, 32, 32, a);
	ok(memcmp(a, x, 32) != 0, "31 and 32 zero bytes differ (trailing zeros count)");
	memcpy(z, b, 32);
	memcpy(b, b + 32, 32);
	memcpy(b + 32, z, 32);
	sum_of(b, 64, 64, x);
	memcpy(b + 32, b, 32);
	memcpy(b, z, 32);
	sum_of(b, 64, 64, a);
	ok(memcmp(a, x, 32) != 0, "two 32-byte blocks swapped differ");
	for (int i = 0; i < 32; i++)
		same &= a[i] == 0;
	ok(!same, "a sum is not all zeros");
	free(b);
	return done_testing();
}
