/* fuzz_probe.c — -auto's probe messages (fetcher/probe_wire.h): MSG_PROBE, which the fetcher decodes from
 * the indexer, and MSG_PROBE_DONE, which the indexer decodes from the fetcher. Input: one byte
 * choosing the message (even: MSG_PROBE, odd: MSG_PROBE_DONE), then the payload.
 *
 * Beyond "no crash": a payload that decodes re-encodes to the same bytes, and is accepted by the
 * receiver's accept table (so the table never refuses a message the decoder would take). */
#include "fetcher/probe_wire.h"
#include "ipc/proto_workers.h"
#include "tests/fuzz/fuzz.h"
#include "ipc/ipc_workers.h"

#include <stdlib.h>
#include <string.h>

#define check(cond) do { if (!(cond)) abort(); } while (0)

static uint8_t again[IPC_MAX_PAYLOAD], dgram[sizeof(struct ipc_hdr) + IPC_MAX_PAYLOAD];

/* The payload framed as the sender would, through the receiver's table. */
static void check_table(uint16_t type, const uint8_t *p, size_t len, const struct ipc_type *tbl,
			size_t n)
{
	struct ipc_hdr h = { .magic = IPC_MAGIC, .type = type, .len = (uint32_t)len, .id = 1 };
	const struct ipc_type *desc;

	memcpy(dgram, &h, sizeof h);
	memcpy(dgram + sizeof h, p, len);
	check(ipc_check(dgram, sizeof h + len, 0, tbl, n, &desc) == 0 && desc->type == type);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct probe_req r;
	static struct probe_done d;
	struct ipc_wr w;

	if (size < 1 || size - 1 > IPC_MAX_PAYLOAD)
		return 0;
	ipc_wr_init(&w, again, sizeof again);
	if (data[0] % 2 == 0) {
		if (probe_req_decode(data + 1, size - 1, &r))
			return 0;
		for (uint32_t i = 0; i < r.n; i++)
			check(r.host[i][0] && strlen(r.host[i]) <= PROBE_HOST_MAX && r.port[i]);
		probe_req_encode(&w, &r);
		check_table(MSG_PROBE, data + 1, size - 1, proto_fetcher_from_indexer,
			    proto_fetcher_from_indexer_n);
	} else {
		if (probe_done_decode(data + 1, size - 1, &d))
			return 0;
		for (uint32_t i = 0; i < d.n; i++)
			check(strlen(d.detail[i]) <= PROBE_DETAIL_MAX && d.status[i] <= 4095);
		probe_done_encode(&w, &d);
		check_table(MSG_PROBE_DONE, data + 1, size - 1, proto_indexer_from_fetcher,
			    proto_indexer_from_fetcher_n);
	}
	check(!w.bad && w.len == size - 1 && memcmp(again, data + 1, w.len) == 0);
	return 0;
}
