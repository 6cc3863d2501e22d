/* probe_wire.h — the -auto host probes: the indexer asks the fetcher which of a list of host names
 * resolve and accept a TCP connection on a port (MSG_PROBE), and the fetcher answers with one
 * result per host, in the same order (MSG_PROBE_DONE, same id).
 *
 * MSG_PROBE payload:       u32 deadline_ms (1 … PROBE_DEADLINE_MAX_MS), u32 n (1 … PROBE_MAX_HOSTS),
 *                          n × { str host (a name or an IP literal, ≤ PROBE_HOST_MAX), u32 port (1 … 65535) }
 * MSG_PROBE_DONE payload:  u32 n (as asked), n × { u32 status (0: answered, else a positive errno),
 *                          str detail (≤ PROBE_DETAIL_MAX: the address that answered, or why not) }
 *
 * Both sides decode with these functions (the fuzz harness tests/fuzz/fuzz_probe.c too).
 */
#ifndef AYSFS_PROBE_WIRE_H
#define AYSFS_PROBE_WIRE_H

#include "ipc/ipc.h"

#include <stdint.h>

#define PROBE_MAX_HOSTS       32
#define PROBE_HOST_MAX        253
#define PROBE_DETAIL_MAX      255
#define PROBE_DEADLINE_MAX_MS 10000

struct probe_req {
	uint32_t deadline_ms;
	uint32_t n;
	char host[PROBE_MAX_HOSTS][PROBE_HOST_MAX + 1];
	uint16_t port[PROBE_MAX_HOSTS];
};

struct probe_done {
	uint32_t n;
	uint32_t status[PROBE_MAX_HOSTS];
	char detail[PROBE_MAX_HOSTS][PROBE_DETAIL_MAX + 1];
};

/* Encode into w (w->bad set when it does not fit or a field is out of range). */
void probe_req_encode(struct ipc_wr *w, const struct probe_req *r);
void probe_done_encode(struct ipc_wr *w, const struct probe_done *d);
/* Decode a payload; exact length, every field in range, host names non-empty without NUL.
 * Returns 0 or -EPROTO. */
int probe_req_decode(const void *buf, size_t len, struct probe_req *r);
int probe_done_decode(const void *buf, size_t len, struct probe_done *d);

#endif
