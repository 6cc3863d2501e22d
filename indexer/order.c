/* order.c — the published order of first opens (order.h).
 *
 * A publisher runs an application once on a test node, takes the order in which it first opened
 * the files of a service (`aysfs-ctl MNT order SERVICE`, recorded here from the indexer's opens)
 * and publishes with `aysfs-pack -order FILE`, which writes order=N on those flist lines. Then, on
 * every node, the first open of a file of that list asks for the next ORDER_WINDOW files of the
 * list (main.c queues them on the read-ahead threads, which the fetcher serves after every open:
 * application opens go first), so that a cold start finds most of its files in the local cache.
 *
 * Only opens that reach the indexer are recorded: a file whose content the fuser already held
 * (opened before under another path) is not.
 */
#include "indexer/order.h"
#include "indexer/flist.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define FNV_BASIS 0xcbf29ce484222325ull

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static struct order_item *items;        /* by service, then order */
static size_t nitems;
static uint32_t *by_hash;               /* open addressing: item index + 1, 0 empty */
static size_t nslots;                   /* a power of two */

/* The first opens: service and path, in the order they came; `seen` holds their hashes. A
 * service is named by its id, interned in `services`: its place in the tree may change with a
 * reload. */
static struct record {
	const char *service;
	char *path;
} *records;
static size_t nrecords;
static uint64_t *seen;                  /* open addressing over 2 * ORDER_RECORD_MAX slots */
static char **services;
static bool *mounted;                   /* per interned service: in the tree served */
static size_t nservices;

static uint64_t fnv(const void *p, size_t n, uint64_t h)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ ((const uint8_t *)p)[i]) * 0x100000001b3ull;
	return h;
}

/* The index of the interned copy of a service id, or -1 (out of memory). Called with the lock
 * held. */
static long service_of(const char *id, size_t len)
{
	char **v;
	bool *m;

	for (size_t i = 0; i < nservices; i++)
		if (strlen(services[i]) == len && memcmp(services[i], id, len) == 0)
			return (long)i;
	if (!(v = realloc(services, (nservices + 1) * sizeof *v)))
		return -1;
	services = v;
	if (!(m = realloc(mounted, (nservices + 1) * sizeof *m)))
		return -1;
	mounted = m;
	if (!(v[nservices] = strndup(id, len)))
		return -1;
	mounted[nservices] = false;
	return (long)nservices++;
}

static int by_place(const void *a, const void *b)
{
	const struct order_item *x = a, *y = b;

	if (x->service != y->service)
		return x->service < y->service ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

void order_set(const struct ix *ix, struct order_item *v, size_t n)
{
	size_t slots = 16;

	while (slots < 2 * n)
		slots *= 2;
	uint32_t *tab = n ? calloc(slots, sizeof *tab) : NULL;

	if (n && !tab) {
		free(v);
		v = NULL;
		n = 0;
	}
	if (n)
		qsort(v, n, sizeof *v, by_place);
	for (size_t i = 0; i < n; i++) {
		size_t s = fnv(v[i].hash, v[i].hash_len, FNV_BASIS) & (slots - 1);

		while (tab[s])
			s = (s + 1) & (slots - 1);
		tab[s] = (uint32_t)i + 1;
	}
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < nservices; i++)
		mounted[i] = false;
	for (uint32_t s = 0; s < ix->hdr->nservices; s++) {
		long k = service_of((const char *)ix_bytes(ix, ix->services[s].id_off),
				    ix->services[s].id_len);

		if (k >= 0)
			mounted[k] = true;
	}
	free(items);
	free(by_hash);
	items = v;
	nitems = n;
	by_hash = tab;
	nslots = slots;
	pthread_mutex_unlock(&lock);
}

/* The first item with that content (its earliest place: items are sorted), or -1. */
static long item_of(const uint8_t *hash, size_t len)
{
	long best = -1;

	if (!by_hash)
		return -1;
	for (size_t s = fnv(hash, len, FNV_BASIS) & (nslots - 1); by_hash[s]; s = (s + 1) & (nslots - 1)) {
		const struct order_item *it = &items[by_hash[s] - 1];

		if (it->hash_len == len && memcmp(it->hash, hash, len) == 0 &&
		    (best < 0 || (long)by_hash[s] - 1 < best))
			best = (long)by_hash[s] - 1;
	}
	return best;
}

/* Record (service, path) unless it is there already. Called with the lock held. */
static void record(const char *id, size_t id_len, const char *path)
{
	uint64_t h = fnv(path, strlen(path) + 1, fnv(id, id_len, FNV_BASIS));
	size_t slots = 2 * ORDER_RECORD_MAX, s;
	long k;

	if (h == 0)
		h = 1;
	if (!seen && !(seen = calloc(slots, sizeof *seen)))
		return;
	if (!records && !(records = calloc(ORDER_RECORD_MAX, sizeof *records)))
		return;
	for (s = h & (slots - 1); seen[s]; s = (s + 1) & (slots - 1))
		if (seen[s] == h)
			return;
	if (nrecords == ORDER_RECORD_MAX || (k = service_of(id, id_len)) < 0 ||
	    !(records[nrecords].path = strdup(path)))
		return;
	seen[s] = h;
	records[nrecords++].service = services[k];
}

size_t order_opened(const struct ix *ix, const struct ix_inode *in, const char *path,
		    const uint8_t *hash, size_t hash_len, struct order_item *out, size_t max)
{
	const struct ix_service *sv;
	size_t n = 0;
	long i;

	if (!S_ISREG(in->mode))
		return 0;
	sv = &ix->services[in->service];
	pthread_mutex_lock(&lock);
	record((const char *)ix_bytes(ix, sv->id_off), sv->id_len, path);
	if ((i = item_of(hash, hash_len)) >= 0) {
		uint32_t svc = items[i].service;

		items[i].asked = true;
		for (size_t k = (size_t)i + 1; k < nitems && k <= (size_t)i + ORDER_WINDOW && n < max &&
		     items[k].service == svc; k++)
			if (!items[k].asked) {
				items[k].asked = true;
				out[n++] = items[k];
			}
	}
	pthread_mutex_unlock(&lock);
	return n;
}

int order_print(const char *prefix, const char *service, FILE *out)
{
	size_t plen = strlen(prefix), i;

	while (plen > 0 && prefix[plen - 1] == '/')
		plen--;
	pthread_mutex_lock(&lock);
	for (i = 0; i < nservices && strcmp(services[i], service); i++)
		;
	if (i == nservices || !mounted[i]) {
		pthread_mutex_unlock(&lock);
		return -ENOENT;
	}
	for (size_t r = 0; r < nrecords; r++)
		if (strcmp(records[r].service, service) == 0) {
			static char enc[3 * 4096 + 1];     /* under the lock */

			flist_encode(records[r].path, strlen(records[r].path), enc, sizeof enc);
			fwrite(prefix, 1, plen, out);
			fprintf(out, "%s\n", enc);
		}
	pthread_mutex_unlock(&lock);
	return 0;
}
