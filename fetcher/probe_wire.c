/* probe_wire.c — MSG_PROBE and MSG_PROBE_DONE on the wire (see probe_wire.h); linked by the
 * fetcher and the indexer, not by the privileged core. */
#include "fetcher/probe_wire.h"

#include <errno.h>
#include <string.h>

void probe_req_encode(struct ipc_wr *w, const struct probe_req *r)
{
	if (r->n == 0 || r->n > PROBE_MAX_HOSTS || r->deadline_ms == 0 ||
	    r->deadline_ms > PROBE_DEADLINE_MAX_MS) {
		w->bad = true;
		return;
	}
	ipc_wr_u32(w, r->deadline_ms);
	ipc_wr_u32(w, r->n);
	for (uint32_t i = 0; i < r->n; i++) {
		ipc_wr_cstr(w, r->host[i]);
		ipc_wr_u32(w, r->port[i]);
	}
}

void probe_done_encode(struct ipc_wr *w, const struct probe_done *d)
{
	if (d->n == 0 || d->n > PROBE_MAX_HOSTS) {
		w->bad = true;
		return;
	}
	ipc_wr_u32(w, d->n);
	for (uint32_t i = 0; i < d->n; i++) {
		ipc_wr_u32(w, d->status[i]);
		ipc_wr_cstr(w, d->detail[i]);
	}
}

int probe_req_decode(const void *buf, size_t len, struct probe_req *r)
{
	struct ipc_rd rd;

	ipc_rd_init(&rd, buf, len);
	r->deadline_ms = ipc_rd_u32(&rd);
	r->n = ipc_rd_u32(&rd);
	if (rd.bad || r->deadline_ms == 0 || r->deadline_ms > PROBE_DEADLINE_MAX_MS || r->n == 0 ||
	    r->n > PROBE_MAX_HOSTS)
		return -EPROTO;
	for (uint32_t i = 0; i < r->n; i++) {
		uint32_t port;

		if (!ipc_rd_cstr(&rd, r->host[i], sizeof r->host[i]) || r->host[i][0] == '\0')
			return -EPROTO;
		port = ipc_rd_u32(&rd);
		if (port == 0 || port > 65535)
			return -EPROTO;
		r->port[i] = (uint16_t)port;
	}
	return ipc_rd_done(&rd) ? 0 : -EPROTO;
}

int probe_done_decode(const void *buf, size_t len, struct probe_done *d)
{
	struct ipc_rd rd;

	ipc_rd_init(&rd, buf, len);
	d->n = ipc_rd_u32(&rd);
	if (rd.bad || d->n == 0 || d->n > PROBE_MAX_HOSTS)
		return -EPROTO;
	for (uint32_t i = 0; i < d->n; i++) {
		d->status[i] = ipc_rd_u32(&rd);
		if (d->status[i] > 4095 || !ipc_rd_cstr(&rd, d->detail[i], sizeof d->detail[i]))
			return -EPROTO;
	}
	return ipc_rd_done(&rd) ? 0 : -EPROTO;
}
