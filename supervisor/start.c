/* start.c — one start for every worker: the mount's first start, each restart and -check alike.
 * Each worker of a batch gets a fresh channel to root (its fd 3) and one to each peer the table
 * below names: a peer started in the same batch gets the other end as one of its fds, a running
 * peer is handed it (MSG_PEER, naming who started); with the peer not running, the other end is
 * closed (the new worker waits for the MSG_PEER of the peer's own start). Then each is sent, in
 * order, what the plan gives it (its configuration). Root keeps no peer end. */
#include "supervisor/supervisor.h"

#include "ipc/log.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Who a MSG_PEER names: the worker that started. */
static const uint32_t peer_code[ROLE_COUNT] = {
	[ROLE_FUSER] = PEER_FUSER, [ROLE_INDEXER] = PEER_INDEXER, [ROLE_FETCHER] = PEER_FETCHER,
	[ROLE_DEBUG] = PEER_DEBUG,
};

/* The channels between workers (ipc/proto.h has their fds): at which of its fds (fd 3 + slot)
 * each end goes when both start together; -1: handed over by MSG_PEER even then. */
static const struct link {
	unsigned a, b;             /* ROLE_* */
	int slot_a, slot_b;
} links[] = {
	{ ROLE_FUSER, ROLE_INDEXER, 1, 1 },
	{ ROLE_INDEXER, ROLE_FETCHER, 2, 1 },
	{ ROLE_FUSER, ROLE_DEBUG, -1, -1 },
};
#define NLINKS (sizeof links / sizeof links[0])

static int pair(int sp[2])
{
	return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) ? -errno : 0;
}

static int hand(struct worker *to, unsigned who, int fd)
{
	uint8_t p[4];
	struct ipc_wr w;

	ipc_wr_init(&w, p, sizeof p);
	ipc_wr_u32(&w, peer_code[who]);
	return worker_send(to, MSG_PEER, 0, p, w.len, &fd, 1);
}

int start_workers(struct worker *ws, unsigned batch, const struct start_plan *plan, int log_level)
{
	int ends[NLINKS][2], rc = 0;

#define NEW(r) (batch & 1u << (r))
#define THERE(r) (NEW(r) || ws[r].ctl >= 0)
#define SLOT(r, slot) (NEW(r) && (slot) >= 0)
	for (size_t i = 0; i < NLINKS; i++) {
		const struct link *l = &links[i];

		ends[i][0] = ends[i][1] = -1;
		if (!rc && (SLOT(l->a, l->slot_a) || SLOT(l->b, l->slot_b) ||
			    ((NEW(l->a) || NEW(l->b)) && THERE(l->a) && THERE(l->b))))
			rc = pair(ends[i]);
	}
	for (unsigned r = 0; r < ROLE_COUNT && !rc; r++) {
		struct worker *w = &ws[r];
		int sp[2];

		if (!NEW(r))
			continue;
		memcpy(w->fds, plan->fds[r], sizeof w->fds);
		for (size_t i = 0; i < NLINKS; i++) {
			if (links[i].a == r && links[i].slot_a >= 0)
				w->fds[links[i].slot_a] = ends[i][0];
			if (links[i].b == r && links[i].slot_b >= 0)
				w->fds[links[i].slot_b] = ends[i][1];
		}
		if ((rc = pair(sp)))
			break;
		if (w->ctl >= 0)
			close(w->ctl);
		w->ctl = sp[0];
		w->fds[0] = sp[1];
		rc = spawn_worker(w, log_level, plan->restarted[r]);
		close(sp[1]);
		for (int k = 0; k < 2 && !rc && plan->msgs[r][k].type; k++)
			rc = worker_send(w, plan->msgs[r][k].type, 0, plan->msgs[r][k].p,
					 plan->msgs[r][k].len, NULL, 0);
		if (rc)
			log_crit("cannot start the %s: %s", w->name, strerror(-rc));
	}
	/* The ends no fd took go to their worker now: a running peer's, or a link without slots. */
	for (size_t i = 0; i < NLINKS; i++) {
		const struct link *l = &links[i];

		if (!rc && ends[i][0] >= 0 && !SLOT(l->a, l->slot_a) && THERE(l->a))
			rc = hand(&ws[l->a], l->b, ends[i][0]);
		if (!rc && ends[i][1] >= 0 && !SLOT(l->b, l->slot_b) && THERE(l->b))
			rc = hand(&ws[l->b], l->a, ends[i][1]);
		for (int k = 0; k < 2; k++)
			if (ends[i][k] >= 0)
				close(ends[i][k]);
	}
#undef NEW
#undef THERE
#undef SLOT
	return rc;
}
