/* outbox.h — what the fuser tells the indexer, in order, never lost to a full channel (outbox.c).
 */
#ifndef AYSFS_FUSER_OUTBOX_H
#define AYSFS_FUSER_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#define OUTBOX_RETRY_MS 10    /* after a send that found the kernel short of memory */

/* A message the channel had no room for yet. */
struct out_msg {
	struct out_msg *prev, *next;
	struct out_msg **owner;         /* cleared when it goes out or is dropped (NULL: none) */
	uint16_t type;
	uint64_t id;
	uint32_t len;
	uint8_t payload[];
};

struct outbox {
	struct out_msg *head, *tail;    /* oldest first */
	unsigned n;
};

/* Send a message on fd (non-blocking) now, or queue it behind those that wait. Queued, *owner (when
 * owner is not NULL) points at it until it goes out, so that outbox_cancel may take it back.
 * Returns 0 (sent or queued), or -errno: the channel's error, -ENOMEM. */
int outbox_send(struct outbox *o, int fd, uint16_t type, uint64_t id, const void *payload,
		size_t len, struct out_msg **owner);
/* Unlink and free a queued message, its owner's pointer cleared: one taken back before it was
 * sent, or one sent or dropped. */
void outbox_cancel(struct outbox *o, struct out_msg *m);
/* Send what waits, oldest first, until the channel is full again. Returns 0 when nothing waits,
 * -EAGAIN when the channel has no room (poll it for POLLOUT), -ENOBUFS or -ENOMEM when the kernel
 * had no memory for the next one (try again a little later: OUTBOX_RETRY_MS). */
int outbox_flush(struct outbox *o, int fd);
/* Forget every message (the channel is gone: its successor is told anew). */
void outbox_drop(struct outbox *o);

#endif
