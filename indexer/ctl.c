/* ctl.c — the indexer's part of aysfs-ctl: its share of `status` (blobs served per layer since it
 * started, what the local cache holds, each service's flist: signature and last check) and the
 * cache commands.
 *
 * `cache`, `evict PATH` and `verify` are the cache manager's (cache.c), `order SERVICE` order.c's. Each request runs on a
 * thread of its own: a verify of a large cache must not hold up opens.
 */
#include "indexer/ctl.h"
#include "indexer/accept.h"
#include "indexer/cache.h"
#include "indexer/discover.h"
#include "indexer/order.h"

#include "ipc/log.h"
#include "ipc/logring.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct hits {
	const char *layer;      /* the URL pointer blob_get hands out */
	uint64_t hits, bytes;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct hits hits[WCONF_MAX_LAYERS + 2];
static unsigned nhits;
static const struct worker_conf *conf;
static const char *cache_root;
static char empty_tree[600];    /* why the tree served is empty, or "" */

void ictl_init(const struct worker_conf *c, const char *root)
{
	conf = c;
	cache_root = root;
}

void ictl_note_blob(const char *layer, uint64_t size)
{
	unsigned i;

	if (!layer)
		return;
	pthread_mutex_lock(&lock);
	for (i = 0; i < nhits; i++)
		if (hits[i].layer == layer || strcmp(hits[i].layer, layer) == 0)
			break;
	if (i == nhits && nhits < sizeof hits / sizeof hits[0])
		hits[nhits++].layer = layer;
	if (i < nhits) {
		hits[i].hits++;
		hits[i].bytes += size;
	}
	pthread_mutex_unlock(&lock);
}

void ictl_note_tree(const struct worker_conf *c, uint64_t entries, uint32_t services,
		    uint32_t rejected)
{
	char why[sizeof empty_tree] = "";

	if (entries > 1)
		;
	else if (rejected && !services)
		snprintf(why, sizeof why, "every service was rejected (see the log)");
	else if (!services && !c->nservices)
		snprintf(why, sizeof why, "no service: no [[ays]] is configured and flist_dir %.400s "
			 "holds no *.flist", c->flist_dir);
	else if (!services)
		snprintf(why, sizeof why, "no service is mounted");
	else
		snprintf(why, sizeof why, "its %u services list nothing under prefix %.400s", services,
			 c->prefix);
	if (why[0])
		log_warn("the tree is empty: %s", why);
	pthread_mutex_lock(&lock);
	memcpy(empty_tree, why, sizeof why);
	pthread_mutex_unlock(&lock);
}

/* Each line of text, indented, into out. */
static void indented(FILE *out, const char *text, const char *indent)
{
	while (*text) {
		size_t n = strcspn(text, "\n");

		fprintf(out, "%s%.*s\n", indent, (int)n, text);
		text += n + (text[n] == '\n');
	}
}

/* What a report function writes, indented. */
static void report(FILE *out, int (*fn)(FILE *), const char *indent)
{
	char *text = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&text, &len);

	if (mem) {
		fn(mem);
		if (fclose(mem) == 0 && text)
			indented(out, text, indent);
	}
	free(text);
}

static void status(FILE *out)
{
	static char disc[8192];
	struct hits snap[sizeof hits / sizeof hits[0]];
	char empty[sizeof empty_tree];
	unsigned n;

	pthread_mutex_lock(&lock);
	n = nhits;
	memcpy(snap, hits, n * sizeof *snap);
	memcpy(empty, empty_tree, sizeof empty);
	pthread_mutex_unlock(&lock);

	if (empty[0])
		fprintf(out, "  warning: the tree is empty: %s\n", empty);

	fprintf(out, "  layers (blobs served since the indexer started):\n");
	for (uint32_t i = 0; i < conf->nlayers; i++) {
		const char *url = conf->layers[i].url;
		uint64_t h = 0, b = 0;

		for (unsigned k = 0; k < n; k++)
			if (strcmp(snap[k].layer, url) == 0) {
				h = snap[k].hits;
				b = snap[k].bytes;
			}
		fprintf(out, "    %s  %s, hits %llu, bytes %llu\n", url,
			conf->layers[i].flags & WL_CACHE ? "cache" : "store", (unsigned long long)h,
			(unsigned long long)b);
	}
	for (unsigned k = 0; k < n; k++) {
		bool configured = false;

		for (uint32_t i = 0; i < conf->nlayers; i++)
			configured |= strcmp(snap[k].layer, conf->layers[i].url) == 0;
		if (!configured)
			fprintf(out, "    %s  local cache, hits %llu, bytes %llu\n", snap[k].layer,
				(unsigned long long)snap[k].hits, (unsigned long long)snap[k].bytes);
	}
	fprintf(out, "  cache %s:\n", cache_root);
	report(out, cache_ctl_report, "    ");
	fprintf(out, "  flists (revision, key, expiry, last check of remote copies):\n");
	report(out, accept_report, "    ");
	if (discover_format(disc, sizeof disc)) {
		fprintf(out, "  discovered layers (-auto):\n");
		indented(out, disc, "    ");
	}
}

/* "stats", for the status worker's /metrics: lines "NAME VALUE" and "NAME LAYER VALUE". */
static void stats(FILE *out)
{
	struct hits snap[sizeof hits / sizeof hits[0]];
	char *text = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&text, &len);
	unsigned n;

	pthread_mutex_lock(&lock);
	n = nhits;
	memcpy(snap, hits, n * sizeof *snap);
	pthread_mutex_unlock(&lock);
	if (mem) {
		cache_ctl_report(mem);
		if (fclose(mem) == 0 && text)
			indented(out, text, "cache_");
	}
	free(text);
	/* Every configured layer (0 when none served yet), then the local cache's entries. */
	for (uint32_t i = 0; i < conf->nlayers; i++) {
		uint64_t h = 0, b = 0;

		for (unsigned k = 0; k < n; k++)
			if (strcmp(snap[k].layer, conf->layers[i].url) == 0) {
				h = snap[k].hits;
				b = snap[k].bytes;
				snap[k].layer = "";
			}
		fprintf(out, "layer_blobs %s %llu\nlayer_blob_bytes %s %llu\n", conf->layers[i].url,
			(unsigned long long)h, conf->layers[i].url, (unsigned long long)b);
	}
	for (unsigned k = 0; k < n; k++)
		if (snap[k].layer[0])
			fprintf(out, "layer_blobs %s %llu\nlayer_blob_bytes %s %llu\n", snap[k].layer,
				(unsigned long long)snap[k].hits, snap[k].layer,
				(unsigned long long)snap[k].bytes);
	cache_service_stats(out);
	accept_stats(out);
}

struct job {
	uint64_t id;
	struct ctl_msg m;
};

static void *run(void *arg)
{
	struct job *j = arg;
	uint8_t *buf = malloc(8 + CTL_TEXT_MAX);
	char *text = NULL;
	size_t len = 0;
	uint32_t st = 0;
	struct ipc_wr w;
	FILE *out = open_memstream(&text, &len);

	if (out) {
		if (strcmp(j->m.cmd, "status") == 0) {
			status(out);
		} else if (strcmp(j->m.cmd, "stats") == 0) {
			stats(out);
			log_ring_print(out);
		} else if (strcmp(j->m.cmd, "cache") == 0) {
			st = (uint32_t)-cache_ctl_report(out);
		} else if (strcmp(j->m.cmd, "evict") == 0) {
			st = (uint32_t)-cache_ctl_evict(j->m.arg, out);
		} else if (strcmp(j->m.cmd, "verify") == 0) {
			st = (uint32_t)-cache_ctl_verify(out);
		} else if (strcmp(j->m.cmd, "order") == 0) {
			st = (uint32_t)-order_print(conf->prefix, j->m.arg, out);
			if (st)
				fprintf(out, "%s: no such service is served\n", j->m.arg);
		} else {
			fprintf(out, "%s: unknown command\n", j->m.cmd);
			st = EINVAL;
		}
		if (fclose(out))
			len = 0;
	}
	if (!text || (!len && !st)) {
		st = ENOMEM;
		len = 0;
	}
	if (buf) {
		ipc_wr_init(&w, buf, 8 + CTL_TEXT_MAX);
		proto_ctl_reply_encode(&w, st, text ? text : "", len);
		if (ipc_send(FD_SUPERVISOR, MSG_CTL_REPLY, j->id, buf, w.len, NULL, 0))
			log_err("cannot answer the supervisor's %s", j->m.cmd);
	}
	free(buf);
	free(text);
	free(j);
	return NULL;
}

int ictl_request(uint64_t id, const void *payload, size_t len)
{
	struct job *j = calloc(1, sizeof *j);
	pthread_attr_t attr;
	pthread_t t;
	int rc;

	if (!j)
		return 0;       /* the supervisor's deadline answers for us */
	if (proto_ctl_decode(payload, len, &j->m)) {
		free(j);
		return -EPROTO;
	}
	j->id = id;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&t, &attr, run, j);
	pthread_attr_destroy(&attr);
	if (rc) {
		log_err("cannot start a thread for %s: %s", j->m.cmd, strerror(rc));
		free(j);
	}
	return 0;
}
