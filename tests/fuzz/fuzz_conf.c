/* fuzz_conf.c — the worker configuration message (MSG_CONF), which every worker decodes from the
 * supervisor: any payload is either refused or decodes to bounded strings that re-encode to the
 * same bytes. */
#include "ipc/proto_workers.h"
#include "tests/fuzz/fuzz.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t again[IPC_MAX_PAYLOAD];
	struct worker_conf c;
	struct ipc_wr w;

	if (size > IPC_MAX_PAYLOAD || proto_conf_decode(data, size, &c))
		return 0;
	ipc_wr_init(&w, again, sizeof again);
	proto_conf_encode(&w, &c);
	if (w.bad || w.len != size || memcmp(again, data, size))
		abort();
	proto_conf_free(&c);
	return 0;
}
