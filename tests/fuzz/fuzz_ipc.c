/* fuzz_ipc.c — a hostile peer's datagram through ipc_check, then its payload through the bounded
 * reader. Input: one byte choosing how many fds "arrived" (its value mod 4) and which accept table
 * applies (its value / 4: 0 the harness's own table below, 1 what a worker accepts from the
 * supervisor, 2 what the supervisor accepts from a worker; more wraps), then the datagram as
 * recvmsg would have returned it (header in host byte order, then payload). With the real tables,
 * MSG_CTL and MSG_CTL_REPLY payloads go through their decoders.
 *
 * Beyond "no crash", it checks the promises callers rely on: an accepted message matches its row
 * exactly, and a payload the reader fully accepted re-encodes to the same bytes. */
#include "tests/fuzz/fuzz.h"
#include "ipc/ipc.h"
#include "ipc/proto_workers.h"
#include "ipc/ipc_workers.h"

#include <stdlib.h>
#include <string.h>

enum { T_SCRIPT = 1, T_OPEN = 2, T_PAIR = 3, T_EMPTY = 4, T_CLOSED = MSG_BLOB_CLOSED };

static const struct ipc_type accept_tbl[] = {
	{ T_SCRIPT, 0, 0, IPC_MAX_PAYLOAD, "script" },
	{ T_OPEN, 1, 12, 4096, "open" },
	{ T_PAIR, 2, 8, 8, "pair" },
	{ T_EMPTY, 0, 0, 0, "empty" },
	{ T_CLOSED, 0, 1 + 16, 1 + 32, "blob-closed" },       /* as in proto_indexer_from_fuser */
};

#define check(cond) do { if (!(cond)) abort(); } while (0)

/* T_SCRIPT: the payload is a program of reads (an op byte, then that op's operand), so the
 * fuzzer can reach every reader function in any order; what is read is written back through a
 * small writer, which overflows often. */
static void parse_script(const uint8_t *p, size_t len)
{
	uint8_t out[256];
	struct ipc_rd r;
	struct ipc_wr w;
	char cbuf[32];
	const char *s;
	char *d;
	size_t n;

	ipc_rd_init(&r, p, len);
	ipc_wr_init(&w, out, sizeof out);
	while (!r.bad && r.left) {
		switch (ipc_rd_u8(&r) % 9) {
		case 0: ipc_wr_u8(&w, ipc_rd_u8(&r)); break;
		case 1: ipc_wr_u16(&w, ipc_rd_u16(&r)); break;
		case 2: ipc_wr_u32(&w, ipc_rd_u32(&r)); break;
		case 3: ipc_wr_u64(&w, ipc_rd_u64(&r)); break;
		case 4: ipc_wr_i64(&w, ipc_rd_i64(&r)); break;
		case 5:
			s = ipc_rd_str(&r, 64, &n);
			check(s ? n <= 64 : n == 0);
			if (s)
				ipc_wr_str(&w, s, n);
			break;
		case 6:
			if (ipc_rd_cstr(&r, cbuf, sizeof cbuf)) {
				check(strlen(cbuf) < sizeof cbuf);
				ipc_wr_cstr(&w, cbuf);
			}
			break;
		case 7:
			d = ipc_rd_strdup(&r, 128);
			check(!d || strlen(d) <= 128);
			ipc_wr_cstr(&w, d);
			free(d);
			break;
		case 8:
			n = ipc_rd_u8(&r);
			s = ipc_rd_bytes(&r, n);
			if (s)
				ipc_wr_bytes(&w, s, n);
			break;
		}
		check(w.len <= w.cap);
	}
	/* After a failure every read is a zero. */
	if (r.bad)
		check(ipc_rd_u64(&r) == 0 && ipc_rd_bytes(&r, 0) == NULL && !ipc_rd_done(&r));
}

/* T_OPEN: a realistic request, { u64 ino, string path } with nothing after. */
static void parse_open(const uint8_t *p, size_t len)
{
	uint8_t out[4096 + 16];
	char path[256];
	struct ipc_rd r;
	struct ipc_wr w;
	uint64_t ino;

	ipc_rd_init(&r, p, len);
	ino = ipc_rd_u64(&r);
	if (!ipc_rd_cstr(&r, path, sizeof path) || !ipc_rd_done(&r))
		return;
	ipc_wr_init(&w, out, sizeof out);
	ipc_wr_u64(&w, ino);
	ipc_wr_cstr(&w, path);
	check(!w.bad && w.len == len && memcmp(out, p, len) == 0);
}

/* T_PAIR: 8 bytes read three ways must agree (little-endian at every width, i64 as two's
 * complement). */
static void parse_pair(const uint8_t *p, size_t len)
{
	struct ipc_rd a, b, c;
	uint64_t lo, hi, v;
	int64_t sv;

	ipc_rd_init(&a, p, len);
	lo = ipc_rd_u32(&a);
	hi = ipc_rd_u32(&a);
	ipc_rd_init(&b, p, len);
	v = ipc_rd_u64(&b);
	ipc_rd_init(&c, p, len);
	sv = ipc_rd_i64(&c);
	check(ipc_rd_done(&a) && ipc_rd_done(&b) && ipc_rd_done(&c));
	check(v == (lo | hi << 32) && (uint64_t)sv == v);
}

/* MSG_CTL and MSG_CTL_REPLY: a payload the decoder accepts is bounded and re-encodes exactly. */
static void parse_ctl(uint16_t type, const uint8_t *p, size_t len)
{
	static uint8_t out[IPC_MAX_PAYLOAD];
	static struct ctl_msg c;
	struct ipc_wr w;

	ipc_wr_init(&w, out, sizeof out);
	if (type == MSG_CTL) {
		if (proto_ctl_decode(p, len, &c))
			return;
		check(c.cmd[0] && strlen(c.cmd) <= CTL_CMD_MAX && strlen(c.arg) <= CTL_ARG_MAX);
		proto_ctl_encode(&w, c.cmd, c.arg);
	} else if (type == MSG_CTL_REPLY) {
		uint32_t status;
		const char *text;
		size_t n;

		if (proto_ctl_reply_decode(p, len, &status, &text, &n))
			return;
		check(status <= 4095 && n <= CTL_TEXT_MAX);
		proto_ctl_reply_encode(&w, status, text, n);
	} else {
		return;
	}
	check(!w.bad && w.len == len && memcmp(out, p, len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct ipc_type *desc = NULL, *tbl = accept_tbl;
	size_t ntbl = sizeof accept_tbl / sizeof accept_tbl[0];
	struct ipc_hdr h;
	unsigned nfds, which;
	const uint8_t *payload;

	if (size < 1)
		return 0;
	nfds = data[0] % 4;
	which = (data[0] / 4) % 3;
	if (which == 1) {
		tbl = proto_from_supervisor;
		ntbl = proto_from_supervisor_n;
	} else if (which == 2) {
		tbl = proto_supervisor_from_worker;
		ntbl = proto_supervisor_from_worker_n;
	}
	data++;
	size--;
	if (ipc_check(data, size, nfds, tbl, ntbl, &desc) < 0) {
		check(desc == NULL);
		return 0;
	}

	/* Accepted: the row, the header and the datagram agree. */
	check(desc && size >= sizeof h);
	memcpy(&h, data, sizeof h);
	check(h.magic == IPC_MAGIC && h.pad == 0 && h.type == desc->type);
	check(h.len == size - sizeof h && h.len >= desc->min_len && h.len <= desc->max_len);
	check(h.nfds == nfds && desc->nfds == nfds && nfds <= IPC_MAX_FDS);

	payload = data + sizeof h;
	if (which == 2 && desc->type == MSG_SYSCALL) {
		/* As the supervisor reads it: exactly two u32. */
		struct ipc_rd sr;

		ipc_rd_init(&sr, payload, h.len);
		ipc_rd_u32(&sr);
		ipc_rd_u32(&sr);
		check(ipc_rd_done(&sr));
	}
	if (which) {
		parse_ctl(desc->type, payload, h.len);
		return 0;
	}
	switch (desc->type) {
	case T_SCRIPT: parse_script(payload, h.len); break;
	case T_OPEN: parse_open(payload, h.len); break;
	case T_PAIR: parse_pair(payload, h.len); break;
	case T_CLOSED: {
		/* The indexer's decoder: a hash of 16 or 32 bytes and nothing else, re-encoded exactly. */
		uint8_t hash[32], out[1 + 32];
		struct ipc_wr w;
		int n = proto_blob_closed_decode(payload, h.len, hash);

		check(n < 0 || n == 16 || n == 32);
		if (n > 0) {
			ipc_wr_init(&w, out, sizeof out);
			ipc_wr_u8(&w, (uint8_t)n);
			ipc_wr_bytes(&w, hash, (size_t)n);
			check(!w.bad && w.len == h.len && memcmp(out, payload, h.len) == 0);
		}
		break;
	}
	case T_EMPTY: {
		struct ipc_rd r;

		ipc_rd_init(&r, payload, h.len);
		check(ipc_rd_done(&r));
		break;
	}
	}
	return 0;
}
