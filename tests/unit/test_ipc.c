/* test_ipc.c — the framing rules of ipc.h on real SOCK_SEQPACKET socketpairs, and the bounded
 * reader/writer at their exact edges. A peer is hostile (DESIGN.md, invariant 2): every rejected
 * message must leave no fd behind in our table, which the tests check by counting /proc/self/fd. */
#include "ipc/ipc.h"
#include "tests/tap.h"
#include "ipc/ipc_workers.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

enum { T_DATA = 1, T_BLOB = 2, T_BOUNDED = 3, T_PAIR = 4, T_UNKNOWN = 99 };

static const struct ipc_type tbl[] = {
	{ T_DATA, 0, 0, IPC_MAX_PAYLOAD, "data" },
	{ T_BLOB, 1, 0, 16, "blob" },
	{ T_BOUNDED, 0, 4, 8, "bounded" },
	{ T_PAIR, 2, 0, 0, "pair" },
};
#define NTBL (sizeof tbl / sizeof tbl[0])

/* 64 KiB each: kept off the stack. */
static struct ipc_msg m;
static uint8_t big[sizeof(struct ipc_hdr) + IPC_MAX_PAYLOAD + 256];

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void pair(int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		perror("socketpair");
		exit(2);
	}
}

static void unpair(int sv[2])
{
	close(sv[0]);
	close(sv[1]);
}

static void mkpipe(int p[2])
{
	if (pipe2(p, O_CLOEXEC) < 0) {
		perror("pipe2");
		exit(2);
	}
}

/* A header as a hostile peer would write it: every field chosen by the test. */
static size_t mkhdr(void *buf, uint32_t magic, uint16_t type, uint16_t nfds, uint32_t len,
		    uint32_t pad, uint64_t id)
{
	struct ipc_hdr h = { .magic = magic, .type = type, .nfds = nfds, .len = len, .pad = pad,
			     .id = id };

	memcpy(buf, &h, sizeof h);
	return sizeof h;
}

/* sendmsg without any of ipc_send's checks. */
static ssize_t raw_send(int sock, const void *buf, size_t len, const int *fds, unsigned nfds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 32)];
	} ctl;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof ctl);
		msg.msg_control = ctl.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	return sendmsg(sock, &msg, MSG_NOSIGNAL);
}

/* Send a crafted datagram (header + plen payload bytes) with fds; return what ipc_recv says. */
static int recv_raw(uint32_t magic, uint16_t type, uint16_t hnfds, uint32_t hlen, uint32_t pad,
		    size_t plen, const int *fds, unsigned nfds)
{
	int sv[2], rc;
	size_t off;

	pair(sv);
	off = mkhdr(big, magic, type, hnfds, hlen, pad, 7);
	memset(big + off, 'p', plen);
	if (raw_send(sv[0], big, off + plen, fds, nfds) < 0) {
		perror("raw_send");
		exit(2);
	}
	rc = ipc_recv(sv[1], tbl, NTBL, &m);
	if (rc == 1)
		ipc_msg_close_fds(&m);
	unpair(sv);
	return rc;
}

static void test_round_trip(void)
{
	int sv[2];

	pair(sv);
	is_int(ipc_send(sv[0], T_DATA, 0x1122334455667788ull, "hello", 5, NULL, 0), 0, "send data");
	is_int(ipc_recv(sv[1], tbl, NTBL, &m), 1, "recv data");
	is_int(m.hdr.type, T_DATA, "type survives");
	ok(m.hdr.id == 0x1122334455667788ull, "id survives");
	is_int(m.hdr.len, 5, "len survives");
	ok(memcmp(m.payload, "hello", 5) == 0, "payload survives");
	ok(m.desc == &tbl[0], "desc is the matching row");
	ok(m.fds[0] == -1 && m.fds[1] == -1, "no fds: all slots -1");

	is_int(ipc_send(sv[0], T_DATA, 1, NULL, 0, NULL, 0), 0, "send empty payload");
	is_int(ipc_recv(sv[1], tbl, NTBL, &m), 1, "recv empty payload");
	is_int(m.hdr.len, 0, "empty payload has len 0");

	for (size_t i = 0; i < IPC_MAX_PAYLOAD; i++)
		big[i] = (uint8_t)(i * 31 + 7);
	is_int(ipc_send(sv[0], T_DATA, 2, big, IPC_MAX_PAYLOAD, NULL, 0), 0, "send max payload");
	memset(m.payload, 0, sizeof m.payload);
	is_int(ipc_recv(sv[1], tbl, NTBL, &m), 1, "recv max payload");
	is_int(m.hdr.len, IPC_MAX_PAYLOAD, "max payload len");
	ok(memcmp(m.payload, big, IPC_MAX_PAYLOAD) == 0, "max payload bytes intact");
	unpair(sv);
}

static void test_fd_passing(void)
{
	int sv[2], p[2], q[2], fds[2];
	char c = 0;
	int before;

	pair(sv);
	mkpipe(p);
	is_int(ipc_send(sv[0], T_BLOB, 3, "x", 1, &p[1], 1), 0, "send one fd");
	close(p[1]);
	is_int(ipc_recv(sv[1], tbl, NTBL, &m), 1, "recv one fd");
	is_int(m.hdr.nfds, 1, "hdr.nfds 1");
	ok(m.fds[0] >= 0 && m.fds[1] == -1, "one fd handed over, the other slot -1");
	ok(fcntl(m.fds[0], F_GETFD) & FD_CLOEXEC, "received fd has FD_CLOEXEC");
	ok(write(m.fds[0], "z", 1) == 1 && read(p[0], &c, 1) == 1 && c == 'z',
	   "received fd is the pipe's write end");
	ipc_msg_close_fds(&m);
	ok(m.fds[0] == -1, "ipc_msg_close_fds resets the slot");
	ok(read(p[0], &c, 1) == 0, "closing it closed the last write end");
	close(p[0]);

	/* Two fds where the type wants two. */
	mkpipe(p);
	mkpipe(q);
	before = count_fds();
	fds[0] = p[0];
	fds[1] = q[1];
	is_int(ipc_send(sv[0], T_PAIR, 4, NULL, 0, fds, 2), 0, "send two fds");
	is_int(ipc_recv(sv[1], tbl, NTBL, &m), 1, "recv two fds");
	ok(m.fds[0] >= 0 && m.fds[1] >= 0, "both fds handed over");
	is_int(count_fds(), before + 2, "two new fds in the table");
	ipc_msg_close_fds(&m);
	is_int(count_fds(), before, "ipc_msg_close_fds closes both");
	unpair(sv);
	unpair(p);
	unpair(q);
}

static void test_fd_counts(void)
{
	int p[2], fds[16], before;

	mkpipe(p);
	before = count_fds();

	is_int(recv_raw(IPC_MAGIC, T_BLOB, 0, 0, 0, 0, NULL, 0), -EPROTO,
	       "type wants 1 fd, 0 arrive, header says 0");
	is_int(recv_raw(IPC_MAGIC, T_BLOB, 1, 0, 0, 0, NULL, 0), -EPROTO,
	       "type wants 1 fd, 0 arrive, header says 1");

	fds[0] = p[0];
	fds[1] = p[1];
	is_int(recv_raw(IPC_MAGIC, T_BLOB, 2, 0, 0, 0, fds, 2), -EPROTO,
	       "type wants 1 fd, 2 arrive");
	is_int(count_fds(), before, "both received fds closed");
	ok(m.fds[0] == -1 && m.fds[1] == -1, "no fd left in the message on -EPROTO");

	is_int(recv_raw(IPC_MAGIC, T_BLOB, 1, 0, 0, 0, fds, 2), -EPROTO,
	       "type wants 1 fd, header says 1, 2 arrive");
	is_int(count_fds(), before, "both received fds closed");

	is_int(recv_raw(IPC_MAGIC, T_BLOB, 2, 0, 0, 0, fds, 1), -EPROTO,
	       "header says 2, 1 arrives");
	is_int(count_fds(), before, "the received fd closed");

	is_int(recv_raw(IPC_MAGIC, T_DATA, 1, 0, 0, 0, fds, 1), -EPROTO,
	       "fd on a type that carries none");
	is_int(count_fds(), before, "the unexpected fd closed");

	/* More than our control buffer holds: MSG_CTRUNC, and the kernel drops what did not fit. */
	for (int i = 0; i < 16; i++)
		fds[i] = p[i & 1];
	is_int(recv_raw(IPC_MAGIC, T_BLOB, 1, 0, 0, 0, fds, 16), -EPROTO, "16 fds: MSG_CTRUNC");
	is_int(count_fds(), before, "none of the 16 left open");

	/* Fds riding along with a broken header are closed too. */
	is_int(recv_raw(0, T_BLOB, 1, 0, 0, 0, fds, 1), -EPROTO, "fd with bad magic");
	is_int(count_fds(), before, "its fd closed");
	is_int(recv_raw(IPC_MAGIC, T_BLOB, 1, IPC_MAX_PAYLOAD + 100, 0, IPC_MAX_PAYLOAD + 100,
			fds, 1), -EPROTO, "fd with a truncated datagram");
	is_int(count_fds(), before, "its fd closed");

	/* An empty datagram reads like EOF; with an fd it is a violation and the fd is closed. */
	{
		int sv[2];

		pair(sv);
		is_int(raw_send(sv[0], "", 0, fds, 1), 0, "send an empty datagram with an fd");
		is_int(ipc_recv(sv[1], tbl, NTBL, &m), -EPROTO, "empty datagram carrying an fd");
		is_int(count_fds(), before + 2, "its fd closed");
		unpair(sv);
	}

	/* Credentials are control data we never asked for: reject, and still close the fd. */
	{
		int sv[2], one = 1;

		pair(sv);
		setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
		is_int(ipc_send(sv[0], T_BLOB, 5, NULL, 0, fds, 1), 0, "send fd to a SO_PASSCRED socket");
		is_int(ipc_recv(sv[1], tbl, NTBL, &m), -EPROTO, "SCM_CREDENTIALS is rejected");
		is_int(count_fds(), before + 2, "the fd beside it closed");
		unpair(sv);
	}
	unpair(p);
}

static void test_bad_datagrams(void)
{
	int sv[2];
	size_t off;

	is_int(recv_raw(IPC_MAGIC, T_DATA, 0, 3, 0, 3, NULL, 0), 1, "well-formed raw datagram");
	is_int(recv_raw(IPC_MAGIC ^ 1, T_DATA, 0, 3, 0, 3, NULL, 0), -EPROTO, "bad magic");
	is_int(recv_raw(IPC_MAGIC, T_DATA, 0, 3, 1, 3, NULL, 0), -EPROTO, "nonzero pad");
	is_int(recv_raw(IPC_MAGIC, T_DATA, 0, 4, 0, 3, NULL, 0), -EPROTO, "hdr.len > datagram");
	is_int(recv_raw(IPC_MAGIC, T_DATA, 0, 2, 0, 3, NULL, 0), -EPROTO, "hdr.len < datagram");
	is_int(recv_raw(IPC_MAGIC, T_UNKNOWN, 0, 0, 0, 0, NULL, 0), -EPROTO, "unknown type");
	is_int(recv_raw(IPC_MAGIC, T_BOUNDED, 0, 3, 0, 3, NULL, 0), -EPROTO, "payload below min");
	is_int(recv_raw(IPC_MAGIC, T_BOUNDED, 0, 4, 0, 4, NULL, 0), 1, "payload at min");
	is_int(recv_raw(IPC_MAGIC, T_BOUNDED, 0, 8, 0, 8, NULL, 0), 1, "payload at max");
	is_int(recv_raw(IPC_MAGIC, T_BOUNDED, 0, 9, 0, 9, NULL, 0), -EPROTO, "payload above max");
	is_int(recv_raw(IPC_MAGIC, T_BLOB, 0, 17, 0, 17, NULL, 0), -EPROTO,
	       "payload above max (fd type, no fd)");
	is_int(recv_raw(IPC_MAGIC, T_DATA, 0, IPC_MAX_PAYLOAD + 1, 0, IPC_MAX_PAYLOAD + 1,
			NULL, 0), -EPROTO, "one byte over the maximum payload");
	is_int(recv_raw(IPC_MAGIC, T_DATA, 0, IPC_MAX_PAYLOAD + 200, 0, IPC_MAX_PAYLOAD + 200,
			NULL, 0), -EPROTO, "oversized datagram (MSG_TRUNC)");

	/* Shorter than a header. */
	pair(sv);
	off = mkhdr(big, IPC_MAGIC, T_DATA, 0, 0, 0, 0);
	is_int(raw_send(sv[0], big, 10, NULL, 0), 10, "send 10-byte datagram");
	is_int(ipc_recv(sv[1], tbl, NTBL, &m), -EPROTO, "short datagram");
	is_int(raw_send(sv[0], big, off - 1, NULL, 0), (long long)off - 1, "send header minus one");
	is_int(ipc_recv(sv[1], tbl, NTBL, &m), -EPROTO, "header minus one byte");

	/* A truncated datagram is dropped whole: the next one is read cleanly. */
	mkhdr(big, IPC_MAGIC, T_DATA, 0, IPC_MAX_PAYLOAD + 100, 0, 0);
	raw_send(sv[0], big, sizeof(struct ipc_hdr) + IPC_MAX_PAYLOAD + 100, NULL, 0);
	is_int(ipc_send(sv[0], T_DATA, 9, "ok", 2, NULL, 0), 0, "send after oversized");
	is_int(ipc_recv(sv[1], tbl, NTBL, &m), -EPROTO, "oversized rejected");
	is_int(ipc_recv(sv[1], tbl, NTBL, &m), 1, "next message intact");
	ok(m.hdr.id == 9 && m.hdr.len == 2, "next message is the one sent");

	/* An empty accept table accepts nothing. */
	is_int(ipc_send(sv[0], T_DATA, 1, NULL, 0, NULL, 0), 0, "send for empty table");
	is_int(ipc_recv(sv[1], tbl, 0, &m), -EPROTO, "empty accept table rejects");
	unpair(sv);
}

static void test_socket_states(void)
{
	int sv[2];

	pair(sv);
	close(sv[0]);
	is_int(ipc_recv(sv[1], tbl, NTBL, &m), 0, "EOF after peer close");
	is_int(ipc_send(sv[1], T_DATA, 1, NULL, 0, NULL, 0), -EPIPE,
	       "send to a closed peer: -EPIPE, no SIGPIPE");
	close(sv[1]);

	pair(sv);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	is_int(ipc_recv(sv[1], tbl, NTBL, &m), -EAGAIN, "non-blocking and empty: -EAGAIN");
	unpair(sv);

	pair(sv);
	{
		int fds[3] = { 0, 1, 2 };

		is_int(ipc_send(sv[0], T_DATA, 1, big, IPC_MAX_PAYLOAD + 1, NULL, 0), -EMSGSIZE,
		       "send payload over the maximum");
		is_int(ipc_send(sv[0], T_DATA, 1, NULL, 0, fds, IPC_MAX_FDS + 1), -EMSGSIZE,
		       "send too many fds");
	}
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	is_int(ipc_recv(sv[1], tbl, NTBL, &m), -EAGAIN, "refused sends put nothing on the wire");
	is_int(ipc_recv(-1, tbl, NTBL, &m), -EBADF, "recvmsg errors come back as -errno");
	unpair(sv);
}

static void test_check(void)
{
	static const struct ipc_type wide[] = { { 7, 3, 0, 0, "three fds" } };
	const struct ipc_type *desc = &tbl[0];
	uint8_t buf[sizeof(struct ipc_hdr) + 8];
	size_t off;

	off = mkhdr(buf, IPC_MAGIC, T_BOUNDED, 0, 8, 0, 0);
	is_int(ipc_check(buf, off + 8, 0, tbl, NTBL, &desc), 0, "ipc_check accepts");
	ok(desc == &tbl[2], "ipc_check names the row");
	is_int(ipc_check(buf, off + 8, 1, tbl, NTBL, &desc), -EPROTO, "ipc_check: fd count");
	ok(desc == NULL, "ipc_check clears desc on failure");
	is_int(ipc_check(buf, off - 1, 0, tbl, NTBL, &desc), -EPROTO, "ipc_check: short");
	is_int(ipc_check(NULL, 0, 0, tbl, NTBL, &desc), -EPROTO, "ipc_check: NULL");
	/* A table row asking for more fds than a message can hold is never satisfied. */
	mkhdr(buf, IPC_MAGIC, 7, 3, 0, 0, 0);
	is_int(ipc_check(buf, off, 3, wide, 1, &desc), -EPROTO, "ipc_check: nfds > IPC_MAX_FDS");
}

/* ---- reader ---------------------------------------------------------------------------------- */

static void test_reader_ints(void)
{
	static const uint8_t wire[] = {
		0xab,
		0x34, 0x12,
		0x78, 0x56, 0x34, 0x12,
		0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80,
	};
	struct ipc_rd r;

	ipc_rd_init(&r, wire, sizeof wire);
	is_int(ipc_rd_u8(&r), 0xab, "u8");
	is_int(ipc_rd_u16(&r), 0x1234, "u16 little-endian");
	is_int(ipc_rd_u32(&r), 0x12345678, "u32 little-endian");
	ok(ipc_rd_u64(&r) == 0x0123456789abcdefull, "u64 little-endian");
	is_int(ipc_rd_i64(&r), -1, "i64 -1");
	ok(ipc_rd_i64(&r) == INT64_MIN, "i64 minimum");
	ok(ipc_rd_done(&r), "every byte consumed: done");
	is_int(ipc_rd_u8(&r), 0, "u8 past the end reads 0");
	ok(r.bad && !ipc_rd_done(&r), "reading past the end sets bad");

	/* Each width at exactly its size succeeds, one byte short fails. */
	static const struct { size_t w; const char *name; } widths[] = {
		{ 1, "u8" }, { 2, "u16" }, { 4, "u32" }, { 8, "u64" }, { 8, "i64" },
	};
	for (size_t i = 0; i < sizeof widths / sizeof widths[0]; i++) {
		size_t w = widths[i].w;
		uint64_t v;

		for (int shortby = 0; shortby <= 1; shortby++) {
			/* The last w bytes of wire: 0x80 on top, so v is 1 << (8w - 1). */
			ipc_rd_init(&r, wire + sizeof wire - w, w - shortby);
			switch (i) {
			case 0: v = ipc_rd_u8(&r); break;
			case 1: v = ipc_rd_u16(&r); break;
			case 2: v = ipc_rd_u32(&r); break;
			case 3: v = ipc_rd_u64(&r); break;
			default: v = (uint64_t)ipc_rd_i64(&r); break;
			}
			if (shortby)
				ok(v == 0 && r.bad, "%s with %zu bytes fails", widths[i].name, w - 1);
			else
				ok(!r.bad && ipc_rd_done(&r) && v == (uint64_t)1 << (8 * w - 1),
				   "%s with exactly %zu bytes", widths[i].name, w);
		}
	}

	/* bad sticks even where the data would now suffice. */
	ipc_rd_init(&r, wire, 3);
	is_int(ipc_rd_u16(&r), 0x34ab, "u16 of 3 bytes");
	is_int(ipc_rd_u16(&r), 0, "u16 of the 1 left fails");
	is_int(ipc_rd_u8(&r), 0, "u8 after failure reads 0 though a byte was left");
	ok(ipc_rd_bytes(&r, 0) == NULL, "bytes(0) after failure is NULL");
	ok(!ipc_rd_done(&r), "not done once bad");

	ipc_rd_init(&r, wire, 4);
	ok(ipc_rd_bytes(&r, 0) != NULL, "bytes(0) is not NULL");
	ok(ipc_rd_bytes(&r, 4) == wire, "bytes(n) with n left");
	ok(ipc_rd_done(&r), "done after bytes");
	ipc_rd_init(&r, wire, 4);
	ok(ipc_rd_bytes(&r, 5) == NULL && r.bad, "bytes(n+1) fails");
	ipc_rd_init(&r, wire, 4);
	ok(ipc_rd_bytes(&r, SIZE_MAX) == NULL && r.bad, "bytes(SIZE_MAX) fails");

	ipc_rd_init(&r, NULL, 0);
	ok(ipc_rd_done(&r), "empty reader is done");
	ok(ipc_rd_bytes(&r, 0) != NULL, "bytes(0) of a NULL buffer is not NULL");
	is_int(ipc_rd_u8(&r), 0, "u8 of an empty reader fails");
	ok(r.bad, "and sets bad");

	ipc_rd_init(&r, wire, 2);
	ipc_rd_u8(&r);
	ok(!ipc_rd_done(&r), "a byte left over: not done");
}

/* Build a reader over [u32 n][bytes] in buf. */
static void rd_over(struct ipc_rd *r, uint8_t *buf, uint32_t n, const char *s, size_t slen)
{
	buf[0] = (uint8_t)n;
	buf[1] = (uint8_t)(n >> 8);
	buf[2] = (uint8_t)(n >> 16);
	buf[3] = (uint8_t)(n >> 24);
	memcpy(buf + 4, s, slen);
	ipc_rd_init(r, buf, 4 + slen);
}

static void test_reader_strings(void)
{
	uint8_t buf[64];
	struct ipc_rd r;
	const char *s;
	char dst[6], *d;
	size_t len = 99;

	rd_over(&r, buf, 5, "hello", 5);
	s = ipc_rd_str(&r, 5, &len);
	ok(s && len == 5 && memcmp(s, "hello", 5) == 0 && ipc_rd_done(&r), "str of max length");
	rd_over(&r, buf, 5, "hello", 5);
	len = 99;
	ok(ipc_rd_str(&r, 4, &len) == NULL && r.bad && len == 0, "str longer than max fails");
	rd_over(&r, buf, 6, "hello", 5);
	ok(ipc_rd_str(&r, 100, &len) == NULL && r.bad, "str longer than what is left fails");
	rd_over(&r, buf, 0xffffffffu, "hello", 5);
	ok(ipc_rd_str(&r, SIZE_MAX, &len) == NULL && r.bad, "str length 2^32-1 fails");
	rd_over(&r, buf, 0, "", 0);
	s = ipc_rd_str(&r, 0, &len);
	ok(s != NULL && len == 0 && ipc_rd_done(&r), "empty str is not NULL");
	ipc_rd_init(&r, buf, 3);
	ok(ipc_rd_str(&r, 10, &len) == NULL && r.bad, "str with a truncated length fails");
	rd_over(&r, buf, 2, "ab", 2);
	ok(ipc_rd_str(&r, 2, &len) && ipc_rd_u8(&r) == 0 && r.bad, "read after a str at the end fails");

	rd_over(&r, buf, 5, "hello", 5);
	d = ipc_rd_cstr(&r, dst, sizeof dst);
	ok(d == dst && strcmp(dst, "hello") == 0 && ipc_rd_done(&r), "cstr that just fits");
	rd_over(&r, buf, 6, "hello!", 6);
	d = ipc_rd_cstr(&r, dst, sizeof dst);
	ok(d == NULL && r.bad && dst[0] == '\0', "cstr one byte too long for dst fails, dst empty");
	rd_over(&r, buf, 5, "he\0lo", 5);
	ok(ipc_rd_cstr(&r, dst, sizeof dst) == NULL && r.bad, "cstr with embedded NUL fails");
	rd_over(&r, buf, 5, "hello", 5);
	ok(ipc_rd_cstr(&r, dst, 0) == NULL && r.bad, "cstr into a zero-size dst fails");
	rd_over(&r, buf, 0, "", 0);
	ok(ipc_rd_cstr(&r, dst, 1) == dst && dst[0] == '\0' && ipc_rd_done(&r),
	   "empty cstr into a 1-byte dst");
	rd_over(&r, buf, 5, "hell", 4);
	ok(ipc_rd_cstr(&r, dst, sizeof dst) == NULL && r.bad, "cstr longer than what is left fails");

	rd_over(&r, buf, 5, "hello", 5);
	d = ipc_rd_strdup(&r, 5);
	ok(d && strcmp(d, "hello") == 0 && ipc_rd_done(&r), "strdup at max");
	free(d);
	rd_over(&r, buf, 5, "hello", 5);
	ok(ipc_rd_strdup(&r, 4) == NULL && r.bad, "strdup over max fails");
	rd_over(&r, buf, 5, "hell\0", 5);
	ok(ipc_rd_strdup(&r, 64) == NULL && r.bad, "strdup with embedded NUL fails");
	rd_over(&r, buf, 0, "", 0);
	d = ipc_rd_strdup(&r, 0);
	ok(d && d[0] == '\0' && ipc_rd_done(&r), "strdup of the empty string");
	free(d);
	rd_over(&r, buf, 5, "hello", 5);
	ipc_rd_u8(&r);
	ok(ipc_rd_strdup(&r, 64) == NULL, "strdup of a misread length fails");

	/* Two strings back to back, then a byte too many. */
	{
		uint8_t two[] = { 1, 0, 0, 0, 'a', 2, 0, 0, 0, 'b', 'c', 0x55 };

		ipc_rd_init(&r, two, sizeof two);
		d = ipc_rd_strdup(&r, 8);
		s = ipc_rd_str(&r, 8, &len);
		ok(d && strcmp(d, "a") == 0 && s && len == 2 && memcmp(s, "bc", 2) == 0,
		   "strings read in sequence");
		free(d);
		ok(!ipc_rd_done(&r) && !r.bad, "leftover byte: not done, not bad");
		is_int(ipc_rd_u8(&r), 0x55, "the leftover byte");
		ok(ipc_rd_done(&r), "then done");
	}
}

/* ---- writer ---------------------------------------------------------------------------------- */

static void test_writer(void)
{
	static const uint8_t want[] = {
		0xab,
		0x34, 0x12,
		0x78, 0x56, 0x34, 0x12,
		0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01,
		0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		3, 0, 0, 0, 'a', 'b', 'c',
		0, 0, 0, 0,
		2, 0, 0, 0, 'h', 'i',
		'x', 'y',
	};
	uint8_t buf[sizeof want], small[8];
	struct ipc_wr w;
	struct ipc_rd r;
	char s[8];

	ipc_wr_init(&w, buf, sizeof buf);
	ipc_wr_u8(&w, 0xab);
	ipc_wr_u16(&w, 0x1234);
	ipc_wr_u32(&w, 0x12345678);
	ipc_wr_u64(&w, 0x0123456789abcdefull);
	ipc_wr_i64(&w, -2);
	ipc_wr_str(&w, "abcdef", 3);
	ipc_wr_cstr(&w, NULL);
	ipc_wr_cstr(&w, "hi");
	ipc_wr_bytes(&w, "xy", 2);
	ok(!w.bad && w.len == sizeof want, "writer fills the buffer exactly");
	ok(memcmp(buf, want, sizeof want) == 0, "writer bytes are little-endian as specified");

	ipc_rd_init(&r, buf, w.len);
	ipc_rd_u8(&r);
	ipc_rd_u16(&r);
	ipc_rd_u32(&r);
	ipc_rd_u64(&r);
	is_int(ipc_rd_i64(&r), -2, "i64 round trip");
	ok(ipc_rd_cstr(&r, s, sizeof s) && strcmp(s, "abc") == 0, "str round trip");
	ok(ipc_rd_cstr(&r, s, sizeof s) && s[0] == '\0', "NULL cstr reads as empty");
	ok(ipc_rd_cstr(&r, s, sizeof s) && strcmp(s, "hi") == 0, "cstr round trip");
	ok(ipc_rd_bytes(&r, 2) && ipc_rd_done(&r), "round trip consumes everything");

	ipc_wr_init(&w, small, sizeof small);
	ipc_wr_u64(&w, 1);
	ok(!w.bad && w.len == 8, "u64 into exactly 8 bytes");
	ipc_wr_u8(&w, 1);
	ok(w.bad && w.len == 8, "one byte more sets bad");
	ipc_wr_bytes(&w, "", 0);
	ok(w.bad && w.len == 8, "bad sticks");

	ipc_wr_init(&w, small, sizeof small);
	ipc_wr_u32(&w, 1);
	ipc_wr_u32(&w, 2);
	ipc_wr_u16(&w, 3);
	ok(w.bad && w.len == 8, "u16 into a full buffer sets bad");

	ipc_wr_init(&w, small, sizeof small);
	ipc_wr_str(&w, "abcd", 4);
	ok(!w.bad && w.len == 8, "str that just fits");
	ipc_wr_init(&w, small, sizeof small);
	ipc_wr_str(&w, "abcde", 5);
	ok(w.bad && w.len == 0, "str one byte too long writes nothing and sets bad");
	ipc_wr_init(&w, small, sizeof small);
	ipc_wr_u32(&w, 0);
	ipc_wr_u16(&w, 0);
	ipc_wr_cstr(&w, "");
	ok(w.bad && w.len == 6, "even an empty string needs its 4-byte length");
	ipc_wr_init(&w, small, sizeof small);
	ipc_wr_bytes(&w, small, SIZE_MAX);
	ok(w.bad && w.len == 0, "bytes(SIZE_MAX) sets bad");
}

int main(void)
{
	test_round_trip();
	test_fd_passing();
	test_fd_counts();
	test_bad_datagrams();
	test_socket_states();
	test_check();
	test_reader_ints();
	test_reader_strings();
	test_writer();
	return done_testing();
}
