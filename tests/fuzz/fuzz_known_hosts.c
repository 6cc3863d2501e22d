/* fuzz_known_hosts.c — the fetcher's known_hosts parser (fetcher/ssh.c) on arbitrary bytes. Every
 * entry kept must be whole (a key blob that starts with its own type name, patterns or a hashed
 * name), and every entry's own key must pass or fail a check for a few host names without going
 * out of bounds; a revoked key never passes. Any violation aborts. */
#include "tests/fuzz/fuzz.h"
#include "fetcher/fetcher.h"
#include "ipc/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void check(bool cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const hosts[] = { "127.0.0.1", "[::1]", "Store.Example", "a" };
	static const long ports[] = { 22, 2222 };
	struct known_hosts k;
	char why[1024];

	log_init("fuzz", LOG_CRIT);     /* bad lines are warnings: keep the output quiet */
	if (known_hosts_parse(&k, (const char *)data, size, "fuzz") == -ENOMEM) {
		known_hosts_free(&k);
		return 0;
	}
	for (size_t i = 0; i < k.n; i++) {
		const struct kh_entry *e = &k.e[i];
		size_t tl = strlen(e->type);

		check(e->key && e->key_len >= 4 + tl && memcmp(e->key + 4, e->type, tl) == 0);
		check(e->hashed ? e->patterns == NULL && e->salt_len > 0 : e->patterns != NULL);
		for (size_t h = 0; h < sizeof hosts / sizeof *hosts; h++)
			for (size_t p = 0; p < 2; p++) {
				int rc = known_hosts_check(&k, hosts[h], ports[p], e->key, e->key_len,
							   why, sizeof why);

				check(rc == 0 || (rc == -EPERM && why[0]));
				check(!(rc == 0 && e->revoked && k.n == 1));
			}
	}
	known_hosts_free(&k);
	return 0;
}
