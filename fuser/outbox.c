/* outbox.c — what the fuser tells the indexer, in order, never lost to a full channel.
 *
 * The fuser's channel to the indexer is non-blocking: a request handler must never wait on a
 * worker. A socketpair holds a few hundred small messages unread; an indexer that is busy or
 * stopped for a moment must not make the fuser drop what it says. A lost MSG_BLOB_CLOSED is a pin
 * the indexer keeps forever (a blob the cache never evicts), a lost MSG_OPEN an open that fails.
 * So what the channel has no room for waits here, in order, and goes out as soon as the main
 * thread sees the channel writable (main.c). Nothing bounds the queue but what the fuser can owe:
 * one MSG_OPEN or MSG_PREFETCH per pending blob, one MSG_OPENED per fd that came ahead of its
 * open, and one pin message per blob, since a HELD and a CLOSED of the same blob that both wait
 * cancel out (blobs.c).
 */
#include "fuser/outbox.h"

#include "ipc/ipc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void outbox_cancel(struct outbox *o, struct out_msg *m)
{
	*(m->prev ? &m->prev->next : &o->head) = m->next;
	*(m->next ? &m->next->prev : &o->tail) = m->prev;
	if (m->owner)
		*m->owner = NULL;
	o->n--;
	free(m);
}

/* No room now, but the channel is alive: the message waits (-ENOBUFS, -ENOMEM: the kernel is
 * short of memory for it, an -EAGAIN of another kind). */
static bool transient(int rc)
{
	return rc == -EAGAIN || rc == -ENOBUFS || rc == -ENOMEM;
}

int outbox_send(struct outbox *o, int fd, uint16_t type, uint64_t id, const void *payload,
		size_t len, struct out_msg **owner)
{
	struct out_msg *m;

	if (len > IPC_MAX_PAYLOAD)
		return -EMSGSIZE;
	if (len && !payload)
		return -EINVAL;
	if (!o->head) {
		int rc = ipc_send(fd, type, id, payload, len, NULL, 0);

		if (!transient(rc))
			return rc;
	}
	if (!(m = malloc(sizeof *m + len)))
		return -ENOMEM;
	m->type = type;
	m->id = id;
	m->len = (uint32_t)len;
	if (len)
		memcpy(m->payload, payload, len);
	m->owner = owner;
	if (owner)
		*owner = m;
	m->next = NULL;
	m->prev = o->tail;
	*(o->tail ? &o->tail->next : &o->head) = m;
	o->tail = m;
	o->n++;
	return 0;
}

int outbox_flush(struct outbox *o, int fd)
{
	while (o->head) {
		struct out_msg *m = o->head;
		int rc = ipc_send(fd, m->type, m->id, m->payload, m->len, NULL, 0);

		/* Any other error is the indexer's end: what waits was for it alone (main.c asks its
		 * successor anew). */
		if (transient(rc))
			return rc;
		outbox_cancel(o, m);
	}
	return 0;
}

void outbox_drop(struct outbox *o)
{
	while (o->head)
		outbox_cancel(o, o->head);
}
