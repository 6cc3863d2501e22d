/* fuzz_config.c — the configuration file, as the privileged supervisor reads it: any bytes must
 * either load or be refused with a FILE:LINE:COLUMN message, leave nothing behind (ASan checks
 * leaks) and never break the invariants the rest of the supervisor relies on. */
#include "tests/fuzz/fuzz.h"
#include "config/config.h"

#include <stdlib.h>
#include <string.h>

static void on_warn(void *ctx, const char *msg)
{
	/* A warning names the file and a line, like every message. */
	if (strncmp(msg, "f.toml:", 7) != 0)
		abort();
	++*(size_t *)ctx;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct config zero;
	struct config c;
	size_t warnings = 0;
	char err[256];
	int rc = config_parse("f.toml", (const char *)data, size, &c, on_warn, &warnings, err,
			      sizeof err);

	if (rc) {
		if (strncmp(err, "f.toml:", 7) != 0 || memcmp(&c, &zero, sizeof c) != 0)
			abort();
		return 0;
	}
	if (!c.file || !c.namespace || !c.cache_dir || !c.flist_dir || !c.user ||
	    strchr(c.namespace, '/') || c.cache_dir[0] != '/' || c.flist_dir[0] != '/' ||
	    c.entry_ttl < 0 || c.attr_ttl < 0 || c.negative_ttl < 0 || c.cache_expiration < 0 ||
	    c.rediscover < 0)
		abort();
	for (size_t i = 0; i < c.nlayers; i++) {
		/* Caches come before stores, and every layer has a URL. */
		if (!c.layers[i].url || (i && c.layers[i].is_cache && !c.layers[i - 1].is_cache))
			abort();
		if (!c.layers[i].is_cache && (c.layers[i].purge || c.layers[i].push))
			abort();
	}
	for (size_t i = 0; i < c.nays; i++)
		if (!c.ays[i].id || strchr(c.ays[i].id, '/'))
			abort();
	config_free(&c);
	if (memcmp(&c, &zero, sizeof c) != 0)
		abort();
	return 0;
}
