/* ipc_workers.c — the framing's functions that root and the fuser do not use (ipc_workers.h). */
#include "ipc/ipc_workers.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

int ipc_check(const void *buf, size_t len, unsigned nfds, const struct ipc_type *accept,
	      size_t n, const struct ipc_type **desc)
{
	struct ipc_hdr h;

	if (desc)
		*desc = NULL;
	if (!buf || len < sizeof h)
		return -EPROTO;
	/* Copied out: the datagram may sit at any alignment (the fuzzer hands us odd offsets). */
	memcpy(&h, buf, sizeof h);
	return ipc_check_hdr(&h, len - sizeof h, nfds, accept, n, desc);
}

int ipc_recv_wait(int sock, const struct ipc_type *accept, size_t n, struct ipc_msg *m, int ms)
{
	struct pollfd p = { .fd = sock, .events = POLLIN };
	int rc;

	while ((rc = poll(&p, 1, ms)) < 0 && errno == EINTR)
		;
	if (rc <= 0)
		return rc == 0 ? -ETIMEDOUT : -errno;
	return ipc_recv(sock, accept, n, m);
}

void ipc_wr_i64(struct ipc_wr *w, int64_t v)
{
	ipc_wr_u64(w, (uint64_t)v);     /* defined: conversion to unsigned is modulo 2^64 */
}

int64_t ipc_rd_i64(struct ipc_rd *r)
{
	uint64_t v = ipc_rd_u64(r);

	/* Two's complement spelled out: converting an out-of-range u64 to i64 is only
	 * implementation-defined in C17. */
	if (v <= INT64_MAX)
		return (int64_t)v;
	return -(int64_t)(UINT64_MAX - v) - 1;
}

char *ipc_rd_strdup(struct ipc_rd *r, size_t max)
{
	const char *s;
	char *d;
	size_t n;

	s = ipc_rd_text(r, max, &n);
	if (!s)
		return NULL;
	d = malloc(n + 1);
	if (!d) {
		/* Marked bad so that a caller that only checks ipc_rd_done never uses the NULL; errno
		 * stays ENOMEM for one that wants to tell this from a hostile peer. */
		r->bad = true;
		r->left = 0;
		errno = ENOMEM;
		return NULL;
	}
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

uint16_t ipc_rd_u16(struct ipc_rd *r)
{
	const uint8_t *p = ipc_rd_bytes(r, 2);

	return p ? (uint16_t)(p[0] | (unsigned)p[1] << 8) : 0;
}

void ipc_wr_u16(struct ipc_wr *w, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };

	ipc_wr_bytes(w, b, sizeof b);
}
