/* fuzz_confwire.c — the configuration as aysfs-config sends it to the supervisor (root decodes it):
 * any payload is either refused, with nothing left allocated, or decodes to a configuration that
 * re-encodes to the same bytes. */
#include "supervisor/confwire.h"
#include "tests/fuzz/fuzz.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t again[IPC_MAX_PAYLOAD];
	struct config c;
	struct ipc_wr w;

	if (size > IPC_MAX_PAYLOAD || config_decode(data, size, &c))
		return 0;
	ipc_wr_init(&w, again, sizeof again);
	config_encode(&w, &c);
	if (w.bad || w.len != size || memcmp(again, data, size))
		abort();
	config_free(&c);
	return 0;
}
