/* fuzz_fetch.c — the fetcher's reading of the indexer's requests (fetcher/request.c): MSG_FETCH and
 * MSG_PUSH, each with the fd it carries. Input: one byte choosing the message (bit 0: MSG_PUSH),
 * one choosing its fd (0: a non-blocking pipe's write end, 1: a memfd holding a byte, 2: a
 * read-only one; modulo 3),
 * then the payload. Only what the fetcher's accept table lets through reaches request_take, as in
 * the fetcher.
 *
 * Beyond "no crash": a request taken has 1 … FETCH_MAX_URLS URLs, each non-empty, NUL-free and
 * bounded; read-ahead exactly when the kind byte says so; a flist's validators (which become
 * request headers) bounded and printable ASCII, none for other kinds; a fetch only with a pipe,
 * a push only with an fd of its size. A refused fetch is answered (MSG_FETCH_DONE on the channel,
 * drained here), a malformed one is not. */
#include "fetcher/fetcher.h"
#include "ipc/log.h"
#include "ipc/proto_workers.h"
#include "tests/fuzz/fuzz.h"
#include "ipc/ipc_workers.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define check(cond) do { if (!(cond)) abort(); } while (0)

static uint8_t dgram[sizeof(struct ipc_hdr) + IPC_MAX_PAYLOAD], sink[sizeof dgram];
static int peer = -1;           /* the indexer's end of FD_PEER1 */

static void setup(void)
{
	int sv[2];

	check(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
	/* Out of the way of FD_PEER1 first: socketpair may have handed out fd 4 itself. */
	peer = fcntl(sv[1], F_DUPFD_CLOEXEC, FD_PEER1 + 1);
	check(peer > FD_PEER1 && dup2(sv[0], FD_PEER1) == FD_PEER1);
	if (sv[0] != FD_PEER1)
		close(sv[0]);
	if (sv[1] != FD_PEER1)
		close(sv[1]);
	check(fcntl(peer, F_SETFL, O_NONBLOCK) == 0);
	log_init("fuzz", LOG_CRIT);
}

/* How many answers the fetcher sent since the last call. */
static int answers(void)
{
	int n = 0;

	while (recv(peer, sink, sizeof sink, 0) > 0)
		n++;
	return n;
}

static int make_fd(unsigned kind, uint64_t *size)
{
	int fd, p[2];

	*size = 0;
	if (kind == 0) {
		check(pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0);
		close(p[0]);
		return p[1];
	}
	fd = memfd_create("fuzz", MFD_CLOEXEC);
	check(fd >= 0);
	if (kind == 1) {
		check(write(fd, "x", 1) == 1);
		*size = 1;
	} else if (kind == 2) {
		char path[64];
		int ro;

		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
		ro = open(path, O_RDONLY | O_CLOEXEC);
		check(ro >= 0);
		close(fd);
		fd = ro;
	}
	return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ipc_hdr h = { .magic = IPC_MAGIC, .nfds = 1, .id = 7 };
	const struct ipc_type *desc;
	struct ipc_msg *m;
	struct fetch_req q;
	uint64_t fd_size;
	int rc, fd;

	if (size < 2 || size - 2 > IPC_MAX_PAYLOAD)
		return 0;
	if (peer < 0)
		setup();
	h.type = data[0] & 1 ? MSG_PUSH : MSG_FETCH;
	h.len = (uint32_t)(size - 2);
	memcpy(dgram, &h, sizeof h);
	memcpy(dgram + sizeof h, data + 2, size - 2);
	if (ipc_check(dgram, sizeof h + h.len, 1, proto_fetcher_from_indexer,
		      proto_fetcher_from_indexer_n, &desc))
		return 0;
	m = malloc(sizeof *m);
	check(m);
	fd = make_fd(data[1] % 3, &fd_size);
	memcpy(&m->hdr, &h, sizeof h);
	memcpy(m->payload, data + 2, size - 2);
	m->fds[0] = fd;
	m->desc = desc;
	rc = request_take(m, &q);
	if (rc == 0) {
		check(q.n >= 1 && q.n <= FETCH_MAX_URLS && q.fd == fd);
		for (uint32_t i = 0; i < q.n; i++)
			check(q.url[i][0] && strlen(q.url[i]) <= WCONF_MAX_STR);
		if (q.push) {
			check(q.max_size == fd_size && !q.ahead);
		} else {
			check(data[1] % 3 == 0 && q.ahead == (data[2] == FETCH_BLOB_AHEAD));
			check(data[2] == FETCH_BLOB || data[2] == FETCH_FLIST || q.ahead);
			check(q.flist == (data[2] == FETCH_FLIST));
			check(strlen(q.etag) <= FETCH_ETAG_MAX && strlen(q.last_modified) <= FETCH_DATE_MAX);
			check(q.flist || (!q.etag[0] && !q.last_modified[0]));
			for (const char *c = q.etag; *c; c++)
				check(*c >= 0x20 && *c <= 0x7e);
			for (const char *c = q.last_modified; *c; c++)
				check(*c >= 0x20 && *c <= 0x7e);
		}
		request_free(&q);
		check(answers() == 0);
	} else {
		/* Malformed: the fd is closed, nothing answered. Refused: a fetch is answered. */
		check(rc == 1 || rc == -EPROTO);
		check(answers() == (rc == 1 && h.type == MSG_FETCH));
	}
	free(m);
	return 0;
}
