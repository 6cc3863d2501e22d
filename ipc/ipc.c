/* ipc.c — framed messages over SOCK_SEQPACKET, fd passing, and the bounded payload reader/writer.
 *
 * The receiving side is written for a hostile peer (after OpenBSD's imsg and OpenSSH's
 * monitor_fdpass.c): a datagram is accepted only when every header field, the payload length and
 * the fd count agree with one row of the caller's accept table, and every fd that arrives with a
 * rejected message is closed before we return, so a peer cannot fill our fd table.
 */
#include "ipc/ipc.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

_Static_assert(sizeof(struct ipc_hdr) == 24, "ipc_hdr is a wire format");
_Static_assert(IPC_MAX_PAYLOAD <= UINT32_MAX, "hdr.len is a u32");

/* Room for more fds than any type carries: a peer that attaches a few too many gets them
 * received and closed (a clean -EPROTO); beyond this the kernel sets MSG_CTRUNC and drops the
 * ones that did not fit without installing them in our table. */
#define IPC_RECV_FDS (IPC_MAX_FDS + 4)

/* ---- framing ---------------------------------------------------------------------------------- */

int ipc_send(int sock, uint16_t type, uint64_t id, const void *payload, size_t len,
	     const int *fds, unsigned nfds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * IPC_MAX_FDS)];
	} ctl;
	struct ipc_hdr hdr = { 0 };
	struct iovec iov[2];
	struct msghdr msg = { 0 };
	ssize_t n;

	if (len > IPC_MAX_PAYLOAD || nfds > IPC_MAX_FDS)
		return -EMSGSIZE;
	if ((len && !payload) || (nfds && !fds))
		return -EINVAL;

	hdr.magic = IPC_MAGIC;
	hdr.type = type;
	hdr.nfds = (uint16_t)nfds;
	hdr.len = (uint32_t)len;
	hdr.id = id;

	iov[0].iov_base = &hdr;
	iov[0].iov_len = sizeof hdr;
	iov[1].iov_base = (void *)payload;
	iov[1].iov_len = len;
	msg.msg_iov = iov;
	msg.msg_iovlen = len ? 2 : 1;

	/* No control data at all without fds: an empty SCM_RIGHTS would be noise to the peer. */
	if (nfds) {
		struct cmsghdr *cmsg;

		memset(&ctl, 0, sizeof ctl);
		msg.msg_control = ctl.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * nfds);
	}

	/* MSG_NOSIGNAL: a dead peer is an error to report, not a reason for SIGPIPE to kill us. */
	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	/* SOCK_SEQPACKET sends whole datagrams; anything else means the socket is not what we think. */
	if ((size_t)n != sizeof hdr + len)
		return -EIO;
	return 0;
}

/* The checks of a header already copied out, `paylen` being the bytes after it (ipc_recv here;
 * ipc_check in ipc_workers.c, for the fuzz harnesses). */
int ipc_check_hdr(const struct ipc_hdr *h, size_t paylen, unsigned nfds,
			 const struct ipc_type *accept, size_t n, const struct ipc_type **desc)
{
	const struct ipc_type *t = NULL;

	if (desc)
		*desc = NULL;
	if (h->magic != IPC_MAGIC || h->pad != 0)
		return -EPROTO;
	if (paylen > IPC_MAX_PAYLOAD || h->len != paylen)
		return -EPROTO;
	for (size_t i = 0; i < n; i++) {
		if (accept[i].type == h->type) {
			t = &accept[i];
			break;
		}
	}
	if (!t)
		return -EPROTO;
	if (h->len < t->min_len || h->len > t->max_len)
		return -EPROTO;
	/* The sender's claim, what arrived and what the type carries must all agree; the bound on
	 * IPC_MAX_FDS also protects ipc_msg.fds from a table row that asks for more. */
	if (nfds > IPC_MAX_FDS || h->nfds != nfds || t->nfds != nfds)
		return -EPROTO;
	if (desc)
		*desc = t;
	return 0;
}

static void close_all(int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		close(fds[i]);
}

int ipc_recv(int sock, const struct ipc_type *accept, size_t n, struct ipc_msg *m)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * IPC_RECV_FDS)];
	} ctl;
	int fds[IPC_RECV_FDS];
	unsigned nfds = 0;
	bool bad = false;
	uint8_t spare;
	struct iovec iov[3];
	struct msghdr msg = { 0 };
	struct cmsghdr *cmsg;
	ssize_t got;

	for (unsigned i = 0; i < IPC_MAX_FDS; i++)
		m->fds[i] = -1;
	m->desc = NULL;

	/* Scattered straight into *m rather than through a bounce buffer: one recvmsg still sees the
	 * whole datagram, and the spare byte after the largest legal payload makes an oversized one
	 * visible (as a length mismatch, or MSG_TRUNC beyond it) instead of silently cut. */
	iov[0].iov_base = &m->hdr;
	iov[0].iov_len = sizeof m->hdr;
	iov[1].iov_base = m->payload;
	iov[1].iov_len = sizeof m->payload;
	iov[2].iov_base = &spare;
	iov[2].iov_len = 1;
	msg.msg_iov = iov;
	msg.msg_iovlen = 3;
	msg.msg_control = ctl.buf;
	msg.msg_controllen = sizeof ctl.buf;

	do
		got = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (got < 0 && errno == EINTR);
	if (got < 0)
		return -errno;

	/* Collect every fd of every SCM_RIGHTS first, whatever else is wrong, so that each one is
	 * either handed to the caller or closed. */
	for (cmsg = CMSG_FIRSTHDR(&msg); cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
		size_t k;

		if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS ||
		    cmsg->cmsg_len < CMSG_LEN(0)) {
			bad = true;
			continue;
		}
		k = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof fd);
			if (nfds < IPC_RECV_FDS) {
				fds[nfds++] = fd;
			} else {
				/* Cannot happen with our control buffer; closed all the same. */
				close(fd);
				bad = true;
			}
		}
	}

	/* An empty datagram reads the same as end of file on SOCK_SEQPACKET; we take it as end of
	 * file (the caller stops reading either way) unless it smuggled fds or control data. */
	if (got == 0 && !bad && nfds == 0 && !(msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
		return 0;

	if (bad || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || (size_t)got < sizeof m->hdr ||
	    ipc_check_hdr(&m->hdr, (size_t)got - sizeof m->hdr, nfds, accept, n, &m->desc) < 0) {
		close_all(fds, nfds);
		m->desc = NULL;
		return -EPROTO;
	}

	/* ipc_check_hdr demanded exactly the type's count, so every fd received goes to the caller. */
	for (unsigned i = 0; i < nfds; i++)
		m->fds[i] = fds[i];
	return 1;
}

void ipc_msg_close_fds(struct ipc_msg *m)
{
	for (unsigned i = 0; i < IPC_MAX_FDS; i++) {
		if (m->fds[i] >= 0) {
			close(m->fds[i]);
			m->fds[i] = -1;
		}
	}
}

/* ---- bounded reader --------------------------------------------------------------------------- */

/* A valid non-NULL pointer for zero-length reads from an empty (possibly NULL) buffer, so that
 * NULL always means failure. */
static const uint8_t ipc_empty[1];

void ipc_rd_init(struct ipc_rd *r, const void *buf, size_t len)
{
	r->p = buf ? buf : ipc_empty;
	r->left = buf ? len : 0;
	r->bad = false;
}

static void rd_fail(struct ipc_rd *r)
{
	r->bad = true;
	r->left = 0;
}

/* Every read goes through here: n bytes or nothing. */
const void *ipc_rd_bytes(struct ipc_rd *r, size_t n)
{
	const uint8_t *p;

	if (r->bad || n > r->left) {
		rd_fail(r);
		return NULL;
	}
	p = r->p;
	r->p += n;
	r->left -= n;
	return p;
}

uint8_t ipc_rd_u8(struct ipc_rd *r)
{
	const uint8_t *p = ipc_rd_bytes(r, 1);

	return p ? p[0] : 0;
}

uint32_t ipc_rd_u32(struct ipc_rd *r)
{
	const uint8_t *p = ipc_rd_bytes(r, 4);

	if (!p)
		return 0;
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint64_t ipc_rd_u64(struct ipc_rd *r)
{
	const uint8_t *p = ipc_rd_bytes(r, 8);
	uint64_t v = 0;

	if (!p)
		return 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

const char *ipc_rd_str(struct ipc_rd *r, size_t max, size_t *len)
{
	uint32_t n = ipc_rd_u32(r);
	const uint8_t *p;

	if (len)
		*len = 0;
	if (r->bad)
		return NULL;
	if (n > max) {
		rd_fail(r);
		return NULL;
	}
	p = ipc_rd_bytes(r, n);
	if (!p)
		return NULL;
	if (len)
		*len = n;
	return (const char *)p;
}

/* A string headed for C code: an embedded NUL would let the wire and the C view disagree (also
 * ipc_rd_strdup's, in ipc_workers.c). */
const char *ipc_rd_text(struct ipc_rd *r, size_t max, size_t *len)
{
	const char *s = ipc_rd_str(r, max, len);

	if (s && memchr(s, '\0', *len)) {
		rd_fail(r);
		*len = 0;
		return NULL;
	}
	return s;
}

char *ipc_rd_cstr(struct ipc_rd *r, char *dst, size_t dstsz)
{
	const char *s;
	size_t n;

	if (dstsz == 0) {
		rd_fail(r);
		return NULL;
	}
	dst[0] = '\0';
	s = ipc_rd_text(r, dstsz - 1, &n);
	if (!s)
		return NULL;
	memcpy(dst, s, n);
	dst[n] = '\0';
	return dst;
}

bool ipc_rd_done(const struct ipc_rd *r)
{
	return !r->bad && r->left == 0;
}

/* ---- writer ----------------------------------------------------------------------------------- */

void ipc_wr_init(struct ipc_wr *w, void *buf, size_t cap)
{
	w->p = buf;
	w->cap = buf ? cap : 0;
	w->len = 0;
	w->bad = false;
}

void ipc_wr_bytes(struct ipc_wr *w, const void *p, size_t n)
{
	if (w->bad || n > w->cap - w->len) {
		w->bad = true;
		return;
	}
	if (n)
		memcpy(w->p + w->len, p, n);
	w->len += n;
}

void ipc_wr_u8(struct ipc_wr *w, uint8_t v)
{
	ipc_wr_bytes(w, &v, 1);
}

void ipc_wr_u32(struct ipc_wr *w, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };

	ipc_wr_bytes(w, b, sizeof b);
}

void ipc_wr_u64(struct ipc_wr *w, uint64_t v)
{
	uint8_t b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	ipc_wr_bytes(w, b, sizeof b);
}

void ipc_wr_str(struct ipc_wr *w, const char *s, size_t n)
{
	/* All or nothing: a length whose bytes did not fit would leave a lying prefix. */
	if (w->bad || n > UINT32_MAX || n > w->cap - w->len || 4 > w->cap - w->len - n) {
		w->bad = true;
		return;
	}
	ipc_wr_u32(w, (uint32_t)n);
	ipc_wr_bytes(w, s, n);
}

void ipc_wr_cstr(struct ipc_wr *w, const char *s)
{
	if (!s)
		s = "";
	ipc_wr_str(w, s, strlen(s));
}

int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

