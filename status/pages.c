/* pages.c — /metrics (Prometheus text format 0.0.4) and /debug/status (one HTML page, no script,
 * no external resource) from root's facts and the workers' answers to "stats"; /debug/status.json,
 * the answer of `aysfs-ctl status` (the workers' answers to "status") as JSON, converted as
 * `aysfs-ctl -json status` converts it (ipc/ctl_json.c), so that both print the same.
 *
 * A worker's "stats" answer is lines "NAME VALUE" or "NAME LAYER VALUE" (VALUE a decimal integer,
 * LAYER a layer's URL as configured). Only the names of the table below are taken, each from the
 * worker that owns it; anything else is dropped. Counters never go down while the mount lives: a
 * restarted worker starts again from 0, so when a counter's new value is below the last one seen,
 * the last one is added to its offset (kept here, per series). A restart of this worker itself
 * loses those offsets: counters then restart from the workers' own totals (Prometheus takes that
 * as a counter reset, which rate() handles).
 */
#include "status/status.h"

#include "ipc/ctl_json.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum kind { COUNTER, GAUGE };

struct metric {
	unsigned from;          /* RELAY_* */
	const char *key;        /* the worker's name */
	const char *name;       /* aysfs_… */
	enum kind kind;
	const char *help;
};

static const struct metric metrics[] = {
	{ RELAY_FUSER, "opens", "aysfs_opens_total", COUNTER, "Files opened." },
	{ RELAY_FUSER, "reads", "aysfs_reads_total", COUNTER, "Reads of files answered." },
	{ RELAY_FUSER, "read_bytes", "aysfs_read_bytes_total", COUNTER,
	  "Bytes served by reads of files." },
	{ RELAY_INDEXER, "cache_hits", "aysfs_cache_hits_total", COUNTER,
	  "Opens served from the local cache." },
	{ RELAY_INDEXER, "cache_misses", "aysfs_cache_misses_total", COUNTER,
	  "Opens the local cache did not hold." },
	{ RELAY_INDEXER, "cache_bytes", "aysfs_cache_bytes", GAUGE,
	  "Bytes of blobs in the local cache." },
	{ RELAY_INDEXER, "cache_limit", "aysfs_cache_limit_bytes", GAUGE,
	  "The local cache's size limit (cache_size)." },
	{ RELAY_INDEXER, "cache_blobs", "aysfs_cache_blobs", GAUGE, "Blobs in the local cache." },
	{ RELAY_INDEXER, "cache_open", "aysfs_cache_open_blobs", GAUGE, "Cached blobs held open." },
	{ RELAY_INDEXER, "cache_evictions", "aysfs_cache_evictions_total", COUNTER,
	  "Blobs evicted to stay under the limit." },
	{ RELAY_INDEXER, "cache_expired", "aysfs_cache_expirations_total", COUNTER,
	  "Blobs removed by cache_expiration." },
	{ RELAY_INDEXER, "cache_wrong_size", "aysfs_cache_wrong_size_total", COUNTER,
	  "Cached blobs dropped for a size that did not match." },
	{ RELAY_INDEXER, "cache_rehashed", "aysfs_hash_verifications_total", COUNTER,
	  "Blobs hashed at an open (not yet verified by this node)." },
	{ RELAY_INDEXER, "hash_failures", "aysfs_hash_failures_total", COUNTER,
	  "Blobs whose content did not match their hash." },
	{ RELAY_INDEXER, "cache_prefetch_done", "aysfs_prefetch_done_total", COUNTER,
	  "Blobs prefetched." },
	{ RELAY_INDEXER, "cache_prefetch_failed", "aysfs_prefetch_failed_total", COUNTER,
	  "Prefetches that failed." },
	{ RELAY_INDEXER, "cache_prefetch_total", "aysfs_prefetch_planned_blobs", GAUGE,
	  "Blobs the prefetch of services plans to fetch." },
	{ RELAY_INDEXER, "layer_blobs", "aysfs_layer_blobs_served_total", COUNTER,
	  "Blobs served for opens, by the layer they came from." },
	{ RELAY_INDEXER, "layer_blob_bytes", "aysfs_layer_served_bytes_total", COUNTER,
	  "Bytes of blobs served for opens, by layer." },
	{ RELAY_FETCHER, "layer_requests", "aysfs_layer_requests_total", COUNTER,
	  "Downloads from a network layer (opens and read-ahead)." },
	{ RELAY_FETCHER, "layer_bytes", "aysfs_layer_bytes_total", COUNTER,
	  "Bytes downloaded from a network layer." },
	{ RELAY_FETCHER, "layer_failures", "aysfs_layer_failures_total", COUNTER,
	  "Failed downloads from a network layer." },
	{ RELAY_FETCHER, "layer_up", "aysfs_layer_up", GAUGE,
	  "1 when a network layer is up, 0 while it backs off." },
	{ RELAY_FETCHER, "layer_backoff_seconds", "aysfs_layer_backoff_seconds", GAUGE,
	  "Seconds left of a layer's back-off (0: up)." },
	{ RELAY_FETCHER, "layer_failures_in_a_row", "aysfs_layer_consecutive_failures", GAUGE,
	  "Failures in a row of a network layer." },
};
#define NMETRICS (sizeof metrics / sizeof metrics[0])

#define MAX_SAMPLES 1024
#define LABEL_MAX   512

struct sample {
	unsigned metric;
	char label[LABEL_MAX];
	uint64_t value;
};

static struct sample samples[MAX_SAMPLES];
static unsigned nsamples;

/* The counters' offsets: one per series seen. */
struct series {
	unsigned metric;
	char label[LABEL_MAX];
	uint64_t last, offset;
};
static struct series series[MAX_SAMPLES];
static unsigned nseries;

static uint64_t monotonic_value(unsigned m, const char *label, uint64_t v)
{
	struct series *s = NULL;

	for (unsigned i = 0; i < nseries && !s; i++)
		if (series[i].metric == m && !strcmp(series[i].label, label))
			s = &series[i];
	if (!s) {
		if (nseries == MAX_SAMPLES)
			return v;
		s = &series[nseries++];
		s->metric = m;
		snprintf(s->label, sizeof s->label, "%s", label);
	}
	if (v < s->last)
		s->offset += s->last;   /* the worker restarted */
	s->last = v;
	return s->offset + v;
}

static bool name_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '_'))
			return false;
	return n > 0;
}

/* One worker's "stats" text into samples. */
static void take(unsigned from, const char *text)
{
	while (text && *text) {
		size_t len = strcspn(text, "\n"), nw = 0;
		const char *w[4] = { 0 };
		size_t wl[4] = { 0 };
		char *end;

		for (size_t i = 0; i < len && nw < 4;) {
			while (i < len && text[i] == ' ')
				i++;
			if (i == len)
				break;
			w[nw] = text + i;
			while (i < len && text[i] != ' ')
				i++;
			wl[nw] = (size_t)(text + i - w[nw]);
			nw++;
		}
		if ((nw == 2 || nw == 3) && name_ok(w[0], wl[0]) && wl[nw - 1] < 21 &&
		    (nw == 2 || wl[1] < LABEL_MAX) && nsamples < MAX_SAMPLES) {
			char num[24];
			uint64_t v;

			memcpy(num, w[nw - 1], wl[nw - 1]);
			num[wl[nw - 1]] = '\0';
			v = strtoull(num, &end, 10);
			for (unsigned m = 0; m < NMETRICS && *end == '\0' && num[0] >= '0' && num[0] <= '9'; m++) {
				struct sample *s = &samples[nsamples];

				if (metrics[m].from != from || strlen(metrics[m].key) != wl[0] ||
				    memcmp(metrics[m].key, w[0], wl[0]))
					continue;
				s->metric = m;
				s->label[0] = '\0';
				if (nw == 3) {
					memcpy(s->label, w[1], wl[1]);
					s->label[wl[1]] = '\0';
				}
				s->value = metrics[m].kind == COUNTER ? monotonic_value(m, s->label, v) : v;
				nsamples++;
				break;
			}
		}
		text += len + (text[len] == '\n');
	}
}

static void collect(const struct query *q)
{
	nsamples = 0;
	take(RELAY_INDEXER, q->status[RELAY_INDEXER] ? NULL : q->text[RELAY_INDEXER]);
	take(RELAY_FETCHER, q->status[RELAY_FETCHER] ? NULL : q->text[RELAY_FETCHER]);
	take(RELAY_FUSER, q->status[RELAY_FUSER] ? NULL : q->text[RELAY_FUSER]);
}

/* A Prometheus label value: backslash and quote escaped (a newline cannot occur). */
static void prom_label(FILE *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', out);
		fputc(*s, out);
	}
}

static void prom_head(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static bool worker_up(int r)
{
	return r == ST_ROLE_STATUS || facts.role[r].pid > 0;
}

static void render_metrics(FILE *out)
{
	for (unsigned m = 0; m < NMETRICS; m++) {
		bool head = false;

		for (unsigned i = 0; i < nsamples; i++) {
			if (samples[i].metric != m)
				continue;
			if (!head)
				prom_head(out, metrics[m].name, metrics[m].kind == COUNTER ? "counter" : "gauge",
					  metrics[m].help);
			head = true;
			fprintf(out, "%s", metrics[m].name);
			if (samples[i].label[0]) {
				fputs("{layer=\"", out);
				prom_label(out, samples[i].label);
				fputs("\"}", out);
			}
			fprintf(out, " %llu\n", (unsigned long long)samples[i].value);
		}
	}
	prom_head(out, "aysfs_worker_restarts_total", "counter",
		  "Restarts of each worker since the mount.");
	for (int r = 0; r < ST_ROLES; r++)
		if (r != ST_ROLES - 1 || facts.debug)   /* the debug worker, with [debug] only */
			fprintf(out, "aysfs_worker_restarts_total{worker=\"%s\"} %u\n",
				st_role_name[r], facts.role[r].restarts);
	prom_head(out, "aysfs_worker_up", "gauge", "1 when the worker runs.");
	for (int r = 0; r < ST_ROLES; r++)
		if (r != ST_ROLES - 1 || facts.debug)
			fprintf(out, "aysfs_worker_up{worker=\"%s\"} %d\n", st_role_name[r],
				worker_up(r));
	prom_head(out, "aysfs_tree_generation", "gauge", "Generation of the tree served.");
	fprintf(out, "aysfs_tree_generation %llu\n", (unsigned long long)facts.generation);
	prom_head(out, "aysfs_tree_entries", "gauge", "Entries of the tree served.");
	fprintf(out, "aysfs_tree_entries %llu\n", (unsigned long long)facts.entries);
	prom_head(out, "aysfs_tree_services", "gauge", "Services mounted in the tree served.");
	fprintf(out, "aysfs_tree_services %u\n", facts.services);
	prom_head(out, "aysfs_start_time_seconds", "gauge", "When the supervisor started (Unix time).");
	fprintf(out, "aysfs_start_time_seconds %lld\n", (long long)facts.started);
}

/* ---- for people, and JSON ------------------------------------------------------------------- */

static void html_text(FILE *out, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<': fputs("&lt;", out); break;
		case '>': fputs("&gt;", out); break;
		case '&': fputs("&amp;", out); break;
		case '"': fputs("&quot;", out); break;
		case '\'': fputs("&#39;", out); break;
		default: fputc(*s, out);
		}
	}
}

/* The value of metric `key` of `from` for layer `label` ("" none), or -1. */
static long long value_of(unsigned from, const char *key, const char *label)
{
	for (unsigned i = 0; i < nsamples; i++) {
		const struct metric *m = &metrics[samples[i].metric];

		if (m->from == from && !strcmp(m->key, key) && !strcmp(samples[i].label, label))
			return (long long)samples[i].value;
	}
	return -1;
}

/* Every layer named by an answer, once each, in the order first seen. */
static unsigned layers(const char **out, unsigned max)
{
	unsigned n = 0;

	for (unsigned i = 0; i < nsamples && n < max; i++) {
		bool seen = !samples[i].label[0];

		for (unsigned k = 0; k < n && !seen; k++)
			seen = !strcmp(out[k], samples[i].label);
		if (!seen)
			out[n++] = samples[i].label;
	}
	return n;
}

static const char *layer_health(const char *url, char *buf, size_t size)
{
	long long up = value_of(RELAY_FETCHER, "layer_up", url);
	long long left = value_of(RELAY_FETCHER, "layer_backoff_seconds", url);

	if (up < 0)
		return "local";
	if (up)
		return "up";
	snprintf(buf, size, "backing off, %lld s left", left < 0 ? 0 : left);
	return buf;
}

/* /debug/status.json: the answer of `aysfs-ctl status` as JSON, as `aysfs-ctl -json status` prints
 * it (the same text, the same conversion). Returns 0 or -ENOMEM. */
static int render_json(FILE *out, const struct query *q)
{
	char *text = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&text, &len);
	int rc = -ENOMEM;

	if (mem) {
		control_status_text(mem, q);
		if (fclose(mem) == 0 && text)
			rc = ctl_json_print(out, text);
	}
	free(text);
	return rc;
}

/* A table cell: the number, or a dash when there is none (-1: a folder layer has no downloads). */
static void html_num(FILE *out, long long v)
{
	if (v < 0)
		fputs("<td>-</td>", out);
	else
		fprintf(out, "<td>%lld</td>", v);
}

static void render_html(FILE *out)
{
	const char *ls[MAX_SAMPLES];
	unsigned nl = layers(ls, MAX_SAMPLES);
	char *own = NULL, hb[64];
	size_t ol = 0;
	FILE *mem = open_memstream(&own, &ol);

	fprintf(out, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>aysfs status</title>"
		"<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
		"td,th{border:1px solid #999;padding:.2em .6em;text-align:left}"
		".down{background:#fcc}.up{background:#cfc}</style></head><body>\n"
		"<h1>aysfs %s</h1>\n<p>uptime %lld s, tree generation %llu: %llu entries from %u services"
		" (%u rejected)</p>\n", AYSFS_VERSION, (long long)(time(NULL) - facts.started),
		(unsigned long long)facts.generation, (unsigned long long)facts.entries, facts.services,
		facts.rejected);
	if (mem) {
		control_own_status(mem);
		if (fclose(mem) == 0 && own) {
			fputs("<pre>", out);
			html_text(out, own);
			fputs("</pre>\n", out);
		}
	}
	free(own);
	fputs("<h2>Workers</h2>\n<table><tr><th>worker</th><th>pid</th><th>restarts</th>"
	      "<th>last exit</th></tr>\n", out);
	for (int r = 0; r < ST_ROLES; r++) {
		if (r == ST_ROLES - 1 && !facts.debug)
			continue;
		fprintf(out, "<tr><td>%s</td><td>%d</td><td>%u</td><td>", st_role_name[r],
			r == ST_ROLE_STATUS ? (int)getpid() : (int)facts.role[r].pid,
			facts.role[r].restarts);
		html_text(out, facts.role[r].last_exit);
		fputs("</td></tr>\n", out);
	}
	fputs("</table>\n<h2>Layers</h2>\n<table><tr><th>layer</th><th>health</th><th>requests</th>"
	      "<th>bytes</th><th>blobs served</th></tr>\n", out);
	for (unsigned i = 0; i < nl; i++) {
		const char *h = layer_health(ls[i], hb, sizeof hb);

		fprintf(out, "<tr class=\"%s\"><td>", strncmp(h, "backing", 7) ? "up" : "down");
		html_text(out, ls[i]);
		fprintf(out, "</td><td>%s</td>", h);
		html_num(out, value_of(RELAY_FETCHER, "layer_requests", ls[i]));
		html_num(out, value_of(RELAY_FETCHER, "layer_bytes", ls[i]));
		html_num(out, value_of(RELAY_INDEXER, "layer_blobs", ls[i]));
		fputs("</tr>\n", out);
	}
	fprintf(out, "</table>\n<h2>Local cache</h2>\n"
		"<p>%lld of %lld bytes used; hits %lld, misses %lld</p>\n"
		"</body></html>\n", value_of(RELAY_INDEXER, "cache_bytes", ""),
		value_of(RELAY_INDEXER, "cache_limit", ""), value_of(RELAY_INDEXER, "cache_hits", ""),
		value_of(RELAY_INDEXER, "cache_misses", ""));
}

const char *pages_question(const char *path, unsigned *roles)
{
	*roles = ASK_INDEXER | ASK_FETCHER | ASK_FUSER;
	if (!strcmp(path, "/metrics") || !strcmp(path, "/debug/status") || !strcmp(path, "/"))
		return "stats";
	*roles = ASK_INDEXER | ASK_FETCHER;
	return !strcmp(path, "/debug/status.json") ? "status" : NULL;
}

int pages_render(const char *path, const struct query *q, FILE *out, const char **type)
{
	if (!strcmp(path, "/debug/status.json")) {
		*type = "application/json";
		return render_json(out, q) ? 500 : 200;
	}
	collect(q);
	if (!strcmp(path, "/metrics")) {
		*type = "text/plain; version=0.0.4; charset=utf-8";
		render_metrics(out);
	} else if (!strcmp(path, "/debug/status") || !strcmp(path, "/")) {
		*type = "text/html; charset=utf-8";
		render_html(out);
	} else {
		return 404;
	}
	return 200;
}
