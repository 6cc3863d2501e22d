/* confwire.c — struct config on the wire, from aysfs-config (which parses the file, unprivileged)
 * to the supervisor (which only decodes this, with bounds, and never parses TOML as root).
 *
 * Every string is a presence byte then a bounded string (so NULL and "" stay apart); every array
 * a u32 count, bounded, then its items. The decoder checks what the supervisor relies on: counts,
 * string lengths, no NUL inside a string, integers in the ranges the parser enforces, the exact
 * length. It trusts nothing else: a value that passes is only as good as a configuration file
 * could have made it.
 */
#include "supervisor/confwire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SECONDS (365LL * 24 * 3600)         /* as config/config.c */
#define MAX_HOURS   (100LL * 365 * 24)
#define MAX_LAYERS  WCONF_MAX_LAYERS
#define MAX_SERVICES WCONF_MAX_SERVICES
#define MAX_LIST    64                          /* proxies, debug filters */

void config_free(struct config *c)
{
	free(c->file);
	free(c->id);
	free(c->namespace);
	free(c->prefix);
	free(c->cache_dir);
	free(c->cafile);
	strv_free(c->proxy, c->nproxy);
	free(c->ssh_key);
	free(c->ssh_known_hosts);
	free(c->flist_dir);
	free(c->state_dir);
	free(c->trusted_keys);
	free(c->min_hash);
	free(c->user);
	for (size_t i = 0; i < c->nlayers; i++) {
		free(c->layers[i].url);
		free(c->layers[i].endpoint);
		free(c->layers[i].region);
		free(c->layers[i].credentials);
		strv_free(c->layers[i].proxy, c->layers[i].nproxy);
	}
	free(c->layers);
	for (size_t i = 0; i < c->nays; i++) {
		free(c->ays[i].id);
		free(c->ays[i].flist);
	}
	free(c->ays);
	strv_free(c->debug.filter, c->debug.nfilter);
	free(c->debug.redis);
	free(c->debug.redis_passwd);
	memset(c, 0, sizeof *c);
}

/* ---- encoding (aysfs-config) ---------------------------------------------------------------- */

static void wr_opt(struct ipc_wr *w, const char *s)
{
	ipc_wr_u8(w, s != NULL);
	if (s)
		ipc_wr_cstr(w, s);
}

static void wr_list(struct ipc_wr *w, char *const *v, size_t n)
{
	ipc_wr_u32(w, (uint32_t)n);
	for (size_t i = 0; i < n; i++)
		ipc_wr_cstr(w, v[i]);
	if (n > MAX_LIST)
		w->bad = true;
}

void config_encode(struct ipc_wr *w, const struct config *c)
{
	wr_opt(w, c->file);
	wr_opt(w, c->id);
	wr_opt(w, c->namespace);
	wr_opt(w, c->prefix);
	wr_opt(w, c->cache_dir);
	ipc_wr_u64(w, c->cache_size);
	ipc_wr_i64(w, c->cache_expiration);
	ipc_wr_i64(w, c->rediscover);
	wr_opt(w, c->cafile);
	wr_list(w, c->proxy, c->nproxy);
	wr_opt(w, c->ssh_key);
	wr_opt(w, c->ssh_known_hosts);
	wr_opt(w, c->flist_dir);
	wr_opt(w, c->state_dir);
	wr_opt(w, c->user);
	ipc_wr_i64(w, c->entry_ttl);
	ipc_wr_i64(w, c->attr_ttl);
	ipc_wr_i64(w, c->negative_ttl);
	ipc_wr_u64(w, c->flist_max_size);
	ipc_wr_i64(w, c->flist_max_entries);
	ipc_wr_u32(w, (uint32_t)c->nlayers);
	for (size_t i = 0; i < c->nlayers; i++) {
		const struct cfg_layer *l = &c->layers[i];

		ipc_wr_cstr(w, l->url);
		ipc_wr_u8(w, (uint8_t)(l->is_cache | l->purge << 1 | l->push << 2));
		wr_list(w, l->proxy, l->nproxy);
		wr_opt(w, l->endpoint);
		wr_opt(w, l->region);
		wr_opt(w, l->credentials);
		ipc_wr_u32(w, l->line);
	}
	ipc_wr_u32(w, (uint32_t)c->nays);
	for (size_t i = 0; i < c->nays; i++) {
		ipc_wr_cstr(w, c->ays[i].id);
		wr_opt(w, c->ays[i].flist);
		ipc_wr_u8(w, c->ays[i].prefetch);
		ipc_wr_u32(w, c->ays[i].line);
	}
	ipc_wr_u8(w, c->debug.present);
	wr_list(w, c->debug.filter, c->debug.nfilter);
	wr_opt(w, c->debug.redis);
	wr_opt(w, c->debug.redis_passwd);
	wr_opt(w, c->trusted_keys);
	wr_opt(w, c->min_hash);
	ipc_wr_i64(w, c->refresh);
	ipc_wr_u32(w, c->warnings);
	if (c->nlayers > MAX_LAYERS || c->nays > MAX_SERVICES)
		w->bad = true;
}

/* ---- decoding (the supervisor) -------------------------------------------------------------- */

static char *rd_str(struct ipc_rd *r)
{
	return ipc_rd_strdup(r, WCONF_MAX_STR);
}

/* An optional string: false on a malformed one (absent is fine: *out stays NULL). */
static bool rd_opt(struct ipc_rd *r, char **out)
{
	uint8_t present = ipc_rd_u8(r);

	if (r->bad || present > 1)
		return false;
	return !present || (*out = rd_str(r)) != NULL;
}

static bool rd_list(struct ipc_rd *r, char ***v, size_t *n)
{
	uint32_t count = ipc_rd_u32(r);

	if (r->bad || count > MAX_LIST)
		return false;
	if (count && !(*v = calloc(count, sizeof **v)))
		return false;
	for (*n = 0; *n < count; (*n)++)
		if (!((*v)[*n] = rd_str(r)))
			return false;
	return true;
}

static bool rd_int(struct ipc_rd *r, int64_t min, int64_t max, int64_t *out)
{
	*out = ipc_rd_i64(r);
	return !r->bad && *out >= min && *out <= max;
}

static bool rd_layers(struct ipc_rd *r, struct config *c)
{
	uint32_t n = ipc_rd_u32(r);

	if (r->bad || n > MAX_LAYERS || (n && !(c->layers = calloc(n, sizeof *c->layers))))
		return false;
	while (c->nlayers < n) {
		struct cfg_layer *l = &c->layers[c->nlayers++];     /* counted: freed on failure */
		uint8_t flags;

		l->url = rd_str(r);
		flags = ipc_rd_u8(r);
		if (!l->url || !l->url[0] || flags > 7 || !rd_list(r, &l->proxy, &l->nproxy) ||
		    !rd_opt(r, &l->endpoint) || !rd_opt(r, &l->region) || !rd_opt(r, &l->credentials))
			return false;
		l->is_cache = flags & 1;
		l->purge = flags & 2;
		l->push = flags & 4;
		l->line = ipc_rd_u32(r);
	}
	return !r->bad;
}

static bool rd_services(struct ipc_rd *r, struct config *c)
{
	uint32_t n = ipc_rd_u32(r);

	if (r->bad || n > MAX_SERVICES || (n && !(c->ays = calloc(n, sizeof *c->ays))))
		return false;
	while (c->nays < n) {
		struct cfg_ays *a = &c->ays[c->nays++];     /* counted: freed on failure */
		uint8_t prefetch;

		a->id = rd_str(r);
		if (!a->id || !a->id[0] || !rd_opt(r, &a->flist))
			return false;
		prefetch = ipc_rd_u8(r);
		a->prefetch = prefetch;
		a->line = ipc_rd_u32(r);
		if (r->bad || prefetch > 1)
			return false;
	}
	return true;
}

int config_decode(const void *buf, size_t len, struct config *c)
{
	struct ipc_rd r;
	uint8_t debug;
	bool ok;

	memset(c, 0, sizeof *c);
	ipc_rd_init(&r, buf, len);
	ok = rd_opt(&r, &c->file) && rd_opt(&r, &c->id) && rd_opt(&r, &c->namespace) &&
	     rd_opt(&r, &c->prefix) && rd_opt(&r, &c->cache_dir);
	c->cache_size = ipc_rd_u64(&r);
	ok = ok && rd_int(&r, 0, MAX_HOURS, &c->cache_expiration) &&
	     rd_int(&r, 0, MAX_SECONDS, &c->rediscover) && rd_opt(&r, &c->cafile) &&
	     rd_list(&r, &c->proxy, &c->nproxy) && rd_opt(&r, &c->ssh_key) &&
	     rd_opt(&r, &c->ssh_known_hosts) && rd_opt(&r, &c->flist_dir) &&
	     rd_opt(&r, &c->state_dir) && rd_opt(&r, &c->user) &&
	     rd_int(&r, 0, MAX_SECONDS, &c->entry_ttl) && rd_int(&r, 0, MAX_SECONDS, &c->attr_ttl) &&
	     rd_int(&r, 0, MAX_SECONDS, &c->negative_ttl);
	c->flist_max_size = ipc_rd_u64(&r);
	ok = ok && c->flist_max_size > 0 && rd_int(&r, 1, INT32_MAX, &c->flist_max_entries) &&
	     rd_layers(&r, c) && rd_services(&r, c);
	debug = ipc_rd_u8(&r);
	c->debug.present = debug;
	ok = ok && debug <= 1 && rd_list(&r, &c->debug.filter, &c->debug.nfilter) &&
	     rd_opt(&r, &c->debug.redis) && rd_opt(&r, &c->debug.redis_passwd) &&
	     rd_opt(&r, &c->trusted_keys) && rd_opt(&r, &c->min_hash) &&
	     rd_int(&r, 0, MAX_SECONDS, &c->refresh);
	c->warnings = ipc_rd_u32(&r);
	/* What every later step takes for granted. */
	if (!ok || !ipc_rd_done(&r) || !c->namespace || !c->namespace[0] || !c->cache_dir ||
	    !c->flist_dir || !c->state_dir || !c->user || !c->user[0]) {
		config_free(c);
		return -EPROTO;
	}
	return 0;
}
