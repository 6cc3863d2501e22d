/* ctl.c — the fetcher's part of aysfs-ctl `status`: each network layer's health (up, or down with
 * the seconds left and the failures in a row), and the downloads it served since the fetcher
 * started (hits and bytes, for opens; read-ahead's apart). Answered at once from the poll loop: it is all in memory.
 * "stats" (the status worker's /metrics) adds each layer's failures by kind and a histogram of its
 * blob downloads' times (libcurl's whole time of the transfer that succeeded), fixed buckets. */
#include "fetcher/fetcher.h"

#include "ipc/log.h"
#include "ipc/logring.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The histogram's upper bounds: microseconds, and as /metrics writes them (seconds). */
static const uint64_t bucket_us[] = { 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000,
				      2500000, 5000000, 10000000, 30000000 };
static const char *const bucket_le[] = { "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1",
					 "2.5", "5", "10", "30", "+Inf" };
#define NBUCKETS (sizeof bucket_us / sizeof bucket_us[0] + 1)

struct net_layer {
	char *url;              /* as configured, trailing slashes dropped */
	size_t len;
	char key[PLACE_KEY_MAX];        /* its scheme://host:port */
	uint64_t hits, bytes;           /* downloads for opens */
	uint64_t ahead, ahead_bytes;    /* read-ahead's (FETCH_BLOB_AHEAD) */
	uint64_t le[NBUCKETS];          /* blob downloads that took ≤ bucket_us[i] (not cumulative) */
	uint64_t took, took_us;         /* blob downloads, and their time in all */
};

static struct net_layer layers[WCONF_MAX_LAYERS];
static unsigned nlayers;

void fctl_init(const struct worker_conf *c)
{
	for (uint32_t i = 0; i < c->nlayers && nlayers < WCONF_MAX_LAYERS; i++) {
		struct net_layer *l = &layers[nlayers];
		const char *url = c->layers[i].url;
		const struct s3_layer *s3 = strncmp(url, "s3://", 5) ? NULL : s3_find(url);
		char http[PATH_MAX + S3_ENDPOINT_MAX];
		struct url_parts u;

		/* An s3:// layer's health is its endpoint's (s3.c). */
		if (s3 && s3_http_url(s3, url, http, sizeof http) == 0)
			url = http;
		if (url_split(url, &u, false) || !strcmp(u.scheme, "file"))
			continue;       /* folders are the indexer's */
		l->url = strdup(c->layers[i].url);
		if (!l->url)
			continue;
		l->len = strlen(l->url);
		while (l->len > 0 && l->url[l->len - 1] == '/')
			l->len--;
		snprintf(l->key, sizeof l->key, "%s", u.key);
		nlayers++;
	}
}

void fctl_note_fetch(const char *url, uint64_t bytes, bool ahead, bool blob, uint64_t us)
{
	for (unsigned i = 0; i < nlayers; i++) {
		struct net_layer *l = &layers[i];

		if (strncmp(url, l->url, l->len) == 0 && url[l->len] == '/') {
			*(ahead ? &l->ahead : &l->hits) += 1;
			*(ahead ? &l->ahead_bytes : &l->bytes) += bytes;
			if (blob) {
				unsigned b = 0;

				while (b < NBUCKETS - 1 && us > bucket_us[b])
					b++;
				l->le[b]++;
				l->took++;
				l->took_us += us;
			}
			return;
		}
	}
}

static void status(FILE *out)
{
	if (!nlayers)
		fprintf(out, "  no network layers\n");
	for (unsigned i = 0; i < nlayers; i++) {
		const struct net_layer *l = &layers[i];
		unsigned down = layer_down_s(l->key), fails = layer_fails(l->key);

		fprintf(out, "    %.*s  ", (int)l->len, l->url);
		if (down)
			fprintf(out, "down for %u s more (%u failures in a row)", down, fails);
		else if (fails)
			fprintf(out, "backoff over, to be tried again (%u failures in a row)", fails);
		else
			fprintf(out, "up");
		fprintf(out, ", hits %llu, bytes %llu, read ahead %llu (%llu bytes)\n",
			(unsigned long long)l->hits, (unsigned long long)l->bytes,
			(unsigned long long)l->ahead, (unsigned long long)l->ahead_bytes);
	}
}

/* "stats", for the status worker's /metrics: "NAME LAYER VALUE" lines. */
static void stats(FILE *out)
{
	for (unsigned i = 0; i < nlayers; i++) {
		const struct net_layer *l = &layers[i];
		unsigned down = layer_down_s(l->key), fails = layer_fails(l->key);

		fprintf(out, "layer_requests %.*s %llu\nlayer_bytes %.*s %llu\n", (int)l->len, l->url,
			(unsigned long long)(l->hits + l->ahead), (int)l->len, l->url,
			(unsigned long long)(l->bytes + l->ahead_bytes));
		fprintf(out, "layer_up %.*s %d\nlayer_backoff_seconds %.*s %u\n"
			"layer_failures_in_a_row %.*s %u\n", (int)l->len, l->url, down == 0, (int)l->len,
			l->url, down, (int)l->len, l->url, fails);
		for (int k = 0; k < FK_COUNT; k++)
			fprintf(out, "layer_failures %.*s %s %llu\n", (int)l->len, l->url, fail_kind_name[k],
				(unsigned long long)layer_failures(l->key, (enum fail_kind)k));
		uint64_t sum = 0;

		for (unsigned b = 0; b < NBUCKETS; b++) {
			sum += l->le[b];
			fprintf(out, "layer_fetch_bucket %.*s %s %llu\n", (int)l->len, l->url, bucket_le[b],
				(unsigned long long)sum);
		}
		fprintf(out, "layer_fetch_sum_us %.*s %llu\nlayer_fetch_count %.*s %llu\n", (int)l->len,
			l->url, (unsigned long long)l->took_us, (int)l->len, l->url,
			(unsigned long long)l->took);
	}
}

int fctl_request(const struct ipc_msg *m)
{
	static uint8_t buf[8 + CTL_TEXT_MAX];
	struct ctl_msg c;
	char *text = NULL;
	size_t len = 0;
	uint32_t st = 0;
	struct ipc_wr w;
	FILE *out;
	int rc;

	if (proto_ctl_decode(m->payload, m->hdr.len, &c))
		return -EPROTO;
	out = open_memstream(&text, &len);
	if (out) {
		if (strcmp(c.cmd, "status") == 0) {
			fprintf(out, "  network layers (downloads since the fetcher started):\n");
			status(out);
		} else if (strcmp(c.cmd, "stats") == 0) {
			stats(out);
			log_ring_print(out);
		} else {
			fprintf(out, "%s: not a command of the fetcher\n", c.cmd);
			st = EINVAL;
		}
		if (fclose(out))
			len = 0;
	}
	if (!text)
		st = ENOMEM;
	ipc_wr_init(&w, buf, sizeof buf);
	proto_ctl_reply_encode(&w, st, text ? text : "", len);
	free(text);
	rc = ipc_send(FD_SUPERVISOR, MSG_CTL_REPLY, m->hdr.id, buf, w.len, NULL, 0);
	if (rc)
		log_err("cannot answer the supervisor: %s", strerror(-rc));
	return 0;
}
