/* pages.c — /metrics (Prometheus text format 0.0.4) and /debug/status (one HTML page, no script,
 * no external resource) from root's facts and the workers' answers to "stats"; /debug/status.json,
 * the answer of `aysfs-ctl status` (the workers' answers to "status") as JSON, converted as
 * `aysfs-ctl -json status` converts it (ipc/ctl_json.c), so that both print the same.
 *
 * A worker's "stats" answer is lines "NAME VALUE", "NAME LAYER VALUE" or, for the names of the
 * table below with a second label (a failure's kind, a histogram bucket's bound), "NAME LAYER
 * LABEL VALUE" (VALUE a decimal integer, LAYER a layer's URL as configured). Only the names of the
 * table are taken, each from the worker that owns it; anything else is dropped, but for lines
 * "log MS LEVEL TEXT": the worker's last warnings and errors (ipc/logring.c), merged by time with
 * this worker's own for the page. Counters never go down while the mount lives: a
 * restarted worker starts again from 0, so when a counter's new value is below the last one seen,
 * the last one is added to its offset (kept here, per series). A restart of this worker itself
 * loses those offsets: counters then restart from the workers' own totals (Prometheus takes that
 * as a counter reset, which rate() handles).
 */
#include "status/status.h"

#include "ipc/ctl_json.h"
#include "ipc/logring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum kind { COUNTER, GAUGE, HISTOGRAM };

struct metric {
	unsigned from;          /* RELAY_* */
	const char *key;        /* the worker's name */
	const char *name;       /* aysfs_… */
	enum kind kind;         /* HISTOGRAM: one of a histogram's series, counters all */
	const char *help;       /* NULL: a series of the histogram just above */
	const char *label2;     /* the second label's name, or NULL */
	unsigned scale;         /* the value is written divided by it (0: as it is) */
	const char *label1;     /* the first label's name; NULL: "layer" */
};

#define FETCH_SECONDS "aysfs_layer_fetch_seconds"

static const struct metric metrics[] = {
	{ RELAY_FUSER, "opens", "aysfs_opens_total", COUNTER, "Files opened.", NULL, 0, NULL },
	{ RELAY_FUSER, "opens_waited", "aysfs_opens_waited_total", COUNTER,
	  "Opens that waited for the indexer: the fuser held no fd of the file's blob.", NULL, 0, NULL },
	{ RELAY_FUSER, "reads", "aysfs_reads_total", COUNTER, "Reads of files answered.", NULL, 0, NULL },
	{ RELAY_FUSER, "read_bytes", "aysfs_read_bytes_total", COUNTER,
	  "Bytes served by reads of files.", NULL, 0, NULL },
	{ RELAY_INDEXER, "cache_hits", "aysfs_cache_hits_total", COUNTER,
	  "Opens served from the local cache.", NULL, 0, NULL },
	{ RELAY_INDEXER, "cache_misses", "aysfs_cache_misses_total", COUNTER,
	  "Opens the local cache did not hold.", NULL, 0, NULL },
	{ RELAY_INDEXER, "cache_bytes", "aysfs_cache_bytes", GAUGE,
	  "Bytes of blobs in the local cache.", NULL, 0, NULL },
	{ RELAY_INDEXER, "cache_limit", "aysfs_cache_limit_bytes", GAUGE,
	  "The local cache's size limit (cache_size).", NULL, 0, NULL },
	{ RELAY_INDEXER, "cache_blobs", "aysfs_cache_blobs", GAUGE, "Blobs in the local cache.", NULL, 0, NULL },
	{ RELAY_INDEXER, "cache_open", "aysfs_cache_open_blobs", GAUGE, "Cached blobs held open.", NULL, 0, NULL },
	{ RELAY_INDEXER, "cache_evictions", "aysfs_cache_evictions_total", COUNTER,
	  "Blobs evicted to stay under the limit.", NULL, 0, NULL },
	{ RELAY_INDEXER, "cache_expired", "aysfs_cache_expirations_total", COUNTER,
	  "Blobs removed by cache_expiration.", NULL, 0, NULL },
	{ RELAY_INDEXER, "cache_wrong_size", "aysfs_cache_wrong_size_total", COUNTER,
	  "Cached blobs dropped for a size that did not match.", NULL, 0, NULL },
	{ RELAY_INDEXER, "cache_rehashed", "aysfs_hash_verifications_total", COUNTER,
	  "Blobs hashed at an open (not yet verified by this node).", NULL, 0, NULL },
	{ RELAY_INDEXER, "hash_failures", "aysfs_hash_failures_total", COUNTER,
	  "Blobs whose content did not match their hash.", NULL, 0, NULL },
	{ RELAY_INDEXER, "cache_prefetch_done", "aysfs_prefetch_done_total", COUNTER,
	  "Blobs prefetched.", NULL, 0, NULL },
	{ RELAY_INDEXER, "cache_prefetch_failed", "aysfs_prefetch_failed_total", COUNTER,
	  "Prefetches that failed.", NULL, 0, NULL },
	{ RELAY_INDEXER, "cache_prefetch_total", "aysfs_prefetch_planned_blobs", GAUGE,
	  "Blobs the prefetch of services plans to fetch.", NULL, 0, NULL },
	{ RELAY_INDEXER, "layer_blobs", "aysfs_layer_blobs_served_total", COUNTER,
	  "Blobs served for opens, by the layer they came from.", NULL, 0, NULL },
	{ RELAY_INDEXER, "layer_blob_bytes", "aysfs_layer_served_bytes_total", COUNTER,
	  "Bytes of blobs served for opens, by layer.", NULL, 0, NULL },
	{ RELAY_INDEXER, "service_entries", "aysfs_service_entries", GAUGE,
	  "Entries of each service in the tree served.", NULL, 0, "service" },
	{ RELAY_INDEXER, "service_revision", "aysfs_service_revision", GAUGE,
	  "Revision of each service's accepted signed flist.", NULL, 0, "service" },
	{ RELAY_FETCHER, "layer_requests", "aysfs_layer_requests_total", COUNTER,
	  "Downloads from a network layer (opens and read-ahead).", NULL, 0, NULL },
	{ RELAY_FETCHER, "layer_bytes", "aysfs_layer_bytes_total", COUNTER,
	  "Bytes downloaded from a network layer.", NULL, 0, NULL },
	{ RELAY_FETCHER, "layer_failures", "aysfs_layer_failures_total", COUNTER,
	  "Failed downloads from a network layer, by kind.", "kind", 0, NULL },
	{ RELAY_FETCHER, "layer_fetch_bucket", FETCH_SECONDS "_bucket", HISTOGRAM,
	  "Time of each blob downloaded from a network layer (the transfer that succeeded).", "le", 0, NULL },
	{ RELAY_FETCHER, "layer_fetch_sum_us", FETCH_SECONDS "_sum", HISTOGRAM, NULL, NULL, 1000000, NULL },
	{ RELAY_FETCHER, "layer_fetch_count", FETCH_SECONDS "_count", HISTOGRAM, NULL, NULL, 0, NULL },
	{ RELAY_FETCHER, "layer_up", "aysfs_layer_up", GAUGE,
	  "1 when a network layer is up, 0 while it backs off.", NULL, 0, NULL },
	{ RELAY_FETCHER, "layer_backoff_seconds", "aysfs_layer_backoff_seconds", GAUGE,
	  "Seconds left of a layer's back-off (0: up).", NULL, 0, NULL },
	{ RELAY_FETCHER, "layer_failures_in_a_row", "aysfs_layer_consecutive_failures", GAUGE,
	  "Failures in a row of a network layer.", NULL, 0, NULL },
};
#define NMETRICS (sizeof metrics / sizeof metrics[0])

#define MAX_SAMPLES 2048
#define LABEL_MAX   512
#define LABEL2_MAX  16

struct sample {
	unsigned metric;
	char label[LABEL_MAX];
	char label2[LABEL2_MAX];
	uint64_t value;
};

static struct sample samples[MAX_SAMPLES];
static unsigned nsamples;

/* The counters' offsets: one per series seen. */
struct series {
	unsigned metric;
	char label[LABEL_MAX];
	char label2[LABEL2_MAX];
	uint64_t last, offset;
};
static struct series series[MAX_SAMPLES];
static unsigned nseries;

static uint64_t monotonic_value(unsigned m, const char *label, const char *label2, uint64_t v)
{
	struct series *s = NULL;

	for (unsigned i = 0; i < nseries && !s; i++)
		if (series[i].metric == m && !strcmp(series[i].label, label) &&
		    !strcmp(series[i].label2, label2))
			s = &series[i];
	if (!s) {
		if (nseries == MAX_SAMPLES)
			return v;
		s = &series[nseries++];
		s->metric = m;
		snprintf(s->label, sizeof s->label, "%s", label);
		snprintf(s->label2, sizeof s->label2, "%s", label2);
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

/* A second label's value: a kind ("http_5xx") or a bound ("0.25", "+Inf"). */
static bool label2_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		      s[i] == '.' || s[i] == '+' || s[i] == 'I'))
			return false;
	return n > 0 && n < LABEL2_MAX;
}

/* ---- the last warnings and errors ------------------------------------------------------------ */

#define RECENT_MAX 20
#define RECENT_TEXT 256

struct recent {
	int64_t ms;             /* Unix time */
	char who[8];
	char level[8];
	char text[RECENT_TEXT];
};
static struct recent recent[4 * LOG_RING_MAX];
static unsigned nrecent;

/* "log MS LEVEL TEXT" (the rest of the line), from `who`. */
static void take_log(const char *who, const char *line, size_t len)
{
	char num[24], *end;
	size_t nl, ll;
	struct recent *e;
	const char *p = line + 4;

	if (nrecent == sizeof recent / sizeof recent[0] || len <= 4)
		return;
	nl = strcspn(p, " \n");
	if (nl == 0 || nl >= sizeof num || (size_t)(p + nl - line) >= len)
		return;
	memcpy(num, p, nl);
	num[nl] = '\0';
	e = &recent[nrecent];
	e->ms = strtoll(num, &end, 10);
	if (*end || num[0] < '0' || num[0] > '9')
		return;
	p += nl + 1;
	ll = strcspn(p, " \n");
	if (ll == 0 || ll >= sizeof e->level || (size_t)(p + ll - line) >= len)
		return;
	for (size_t i = 0; i < ll; i++)
		if (p[i] < 'A' || p[i] > 'Z')
			return;
	memcpy(e->level, p, ll);
	e->level[ll] = '\0';
	p += ll + 1;
	snprintf(e->who, sizeof e->who, "%s", who);
	snprintf(e->text, sizeof e->text, "%.*s", (int)(len - (size_t)(p - line)), p);
	nrecent++;
}

static int recent_cmp(const void *a, const void *b)
{
	const struct recent *x = a, *y = b;

	return x->ms < y->ms ? 1 : x->ms > y->ms ? -1 : 0;        /* the newest first */
}

static const char *const from_name[] = { "?", "indexer", "fetcher", "fuser", "status" };

/* One worker's "stats" text into samples. */
static void take(unsigned from, const char *text)
{
	while (text && *text) {
		size_t len = strcspn(text, "\n"), nw = 0;
		const char *w[5] = { 0 };
		size_t wl[5] = { 0 };
		char *end;

		if (len > 4 && !memcmp(text, "log ", 4)) {
			take_log(from_name[from], text, len);
			text += len + (text[len] == '\n');
			continue;
		}
		for (size_t i = 0; i < len && nw < 5;) {
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
		if (nw >= 2 && nw <= 4 && name_ok(w[0], wl[0]) && wl[nw - 1] < 21 &&
		    (nw == 2 || wl[1] < LABEL_MAX) && (nw < 4 || label2_ok(w[2], wl[2])) &&
		    nsamples < MAX_SAMPLES) {
			char num[24];
			uint64_t v;

			memcpy(num, w[nw - 1], wl[nw - 1]);
			num[wl[nw - 1]] = '\0';
			v = strtoull(num, &end, 10);
			for (unsigned m = 0; m < NMETRICS && *end == '\0' && num[0] >= '0' && num[0] <= '9'; m++) {
				struct sample *s = &samples[nsamples];

				if (metrics[m].from != from || strlen(metrics[m].key) != wl[0] ||
				    memcmp(metrics[m].key, w[0], wl[0]) || (nw == 4) != !!metrics[m].label2)
					continue;
				s->metric = m;
				s->label[0] = s->label2[0] = '\0';
				if (nw >= 3) {
					memcpy(s->label, w[1], wl[1]);
					s->label[wl[1]] = '\0';
				}
				if (nw == 4) {
					memcpy(s->label2, w[2], wl[2]);
					s->label2[wl[2]] = '\0';
				}
				s->value = metrics[m].kind != GAUGE ?
					   monotonic_value(m, s->label, s->label2, v) : v;
				nsamples++;
				break;
			}
		}
		text += len + (text[len] == '\n');
	}
}

static void collect(const struct query *q)
{
	char *own = NULL;
	size_t ol = 0;
	FILE *mem = open_memstream(&own, &ol);

	nsamples = nrecent = 0;
	take(RELAY_INDEXER, q->status[RELAY_INDEXER] ? NULL : q->text[RELAY_INDEXER]);
	take(RELAY_FETCHER, q->status[RELAY_FETCHER] ? NULL : q->text[RELAY_FETCHER]);
	take(RELAY_FUSER, q->status[RELAY_FUSER] ? NULL : q->text[RELAY_FUSER]);
	if (mem) {              /* this worker's own */
		log_ring_print(mem);
		if (fclose(mem) == 0 && own)
			take(RELAY_LAST + 1, own);
	}
	free(own);
	qsort(recent, nrecent, sizeof recent[0], recent_cmp);
	if (nrecent > RECENT_MAX)
		nrecent = RECENT_MAX;
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
			const struct sample *s = &samples[i];

			if (s->metric != m)
				continue;
			if (!head && metrics[m].help)
				prom_head(out, metrics[m].kind == HISTOGRAM ? FETCH_SECONDS : metrics[m].name,
					  metrics[m].kind == COUNTER ? "counter" : metrics[m].kind == GAUGE ?
					  "gauge" : "histogram", metrics[m].help);
			head = true;
			fprintf(out, "%s", metrics[m].name);
			if (s->label[0]) {
				fprintf(out, "{%s=\"", metrics[m].label1 ? metrics[m].label1 : "layer");
				prom_label(out, s->label);
				if (s->label2[0])
					fprintf(out, "\",%s=\"%s", metrics[m].label2, s->label2);
				fputs("\"}", out);
			}
			if (metrics[m].scale)
				fprintf(out, " %.6f\n", (double)s->value / metrics[m].scale);
			else
				fprintf(out, " %llu\n", (unsigned long long)s->value);
		}
	}
	prom_head(out, "aysfs_worker_restarts_total", "counter",
		  "Restarts of each worker since the mount, by the cause of the death before.");
	for (int r = 0; r < ST_ROLES; r++)
		for (int c = 0; c < ST_CAUSES; c++)
			if (r != ST_ROLES - 1 || facts.debug)   /* the debug worker, with [debug] only */
				fprintf(out, "aysfs_worker_restarts_total{worker=\"%s\",cause=\"%s\"} %u\n",
					st_role_name[r], st_cause_name[c], facts.role[r].cause[c]);
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
	prom_head(out, "aysfs_reloads_total", "counter", "Reloads that made a new tree.");
	fprintf(out, "aysfs_reloads_total %u\n", facts.trees_built ? facts.trees_built - 1 : 0);
	prom_head(out, "aysfs_reload_failures_total", "counter",
		  "Reloads that failed (the tree being served was kept).");
	fprintf(out, "aysfs_reload_failures_total %u\n", facts.reloads_failed);
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

/* The sum of metric `key`'s samples of `from` for layer `label` (every second label), or -1. */
static long long sum_of(unsigned from, const char *key, const char *label)
{
	long long sum = -1;

	for (unsigned i = 0; i < nsamples; i++) {
		const struct metric *m = &metrics[samples[i].metric];

		if (m->from == from && !strcmp(m->key, key) && !strcmp(samples[i].label, label))
			sum = (sum < 0 ? 0 : sum) + (long long)samples[i].value;
	}
	return sum;
}

/* Every layer named by an answer, once each, in the order first seen. */
static unsigned layers(const char **out, unsigned max)
{
	unsigned n = 0;

	for (unsigned i = 0; i < nsamples && n < max; i++) {
		bool seen = !samples[i].label[0] || metrics[samples[i].metric].label1;

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
		char causes[8 * ST_CAUSES * 4] = "";    /* " (signal 1, exited 1)" */
		int cl = 0;

		for (int c = 0; c < ST_CAUSES && cl < (int)sizeof causes - 40; c++)
			if (facts.role[r].cause[c])
				cl += snprintf(causes + cl, sizeof causes - (size_t)cl, "%s%s %u",
					       cl ? ", " : " (", st_cause_name[c], facts.role[r].cause[c]);
		fprintf(out, "<tr><td>%s</td><td>%d</td><td>%u%s%s</td><td>", st_role_name[r],
			r == ST_ROLE_STATUS ? (int)getpid() : (int)facts.role[r].pid,
			facts.role[r].restarts, causes, cl ? ")" : "");
		html_text(out, facts.role[r].last_exit);
		fputs("</td></tr>\n", out);
	}
	fputs("</table>\n<h2>Layers</h2>\n<table><tr><th>layer</th><th>health</th><th>requests</th>"
	      "<th>bytes</th><th>failures</th><th>mean blob fetch (ms)</th><th>blobs served</th></tr>\n",
	      out);
	for (unsigned i = 0; i < nl; i++) {
		const char *h = layer_health(ls[i], hb, sizeof hb);

		fprintf(out, "<tr class=\"%s\"><td>", strncmp(h, "backing", 7) ? "up" : "down");
		html_text(out, ls[i]);
		fprintf(out, "</td><td>%s</td>", h);
		html_num(out, value_of(RELAY_FETCHER, "layer_requests", ls[i]));
		long long n = value_of(RELAY_FETCHER, "layer_fetch_count", ls[i]);
		long long us = value_of(RELAY_FETCHER, "layer_fetch_sum_us", ls[i]);

		html_num(out, value_of(RELAY_FETCHER, "layer_bytes", ls[i]));
		html_num(out, sum_of(RELAY_FETCHER, "layer_failures", ls[i]));
		html_num(out, n > 0 ? us / n / 1000 : -1);
		html_num(out, value_of(RELAY_INDEXER, "layer_blobs", ls[i]));
		fputs("</tr>\n", out);
	}
	fputs("</table>\n<h2>Services</h2>\n<table><tr><th>service</th><th>entries</th>"
	      "<th>revision</th></tr>\n", out);
	for (unsigned i = 0; i < nsamples; i++) {
		if (strcmp(metrics[samples[i].metric].key, "service_entries"))
			continue;
		fputs("<tr><td>", out);
		html_text(out, samples[i].label);
		fputs("</td>", out);
		html_num(out, (long long)samples[i].value);
		html_num(out, value_of(RELAY_INDEXER, "service_revision", samples[i].label));
		fputs("</tr>\n", out);
	}
	fprintf(out, "</table>\n<h2>Local cache</h2>\n"
		"<p>%lld of %lld bytes used; hits %lld, misses %lld</p>\n",
		value_of(RELAY_INDEXER, "cache_bytes", ""), value_of(RELAY_INDEXER, "cache_limit", ""),
		value_of(RELAY_INDEXER, "cache_hits", ""), value_of(RELAY_INDEXER, "cache_misses", ""));
	fprintf(out, "<h2>Last warnings and errors</h2>\n<p>The indexer's, the fetcher's and this "
		"worker's, the newest first (the supervisor's and the fuser's are in the log only).</p>\n"
		"<table><tr><th>when</th><th>worker</th><th>level</th><th>message</th></tr>\n");
	for (unsigned i = 0; i < nrecent; i++) {
		long long ago = (long long)time(NULL) - recent[i].ms / 1000;

		fprintf(out, "<tr><td>%lld s ago</td><td>%s</td><td>%s</td><td>", ago < 0 ? 0 : ago,
			recent[i].who, recent[i].level);
		html_text(out, recent[i].text);
		fputs("</td></tr>\n", out);
	}
	fputs("</table>\n</body></html>\n", out);
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
