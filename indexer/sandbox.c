/* sandbox.c — the indexer's Landlock rules: the folders its configuration names, nothing else.
 *
 * Read and write: cache_dir, every local-folder [[cache]] (blobs, flist copies, purge,
 * write-back, eviction) and, with -auto, ROOT/mnt/ays. Read only: every local-folder [[store]],
 * flist_dir, trusted_keys, each flist file named by an [[ays]] (and its .sig: the rule is for the
 * file, and a rule for FILE.sig is made too when trusted_keys is set) and, with -auto,
 * ROOT/etc/ays/local. A reload
 * that changes any of these makes the supervisor start a new indexer with the new rules.
 */
#include "indexer/hash.h"
#include "indexer/indexer.h"

#include "ipc/log.h"
#include "policy/landlock.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>

void indexer_landlock(const struct worker_conf *c)
{
	struct landlock_path *p = calloc(7 + c->nlayers + 2 * c->nservices, sizeof *p);
	char **sigs = calloc(c->nservices + 1, sizeof *sigs);
	char mnt_ays[4200], local[4200];
	struct hasher h;
	size_t n = 0;
	int rc;

	if (!p || !sigs)
		die(70, "out of memory");
	p[n++] = (struct landlock_path){ c->cache_dir, LL_WRITE };
	p[n++] = (struct landlock_path){ c->state_dir, LL_WRITE };
	if (c->flist_dir && c->flist_dir[0])
		p[n++] = (struct landlock_path){ c->flist_dir, LL_READ };
	/* SPEC §8: the *.pub files of trusted keys, read at each check (rotation, revocation) */
	if (c->trusted_keys && c->trusted_keys[0])
		p[n++] = (struct landlock_path){ c->trusted_keys, LL_READ };
	for (uint32_t i = 0; i < c->nlayers; i++) {
		const char *dir = layer_local_path(c->layers[i].url);

		if (dir)
			p[n++] = (struct landlock_path){ dir, c->layers[i].flags & WL_CACHE ? LL_WRITE : LL_READ };
	}
	for (uint32_t i = 0; i < c->nservices; i++) {
		if (!c->services[i].flist || !c->services[i].flist[0])
			continue;
		p[n++] = (struct landlock_path){ c->services[i].flist, LL_READ };
		if (!c->trusted_keys || !c->trusted_keys[0])
			continue;
		if (asprintf(&sigs[i], "%s.sig", c->services[i].flist) < 0)
			die(70, "out of memory");
		p[n++] = (struct landlock_path){ sigs[i], LL_READ };
	}
	/* -auto: the well-known folders (SPEC section 5). Those that appear later under ROOT/mnt/ays
	 * are reachable; ROOT/mnt/ays itself must exist at start-up. Writes there are as the
	 * folders' own permissions allow (cachelocal and cachelan* may be written back to). */
	if (c->auto_root && c->auto_root[0]) {
		snprintf(mnt_ays, sizeof mnt_ays, "%s/mnt/ays", c->auto_root);
		snprintf(local, sizeof local, "%s/etc/ays/local", c->auto_root);
		p[n++] = (struct landlock_path){ mnt_ays, LL_WRITE };
		p[n++] = (struct landlock_path){ local, LL_READ };
	}
	/* OpenSSL reads its configuration file on first use: use it now, while it can. */
	if (hasher_init(&h, 16) == 0)
		hasher_abort(&h);
	if (hasher_init(&h, 32) == 0)
		hasher_abort(&h);
	rc = landlock_restrict(p, n);
	free(p);
	for (uint32_t i = 0; i < c->nservices; i++)
		free(sigs[i]);
	free(sigs);
	if (rc < 0)
		die(70, "cannot restrict file access with Landlock: %s", strerror(-rc));
	if (rc > 0)
		log_info("Landlock (ABI %d): file access limited to the configured folders", rc);
}
