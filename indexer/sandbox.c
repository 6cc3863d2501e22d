/* sandbox.c — the indexer's Landlock rules: the folders its configuration names, nothing else.
 *
 * Read and write: cache_dir and every local-folder [[cache]] (blobs, flist copies, purge,
 * write-back, eviction). Read only: every local-folder [[store]], flist_dir and each flist file
 * named by an [[ays]]. A reload that names a folder or flist file outside these fails with
 * EACCES (and keeps the tree being served): new paths take a restart, like new layers.
 */
#include "indexer/hash.h"
#include "indexer/indexer.h"

#include "ipc/log.h"
#include "policy/landlock.h"

#include <stdlib.h>
#include <string.h>

void indexer_landlock(const struct worker_conf *c)
{
	struct landlock_path *p = calloc(3 + c->nlayers + c->nservices, sizeof *p);
	struct hasher h;
	size_t n = 0;
	int rc;

	if (!p)
		die(70, "out of memory");
	p[n++] = (struct landlock_path){ c->cache_dir, LL_WRITE };
	if (c->flist_dir && c->flist_dir[0])
		p[n++] = (struct landlock_path){ c->flist_dir, LL_READ };
	for (uint32_t i = 0; i < c->nlayers; i++) {
		const char *dir = layer_local_path(c->layers[i].url);

		if (dir)
			p[n++] = (struct landlock_path){ dir, c->layers[i].flags & WL_CACHE ? LL_WRITE : LL_READ };
	}
	for (uint32_t i = 0; i < c->nservices; i++)
		if (c->services[i].flist && c->services[i].flist[0])
			p[n++] = (struct landlock_path){ c->services[i].flist, LL_READ };
	/* OpenSSL reads its configuration file on first use: use it now, while it can. */
	if (hasher_init(&h, 16) == 0)
		hasher_abort(&h);
	if (hasher_init(&h, 32) == 0)
		hasher_abort(&h);
	rc = landlock_restrict(p, n);
	free(p);
	if (rc < 0)
		die(70, "cannot restrict file access with Landlock: %s", strerror(-rc));
	if (rc > 0)
		log_debug("Landlock (ABI %d): file access limited to the configured folders", rc);
}
