/* msgs.c — the workers' messages to root: each checked against root's rule for its row (who may
 * send it, once only or not; the list is ipc/proto_supervisor.h, its bounds checked by ipc_recv),
 * then handled here or by ctl.c. Nothing here parses text a worker wrote: fixed fields, and
 * strings only passed on (to the log, to the status worker, to systemd). */
#include "supervisor/ctl.h"
#include "supervisor/supervisor.h"

#include "ipc/log.h"
#include "ipc/proto_supervisor.h"

#include <errno.h>
#include <string.h>

/* ---- the workers' messages: the list is ipc/proto_supervisor.h, the handlers are these ----- */

static int sup_on_ready(struct worker *w, const struct ipc_msg *m)
{
	return w->role == ROLE_FUSER ? 1 : 0;
}

static int sup_on_config_changed(struct worker *w, const struct ipc_msg *m)
{
	return 2;
}

/* The tree's numbers, relayed to the status worker unread (their size is the table's). */
static int sup_on_tree_done(struct worker *w, const struct ipc_msg *m)
{
	sctl_tree_done(m->payload);
	notify_reload(false, "serving the new tree");
	return 0;
}

static int sup_on_tree_fail(struct worker *w, const struct ipc_msg *m)
{
	struct ipc_rd r;
	char why[1025];

	ipc_rd_init(&r, m->payload, m->hdr.len);
	if (!ipc_rd_cstr(&r, why, sizeof why) || !ipc_rd_done(&r))
		return -1;
	log_err("the indexer could not build the tree: %s", why);
	sctl_tree_fail(why);
	notify_reload(false, why);
	return 0;
}

/* The kernel's INIT, read once by the fuser that first serves the mount. */
static int sup_on_fuse_init(struct worker *w, const struct ipc_msg *m)
{
	takeover_note_init(m->payload, m->hdr.len);
	return 0;
}

/* Sent by the worker's SIGSYS handler as it dies; only ever used in the log line. */
static int sup_on_syscall(struct worker *w, const struct ipc_msg *m)
{
	struct ipc_rd r;

	ipc_rd_init(&r, m->payload, m->hdr.len);
	w->refused_arch = ipc_rd_u32(&r);
	w->refused_nr = (int)ipc_rd_u32(&r);
	if (!ipc_rd_done(&r) || w->refused_nr < 0)
		return -1;
	w->refused_known = true;
	return 0;
}

/* Root's rule for each row of the accept table: both are made of ipc/proto_supervisor.h's list. */
struct sup_rule {
	uint8_t from;           /* FROM_* bits: the senders it is accepted from */
	bool once;              /* at most once from each start of its sender */
	int (*handle)(struct worker *w, const struct ipc_msg *m);
};
#define RULE(type, fds, min, max, name, from, once, handler) { from, once, handler },
static const struct sup_rule rules[] = { PROTO_SUPERVISOR_FROM_WORKER(RULE) };
_Static_assert(FROM_FUSER == 1 << ROLE_FUSER && FROM_INDEXER == 1 << ROLE_INDEXER &&
	       FROM_FETCHER == 1 << ROLE_FETCHER && FROM_STATUS == 1 << ROLE_STATUS &&
	       FROM_DEBUG == 1 << ROLE_DEBUG, "FROM_* bits are the ROLE_* order");

/* A message from worker w, checked against its row of the table (bounds and fds by ipc_recv; the
 * sender and the once-only rule here), then handled. Returns what the handler does (1: the fuser
 * is ready, 2: the configuration file changed, 0), 0 when nothing is waiting, -1 for a hostile
 * message or a closed channel. */
int msgs_on_worker(struct worker *w)
{
	static struct ipc_msg m;
	const struct ipc_type *d;
	uint32_t row;
	int rc = ipc_recv(w->ctl, proto_supervisor_from_worker, proto_supervisor_from_worker_n, &m);

	if (rc == -EAGAIN)
		return 0;
	if (rc <= 0) {
		if (rc < 0)
			log_err("%s sent a malformed message: %s", w->name, strerror(-rc));
		return -1;
	}
	d = m.desc;
	row = (uint32_t)(d - proto_supervisor_from_worker);
	if (!(rules[row].from & (1u << w->role))) {
		log_err("%s sent %s, which only others may send: killed", w->name, d->name);
		return -1;
	}
	if (rules[row].once && (w->said & (1u << row))) {
		log_err("%s sent %s a second time: killed", w->name, d->name);
		return -1;
	}
	w->said |= 1u << row;
	return rules[row].handle(w, &m);
}
