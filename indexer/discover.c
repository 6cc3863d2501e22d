/* discover.c — -auto: which layers this node has (SPEC section 5), found again every few seconds.
 *
 * Folders are checked here (the indexer owns local layers): ROOT/mnt/ays/cachelocal, cachelan,
 * cachelan0…9, master, master0…9. Hosts are the fetcher's business (this process has no network):
 * one MSG_PROBE asks it which of ayscache, ayscache0…9 (the cache port) and aysmaster,
 * aysmaster0…9 (the master port) resolve and accept a TCP connection, all in parallel within
 * DISCOVER_PROBE_MS. The layer list is, in order: the local cache folder, LAN cache folders, LAN
 * cache hosts, master folders, master hosts, then the configured [[cache]] and [[store]] layers.
 *
 * A thread repeats this every `rediscover` seconds; a list that changed replaces the blob store's
 * (blobs_set_layers), so opens already running finish with the layers they started with. When
 * the fetcher does not answer a probe (it is being restarted), the hosts found last are kept.
 */
#include "indexer/discover.h"

#include "indexer/blob.h"
#include "indexer/fetch.h"
#include "ipc/log.h"
#include "fetcher/probe_wire.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DISC_MAX        45      /* 1 + 11 folders + 11 hosts + 11 folders + 11 hosts */
#define PROBE_WAIT_MS   (DISCOVER_PROBE_MS + 2000)      /* the fetcher's answer, with a margin */

static pthread_mutex_t run_lock = PTHREAD_MUTEX_INITIALIZER;   /* one discovery at a time */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;       /* what follows */
static char root[PATH_MAX];             /* "" for "/" */
static uint32_t cache_port, master_port, rediscover_s;
static struct wire_layer *configured;   /* owned copies of the configuration's layers */
static uint32_t nconfigured;
static struct discovered cur[DISC_MAX];
static size_t ncur;
static bool enabled;

static bool is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Append a folder layer when it exists. */
static void add_folder(struct discovered *d, size_t *n, const char *rel, uint32_t flags,
		       const char *kind)
{
	if (*n >= DISC_MAX ||
	    snprintf(d[*n].url, sizeof d[*n].url, "%s/mnt/ays/%s", root, rel) >= (int)sizeof d[*n].url ||
	    !is_dir(d[*n].url))
		return;
	d[*n].flags = flags;
	d[*n].kind = kind;
	(*n)++;
}

static void add_host(struct discovered *d, size_t *n, const char *host, bool master, uint32_t port)
{
	if (*n >= DISC_MAX)
		return;
	if (!master)
		snprintf(d[*n].url, sizeof d[*n].url, "http://%s:%u/cache", host, port);
	else if (port == 443)
		snprintf(d[*n].url, sizeof d[*n].url, "https://%s/master", host);
	else
		snprintf(d[*n].url, sizeof d[*n].url, "https://%s:%u/master", host, port);
	d[*n].flags = master ? 0 : WL_CACHE;
	d[*n].kind = master ? "master" : "LAN cache";
	(*n)++;
}

/* The host probe: answered[i] for ayscache, ayscache0…9, aysmaster, aysmaster0…9 (22 names).
 * Returns 0, or -errno when the fetcher did not answer. */
static int probe_hosts(uint32_t cport, uint32_t mport, bool *answered, char (*names)[16])
{
	static struct probe_req r;
	static struct probe_done d;
	int rc;

	memset(&r, 0, sizeof r);
	r.deadline_ms = DISCOVER_PROBE_MS;
	for (int m = 0; m < 2; m++)
		for (int i = -1; i < 10; i++) {
			char *name = names[r.n];

			if (i < 0)
				snprintf(name, 16, "%s", m ? "aysmaster" : "ayscache");
			else
				snprintf(name, 16, "%s%d", m ? "aysmaster" : "ayscache", i);
			snprintf(r.host[r.n], sizeof r.host[r.n], "%s", name);
			r.port[r.n] = (uint16_t)(m ? mport : cport);
			r.n++;
		}
	rc = fetch_probe(&r, &d, PROBE_WAIT_MS);
	if (rc)
		return rc;
	for (uint32_t i = 0; i < r.n; i++) {
		answered[i] = d.status[i] == 0;
		log_debug("auto: %s:%u %s %s", r.host[i], r.port[i], answered[i] ? "answers from" :
			  "is not used:", d.detail[i]);
	}
	return 0;
}

/* One discovery into d (at most DISC_MAX); prev/nprev: the last result, whose hosts are kept
 * when the probe gets no answer. */
static size_t discover_run(struct discovered *d, const struct discovered *prev, size_t nprev)
{
	static const char *const lan[] = { "cachelan", "cachelan0", "cachelan1", "cachelan2",
		"cachelan3", "cachelan4", "cachelan5", "cachelan6", "cachelan7", "cachelan8", "cachelan9" };
	static const char *const mst[] = { "master", "master0", "master1", "master2", "master3",
		"master4", "master5", "master6", "master7", "master8", "master9" };
	bool answered[22] = { false }, probed;
	char names[22][16];
	uint32_t cport, mport;
	uint64_t t0;
	size_t n = 0;
	int rc;

	pthread_mutex_lock(&lock);
	cport = cache_port;
	mport = master_port;
	pthread_mutex_unlock(&lock);
	t0 = (uint64_t)mono_ms();
	rc = probe_hosts(cport, mport, answered, names);
	probed = rc == 0;
	if (probed) {
		unsigned up = 0;

		for (int i = 0; i < 22; i++)
			up += answered[i];
		/* At info level once; each re-discovery at debug level. */
		log_msg(prev ? LOG_DEBUG : LOG_INFO, "auto: %u of 22 hosts answered the probe, in %llu ms",
			up, (unsigned long long)((uint64_t)mono_ms() - t0));
	} else {
		log_warn("auto: no probe answer from the fetcher (%s); the hosts found last are kept",
			 strerror(-rc));
	}

	add_folder(d, &n, "cachelocal", WL_CACHE, "local cache");
	for (size_t i = 0; i < 11; i++)
		add_folder(d, &n, lan[i], WL_CACHE, "LAN cache folder");
	for (int pass = 0; pass < 2; pass++) {
		const char *kind = pass ? "master" : "LAN cache";

		if (pass == 1)
			for (size_t i = 0; i < 11; i++)
				add_folder(d, &n, mst[i], 0, "master folder");
		if (probed) {
			for (int i = 0; i < 11; i++)
				if (answered[pass * 11 + i])
					add_host(d, &n, names[pass * 11 + i], pass == 1, pass ? mport : cport);
			continue;
		}
		for (size_t i = 0; i < nprev && n < DISC_MAX; i++)
			if (strcmp(prev[i].kind, kind) == 0)
				d[n++] = prev[i];
	}
	return n;
}

static void free_layers(struct wire_layer *l, uint32_t n)
{
	for (uint32_t i = 0; l && i < n; i++) {
		for (uint32_t j = 0; l[i].proxy && j < l[i].nproxy; j++)
			free(l[i].proxy[j]);
		free(l[i].proxy);
		free(l[i].url);
	}
	free(l);
}

/* A deep copy of one layer into *to (zeroed). Returns 0 or -ENOMEM (what was copied stays in
 * *to, for free_layers). */
static int copy_layer(struct wire_layer *to, const struct wire_layer *from)
{
	to->flags = from->flags;
	if (!(to->url = strdup(from->url)))
		return -ENOMEM;
	if (from->nproxy == 0)
		return 0;
	if (!(to->proxy = calloc(from->nproxy, sizeof *to->proxy)))
		return -ENOMEM;
	to->nproxy = from->nproxy;
	for (uint32_t j = 0; j < from->nproxy; j++)
		if (!(to->proxy[j] = strdup(from->proxy[j])))
			return -ENOMEM;
	return 0;
}

/* Discovered layers first, then the configured ones (one that was discovered too is listed once,
 * at its discovered place), at most WCONF_MAX_LAYERS. Returns 0 or -ENOMEM. */
static int merge(const struct discovered *d, size_t nd, struct wire_layer **out, uint32_t *nout)
{
	struct wire_layer *l = calloc(WCONF_MAX_LAYERS, sizeof *l);
	uint32_t n = 0;

	*out = NULL;
	*nout = 0;
	if (!l)
		return -ENOMEM;
	for (size_t i = 0; i < nd && n < WCONF_MAX_LAYERS; i++) {
		const struct wire_layer *same = NULL;

		/* A layer that is configured too keeps its configured flags (push) and proxies. */
		for (uint32_t j = 0; j < nconfigured && !same; j++)
			if (strcmp(d[i].url, configured[j].url) == 0)
				same = &configured[j];
		if (copy_layer(&l[n++], same ? same : &(struct wire_layer){ .url = (char *)d[i].url,
								    .flags = d[i].flags }))
			goto nomem;
	}
	for (uint32_t i = 0; i < nconfigured; i++) {
		bool dup = false;

		for (size_t j = 0; j < nd && !dup; j++)
			dup = strcmp(d[j].url, configured[i].url) == 0;
		if (dup)
			continue;
		if (n == WCONF_MAX_LAYERS) {
			log_warn("auto: more than %d layers; %s and the configured layers after it are "
				 "not used", WCONF_MAX_LAYERS, configured[i].url);
			break;
		}
		if (copy_layer(&l[n++], &configured[i]))
			goto nomem;
	}
	*out = l;
	*nout = n;
	return 0;
nomem:
	free_layers(l, WCONF_MAX_LAYERS);
	return -ENOMEM;
}

/* One line per layer that appeared or went since the last discovery. Returns true on a change. */
static bool log_changes(const struct discovered *d, size_t n)
{
	bool changed = n != ncur;

	for (size_t i = 0; i < n; i++) {
		bool known = false;

		for (size_t j = 0; j < ncur && !known; j++)
			known = strcmp(cur[j].url, d[i].url) == 0;
		if (!known)
			log_notice("auto: %s %s appeared; it is used from now on", d[i].kind, d[i].url);
		changed |= !known || (n == ncur && strcmp(cur[i].url, d[i].url) != 0);
	}
	for (size_t j = 0; j < ncur; j++) {
		bool kept = false;

		for (size_t i = 0; i < n && !kept; i++)
			kept = strcmp(cur[j].url, d[i].url) == 0;
		if (!kept)
			log_notice("auto: %s %s is gone; it is no longer used", cur[j].kind, cur[j].url);
	}
	return changed;
}

/* Take c's -auto settings and (moved out of c) its configured layers. */
static void take_settings(struct worker_conf *c)
{
	const char *r = c->auto_root;

	pthread_mutex_lock(&lock);
	snprintf(root, sizeof root, "%s", strcmp(r, "/") ? r : "");
	cache_port = c->cache_port;
	master_port = c->master_port;
	rediscover_s = c->rediscover_s;
	free_layers(configured, nconfigured);
	configured = c->layers;
	nconfigured = c->nlayers;
	c->layers = NULL;
	c->nlayers = 0;
	pthread_mutex_unlock(&lock);
}

int discover_first(struct worker_conf *c)
{
	static struct discovered d[DISC_MAX];
	size_t n;
	int rc;

	if (!c->auto_root[0])
		return 0;
	pthread_mutex_lock(&run_lock);
	take_settings(c);
	n = discover_run(d, NULL, 0);
	pthread_mutex_lock(&lock);
	memcpy(cur, d, n * sizeof *d);
	ncur = n;
	enabled = true;
	rc = merge(d, n, &c->layers, &c->nlayers);
	pthread_mutex_unlock(&lock);
	pthread_mutex_unlock(&run_lock);
	if (rc)
		return rc;
	{
		char dir[PATH_MAX];
		struct stat st;

		/* A folder the workers cannot search hides every layer in it: say so once. */
		if (snprintf(dir, sizeof dir, "%s/mnt/ays", root) < (int)sizeof dir && stat(dir, &st) &&
		    errno != ENOENT)
			log_warn("auto: %s: %s; its folders cannot be used", dir, strerror(errno));
	}
	if (n == 0)
		log_notice("auto: nothing found under %s/mnt/ays nor on the network", root);
	for (uint32_t i = 0; i < c->nlayers; i++)
		log_notice("auto: layer %u: %s (%s%s)", i + 1, c->layers[i].url,
			   i < n ? "discovered " : "configured", i < n ? d[i].kind : "");
	return 0;
}

/* Discover again; a changed list goes to b. `force`: hand it over even when unchanged (a reload
 * brings new configured layers). The merged list is returned in *out when out is not NULL. */
static int rediscover(struct blobs *b, bool force, struct wire_layer **out, uint32_t *nout)
{
	static struct discovered d[DISC_MAX];
	struct wire_layer *l = NULL;
	uint32_t nl = 0;
	size_t n;
	int rc = 0;

	pthread_mutex_lock(&run_lock);
	n = discover_run(d, cur, ncur);
	pthread_mutex_lock(&lock);
	if (log_changes(d, n) || force || out) {
		memcpy(cur, d, n * sizeof *d);
		ncur = n;
		rc = merge(d, n, &l, &nl);
	}
	pthread_mutex_unlock(&lock);
	if (!rc && l && b)
		rc = blobs_set_layers(b, l, nl);
	pthread_mutex_unlock(&run_lock);
	if (out && !rc) {
		*out = l;
		*nout = nl;
	} else {
		free_layers(l, nl);
	}
	return rc;
}

static void *discover_thread(void *arg)
{
	struct blobs *b = arg;

	for (;;) {
		struct timespec ts;
		int rc;

		uint32_t every;

		pthread_mutex_lock(&lock);
		every = rediscover_s;
		pthread_mutex_unlock(&lock);
		/* 0: at start-up and reload only (a reload may set another interval). */
		ts = (struct timespec){ .tv_sec = every ? every : 1 };
		while (nanosleep(&ts, &ts) && errno == EINTR)
			;
		if (every && (rc = rediscover(b, false, NULL, NULL)))
			log_err("auto: re-discovery failed: %s", strerror(-rc));
	}
	return NULL;
}

int discover_start(struct blobs *b)
{
	pthread_t t;

	if (!enabled)
		return 0;
	return pthread_create(&t, NULL, discover_thread, b) ? -EAGAIN : 0;
}

int discover_reload(struct worker_conf *c, struct blobs *b)
{
	struct wire_layer *l;
	uint32_t n;
	int rc;

	if (!enabled || !c->auto_root[0])
		return 0;
	take_settings(c);
	rc = rediscover(b, true, &l, &n);
	if (rc)
		return rc;
	c->layers = l;
	c->nlayers = n;
	return 0;
}

size_t discover_list(struct discovered *out, size_t max)
{
	size_t n;

	pthread_mutex_lock(&lock);
	n = ncur;
	memcpy(out, cur, (n < max ? n : max) * sizeof *out);
	pthread_mutex_unlock(&lock);
	return n;
}

size_t discover_format(char *buf, size_t size)
{
	struct discovered *d = malloc(DISC_MAX * sizeof *d);
	size_t n, len = 0;

	if (size)
		buf[0] = '\0';
	if (!d)
		return 0;
	n = discover_list(d, DISC_MAX);
	for (size_t i = 0; i < n && i < DISC_MAX && len < size; i++) {
		int w = snprintf(buf + len, size - len, "%s %s\n", d[i].kind, d[i].url);

		if (w < 0)
			break;
		len += (size_t)w;
	}
	free(d);
	return len < size ? len : size ? size - 1 : 0;
}
