/* layer.c — what the fetcher knows about the places it talks to: URLs split into the parts that
 * matter (scheme, host, port), the health of each layer and proxy, and which proxies a URL goes
 * through.
 *
 * Health is kept per scheme://host:port (a layer) and per proxy. A failure takes the place out of
 * use for 2 s, then 4 s, … up to BACKOFF_MAX_S, less up to a quarter as jitter so that many nodes
 * do not come back at the same instant; one success clears it.
 *
 * Proxies come from the configuration: a layer's own list, else the [main] one, tried in order
 * (the first that is not down is used).
 */
#include "fetcher/fetcher.h"

#include "ipc/log.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PLACES_MAX 128

struct place {
	char key[PLACE_KEY_MAX];
	uint32_t fails;
	uint64_t failures[FK_COUNT];    /* every failed transfer by kind, for /metrics */
	bool answered;          /* a success since the record was made */
	uint64_t down_until, used;
};

struct proxy_list {
	char *layer_url;                /* NULL for the [main] list */
	size_t layer_len;               /* without trailing slashes */
	char **proxy;
	uint32_t n;
};

static struct place places[PLACES_MAX];
static struct proxy_list *lists;
static size_t nlists;

/* ---- URLs ------------------------------------------------------------------------------------- */

int url_split(const char *url, struct url_parts *u, bool proxy)
{
	char *s = NULL, *h = NULL, *p = NULL, *p2 = NULL;
	unsigned char bin[sizeof(struct in6_addr)];
	unsigned flags = proxy ? CURLU_NON_SUPPORT_SCHEME : 0;
	CURLU *c = curl_url();
	int rc = -EINVAL;
	size_t hlen;

	memset(u, 0, sizeof *u);
	if (!c)
		return -ENOMEM;
	if (curl_url_set(c, CURLUPART_URL, url, flags) != CURLUE_OK ||
	    curl_url_get(c, CURLUPART_SCHEME, &s, 0) != CURLUE_OK || strlen(s) >= sizeof u->scheme)
		goto out;
	for (size_t i = 0; s[i]; i++)
		u->scheme[i] = (char)tolower((unsigned char)s[i]);
	if (curl_url_get(c, CURLUPART_HOST, &h, 0) != CURLUE_OK || (hlen = strlen(h)) == 0 ||
	    hlen > HOST_MAX)
		goto out;
	for (size_t i = 0; i < hlen; i++)
		u->host[i] = (char)tolower((unsigned char)h[i]);
	if (curl_url_get(c, CURLUPART_PORT, &p, proxy ? 0 : CURLU_DEFAULT_PORT) == CURLUE_OK)
		u->port = strtol(p, NULL, 10);
	else if (proxy)                 /* libcurl's default for a proxy without a port */
		u->port = strcmp(u->scheme, "https") == 0 ? 443 : 1080;
	else
		goto out;
	if (u->host[0] == '[') {
		char in[HOST_MAX + 1];

		if (hlen < 3 || u->host[hlen - 1] != ']')
			goto out;
		snprintf(in, sizeof in, "%.*s", (int)(hlen - 2), u->host + 1);
		if (inet_pton(AF_INET6, in, bin) != 1)
			goto out;
		u->v6_literal = true;
	} else {
		u->v4_literal = inet_pton(AF_INET, u->host, bin) == 1;
	}
	if (curl_url_get(c, CURLUPART_USER, &p2, 0) == CURLUE_OK)
		u->user = true;
	snprintf(u->key, sizeof u->key, "%s%s://%s:%ld", proxy ? "proxy " : "", u->scheme, u->host,
		 u->port);
	rc = 0;
out:
	curl_free(s);
	curl_free(h);
	curl_free(p);
	curl_free(p2);
	curl_url_cleanup(c);
	return rc;
}

/* ---- health ----------------------------------------------------------------------------------- */

static struct place *place_get(const char *key, uint64_t now)
{
	struct place *l, *oldest = &places[0];

	for (l = places; l < places + PLACES_MAX; l++) {
		if (strcmp(l->key, key) == 0)
			goto found;
		if (l->used < oldest->used)
			oldest = l;
	}
	l = oldest;
	*l = (struct place){ 0 };
	snprintf(l->key, sizeof l->key, "%s", key);
found:
	l->used = now;
	return l;
}

void layer_ok(const char *key)
{
	struct place *l = place_get(key, now_ms());

	if (l->fails)
		log_info("%s%s answers again", strncmp(key, "proxy ", 6) ? "layer " : "", key);
	l->fails = 0;
	l->answered = true;
	l->down_until = 0;
}

/* Failures of transfers that were already running when the place went down do not count again. */
void layer_fail(const char *key, const char *why)
{
	uint64_t now = now_ms(), ms;
	struct place *l = place_get(key, now);
	uint32_t s = BACKOFF_MAX_S;

	if (now < l->down_until)
		return;
	if (l->fails < 16)
		l->fails++;
	if (l->fails < 9)
		s = (uint32_t)BACKOFF_MIN_S << (l->fails - 1);
	if (s > BACKOFF_MAX_S)
		s = BACKOFF_MAX_S;
	ms = (uint64_t)s * 1000 - arc4random_uniform(s * 250 + 1);
	l->down_until = now + ms;
	log_warn("%s%s is down for %llu s: %s", strncmp(key, "proxy ", 6) ? "layer " : "", key,
		 (unsigned long long)(ms + 999) / 1000, why);
}

unsigned layer_down_s(const char *key)
{
	uint64_t now = now_ms();
	struct place *l = place_get(key, now);

	return now < l->down_until ? (unsigned)((l->down_until - now + 999) / 1000) : 0;
}

bool layer_trusted(const char *key)
{
	struct place *l = place_get(key, now_ms());

	return l->answered && l->fails == 0;
}

unsigned layer_fails(const char *key)
{
	return place_get(key, now_ms())->fails;
}

const char *const fail_kind_name[FK_COUNT] = {
	"timeout", "refused", "dns", "tls", "dropped", "http_5xx", "http_4xx", "s3_refused", "other",
};

void layer_count(const char *key, enum fail_kind kind)
{
	if (kind > FK_NONE && kind < FK_COUNT)
		place_get(key, now_ms())->failures[kind]++;
}

uint64_t layer_failures(const char *key, enum fail_kind kind)
{
	return place_get(key, now_ms())->failures[kind];
}

/* ---- proxies ---------------------------------------------------------------------------------- */

static int list_add(const char *layer_url, char **proxy, uint32_t n)
{
	struct proxy_list *l = &lists[nlists];

	l->proxy = calloc(n, sizeof *l->proxy);
	if (!l->proxy)
		return -ENOMEM;
	nlists++;
	if (layer_url) {
		l->layer_url = strdup(layer_url);
		if (!l->layer_url)
			return -ENOMEM;
		l->layer_len = strlen(layer_url);
		while (l->layer_len > 0 && layer_url[l->layer_len - 1] == '/')
			l->layer_len--;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct url_parts u;

		if (url_split(proxy[i], &u, true)) {
			log_err("proxy %s: not a URL; not used", proxy[i]);
			continue;
		}
		l->proxy[l->n] = strdup(proxy[i]);
		if (!l->proxy[l->n])
			return -ENOMEM;
		l->n++;
	}
	return 0;
}

int proxies_init(const struct worker_conf *c)
{
	int rc = 0;

	lists = calloc(c->nlayers + 1, sizeof *lists);
	if (!lists)
		return -ENOMEM;
	for (uint32_t i = 0; i < c->nlayers && !rc; i++)
		if (c->layers[i].nproxy)
			rc = list_add(c->layers[i].url, c->layers[i].proxy, c->layers[i].nproxy);
	if (!rc && c->nproxy)
		rc = list_add(NULL, c->proxy, c->nproxy);
	for (size_t i = 0; i < nlists; i++)
		for (uint32_t j = 0; j < lists[i].n; j++)
			log_info("proxy %s for %s", lists[i].proxy[j],
				 lists[i].layer_url ? lists[i].layer_url : "every layer");
	return rc;
}

void proxies_free(void)
{
	for (size_t i = 0; i < nlists; i++) {
		for (uint32_t j = 0; j < lists[i].n; j++)
			free(lists[i].proxy[j]);
		free(lists[i].proxy);
		free(lists[i].layer_url);
	}
	free(lists);
	lists = NULL;
	nlists = 0;
}

int proxy_pick(const char *url, const char **proxy, struct url_parts *u, unsigned *down_s)
{
	const struct proxy_list *best = NULL;
	unsigned down = 0;

	*proxy = NULL;
	*down_s = 0;
	/* The longest layer URL that url is under, else the [main] list. */
	for (size_t i = 0; i < nlists; i++) {
		const struct proxy_list *l = &lists[i];

		if (!l->layer_url) {
			if (!best)
				best = l;
			continue;
		}
		if (strncmp(url, l->layer_url, l->layer_len) == 0 &&
		    (url[l->layer_len] == '/' || url[l->layer_len] == '\0') &&
		    (!best || !best->layer_url || l->layer_len > best->layer_len))
			best = l;
	}
	if (!best || best->n == 0)
		return 0;
	for (uint32_t i = 0; i < best->n; i++) {
		unsigned s;

		if (url_split(best->proxy[i], u, true))
			continue;
		s = layer_down_s(u->key);
		if (s == 0) {
			*proxy = best->proxy[i];
			return 0;
		}
		if (down == 0 || s < down)
			down = s;
	}
	*down_s = down;
	return -EHOSTUNREACH;
}
