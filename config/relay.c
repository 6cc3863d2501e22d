/* relay.c — what aysfs-config answers: each process's configuration, written here once.
 *
 * Root decodes none of the workers' configuration: it relays the indexer's and fetcher's MSG_CONF
 * payload and the fuser's MSG_FUSER_CONF payload as they are, and reads only its own few values
 * (supervisor/rootconf.c): the workers' account, the folders it makes for them, the ssh key it
 * opens, and one number that changes when the indexer's folders change (its
 * Landlock rules are fixed at its start, so such a reload restarts it).
 */
#include "config/relay.h"

#include "ipc/proto_debug.h"
#include "ipc/proto_workers.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_s3(const struct cfg_layer *l);

int relay_worker_conf(struct worker_conf *wc, const struct config *c, const struct config_req_in *q)
{
	static char flist_dir[PATH_MAX];

	*wc = (struct worker_conf){
		.log_level = q->log_level, .mountpoint = (char *)q->mountpoint,
		.prefix = c->prefix ? c->prefix : (char *)q->mountpoint, .namespace = c->namespace,
		.flist_dir = c->flist_dir, .cache_dir = c->cache_dir, .state_dir = c->state_dir,
		.entry_ttl = (uint32_t)c->entry_ttl, .attr_ttl = (uint32_t)c->attr_ttl,
		.negative_ttl = (uint32_t)c->negative_ttl, .cache_size = c->cache_size,
		.cache_expiration = (uint32_t)c->cache_expiration,
		.flist_max_size = c->flist_max_size, .flist_max_entries = (uint32_t)c->flist_max_entries,
		.nlayers = (uint32_t)c->nlayers, .nservices = (uint32_t)c->nays,
		.cafile = (char *)(q->cafile[0] ? q->cafile : c->cafile ? c->cafile : ""),
		.resolv = (char *)q->resolv, .proxy = c->proxy, .nproxy = (uint32_t)c->nproxy,
		.flags = q->flags, .ssh_known_hosts = c->ssh_known_hosts,
		.trusted_keys = c->trusted_keys, .refresh_s = (uint32_t)c->refresh,
		.min_hash_len = c->min_hash && !strcmp(c->min_hash, "sha256") ? 32 : 16,
		.config_file = (char *)q->config_file,
	};
	wc->layers = calloc(c->nlayers + 1, sizeof *wc->layers);
	wc->services = calloc(c->nays + 1, sizeof *wc->services);
	if (!wc->layers || !wc->services) {
		free(wc->layers);
		free(wc->services);
		return -1;
	}
	for (size_t i = 0; i < c->nlayers; i++) {
		wc->layers[i].url = c->layers[i].url;
		wc->layers[i].flags = (c->layers[i].is_cache ? WL_CACHE : 0) |
				      (c->layers[i].purge ? WL_PURGE : 0) | (c->layers[i].push ? WL_PUSH : 0);
		wc->layers[i].proxy = c->layers[i].proxy;
		wc->layers[i].nproxy = (uint32_t)c->layers[i].nproxy;
	}
	/* -auto (SPEC section 5): the indexer discovers; -root prefixes the well-known paths, and
	 * flist_dir when the configuration leaves it at its default. */
	if (q->auto_root[0]) {
		wc->auto_root = (char *)q->auto_root;
		wc->cache_port = q->cache_port;
		wc->master_port = q->master_port;
		wc->rediscover_s = (uint32_t)c->rediscover;
		if (strcmp(c->flist_dir, "/etc/ays/local") == 0 && strcmp(q->auto_root, "/") &&
		    snprintf(flist_dir, sizeof flist_dir, "%s/etc/ays/local", q->auto_root) <
		    (int)sizeof flist_dir)
			wc->flist_dir = flist_dir;
	}
	for (size_t i = 0; i < c->nays; i++) {
		wc->services[i].id = c->ays[i].id;
		wc->services[i].flist = c->ays[i].flist ? c->ays[i].flist : "";
		wc->services[i].flags = c->ays[i].prefetch ? WS_PREFETCH : 0;
	}
	return 0;
}

/* FNV-1a, 64 bits, over each string and its terminating NUL. */
static void mix(uint64_t *h, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");

	do
		*h = (*h ^ *p) * 0x100000001b3ull;
	while (*p++);
}

/* Everything the indexer's Landlock rules are made from (indexer/sandbox.c): its folders, the
 * flists named by path, the local layers and whether each is a cache. Equal numbers: no restart. */
static uint64_t folders_key(const struct worker_conf *wc)
{
	uint64_t h = 0xcbf29ce484222325ull;

	mix(&h, wc->cache_dir);
	mix(&h, wc->flist_dir);
	mix(&h, wc->state_dir);
	mix(&h, wc->trusted_keys);
	for (uint32_t i = 0; i < wc->nservices; i++)
		mix(&h, wc->services[i].flist);
	mix(&h, "");
	for (uint32_t i = 0; i < wc->nlayers; i++)
		if (layer_local_path(wc->layers[i].url)) {
			mix(&h, wc->layers[i].url);
			mix(&h, wc->layers[i].flags & WL_CACHE ? "c" : "s");
		}
	return h;
}

void relay_root_conf(struct ipc_wr *w, const struct config *c, const struct worker_conf *wc)
{
	size_t nsftp = 0, ns3 = 0;

	for (size_t i = 0; i < c->nlayers; i++)
		nsftp += strncmp(c->layers[i].url, "sftp://", 7) == 0;
	ipc_wr_cstr(w, c->user);
	ipc_wr_cstr(w, c->namespace);
	ipc_wr_cstr(w, c->cache_dir);
	ipc_wr_cstr(w, c->state_dir);
	ipc_wr_cstr(w, nsftp && c->ssh_key ? c->ssh_key : "");
	ipc_wr_u32(w, c->warnings);
	ipc_wr_u64(w, folders_key(wc));
	/* The credentials files root reads for the fetcher, one per s3:// layer (relay_s3_conf). */
	for (size_t i = 0; i < c->nlayers; i++)
		ns3 += is_s3(&c->layers[i]);
	ipc_wr_u32(w, (uint32_t)ns3);
	for (size_t i = 0; i < c->nlayers; i++)
		if (is_s3(&c->layers[i]))
			ipc_wr_cstr(w, c->layers[i].credentials);
}

size_t relay_debug_conf(uint8_t *buf, size_t cap, const struct config *c)
{
	struct ipc_wr w;

	if (!c->debug.present)
		return 0;
	ipc_wr_init(&w, buf, cap);
	ipc_wr_u64(&w, c->debug.max_size);
	ipc_wr_cstr(&w, c->id ? c->id : "");
	ipc_wr_cstr(&w, c->debug.redis ? c->debug.redis : "127.0.0.1:6379");
	ipc_wr_cstr(&w, c->debug.redis_passwd);
	ipc_wr_u32(&w, (uint32_t)c->debug.nfilter);
	for (size_t i = 0; i < c->debug.nfilter; i++)
		ipc_wr_cstr(&w, c->debug.filter[i]);
	return w.bad || c->debug.nfilter > DBG_FILTER_MAX ? SIZE_MAX : w.len;
}

/* The s3:// layers, in the order written: the same order in both of the parts below. */
static bool is_s3(const struct cfg_layer *l)
{
	return strncmp(l->url, "s3://", 5) == 0;
}

int relay_s3_conf(struct ipc_wr *w, const struct config *c)
{
	uint32_t n = 0;

	for (size_t i = 0; i < c->nlayers; i++)
		n += is_s3(&c->layers[i]);
	if (n > S3_MAX_LAYERS)
		return -1;
	ipc_wr_u32(w, n);
	for (size_t i = 0; i < c->nlayers; i++) {
		const struct cfg_layer *l = &c->layers[i];

		if (!is_s3(l))
			continue;
		if (strlen(l->url) > S3_URL_MAX || (l->endpoint && strlen(l->endpoint) > S3_ENDPOINT_MAX) ||
		    (l->region && strlen(l->region) > S3_REGION_MAX) ||
		    (l->credentials && strlen(l->credentials) > S3_URL_MAX))
			return -1;
		ipc_wr_cstr(w, l->url);
		ipc_wr_cstr(w, l->endpoint);
		ipc_wr_cstr(w, l->region);
		ipc_wr_cstr(w, l->credentials);
	}
	return w->bad ? -1 : 0;
}
