/* sum.h — a fast checksum of a byte stream, for the stored index image (istore.c): it detects a
 * damaged or truncated file, as a CRC would. XXH3's 128 bits (libxxhash, several GB/s: SHA-256,
 * libcrypto's fastest, took 57 ms of a 1,000,000-entry remount's 230). Not a cryptographic hash:
 * the file is the indexer's own, and whoever can write it could as well write a matching SHA-256;
 * the image is validated all the same (ix_open). */
#ifndef AYSFS_SUM_H
#define AYSFS_SUM_H

#include <stddef.h>
#include <stdint.h>

struct sum {
	void *state;            /* XXH3_state_t; NULL when it could not be made (sum_final fails) */
};

void sum_init(struct sum *s);
void sum_update(struct sum *s, const void *p, size_t n);
/* The 16 bytes of XXH3-128 (canonical, big-endian), then 16 zeros: the stored header keeps 32
 * bytes for it. Returns 0, or -1 when the state could not be allocated. */
int sum_final(struct sum *s, uint8_t out[32]);

#endif
