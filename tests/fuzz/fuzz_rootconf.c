/* fuzz_rootconf.c — root's part of the configuration as aysfs-config sends it (root decodes it,
 * supervisor/rootconf.c): any payload is refused or gives bounded, NUL-terminated strings and
 * absolute folders. */
#include "supervisor/supervisor.h"
#include "tests/fuzz/fuzz.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct rootconf c;

	if (size > IPC_MAX_PAYLOAD || rootconf_decode(data, size, &c))
		return 0;
	if (c.cache_dir[0] != '/' || c.state_dir[0] != '/' ||
	    !memchr(c.user, 0, sizeof c.user) || !memchr(c.ssh_key, 0, sizeof c.ssh_key))
		abort();
	return 0;
}
