/* ipc.h — framed messages between the four processes.
 *
 * Every channel is a SOCK_SEQPACKET socketpair: one datagram is one message, so framing is the
 * kernel's and a message is read whole or rejected. A message is a fixed header followed by
 * exactly `len` bytes of payload; fds travel with SCM_RIGHTS and only for message types whose
 * description says they carry that many. The receiver names the types it accepts on a channel
 * (in its current state); anything else is a protocol error and the caller treats the peer as
 * hostile: it stops reading the channel and, in the supervisor, kills the process.
 *
 * Payloads are read with the bounded reader (ipc_rd_*) and written with the writer (ipc_wr_*):
 * integers little-endian, strings as u32 length + bytes (no NUL on the wire).
 */
#ifndef AYSFS_IPC_H
#define AYSFS_IPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IPC_MAGIC       0x41594653u      /* "AYFS" */
#define IPC_MAX_PAYLOAD (64 * 1024)
#define IPC_MAX_FDS     2

struct ipc_hdr {
	uint32_t magic;
	uint16_t type;
	uint16_t nfds;      /* fds the sender attached; must equal the type's fd count */
	uint32_t len;       /* payload bytes that follow the header */
	uint32_t pad;       /* zero */
	uint64_t id;        /* request id chosen by the requester, echoed in the reply */
};                          /* 24 bytes, host byte order (both ends are one machine) */

/* What a receiver accepts: one row per message type. */
struct ipc_type {
	uint16_t type;
	uint8_t nfds;       /* exactly this many fds */
	uint32_t min_len;   /* payload bounds, inclusive */
	uint32_t max_len;
	const char *name;   /* for log messages */
};

struct ipc_msg {
	struct ipc_hdr hdr;
	const struct ipc_type *desc;   /* the accepted row that matched */
	int fds[IPC_MAX_FDS];          /* hdr.nfds valid entries, owned by the caller; the rest -1 */
	uint8_t payload[IPC_MAX_PAYLOAD];
};

/* The one clock of every process: monotonic milliseconds (deadlines, back-offs, idle times). */
int64_t mono_ms(void);

/* Send one message. Returns 0, or -errno (-EMSGSIZE when len > IPC_MAX_PAYLOAD or nfds >
 * IPC_MAX_FDS). Retries on EINTR; a full non-blocking socket gives -EAGAIN. */
int ipc_send(int sock, uint16_t type, uint64_t id, const void *payload, size_t len,
	     const int *fds, unsigned nfds);

/* Receive one message into *m and check it against `accept` (n rows).
 * Returns 1 on a valid message, 0 on orderly end of file (peer closed), -EAGAIN when a
 * non-blocking socket has nothing, or -EPROTO on any violation: short or oversized datagram,
 * MSG_TRUNC or MSG_CTRUNC, bad magic or pad, payload length not equal to hdr.len or outside the
 * type's bounds, an unknown type, an fd count different from the type's, or fds that are not
 * SCM_RIGHTS. On -EPROTO and on a valid message with extra fds, every fd not handed to the
 * caller is closed. Other errors: -errno of recvmsg. Received fds have O_CLOEXEC set. */
int ipc_recv(int sock, const struct ipc_type *accept, size_t n, struct ipc_msg *m);

/* Close every fd of a received message that the caller did not take (fds set to -1 are skipped). */
void ipc_msg_close_fds(struct ipc_msg *m);

/* ---- bounded reader: every read checks what is left; after the first failure `bad` stays set
 * and every further read returns zeroes/NULL. ---------------------------------------------- */
struct ipc_rd {
	const uint8_t *p;
	size_t left;
	bool bad;
};

void ipc_rd_init(struct ipc_rd *r, const void *buf, size_t len);
uint8_t ipc_rd_u8(struct ipc_rd *r);
uint32_t ipc_rd_u32(struct ipc_rd *r);
uint64_t ipc_rd_u64(struct ipc_rd *r);
const void *ipc_rd_bytes(struct ipc_rd *r, size_t n);
/* A u32 length then that many bytes; fails when the length exceeds `max` or what is left.
 * Returns a pointer into the buffer (not NUL-terminated) and stores the length in *len. */
const char *ipc_rd_str(struct ipc_rd *r, size_t max, size_t *len);
/* As ipc_rd_str, but copies into dst (size dstsz, NUL-terminated) and fails on an embedded NUL
 * or when the string does not fit. Returns dst, or NULL. */
char *ipc_rd_cstr(struct ipc_rd *r, char *dst, size_t dstsz);
/* True when nothing failed and every byte was consumed: the exact-length rule. */
bool ipc_rd_done(const struct ipc_rd *r);

/* ---- writer into a fixed buffer; overflow sets `bad` ---------------------------------------- */
struct ipc_wr {
	uint8_t *p;
	size_t cap;
	size_t len;
	bool bad;
};

void ipc_wr_init(struct ipc_wr *w, void *buf, size_t cap);
void ipc_wr_u8(struct ipc_wr *w, uint8_t v);
void ipc_wr_u32(struct ipc_wr *w, uint32_t v);
void ipc_wr_u64(struct ipc_wr *w, uint64_t v);
void ipc_wr_bytes(struct ipc_wr *w, const void *p, size_t n);
void ipc_wr_str(struct ipc_wr *w, const char *s, size_t n);
void ipc_wr_cstr(struct ipc_wr *w, const char *s);   /* NULL is written as the empty string */

#endif
