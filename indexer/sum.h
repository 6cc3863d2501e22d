/* sum.h — a fast 256-bit checksum of a byte stream, for the stored index image (istore.c): it
 * detects a damaged or truncated file, as a CRC would. Not a cryptographic hash: the file is the
 * indexer's own, and whoever can write it could as well write a matching SHA-256. */
#ifndef AYSFS_SUM_H
#define AYSFS_SUM_H

#include <stddef.h>
#include <stdint.h>

struct sum {
	uint64_t acc[4];        /* four lanes, one 8-byte word of each 32-byte stripe each */
	uint8_t tail[32];       /* bytes of a stripe not complete yet */
	size_t ntail;
	uint64_t total;
};

void sum_init(struct sum *s);
void sum_update(struct sum *s, const void *p, size_t n);
void sum_final(struct sum *s, uint8_t out[32]);

#endif
