/* test_fuser_outbox.c — what the fuser tells the indexer (fuser/outbox.c): nothing lost to a full
 * channel, nothing out of order, a message taken back never sent. */
#include "fuser/outbox.h"
#include "ipc/ipc.h"
#include "tests/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

static struct ipc_msg m;
static const struct ipc_type tbl[] = { { 7, 0, 8, 8, "test" } };

/* Read every message waiting on fd; true when their ids are first, first + 1, ... without a gap
 * or a stranger (skip: an id that must not come). *n counts them. */
static bool read_in_order(int fd, uint64_t *next, uint64_t skip, unsigned *n)
{
	int rc;

	while ((rc = ipc_recv(fd, tbl, 1, &m)) == 1) {
		if (*next == skip)
			++*next;
		if (m.hdr.id != *next || m.hdr.len != 8 || *(uint64_t *)m.payload != *next)
			return false;
		++*next;
		++*n;
	}
	return rc == -EAGAIN;
}

int main(void)
{
	struct outbox o = { 0 };
	struct out_msg *held = NULL, *gone = NULL;
	uint64_t id, next = 1, last;
	unsigned n = 0;
	int sv[2], rc;
	bool all_ok = true;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) {
		ok(0, "socketpair");
		return done_testing();
	}
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);

	for (id = 1; o.n == 0 && id < 100000; id++)
		all_ok &= outbox_send(&o, sv[0], 7, id, &id, sizeof id, NULL) == 0;
	ok(all_ok && o.n == 1, "a full channel queues the message it has no room for (after %llu)",
	   (unsigned long long)id - 2);
	all_ok = read_in_order(sv[1], &next, 0, &n) && n == id - 2;
	for (last = id + 1000; id < last; id++)
		all_ok &= outbox_send(&o, sv[0], 7, id, &id, sizeof id, id == last - 10 ? &held : NULL) == 0;
	ok(all_ok && o.n == 1001 && held && held->id == last - 10,
	   "what comes after waits behind it, even once the channel has room again");
	outbox_cancel(&o, held);
	ok(held == NULL && o.n == 1000, "a message taken back leaves the queue, its owner told");

	rc = outbox_flush(&o, sv[0]);
	ok(rc == -EAGAIN && o.n > 0 && o.n < 1000,
	   "a flush sends what the channel takes, then says it is full (%u wait)", o.n);
	all_ok = true;
	while (o.n && all_ok) {
		all_ok = read_in_order(sv[1], &next, last - 10, &n);
		outbox_flush(&o, sv[0]);
	}
	all_ok = all_ok && read_in_order(sv[1], &next, last - 10, &n);
	ok(all_ok && o.n == 0 && next == last, "read, everything comes in order (%u messages)", n);
	ok(n == last - 2, "every message but the one taken back came");
	ok(!outbox_flush(&o, sv[0]), "nothing waits once flushed");

	for (id = 1; o.n < 3 && id < 100000; id++)
		outbox_send(&o, sv[0], 7, id, &id, sizeof id, o.n == 1 ? &gone : NULL);
	ok(gone && o.n == 3, "queued again behind a full channel");
	outbox_drop(&o);
	ok(o.n == 0 && !o.head && !o.tail && gone == NULL, "dropped: nothing waits, owners told");
	close(sv[1]);
	rc = outbox_send(&o, sv[0], 7, 1, &id, sizeof id, NULL);
	ok(rc == -EPIPE || rc == -ECONNRESET, "a channel whose peer is gone says so (%d), nothing queued",
	   rc);
	ok(o.n == 0, "and the queue stays empty");
	close(sv[0]);
	return done_testing();
}
